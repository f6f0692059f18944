"""The request-driven Lambdas have reserved concurrency (vigil:<system>:*ReservedConcurrency)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra


def _function(template: dict, description_start: str) -> dict:
    (function,) = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Description", "").startswith(description_start)
    ]
    return function


@pytest.mark.parametrize(
    ("stack", "description", "default"),
    [
        ("Vigil-Fraud", "Scores one card transaction", 20),
        ("Vigil-Toxicity", "Classifies messages", 10),
    ],
)
def test_api_lambdas_reserve_concurrency(templates, stack, description, default):
    function = _function(templates[stack], description)
    assert function.get("ReservedConcurrentExecutions") == default
