"""The console's read APIs: one function per route, the same in the cloud and locally.

The read-API Lambda (``lambdas/console/read_api/handler.py``, behind API Gateway with a Cognito
authorizer) and the local console server (``local/console/server.py``) both call
:func:`handle_event` with an API Gateway proxy event, so validation, pagination and answers have
one definition. Every route is ``GET``:

* ``/fraud/transactions?limit=&next=``: the newest scored transactions first, from the recent
  scores store the scoring path writes (``vigil/fraud/recent_scores.py``), hour by hour over the
  last ``RECENT_HOURS``;
* ``/fraud/transactions/{id}``: one transaction's record (summary, entities, explanation) from
  the store's ``byTransaction`` index, with each entity's degree and known fraud count from the
  fraud graph when the settings name one (``graph_endpoint``);
* ``/air/anomalies?from=&to=&dimensions=&measure=&min_severity=&limit=&next=``: anomalies newest
  first, from the ``Anomalies`` table (one detector's time range) or, with ``dimensions``, its
  ``byDimension`` index (one place's time range); measure and severity filter the page;
* ``/air/series?measure=&place=&from=&to=&limit=&next=``: one series' recent intervals, oldest
  first (observed, expected, the band, anomaly or not; ``vigil/air_quality/interval_table.py``),
  for the chart;
* ``/air/status``: the detector's newest anomaly and, when its state is one partition, when it
  was last saved;
* ``/air/episodes?from=&to=&kind=&limit=``: anomaly episodes (one per event and place, its kind
  ``sensor_fault``/``event``, peak severity, open or closed, feedback), oldest first
  (``vigil/air_quality/episode_table.py``; docs/air-quality-operations.md);
* ``/air/quality?from=&to=``: data quality per interval (completeness, records received,
  accepted, duplicate, rejected by reason), oldest first; by default the day up to the newest
  closed interval and any open one after it;
* ``POST /air/feedback`` with ``{"episode", "verdict": "anomaly"|"not_anomaly", "note"}``: the
  one write: the operator's verdict on an episode, stored on it and queued for the detector,
  which learns it at its next run (404 for a missing episode).

Bad parameters answer 400 with ``{"message", "errors": [{"parameter", "message"}]}``; an unknown
route 404; a table the deployment does not have 404 naming the setting. Pages are at most
``MAX_PAGE`` items; ``next`` in an answer is the opaque token for the following page.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vigil.air_quality.episode_table import (
    FEEDBACK_VERDICTS,
    MAX_NOTE_CHARS,
    EpisodeNotFound,
    data_quality_from_table,
    episodes_from_table,
    latest_quality_interval,
    status_from_table,
    store_feedback,
)
from vigil.air_quality.interval_table import BAND_SIGMAS, series_from_table
from vigil.air_quality.subscriptions import KINDS
from vigil.api_gateway import json_response
from vigil.console.contract import DEFAULT_PAGE, MAX_PAGE, RECENT_HOURS, ConsoleSettings
from vigil.fraud import recent_scores

logger = logging.getLogger(__name__)
ISO_HINT = "an ISO 8601 time such as 2026-12-03T14:00:00Z"
MAX_TOKEN_CHARS = 2048
MAX_PARAMETER_CHARS = 256
PLACE_PATTERN = r"[^|=]+=[^|]*(\|[^|=]+=[^|]*)*|-"  # a dimension key, as the detector writes it


class BadRequest(ValueError):
    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter, self.message = parameter, message


class NotFound(LookupError):
    pass


# --- parameters --------------------------------------------------------------------------------
def _limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"\d{1,4}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _time(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(name, f"must be {ISO_HINT}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # the tables store UTC without an offset ("2026-12-03T14:00:00")
    return when.astimezone(UTC).replace(tzinfo=None).isoformat()


def _number(params: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise BadRequest(name, f"must be a number from {low:g} to {high:g}")
    return value


def _token(params: Mapping[str, str]) -> dict | None:
    raw = params.get("next")
    if raw is None:
        return None
    try:
        if len(raw) > MAX_TOKEN_CHARS:
            raise ValueError
        token = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
        if not isinstance(token, dict):
            raise ValueError
        return token
    except (ValueError, UnicodeError, binascii.Error):
        raise BadRequest("next", "is not a token this API gave out") from None


def _encode_token(token: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def _check_known(params: Mapping[str, str], allowed: set[str]) -> None:
    for name, value in params.items():
        if name not in allowed:
            raise BadRequest(
                name, f"is not a parameter of this route ({', '.join(sorted(allowed))})"
            )
        if len(value) > MAX_PARAMETER_CHARS:
            raise BadRequest(name, f"is longer than {MAX_PARAMETER_CHARS} characters")


def _required(setting: str | None, name: str) -> str:
    if not setting:
        raise NotFound(f"this deployment has no {name} (setting {name.upper()})")
    return setting


# --- fraud ---------------------------------------------------------------------------------------
def recent_transactions(params, settings: ConsoleSettings, ddb, now: datetime) -> dict:
    _check_known(params, {"limit", "next"})
    table = _required(settings.recent_scores_table, "recent_scores_table")
    limit, token = _limit(params), _token(params)
    hours = [recent_scores.hour_key(now - timedelta(hours=i)) for i in range(RECENT_HOURS + 1)]
    start_hour, start_key = 0, None
    if token is not None:
        if token.get("h") not in hours or not isinstance(token.get("k"), str):
            raise BadRequest("next", "has expired or is not a token this API gave out")
        start_hour, start_key = hours.index(token["h"]), token["k"]
    items: list[dict] = []
    for hour in hours[start_hour:]:
        while len(items) < limit:
            query = {
                "TableName": table,
                "KeyConditionExpression": "#h = :h",
                "ExpressionAttributeNames": {"#h": recent_scores.PARTITION_KEY},
                "ExpressionAttributeValues": {":h": {"S": hour}},
                "ScanIndexForward": False,
                "Limit": limit - len(items),
            }
            if start_key is not None:
                query["ExclusiveStartKey"] = {
                    recent_scores.PARTITION_KEY: {"S": hour},
                    recent_scores.SORT_KEY: {"S": start_key},
                }
            page = ddb.query(**query)
            items.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            start_key = last[recent_scores.SORT_KEY]["S"] if last else None
            if start_key is None:
                break
        if len(items) >= limit:
            last_item = items[limit - 1]
            return {
                "items": [recent_scores.item_to_record(i) for i in items[:limit]],
                "next": _encode_token(
                    {
                        "h": last_item[recent_scores.PARTITION_KEY]["S"],
                        "k": last_item[recent_scores.SORT_KEY]["S"],
                    }
                ),
            }
        start_key = None
    return {"items": [recent_scores.item_to_record(i) for i in items], "next": None}


def one_transaction(transaction_id: str, settings: ConsoleSettings, ddb, graph=None) -> dict:
    if not re.fullmatch(r"[0-9]{1,19}", transaction_id):
        raise BadRequest("id", "must be a TransactionID (digits only)")
    table = _required(settings.recent_scores_table, "recent_scores_table")
    page = ddb.query(
        TableName=table,
        IndexName=recent_scores.ID_INDEX,
        KeyConditionExpression="#id = :id",
        ExpressionAttributeNames={"#id": recent_scores.ID_ATTRIBUTE},
        ExpressionAttributeValues={":id": {"S": transaction_id}},
        Limit=1,
    )
    if not page.get("Items"):
        raise NotFound(f"transaction {transaction_id} was not scored recently")
    record = recent_scores.item_to_record(page["Items"][0])
    record["entity_state"] = None
    if graph is None:
        record["entity_state_note"] = "this read API has no connection to the fraud graph"
        return record
    row = {**record.get("transaction", {}), **record.get("entities", {})}
    try:
        record["entity_state"] = graph.entity_summaries(row, settings.hub_degree_threshold)
    except Exception as error:  # the scored record still answers; say why the graph part is missing
        logger.warning("graph read for the transaction detail failed", exc_info=True)
        record["entity_state_note"] = f"the fraud graph did not answer ({type(error).__name__})"
    return record


def graph_from_settings(settings: ConsoleSettings):
    """The fraud graph the transaction detail reads, or None when the settings name none."""
    if not settings.graph_endpoint:
        return None
    from vigil.aws import client
    from vigil.fraud.graph import FraudGraph, graph_layout

    columns = [c for c in (settings.graph_entity_columns or "").split(",") if c]
    neptune = client(
        "neptunedata",
        endpoint_url=settings.graph_endpoint,
        connect_timeout=2.0,
        read_timeout=5.0,
        max_attempts=2,
    )
    return FraudGraph(neptune, graph_layout(columns or None))


# --- air quality ---------------------------------------------------------------------------------
def _anomaly(item: Mapping[str, Mapping[str, str]]) -> dict:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    contributions = item.get("contributions", {}).get("S")
    return {
        "interval_start": item["interval_start"]["S"],
        "series": item["series"]["S"],
        "measure": item["measure"]["S"],
        "dimensions": item["dimensions"]["S"],
        "observed": number("observed"),
        "expected": number("expected"),
        "z": number("z"),
        "severity": number("severity"),
        "reason": item.get("reason", {}).get("S"),
        "group": item.get("group", {}).get("S"),
        "contributions": json.loads(contributions) if contributions else {},
    }


def _anomaly_query(params, settings: ConsoleSettings):
    table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    start, end = _time(params, "from"), _time(params, "to")
    if start and end and start > end:
        raise BadRequest("from", "must not be after 'to'")
    low, high = start or "0000", (end or "9999") + "\uffff"
    dimensions = params.get("dimensions")
    values: dict[str, dict] = {":low": {"S": low}, ":high": {"S": high}}
    if dimensions is not None:
        if not re.fullmatch(PLACE_PATTERN, dimensions):
            raise BadRequest("dimensions", "must be name=value pairs joined by '|' (LOCATION_ID=1)")
        query = {
            "IndexName": "byDimension",
            "KeyConditionExpression": "dimensions = :d AND interval_start BETWEEN :low AND :high",
        }
        values[":d"] = {"S": dimensions}
    else:
        query = {"KeyConditionExpression": "detector = :det AND sk BETWEEN :low AND :high"}
        values[":det"] = {"S": detector}
    filters = []
    if dimensions is not None:
        filters.append("detector = :det")
        values[":det"] = {"S": detector}
    if (measure := params.get("measure")) is not None:
        filters.append("measure = :m")
        values[":m"] = {"S": measure}
    if (severity := _number(params, "min_severity", 0, 100)) is not None:
        filters.append("severity >= :s")
        values[":s"] = {"N": repr(severity)}
    query.update(
        TableName=table,
        ExpressionAttributeValues=values,
        ScanIndexForward=False,  # newest first
        Limit=_limit(params),
    )
    if filters:
        query["FilterExpression"] = " AND ".join(filters)
    token = _token(params)
    if token is not None:
        if not all(isinstance(v, dict) and set(v) == {"S"} for v in token.values()):
            raise BadRequest("next", "is not a token this API gave out")
        query["ExclusiveStartKey"] = token
    return query


def anomalies(params, settings: ConsoleSettings, ddb) -> dict:
    _check_known(params, {"from", "to", "dimensions", "measure", "min_severity", "limit", "next"})
    page = ddb.query(**_anomaly_query(params, settings))
    last = page.get("LastEvaluatedKey")
    return {
        "items": [_anomaly(i) for i in page.get("Items", [])],
        "next": _encode_token(last) if last else None,
    }


def series_intervals(params, settings: ConsoleSettings, ddb) -> dict:
    """One series' recent intervals, oldest first: observed, expected, the band (expected ±
    ``BAND_SIGMAS`` forecast scales) and whether the detector flagged it, for the chart."""
    _check_known(params, {"measure", "place", "from", "to", "limit", "next"})
    table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    measure, place = params.get("measure"), params.get("place")
    if not measure:
        raise BadRequest("measure", "is required (a measure name such as CO)")
    if not place:
        raise BadRequest("place", "is required (the dimensions of an anomaly: LOCATION_ID=1)")
    if not re.fullmatch(PLACE_PATTERN, place):
        raise BadRequest("place", "must be name=value pairs joined by '|' (LOCATION_ID=1)")
    start, end = _time(params, "from"), _time(params, "to")
    if start and end and start > end:
        raise BadRequest("from", "must not be after 'to'")
    token = _token(params)
    after = None
    if token is not None:
        after = token.get("after")
        if set(token) != {"after"} or not isinstance(after, str):
            raise BadRequest("next", "is not a token this API gave out")
    points, last = series_from_table(
        ddb,
        table,
        detector,
        measure=measure,
        place=place,
        since=start[:16] if start else None,  # intervals are keyed by minute
        until=end[:16] if end else None,
        limit=_limit(params),
        start_after=after,
    )
    return {
        "measure": measure,
        "place": place,
        "band_sigmas": BAND_SIGMAS,
        "items": points,
        "next": _encode_token({"after": last}) if last else None,
    }


def detector_status(params, settings: ConsoleSettings, ddb, now: datetime) -> dict:
    """What the tables say of the detector: its newest anomaly; its status and each series'
    (learning with the intervals it still needs, active or silent; the shards' stored status,
    judged at ``now``), at most ``MAX_PAGE`` series rows; and, where the state is kept in one
    partition, when it was last saved."""
    _check_known(params, set())
    anomaly_table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    newest = ddb.query(
        TableName=anomaly_table,
        KeyConditionExpression="detector = :det",
        ExpressionAttributeValues={":det": {"S": detector}},
        ScanIndexForward=False,
        Limit=1,
    ).get("Items", [])
    status = {
        "detector": detector,
        "latest_anomaly": newest[0]["interval_start"]["S"] if newest else None,
        "state": "unknown",
        "updated": None,
    }
    summary = status_from_table(ddb, anomaly_table, detector, now)
    summary["series_total"] = len(summary["series"])
    summary["series"] = summary["series"][:MAX_PAGE]
    status.update(summary)
    if summary["series_count"]:
        status["state"] = summary["status"]
    if settings.state_table:
        head = ddb.get_item(
            TableName=settings.state_table,
            Key={"pk": {"S": f"detector#{detector}"}, "sk": {"S": "head"}},
        ).get("Item")
        if head:
            status.update(
                state="learnt; scoring new data",
                updated=head.get("updated", {}).get("S"),
                version=int(head["version"]["N"]),
            )
    return status


def air_episodes(params, settings: ConsoleSettings, ddb) -> dict:
    """The detector's anomaly episodes (one per event and place, with its kind), oldest first."""
    _check_known(params, {"from", "to", "kind", "limit"})
    table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest("kind", f"must be one of {', '.join(KINDS)}")
    since, until = _time(params, "from"), _time(params, "to")
    items = episodes_from_table(
        ddb,
        table,
        detector,
        since=since[:16] if since else None,  # episodes are keyed by minute ("...T14:00#place")
        until=until[:16] if until else None,
        kind=kind,
        limit=_limit(params),
    )
    return {"detector": detector, "items": items}


def air_quality_figures(params, settings: ConsoleSettings, ddb) -> dict:
    """Data quality per interval (``episode_table.data_quality_from_table``)."""
    _check_known(params, {"from", "to"})
    table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    since, until = _time(params, "from"), _time(params, "to")
    if since and until and since > until:
        raise BadRequest("from", "must not be after 'to'")
    if since is None:
        newest = latest_quality_interval(ddb, table, detector)
        if newest is None:
            return {"detector": detector, "items": []}
        since = (datetime.fromisoformat(newest) - timedelta(days=1)).isoformat()
    items = data_quality_from_table(
        ddb, table, detector, since=since[:16], until=until[:16] if until else "9999"
    )
    return {"detector": detector, "items": items}


def episode_feedback(body: Any, settings: ConsoleSettings, ddb) -> dict:
    """The operator's verdict on an episode (stored, and learnt by the detector's next run)."""
    table = _required(settings.anomaly_table, "anomaly_table")
    detector = _required(settings.detector_name, "detector_name")
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object {episode, verdict, note}")
    unknown = set(body) - {"episode", "verdict", "note"}
    if unknown:
        raise BadRequest(sorted(unknown)[0], "is not a field of feedback (episode, verdict, note)")
    episode, verdict, note = body.get("episode"), body.get("verdict"), body.get("note", "")
    if not isinstance(episode, str) or not 0 < len(episode) <= MAX_PARAMETER_CHARS:
        raise BadRequest("episode", "is required: an episode id from /air/episodes")
    if verdict not in FEEDBACK_VERDICTS:
        raise BadRequest("verdict", f"must be one of {', '.join(FEEDBACK_VERDICTS)}")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise BadRequest("note", f"must be text of at most {MAX_NOTE_CHARS} characters")
    try:
        return store_feedback(ddb, table, detector, episode, verdict, note)
    except EpisodeNotFound as missing:
        raise NotFound(str(missing)) from None


def _json_body(event: Mapping[str, Any]) -> Any:
    raw = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode("utf-8")
        return json.loads(raw)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadRequest("body", "is not valid JSON") from None


# --- dispatch ------------------------------------------------------------------------------------
def _route(path: str, graph) -> Callable[..., dict] | None:
    """The route's function of (params, settings, ddb, now), or None."""
    if path == "/fraud/transactions":
        return recent_transactions
    if match := re.fullmatch(r"/fraud/transactions/([^/]+)", path):
        transaction_id = match.group(1)

        def one(params, settings, ddb, _now):
            _check_known(params, set())
            return one_transaction(transaction_id, settings, ddb, graph)

        return one
    air = {
        "/air/anomalies": anomalies,
        "/air/series": series_intervals,
        "/air/episodes": air_episodes,
        "/air/quality": air_quality_figures,
    }
    if path == "/air/status":
        return detector_status
    if path in air:
        return lambda params, settings, ddb, _now: air[path](params, settings, ddb)
    return None


def _path(event: Mapping[str, Any]) -> str:
    path = event.get("path") or ""
    stage = (event.get("requestContext") or {}).get("stage")
    # a custom domain or the local server may keep the stage and an /api prefix in the path
    for prefix in ("/api", f"/{stage}" if stage else None):
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
    return path.rstrip("/") or "/"


_WRITERS = {"/air/feedback": episode_feedback}  # every route of contract.WRITE_ROUTES


def handle_event(
    event: Mapping[str, Any],
    settings: ConsoleSettings,
    ddb,
    *,
    now: datetime | None = None,
    graph=None,
) -> dict:
    """An API Gateway proxy event → the proxy response; bad input is a 4xx, never a raise.

    ``graph`` (a ``vigil.fraud.graph.FraudGraph``, :func:`graph_from_settings`) adds each
    entity's degree and known fraud count to a transaction's detail."""
    method, path = event.get("httpMethod"), _path(event)
    if path in _WRITERS:
        if method != "POST":
            return json_response(405, {"message": f"{path} answers POST only"})

        def route(_params, settings, ddb, _now):
            return _WRITERS[path](_json_body(event), settings, ddb)

    elif method != "GET":
        return json_response(405, {"message": "the console's read API answers GET only"})
    else:
        route = _route(path, graph)
    if route is None:
        return json_response(404, {"message": f"no such route: {_path(event)}"})
    params = event.get("queryStringParameters") or {}
    try:
        body = route(params, settings, ddb, now or datetime.now(UTC))
    except BadRequest as bad:
        return json_response(
            400,
            {
                "message": f"invalid parameter '{bad.parameter}'",
                "errors": [{"parameter": bad.parameter, "message": bad.message}],
            },
        )
    except NotFound as missing:
        return json_response(404, {"message": str(missing)})
    return json_response(200, body)
