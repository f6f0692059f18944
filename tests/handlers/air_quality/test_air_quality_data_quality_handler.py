"""Data quality per interval through the detector Lambda: stored per interval for the read API
and the CLI, and emitted as CloudWatch metrics whose dimensions stay bounded."""

from __future__ import annotations

import json
import os

from tests.handlers.air_quality.test_air_quality_detector_handler import (
    DAY,
    _live,
    s3_put,
)
from tests.handlers.air_quality.test_air_quality_detector_handler import (
    aws as aws,  # the fixture, shared with the detector handler's tests
)
from vigil.air_quality.contract import REJECT_REASONS
from vigil.air_quality.read_api import data_quality
from vigil.air_quality.service import service_from_environment


def _metrics(output: str) -> list[tuple[str, dict, float]]:
    """(name, dimensions, value) of every metric in the EMF lines Powertools printed."""
    found = []
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            names = [n for group in directive["Dimensions"] for n in group]
            dims = {n: record[n] for n in names}
            for definition in directive["Metrics"]:
                value = record[definition["Name"]]
                found.append(
                    (definition["Name"], dims, sum(value) if isinstance(value, list) else value)
                )
    return found


def test_records_per_interval_by_outcome_and_reason_stored_and_emitted(aws, lambda_context, capsys):
    from lambdas.air_quality.detector.handler import handler
    from vigil.air_quality.__main__ import main

    resources, _ = aws
    good = _live(hours=6)  # B-101 and B-102, 00:00-05:00
    bad = [
        "{broken",
        json.dumps({"TIMESTAMP": f"{DAY} 01:00", "LOCATION_ID": "B-101", "CO": "high", "NO2": 5}),
        json.dumps({"TIMESTAMP": f"{DAY} 01:00", "CO": 1.0, "NO2": 5}),
        json.dumps({"TIMESTAMP": "soon", "LOCATION_ID": "B-101", "CO": 1.0, "NO2": 5}),
        json.dumps(good[0]),  # a duplicate of 00:00
    ]
    body = ("\n".join([json.dumps(r) for r in good] + bad) + "\n").encode()
    first = handler(s3_put(resources.bucket, "readings/dq/obj-1", body), lambda_context)
    late = dict(good[2], CO=9.0)  # 01:00 again, after the interval closed
    body = (json.dumps(late) + "\n" + json.dumps(_live(hours=7)[-1]) + "\n").encode()
    second = handler(s3_put(resources.bucket, "readings/dq/obj-2", body), lambda_context)
    assert first["rejected_bad_measure"] == first["rejected_missing_field"] == 1
    assert first["rejected_not_json"] == first["rejected_bad_timestamp"] == 1
    assert second["rejected_late"] == 1 and second["late"] == 1

    emitted = _metrics(capsys.readouterr().out)
    by_reason = {d["reason"]: v for name, d, v in emitted if "reason" in d}
    assert by_reason == {
        "bad_measure": 1,
        "missing_field": 1,
        "not_json": 1,
        "bad_timestamp": 1,
        "late": 1,
    }
    assert all(name == "RecordsRejected" for name, d, _ in emitted if "reason" in d)
    # bounded dimensions: the service and, for rejects, a code from a fixed list; never a place
    assert {frozenset(d) for _, d, _ in emitted} <= {
        frozenset({"service"}),
        frozenset({"service", "reason"}),
    }
    assert set(by_reason) <= set(REJECT_REASONS)

    service = service_from_environment(os.environ)
    rows = {r["interval_start"][11:16]: r for r in data_quality(service, since=DAY, until=DAY)}
    assert rows["00:00"]["received"] == 3 and rows["00:00"]["duplicate"] == 1
    assert rows["00:00"]["completeness"] == 1.0
    assert rows["01:00"]["rejected_by_reason"] == {"bad_measure": 1, "late": 1, "missing_field": 1}
    assert rows["01:00"]["received"] == 5 and rows["01:00"]["accepted"] == 2
    # no readable time: counted in the object's latest interval
    assert rows["05:00"]["rejected_by_reason"] == {"bad_timestamp": 1, "not_json": 1}
    assert rows["06:00"]["received"] == 1 and rows["06:00"]["completeness"] is None  # still open
    for row in rows.values():
        assert row["received"] == row["accepted"] + row["duplicate"] + row["rejected"]

    # S3 delivers the first object again: it is skipped, and the figures do not double
    body = ("\n".join([json.dumps(r) for r in good] + bad) + "\n").encode()
    assert (
        handler(s3_put(resources.bucket, "readings/dq/obj-1", body), lambda_context)["received"]
        == 0
    )
    capsys.readouterr()  # that invocation's metrics
    assert main(["quality", "--since", f"{DAY}T01:00"]) == 0
    (cli_row,) = json.loads(capsys.readouterr().out)
    assert cli_row == rows["01:00"]
    assert main(["status", "--summary", "--now", f"{DAY}T07:00"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["data_quality"]["interval_start"][11:16] == "05:00"  # the newest closed one
