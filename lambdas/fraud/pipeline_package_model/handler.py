"""Step Functions tasks on the run's deployable artifacts (processed bucket).

* ``package`` (default): training ``model.tar.gz`` + inference code bundle → deployable tarball.
* ``publishFeaturizer``: after the endpoint is InService, the run's ``featurizer.json`` → the key
  the scoring Lambda loads (``vigil:fraud:scoringFeaturizerKey``).
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, model_validator

from vigil.fraud import pipeline
from vigil.fraud.contract import PackageModelSettings
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()


class PackageModelEvent(BaseModel):
    action: Literal["package", "publishFeaturizer"] = "package"
    model_uri: str | None = Field(None, alias="modelUri", min_length=6)
    output_uri: str | None = Field(None, alias="outputUri", min_length=6)
    source: str | None = Field(None, min_length=6)
    destination: str | None = Field(None, min_length=6)

    @model_validator(mode="after")
    def _fields_of_action(self) -> PackageModelEvent:
        needed = (
            ("modelUri", "outputUri") if self.action == "package" else ("source", "destination")
        )
        values = {
            "modelUri": self.model_uri,
            "outputUri": self.output_uri,
            "source": self.source,
            "destination": self.destination,
        }
        missing = [name for name in needed if not values[name]]
        if missing:
            raise ValueError(f"action {self.action!r} needs {', '.join(missing)}")
        return self


@lambda_handler(
    logger,
    metrics,
    tracer,
    model=PackageModelEvent,
    error_metric=pipeline.STEP_ERRORS_METRIC,
    error_message="pipeline step failed",
)
def handler(event: PackageModelEvent, context: LambdaContext) -> dict:
    return _run(event)


def _run(event: PackageModelEvent) -> dict:
    if event.action == "publishFeaturizer":
        return pipeline.publish_featurizer(event.source, event.destination)
    result = pipeline.package_model(
        event.model_uri, PackageModelSettings.from_environment().code_bundle_uri, event.output_uri
    )
    metrics.add_metric(name="PackagedModelBytes", unit=MetricUnit.Bytes, value=result["bytes"])
    return result
