"""A device reports for its own place: the topic rule adds the publishing thing's name, the
detector rejects a record whose dimension values belong to another device."""

from __future__ import annotations

import json

import pytest

from tests.unit.air_quality.helpers import config
from vigil.air_quality.contract import WRONG_DEVICE
from vigil.air_quality.records import parse_json_lines
from vigil.air_quality.simulator import thing_name
from vigil.air_quality.topic_rule import RULE_SQL, TOPIC_TEMPLATE, TopicRule


def _through_the_rule(thing: str, location: str, co: float = 2.0) -> bytes:
    payload = {"TIMESTAMP": "2026-01-19 03:00", "LOCATION_ID": location, "CO": co, "NO2": 80.0}
    out = TopicRule(RULE_SQL).apply(
        TOPIC_TEMPLATE.format(thing=thing), json.dumps(payload).encode(), client_id=thing
    )
    assert out is not None
    return out


def test_a_record_for_another_place_is_rejected_with_its_reason():
    cfg = config(device_thing_template="sensor-{LOCATION_ID}")
    body = b"\n".join(
        [
            _through_the_rule(thing_name("B-101"), "B-101"),
            _through_the_rule(thing_name("B-101"), "B-102"),  # claims the neighbour's place
        ]
    )
    batch = parse_json_lines(body, cfg)
    assert batch.received == 2 and len(batch) == 1 and list(batch.dim_keys) == ["B-101"]
    (reject,) = batch.rejects
    assert "may not report for LOCATION_ID=B-102" in reject.reason
    assert "'sensor-B-102'" in reject.reason
    assert reject.code == WRONG_DEVICE and reject.minute is not None  # counted in its interval


def test_without_a_thing_name_nothing_is_accepted_and_without_the_setting_nothing_is_checked():
    record = b'{"TIMESTAMP": "2026-01-19 03:00", "LOCATION_ID": "B-101", "CO": 2.0, "NO2": 80}'
    checked = parse_json_lines(record, config(device_thing_template="sensor-{LOCATION_ID}"))
    assert len(checked) == 0 and "THING_NAME None" in checked.rejects[0].reason
    assert len(parse_json_lines(record, config())) == 1


@pytest.mark.parametrize("template", ["sensor-{CITY}", "sensor", "sensor-{}"])
def test_a_template_must_name_the_detectors_dimensions(template):
    with pytest.raises(ValueError, match="must name dimensions"):
        config(device_thing_template=template)
