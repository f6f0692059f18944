"""Process entry point of the local SageMaker PyTorch serving stack: ``serving.main()`` of
``sagemaker_pytorch_serving_container``, redirected away from the container's fixed paths.

Started by :func:`local.standins.model_server.start_model_server` as ``python -m
local.standins.sagemaker_serving_entry`` in its own session, inside a per-server temporary directory (the
working directory) with the environment that function builds. It runs exactly what the SageMaker
PyTorch inference image runs at start-up, with the documented adjustments below, applied to module
attributes of the installed toolkit before it starts (nothing in site-packages is edited):

1. ``torchserve.TS_CONFIG_FILE`` — the toolkit writes its generated TorchServe config to the fixed
   path ``/etc/sagemaker-ts.properties``; two local servers would overwrite each other's file (and
   ``/etc`` is the host's). It is pointed at ``$VIGIL_TS_CONFIG_FILE`` in the temporary directory.
2. ``torchserve._retrieve_ts_server_process`` — the toolkit finds "its" TorchServe frontend by
   scanning every process on the machine and refuses to run when it finds more than one
   ("multiple ts model servers are not supported"), which is true only inside a container. The
   replacement accepts only the frontend in this process's own process group (the one this
   entry point leads), so several local servers can run side by side.
3. (not a redirection) the entry process makes itself the *child subreaper* of the processes it
   starts (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): ``torchserve --start`` launches the Java
   frontend and exits, so the frontend would be re-parented to the machine's init; as a subreaper
   the entry process inherits it instead, and the toolkit's ``ts_process.wait()`` reaps it the
   moment it exits (instead of polling a zombie that only init may reap).
4. (not a redirection) a watcher thread ends the server's process group when the process that
   started it dies without stopping it (e.g. a test run killed by a timeout), so no TorchServe is
   left running on the shared machine.
5. ``model_server.REQUIREMENTS_PATH`` — the toolkit runs ``pip install -r code/requirements.txt``
   when that file exists. Local serving is offline and uses the project's virtual environment, so
   the install is skipped unless ``VIGIL_SERVING_INSTALL_REQUIREMENTS=1``; each requirement is
   checked against what is installed and a missing one is reported on stderr.
"""

from __future__ import annotations

import os
import sys

from retrying import retry

VIGIL_TS_CONFIG_FILE = "VIGIL_TS_CONFIG_FILE"
INSTALL_REQUIREMENTS = "VIGIL_SERVING_INSTALL_REQUIREMENTS"


def _missing_requirements(path: str) -> list[str]:
    """Requirement lines of ``path`` that the running interpreter does not satisfy."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].split(" --hash", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                missing.append(f"{line} (unparseable)")
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                missing.append(line)
                continue
            if requirement.specifier and not requirement.specifier.contains(
                version, prereleases=True
            ):
                missing.append(f"{line} (installed {version})")
    return missing


def _redirect_toolkit() -> None:
    import psutil
    from sagemaker_inference import model_server
    from sagemaker_pytorch_serving_container import torchserve

    config_file = os.environ.get(VIGIL_TS_CONFIG_FILE)
    if not config_file:
        raise SystemExit(f"{VIGIL_TS_CONFIG_FILE} must name the TorchServe config file to write")
    torchserve.TS_CONFIG_FILE = config_file

    own_group = os.getpgid(0)

    @retry(stop_max_delay=60 * 1000, wait_fixed=100)
    def retrieve_own_ts_server_process():
        for process in psutil.process_iter():
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if os.getpgid(process.pid) != own_group:
                    continue
                if torchserve.TS_NAMESPACE in process.cmdline():
                    return process
            except (psutil.Error, ProcessLookupError):
                continue
        raise RuntimeError("TorchServe frontend of this server has not started (yet)")

    torchserve._retrieve_ts_server_process = retrieve_own_ts_server_process

    requirements = model_server.REQUIREMENTS_PATH
    if os.path.exists(requirements) and os.environ.get(INSTALL_REQUIREMENTS) != "1":
        missing = _missing_requirements(requirements)
        print(
            f"[vigil] not running pip install -r {requirements} (offline local serving; set "
            f"{INSTALL_REQUIREMENTS}=1 to let the toolkit install it)"
            + (f"; NOT installed here: {', '.join(missing)}" if missing else "; all satisfied"),
            file=sys.stderr,
            flush=True,
        )
        model_server.REQUIREMENTS_PATH = os.path.join(os.getcwd(), "requirements-skipped.txt")


def _become_subreaper() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        print("[vigil] prctl(PR_SET_CHILD_SUBREAPER) failed", file=sys.stderr, flush=True)


def _end_group_when_orphaned(interval: float = 1.0) -> None:
    """If the process that started this server dies without stopping it (a killed test run),
    end this server's process group instead of leaving TorchServe running on the machine."""
    import signal
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        print("[vigil] the starting process is gone; stopping this server", file=sys.stderr)
        os.killpg(0, signal.SIGTERM)

    threading.Thread(target=watch, name="vigil-orphan-watch", daemon=True).start()


def main() -> None:
    _become_subreaper()
    _end_group_when_orphaned()
    _redirect_toolkit()
    from sagemaker_pytorch_serving_container import serving

    serving.main()  # returns once the TorchServe frontend has exited (see its SIGTERM handler)
    # serving.py imported torch (through the handler service); skip its slow interpreter teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
