"""Each Lambda's settings model: what CDK writes with to_environment() the handler reads back with
from_environment(), and the CDK context settings take their defaults from these models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdk.air_quality.settings import AirQualitySettings
from cdk.fraud.settings import FraudSettings
from vigil.air_quality.contract import DetectorConfig, DetectorSettings, Measure
from vigil.fraud.contract import (
    GraphLoadSettings,
    PackageModelSettings,
    PipelineEnvironment,
    ScoringSettings,
)
from vigil.toxicity.contract import ModerationSettings


def test_scoring_settings_round_trip_with_the_variable_names_the_lambda_reads():
    settings = ScoringSettings(
        graph_endpoint="https://neptune:8182",
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="s3://bucket/current/featurizer.json",
        threshold=0.7,
        hub_threshold=500,
        fallback="closed",
        latency_budget_ms=800,
        idempotency_table="table",
    )
    environment = settings.to_environment()
    assert environment == {
        "GRAPH_ENDPOINT": "https://neptune:8182",
        "SCORING_ENDPOINT_NAME": "vigil-fraud-rgcn",
        "FEATURIZER_SPEC": "s3://bucket/current/featurizer.json",
        "FRAUD_THRESHOLD": "0.7",
        "HUB_DEGREE_THRESHOLD": "500",
        "FALLBACK_MODE": "closed",
        "LATENCY_BUDGET_MS": "800",
        "IDEMPOTENCY_TABLE": "table",
    }
    assert ScoringSettings.from_environment(environment) == settings


def test_unset_fields_keep_their_default_on_the_lambda_side():
    settings = ScoringSettings.from_environment(
        {"GRAPH_ENDPOINT": "g", "SCORING_ENDPOINT_NAME": "e", "FEATURIZER_SPEC": "f"}
    )
    # no FRAUD_THRESHOLD: the model's own operating threshold decides
    assert settings.threshold is None and settings.idempotency_table is None
    with pytest.raises(ValidationError, match="fallback"):
        ScoringSettings.from_environment(
            {"GRAPH_ENDPOINT": "g", "SCORING_ENDPOINT_NAME": "e", "FEATURIZER_SPEC": "f"}
            | {"FALLBACK_MODE": "maybe"}
        )


def test_cdk_defaults_are_the_lambda_models_defaults():
    fraud = FraudSettings()
    scoring = ScoringSettings.model_fields
    assert fraud.fraud_threshold == scoring["threshold"].default
    assert fraud.hub_degree_threshold == scoring["hub_threshold"].default
    assert fraud.scoring_fallback == scoring["fallback"].default
    assert fraud.scoring_latency_budget_ms == scoring["latency_budget_ms"].default
    pipeline = PipelineEnvironment.model_fields
    assert fraud.training_instance_type == pipeline["training_instance_type"].default
    assert fraud.endpoint_instance_type == pipeline["endpoint_instance_type"].default
    air = AirQualitySettings()
    detector = DetectorConfig.model_fields
    for name in ("interval_minutes", "severity_threshold", "lateness_minutes", "cooldown_minutes"):
        assert getattr(air, name) == detector[name].default


def test_the_detector_configuration_travels_whole():
    config = DetectorConfig(measures=[Measure(name="CO")], severity_threshold=60)
    settings = DetectorSettings(
        detector_config=config, state_table="s", anomaly_table="a", alert_topic_arn="arn:t"
    )
    environment = settings.to_environment()
    assert environment["DETECTOR_CONFIG"] == config.model_dump_json()
    assert "ERROR_PREFIX" not in environment  # not given: the detector's own default
    read = DetectorSettings.from_environment(environment | {"ALERT_TOPIC_ARN": ""})
    assert read.detector_config == config and read.alert_topic_arn is None
    assert read.error_prefix == "errors/detector/"


@pytest.mark.parametrize(
    "settings",
    [
        PipelineEnvironment(raw_bucket="r", processed_bucket="p", endpoint_name="e"),
        GraphLoadSettings(neptune_endpoint="n", neptune_load_role_arn="arn:r"),
        PackageModelSettings(code_bundle_uri="s3://b/code.tar.gz"),
        ModerationSettings(endpoint_name="vigil-toxicity"),
    ],
)
def test_every_lambda_settings_model_round_trips(settings):
    assert type(settings).from_environment(settings.to_environment()) == settings
