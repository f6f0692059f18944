"""Builds the Vigil app from a context dict; app.py and the tests share this one definition."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Tags

from cdk.air_quality.settings import AirQualitySettings
from cdk.air_quality.stack import AirQualityStack
from cdk.config import SharedSettings, parse_settings
from cdk.console.settings import ConsoleStackSettings
from cdk.console.stack import ConsoleStack
from cdk.fraud.settings import FraudSettings
from cdk.fraud.stack import FraudStack
from cdk.nag import attach_checks
from cdk.toxicity.settings import ToxicitySettings
from cdk.toxicity.stack import ToxicityStack

SYSTEMS = {
    # context namespace: (stack id suffix, settings model, stack class)
    "fraud": ("Fraud", FraudSettings, FraudStack),
    "air-quality": ("AirQuality", AirQualitySettings, AirQualityStack),
    "toxicity": ("Toxicity", ToxicitySettings, ToxicityStack),
    # reads what the system stacks publish (SSM parameters), so it is built after them
    "console": ("Console", ConsoleStackSettings, ConsoleStack),
}


def build_app(app: App, *, nag: bool = True, env: Environment | None = None) -> dict[str, Any]:
    """Add every configured system stack to ``app``; returns the stacks by namespace."""
    raw = _all_context(app)
    shared = parse_settings(SharedSettings, raw)
    stacks = {}
    for namespace in shared.systems:
        suffix, settings_model, stack_class = SYSTEMS[namespace]
        settings = parse_settings(settings_model, raw, namespace)
        stack = stack_class(
            app,
            f"{shared.stack_prefix}-{suffix}",
            shared=shared,
            settings=settings,
            env=env,
            description=f"Vigil {suffix} system (github.com/vigil: see README)",
        )
        Tags.of(stack).add("project", "vigil")
        Tags.of(stack).add("vigil:system", namespace)
        stacks[namespace] = stack
    if nag:
        attach_checks(app)
    return stacks


def _all_context(app: App) -> dict[str, Any]:
    # Context set in cdk.json/-c plus any passed to App(context=...): node.get_all_context is
    # what CDK itself resolves, so CLI overrides win over cdk.json.
    return dict(app.node.get_all_context())
