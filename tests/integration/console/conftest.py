"""The console served locally for the browser tests, on real stand-ins, and headless Chromium.

* read APIs: moto server tables. The air-quality ones hold what the real detector stored after
  learning a week of generated readings and scoring a live stretch with injected spikes;
* fraud: the real scoring handler behind the local API front, on the Neptune stand-in and the
  SageMaker runtime front, which serves no fraud endpoint here (only the toxicity model), so each
  transaction is answered by the configured fallback (``review``), recorded in the
  recent-scores table and counted as a fallback. Real model scores are what ``make demo`` shows; the fraud integration tests check them;
* toxicity: the real moderation handler behind the local API front, on the real SageMaker serving
  stack serving a BiLSTM whose decision is known by construction (``lexicon_model.py``);
* Chromium: Debian's package (``scripts/bootstrap.sh`` installs it), driven by Playwright through
  its executable; Playwright never downloads a browser.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from local.console.server import ConsoleServer
from local.console.stores import create_recent_scores_table
from local.standins.air_quality_pipeline import learnt_detector
from local.standins.api_gateway import LocalApi
from tests.handlers.fraud.conftest import serve_standin
from tests.integration.console import lexicon_model
from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.simulator import generate
from vigil.console.contract import ConsoleSettings
from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "build" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DETECTOR = "console-it"
START = datetime(2026, 1, 5)
HISTORY_STEPS = 12 * 24 * 2  # two days learnt: enough for the spikes to stand out
SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C", "H", "R", "S"])],
    entity_columns=["card1", "ProductCD"],
)


# What the stack's stand-ins set in the environment; the harness's per-test fixture removes
# AWS_ENDPOINT_URL before each test, so it is set again for every test here.
STACK_ENVIRONMENT: dict[str, str] = {}


def _set_environment(values: dict[str, str]) -> None:
    from vigil.aws import reset_clients

    STACK_ENVIRONMENT.update(values)
    os.environ.update(values)
    reset_clients()


@pytest.fixture(autouse=True)
def _stand_in_environment(monkeypatch):
    from vigil.aws import reset_clients

    for name, value in STACK_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    reset_clients()


@pytest.fixture(scope="package")
def environment(moto_server_session):
    """The moto server's variables in os.environ while this package's tests run (restored
    afterwards). Every fixture of the stack is package-scoped: the browser test modules here
    share one started stack, built once."""
    from vigil.aws import reset_clients

    saved = dict(os.environ)
    moto_server_session.reset()
    _set_environment(moto_server_session.environment())
    yield moto_server_session
    STACK_ENVIRONMENT.clear()
    os.environ.clear()
    os.environ.update(saved)
    reset_clients()


@pytest.fixture(scope="package")
def air_quality(environment) -> dict:
    """Anomalies stored by the real detector: two days learnt, then spikes in a live stretch."""
    config = DetectorConfig(
        name=DETECTOR,
        measures=[Measure(name=m) for m in ("CO", "SO2", "NO2")],
        dimensions=["LOCATION_ID"],
        interval_minutes=5,
        lateness_minutes=1,
        severity_threshold=40,
    )
    spikes = [(0, "NO2", "spike", HISTORY_STEPS + 6, 1), (1, "CO", "spike", HISTORY_STEPS + 18, 1)]
    records, _ = generate(2, START, HISTORY_STEPS + 36, 5, anomalies=spikes)
    cut = (START + timedelta(minutes=5 * HISTORY_STEPS)).strftime("%Y-%m-%d %H:%M")
    history = pd.DataFrame([r for r in records if r["TIMESTAMP"] < cut])
    live = [r for r in records if r["TIMESTAMP"] >= cut]
    local = learnt_detector(config, history, "vigil-console-it", setenv=lambda k, v: None)
    body = "\n".join(json.dumps(r) for r in live).encode()
    result = local.service.process_records(body, source="console-it", bucket=local.resources.bucket)
    assert result.anomalies >= 2, result.counts()
    return {"resources": local.resources, "anomalies": result.anomalies}


@pytest.fixture(scope="package")
def scoring_api(environment, moderation_api, tmp_path_factory):
    """The real scoring handler on the Neptune stand-in; the runtime front has no fraud model."""
    spec = tmp_path_factory.mktemp("console-fraud") / "featurizer.json"
    spec.write_text(SPEC.to_json())
    standin = serve_standin(SPEC.entity_columns)
    table = create_recent_scores_table("vigil-console-it-recent")
    _set_environment(
        {
            "GRAPH_ENDPOINT": standin.endpoint_url,
            "SCORING_ENDPOINT_NAME": "vigil-fraud-rgcn",
            "FEATURIZER_SPEC": str(spec),
            "MAX_ATTEMPTS": "1",
            "RECENT_SCORES_TABLE": table,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    from lambdas.fraud.score_transaction import handler

    handler.scorer.cache_clear()
    api = LocalApi({("POST", "/transactions"): handler.handler}).serve_in_thread()
    yield {"url": f"{api.url}/transactions", "table": table, "graph": standin.endpoint_url}
    api.stop()
    standin.stop()
    handler.scorer.cache_clear()


def transactions(count: int = 400):
    from local.standins.fraud_training import stream_rows
    from vigil.fraud.scoring import transaction_event

    return (transaction_event(row) for row in stream_rows(count, 11))


@pytest.fixture(scope="package")
def console(air_quality, scoring_api, moderation_api):
    from vigil.aws import client

    resources = air_quality["resources"]
    settings = ConsoleSettings(
        recent_scores_table=scoring_api["table"],
        anomaly_table=resources.anomaly_table,
        state_table=resources.state_table,
        detector_name=DETECTOR,
        graph_endpoint=scoring_api["graph"],
        graph_entity_columns=",".join(SPEC.entity_columns),
    )
    server = ConsoleServer(
        settings=settings,
        dynamodb=client("dynamodb"),
        scoring_url=scoring_api["url"],
        moderation_url=moderation_api,
        transactions=transactions(),
    ).serve_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def moderation_api(environment, jigsaw_sample, tmp_path_factory):
    """The real moderation handler on the real serving stack, serving a BiLSTM with a known
    decision (``lexicon_model``: it flags a text with a word the vendored sample uses almost
    only in toxic comments)."""
    from lambdas.toxicity.moderate import handler
    from local.demos.toxicity import moderation_endpoint
    from vigil.packaging import package_model

    folder = tmp_path_factory.mktemp("tox-lexicon")
    lexicon_model.build(jigsaw_sample, folder / "model")
    tarball = package_model(folder / "model", folder / "model.tar.gz")
    with moderation_endpoint(tarball, endpoint_name="vigil-toxicity-console"):
        api = LocalApi({("POST", "/moderate"): handler.handler}).serve_in_thread()
        yield f"{api.url}/moderate"
        api.stop()


@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium: scripts/bootstrap.sh installs Debian's package (apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
