"""The detector configuration model and the stack settings that build it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cdk.air_quality.settings import AirQualitySettings
from cdk.config import SettingsError, parse_settings
from vigil.air_quality.config import DetectorConfig, load_config


def _measures(n):
    return [{"name": f"M{i}"} for i in range(n)]


def test_defaults_are_lookout_like():
    cfg = DetectorConfig(measures=_measures(1))
    assert cfg.interval_minutes == 5
    assert cfg.timestamp_column == "TIMESTAMP"
    assert cfg.sentinels == [-200.0]
    assert cfg.measures[0].aggregation == "AVG"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"measures": []}, "measures"),
        ({"measures": _measures(6)}, "measures"),
        ({"measures": _measures(1), "dimensions": [f"D{i}" for i in range(6)]}, "dimensions"),
        ({"measures": _measures(1), "interval_minutes": 7}, "must divide a day"),
        ({"measures": _measures(1), "interval_minutes": 0}, "interval_minutes"),
        ({"measures": _measures(1), "interval_minutes": 2880}, "interval_minutes"),
        ({"measures": [{"name": "CO", "aggregation": "MEDIAN"}]}, "aggregation"),
        ({"measures": _measures(1), "severity_threshold": 101}, "severity_threshold"),
        ({"measures": [{"name": "CO"}], "dimensions": ["CO"]}, "used twice"),
        ({"measures": _measures(1), "colour": "blue"}, "colour"),
    ],
)
def test_invalid_configs_name_the_problem(values, message):
    with pytest.raises(ValidationError, match=message):
        DetectorConfig.model_validate(values)


def test_profile_resolution():
    assert DetectorConfig(measures=_measures(1), interval_minutes=1).slot_minutes == 15
    assert DetectorConfig(measures=_measures(1), interval_minutes=10).slot_minutes == 20
    assert DetectorConfig(measures=_measures(1), interval_minutes=60).slot_minutes == 60
    assert DetectorConfig(measures=_measures(1), interval_minutes=1440).slot_minutes == 1440


def test_load_json_and_yaml(tmp_path):
    data = {"interval_minutes": 10, "measures": [{"name": "CO", "aggregation": "SUM"}]}
    (tmp_path / "d.json").write_text(json.dumps(data))
    (tmp_path / "d.yaml").write_text(
        "interval_minutes: 10\nmeasures:\n  - name: CO\n    aggregation: SUM\n"
    )
    assert load_config(tmp_path / "d.json") == load_config(tmp_path / "d.yaml")
    (tmp_path / "bad.yaml").write_text("interval_minutes: 10\nmeasures: []\n")
    with pytest.raises(ValidationError):
        load_config(tmp_path / "bad.yaml")


def test_stack_settings_build_the_detector_config():
    settings = parse_settings(
        AirQualitySettings,
        {
            "vigil:air-quality:measures": "CO:avg,SO2:SUM",
            "vigil:air-quality:intervalMinutes": "10",
            "vigil:air-quality:alertEmails": "ops@example.com",
        },
        "air-quality",
    )
    cfg = settings.detector_config("bucket")
    assert [(m.name, m.aggregation) for m in cfg.measures] == [("CO", "AVG"), ("SO2", "SUM")]
    assert cfg.interval_minutes == 10
    assert cfg.history == "s3://bucket/history/"
    assert settings.alert_emails == ["ops@example.com"]


def test_stack_settings_reject_typos_and_bad_values():
    with pytest.raises(SettingsError, match="bufferSecond"):
        parse_settings(AirQualitySettings, {"vigil:air-quality:bufferSecond": 60}, "air-quality")
    with pytest.raises(SettingsError, match="bufferSeconds"):
        parse_settings(AirQualitySettings, {"vigil:air-quality:bufferSeconds": 901}, "air-quality")
    bad = parse_settings(
        AirQualitySettings, {"vigil:air-quality:intervalMinutes": 7}, "air-quality"
    )
    with pytest.raises(ValidationError, match="must divide a day"):
        bad.detector_config()


def test_sharded_settings_follow_dynamic_partitionings_limits():
    one = parse_settings(AirQualitySettings, {}, "air-quality")
    assert (one.state_shards, one.firehose_buffer_mib, one.detector_reserved_concurrency) == (
        1,
        5,
        1,
    )
    many = parse_settings(AirQualitySettings, {"vigil:air-quality:stateShards": 80}, "air-quality")
    assert many.firehose_buffer_mib == 64  # the least dynamic partitioning accepts
    assert many.detector_reserved_concurrency == 50
    assert many.detector_config().state_shards == 80
    for key, value in (("bufferSeconds", 0), ("bufferMib", 5)):
        with pytest.raises(SettingsError, match=key):
            parse_settings(
                AirQualitySettings,
                {"vigil:air-quality:stateShards": 8, f"vigil:air-quality:{key}": value},
                "air-quality",
            )
