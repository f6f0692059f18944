"""Context keys of the Toxicity classification stack: `vigil:toxicity:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdk.config import ContextModel
from vigil.toxicity.contract import SERVED_MODEL


class ToxicitySettings(ContextModel):
    """Every field is a context key (camelCase alias); list new ones in docs/configuration.md."""

    served_model: Literal["transformer", "bilstm"] = Field(
        SERVED_MODEL,
        description="Which trained model the endpoint serves (default: the better one by mean "
        "ROC-AUC over repeated splits, benchmarks/toxicity.py).",
    )
    deploy_endpoint: bool = Field(
        True,
        description="Create the SageMaker model, endpoint config, endpoint and moderation API "
        "(needs the model artifact at modelDataKey; deploy with false before the first training).",
    )
    model_data_key: str = Field(
        "",
        description="S3 key of the served model.tar.gz in the data bucket; empty: "
        "models/<servedModel>/model.tar.gz.",
    )
    serverless: bool = Field(
        False, description="Serverless endpoint config instead of real-time instances."
    )
    serverless_memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = Field(
        4096, description="Memory of the serverless endpoint."
    )
    serverless_max_concurrency: int = Field(
        5, ge=1, le=200, description="Max concurrent invocations of the serverless endpoint."
    )
    vpc_cidr: str = Field(
        "10.41.0.0/16",
        description="CIDR of the private VPC (isolated subnets only) the SageMaker training jobs, "
        "model and bulk transforms run in.",
    )
    endpoint_instance_type: str = Field(
        "ml.m5.large", description="Instance type of the real-time endpoint."
    )
    endpoint_instance_count: int = Field(
        1, ge=1, le=10, description="Instances of the real-time endpoint."
    )
    bilstm_training_instance_type: str = Field(
        "ml.m5.xlarge", description="Training instance of the BiLSTM job."
    )
    transformer_training_instance_type: str = Field(
        "ml.g5.xlarge", description="Training instance of the transformer job (GPU)."
    )
    transformer_model_name: str = Field(
        "roberta-base", description="Hugging Face id the transformer job fine-tunes."
    )
    max_training_hours: int = Field(
        4, ge=1, le=120, description="Stopping condition of each training job."
    )
    bulk_instance_type: str = Field(
        "ml.m5.xlarge", description="Instance type of the bulk moderation (Batch Transform) job."
    )
    bulk_max_hours: int = Field(
        6, ge=1, le=48, description="Timeout of one bulk moderation run (its state machine)."
    )
    moderation_reserved_concurrency: int = Field(
        10,
        ge=1,
        le=1000,
        description="Reserved concurrency of the moderation Lambda: its guaranteed share and its "
        "cap (the account keeps at least 100 unreserved).",
    )
