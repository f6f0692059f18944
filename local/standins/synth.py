"""Synthesize the Vigil app (or any app) in-process and read cdk-nag's validation report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import App

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesis:
    outdir: Path
    error: str | None
    violations: list[dict[str, Any]] = field(default_factory=list)

    def templates(self) -> dict[str, dict[str, Any]]:
        return {
            path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted(self.outdir.glob("*.template.json"))
        }

    def findings(self) -> list[tuple[str, str]]:
        """(rule, construct path) for every unacknowledged cdk-nag finding, any severity."""
        return [
            (violation["ruleName"], construct["constructPath"])
            for violation in self.violations
            for construct in violation.get("violatingConstructs", [])
        ]


def synthesize(app: App, outdir: Path) -> Synthesis:
    """Run ``app.synth()``; a failed validation is returned as data, not raised."""
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces "ValidationFailed" as RuntimeError
        error = str(exc)
    violations = []
    report = outdir / "policy-validation-report.json"
    if report.exists():
        for plugin in json.loads(report.read_text()).get("pluginReports", []):
            violations.extend(plugin.get("violations", []))
    return Synthesis(outdir=outdir, error=error, violations=violations)


def new_app(outdir: Path, **extra_context: Any) -> App:
    context = {**cdk_json_context(), "@aws-cdk/core:validationReportJson": True, **extra_context}
    return App(outdir=str(outdir), context=context)
