"""The topic rule SQL (the one the stack deploys) and the local evaluator."""

from __future__ import annotations

import json

import pytest

from vigil.air_quality.topic_rule import RULE_SQL, RuleError, TopicRule, topic_matches


def test_rule_adds_thing_and_arrival_time_and_keeps_the_reading():
    rule = TopicRule(RULE_SQL)
    payload = b'{"TIMESTAMP":"2022-03-20 00:05","LOCATION_ID":"B-101","CO":3.9,"SO2":60,"NO2":73}'
    out = json.loads(rule.apply("vigil/air-quality/sensor-B-101/telemetry", payload, now_ms=42))
    assert out == {
        "TIMESTAMP": "2022-03-20 00:05",
        "LOCATION_ID": "B-101",
        "CO": 3.9,
        "SO2": 60,
        "NO2": 73,
        "THING_NAME": "sensor-B-101",
        "RECEIVED_AT": 42,
    }


def test_rule_ignores_other_topics_and_passes_non_json_on():
    rule = TopicRule(RULE_SQL)
    assert rule.apply("vigil/air-quality/sensor-1/commands", b"{}") is None
    assert rule.apply("other/sensor-1/telemetry", b"{}") is None
    assert rule.apply("vigil/air-quality/sensor-1/telemetry", b"garbage") == b"garbage"


def test_where_clause_subset():
    rule = TopicRule(
        "SELECT CO, topic(2) AS site FROM 'a/+/#' WHERE CO > 5 AND LOCATION_ID <> 'X' OR isUndefined(CO)"
    )
    assert json.loads(rule.apply("a/s1/x/y", b'{"CO": 7, "LOCATION_ID": "B"}')) == {
        "CO": 7,
        "site": "s1",
    }
    assert rule.apply("a/s1/x", b'{"CO": 7, "LOCATION_ID": "X"}') is None
    assert rule.apply("a/s1/x", b'{"CO": 2}') is None
    assert json.loads(rule.apply("a/s1/x", b'{"NO2": 2}')) == {"site": "s1"}


def test_topic_filters():
    assert topic_matches("a/+/c", "a/b/c")
    assert not topic_matches("a/+/c", "a/b/c/d")
    assert topic_matches("a/#", "a/b/c/d")
    assert not topic_matches("a/b", "a/c")


@pytest.mark.parametrize("sql", ["DELETE FROM x", "SELECT sum(CO) FROM 'a/b'"])
def test_unsupported_sql_is_a_clear_error(sql):
    with pytest.raises(RuleError):
        TopicRule(sql).apply("a/b", b'{"CO": 1}')
