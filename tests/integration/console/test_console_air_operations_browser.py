"""The console's air-quality operations in headless Chromium: status, data quality and episodes
shown from the real detector's tables, and an episode marked "not an anomaly" with its button."""

from __future__ import annotations

import pytest

from tests.integration.console.conftest import DETECTOR, screenshot
from vigil.air_quality.episode_table import pending_feedback
from vigil.aws import client

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_an_episode_is_marked_not_an_anomaly_from_the_page(page, console, air_quality):
    page.goto(console.url)
    page.wait_for_selector("body[data-ready='true']")
    page.wait_for_selector("#air-series-status tbody tr")
    page.wait_for_selector("#air-quality tbody tr")
    page.wait_for_function(
        f"document.getElementById('air-detector-status').textContent.startsWith('{DETECTOR}: active')"
    )
    no = page.locator("#air-episodes tbody tr button[data-verdict='not_anomaly']").first
    no.wait_for()
    episode_id = no.locator("xpath=..").get_attribute("data-episode")
    no.click()
    page.wait_for_function(
        "document.getElementById('air-feedback-status').textContent.startsWith('Recorded')"
    )
    cell = page.locator(f"#air-episodes span.verdict[data-episode='{episode_id}']")
    assert cell.inner_text() == "no (marked)"
    queued = pending_feedback(client("dynamodb"), air_quality["resources"].anomaly_table, DETECTOR)
    assert [(f["id"], f["verdict"]) for f in queued] == [(episode_id, "not_anomaly")]
    assert page.errors == []
    screenshot(page, "air-operations")
