"""What the toxicity CDK constructs and the moderation Lambda must agree on, defined once.

The moderation API's request bounds (the gateway's request model and the Lambda's pydantic model
use the same numbers), the training jobs' metric definitions and the moderation Lambda's settings.
Standard library and pydantic only: ``python app.py`` imports this, and synth must not need
torch, boto3 or Powertools.
"""

from __future__ import annotations

from vigil.environment import EnvironmentSettings
from vigil.toxicity.labels import sagemaker_metric_definitions, training_job_metric_definitions

__all__ = [
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "ModerationSettings",
    "sagemaker_metric_definitions",
    "training_job_metric_definitions",
]

MAX_MESSAGES = 32
MAX_MESSAGE_CHARS = 5_000


class ModerationSettings(EnvironmentSettings):
    """The moderation Lambda's settings: the endpoint it classifies with."""

    endpoint_name: str
