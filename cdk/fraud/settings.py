"""Context keys of the Fraud detection (RGCN on Neptune) stack: `vigil:fraud:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from cdk.config import ContextModel
from vigil.fraud.contract import PipelineEnvironment, ScoringSettings


def _default(model, field: str):
    """The Lambda-side default: one definition, in the model the Lambda reads."""
    return model.model_fields[field].default


class FraudSettings(ContextModel):
    """Every field is a context key (camelCase alias); list new ones in docs/configuration.md."""

    # network, graph database, data, Glue ETL, training pipeline
    vpc_cidr: str = Field(
        "10.40.0.0/16", description="CIDR of the fraud VPC (private isolated subnets only, no NAT)."
    )
    vpc_id: str | None = Field(
        None,
        pattern=r"^vpc-[0-9a-f]+$",
        description="Use this existing VPC instead of creating one (with `vpcSubnetIds` and `vpcAvailabilityZones`; no lookup, so the stack stays environment-agnostic). It must route to S3 (gateway endpoint) and SageMaker runtime itself.",
    )
    vpc_subnet_ids: list[str] = Field(
        default_factory=list,
        description="Private subnets of `vpcId` for Neptune and the Lambdas (at least 2, in different AZs).",
    )
    vpc_availability_zones: list[str] = Field(
        default_factory=list, description="The AZ of each of `vpcSubnetIds`, in the same order."
    )
    max_azs: int = Field(
        2, ge=2, le=6, description="Availability zones of the VPC (Neptune needs at least 2)."
    )
    neptune_engine_version: str = Field(
        "1.3.2.1", description="Neptune engine version (serverless needs >= 1.2.0.1)."
    )
    neptune_instance_class: str = Field(
        "db.serverless",
        pattern=r"^db\.[a-z0-9]+(\.[a-z0-9]+)?$",
        description="Neptune instance class, e.g. `db.r6g.large`; `db.serverless` uses the capacity range below.",
    )
    neptune_min_capacity: float = Field(
        1.0, ge=1.0, le=128.0, description="Serverless v2 minimum NCUs (only with `db.serverless`)."
    )
    neptune_max_capacity: float = Field(
        8.0, ge=2.5, le=128.0, description="Serverless v2 maximum NCUs (only with `db.serverless`)."
    )
    neptune_instances: int = Field(
        1,
        ge=1,
        le=16,
        description="Neptune instances (1 writer + readers); 2+ spreads them over AZs (Multi-AZ).",
    )
    neptune_deletion_protection: bool | None = Field(
        None,
        description="Neptune deletion protection; unset: on unless `vigil:removalPolicy=destroy`.",
    )
    glue_worker_type: Literal["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"] = Field(
        "G.1X", description="Glue ETL worker type."
    )
    glue_number_of_workers: int = Field(2, ge=2, le=299, description="Glue ETL worker count.")
    glue_timeout_minutes: int = Field(120, ge=5, le=2880, description="Glue ETL job timeout.")
    training_instance_type: str = Field(
        _default(PipelineEnvironment, "training_instance_type"),
        pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$",
        description="Default SageMaker training instance (GPU vs CPU picks the image at synth).",
    )
    training_max_runtime_hours: int = Field(
        6, ge=1, le=120, description="SageMaker training job stopping condition."
    )
    endpoint_name: str = Field(
        "vigil-fraud-rgcn",
        pattern=r"^[a-z0-9](-*[a-z0-9]){0,62}$",
        description="SageMaker endpoint the pipeline creates/updates and the scoring Lambda invokes.",
    )
    endpoint_instance_type: str = Field(
        _default(PipelineEnvironment, "endpoint_instance_type"),
        pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$",
        description="Default SageMaker endpoint instance type.",
    )
    endpoint_instance_count: int = Field(
        _default(PipelineEnvironment, "endpoint_instance_count"),
        ge=1,
        le=32,
        description="Default endpoint instance count.",
    )

    @model_validator(mode="after")
    def _existing_vpc_is_complete(self):
        if self.vpc_id is None:
            if self.vpc_subnet_ids or self.vpc_availability_zones:
                raise ValueError("vpcSubnetIds/vpcAvailabilityZones need vpcId")
        elif len(self.vpc_subnet_ids) < 2 or len(self.vpc_subnet_ids) != len(
            self.vpc_availability_zones
        ):
            raise ValueError(
                "vpcId needs at least 2 vpcSubnetIds and one vpcAvailabilityZones entry per subnet"
            )
        return self

    pipeline_timeout_hours: int = Field(
        24, ge=1, le=168, description="Timeout of one pipeline execution."
    )

    # scoring API
    fraud_threshold: float | None = Field(
        _default(ScoringSettings, "threshold"),
        gt=0.0,
        lt=1.0,
        description="pred_prob at or above which the scoring API flags fraud; unset: the "
        "deployed model's own operating threshold (chosen on validation by the training job).",
    )
    hub_degree_threshold: int = Field(
        _default(ScoringSettings, "hub_threshold"),
        ge=1,
        description="Entities with at least this many transactions are linked but not updated online (refreshed by the pipeline).",
    )
    scoring_fallback: Literal["review", "closed"] = Field(
        _default(ScoringSettings, "fallback"),
        description="When Neptune or the endpoint keeps failing: `review` (fail open) or `closed` (flag fraud).",
    )
    scoring_latency_budget_ms: int = Field(
        _default(ScoringSettings, "latency_budget_ms"),
        ge=50,
        le=9000,
        description="Latency budget of one scoring request, retries included.",
    )
    scoring_featurizer_key: str = Field(
        "current/featurizer.json",
        min_length=1,
        description="Processed-bucket key of the featurizer spec the scoring Lambda loads.",
    )
    scoring_reserved_concurrency: int = Field(
        20,
        ge=1,
        le=1000,
        description="Reserved concurrency of the scoring Lambda: its guaranteed share and its cap "
        "(the account keeps at least 100 unreserved).",
    )

    def scoring_policy(self) -> dict[str, Any]:
        """How the scoring Lambda decides, by ``ScoringSettings`` field; the construct adds the
        deployment's graph, endpoint, featurizer spec and idempotency table."""
        return {
            "threshold": self.fraud_threshold,
            "hub_threshold": self.hub_degree_threshold,
            "fallback": self.scoring_fallback,
            "latency_budget_ms": self.scoring_latency_budget_ms,
        }
