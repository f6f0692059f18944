"""The console in headless Chromium against the local console server and real stand-ins."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from local.console.server import ConsoleServer
from tests.integration.console.conftest import screenshot
from vigil.console.contract import ConsoleSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _open(page, console) -> None:
    page.goto(console.url)
    page.wait_for_selector("body[data-ready='true']")


def _count(page, selector: str) -> int:
    return int(page.locator(selector).inner_text())


def test_the_console_loads_without_errors(page, console):
    _open(page, console)
    page.wait_for_selector("#air-table tbody tr")
    page.wait_for_timeout(1500)  # a few polls of every API
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
    assert "entity card1" in page.locator("#fraud-detail").inner_text()
    screenshot(page, "fraud")

    page.click("#sim-stop")
    page.wait_for_function(
        "document.getElementById('sim-status').textContent.startsWith('stopped')"
    )
    assert not console.simulator.running
    sent = console.simulator.sent
    time.sleep(1.5)
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
    # the chart draws the chosen series' anomalous intervals: uPlot keeps its data on the plot
    series = page.locator("#air-series").input_value()
    assert series
    with page.expect_response(lambda r: "/api/air/series" in r.url) as answer:
        page.select_option("#air-series", series)
    points = json.loads(answer.value.body())["items"]
    assert points and points[0]["series"] == series
    assert page.locator("#chart-air canvas").count() == 1

    page.select_option("#air-place", places[1])
    with page.expect_response(lambda r: "/api/air/anomalies" in r.url):
        page.click("#air-filter button[type=submit]")
    page.wait_for_function(
        f"document.querySelectorAll('#air-table tbody tr').length < {everything}"
    )
    narrowed = page.locator("#air-table tbody tr td:nth-child(2)").all_inner_texts()
    assert narrowed and set(narrowed) == {places[1]}
    rows.first.click()
    assert "observed" in page.locator("#air-detail").inner_text()
    screenshot(page, "air-quality")
    assert page.errors == []


def _moderate(page, text: str) -> dict:
    page.fill("#tox-text", text)
    with page.expect_response(lambda r: "/api/toxicity/moderate" in r.url) as answer:
        page.click("#tox-form button[type=submit]")
    page.wait_for_selector("#tox-verdict")
    return json.loads(answer.value.body())["results"][0]


def test_the_moderation_box_shows_each_labels_score_and_the_flags(page, console):
    """The page shows the moderation API's verdict, flags and six scores for each message.

    The model here is the tests' tiny BiLSTM (two epochs on 600 comments), whose scores barely
    depend on the text, so this checks that the page renders exactly what the API answered for a
    toxic and a polite message; that a trained model flags the first and nothing in the second is
    shown by the console with the toxicity demo's model (docs/console.md).
    """
    _open(page, console)
    answers = []
    for text in (
        "you are a stupid idiot, shut up you moron",
        "thank you for the helpful citation, have a nice day",
    ):
        answer = _moderate(page, text)
        answers.append(answer)
        expected = (
            "Flagged: " + ", ".join(answer["categories"]) if answer["flagged"] else "Not flagged"
        )
        assert page.locator("#tox-verdict").inner_text() == expected
        rows = page.locator("#tox-result tbody tr")
        assert rows.count() == 6
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i)
            .locator("td")
            .nth(2)
            .inner_text()
            for i in range(6)
        }
        assert {label for label, flag in shown.items() if flag == "flagged"} == set(
            answer["categories"]
        )
        assert set(shown) == set(answer["scores"])
    screenshot(page, "toxicity")
    flagged = sum(a["flagged"] for a in answers)
    assert _count(page, "#tox-count") == 2 and _count(page, "#tox-flagged-count") == flagged
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
    finally:
        guarded.stop()
