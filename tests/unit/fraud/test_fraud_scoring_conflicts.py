"""Insert guard misses (a concurrent writer moved a shared entity between the read and the
insert): the scorer waits a full-jitter backoff, re-reads, scores again and retries, inside the
latency budget; only a guard that keeps missing gives the fail-open answer (``GraphConflict``)."""

from __future__ import annotations

from vigil.fraud.features import Featurizer
from vigil.fraud.scoring import Scorer, ScoringConfig
from vigil.fraud.scoring import scorer as scorer_module

from .test_fraud_scoring_decision import SPEC, TRANSACTION, FixedEndpoint, MemoryGraph


class ContendedGraph(MemoryGraph):
    """Refuses the first ``misses`` inserts (guard missed), then accepts."""

    def __init__(self, misses: int):
        super().__init__()
        self.misses = misses
        self.reads = 0

    def read(self, transaction_id, keys):
        self.reads += 1
        return super().read(transaction_id, keys)

    def insert(self, transaction_id, transaction_dt, updates, *, pred_prob, flag):
        if self.misses:
            self.misses -= 1
            return False
        return super().insert(
            transaction_id, transaction_dt, updates, pred_prob=pred_prob, flag=flag
        )


def _score(graph, monkeypatch, **settings):
    delays: list[float] = []
    monkeypatch.setattr(scorer_module.time, "sleep", delays.append)
    endpoint = FixedEndpoint({"pred_prob": 0.2})
    config = ScoringConfig(
        graph_endpoint="http://127.0.0.1:9",
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        **settings,
    )
    scorer = Scorer(config, featurizer=Featurizer(SPEC), graph=graph, endpoint=endpoint)
    return scorer.score_in_graph(TRANSACTION), endpoint, delays


def test_guard_misses_are_retried_after_a_jittered_backoff_and_a_fresh_read(monkeypatch):
    graph = ContendedGraph(misses=4)
    answer, endpoint, delays = _score(graph, monkeypatch)
    assert answer.fallback is None and answer.pred_prob == 0.2
    assert graph.reads == endpoint.calls == 5  # each retry re-reads and scores again
    assert len(graph.inserts) == 1
    assert len(delays) == 4
    assert all(0 <= d <= cap for d, cap in zip(delays, (0.01, 0.02, 0.04, 0.08), strict=True))


def test_a_guard_that_keeps_missing_fails_open_after_insert_attempts(monkeypatch):
    graph = ContendedGraph(misses=10**6)
    answer, endpoint, delays = _score(graph, monkeypatch, insert_attempts=5)
    assert answer.pred_prob is None and answer.fallback is not None
    assert "Conflict" in answer.fallback
    assert graph.reads == endpoint.calls == 5 and not graph.inserts
    assert len(delays) == 4
