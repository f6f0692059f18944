"""API Gateway's account-wide CloudWatch Logs role is set by one stack only."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra


def test_one_stack_sets_the_api_gateway_account(templates):
    owners = [
        name
        for name, template in templates.items()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::Account"
    ]
    assert owners == ["Vigil-Fraud"]


def test_the_other_api_stack_deploys_after_it(vigil_synth):
    import json

    manifest = json.loads((vigil_synth.outdir / "manifest.json").read_text())
    assert "Vigil-Fraud" in manifest["artifacts"]["Vigil-Toxicity"]["dependencies"]
