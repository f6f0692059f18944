"""What the fraud CDK constructs and the fraud Lambdas must agree on, defined once.

S3 layout names shared with the state machine, the training job's hyperparameters and metric
lines, the scoring API's request schema, and one settings model per Lambda (``to_environment()``
in CDK, ``from_environment()`` in the handler). Standard library and pydantic only: ``python app.py``
imports this, and synth must not need numpy, boto3 or Powertools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from vigil.environment import EnvironmentSettings
from vigil.fraud import schema
from vigil.fraud.hyperparameters import Hyperparameters
from vigil.fraud.schema import FEATURIZER_FILE

__all__ = [
    "CRAWLER_TABLE_PREFIX",
    "FEATURIZER_FILE",
    "RAW_TABLES_PREFIX",
    "RUNS_PREFIX",
    "SAGEMAKER_PROGRAM",
    "GraphLoadSettings",
    "Hyperparameters",
    "PackageModelSettings",
    "PipelineEnvironment",
    "PipelineError",
    "ScoringSettings",
    "accelerated",
    "metric_definitions",
    "request_json_schema",
]

# --- names shared with the state machine ---------------------------------------------------------
RAW_TABLES_PREFIX = "tables/"  # the crawler's target: one folder per table below it
RAW_TABLE_FOLDERS = {"transaction": "transaction", "identity": "identity"}
CRAWLER_TABLE_PREFIX = "raw_"  # catalog tables: raw_transaction, raw_identity
RUNS_PREFIX = "runs/"  # processed bucket: runs/<runId>/{processed,model,packaged}/
# Every training job the pipeline starts is named so; its state machine may touch only these.
TRAINING_JOB_PREFIX = "vigil-fraud-"

# SageMaker framework-container hyperparameters (how the PyTorch image finds the entry point).
SAGEMAKER_PROGRAM = "train.py"
# Training logs print `name = value;` lines; one metric definition per name.
TRAINING_METRICS = (  # what training/fraud/train.py prints
    "train_loss",
    "valid_roc_auc",
    # every candidate model's validation and test ranking (the selection's evidence)
    *(
        f"{model}_{split}_{metric}"
        for model in ("rgcn", "graph_gbdt")
        for split in ("valid", "test")
        for metric in ("roc_auc", "average_precision")
    ),
    # the deployed (selected, calibrated) model at its operating threshold
    "test_roc_auc",
    "test_pr_auc",
    "test_ap",
    "test_f1",
    "test_precision",
    "test_recall",
    "test_ece_before",
    "test_ece",
    "operating_threshold",
    "baseline_test_roc_auc",
    "training_seconds",
)
METRIC_VALUE_REGEX = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def metric_definitions() -> list[dict[str, str]]:
    """SageMaker ``MetricDefinitions`` for the training script's ``name = value;`` log lines."""
    return [
        # \b: `test_roc_auc` must not match inside `baseline_test_roc_auc`
        {"Name": name, "Regex": rf"\b{re.escape(name)} = {METRIC_VALUE_REGEX};"}
        for name in TRAINING_METRICS
    ]


def accelerated(instance_type: str) -> bool:
    """GPU instance families (the training image differs for them)."""
    family = instance_type.split(".")[1]
    return family[0] in "gp" and not family.startswith("c")


# --- pipeline Lambdas ----------------------------------------------------------------------------
class PipelineError(ValueError):
    """A step's input is wrong or its work failed; the message names what and where."""


class PipelineEnvironment(EnvironmentSettings):
    """Deployment facts the pipeline Lambdas receive as environment variables."""

    raw_bucket: str
    processed_bucket: str
    endpoint_name: str
    training_instance_type: str = "ml.g5.xlarge"
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_instance_count: int = 1
    graph_load_format: Literal["opencypher", "csv"] = "opencypher"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineEnvironment:
        """:meth:`from_environment`, failing as a pipeline step fails (``PipelineError``)."""
        try:
            return cls.from_environment(environ)
        except ValidationError as exc:
            raise PipelineError(f"pipeline Lambda environment is incomplete: {exc}") from exc


class GraphLoadSettings(EnvironmentSettings):
    """The Neptune bulk-load step: the cluster, the role Neptune reads S3 with, the region."""

    neptune_endpoint: str
    neptune_load_role_arn: str
    region: str | None = Field(None, alias="AWS_REGION")  # set by Lambda itself


class PackageModelSettings(EnvironmentSettings):
    """The packaging step: where the inference code bundle is."""

    code_bundle_uri: str


# --- scoring API ---------------------------------------------------------------------------------
MAX_BODY_BYTES = 32 * 1024
MAX_STRING_LENGTH = 256
EXPLAIN_FIELD = "explain"  # request: true adds each entity's contribution to the answer
INPUT_COLUMNS = [
    c
    for c in dict.fromkeys([*schema.TRANSACTION_COLUMNS, *schema.IDENTITY_COLUMNS])
    if c != schema.LABEL_COLUMN
]
STRING_COLUMNS = frozenset(schema.TRANSACTION_STRING_COLUMNS) | frozenset(
    schema.IDENTITY_STRING_COLUMNS
)


def request_json_schema() -> dict[str, Any]:
    """The event body as a JSON Schema (draft 4): API Gateway's request model is built from it,
    so the gateway and the Lambda's ``TransactionEvent`` reject the same shapes (the model is
    stricter: finite numbers)."""
    properties: dict[str, Any] = {}
    for column in INPUT_COLUMNS:
        if column == schema.ID_COLUMN:
            properties[column] = {"type": "integer", "minimum": 0}
        elif column == schema.TIME_COLUMN:
            properties[column] = {"type": ["integer", "null"], "minimum": 0}
        elif column in STRING_COLUMNS:
            properties[column] = {"type": ["string", "null"], "maxLength": MAX_STRING_LENGTH}
        else:
            properties[column] = {"type": ["number", "null"]}
    properties[EXPLAIN_FIELD] = {"type": "boolean"}
    return {
        "type": "object",
        "required": [schema.ID_COLUMN],
        "additionalProperties": False,
        "properties": properties,
    }


class ScoringSettings(EnvironmentSettings):
    """Settings of the scoring path: the CDK construct writes them, the Lambda reads them."""

    graph_endpoint: str
    endpoint_name: str = Field(alias="SCORING_ENDPOINT_NAME")
    featurizer_spec: str  # a local path or s3://bucket/key of the ETL's featurizer.json
    # None: the deployed model's own operating threshold (chosen on validation at training)
    threshold: float | None = Field(None, gt=0, lt=1, alias="FRAUD_THRESHOLD")
    hub_threshold: int = Field(10_000, alias="HUB_DEGREE_THRESHOLD")
    fallback: Literal["review", "closed"] = Field("review", alias="FALLBACK_MODE")
    latency_budget_ms: int = 1_000
    idempotency_table: str | None = None  # Powertools idempotency record per TransactionID
    recent_scores_table: str | None = None  # the console's recent scores (recent_scores.py)
    recent_scores_ttl_s: int = 24 * 3_600
    link_only_columns: frozenset[str] = frozenset(schema.DEFAULT_LINK_ONLY_COLUMNS)
    max_attempts: int = 3
    backoff_base_ms: int = 10
    backoff_cap_ms: int = 200
    graph_timeout_ms: int = 300
    endpoint_timeout_ms: int = 500
    insert_attempts: int = 8  # guard misses: jittered re-read + insert, inside the budget
    idempotency_ttl_s: int = 3_600
    featurizer_refresh_s: float = 60.0  # how often a warm container checks for a new spec

    @field_validator("idempotency_table", "recent_scores_table", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("link_only_columns", mode="before")
    @classmethod
    def _ieee_cis_columns(cls, value: Any) -> Any:
        # comma separated in the environment (empty for none); each must be an IEEE-CIS column,
        # since a misspelt name would otherwise silently turn a category back into writes
        if isinstance(value, str):
            value = [c.strip() for c in value.split(",") if c.strip()]
        known = set(schema.TRANSACTION_COLUMNS) | set(schema.IDENTITY_COLUMNS)
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"LINK_ONLY_COLUMNS names columns that are not IEEE-CIS columns: {unknown}"
            )
        return frozenset(value)
