"""The fraud training pipeline's logic: execution input, hyperparameters and the helper steps.

One definition shared by the Step Functions helper Lambdas (``lambdas/fraud/pipeline_*``), the CDK
construct that builds the state machine (``cdk/fraud/training_pipeline.py``: hyperparameter keys,
metric definitions, state names of the helper tasks' outputs) and the tests.

The state machine (``docs/fraud-pipeline.md``) calls, in order::

    normalize_input      execution input → validated ``PipelineConfig`` (defaults filled in)
    stage_raw_data       raw IEEE-CIS files → one folder per table for the crawler (or no-op)
    build_hyperparameters  typed hyperparameters → SageMaker's string map
    start_graph_load / graph_load_status   Neptune bulk loader (SigV4 via boto3 ``neptunedata``)
    package_model        training ``model.tar.gz`` + inference code bundle → deployable tarball
    endpoint_status      does the endpoint exist, is it InService?
    publish_featurizer   once InService: the run's ``featurizer.json`` → the scoring Lambda's key

Configuration is read from the environment inside each call (``PipelineEnvironment.from_env``),
never at import time.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from vigil import aws
from vigil.fraud.contract import (  # noqa: F401 - the steps' names, defined with CDK's
    CRAWLER_TABLE_PREFIX,
    RAW_TABLE_FOLDERS,
    RAW_TABLES_PREFIX,
    RUNS_PREFIX,
    SAGEMAKER_PROGRAM,
    TRAINING_JOB_PREFIX,
    TRAINING_METRICS,
    Hyperparameters,
    PipelineEnvironment,
    PipelineError,
    accelerated,
    metric_definitions,
)
from vigil.fraud.schema import NEPTUNE_FOLDER

RAW_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".snappy.parquet")
RUNNING_LOAD_STATES = frozenset(
    {"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS", "LOAD_COMMITTED_W_WRITE_CONFLICTS"}
)

STEP_ERRORS_METRIC = "PipelineStepErrors"  # every step handler counts its failures as this


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- execution input -----------------------------------------------------------------------------
class InstanceTypes(_Model):
    training: str | None = Field(None, description="SageMaker training instance type")
    endpoint: str | None = Field(None, description="SageMaker endpoint instance type")

    @field_validator("training", "endpoint")
    @classmethod
    def _ml_instance(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", value):
            raise ValueError(f"{value!r} is not a SageMaker instance type (ml.<family>.<size>)")
        return value


class PipelineInput(_Model):
    """What a caller passes to ``StartExecution`` (all optional): see docs/fraud-pipeline.md."""

    data_location: str | None = Field(
        None,
        description="s3://<raw bucket>/<prefix>/ holding train_transaction.* and train_identity.* "
        "(CSV, CSV.gz or Parquet); omit to train on what is already under the raw bucket's tables/",
    )
    run_id: str | None = Field(
        None, description="names this run's S3 folders and SageMaker jobs; default: execution name"
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="overrides of Hyperparameters fields (camelCase or snake_case)",
    )
    instance_types: InstanceTypes = Field(default_factory=InstanceTypes)
    training_instance_count: int = Field(1, ge=1, le=16)
    graph_load: bool = Field(True, description="bulk-load the graph into Neptune (false: skip)")

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,39}", value):
            raise ValueError(
                "runId must be 1-40 letters, digits or hyphens (a SageMaker name part)"
            )
        return value


def _split_s3(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/?(.*)", uri)
    if not match:
        raise PipelineError(f"{uri!r} is not an s3://bucket/prefix location")
    return match.group(1), match.group(2)


def _safe_name(value: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]+", "-", value).strip("-")[:40] or "run"


def normalize_input(
    raw: Mapping[str, Any] | None, execution_name: str, env: PipelineEnvironment
) -> dict[str, Any]:
    """Validate the execution input and fill every default: the config every later state reads."""
    try:
        request = PipelineInput.model_validate(dict(raw or {}))
        hyperparameters = Hyperparameters.model_validate(request.hyperparameters)
    except ValidationError as exc:
        raise PipelineError(f"invalid pipeline input: {exc}") from exc
    run_id = request.run_id or _safe_name(execution_name)
    tables = f"s3://{env.raw_bucket}/{RAW_TABLES_PREFIX}"
    data_location = request.data_location or tables
    bucket, _ = _split_s3(data_location)
    if bucket != env.raw_bucket:
        raise PipelineError(
            f"dataLocation {data_location!r} must be in the raw bucket {env.raw_bucket!r} "
            "(upload the IEEE-CIS files there; the pipeline's roles read nothing else)"
        )
    training_type = request.instance_types.training or env.training_instance_type
    if accelerated(training_type) != accelerated(env.training_instance_type):
        raise PipelineError(
            f"instanceTypes.training {training_type!r}: this deployment's training image is "
            f"for {'GPU' if accelerated(env.training_instance_type) else 'CPU'} "
            f"instances like {env.training_instance_type!r} (change vigil:fraud:trainingInstanceType)"
        )
    run_root = f"s3://{env.processed_bucket}/{RUNS_PREFIX}{run_id}/"
    processed = f"{run_root}processed/"
    name = f"{TRAINING_JOB_PREFIX}{run_id}"[:63]
    return {
        "runId": run_id,
        "data": {
            "location": data_location.rstrip("/") + "/",
            "tables": tables,
            "database_prefix": CRAWLER_TABLE_PREFIX,
        },
        "processed": processed,
        "graphLoad": {
            "enabled": request.graph_load,
            "source": f"{processed}{NEPTUNE_FOLDER}/",
            "format": env.graph_load_format,
        },
        "training": {
            "jobName": name,
            "instanceType": training_type,
            "instanceCount": request.training_instance_count,
            "outputPath": f"{run_root}model/",
        },
        "hyperparameters": hyperparameters.model_dump(by_alias=True),
        "model": {"name": name, "packagedUri": f"{run_root}packaged/model.tar.gz"},
        "endpoint": {
            "name": env.endpoint_name,
            "configName": name,
            "instanceType": request.instance_types.endpoint or env.endpoint_instance_type,
            "instanceCount": env.endpoint_instance_count,
        },
    }


def build_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """The typed hyperparameters from ``normalize_input`` → SageMaker's string map."""
    try:
        return Hyperparameters.model_validate(dict(hyperparameters)).as_strings()
    except ValidationError as exc:
        raise PipelineError(f"invalid hyperparameters: {exc}") from exc


# --- data ingest ---------------------------------------------------------------------------------
def _table_of(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1].lower()
    if not name.endswith(RAW_SUFFIXES):
        return None
    for table in RAW_TABLE_FOLDERS:
        if table in name:
            return table
    return None


def stage_raw_data(location: str, tables: str, *, s3=None) -> dict[str, Any]:
    """Copy the raw files under ``location`` into ``tables/<table>/`` (one folder per table).

    A no-op when ``location`` already is the tables folder. Old files of a staged table are
    removed first so a crawl sees exactly this run's data. Both IEEE-CIS tables must be there
    (``train_transaction.*`` and ``train_identity.*``); the ETL reads the two folders returned.
    """
    s3 = s3 or aws.client("s3")
    src_bucket, src_prefix = _split_s3(location)
    dst_bucket, dst_prefix = _split_s3(tables)
    if (src_bucket, src_prefix.rstrip("/")) == (dst_bucket, dst_prefix.rstrip("/")):
        found = _list(s3, dst_bucket, dst_prefix)
        for table, folder in RAW_TABLE_FOLDERS.items():
            if not any(k.startswith(f"{dst_prefix}{folder}/") and _table_of(k) for k in found):
                raise PipelineError(f"no train_{table} file under {tables}{folder}/")
        return {
            "staged": False,
            "files": len(found),
            "format": _format_of([k for k in found if _table_of(k)], tables),
            **_table_locations(tables),
        }
    files: dict[str, list[str]] = {table: [] for table in RAW_TABLE_FOLDERS}
    for key in _list(s3, src_bucket, src_prefix):
        table = _table_of(key)
        if table:
            files[table].append(key)
    for table, keys in files.items():
        if not keys:
            raise PipelineError(
                f"no train_{table} file ({', '.join(RAW_SUFFIXES)}) under {location}"
            )
    for table, keys in files.items():
        folder = f"{dst_prefix}{RAW_TABLE_FOLDERS[table]}/"
        stale = _list(s3, dst_bucket, folder)
        for start in range(0, len(stale), 1000):
            s3.delete_objects(
                Bucket=dst_bucket,
                Delete={
                    "Objects": [{"Key": k} for k in stale[start : start + 1000]],
                    "Quiet": True,
                },
            )
        for key in keys:
            s3.copy_object(
                Bucket=dst_bucket,
                Key=folder + key.rsplit("/", 1)[-1],
                CopySource={"Bucket": src_bucket, "Key": key},
            )
    return {
        "staged": True,
        "files": sum(len(keys) for keys in files.values()),
        "format": _format_of([k for keys in files.values() for k in keys], location),
        **_table_locations(tables),
    }


def _format_of(keys: list[str], where: str) -> str:
    """The ETL's ``--input-format``: every file of a run is CSV (or .csv.gz) or every one Parquet."""
    formats = {"parquet" if k.lower().endswith(".parquet") else "csv" for k in keys}
    if len(formats) != 1:
        raise PipelineError(f"mixed CSV and Parquet files under {where}: use one format per run")
    return formats.pop()


def _table_locations(tables: str) -> dict[str, str]:
    """The ETL's ``--transactions``/``--identity`` folders (glue/fraud_etl.py)."""
    return {
        "tables": tables,
        "transactions": f"{tables}{RAW_TABLE_FOLDERS['transaction']}/",
        "identity": f"{tables}{RAW_TABLE_FOLDERS['identity']}/",
    }


def _list(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


# --- Neptune bulk load ---------------------------------------------------------------------------
def neptune_client(endpoint: str):
    """boto3 ``neptunedata`` (SigV4-signed HTTPS to the cluster, IAM auth) for ``host[:port]``."""
    url = endpoint if "://" in endpoint else f"https://{endpoint}"
    if not re.search(r":\d+$", url):
        url += ":8182"
    return aws.client("neptunedata", endpoint_url=url, read_timeout=30.0)


def start_graph_load(client, *, source: str, fmt: str, role_arn: str, region: str) -> dict:
    """Queue a Neptune bulk load of ``source``; returns ``{"loadId": ...}``."""
    _split_s3(source)
    response = client.start_loader_job(
        source=source,
        format=fmt,
        s3BucketRegion=region,
        iamRoleArn=role_arn,
        mode="AUTO",
        failOnError=True,
        parallelism="MEDIUM",
        updateSingleCardinalityProperties=True,
        queueRequest=True,
    )
    load_id = (response.get("payload") or {}).get("loadId")
    if not load_id:
        raise PipelineError(f"Neptune loader answered without a loadId: {response.get('status')}")
    return {"loadId": load_id}


class GraphLoadFailed(PipelineError):
    """The Neptune bulk loader finished with errors (the message carries them)."""


def graph_load_status(client, load_id: str) -> dict:
    """``{"loadId", "status", "done"}``; raises ``GraphLoadFailed`` on any failed loader state."""
    response = client.get_loader_job_status(loadId=load_id, details=True, errors=True)
    payload = response.get("payload") or {}
    overall = payload.get("overallStatus") or {}
    status = overall.get("status", "UNKNOWN")
    if status == "LOAD_COMPLETED":
        return {"loadId": load_id, "status": status, "done": True, **_counts(overall)}
    if status in RUNNING_LOAD_STATES:
        return {"loadId": load_id, "status": status, "done": False, **_counts(overall)}
    errors = (payload.get("errors") or {}).get("errorLogs") or []
    detail = "; ".join(
        f"{e.get('errorCode')}: {e.get('errorMessage')} ({e.get('fileName')}:{e.get('recordNum')})"
        for e in errors[:5]
    )
    raise GraphLoadFailed(f"Neptune bulk load {load_id} ended {status}: {detail or 'no error log'}")


def _counts(overall: Mapping[str, Any]) -> dict[str, int]:
    return {
        "records": int(overall.get("totalRecords", 0)),
        "insertErrors": int(overall.get("insertErrors", 0)),
        "parsingErrors": int(overall.get("parsingErrors", 0)),
    }


# --- model packaging -----------------------------------------------------------------------------
def package_model(model_uri: str, code_bundle_uri: str, output_uri: str, *, s3=None) -> dict:
    """Training ``model.tar.gz`` + the inference code bundle → one deployable ``model.tar.gz``.

    The bundle (``code/inference.py``, ``code/vigil/...``, ``code/requirements.txt``) is built at
    synth time by the CDK construct with :mod:`vigil.packaging`; it replaces any ``code/`` the
    training job wrote, so the endpoint always runs the deployed inference code.
    """
    from vigil.packaging import CODE_DIR, ENTRY_POINT, unpack_model
    from vigil.packaging import package_model as write_tarball

    s3 = s3 or aws.client("s3")
    with tempfile.TemporaryDirectory(prefix="vigil-package-") as tmp:
        work = Path(tmp)
        model_tar, bundle_tar = work / "model.tar.gz", work / "code.tar.gz"
        for uri, path in ((model_uri, model_tar), (code_bundle_uri, bundle_tar)):
            bucket, key = _split_s3(uri)
            try:
                s3.download_file(bucket, key, str(path))
            except Exception as exc:
                raise PipelineError(f"cannot read {uri}: {exc}") from exc
        model_dir = unpack_model(model_tar, work / "model")
        model_tar.unlink()
        shutil.rmtree(model_dir / CODE_DIR, ignore_errors=True)
        unpack_model(bundle_tar, model_dir)
        if not (model_dir / CODE_DIR / ENTRY_POINT).is_file():
            raise PipelineError(f"{code_bundle_uri} has no {CODE_DIR}/{ENTRY_POINT}")
        if not [p for p in model_dir.iterdir() if p.name != CODE_DIR]:
            raise PipelineError(f"{model_uri} holds no model files")
        out = write_tarball(model_dir, work / "packaged.tar.gz")
        bucket, key = _split_s3(output_uri)
        s3.upload_file(str(out), bucket, key)
        size = out.stat().st_size
    return {"modelDataUrl": output_uri, "bytes": size}


# --- endpoint ------------------------------------------------------------------------------------
def endpoint_status(endpoint_name: str, *, sagemaker=None) -> dict:
    """``{"exists", "status", "failureReason"}`` of a SageMaker endpoint (missing → exists False)."""
    sagemaker = sagemaker or aws.client("sagemaker")
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "Could not find" in error.get(
            "Message", ""
        ):
            # every key always present: the state machine's Choice rules read them all
            return {"exists": False, "status": "None", "failureReason": "", "configName": ""}
        raise
    return {
        "exists": True,
        "status": described["EndpointStatus"],
        "failureReason": described.get("FailureReason", ""),
        "configName": described.get("EndpointConfigName", ""),
    }


# --- featurizer publication ------------------------------------------------------------------------
def publish_featurizer(source_uri: str, destination_uri: str, *, s3=None) -> dict:
    """Copy the run's featurizer spec to the key the scoring Lambda loads (``current/...``).

    Called only after the run's endpoint is InService: the spec and the model are a pair (the
    model was trained on vectors of exactly this spec's width and vocabularies), so the scoring
    Lambda must switch to it when, and not before, the endpoint serves that model. The spec is
    validated (:class:`~vigil.fraud.features.FeaturizerSpec`) before anything is written, so a
    bad or missing file fails the step and leaves the published spec untouched.
    """
    from vigil.fraud.features import FeaturizerSpec

    s3 = s3 or aws.client("s3")
    src_bucket, src_key = _split_s3(source_uri)
    dst_bucket, dst_key = _split_s3(destination_uri)
    if not src_key or not dst_key:
        raise PipelineError(
            f"publish_featurizer needs object keys: {source_uri} → {destination_uri}"
        )
    try:
        body = s3.get_object(Bucket=src_bucket, Key=src_key)["Body"].read()
    except Exception as exc:
        raise PipelineError(f"cannot read the run's featurizer spec {source_uri}: {exc}") from exc
    try:
        spec = FeaturizerSpec.from_json(body.decode("utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PipelineError(f"{source_uri} is not a valid featurizer spec: {exc!r}") from exc
    s3.put_object(Bucket=dst_bucket, Key=dst_key, Body=body, ContentType="application/json")
    return {
        "source": source_uri,
        "destination": destination_uri,
        "dim": spec.dim,
        "bytes": len(body),
    }
