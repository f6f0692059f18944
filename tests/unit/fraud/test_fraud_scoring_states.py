"""What the model sees of each entity, and what the insert writes to it.

For a new transaction the model always sees each entity including that transaction
(``feat_sum + x``, ``degree + 1``, as full-graph inference would); the insert writes that state to
cards, addresses, e-mail domains and devices, creates entities never seen, and only links hubs and
existing entities of link-only columns (categories such as ``ProductCD``).
"""

from __future__ import annotations

import pytest

from vigil.fraud import schema
from vigil.fraud.features import (
    CategoricalFeature,
    Featurizer,
    FeaturizerSpec,
    NumericFeature,
    add_vectors,
    encode_vector,
)
from vigil.fraud.graph import EntityState, GraphRead
from vigil.fraud.scoring import Scorer, ScoringConfig

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
    entity_columns=["card1", "card4", "ProductCD", "DeviceInfo"],
)
X = [0.5, 1.0, 0.0]  # this transaction's feature vector (length of SPEC's vector)
STORED = [2.0, 3.0, 1.0]


def _scorer(**overrides) -> Scorer:
    config = ScoringConfig(
        graph_endpoint="http://127.0.0.1:9",  # never called here
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        hub_threshold=1_000,
        **overrides,
    )
    return Scorer(config, featurizer=Featurizer(SPEC))


FIRST_DT, DT = 1_000, 5_000  # a stored entity's first transaction time; this transaction's


def _state(column: str, degree: int) -> EntityState:
    return EntityState(
        column=column,
        key=f"{column}-key",
        feat_sum=encode_vector(STORED) if degree else None,
        degree=degree,
        first_dt=FIRST_DT if degree else None,
    )


def _states(scorer, *entities: EntityState, exists=False):
    read = GraphRead(transaction_exists=exists, pred_prob=None, flag=None, entities=entities)
    return scorer._scoring_states(read, X, DT)


def test_spec_vector_has_the_length_the_tests_assume():
    assert len(Featurizer(SPEC).transform({"TransactionAmt": 10.0, "ProductCD": "W"})) == len(X)


@pytest.mark.parametrize(
    ("column", "degree", "written"),
    [
        ("card1", 3, True),  # a card: updated online
        ("DeviceInfo", 0, True),  # never seen: created with this transaction
        ("ProductCD", 5, False),  # a category: linked only, whatever its degree
        ("card4", 0, True),  # a category value never seen: created so the edge has a node
        ("card1", 1_000, False),  # a hub (degree >= hub_threshold): linked only
    ],
)
def test_the_model_sees_the_entity_with_the_transaction_and_only_parties_are_written(
    column, degree, written
):
    scorer = _scorer()
    state = _state(column, degree)
    entities, updates = _states(scorer, state)
    with_transaction = encode_vector(add_vectors(STORED, X) if degree else X)
    assert entities[column] == {
        "key": state.key,
        "feat_sum": with_transaction,
        "degree": degree + 1,
        "age": float(DT - FIRST_DT) if degree else 0.0,  # a new entity: first seen now
    }
    assert updates == [(state, with_transaction if written else None)]


def test_a_transaction_already_in_the_graph_is_scored_on_the_stored_state_and_writes_nothing():
    scorer = _scorer()
    state = _state("card1", 3)
    entities, updates = _states(scorer, state, exists=True)
    assert entities["card1"] == {
        "key": state.key,
        "feat_sum": state.feat_sum,
        "degree": 3,
        "age": float(DT - FIRST_DT),
    }
    assert updates == []


def test_link_only_columns_come_from_the_environment():
    base = {
        "GRAPH_ENDPOINT": "https://neptune:8182",
        "SCORING_ENDPOINT_NAME": "vigil-fraud-rgcn",
        "FEATURIZER_SPEC": "s3://bucket/featurizer.json",
    }
    default = ScoringConfig.from_environment(base)
    assert default.link_only_columns == frozenset(schema.DEFAULT_LINK_ONLY_COLUMNS)
    assert set(schema.DEFAULT_LINK_ONLY_COLUMNS) <= set(schema.DEFAULT_ENTITY_COLUMNS)
    custom = ScoringConfig.from_environment({**base, "LINK_ONLY_COLUMNS": " card4, ProductCD "})
    assert custom.link_only_columns == {"card4", "ProductCD"}
    with pytest.raises(ValueError, match="card33"):
        ScoringConfig.from_environment({**base, "LINK_ONLY_COLUMNS": "card4,card33"})
    none = ScoringConfig.from_environment({**base, "LINK_ONLY_COLUMNS": ""})
    assert none.link_only_columns == frozenset()
    scorer = _scorer(link_only_columns=none.link_only_columns)
    state = _state("ProductCD", 5)
    _, updates = _states(scorer, state)
    assert updates[0][1] is not None  # with no link-only columns, a category is updated
