"""The real SageMaker PyTorch serving stack on 127.0.0.1, without Docker.

``start_model_server(model_dir)`` runs what the SageMaker PyTorch inference image runs —
``sagemaker_pytorch_serving_container.serving.main()``, which configures and starts TorchServe
(Java frontend + Python workers) with the SageMaker handler service, which loads the model through
``code/inference.py`` (``model_fn``/``input_fn``/``predict_fn``/``output_fn``) — with every path
under a fresh temporary directory and every socket on 127.0.0.1:

* ``model_dir`` is laid out like an unpacked SageMaker ``model.tar.gz`` (model files at the top,
  ``code/inference.py`` and an optional ``code/requirements.txt``); it is linked as
  ``<tmp>/ml/model`` and ``SAGEMAKER_BASE_DIR=<tmp>/ml`` points the toolkit there (instead of
  ``/opt/ml``). Use :func:`vigil.packaging.package_model` to build the same layout as a tarball.
* ``SAGEMAKER_BIND_TO_PORT`` chooses the port; TorchServe's own ``TS_*`` environment overrides
  (enabled by the toolkit's ``enable_envvars_config=true``) bind the inference/management address
  (one port, as on SageMaker), the metrics and gRPC listeners to 127.0.0.1 instead of the
  toolkit's ``0.0.0.0``. System metrics and the metrics API are off; one worker; a small JVM heap.
* The toolkit's fixed ``/etc/sagemaker-ts.properties``, its machine-wide process scan and its
  ``pip install`` of ``code/requirements.txt`` are redirected by ``local/standins/sagemaker_serving_entry.py``
  (see its docstring for why each is needed and how).
* The workers import the project: ``PYTHONPATH`` starts with the repository root (the toolkit
  prepends ``code/``), so ``code/inference.py`` can ``import vigil...`` locally. In the cloud the
  packaging step copies the needed ``vigil/`` modules into ``code/`` (``package_model(...,
  packages=["vigil"])``), and ``code/`` is on the workers' path there too.

The server runs in its own session/process group, led by the entry process; ``stop()`` signals
that group only, so it ends exactly the processes it started (entry, TorchServe CLI, Java frontend,
Python workers) and nothing else on the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psutil

from vigil.packaging import unpack_model

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT = 120.0
# A small heap, the client compiler only and the serial collector: the frontend only routes
# requests, and this starts faster and takes less memory on a shared machine.
DEFAULT_JVM_OPTIONS = "-Xmx192m -Xss1m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"
# TorchServe forwards each worker's stdout/stderr into its log with this marker.
_WORKER_OUTPUT = "MODEL_LOG - "
_WORKER_DIED = "Backend worker process died."
_LIVE: weakref.WeakSet[ModelServer] = weakref.WeakSet()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


class Invocation(NamedTuple):
    """What ``/invocations`` answered: the HTTP status and the raw body."""

    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def message(self) -> str:
        """The body as text; for a toolkit error, its first line is the error message."""
        return self.body.decode("utf-8", errors="replace")


class ModelServerError(RuntimeError):
    """The model server answered a non-2xx status; ``status`` and ``body`` say what it answered."""

    def __init__(self, status: int, body: bytes, url: str):
        self.status = status
        self.body = body
        self.url = url
        first_line = body.decode("utf-8", errors="replace").strip().splitlines()
        super().__init__(f"{url} answered {status}: {first_line[0] if first_line else ''}")

    @property
    def message(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class ModelServerStartupError(RuntimeError):
    """The server did not become healthy; the message ends with the tail of its log."""


@dataclass(eq=False)
class ModelServer:
    """A running local SageMaker PyTorch serving stack (see the module docstring)."""

    process: subprocess.Popen
    port: int
    model_dir: Path
    workdir: Path
    keep_workdir: bool = False
    startup_seconds: float | None = None  # start until /ping is 200 and every worker is READY
    first_ping_seconds: float | None = None  # start until the first 200 from /ping
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """PID of the entry process; it leads the process group every server process is in."""
        return self.process.pid

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "server.log"

    def pids(self) -> list[int]:
        """Every live process of this server (entry, TorchServe, Java frontend, Python workers)."""
        pids = []
        for proc in psutil.process_iter(["status"]):
            try:
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                if os.getpgid(proc.pid) == self.pid:
                    pids.append(proc.pid)
            except (psutil.Error, ProcessLookupError):
                continue
        return sorted(pids)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- HTTP -------------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, body: bytes | None = None, headers=None, timeout=60.0
    ) -> Invocation:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Invocation(response.status, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Invocation(error.code, error.read())

    def ping(self, timeout: float = 5.0) -> bool:
        """True when ``GET /ping`` answers 200 (SageMaker's health check)."""
        try:
            return self._request("GET", "/ping", timeout=timeout).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def invoke(
        self,
        body: bytes | str,
        content_type: str = "application/json",
        accept: str = "application/json",
        *,
        check: bool = True,
        timeout: float = 60.0,
    ) -> Invocation:
        """``POST /invocations`` as SageMaker's ``InvokeEndpoint`` does; returns (status, body).

        With ``check=True`` (the default) a non-2xx answer raises :class:`ModelServerError`,
        which carries ``status`` and ``body``; with ``check=False`` it is returned as is.
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        result = self._request(
            "POST",
            "/invocations",
            body,
            {"Content-Type": content_type, "Accept": accept},
            timeout=timeout,
        )
        if check and not 200 <= result.status < 300:
            raise ModelServerError(result.status, result.body, self.url + "/invocations")
        return result

    def invoke_json(self, payload, *, timeout: float = 60.0):
        """Send ``payload`` as JSON and return the decoded JSON answer (raises on non-2xx)."""
        return self.invoke(json.dumps(payload).encode("utf-8"), timeout=timeout).json()

    def model_status(self) -> dict:
        """TorchServe's management view of the model (``GET /models/model``): workers, status."""
        result = self._request("GET", "/models/model", timeout=5.0)
        if result.status != 200:
            raise ModelServerError(result.status, result.body, self.url + "/models/model")
        described = result.json()
        return described[0] if isinstance(described, list) else described

    # --- lifecycle --------------------------------------------------------------------------
    def _wait_healthy(self, timeout: float, started: float) -> None:
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelServerStartupError(
                    f"the serving entry process exited with code {self.process.returncode} "
                    f"before the server was healthy; log {self.log_file}:\n{self.log_tail()}"
                )
            if self.ping(timeout=2.0):
                if self.first_ping_seconds is None:
                    self.first_ping_seconds = time.monotonic() - started
                if self._workers_ready():
                    return
            failure = self._worker_failure()
            if failure:
                raise ModelServerStartupError(
                    f"the model's worker died while loading it (model_fn or an import failed); "
                    f"log {self.log_file}:\n{failure}"
                )
            time.sleep(0.1)
        raise ModelServerStartupError(
            f"the model server on port {self.port} was not healthy within {timeout:.0f}s; "
            f"log {self.log_file}:\n{self.log_tail()}"
        )

    def _worker_failure(self) -> str | None:
        """The worker's own output up to its first death, if a worker died during start-up."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        if _WORKER_DIED not in text:
            return None
        lines = []
        for line in text.splitlines():
            if _WORKER_OUTPUT in line:
                lines.append(line.split(_WORKER_OUTPUT, 1)[1])
                if _WORKER_DIED in line:
                    break
        start = next((i for i, line in enumerate(lines) if "Failed to load model" in line), 0)
        return "\n".join(lines[start:][-60:])

    def _workers_ready(self) -> bool:
        try:
            workers = self.model_status().get("workers", [])
        except (OSError, http.client.HTTPException, ModelServerError, ValueError):
            return False
        return bool(workers) and all(w.get("status") == "READY" for w in workers)

    def stop(self, timeout: float = 20.0) -> None:
        """End the server's processes (its process group only) and free its port."""
        if self._stopped:
            return
        self._stopped = True
        _LIVE.discard(self)
        procs = []
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        leftovers = list(alive)
        for pid in self.pids():  # anything started while stopping
            with contextlib.suppress(psutil.Error):
                leftovers.append(psutil.Process(pid))
        if leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            psutil.wait_procs(leftovers, timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def server_environment(
    workdir: Path, port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of the serving processes (toolkit, TorchServe and JVM settings)."""
    env = dict(os.environ)
    # TorchServe's CLI would take a TS_CONFIG_FILE from the environment over the toolkit's file.
    env.pop("TS_CONFIG_FILE", None)
    pythonpath = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        pythonpath.append(env["PYTHONPATH"])
    tmp = workdir / "tmp"
    logs = workdir / "logs"
    loopback = f"http://{LOOPBACK}:{port}"
    env.update(
        {
            # sagemaker-inference / sagemaker-pytorch-inference
            "SAGEMAKER_BASE_DIR": str(workdir / "ml"),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "60",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            # TorchServe overrides (enable_envvars_config=true in the toolkit's default config)
            "TS_INFERENCE_ADDRESS": loopback,
            "TS_MANAGEMENT_ADDRESS": loopback,
            "TS_METRICS_ADDRESS": f"http://{LOOPBACK}:{free_port()}",
            "TS_ENABLE_METRICS_API": "false",
            "TS_DISABLE_SYSTEM_METRICS": "true",
            "TS_GRPC_INFERENCE_ADDRESS": LOOPBACK,
            "TS_GRPC_MANAGEMENT_ADDRESS": LOOPBACK,
            "TS_GRPC_INFERENCE_PORT": str(free_port()),
            "TS_GRPC_MANAGEMENT_PORT": str(free_port()),
            "TS_DEFAULT_STARTUP_TIMEOUT": "120",
            # TorchServe's pid file (tempfile.gettempdir) and worker sockets (java.io.tmpdir)
            "TMPDIR": str(tmp),
            "TEMP": str(tmp),
            "LOG_LOCATION": str(logs),
            "METRICS_LOCATION": str(logs),
            "JAVA_TOOL_OPTIONS": DEFAULT_JVM_OPTIONS,
            "VIGIL_TS_CONFIG_FILE": str(workdir / "sagemaker-ts.properties"),
            "PYTHONPATH": os.pathsep.join(pythonpath),
            # the toolkit runs the `torchserve` console script of this environment
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # one CPU thread per worker unless the caller says otherwise (a shared machine)
            "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
            "MKL_NUM_THREADS": env.get("MKL_NUM_THREADS", "1"),
        }
    )
    env.update(extra or {})
    return env


def start_model_server(
    model_dir: str | os.PathLike,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    keep_workdir: bool = False,
) -> ModelServer:
    """Start the SageMaker PyTorch serving stack for ``model_dir`` and wait until it is healthy.

    ``model_dir`` holds the model files and ``code/inference.py``, or is a ``model.tar.gz`` with
    that layout (unpacked into the server's temporary directory). ``env`` adds or overrides
    environment variables of the serving processes (e.g. ``SAGEMAKER_MODEL_SERVER_TIMEOUT``, or
    settings the model's ``model_fn`` reads). Healthy means ``GET /ping`` answers 200 and every
    worker of the model is READY (its ``model_fn`` has run). The caller must ``stop()`` the server
    (or use :func:`serve_model`); servers still running at interpreter exit are stopped then.
    """
    model_dir = Path(model_dir).resolve()
    port = port or free_port()
    if not port_is_free(port):
        raise OSError(f"port {port} on {LOOPBACK} is already in use")
    workdir = Path(tempfile.mkdtemp(prefix="vigil-model-server-"))
    (workdir / "ml").mkdir()
    served = workdir / "ml" / "model"
    if model_dir.is_file():  # a model.tar.gz: served exactly as SageMaker would unpack it
        unpack_model(model_dir, served)
    else:
        served.symlink_to(model_dir, target_is_directory=True)
    if not (served / "code" / "inference.py").is_file():
        shutil.rmtree(workdir, ignore_errors=True)
        raise FileNotFoundError(
            f"{model_dir} is not a SageMaker model (directory or model.tar.gz): "
            "code/inference.py is missing"
        )
    for sub in ("tmp", "logs"):
        (workdir / sub).mkdir()
    log = (workdir / "logs" / "server.log").open("wb")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.standins.sagemaker_serving_entry"],
            cwd=workdir,
            env=server_environment(workdir, port, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals exactly this group
        )
    finally:
        log.close()
    server = ModelServer(process=process, port=port, model_dir=model_dir, workdir=workdir)
    server.keep_workdir = keep_workdir
    _LIVE.add(server)
    try:
        server._wait_healthy(startup_timeout, started)
    except BaseException:
        server.keep_workdir = True  # keep the log for the error message's reader
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


@contextlib.contextmanager
def serve_model(
    model_dir: str | os.PathLike,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> Iterator[ModelServer]:
    """``with serve_model(model_dir) as server: server.invoke(...)`` — started, then stopped."""
    server = start_model_server(model_dir, port=port, env=env, startup_timeout=startup_timeout)
    try:
        yield server
    finally:
        server.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()
