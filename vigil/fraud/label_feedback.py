"""Label feedback: ``POST /transactions/{id}/label`` → the S3 label log, then the graph.

The label Lambda (``lambdas/fraud/label_transaction/handler.py``) is a thin Powertools wrapper
around :func:`handle_label_event`. One request, in order:

1. **Validate** the path's id (digits, below 2**53) and the body (:class:`LabelRequest`): 400
   naming the field; nothing is read or written.
2. **Read** the transaction's label from the graph (``isFraud``, ``label_source``,
   ``label_version``). Not in the graph: 404.
3. **Catch the graph up with the log.** The log (``vigil.fraud.label_log``) is the source of
   truth and is written first; if it holds a version the graph does not show yet (an earlier
   request logged it and then failed on the graph write), that version is applied to the graph
   first and the request is judged against it.
4. **Judge** the request against the current label:

   * the same label (from any source) → **200** ``"result": "unchanged"``: nothing is written, a
     repeated request (a client retry, a second analyst agreeing) is idempotent;
   * a different known label (from the training data or an earlier feedback) without
     ``override`` → **409** naming the current label, its source and version: a chargeback that
     contradicts an analyst is for a person to settle, not for the last writer to win silently;
   * otherwise (no label yet, or ``override: true``) → log version ``n + 1`` with a conditional
     put (``If-None-Match: *``: a concurrent writer that logged ``n + 1`` first makes this
     request go round again and be judged against that label), then set it in the graph guarded
     by version ``n`` → **200** ``"labelled"`` or ``"relabelled"``.

Faults: graph and S3 calls are retried (full-jitter backoff inside a latency budget). A read or
log failure answers **503** with nothing written (retry the request). A graph write that fails
after the log write answers **503** too, saying the label is logged: the log already holds it
(the next pipeline run trains on it) and a retry of the same request brings the graph up to date
(step 3) and answers ``unchanged``. Nothing raises out of :func:`handle_label_event`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from pydantic import ValidationError

from vigil import aws
from vigil.api_gateway import InvalidBody, json_body, json_response
from vigil.fraud import label_log
from vigil.fraud.graph import FraudGraph, TransactionLabel, read_label, store_label
from vigil.fraud.labels import (
    MAX_LABEL_BODY_BYTES,
    LabelRequest,
    LabelSettings,
    parse_transaction_id,
)
from vigil.fraud.scoring.faults import Budget, DependencyFailed, call_with_retries

logger = Logger(child=True)

TRAINING_DATA_SOURCE = "training_data"
"""How an answer names the source of a label that did not come through this API."""


@dataclass(frozen=True)
class LabelAnswer:
    status: int
    body: dict[str, Any]


class LabelFeedback:
    """Stores labels; one instance per warm Lambda (clients reused)."""

    def __init__(self, settings: LabelSettings, *, graph: FraudGraph | None = None, s3=None):
        self.settings = settings
        if graph is None:
            graph = FraudGraph(
                aws.client(
                    "neptunedata",
                    endpoint_url=settings.graph_endpoint,
                    connect_timeout=settings.graph_timeout_ms / 1000,
                    read_timeout=settings.graph_timeout_ms / 1000,
                    max_attempts=0,  # botocore retries off: ours are jittered, inside the budget
                )
            )
        if s3 is None:
            s3 = aws.client(
                "s3",
                connect_timeout=settings.s3_timeout_ms / 1000,
                read_timeout=settings.s3_timeout_ms / 1000,
                max_attempts=0,
            )
        self.graph = graph
        self.s3 = s3

    # --- the log ---------------------------------------------------------------------------
    def _latest_logged(self, transaction_id: str) -> int:
        """The highest version the log holds for the transaction (0: none)."""
        prefix = label_log.transaction_prefix(transaction_id, self.settings.label_log_prefix)
        latest = 0
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.label_bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                version = label_log.version_of_key(item["Key"])
                if version is not None and version > latest:
                    latest = version
        return latest

    def _logged(self, transaction_id: str, version: int) -> dict[str, Any]:
        key = label_log.object_key(transaction_id, version, self.settings.label_log_prefix)
        response = self.s3.get_object(Bucket=self.settings.label_bucket, Key=key)
        return json.loads(response["Body"].read())

    def _log(self, record: Mapping[str, Any]) -> bool:
        """Write a new version; False when that version exists already (a concurrent writer)."""
        key = label_log.object_key(
            record[label_log.ID_FIELD],
            record[label_log.VERSION_FIELD],
            self.settings.label_log_prefix,
        )
        try:
            self.s3.put_object(
                Bucket=self.settings.label_bucket,
                Key=key,
                Body=json.dumps(record, separators=(",", ":")).encode("utf-8"),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.response.get("Error", {}).get("Code")
            if status == 412 or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    # --- one request -----------------------------------------------------------------------
    def label(
        self,
        transaction_id: str,
        request: LabelRequest,
        request_id: str | None = None,
        metrics=None,
    ) -> LabelAnswer:
        budget = Budget(self.settings.latency_budget_ms / 1000)
        retry = functools.partial(
            call_with_retries, budget=budget, config=self.settings, metrics=metrics
        )
        wanted = label_log.LABEL_VALUES[request.label]
        for _ in range(self.settings.rounds):
            try:
                current = retry("Graph", functools.partial(read_label, self.graph, transaction_id))
                if current is None:
                    return _answer(404, "no transaction with this id in the graph", transaction_id)
                logged = retry("LabelLog", functools.partial(self._latest_logged, transaction_id))
                if logged > current.version:
                    # an earlier request logged this version and did not reach the graph
                    record = retry(
                        "LabelLog", functools.partial(self._logged, transaction_id, logged)
                    )
                    self._apply(retry, transaction_id, record, current.version)
                    _count(metrics, "LabelGraphCaughtUp")
                    continue
            except DependencyFailed as failure:
                return _unavailable(failure, transaction_id, logged=False, metrics=metrics)

            if current.is_fraud == wanted:
                _count(metrics, "LabelUnchanged")
                return LabelAnswer(200, _body(transaction_id, "unchanged", current))
            if current.is_fraud in label_log.LABEL_WORDS and not request.override:
                _count(metrics, "LabelConflict")
                return LabelAnswer(
                    409,
                    {
                        "message": "the transaction already has a different label; "
                        'send "override": true to replace it',
                        **_body(transaction_id, "conflict", current),
                    },
                )
            record = label_log.label_record(
                transaction_id=transaction_id,
                label=request.label,
                source=request.source,
                version=current.version + 1,
                labelled_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                previous_label=label_log.LABEL_WORDS.get(current.is_fraud),
                previous_source=_source(current),
                override=request.override,
                request_id=request_id,
            )
            try:
                if not retry("LabelLog", functools.partial(self._log, record)):
                    _count(metrics, "LabelLogConflict")
                    continue  # another writer logged this version first: judge against it
            except DependencyFailed as failure:
                return _unavailable(failure, transaction_id, logged=False, metrics=metrics)
            try:
                self._apply(retry, transaction_id, record, current.version)
            except DependencyFailed as failure:
                return _unavailable(failure, transaction_id, logged=True, metrics=metrics)
            _count(metrics, "Labelled")
            result = "labelled" if record["previous_label"] is None else "relabelled"
            stored = TransactionLabel(wanted, request.source, record[label_log.VERSION_FIELD])
            return LabelAnswer(200, _body(transaction_id, result, stored))
        _count(metrics, "LabelContended")
        _count(metrics, "LabelNotStored")
        return _answer(
            503, "the label kept changing under concurrent writers; retry", transaction_id
        )

    def _apply(self, retry, transaction_id: str, record: Mapping[str, Any], seen: int) -> None:
        """Set a logged version in the graph (a guard miss means another writer applied it)."""
        retry(
            "Graph",
            functools.partial(
                store_label,
                self.graph,
                transaction_id,
                is_fraud=int(record[label_log.IS_FRAUD_FIELD]),
                source=str(record["source"]),
                version=int(record[label_log.VERSION_FIELD]),
                seen_version=seen,
                labelled_at=str(record["labelled_at"]),
            ),
        )


def _source(label: TransactionLabel) -> str | None:
    if label.version > 0:
        return label.source
    return TRAINING_DATA_SOURCE if label.is_fraud in label_log.LABEL_WORDS else None


def _body(transaction_id: str, result: str, label: TransactionLabel) -> dict[str, Any]:
    return {
        "id": transaction_id,
        "result": result,
        "label": label_log.LABEL_WORDS.get(label.is_fraud),
        "source": _source(label),
        "version": label.version,
    }


def _answer(status: int, message: str, transaction_id: str | None) -> LabelAnswer:
    return LabelAnswer(status, {"message": message, "id": transaction_id})


def _count(metrics, name: str) -> None:
    if metrics is not None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _unavailable(failure: DependencyFailed, transaction_id: str, *, logged: bool, metrics):
    _count(metrics, "LabelLoggedGraphBehind" if logged else "LabelNotStored")
    logger.error(
        "label request failed on a dependency",
        extra={
            "transaction_id": transaction_id,
            "dependency": failure.dependency,
            "reason": failure.reason,
            "logged": logged,
            "detail": failure.detail[:500],
        },
    )
    message = (
        "label logged, but the graph was not updated; retry this request to complete it"
        if logged
        else f"{failure.dependency} unavailable; nothing was stored, retry this request"
    )
    return LabelAnswer(503, {"message": message, "id": transaction_id, "logged": logged})


def _invalid(errors: list[dict[str, str]], metrics) -> LabelAnswer:
    _count(metrics, "InvalidInput")
    return LabelAnswer(400, {"message": "invalid label request", "errors": errors[:20]})


def parse_label_event(event: Mapping[str, Any]) -> tuple[str, LabelRequest]:
    """The proxy event's transaction id and body; raises ``ValueError`` with ``errors``."""
    errors: list[dict[str, str]] = []
    raw_id = (event.get("pathParameters") or {}).get("id")
    transaction_id = parse_transaction_id(raw_id)
    if transaction_id is None:
        errors.append({"field": "id", "message": "must be a TransactionID: digits, below 2**53"})
    request = None
    try:
        payload = json_body(event, max_bytes=MAX_LABEL_BODY_BYTES)
        if not isinstance(payload, Mapping):
            raise InvalidBody("must be a JSON object")
        request = LabelRequest.model_validate(payload)
    except InvalidBody as invalid:
        errors.append({"field": "body", "message": invalid.message})
    except ValidationError as error:
        for item in error.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "body"
            message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
            errors.append({"field": where, "message": message})
    if errors:
        raise InvalidLabelRequest(errors)
    return transaction_id, request


class InvalidLabelRequest(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def handle_label_event(
    event: Any, feedback_factory: Callable[[], LabelFeedback], metrics=None
) -> dict[str, Any]:
    """One API Gateway proxy event → the proxy response; never raises."""
    _count(metrics, "LabelRequests")
    if not isinstance(event, Mapping):
        answer = _invalid([{"field": "event", "message": "not an API Gateway request"}], metrics)
        return json_response(answer.status, answer.body)
    try:
        transaction_id, request = parse_label_event(event)
    except InvalidLabelRequest as invalid:
        logger.info("rejected invalid label request", extra={"errors": invalid.errors[:10]})
        answer = _invalid(invalid.errors, metrics)
        return json_response(answer.status, answer.body)
    request_id = (event.get("requestContext") or {}).get("requestId")
    try:
        answer = feedback_factory().label(transaction_id, request, request_id, metrics)
    except Exception:  # a bug or a broken configuration: answer, count, log — never crash
        logger.exception("label request failed unexpectedly")
        _count(metrics, "LabelError")
        return json_response(500, {"message": "internal error"})
    # accepted changes are recorded in the label log itself; refusals are worth a log line
    log = logger.info if answer.status in (404, 409) else logger.debug
    log(
        "label request answered",
        extra={
            "transaction_id": transaction_id,
            "status": answer.status,
            "result": answer.body.get("result"),
            "label": request.label,
            "source": request.source,
        },
    )
    return json_response(answer.status, answer.body)
