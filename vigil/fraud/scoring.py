"""Real-time fraud scoring: validate → read the graph → invoke the endpoint → insert → answer.

The scoring Lambda (``lambdas/fraud/score_transaction/handler.py``) is a thin Powertools wrapper
around :func:`handle_event`; the local demo and benchmark call the same code. One scored
transaction costs two graph round trips (a keyed read of the transaction and its entities, then
the guarded one-query insert — see ``vigil/fraud/graph.py``) and one endpoint call:

1. **Validate** the event (:class:`TransactionEvent`: IEEE-CIS columns only, strict types, finite
   numbers, bounded sizes). Bad input answers 400 naming the field and touches nothing.
2. **Read** the transaction and each entity it uses (``feat_sum``/``degree``). A transaction that
   already has an answer is a replay: the stored answer is returned and nothing is written.
3. **Gather** the endpoint request: the transaction's feature vector and, per entity, its state
   *including this transaction* — ``feat_sum + x``, ``degree + 1`` for a new transaction (what the
   graph will hold after the insert), the stored state for one already in the graph (bulk-loaded
   from the training graph, so the online score equals offline full-graph inference). Hubs
   (``degree >= hub_threshold``) and entities of link-only columns (categories such as the card
   brand or product code, ``schema.DEFAULT_LINK_ONLY_COLUMNS``) are scored the same way but not
   written: the insert links them and leaves their ``feat_sum``/``degree`` to the next ETL.
4. **Invoke** the SageMaker endpoint (``sagemaker-runtime`` InvokeEndpoint) → ``pred_prob``.
5. **Insert** the transaction, its entities and edges, and its answer, in one guarded query. If
   the guard fails (a concurrent writer), re-read: a stored answer is returned (the first answer
   wins), otherwise the transaction is scored again from the new state.

Faults: each graph and endpoint call is retried on timeouts, connection errors, 5xx and
throttling with full-jitter exponential backoff while the request's latency budget allows; then
the configured fallback answers (``review``: fail open, ``flag="review"``; ``closed``: fail closed,
``flag="fraud"``), with a metric and a log line. Nothing raises out of :func:`handle_event`.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from vigil import aws
from vigil.api_gateway import InvalidBody, is_proxy_event, json_body, json_response
from vigil.fraud import schema
from vigil.fraud.contract import (
    INPUT_COLUMNS,
    MAX_BODY_BYTES,
    MAX_STRING_LENGTH,
    STRING_COLUMNS,
    ScoringSettings,
    request_json_schema,  # noqa: F401 - part of this module's interface
)
from vigil.fraud.features import (
    Featurizer,
    FeaturizerSpec,
    add_vectors,
    decode_vector,
    encode_vector,
)
from vigil.fraud.graph import EntityState, FraudGraph, GraphRead, graph_layout

logger = Logger(child=True)

FLAG_FRAUD, FLAG_LEGIT, FLAG_REVIEW = "fraud", "legit", "review"

# --- the event ------------------------------------------------------------------------------------
FiniteNumber = Annotated[float | None, Field(default=None, allow_inf_nan=False)]
BoundedString = Annotated[str | None, Field(default=None, max_length=MAX_STRING_LENGTH)]


def _fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column in INPUT_COLUMNS:
        if column == schema.ID_COLUMN:
            fields[column] = (Annotated[int, Field(ge=0, lt=2**53)], ...)
        elif column == schema.TIME_COLUMN:
            fields[column] = (Annotated[int | None, Field(default=None, ge=0, lt=2**53)], None)
        elif column in STRING_COLUMNS:
            fields[column] = (BoundedString, None)
        else:
            fields[column] = (FiniteNumber, None)
    return fields


TransactionEvent: type[BaseModel] = create_model(
    "TransactionEvent",
    __config__=ConfigDict(extra="forbid", strict=True, frozen=True),
    __doc__=(
        "One transaction to score: IEEE-CIS transaction + identity columns (isFraud excluded). "
        "TransactionID is required (a non-negative integer); numbers must be finite JSON "
        "numbers, strings at most 256 characters; any other key is rejected."
    ),
    **_fields(),
)


class InvalidTransaction(ValueError):
    """The event is not a valid transaction; ``errors`` name each offending field."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def parse_transaction(payload: Any) -> dict[str, Any]:
    """Validate a decoded event body; returns the transaction's non-null fields."""
    if not isinstance(payload, Mapping):
        raise InvalidTransaction(
            [{"field": "body", "message": "must be a JSON object of IEEE-CIS columns"}]
        )
    try:
        model = TransactionEvent.model_validate(payload)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "body"
            message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append({"field": where, "message": message})
        raise InvalidTransaction(problems) from None
    return model.model_dump(exclude_none=True)


# --- configuration ------------------------------------------------------------------------------
# The scoring Lambda's settings: one model, written by the CDK construct, read here.
ScoringConfig = ScoringSettings


def _s3_object(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read_spec(location: str) -> tuple[str, str]:
    """(text, version) of the spec at a path or ``s3://`` URI; the version is the S3 ETag or
    the file's mtime and size."""
    if location.startswith("s3://"):
        bucket, key = _s3_object(location)
        response = aws.client("s3").get_object(Bucket=bucket, Key=key)
        return response["Body"].read().decode("utf-8"), response["ETag"]
    path = Path(location)
    stat = path.stat()
    return path.read_text(), f"{stat.st_mtime_ns}:{stat.st_size}"


def _spec_version(location: str) -> str:
    if location.startswith("s3://"):
        bucket, key = _s3_object(location)
        return aws.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
    stat = Path(location).stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


class FeaturizerSource:
    """The published featurizer spec, re-checked every ``refresh_s`` seconds.

    The training pipeline publishes a retrained run's spec to the same key once its model is
    InService (``pipeline.publish_featurizer``): the spec and the served model are a pair. A warm
    container that kept the spec it started with would send old-spec vectors to the new model
    for the rest of its life, so the source asks whether the object changed — one ``HeadObject``
    (its ETag) per interval, or the file's mtime and size locally — and reloads it when it did.
    A failed check or reload keeps the spec in hand (logged, counted) and tries again next
    interval: a scoring request never fails for it.
    """

    def __init__(
        self,
        location: str,
        refresh_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.location = location
        self.refresh_s = refresh_s
        self.clock = clock
        text, self.version = _read_spec(location)
        self.featurizer = Featurizer(FeaturizerSpec.from_json(text))
        self.checked_at = clock()
        self.reloads = 0

    def current(self, metrics=None) -> Featurizer:
        """The featurizer of the published spec (reloaded when it changed since the last check)."""
        now = self.clock()
        if now - self.checked_at < self.refresh_s:
            return self.featurizer
        self.checked_at = now
        try:
            if _spec_version(self.location) != self.version:
                text, version = _read_spec(self.location)
                self.featurizer = Featurizer(FeaturizerSpec.from_json(text))
                self.version = version
                self.reloads += 1
                logger.info(
                    "featurizer spec reloaded",
                    extra={"location": self.location, "version": version},
                )
                if metrics is not None:
                    metrics.add_metric(name="FeaturizerReloaded", unit=MetricUnit.Count, value=1)
        except Exception as error:  # keep scoring with the spec in hand
            logger.warning(
                "featurizer spec check failed; keeping the current spec",
                extra={"location": self.location, "error": str(error)[:300]},
            )
            if metrics is not None:
                metrics.add_metric(name="FeaturizerCheckFailed", unit=MetricUnit.Count, value=1)
        return self.featurizer


# --- faults ---------------------------------------------------------------------------------------
RETRYABLE_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ConcurrentModificationException",
    "ModelNotReadyException",
    "ServiceUnavailable",
    "InternalFailure",
}


class DependencyFailed(Exception):
    """A graph or endpoint call failed after its retries; ``reason`` is the metric suffix."""

    def __init__(self, dependency: str, reason: str, detail: str):
        super().__init__(f"{dependency} {reason}: {detail}")
        self.dependency = dependency
        self.reason = reason
        self.detail = detail


def classify(error: Exception) -> tuple[str, bool]:
    """(reason, retryable) of a failed boto3 call."""
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        return "Timeout", True
    if isinstance(error, EndpointConnectionError | ConnectionClosedError):
        return "Unavailable", True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error.response.get("Error", {}).get("Code", "")
        if status == 429 or code in ("ThrottlingException", "TooManyRequestsException"):
            return "Throttled", True
        if status >= 500 or code in RETRYABLE_CODES:
            return "ServerError", True
        return "Rejected", False
    if isinstance(error, BotoCoreError):
        return "ClientFailure", False
    return "Unexpected", False


@dataclass
class Budget:
    """The request's latency budget: retries stop when the next attempt would not fit."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


T = TypeVar("T")


def call_with_retries(
    dependency: str,
    call: Callable[[], T],
    *,
    budget: Budget,
    config: ScoringConfig,
    metrics=None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; retry retryable failures with full-jitter backoff inside ``budget``."""
    last_reason, last_detail = "Unexpected", ""
    for attempt in range(config.max_attempts):
        try:
            return call()
        except Exception as error:  # classified below; nothing escapes unclassified
            last_reason, retryable = classify(error)
            last_detail = f"{type(error).__name__}: {error}"
            logger.warning(
                "dependency call failed",
                extra={
                    "dependency": dependency,
                    "reason": last_reason,
                    "attempt": attempt + 1,
                    "error": last_detail[:500],
                },
            )
            if not retryable or attempt + 1 >= config.max_attempts:
                break
            cap = min(config.backoff_cap_ms, config.backoff_base_ms * 2**attempt) / 1000
            delay = random.uniform(0, cap)
            # the next attempt needs its delay plus (at least) a fast answer within the budget
            if budget.remaining() - delay < 0.05 * budget.seconds:
                last_reason = "BudgetExhausted" if last_reason != "Timeout" else last_reason
                break
            if metrics is not None:
                metrics.add_metric(name=f"{dependency}Retry", unit=MetricUnit.Count, value=1)
            sleep(delay)
    raise DependencyFailed(dependency, last_reason, last_detail)


# --- the endpoint ---------------------------------------------------------------------------------
class ModelEndpoint:
    """``sagemaker-runtime`` InvokeEndpoint with a JSON body (the request F1's inference reads)."""

    def __init__(self, client, endpoint_name: str):
        self.client = client
        self.endpoint_name = endpoint_name
        self.seconds = 0.0

    def invoke(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                Body=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
                ContentType="application/json",
                Accept="application/json",
            )
            return json.loads(response["Body"].read())
        finally:
            self.seconds += time.perf_counter() - started


def endpoint_request(
    transaction: Mapping[str, Any],
    features: list[float],
    entities: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """The InvokeEndpoint body for one transaction (see ``docs/fraud-serving.md``)."""
    return {
        "id": str(transaction[schema.ID_COLUMN]),
        "features": encode_vector(features),
        "entities": dict(entities),
    }


def _pred_prob(answer: Mapping[str, Any]) -> float:
    value = answer.get("pred_prob")
    if value is None and isinstance(answer.get("predictions"), list) and answer["predictions"]:
        value = answer["predictions"][0].get("pred_prob")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"endpoint answer has no finite pred_prob: {str(answer)[:200]}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"endpoint pred_prob {value} is outside [0, 1]")
    return float(value)


class _NotRecorded(Exception):
    """Carries a fallback answer out of the idempotent function, so it is not recorded."""

    def __init__(self, answer):
        super().__init__(answer.fallback)
        self.answer = answer


# --- the scorer -----------------------------------------------------------------------------------
@dataclass
class Answer:
    id: str
    flag: str
    pred_prob: float | None
    replay: bool = False
    fallback: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "flag": self.flag, "pred_prob": self.pred_prob}
        if self.fallback:
            body["fallback"] = self.fallback
        return body


class Scorer:
    """Scores one transaction at a time; one instance per warm Lambda (clients reused)."""

    def __init__(
        self,
        config: ScoringConfig,
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

    def flag(self, pred_prob: float) -> str:
        return FLAG_FRAUD if pred_prob >= self.config.threshold else FLAG_LEGIT

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
        self, read: GraphRead, features: list[float]
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
                }
                continue
            total = (
                add_vectors(decode_vector(state.feat_sum, len(features)), features)
                if state.exists
                else features
            )
            new_sum = encode_vector(total)
            # the model sees the entity including this transaction (as full-graph inference
            # would); a hub or a link-only column's entity keeps its stored state in the graph
            entities[state.column] = {
                "key": state.key,
                "feat_sum": new_sum,
                "degree": state.degree + 1,
            }
            link_only = state.exists and (
                state.degree >= self.config.hub_threshold
                or state.column in self.config.link_only_columns
            )
            updates.append((state, None if link_only else new_sum))
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
        return Answer(id=body["id"], flag=body["flag"], pred_prob=body["pred_prob"])

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
        features = self.featurizer.transform(transaction)
        keys = self.graph.entity_keys(transaction)
        retry = functools.partial(
            call_with_retries, budget=budget, config=self.config, metrics=metrics
        )
        for _ in range(self.config.insert_attempts):
            answer = self._attempt(transaction, transaction_id, features, keys, retry, metrics)
            if answer is not None:
                return answer
            # a concurrent writer got there first: re-read (its answer wins, or state moved)
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
        entities, updates = self._scoring_states(read, features)
        request = endpoint_request(transaction, features, entities)
        try:
            pred_prob = _pred_prob(
                retry("Endpoint", functools.partial(self.endpoint.invoke, request))
            )
            answer = Answer(transaction_id, self.flag(pred_prob), pred_prob)
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
                int(transaction.get(schema.TIME_COLUMN) or 0),
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


# --- the event → response -----------------------------------------------------------------------
def _response(status: int, body: dict[str, Any], api: bool) -> dict[str, Any]:
    if not api:
        return body if status == 200 else {"statusCode": status, **body}
    return json_response(status, body)


def _json_body(event: Mapping[str, Any]) -> Any:
    try:
        return json_body(event, max_bytes=MAX_BODY_BYTES)
    except InvalidBody as invalid:
        raise InvalidTransaction([{"field": "body", "message": invalid.message}]) from None


def handle_event(
    event: Any, scorer_factory: Callable[[], Scorer], metrics=None, context=None
) -> dict:
    """One Lambda event (API Gateway proxy or direct invoke) → the response; never raises."""
    api = is_proxy_event(event)
    if metrics is not None:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    try:
        payload = _json_body(event) if api else event
        transaction = parse_transaction(payload)
    except InvalidTransaction as invalid:
        if metrics is not None:
            metrics.add_metric(name="InvalidInput", unit=MetricUnit.Count, value=1)
        logger.info("rejected invalid transaction", extra={"errors": invalid.errors[:10]})
        return _response(
            400, {"message": "invalid transaction", "errors": invalid.errors[:20]}, api
        )
    try:
        answer = scorer_factory().score(transaction, metrics, context)
    except Exception:  # a bug or a broken configuration: answer, count, log — never crash
        logger.exception("scoring failed unexpectedly")
        if metrics is not None:
            metrics.add_metric(name="ScoringError", unit=MetricUnit.Count, value=1)
        return _response(500, {"message": "internal error"}, api)
    return _response(200, answer.body(), api)


def transaction_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A raw IEEE-CIS row (merged transaction + identity, e.g. from the generator or a CSV) as
    the API's JSON event: the label dropped, missing values (NaN, None) left out, numpy scalars as
    plain numbers — what a payment service would send."""
    event: dict[str, Any] = {}
    for column in INPUT_COLUMNS:
        value = row.get(column)
        if value is None or schema.is_missing(value):
            continue
        if hasattr(value, "item"):  # numpy scalar
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if column == schema.ID_COLUMN or column == schema.TIME_COLUMN:
            value = int(value)
        elif column in STRING_COLUMNS:
            value = str(value)
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            number = float(value)
            if not math.isfinite(number):
                continue
            value = number
        event[column] = value
    return event
