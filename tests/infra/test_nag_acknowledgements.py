"""Every cdk-nag acknowledgement still matches a finding: synthesize with the acknowledgements
recorded but not applied, then look for each one's rule among the findings at or below the
construct it was made on. A stale acknowledgement would silently accept a future finding."""

from __future__ import annotations

import pytest
from aws_cdk import Stack
from aws_cdk import aws_s3 as s3

from cdk.app_builder import build_app
from cdk.nag import RECORD_ONLY_CONTEXT, Ack, acknowledge, recorded_acknowledgements
from local.standins.synth import new_app, synthesize

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def unacknowledged(tmp_path_factory):
    """(acknowledgements as (construct path, rule), findings as (rule, construct path))."""
    outdir = tmp_path_factory.mktemp("cdk.out.unacknowledged")
    app = new_app(outdir, **{RECORD_ONLY_CONTEXT: True})
    build_app(app)
    acks = [
        (construct.node.path, rule)
        for construct in app.node.find_all()
        for rule in recorded_acknowledgements(construct)
    ]
    return acks, synthesize(app, outdir).findings()


def _covers(path: str, finding_path: str) -> bool:
    return finding_path == path or finding_path.startswith(path + "/")


def test_the_app_makes_acknowledgements(unacknowledged):
    acks, findings = unacknowledged
    assert len(acks) > 50 and findings


def test_every_acknowledgement_matches_a_finding(unacknowledged):
    acks, findings = unacknowledged
    stale = [
        f"{rule} on {path}"
        for path, rule in acks
        if not any(r == rule and _covers(path, where) for r, where in findings)
    ]
    assert stale == []


def test_no_finding_is_acknowledged_twice(unacknowledged):
    acks, findings = unacknowledged
    twice = []
    for rule, where in set(findings):
        covering = [path for path, r in acks if r == rule and _covers(path, where)]
        if len(covering) > 1:
            twice.append(f"{rule} at {where} by {covering}")
    assert twice == []


def test_acknowledging_the_same_finding_twice_records_it_once(tmp_path):
    app = new_app(tmp_path)
    bucket = s3.Bucket(Stack(app, "S"), "B")
    acknowledge(bucket, Ack("AwsSolutions-S1", "test"))
    acknowledge(bucket, Ack("AwsSolutions-S1", "test"))
    assert recorded_acknowledgements(bucket) == ["AwsSolutions-S1"]
