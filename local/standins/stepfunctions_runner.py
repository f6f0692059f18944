"""Run a synthesized Step Functions state machine offline: moto's ASL interpreter + real handlers.

The definition executed is the one CDK synthesized (``DefinitionString`` of the template), with its
``Ref``/``Fn::GetAtt``/``Fn::Join``/``Fn::FindInMap`` resolved against resources this runner
"deploys" into moto (in-process ``mock_aws`` with ``execute_state_machine``): S3 buckets, SNS
topics, the Glue database, crawler and job, and a registry of the template's Lambda functions.
moto runs the real ASL: Choice, Wait, Retry, Catch, ResultSelector/ResultPath, intrinsics, the
``aws-sdk`` integrations and the optimized ``glue:startJobRun.sync`` and ``sns:publish``.

Where moto cannot run an integration, the runner changes a COPY of the definition — never the
synthesized one — and says so in ``LocalPipeline.localizations``:

* Lambda tasks: moto would need Docker to run a function; the runner invokes the function's real
  handler (``Handler`` of the template's ``AWS::Lambda::Function``) in-process with the function's
  resolved environment, and returns its result or error exactly as Lambda's Invoke would.
* ``arn:aws:states:::sagemaker:<action>`` (moto marks SageMaker's optimized integration
  unsupported): rewritten to the equivalent ``aws-sdk:sagemaker:<action>`` task (same API, same
  parameter casing), which moto runs against its SageMaker backend.
* ``sagemaker:updateEndpoint`` (moto has no UpdateEndpoint) and ``createTrainingJob.sync`` (no
  ``.sync`` in moto, and nothing runs the container): the state must be given an override — a
  Python callable that receives the task's resolved Parameters and returns the task's result or
  raises :class:`TaskFailure`. :func:`update_endpoint_in_moto` and :class:`TrainingJobInMoto` are
  ready-made ones that act on moto's SageMaker backend.
* Any state can be overridden the same way (a failing Glue run, a throttled call); Wait states
  and Retry intervals are shortened so an execution takes seconds.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import io
import json
import os
import re
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

ACCOUNT = "123456789012"
REGION = "us-east-1"
OVERRIDE_PREFIX = "vigil-local-override-"
Override = Callable[[dict[str, Any]], Any]


class TaskFailure(Exception):
    """Raised by an override: the task fails with this ``error`` name and ``cause``."""

    def __init__(self, error: str, cause: str = ""):
        if error.startswith("States."):
            # moto reports a function error as a custom error name, which may not use States.*
            raise ValueError(f"an override cannot raise the reserved error name {error!r}")
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class LocalFunction:
    name: str
    handler: str  # module.function
    environment: dict[str, str]
    timeout: int = 30

    def invoke(self, event: Any) -> Any:
        module_name, _, attr = self.handler.rpartition(".")
        with _environment(
            {
                **self.environment,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_LAMBDA_FUNCTION_NAME": self.name,
                "POWERTOOLS_TRACE_DISABLED": "1",
            }
        ):
            # imported here: Powertools reads its settings from the environment at import time
            fn = getattr(importlib.import_module(module_name), attr)
            return fn(event, _LambdaContext(self.name, self.timeout))


@dataclass
class _LambdaContext:
    function_name: str
    timeout: int
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout * 1000


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@dataclass
class Execution:
    status: str
    output: Any
    error: str | None
    cause: str | None
    states: list[str]  # state names in the order they were entered
    history: list[dict[str, Any]]
    seconds: float
    arn: str = ""

    def entered(self, state: str) -> bool:
        return state in self.states


# --- template resolution ----------------------------------------------------------------------
class TemplateResolver:
    """Resolves the intrinsic functions a CDK template uses against local names."""

    PSEUDO: ClassVar[dict[str, Any]] = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "Vigil-Local",
        "AWS::NoValue": None,
    }

    def __init__(self, template: Mapping[str, Any]):
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.refs: dict[str, str] = {}
        self.attrs: dict[tuple[str, str], str] = {}

    def ref(self, logical_id: str) -> str:
        if logical_id in self.PSEUDO:
            return self.PSEUDO[logical_id]
        if logical_id not in self.refs:
            self.refs[logical_id] = _local_name(logical_id)
        return self.refs[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.attrs:
            return self.attrs[(logical_id, attribute)]
        kind = self.resources.get(logical_id, {}).get("Type", "")
        name = self.ref(logical_id)
        if attribute == "Arn":
            service = {
                "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
                "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
                "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
                "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            }.get(kind)
            if service:
                return service
        return f"local-{logical_id}-{attribute}".lower()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in self.resolve(parts))
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::FindInMap":
                name, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][name][first][second]
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.resolve(v) for k, v in variables.items()}

                def sub(match: re.Match) -> str:
                    key = match.group(1)
                    if key in variables:
                        return str(variables[key])
                    if "." in key:
                        return str(self.get_att(*key.split(".", 1)))
                    return str(self.ref(key))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
        return {k: self.resolve(v) for k, v in value.items()}

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r.get("Type") == kind}


def _local_name(logical_id: str) -> str:
    # S3-safe and short: lower-case logical id without CDK's hash suffix, plus a stable hash.
    stem = re.sub(r"[0-9A-F]{8}$", "", logical_id).lower()[:40]
    return f"{stem}-{hashlib.sha256(logical_id.encode()).hexdigest()[:6]}"


# --- the runner -------------------------------------------------------------------------------
@dataclass
class LocalPipeline:
    """Deploys the parts of ``template`` a state machine needs into moto, then runs executions.

    Use inside ``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`` (or let
    :meth:`started` open it).
    """

    template: Mapping[str, Any]
    state_machine: str | None = None  # logical id or its unique prefix; default: the only one
    resolver: TemplateResolver = field(init=False)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    localizations: list[str] = field(default_factory=list)
    _emulators: dict[str, Override] = field(default_factory=dict)

    def __post_init__(self):
        self.resolver = TemplateResolver(self.template)
        machines = self.resolver.of_type("AWS::StepFunctions::StateMachine")
        if self.state_machine is None:
            if len(machines) != 1:
                raise ValueError(f"template has {len(machines)} state machines; name one")
            self.state_machine = next(iter(machines))
        if self.state_machine not in machines:
            named = [m for m in machines if m.startswith(self.state_machine)]
            if len(named) != 1:
                raise KeyError(f"no one state machine {self.state_machine!r} in the template")
            self.state_machine = named[0]

    # -- names -------------------------------------------------------------------------------
    def name_of(self, logical_id_prefix: str) -> str:
        """Local physical name (Ref) of the resource whose logical id starts with the prefix."""
        return self.resolver.ref(self._logical(logical_id_prefix))

    def arn_of(self, logical_id_prefix: str) -> str:
        return self.resolver.get_att(self._logical(logical_id_prefix), "Arn")

    def _logical(self, prefix: str) -> str:
        found = [k for k in self.resolver.resources if re.fullmatch(f"{prefix}[0-9A-F]{{8}}", k)]
        found = found or [k for k in self.resolver.resources if k.startswith(prefix)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources match {prefix!r}: {found[:5]}")
        return found[0]

    # -- deployment into moto ------------------------------------------------------------------
    def deploy(self) -> None:
        import boto3

        r = self.resolver
        s3 = boto3.client("s3", region_name=REGION)
        for logical_id in r.of_type("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=r.ref(logical_id))
        sns = boto3.client("sns", region_name=REGION)
        for logical_id in r.of_type("AWS::SNS::Topic"):
            arn = sns.create_topic(Name=_local_name(logical_id))["TopicArn"]
            r.refs[logical_id] = arn
        glue = boto3.client("glue", region_name=REGION)
        # moto's crawls only progress when ListCrawls is called; let them finish at once (moto's
        # documented state-transition API) so GetCrawler reports READY after a crawl.
        from moto.moto_api import state_manager

        state_manager.set_transition(
            model_name="glue::crawl", transition={"progression": "immediate"}
        )
        for logical_id, res in r.of_type("AWS::Glue::Database").items():
            props = r.resolve(res["Properties"])
            glue.create_database(DatabaseInput={"Name": props["DatabaseInput"]["Name"]})
            r.refs[logical_id] = props["DatabaseInput"]["Name"]
        for logical_id, res in r.of_type("AWS::Glue::Crawler").items():
            props = r.resolve(res["Properties"])
            glue.create_crawler(
                Name=props["Name"],
                Role=props["Role"],
                DatabaseName=props["DatabaseName"],
                Targets={"S3Targets": [{"Path": t["Path"]} for t in props["Targets"]["S3Targets"]]},
            )
            r.refs[logical_id] = props["Name"]
        for logical_id, res in r.of_type("AWS::Glue::Job").items():
            props = r.resolve(res["Properties"])
            glue.create_job(
                Name=props["Name"],
                Role=props["Role"],
                Command={k[0].upper() + k[1:]: v for k, v in props["Command"].items()},
                GlueVersion=props.get("GlueVersion", "5.0"),
                DefaultArguments=props.get("DefaultArguments", {}),
            )
            r.refs[logical_id] = props["Name"]
        for logical_id, res in r.of_type("AWS::Lambda::Function").items():
            props = r.resolve(res["Properties"])
            name = r.ref(logical_id)
            self.functions[name] = LocalFunction(
                name=name,
                handler=props["Handler"],
                environment={
                    k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()
                },
                timeout=int(props.get("Timeout", 3)),
            )

    def publish_assets(
        self, manifest: str | os.PathLike, *, only: Callable[[str], bool] | None = None
    ):
        """Upload the cloud assembly's file assets (``<stack>.assets.json``) into moto's S3, as
        ``cdk deploy`` does into the bootstrap bucket (``only`` filters by display name)."""
        import boto3

        manifest = Path(manifest)
        s3 = boto3.client("s3", region_name=REGION)
        published = []
        for asset in json.loads(manifest.read_text()).get("files", {}).values():
            if only is not None and not only(asset.get("displayName", "")):
                continue
            source = manifest.parent / asset["source"]["path"]
            if source.is_dir():
                body = io.BytesIO()
                with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in sorted(source.rglob("*")):
                        if path.is_file():
                            archive.write(path, path.relative_to(source).as_posix())
                data = body.getvalue()
            else:
                data = source.read_bytes()
            for destination in asset["destinations"].values():
                bucket = destination["bucketName"].replace("${AWS::AccountId}", ACCOUNT)
                bucket = bucket.replace("${AWS::Region}", REGION)
                with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                    s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=data)
                published.append(f"s3://{bucket}/{destination['objectKey']}")
        return published

    # -- the definition ------------------------------------------------------------------------
    def synthesized_definition(self) -> dict[str, Any]:
        """The definition exactly as synthesized, with the template's intrinsics resolved."""
        props = self.resolver.resources[self.state_machine]["Properties"]
        return json.loads(self.resolver.resolve(props["DefinitionString"]))

    def localized_definition(self, overrides: Mapping[str, Override]) -> dict[str, Any]:
        """A copy of the definition that moto can run (see the module docstring)."""
        definition = copy.deepcopy(self.synthesized_definition())
        self.localizations = []
        self._emulators = {}
        states = _all_states(definition)
        unknown = set(overrides) - set(states)
        if unknown:
            raise KeyError(f"overrides for states that do not exist: {sorted(unknown)}")
        for name, state in states.items():
            if state.get("Type") == "Wait":
                for key in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath"):
                    state.pop(key, None)
                state["Seconds"] = 0
            for retry in state.get("Retry", []):
                retry["IntervalSeconds"] = 1
                retry["BackoffRate"] = 1.0
                retry.pop("JitterStrategy", None)
                retry.pop("MaxDelaySeconds", None)
            if state.get("Type") != "Task":
                continue
            resource = state["Resource"]
            if name not in overrides and resource in default_emulators():
                self._emulators[name] = default_emulators()[resource]
            if name in overrides or name in self._emulators:
                state["Resource"] = (
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{OVERRIDE_PREFIX}{name}"
                )
                state.pop("TimeoutSeconds", None)
                what = "override" if name in overrides else "emulator (moto cannot run it)"
                self.localizations.append(f"{name}: {resource} → local {what}")
                continue
            match = re.fullmatch(r"arn:aws:states:::sagemaker:(\w+)(\.sync)?", resource)
            if match:
                if match.group(2) or match.group(1) == "updateEndpoint":
                    # Reached without an override, the task fails saying so (a run that never
                    # gets there, e.g. one that fails earlier, needs none).
                    self._emulators[name] = _needs_override(name, resource)
                    state["Resource"] = (
                        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{OVERRIDE_PREFIX}{name}"
                    )
                    self.localizations.append(f"{name}: {resource} → fails: no override given")
                    continue
                state["Resource"] = f"arn:aws:states:::aws-sdk:sagemaker:{match.group(1)}"
                self.localizations.append(f"{name}: {resource} → aws-sdk integration")
        return definition

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        execution_input: Mapping[str, Any] | None = None,
        *,
        overrides: Mapping[str, Override] | None = None,
        name: str = "local-run",
        timeout: float = 120.0,
    ) -> Execution:
        import boto3

        overrides = dict(overrides or {})
        definition = self.localized_definition(overrides)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name=f"{name}-{time.monotonic_ns()}",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-state-machine",
        )["stateMachineArn"]
        start = time.perf_counter()
        with mock.patch(
            "moto.stepfunctions.parser.asl.component.state.exec.state_task."
            "lambda_eval_utils._invoke_lambda_function",
            self._invoker({**self._emulators, **overrides}),
        ):
            execution_arn = sfn.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps(execution_input or {})
            )["executionArn"]
            deadline = time.monotonic() + timeout
            while True:
                described = sfn.describe_execution(executionArn=execution_arn)
                if described["status"] != "RUNNING":
                    break
                if time.monotonic() > deadline:
                    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
                    entered = [
                        e["stateEnteredEventDetails"]["name"]
                        for e in events
                        if "stateEnteredEventDetails" in e
                    ]
                    sfn.stop_execution(executionArn=execution_arn, error="LocalTimeout")
                    raise TimeoutError(
                        f"execution still RUNNING after {timeout}s; states: {entered[-12:]}"
                    )
                time.sleep(0.02)
        seconds = time.perf_counter() - start
        history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        states = [
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        ]
        failed = next((e for e in history if e["type"] == "ExecutionFailed"), None)
        details = (failed or {}).get("executionFailedEventDetails", {})
        return Execution(
            status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=details.get("error"),
            cause=details.get("cause"),
            states=states,
            history=history,
            seconds=seconds,
            arn=execution_arn,
        )

    def _invoker(self, overrides: Mapping[str, Override]):
        def invoke(parameters: dict, region: str, state_credentials: Any) -> dict:
            function = parameters["FunctionName"].rsplit(":", 1)[-1]
            payload = parameters.get("Payload") or b"{}"
            event = json.loads(payload.decode() if isinstance(payload, bytes) else payload)
            try:
                if function.startswith(OVERRIDE_PREFIX):
                    result = overrides[function[len(OVERRIDE_PREFIX) :]](event)
                elif function in self.functions:
                    result = self.functions[function].invoke(event)
                else:
                    raise TaskFailure("Lambda.ResourceNotFoundException", f"no function {function}")
            except TaskFailure as exc:
                return _function_error(exc.error, exc.cause)
            except Exception as exc:  # what Lambda reports for an unhandled exception
                return _function_error(type(exc).__name__, str(exc))
            return {"StatusCode": 200, "Payload": json.loads(json.dumps(result, default=str))}

        return invoke


def _needs_override(name: str, resource: str) -> Override:
    def fail(params: dict[str, Any]) -> Any:
        raise TaskFailure(
            "LocalRunner.NoOverride", f"state {name} ({resource}) cannot run in moto: override it"
        )

    return fail


def _function_error(error: str, message: str) -> dict:
    return {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "Payload": {"errorType": error, "errorMessage": message},
    }


def _all_states(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition.get("States", {}).items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_all_states(branch))
        if "Iterator" in state:
            found.update(_all_states(state["Iterator"]))
        if "ItemProcessor" in state:
            found.update(_all_states(state["ItemProcessor"]))
    return found


@contextlib.contextmanager
def started(
    template: Mapping[str, Any],
    *,
    assets: str | os.PathLike | None = None,
    only_assets: Callable[[str], bool] | None = None,
    **kwargs,
) -> Iterator[LocalPipeline]:
    """``with started(template, assets=...) as pipeline:`` — moto (executing state machines),
    the template's resources deployed into it and its file assets published."""
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        pipeline = LocalPipeline(template, **kwargs)
        pipeline.deploy()
        if assets is not None:
            pipeline.publish_assets(assets, only=only_assets)
        yield pipeline


# --- ready-made overrides for what moto's SageMaker cannot do ---------------------------------
def model_tarball(files: Mapping[str, bytes]) -> bytes:
    """A ``model.tar.gz`` with the given files (what a training container writes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@dataclass
class TrainingJobInMoto:
    """``createTrainingJob.sync``: create the job in moto (its request validated there), write the
    container's ``model.tar.gz`` to the job's output path, return DescribeTrainingJob — or, with
    ``failure_reason``, end the way a failed job's ``.sync`` does."""

    artifact: bytes = b""
    failure_reason: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        import boto3

        self.requests.append(params)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_training_job(**params)
        described = sagemaker.describe_training_job(TrainingJobName=params["TrainingJobName"])
        if self.failure_reason is not None:
            described.update(TrainingJobStatus="Failed", FailureReason=self.failure_reason)
            raise TaskFailure(
                "SageMaker.TrainingJobFailed", json.dumps(described, default=str, sort_keys=True)
            )
        uri = described["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, key = uri[len("s3://") :].split("/", 1)
        boto3.client("s3", region_name=REGION).put_object(
            Bucket=bucket, Key=key, Body=self.artifact
        )
        return json.loads(json.dumps(described, default=str))


def update_endpoint_in_moto(params: dict[str, Any]) -> dict[str, Any]:
    """``updateEndpoint``: moto has no UpdateEndpoint; re-point the endpoint at the new config
    (delete + create with the same name), which is what an update ends in."""
    import boto3

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    existing = sagemaker.describe_endpoint(EndpointName=params["EndpointName"])
    sagemaker.describe_endpoint_config(EndpointConfigName=params["EndpointConfigName"])
    sagemaker.delete_endpoint(EndpointName=params["EndpointName"])
    created = sagemaker.create_endpoint(
        EndpointName=params["EndpointName"], EndpointConfigName=params["EndpointConfigName"]
    )
    return {"EndpointArn": created.get("EndpointArn", existing["EndpointArn"])}


@dataclass
class GlueJobRunInMoto:
    """``glue:startJobRun.sync`` (moto 5.2's own .sync for Glue crashes): start the run in moto,
    poll GetJobRun to its end, return it as ``.sync`` does — or end it in ``final_state``
    (moto's runs always succeed) with ``error_message``, failing the task like Glue's ``.sync``."""

    final_state: str = "SUCCEEDED"
    error_message: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        import boto3

        self.requests.append(params)
        glue = boto3.client("glue", region_name=REGION)
        run_id = glue.start_job_run(**params)["JobRunId"]
        for _ in range(100):
            run = glue.get_job_run(JobName=params["JobName"], RunId=run_id)["JobRun"]
            if run["JobRunState"] in {"SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"}:
                break
        run["JobName"] = params["JobName"]
        if self.final_state != "SUCCEEDED":
            run.update(JobRunState=self.final_state, ErrorMessage=self.error_message)
            raise TaskFailure(
                f"Glue.JobRun{self.final_state.title()}",
                json.dumps(run, default=str, sort_keys=True),
            )
        return json.loads(json.dumps(run, default=str))


def default_emulators() -> dict[str, Override]:
    """Integrations moto cannot run, emulated against moto's backends unless overridden."""
    return {
        "arn:aws:states:::glue:startJobRun.sync": GlueJobRunInMoto(),
        "arn:aws:states:::sagemaker:updateEndpoint": update_endpoint_in_moto,
    }
