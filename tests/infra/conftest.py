from __future__ import annotations

import pytest

from cdk.app_builder import build_app
from local.standins.synth import Synthesis, new_app, synthesize


@pytest.fixture(scope="session")
def vigil_synth(tmp_path_factory) -> Synthesis:
    """The whole Vigil app (every stack, cdk-nag attached), synthesized once per test session."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir)
    build_app(app)
    return synthesize(app, outdir)


@pytest.fixture(scope="session")
def templates(vigil_synth: Synthesis) -> dict[str, dict]:
    if vigil_synth.error and not vigil_synth.templates():
        pytest.fail(f"synth failed: {vigil_synth.error}")
    return vigil_synth.templates()
