"""One way to package Python Lambda code: the repository root filtered to `vigil/` and `lambdas/`.

Handlers import their logic as `vigil.<system>...` in tests and in Lambda alike, because the asset
keeps the repository layout. Third-party dependencies come from the Powertools layer (it bundles
pydantic) and the runtime's boto3; a function needing more declares it beside its handler.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[2]

# Glob excludes: everything at the top level (dot-names too: "*" does not match them, and
# .venv/, .gitignore or tool caches would change the asset hash from one checkout to another),
# then re-include the two packages Lambdas import.
_EXCLUDE = [
    ".*",
    "*",
    "!vigil",
    "!vigil/**",
    "!lambdas",
    "!lambdas/**",
    "**/__pycache__",
    "**/*.pyc",
]


def lambda_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(REPO_ROOT), exclude=_EXCLUDE)


def handler_path(module: str) -> str:
    """`lambdas.fraud.score_transaction.handler` → the Lambda handler string for its `handler`."""
    return f"{module}.handler"
