"""Graph access for real-time fraud scoring: openCypher over boto3's ``neptunedata`` client.

One module owns every query the scoring path sends to Neptune (and to the local stand-in,
``local/standins/neptune_standin.py``, which runs the same strings on the ladybug engine). The graph schema
is ``vigil/fraud/schema.py`` (F1's, shared with the ETL's bulk-load files); :func:`graph_layout`
turns it into node/relationship tables with property types, adding the two properties only the
live graph has: ``Transaction.pred_prob`` (Double) and ``Transaction.flag`` (String), the first
answer the API gave for that transaction (what makes a replay idempotent). See
``docs/fraud-graph.md``.

Round trips per scored transaction (each one openCypher request, one Neptune transaction):

1. :meth:`FraudGraph.read` — ``OPTIONAL MATCH`` the transaction and each of its entities by key:
   whether the transaction exists, its stored answer, and each entity's ``feat_sum``/``degree``/
   ``first_dt``.
   One node lookup per entity through the ``key`` index — never a neighbour scan, so a hub entity
   with 100k transactions costs what a degree-1 entity costs.
2. :meth:`FraudGraph.insert` — the idempotent insert: one query that creates the transaction, its
   entity nodes (``MERGE`` on label + key) and its edges, folds the transaction's feature vector
   into each non-hub entity's ``feat_sum``, increments its ``degree`` and keeps its earliest
   ``TransactionDT`` in ``first_dt``, and stores the answer.
   It is guarded: it writes only when the transaction does not exist yet AND every updated entity
   still has the degree the read saw (an optimistic compare-and-set), so it writes all or nothing
   and never twice; a guard miss returns no row and the caller re-reads.

Why read-then-guarded-write instead of one blind ``SET``: ``feat_sum`` is a base64 float32 string
(Neptune openCypher has no list properties), so the vector addition happens in the client; the
degree guard makes that read-modify-write safe under concurrent writers.

Hub entities (``degree >= hub_threshold``) and existing entities of link-only columns
(categories such as the card brand or product code, ``schema.DEFAULT_LINK_ONLY_COLUMNS``) are
linked (the edge is created) but their ``feat_sum``/``degree`` are not updated online: one more
transaction moves a hub's mean by less than 1/threshold and says next to nothing about a category;
the next ETL + bulk load refreshes them. The scorer decides (``vigil/fraud/scoring/``); this
module writes what it is given.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.fraud import schema
from vigil.fraud.features import decode_vector, is_finite_vector

LABEL_PROPERTIES = {"label_source": "string", "label_version": "long", "labelled_at": "string"}
"""Properties the label API writes next to ``isFraud`` (see ``vigil/fraud/label_feedback.py``)."""

ONLINE_TRANSACTION_PROPERTIES = {"pred_prob": "double", "flag": "string", **LABEL_PROPERTIES}
"""Properties the scoring and label APIs write on transactions (absent on bulk-loaded ones)."""


@dataclass(frozen=True)
class EntityType:
    column: str  # raw IEEE-CIS column, e.g. "card1"
    label: str  # node label, e.g. "Card1"
    edge: str  # relationship type Transaction → entity, e.g. "USES_CARD1"


@dataclass(frozen=True)
class GraphLayout:
    """The graph schema as tables: what the stand-in creates and what the queries name."""

    entity_types: tuple[EntityType, ...]
    transaction_properties: Mapping[str, str] = field(default_factory=dict)

    def node_tables(self) -> dict[str, tuple[str, dict[str, str]]]:
        """label → (primary key property, {property: bulk-load type})."""
        tables = {
            schema.TRANSACTION_LABEL: (
                schema.TRANSACTION_ID_PROPERTY,
                dict(self.transaction_properties),
            )
        }
        for entity in self.entity_types:
            tables[entity.label] = (
                schema.KEY_PROPERTY,
                {
                    schema.KEY_PROPERTY: "string",
                    schema.FEAT_SUM_PROPERTY: "string",
                    schema.DEGREE_PROPERTY: "int",
                    schema.FIRST_DT_PROPERTY: "long",
                },
            )
        return tables

    def rel_tables(self) -> dict[str, tuple[str, str]]:
        return {e.edge: (schema.TRANSACTION_LABEL, e.label) for e in self.entity_types}

    @property
    def columns(self) -> list[str]:
        return [e.column for e in self.entity_types]


def _header_properties(header: Sequence[str]) -> dict[str, str]:
    props = {}
    for column in header:
        if column.startswith(":"):
            continue
        name, _, kind = column.partition(":")
        props[name] = (kind or "string").lower()
    return props


def graph_layout(entity_columns: Iterable[str] | None = None) -> GraphLayout:
    """The layout for ``entity_columns`` (default: the schema's default entity columns)."""
    columns = list(entity_columns) if entity_columns else list(schema.DEFAULT_ENTITY_COLUMNS)
    transaction_properties = _header_properties(schema.TRANSACTION_NODE_HEADER)
    transaction_properties.update(ONLINE_TRANSACTION_PROPERTIES)
    return GraphLayout(
        entity_types=tuple(
            EntityType(c, schema.entity_label(c), schema.edge_type(c)) for c in columns
        ),
        transaction_properties=transaction_properties,
    )


# --- queries (openCypher that Neptune and ladybug both run unchanged) ---------------------------
def read_query(labels: Sequence[str]) -> str:
    """The transaction's stored answer and each entity's state by key (``$k0``, ``$k1``, …).

    One ``UNION ALL`` branch per entity: each is an index lookup by (label, key) returning at
    most one row, ``i`` says which entity it is (absent entities return no row), with its
    ``feat_sum``, ``degree`` and ``first_dt`` in ``f``/``d``/``s``; ``i = -1`` is the transaction
    (``d = 1`` when it exists, with its stored answer in ``f``/``p`` and its ``TransactionDT``
    in ``s``).
    """
    branches = [
        "OPTIONAL MATCH (t:Transaction {id: $id}) "
        "RETURN -1 AS i, t.flag AS f, CASE WHEN t IS NULL THEN 0 ELSE 1 END AS d, "
        "t.pred_prob AS p, t.TransactionDT AS s"
    ]
    for i, label in enumerate(labels):
        branches.append(
            f"MATCH (e:{label} {{key: $k{i}}}) "
            f"RETURN {i} AS i, e.feat_sum AS f, e.degree AS d, 0.0 AS p, e.first_dt AS s"
        )
    return "\nUNION ALL\n".join(branches)


def entity_fraud_query(entities: Sequence[EntityType]) -> str:
    """Per entity (``$k0``, ``$k1``, …): how many transactions link to it (``n``) and how many of
    them are known fraud (``f``: ``isFraud = 1``, from the training labels or the label API).

    A scan of each entity's transactions, unlike the scoring read: the console asks it for one
    transaction's entities under the hub threshold only (``FraudGraph.entity_summaries``).
    """
    return "\nUNION ALL\n".join(
        f"MATCH (t:Transaction)-[:{e.edge}]->(:{e.label} {{key: $k{i}}}) "
        # count of a CASE without ELSE counts the matches (an integer in every engine)
        f"RETURN {i} AS i, count(t) AS n, count(CASE WHEN t.isFraud = 1 THEN 1 END) AS f"
        for i, e in enumerate(entities)
    )


NEW, UPDATE, LINK = "new", "update", "link"
"""How the insert treats an entity: create it, fold the vector into it, or only link (a hub)."""


def insert_query(entities: Sequence[tuple[EntityType, str]], *, scored: bool) -> str:
    """The guarded one-round-trip insert; ``entities`` is (type, mode) in request order.

    Parameters: ``$id``, ``$dt``, ``$fdt`` (the transaction's time as the entities' first-seen
    candidate, ``-1`` when the transaction has none); per entity ``$k<i>`` (key); for ``update``
    entities ``$g<i>`` (the degree the read saw, a double: see below) and for ``new``/``update``
    ones ``$f<i>`` (new feat_sum); ``$p``/``$flag`` when ``scored``. It writes only if the transaction is still
    absent, every ``new`` entity still absent, every ``update`` entity still at degree ``$g<i>``
    and every ``link`` (hub) entity present; then it returns one row (``id``), else none. A new
    entity starts at degree 1 and an updated one goes to ``degree + 1`` (the guard has just
    checked ``degree``), so no degree value travels as an integer parameter. ``first_dt`` becomes
    the smaller of the stored one and ``$fdt`` in the engine (an unknown stored one stays unknown:
    it is not the entity's first), so it is exact whatever order transactions arrive in.

    Why the guard's degree is a double: the comparison is numeric in both engines (openCypher's
    type promotion: Neptune matches 1937 against 1937.0), and a double keeps the parameter's type
    the same for every degree. ladybug types an integer parameter by its magnitude (INT8, INT16,
    …) and binds and plans the statement afresh when an execution's widths differ from the held
    plan's; with integer degrees most inserts paid that (~4–5 ms of their ~10). Do not send
    this query with Neptune's ``assumeConsistentDataTypes`` hint: it turns off the type
    promotion the double guard relies on.
    """
    lines = ["OPTIONAL MATCH (t0:Transaction {id: $id})"]
    guards = ["t0 IS NULL"]
    present = [
        f"(e{i}:{entity.label} {{key: $k{i}}})"
        for i, (entity, mode) in enumerate(entities)
        if mode != NEW
    ]
    if present:
        lines.append("MATCH " + ", ".join(present))
    for i, (entity, mode) in enumerate(entities):
        if mode == NEW:
            lines.append(f"OPTIONAL MATCH (a{i}:{entity.label} {{key: $k{i}}})")
            guards.append(f"a{i} IS NULL")
        elif mode == UPDATE:
            guards.append(f"e{i}.degree = $g{i}")
    lines.append("WITH * WHERE " + " AND ".join(guards))
    answer = ", pred_prob: $p, flag: $flag" if scored else ""
    created = [f"(t:Transaction {{id: $id, TransactionDT: $dt, isFraud: -1{answer}}})"]
    for i, (entity, mode) in enumerate(entities):
        if mode == NEW:
            created.append(
                f"(e{i}:{entity.label} {{key: $k{i}, feat_sum: $f{i}, degree: 1, "
                "first_dt: CASE WHEN $fdt >= 0 THEN $fdt ELSE NULL END})"
            )
        created.append(f"(t)-[:{entity.edge}]->(e{i})")
    lines.append("CREATE " + ", ".join(created))
    updates = [
        f"e{i}.feat_sum = $f{i}, e{i}.degree = e{i}.degree + 1, e{i}.first_dt = "
        # the stored (64-bit) value comes first: ladybug types a CASE by its first branch and
        # an integer parameter by its magnitude, so a $fdt-first CASE could not hold it
        f"CASE WHEN $fdt < 0 OR e{i}.first_dt IS NULL OR e{i}.first_dt <= $fdt "
        f"THEN e{i}.first_dt ELSE $fdt END"
        for i, (_, mode) in enumerate(entities)
        if mode == UPDATE
    ]
    if updates:
        lines.append("SET " + ", ".join(updates))
    lines.append("RETURN t.id AS id")
    return "\n".join(lines)


STORE_ANSWER_QUERY = (
    "MATCH (t:Transaction {id: $id})\n"
    "WHERE t.pred_prob IS NULL\n"
    "SET t.pred_prob = $p, t.flag = $flag\n"
    "RETURN t.id AS id"
)
"""Record the first answer for a transaction that exists without one (e.g. bulk-loaded)."""


READ_LABEL_QUERY = (
    "MATCH (t:Transaction {id: $id})\n"
    "RETURN t.isFraud AS y, t.label_source AS s, t.label_version AS v"
)
"""A transaction's label state (no row: the transaction is not in the graph)."""

STORE_LABEL_QUERY = (
    "MATCH (t:Transaction {id: $id})\n"
    "WHERE coalesce(t.label_version, 0) = $seen\n"
    "SET t.isFraud = $y, t.label_source = $s, t.label_version = $v, t.labelled_at = $at\n"
    "RETURN t.id AS id"
)
"""Set a label version, guarded by the version the caller read (``$seen``, a double for the
reason given in :func:`insert_query`): no row when another writer moved it first."""


# --- state ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntityState:
    column: str
    key: str
    feat_sum: str | None  # base64 float32, None when the entity is not in the graph
    degree: int  # 0 when the entity is not in the graph
    first_dt: int | None = None  # earliest TransactionDT; None: not in the graph, or not kept

    @property
    def exists(self) -> bool:
        return self.feat_sum is not None


@dataclass(frozen=True)
class GraphRead:
    transaction_exists: bool
    pred_prob: float | None
    flag: str | None
    entities: tuple[EntityState, ...]


class GraphQueryError(Exception):
    """Neptune rejected a query as malformed or invalid (a bug, never retried)."""


class FraudGraph:
    """Queries for one transaction at a time over a ``neptunedata`` client (reused per process)."""

    def __init__(self, client, layout: GraphLayout | None = None):
        self.client = client
        self.layout = layout or graph_layout()
        self._types = {e.column: e for e in self.layout.entity_types}
        self.round_trips = 0
        self.seconds = 0.0  # wall time spent in graph calls (for the handler-only latency figure)

    def execute(self, query: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        try:
            response = self.client.execute_open_cypher_query(
                openCypherQuery=query, parameters=json.dumps(parameters, separators=(",", ":"))
            )
        finally:
            self.round_trips += 1
            self.seconds += time.perf_counter() - started
        return response["results"]

    def entity_keys(self, row: Mapping[str, Any]) -> list[tuple[EntityType, str]]:
        """(type, canonical key) of each entity the raw transaction row uses, schema order."""
        keys = []
        for entity in self.layout.entity_types:
            key = schema.canonical_key(row.get(entity.column))
            if key is not None:
                keys.append((entity, key))
        return keys

    def read(self, transaction_id: str, keys: Sequence[tuple[EntityType, str]]) -> GraphRead:
        parameters: dict[str, Any] = {"id": transaction_id}
        for i, (_, key) in enumerate(keys):
            parameters[f"k{i}"] = key
        rows = self.execute(read_query([e.label for e, _ in keys]), parameters)
        by_index = {int(row["i"]): row for row in rows}
        entities = []
        for i, (entity, key) in enumerate(keys):
            row = by_index.get(i)
            entities.append(
                EntityState(
                    column=entity.column,
                    key=key,
                    feat_sum=None if row is None else row["f"] or "",
                    degree=0 if row is None else int(row["d"] or 0),
                    first_dt=None if row is None or row.get("s") is None else int(row["s"]),
                )
            )
        transaction = by_index.get(-1) or {}
        pred_prob = transaction.get("p")
        return GraphRead(
            transaction_exists=bool(transaction.get("d")),
            pred_prob=None if pred_prob is None else float(pred_prob),
            flag=transaction.get("f"),
            entities=tuple(entities),
        )

    def insert(
        self,
        transaction_id: str,
        transaction_dt: int | None,
        updates: Sequence[tuple[EntityState, str | None]],
        *,
        pred_prob: float | None,
        flag: str | None,
    ) -> bool:
        """Insert the transaction, its entities and edges in one guarded query.

        ``updates`` pairs each entity state the read saw with its new ``feat_sum`` (``None``: a
        hub, linked but not updated). True when it wrote; False when the guard failed (the
        transaction exists by now, or an entity changed since the read): nothing was written.
        ``transaction_dt`` None: the transaction is stored at time 0 and moves no entity's
        ``first_dt``.
        """
        _check_finite(updates, pred_prob)
        known_time = transaction_dt is not None
        parameters: dict[str, Any] = {
            "id": transaction_id,
            "dt": int(transaction_dt) if known_time else 0,
            "fdt": int(transaction_dt) if known_time else -1,
        }
        entities = []
        for i, (state, new_sum) in enumerate(updates):
            if new_sum is None:
                mode = LINK
            elif state.exists:
                mode = UPDATE
                parameters[f"g{i}"] = float(state.degree)  # see insert_query: a double guard
            else:
                mode = NEW
            entities.append((self._types[state.column], mode))
            parameters[f"k{i}"] = state.key
            if mode != LINK:
                parameters[f"f{i}"] = new_sum
        scored = pred_prob is not None
        if scored:
            parameters["p"] = float(pred_prob)
            parameters["flag"] = flag
        rows = self.execute(insert_query(entities, scored=scored), parameters)
        return bool(rows)

    def entity_summaries(
        self, row: Mapping[str, Any], hub_threshold: int
    ) -> dict[str, dict[str, Any]]:
        """Each entity of a transaction row (raw column values): its key, whether the graph has
        it, its degree and its known fraud count, for the console's transaction detail.

        Two round trips: the scoring read (stored ``degree`` by key), then one count of linked
        and known-fraud transactions for the entities below ``hub_threshold``; a hub's degree is
        its stored one and its fraud count is not scanned (``known_fraud`` None).
        """
        keys = self.entity_keys(row)
        if not keys:
            return {}
        states = self.read("", keys).entities
        counted = [
            (i, entity)
            for i, ((entity, _), state) in enumerate(zip(keys, states, strict=True))
            if state.exists and state.degree < hub_threshold
        ]
        counts: dict[int, dict[str, Any]] = {}
        if counted:
            parameters = {f"k{j}": keys[i][1] for j, (i, _) in enumerate(counted)}
            query = entity_fraud_query([entity for _, entity in counted])
            for r in self.execute(query, parameters):
                counts[counted[int(r["i"])][0]] = {"n": int(r["n"]), "f": int(r["f"] or 0)}
        out = {}
        for i, ((_, key), state) in enumerate(zip(keys, states, strict=True)):
            summary: dict[str, Any] = {"key": key, "in_graph": state.exists}
            if i in counts:
                summary.update(degree=counts[i]["n"], known_fraud=counts[i]["f"])
            elif state.exists:
                summary.update(degree=state.degree, known_fraud=None, hub=True)
            else:
                summary.update(degree=0, known_fraud=0)
            out[state.column] = summary
        return out

    def store_answer(self, transaction_id: str, pred_prob: float, flag: str) -> bool:
        _check_finite((), pred_prob)
        rows = self.execute(
            STORE_ANSWER_QUERY, {"id": transaction_id, "p": float(pred_prob), "flag": flag}
        )
        return bool(rows)


@dataclass(frozen=True)
class TransactionLabel:
    """A transaction's label in the graph: ``is_fraud`` ``-1`` when unknown; ``version`` 0 when
    no label came through the label API (a bulk-loaded label, or none)."""

    is_fraud: int
    source: str | None
    version: int


def read_label(graph: FraudGraph, transaction_id: str) -> TransactionLabel | None:
    """The transaction's label state, None when the transaction is not in the graph."""
    rows = graph.execute(READ_LABEL_QUERY, {"id": transaction_id})
    if not rows:
        return None
    row = rows[0]
    is_fraud = row.get("y")
    return TransactionLabel(
        is_fraud=-1 if is_fraud is None else int(is_fraud),
        source=row.get("s"),
        version=int(row.get("v") or 0),
    )


def store_label(
    graph: FraudGraph,
    transaction_id: str,
    *,
    is_fraud: int,
    source: str,
    version: int,
    seen_version: int,
    labelled_at: str,
) -> bool:
    """Write label ``version`` if the graph still holds ``seen_version``; True when it wrote."""
    rows = graph.execute(
        STORE_LABEL_QUERY,
        {
            "id": transaction_id,
            "seen": float(seen_version),
            "y": int(is_fraud),
            "s": source,
            "v": int(version),
            "at": labelled_at,
        },
    )
    return bool(rows)


def _check_finite(
    updates: Sequence[tuple[EntityState, str | None]], pred_prob: float | None
) -> None:
    """Refuse to write a non-finite ``feat_sum`` or answer: one inf in an entity's sum would
    stay there and make every later transaction on that entity unscorable."""
    if pred_prob is not None and not math.isfinite(float(pred_prob)):
        raise ValueError(f"pred_prob {pred_prob} is not finite")
    for state, new_sum in updates:
        if new_sum is not None and not is_finite_vector(decode_vector(new_sum)):
            raise ValueError(f"{state.column} {state.key!r}: feat_sum is not finite")
