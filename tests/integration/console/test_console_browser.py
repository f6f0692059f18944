"""The console in headless Chromium against the local console server and real stand-ins."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from local.console.server import ConsoleServer
from tests.integration.console.conftest import DETECTOR, screenshot
from vigil.console.contract import ConsoleSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _open(page, console) -> None:
    page.goto(console.url)
    page.wait_for_selector("body[data-ready='true']")


def _count(page, selector: str) -> int:
    return int(page.locator(selector).inner_text())


def test_the_console_loads_without_errors(page, console):
    _open(page, console)
    # every read API answered once: the anomaly list, the chart, the detector status, the table
    page.wait_for_selector("#air-table tbody tr")
    page.wait_for_function("document.getElementById('chart-air').dataset.intervals")
    page.wait_for_function(
        f"document.getElementById('air-status').textContent.startsWith('detector {DETECTOR}:')"
    )
    page.wait_for_function("document.getElementById('sim-status').textContent !== 'stopped'")
    assert page.errors == []
    assert page.title() == "Vigil console"


def test_the_simulator_streams_transactions_into_the_table_and_stops(page, console):
    _open(page, console)
    before = _count(page, "#fraud-scored")
    page.fill("#sim-rate", "5")
    page.click("#sim-start")
    page.wait_for_function(
        f"Number(document.getElementById('fraud-scored').textContent) >= {before + 3}",
        timeout=30_000,
    )
    assert page.locator("#fraud-table tbody tr").count() >= 3
    # the endpoint has no fraud model here: every answer is the fallback, counted as such
    assert _count(page, "#fraud-fallbacks") >= 3
    first = page.locator("#fraud-table tbody tr").first
    assert "review" in first.locator("td.flag").inner_text()
    first.focus()
    page.keyboard.press("Enter")  # the detail opens from the keyboard too
    page.wait_for_selector("#fraud-detail dl")
    # its entities with their degree and known fraud count, read from the graph stand-in
    detail = page.locator("#fraud-detail").inner_text()
    assert re.search(r"entity card1\s+\S+ \(degree [1-9]\d*, known fraud \d+\)", detail), detail
    screenshot(page, "fraud")

    page.click("#sim-stop")
    page.wait_for_function(
        "document.getElementById('sim-status').textContent.startsWith('stopped')"
    )
    assert not console.simulator.running
    sent = console.simulator.sent
    time.sleep(1.0)  # five intervals at the rate it ran
    assert console.simulator.sent == sent  # nothing more is sent once stopped
    assert page.errors == []


def test_anomalies_appear_on_the_chart_and_a_filter_narrows_the_list(page, console, air_quality):
    _open(page, console)
    page.wait_for_selector("#air-table tbody tr")
    rows = page.locator("#air-table tbody tr")
    everything = rows.count()
    assert everything == air_quality["anomalies"]
    places = page.locator("#air-place option").all_inner_texts()
    assert len(places) >= 3  # "all" and both places with anomalies
    # an anomaly's row puts its series on the chart around it: the detector's stored intervals
    # (observed, expected, the band), with the anomaly marked
    page.wait_for_function("document.getElementById('chart-air').dataset.intervals")  # first draw
    newest = rows.first
    interval = newest.locator("td").first.inner_text()
    with page.expect_response(lambda r: "/api/air/series" in r.url) as answer:
        newest.click()
    points = json.loads(answer.value.body())["items"]
    assert len(points) > 10 and all(p["low"] is not None for p in points[-5:])
    assert interval in [p["interval_start"] for p in points if p["anomaly"]]
    page.wait_for_function(
        f"document.getElementById('chart-air').dataset.anomalies.split(' ').includes('{interval}')"
    )
    assert interval in page.locator("#air-chart-summary").inner_text()
    assert page.locator("#chart-air canvas").count() == 1
    assert "observed" in page.locator("#air-detail").inner_text()

    page.select_option("#air-place", places[1])
    with page.expect_response(lambda r: "/api/air/anomalies" in r.url):
        page.click("#air-filter button[type=submit]")
    page.wait_for_function(
        f"document.querySelectorAll('#air-table tbody tr').length < {everything}"
    )
    narrowed = page.locator("#air-table tbody tr td:nth-child(2)").all_inner_texts()
    assert narrowed and set(narrowed) == {places[1]}
    screenshot(page, "air-quality")
    assert page.errors == []


def _moderate(page, text: str) -> dict:
    page.fill("#tox-text", text)
    with page.expect_response(lambda r: "/api/toxicity/moderate" in r.url) as answer:
        page.click("#tox-form button[type=submit]")
    page.wait_for_selector("#tox-verdict")
    return json.loads(answer.value.body())["results"][0]


def test_the_moderation_box_flags_a_toxic_message_and_not_a_polite_one(page, console):
    """Each label's score and the flags, as the moderation API answered, for a toxic message
    (flagged) and a polite one (not flagged). The served model's decision is known by
    construction (``lexicon_model.py``): "stupid" and "shut" are among the words the vendored
    sample uses almost only in toxic comments; the polite message has none of them."""
    _open(page, console)
    verdicts = {}
    for text in (
        "you are a stupid idiot, shut up you moron",
        "thank you for the helpful citation, have a nice day",
    ):
        answer = _moderate(page, text)
        verdict = page.locator("#tox-verdict").inner_text()
        rows = page.locator("#tox-result tbody tr")
        assert rows.count() == 6
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(2)
            for i in range(6)
        }
        assert set(shown) == set(answer["scores"])
        flagged = {label for label, flag in shown.items() if flag.inner_text() == "flagged"}
        assert flagged == set(answer["categories"])
        verdicts[text[:8]] = (verdict, flagged)
    toxic_verdict, toxic_flags = verdicts["you are "]
    assert toxic_verdict.startswith("Flagged: ") and "toxic" in toxic_flags
    assert verdicts["thank yo"] == ("Not flagged", set())
    screenshot(page, "toxicity")
    assert _count(page, "#tox-count") == 2 and _count(page, "#tox-flagged-count") == 1
    assert page.errors == []


def test_in_cloud_mode_an_unauthenticated_request_is_refused(page, air_quality):
    from vigil.aws import client

    guarded = ConsoleServer(
        settings=ConsoleSettings(anomaly_table=air_quality["resources"].anomaly_table),
        dynamodb=client("dynamodb"),
        bearer_token="a-token-the-page-does-not-have",
    ).serve_in_thread()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{guarded.url}/api/air/anomalies")
        assert refused.value.code == 401
        page.goto(guarded.url)
        page.wait_for_function(
            "document.getElementById('auth-status').textContent.startsWith('Sign-in required')"
        )
        assert page.locator("#air-table tbody tr").count() == 0
        # the cloud page offers no simulator or moderation box, and says why
        assert page.locator("#sim-start").is_disabled() and page.locator("#tox-text").is_disabled()
        for reason in ("#sim-status", "#tox-result"):
            assert "IAM-signed requests" in page.locator(reason).inner_text()
    finally:
        guarded.stop()
