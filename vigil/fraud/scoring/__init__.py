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
   A transaction whose feature vector, or any entity sum including it, is not finite in
   float32 (finite JSON numbers can overflow it) answers 400 naming the field; nothing is written.
4. **Invoke** the SageMaker endpoint (``sagemaker-runtime`` InvokeEndpoint) → ``pred_prob``.
5. **Insert** the transaction, its entities and edges, and its answer, in one guarded query. If
   the guard fails (a concurrent writer), re-read: a stored answer is returned (the first answer
   wins), otherwise the transaction is scored again from the new state.

Faults: each graph and endpoint call is retried on timeouts, connection errors, 5xx and
throttling with full-jitter exponential backoff while the request's latency budget allows; then
the configured fallback answers (``review``: fail open, ``flag="review"``; ``closed``: fail closed,
``flag="fraud"``), with a metric and a log line. Nothing raises out of :func:`handle_event`.

One module per concern: ``event`` (the request and its validation), ``featurizer_source`` (the
published spec), ``faults`` (classification, budget, retries), ``endpoint`` (the SageMaker call),
``scorer`` (the steps above) and ``api`` (event → response). The scoring Lambda's settings are
``vigil.fraud.contract.ScoringSettings`` (``ScoringConfig`` here).
"""

from vigil.fraud.contract import MAX_BODY_BYTES, MAX_STRING_LENGTH, request_json_schema
from vigil.fraud.contract import ScoringSettings as ScoringConfig
from vigil.fraud.scoring.api import handle_event
from vigil.fraud.scoring.endpoint import ModelEndpoint, endpoint_request
from vigil.fraud.scoring.event import (
    InvalidTransaction,
    TransactionEvent,
    parse_transaction,
    transaction_event,
)
from vigil.fraud.scoring.faults import Budget, DependencyFailed, call_with_retries, classify
from vigil.fraud.scoring.featurizer_source import FeaturizerSource
from vigil.fraud.scoring.scorer import FLAG_FRAUD, FLAG_LEGIT, FLAG_REVIEW, Answer, Scorer

__all__ = [
    "FLAG_FRAUD",
    "FLAG_LEGIT",
    "FLAG_REVIEW",
    "MAX_BODY_BYTES",
    "MAX_STRING_LENGTH",
    "Answer",
    "Budget",
    "DependencyFailed",
    "FeaturizerSource",
    "InvalidTransaction",
    "ModelEndpoint",
    "Scorer",
    "ScoringConfig",
    "TransactionEvent",
    "call_with_retries",
    "classify",
    "endpoint_request",
    "handle_event",
    "parse_transaction",
    "request_json_schema",
    "transaction_event",
]
