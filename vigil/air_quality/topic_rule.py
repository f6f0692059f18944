"""The IoT topic rule: its SQL (one definition, used by the CDK stack) and a small evaluator.

AWS IoT evaluates the rule in the cloud. Offline, ``local/standins/air_quality_pipeline.py`` subscribes to the
local MQTT broker and applies the same SQL with ``TopicRule`` before calling Firehose on moto
server. The evaluator covers the subset Vigil's rule uses, and says so when given more:

    SELECT <items> FROM '<topic filter>' [WHERE <condition>]

items: ``*``, a payload field, ``topic(n)``, ``timestamp()``, ``clientid()``, each optionally
``AS name``; condition: comparisons (``= <> != < > <= >=``) of those expressions with a number or
a 'string', joined with ``AND``/``OR`` (AND binds tighter), and ``isUndefined(field)``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

TOPIC_PREFIX = "vigil/air-quality"
TOPIC_TEMPLATE = TOPIC_PREFIX + "/{thing}/telemetry"
TOPIC_FILTER = TOPIC_PREFIX + "/+/telemetry"
# The thing name is the third topic level; the rule adds it and the arrival time to each record.
RULE_SQL = f"SELECT *, topic(3) AS THING_NAME, timestamp() AS RECEIVED_AT FROM '{TOPIC_FILTER}'"
RULE_SQL_VERSION = "2016-03-23"


class RuleError(ValueError):
    """The SQL uses something outside the supported subset, or is malformed."""


def topic_matches(topic_filter: str, topic: str) -> bool:
    f_parts, t_parts = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(f_parts) == len(t_parts)


_SQL = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+'(?P<topic>[^']+)'(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_UNDEFINED = object()


@dataclass
class _Context:
    topic: str
    payload: dict
    client_id: str
    now_ms: int


def _value(expr: str, ctx: _Context):
    expr = expr.strip()
    match = re.fullmatch(r"topic\(\s*(\d+)\s*\)", expr, re.IGNORECASE)
    if match:
        parts = ctx.topic.split("/")
        n = int(match.group(1))
        return parts[n - 1] if 1 <= n <= len(parts) else _UNDEFINED
    if re.fullmatch(r"timestamp\(\s*\)", expr, re.IGNORECASE):
        return ctx.now_ms
    if re.fullmatch(r"clientid\(\s*\)", expr, re.IGNORECASE):
        return ctx.client_id
    if re.fullmatch(r"'[^']*'", expr):
        return expr[1:-1]
    if re.fullmatch(r"-?\d+(\.\d+)?", expr):
        return float(expr)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", expr):
        value = ctx.payload
        for part in expr.split("."):
            if not isinstance(value, dict) or part not in value:
                return _UNDEFINED
            value = value[part]
        return value
    raise RuleError(f"unsupported expression in topic rule SQL: {expr!r}")


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


_COMPARISON = re.compile(r"^(?P<left>.+?)\s*(?P<op><>|!=|<=|>=|=|<|>)\s*(?P<right>.+)$")


def _condition(text: str, ctx: _Context) -> bool:
    for alternative in re.split(r"\s+OR\s+", text, flags=re.IGNORECASE):
        if all(
            _atom(term, ctx) for term in re.split(r"\s+AND\s+", alternative, flags=re.IGNORECASE)
        ):
            return True
    return False


def _atom(text: str, ctx: _Context) -> bool:
    text = text.strip()
    undefined = re.fullmatch(r"isUndefined\(\s*(.+?)\s*\)(\s*=\s*(true|false))?", text, re.I)
    if undefined:
        result = _value(undefined.group(1), ctx) is _UNDEFINED
        return result if (undefined.group(3) or "true").lower() == "true" else not result
    match = _COMPARISON.match(text)
    if not match:
        raise RuleError(f"unsupported condition in topic rule SQL: {text!r}")
    left, right = _value(match["left"], ctx), _value(match["right"], ctx)
    if left is _UNDEFINED or right is _UNDEFINED:
        return False
    op = match["op"]
    try:
        if isinstance(right, float) and not isinstance(left, bool):
            left = float(left)
        return {
            "=": left == right,
            "<>": left != right,
            "!=": left != right,
            "<": left < right,
            ">": left > right,
            "<=": left <= right,
            ">=": left >= right,
        }[op]
    except (TypeError, ValueError):
        return False


class TopicRule:
    def __init__(self, sql: str = RULE_SQL):
        match = _SQL.match(sql)
        if not match:
            raise RuleError(f"not a SELECT ... FROM '<topic>' [WHERE ...] statement: {sql!r}")
        self.sql = sql
        self.topic_filter = match["topic"]
        self.where = match["where"]
        self.items: list[tuple[str, str | None]] = []
        for item in _split_top_level(match["select"]):
            alias = re.match(r"^(?P<expr>.+?)\s+AS\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)$", item, re.I)
            if alias:
                self.items.append((alias["expr"], alias["name"]))
            else:
                self.items.append((item, None))

    def apply(
        self, topic: str, payload: bytes, *, client_id: str = "", now_ms: int | None = None
    ) -> bytes | None:
        """The record the rule sends to its action, or None when the rule does not match.

        A payload that is not a JSON object is passed on unchanged (``SELECT *`` on a non-JSON
        payload in IoT yields it base64-encoded; Vigil routes it on so the detector counts and
        rejects it rather than losing it).
        """
        if not topic_matches(self.topic_filter, topic):
            return None
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            return payload
        ctx = _Context(topic, document, client_id, now_ms or int(time.time() * 1000))
        if self.where and not _condition(self.where, ctx):
            return None
        out: dict = {}
        for expr, alias in self.items:
            if expr.strip() == "*":
                out.update(document)
                continue
            value = _value(expr, ctx)
            if value is _UNDEFINED:
                continue
            name = alias or expr.strip().split(".")[-1]
            out[name] = value
        return json.dumps(out, separators=(",", ":")).encode()
