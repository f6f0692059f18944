"""The graph queries name their variables exactly as they declare them.

Neptune's openCypher matches variable names case-sensitively; the local engine (ladybug) does
not, so a query that says ``T.id`` after declaring ``(t:Transaction …)`` passes every local test
and fails on Neptune. This checks the text the scoring path sends."""

from __future__ import annotations

import re

import pytest

from vigil.fraud.graph import LINK, NEW, UPDATE, graph_layout, insert_query, read_query

DECLARED = re.compile(r"\((\w+):\w+")  # (t:Transaction …), (e0:Card1 …)
REFERENCED = re.compile(r"(?<![\w$.])([A-Za-z]\w*)\.\w+")  # t.id, e0.degree
ALIASED = re.compile(r"\bAS (\w+)")  # RETURN t.id AS id


def _check(query: str) -> None:
    declared = set(DECLARED.findall(query))
    referenced = set(REFERENCED.findall(query))
    assert referenced <= declared, (sorted(referenced - declared), query)
    assert all(alias == alias.lower() for alias in ALIASED.findall(query)), query


@pytest.mark.parametrize("modes", [(NEW,), (UPDATE,), (LINK,), (NEW, UPDATE, LINK)])
@pytest.mark.parametrize("scored", [True, False])
def test_the_insert_references_only_declared_variables(modes, scored):
    entities = list(zip(graph_layout().entity_types, modes, strict=False))
    _check(insert_query(entities, scored=scored))


def test_the_read_references_only_declared_variables():
    _check(read_query([e.label for e in graph_layout().entity_types[:3]]))
