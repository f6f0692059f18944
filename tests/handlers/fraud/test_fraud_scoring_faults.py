"""Faults on the scoring path: graph or endpoint timeouts, 5xx and throttling.

The graph is the real Neptune stand-in (ladybug) and the endpoint the real SageMaker runtime
proxy, both on threads, reached by boto3's own clients; faults are injected into them the way
Neptune and SageMaker fail. The model container behind the proxy is absent here (its port is
closed), so every request that gets past the injected faults fails as an unreachable container
(503) — these tests are about retries, budgets and fallbacks; scoring itself is tested in
tests/integration/fraud/.
"""

from __future__ import annotations

import time

import pytest
from aws_lambda_powertools import Metrics

from tests.handlers.fraud.conftest import serve_standin
from vigil.fraud.features import CategoricalFeature, Featurizer, FeaturizerSpec, NumericFeature
from vigil.fraud.scoring import Scorer, ScoringConfig, handle_event

SPEC = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True), NumericFeature("C1", 2, 3)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C", "H"])],
    entity_columns=["card1", "ProductCD", "DeviceInfo"],
)


@pytest.fixture(scope="module")
def standin():
    server = serve_standin(SPEC.entity_columns)
    yield server
    server.stop()


@pytest.fixture
def metrics():
    recorder = Metrics(namespace="VigilTests", service="scoring-faults")
    recorder.clear_metrics()
    yield recorder
    recorder.clear_metrics()


def _scorer(standin, proxy, monkeypatch, **overrides) -> Scorer:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", proxy.endpoint_url)
    config = ScoringConfig(
        graph_endpoint=standin.endpoint_url,
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec="unused",
        **{
            "latency_budget_ms": 5_000,  # retry counts must not depend on machine load
            "graph_timeout_ms": 150,
            "endpoint_timeout_ms": 150,
            "backoff_base_ms": 5,
            "backoff_cap_ms": 20,
            **overrides,
        },
    )
    return Scorer(config, featurizer=Featurizer(SPEC))


def _transaction(tid: int) -> dict:
    return {
        "TransactionID": tid,
        "TransactionDT": 86_400 + tid,
        "TransactionAmt": 30.0,
        "ProductCD": "W",
        "card1": 4242,
        "DeviceInfo": "fault-device",
    }


def _count(standin, query="MATCH (t:Transaction) RETURN count(t) AS n") -> int:
    return standin.engine.execute(query)[0]["n"]


def _metric(metrics, name) -> float:
    return sum(metrics.metric_set.get(name, {}).get("Value", []))


def test_graph_server_errors_are_retried_then_fail_open(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch)
    before = _count(standin)
    proxy.inject_faults()
    standin.httpd.faults.arm({"status": 500, "code": "FailureByQueryException", "count": 3})
    answer = scorer.score(_transaction(1), metrics)
    assert answer.body() == {
        "id": "1",
        "flag": "review",
        "pred_prob": None,
        "fallback": "GraphServerError",
    }
    assert _metric(metrics, "GraphRetry") == 2  # 3 attempts in all
    assert _metric(metrics, "ScoringFallback") == 1
    assert _metric(metrics, "FallbackGraphServerError") == 1
    assert _count(standin) == before  # nothing written


def test_graph_throttling_recovers_within_the_budget(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch)
    standin.httpd.faults.arm({"status": 429, "count": 1})
    answer = scorer.score(_transaction(2), metrics)
    assert _metric(metrics, "GraphRetry") >= 1
    # the graph recovered; the endpoint (no container) did not: fail open, but the transaction
    # is inserted (fresh for the next one) without a stored answer
    assert answer.flag == "review" and answer.fallback == "EndpointServerError"
    rows = standin.engine.execute(
        "MATCH (t:Transaction {id: '2'})-[r]->(e) RETURN count(r) AS n, max(t.pred_prob) AS p"
    )
    assert rows == [{"n": 3, "p": None}]


def test_a_slow_graph_falls_back_inside_the_latency_budget(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch, latency_budget_ms=500, graph_timeout_ms=120)
    standin.httpd.faults.arm({"status": 200, "delay_s": 0.4, "count": 10})
    started = time.monotonic()
    answer = scorer.score(_transaction(3), metrics)
    elapsed = time.monotonic() - started
    standin.httpd.faults.reset()
    assert answer.fallback == "GraphTimeout" and answer.flag == "review"
    assert elapsed < 0.5 + 0.3, elapsed  # the budget (plus one read timeout of slack)
    assert _metric(metrics, "FallbackGraphTimeout") == 1


def test_endpoint_throttling_is_retried_then_fails_closed(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch, fallback="closed")
    proxy.inject_faults(status=429, count=5)
    answer = scorer.score(_transaction(4), metrics)
    proxy.inject_faults()
    assert answer.body() == {
        "id": "4",
        "flag": "fraud",
        "pred_prob": None,
        "fallback": "EndpointThrottled",
    }
    assert _metric(metrics, "EndpointRetry") == 2


def test_endpoint_timeouts_fall_back(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch, endpoint_timeout_ms=100)
    proxy.inject_faults(status=200, delay_s=0.3, count=3)
    answer = scorer.score(_transaction(5), metrics)
    assert answer.fallback == "EndpointTimeout"
    assert _metric(metrics, "FallbackEndpointTimeout") == 1


def test_a_rejected_query_is_not_retried(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch)
    standin.httpd.faults.arm({"status": 400, "code": "MalformedQueryException", "count": 1})
    answer = scorer.score(_transaction(6), metrics)
    assert answer.fallback == "GraphRejected"
    assert _metric(metrics, "GraphRetry") == 0


def test_the_handler_answers_200_with_the_fallback(standin, proxy, monkeypatch, metrics):
    scorer = _scorer(standin, proxy, monkeypatch)
    standin.httpd.faults.arm({"status": 503, "code": "ServiceUnavailable", "count": 3})
    event = {
        "httpMethod": "POST",
        "requestContext": {"requestId": "r"},
        "body": '{"TransactionID": 7, "card1": 1}',
    }
    response = handle_event(event, lambda: scorer, metrics)
    assert response["statusCode"] == 200
    assert '"flag":"review"' in response["body"]
