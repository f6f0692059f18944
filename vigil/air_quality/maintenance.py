"""A sample action on alerts: a maintenance ticket for a suspected sensor fault or silent sensor.

Subscribed to the alert topic with the filter policy ``{"kind": ["sensor_fault", "silent"]}``
(so it never sees public-health events), it opens one ticket per opened fault episode or silent
series and closes a silent series' ticket when its recovery note arrives. Tickets are items of
the anomaly table under ``<detector>#tickets`` (``python -m vigil.air_quality episodes`` lives
beside them); SNS delivers at least once, so a ticket is written only if it does not exist yet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from vigil.air_quality.episode_table import ticket_partition
from vigil.air_quality.subscriptions import OPENED, RECOVERED, SENSOR_FAULT, SILENT, WENT_SILENT
from vigil.aws import client

ACTED_ON = {
    (SENSOR_FAULT, OPENED): "open",
    (SILENT, WENT_SILENT): "open",
    (SILENT, RECOVERED): "close",
}


def _attribute(attributes: dict, name: str) -> str | None:
    value = attributes.get(name) or {}
    return value.get("Value") or value.get("StringValue")


def act_on_alert(table: str, message: str, attributes: dict) -> dict:
    """One SNS notification → a ticket opened or closed, or ``ignored`` with the reason."""
    kind, transition = _attribute(attributes, "kind"), _attribute(attributes, "transition")
    detector = _attribute(attributes, "detector")
    action = ACTED_ON.get((kind, transition))
    if action is None or not detector:
        return {"action": "ignored", "reason": f"kind={kind} transition={transition}"}
    try:
        detail = json.loads(message.rstrip().rsplit("\n", 1)[-1])
    except ValueError:
        return {"action": "ignored", "reason": "the message carries no details"}
    if not isinstance(detail, dict):
        return {"action": "ignored", "reason": "the message's details are not an object"}
    detail = detail.get("episode", detail)  # an episode's alert: its interval group + episode
    subject = detail.get("id") or detail.get("series")
    if not subject:
        return {"action": "ignored", "reason": "the details name no episode or series"}
    ticket = f"{subject}#{detail.get('last_data', detail.get('start', ''))}"
    ddb = client("dynamodb")
    key = {"detector": {"S": ticket_partition(detector)}, "sk": {"S": ticket}}
    now = datetime.now(UTC).isoformat()
    try:
        if action == "open":
            ddb.put_item(
                TableName=table,
                Item={
                    **key,
                    "status": {"S": "open"},
                    "kind": {"S": kind},
                    "opened_at": {"S": now},
                    "summary": {"S": f"check the sensor: {kind} at {detail.get('place', '')}"},
                    "detail": {"S": json.dumps(detail, separators=(",", ":"))},
                },
                ConditionExpression="attribute_not_exists(sk)",
            )
        else:
            ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #s = :closed, closed_at = :now",
                ConditionExpression="attribute_exists(sk) AND #s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":closed": {"S": "closed"},
                    ":open": {"S": "open"},
                    ":now": {"S": now},
                },
            )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return {"action": "unchanged", "ticket": ticket}  # a repeated delivery
    return {"action": action, "ticket": ticket}


def list_tickets(table: str, detector: str) -> list[dict]:
    items = client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="detector = :d",
        ExpressionAttributeValues={":d": {"S": ticket_partition(detector)}},
    )["Items"]
    return [
        {"ticket": i["sk"]["S"], "status": i["status"]["S"], "kind": i["kind"]["S"]} for i in items
    ]
