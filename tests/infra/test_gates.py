"""Gates over the synthesized app: cdk-nag AwsSolutions and cfn-lint. Both can fail (see below)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import Stack
from aws_cdk import aws_s3 as s3

from cdk.nag import Ack, acknowledge, attach_checks
from local.standins.synth import REPO_ROOT, new_app, synthesize

pytestmark = pytest.mark.infra

EXPECTED_STACKS = {"Vigil-Fraud", "Vigil-AirQuality", "Vigil-Toxicity"}


def test_every_system_has_a_stack(templates):
    assert set(templates) >= EXPECTED_STACKS


def test_cdk_nag_reports_nothing_unacknowledged(vigil_synth):
    assert vigil_synth.findings() == [], "\n".join(
        f"{rule} at {path}" for rule, path in vigil_synth.findings()
    )
    assert vigil_synth.error is None


def test_cdk_nag_catches_a_non_compliant_construct(tmp_path):
    app = new_app(tmp_path)
    stack = Stack(app, "Deliberately-Bad")
    s3.Bucket(stack, "PlainBucket")  # no TLS-only policy, no access logs
    attach_checks(app)
    result = synthesize(app, tmp_path)
    rules = {rule for rule, _ in result.findings()}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
    assert result.error is not None and "ValidationFailed" in result.error


def test_acknowledgement_is_granular(tmp_path):
    """Acknowledging S1 on one bucket leaves S10 on it and both findings on its neighbour."""
    app = new_app(tmp_path)
    stack = Stack(app, "Deliberately-Bad")
    acknowledged = s3.Bucket(stack, "Acknowledged")
    s3.Bucket(stack, "Neighbour")
    acknowledge(acknowledged, Ack("AwsSolutions-S1", "test: only S1, only here"))
    attach_checks(app)
    findings = set(synthesize(app, tmp_path).findings())
    assert ("AwsSolutions-S1", "Deliberately-Bad/Acknowledged/Resource") not in findings
    assert ("AwsSolutions-S10", "Deliberately-Bad/Acknowledged/Resource") in findings
    assert ("AwsSolutions-S1", "Deliberately-Bad/Neighbour/Resource") in findings


def _cfn_lint(path) -> list[dict]:
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,  # picks up .cfnlintrc (the documented ignores)
        check=False,
    )
    if completed.returncode not in (0, 2, 4, 6, 8, 10, 12, 14):
        pytest.fail(f"cfn-lint crashed: {completed.stderr}")
    return json.loads(completed.stdout or "[]")


def test_cfn_lint_has_no_errors_or_undocumented_warnings(vigil_synth, templates):
    problems = []
    for name in templates:
        for match in _cfn_lint(vigil_synth.outdir / f"{name}.template.json"):
            problems.append(f"{name}: {match['Rule']['Id']} {match['Message']}")
    assert problems == []


def test_cfn_lint_catches_a_broken_template(tmp_path):
    broken = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}
        }
    }
    path = tmp_path / "broken.template.json"
    path.write_text(json.dumps(broken))
    assert any(match["Level"] == "Error" for match in _cfn_lint(path))
