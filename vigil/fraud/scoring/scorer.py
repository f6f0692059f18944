"""The scorer: read the graph → invoke the endpoint → insert, with replays, fallbacks and the
optional Powertools idempotency record (see the package docstring for the steps)."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from vigil import aws
from vigil.fraud import schema
from vigil.fraud.contract import EXPLAIN_FIELD, ScoringSettings
from vigil.fraud.features import (
    Featurizer,
    NonFiniteFeature,
    add_vectors,
    decode_vector,
    encode_vector,
    is_finite_vector,
)
from vigil.fraud.graph import EntityState, FraudGraph, GraphRead, graph_layout
from vigil.fraud.scoring.endpoint import (
    ModelEndpoint,
    endpoint_request,
    explanation_of,
    pred_prob_of,
    threshold_of,
)
from vigil.fraud.scoring.event import InvalidTransaction
from vigil.fraud.scoring.faults import Budget, DependencyFailed, call_with_retries
from vigil.fraud.scoring.featurizer_source import FeaturizerSource

logger = Logger(child=True)

FLAG_FRAUD, FLAG_LEGIT, FLAG_REVIEW = "fraud", "legit", "review"
DEFAULT_THRESHOLD = 0.5


def first_seen(state: EntityState, transaction_dt: int | None) -> int | None:
    """The entity's ``first_dt`` once this transaction is in (what the insert will store): the
    smaller of the stored one and the transaction's time; a new entity's is the transaction's.
    None when unknown (an entity stored without one, or a transaction without a time)."""
    if not state.exists:
        return transaction_dt
    if state.first_dt is None or transaction_dt is None:
        return state.first_dt
    return min(state.first_dt, transaction_dt)


class _NotRecorded(Exception):
    """Carries a fallback answer out of the idempotent function, so it is not recorded."""

    def __init__(self, answer):
        super().__init__(answer.fallback)
        self.answer = answer


@dataclass
class Answer:
    id: str
    flag: str
    pred_prob: float | None
    replay: bool = False
    fallback: str | None = None
    explanation: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "flag": self.flag, "pred_prob": self.pred_prob}
        if self.fallback:
            body["fallback"] = self.fallback
        if self.explanation is not None:
            body["explanation"] = self.explanation
        return body


class Scorer:
    """Scores one transaction at a time; one instance per warm Lambda (clients reused)."""

    def __init__(
        self,
        config: ScoringSettings,
        *,
        featurizer: Featurizer | None = None,
        graph: FraudGraph | None = None,
        endpoint: ModelEndpoint | None = None,
    ):
        self.config = config
        self.featurizer_source: FeaturizerSource | None = None
        if featurizer is None:
            self.featurizer_source = FeaturizerSource(
                config.featurizer_spec, config.featurizer_refresh_s
            )
            featurizer = self.featurizer_source.featurizer
        self.featurizer = featurizer
        layout = graph_layout(featurizer.spec.entity_columns or None)
        if graph is None:
            graph = FraudGraph(
                aws.client(
                    "neptunedata",
                    endpoint_url=config.graph_endpoint,
                    connect_timeout=config.graph_timeout_ms / 1000,
                    read_timeout=config.graph_timeout_ms / 1000,
                    max_attempts=0,  # botocore retries off: ours are jittered, inside the budget
                ),
                layout,
            )
        if endpoint is None:
            endpoint = ModelEndpoint(
                aws.client(
                    "sagemaker-runtime",
                    connect_timeout=config.endpoint_timeout_ms / 1000,
                    read_timeout=config.endpoint_timeout_ms / 1000,
                    max_attempts=0,
                ),
                config.endpoint_name,
            )
        self.graph = graph
        self.endpoint = endpoint
        self._metrics = None

    def flag(self, pred_prob: float, model_threshold: float | None = None) -> str:
        """``fraud`` at or above ``FRAUD_THRESHOLD`` when set, else the model's own operating
        threshold (its endpoint answers it), else 0.5 (a model trained without one)."""
        threshold = self.config.threshold
        if threshold is None:
            threshold = model_threshold if model_threshold is not None else DEFAULT_THRESHOLD
        return FLAG_FRAUD if pred_prob >= threshold else FLAG_LEGIT

    def fallback(self, transaction_id: str, failure: DependencyFailed, metrics=None) -> Answer:
        flag = FLAG_REVIEW if self.config.fallback == "review" else FLAG_FRAUD
        reason = f"{failure.dependency}{failure.reason}"
        if metrics is not None:
            metrics.add_metric(name="ScoringFallback", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name=f"Fallback{reason}", unit=MetricUnit.Count, value=1)
        logger.error(
            "scoring fell back",
            extra={
                "transaction_id": transaction_id,
                "fallback": self.config.fallback,
                "reason": reason,
                "detail": failure.detail[:500],
            },
        )
        return Answer(id=transaction_id, flag=flag, pred_prob=None, fallback=reason)

    def _scoring_states(
        self, read: GraphRead, features: list[float], transaction_dt: int | None = None
    ) -> tuple[dict[str, dict[str, Any] | None], list[tuple[EntityState, str | None]]]:
        """Per entity column: the state the model sees, and the insert's new ``feat_sum``."""
        entities: dict[str, dict[str, Any] | None] = {c: None for c in self.graph.layout.columns}
        updates: list[tuple[EntityState, str | None]] = []
        for state in read.entities:
            if read.transaction_exists:
                # already in the graph: its stored state already counts this transaction
                entities[state.column] = {
                    "key": state.key,
                    "feat_sum": state.feat_sum,
                    "degree": state.degree,
                    "age": schema.entity_age(transaction_dt, state.first_dt),
                }
                continue
            stored = decode_vector(state.feat_sum, len(features)) if state.exists else None
            total = add_vectors(stored, features) if stored is not None else features
            if not is_finite_vector(total) and (stored is None or is_finite_vector(stored)):
                # finite inputs whose float32 sum overflows would leave the entity at inf, and
                # every later transaction on it unscorable: the request is refused instead
                raise InvalidTransaction(
                    [
                        {
                            "field": state.column,
                            "message": "would make this entity's feature sum not finite "
                            "(float32 overflow); check the transaction's numeric fields",
                        }
                    ]
                )
            new_sum = encode_vector(total)
            stored_bad = stored is not None and not is_finite_vector(total)
            # the model sees the entity including this transaction (as full-graph inference
            # would); a hub or a link-only column's entity keeps its stored state in the graph
            entities[state.column] = {
                "key": state.key,
                "feat_sum": new_sum,
                "degree": state.degree + 1,
                "age": schema.entity_age(transaction_dt, first_seen(state, transaction_dt)),
            }
            link_only = state.exists and (
                state.degree >= self.config.hub_threshold
                or state.column in self.config.link_only_columns
            )
            # a sum already not finite in the graph is not written again (only linked)
            updates.append((state, None if link_only or stored_bad else new_sum))
        return entities, updates

    def score(self, transaction: Mapping[str, Any], metrics=None, context=None) -> Answer:
        """Score a validated transaction (the output of :func:`parse_transaction`).

        With an idempotency table, a Powertools idempotency record per ``TransactionID`` answers
        replays without touching the graph or the endpoint, and marks a request in progress.
        The graph stays the source of truth: if the table is unreachable, or a duplicate arrives
        while the first is in progress, the graph's guarded insert still returns the first answer.
        Fallback answers are never recorded (a replay is scored again).
        """
        if self.config.idempotency_table is None:
            return self.score_in_graph(transaction, metrics)
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        self._metrics = metrics
        idempotent, idempotency_config = self._idempotent()
        if context is not None:
            idempotency_config.register_lambda_context(context)
        try:
            body = idempotent(transaction=dict(transaction))
        except _NotRecorded as not_recorded:
            return not_recorded.answer
        except IdempotencyAlreadyInProgressError:
            if metrics is not None:
                metrics.add_metric(name="IdempotencyInProgress", unit=MetricUnit.Count, value=1)
            return self.score_in_graph(transaction, metrics)
        except IdempotencyPersistenceLayerError as error:
            if metrics is not None:
                metrics.add_metric(name="IdempotencyStoreFailed", unit=MetricUnit.Count, value=1)
            logger.warning(
                "idempotency store failed; the graph guards replays",
                extra={"error": str(error)[:300]},
            )
            return self.score_in_graph(transaction, metrics)
        return Answer(
            id=body["id"],
            flag=body["flag"],
            pred_prob=body["pred_prob"],
            explanation=body.get("explanation"),
        )

    @functools.cache  # noqa: B019 - one per scorer, and a scorer lives as long as the container
    def _idempotent(self):
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(
            table_name=self.config.idempotency_table,
            boto3_client=aws.client(
                "dynamodb",
                connect_timeout=self.config.graph_timeout_ms / 1000,
                read_timeout=self.config.graph_timeout_ms / 1000,
                max_attempts=1,
            ),
        )
        config = IdempotencyConfig(
            event_key_jmespath=schema.ID_COLUMN,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self.config.idempotency_ttl_s,
        )

        @idempotent_function(
            data_keyword_argument="transaction", persistence_store=persistence, config=config
        )
        def score(transaction: dict) -> dict:
            answer = self.score_in_graph(transaction, self._metrics)
            if answer.fallback:
                raise _NotRecorded(answer)
            return answer.body()

        return score, config

    def score_in_graph(self, transaction: Mapping[str, Any], metrics=None) -> Answer:
        """Score with the graph as the only idempotency record (read → endpoint → insert)."""
        budget = Budget(self.config.latency_budget_ms / 1000)
        transaction_id = str(transaction[schema.ID_COLUMN])
        self._follow_published_spec(metrics)
        try:
            features = self.featurizer.transform(transaction)
        except NonFiniteFeature as error:
            raise InvalidTransaction([{"field": error.column, "message": str(error)}]) from None
        keys = self.graph.entity_keys(transaction)
        retry = functools.partial(
            call_with_retries, budget=budget, config=self.config, metrics=metrics
        )
        for attempt in range(self.config.insert_attempts):
            if attempt:
                # a concurrent writer got there first (mostly a shared entity such as an e-mail
                # domain below the hub threshold moved): wait a full-jitter backoff, so the
                # writers that collided do not collide again, then re-read (its answer wins, or
                # score again from the moved state) while the latency budget allows
                cap = self.config.backoff_base_ms * 2 ** (attempt - 1)
                delay = random.uniform(0, min(self.config.backoff_cap_ms, cap) / 1000)
                if budget.remaining() - delay < 0.25 * budget.seconds:
                    break
                time.sleep(delay)
            answer = self._attempt(transaction, transaction_id, features, keys, retry, metrics)
            if answer is not None:
                return answer
        return self.fallback(
            transaction_id,
            DependencyFailed("Graph", "Conflict", "the insert guard kept failing"),
            metrics,
        )

    def _follow_published_spec(self, metrics=None) -> None:
        """Switch to a newly published featurizer spec (and its graph layout, when the entity
        columns changed); see :class:`FeaturizerSource`."""
        if self.featurizer_source is None:
            return
        featurizer = self.featurizer_source.current(metrics)
        if featurizer is self.featurizer:
            return
        columns = featurizer.spec.entity_columns or None
        if columns != (self.featurizer.spec.entity_columns or None):
            self.graph = FraudGraph(self.graph.client, graph_layout(columns))
        self.featurizer = featurizer

    def _attempt(self, transaction, transaction_id, features, keys, retry, metrics):
        """Read → score → insert once; None when the insert guard failed (re-read and retry)."""
        try:
            read = retry("Graph", functools.partial(self.graph.read, transaction_id, keys))
        except DependencyFailed as failure:
            return self.fallback(transaction_id, failure, metrics)
        if read.pred_prob is not None:
            if metrics is not None:
                metrics.add_metric(name="Replay", unit=MetricUnit.Count, value=1)
            flag = read.flag or self.flag(read.pred_prob)
            return Answer(transaction_id, flag, read.pred_prob, replay=True)
        entities, updates = self._scoring_states(
            read, features, transaction.get(schema.TIME_COLUMN)
        )
        explain = bool(transaction.get(EXPLAIN_FIELD))
        request = endpoint_request(transaction, features, entities, explain=explain)
        try:
            reply = retry("Endpoint", functools.partial(self.endpoint.invoke, request))
            pred_prob = pred_prob_of(reply)
            answer = Answer(
                transaction_id,
                self.flag(pred_prob, threshold_of(reply)),
                pred_prob,
                explanation=explanation_of(reply) if explain else None,
            )
        except DependencyFailed as failure:
            answer = self.fallback(transaction_id, failure, metrics)
        except ValueError as error:
            failure = DependencyFailed("Endpoint", "BadAnswer", str(error))
            answer = self.fallback(transaction_id, failure, metrics)
        # a fallback answer is not stored: a replay scores the (then inserted) transaction again
        stored_prob = answer.pred_prob
        stored_flag = answer.flag if stored_prob is not None else None
        if read.transaction_exists:
            if stored_prob is None:
                return answer
            write = functools.partial(
                self.graph.store_answer, transaction_id, stored_prob, stored_flag
            )
        else:
            write = functools.partial(
                self.graph.insert,
                transaction_id,
                transaction.get(schema.TIME_COLUMN),
                updates,
                pred_prob=stored_prob,
                flag=stored_flag,
            )
        try:
            wrote = retry("Graph", write)
        except DependencyFailed as failure:
            # the answer stands; the graph misses this transaction until a replay inserts it
            if metrics is not None:
                metrics.add_metric(name="GraphWriteFailed", unit=MetricUnit.Count, value=1)
            logger.error(
                "graph write failed after scoring",
                extra={"transaction_id": transaction_id, "reason": failure.reason},
            )
            return answer
        if wrote:
            if metrics is not None:
                metrics.add_metric(name="Scored", unit=MetricUnit.Count, value=1)
            return answer
        if metrics is not None:
            metrics.add_metric(name="InsertConflict", unit=MetricUnit.Count, value=1)
        return None
