"""The fraud endpoint's request/response schema and prediction (docs/fraud-serving.md).

``inference/fraud/inference.py`` is a thin SageMaker wrapper around this module; the scoring
Lambda builds requests with :func:`vigil.fraud.scoring.endpoint_request` (torch-free, so the
Lambda needs no torch). Pure Python + torch (no DGL, no numpy).

Request (``application/json``), one instance or ``{"instances": [...]}``::

    {
      "id": "3663549",                       # echoed back (string or number; optional)
      "transaction": {"TransactionAmt": 49.0, "ProductCD": "W", "card1": 13926, ...},
      "features": [0.12, ...] | "<base64 float32>",   # instead of "transaction" (optional)
      "entities": {                          # the target's graph context, per entity type
        "card1": {"key": "13926", "feat_sum": "<base64 float32>", "degree": 12,
                  "age": 86400},              # optional: TransactionDT - the entity's first_dt
        "card2": {"key": "555", "feat_sum": "...", "degree": 4, "first_dt": 90000},
        "addr1": {"key": "315"},             # no feat_sum: the target is its only transaction
        "DeviceInfo": null,                  # no such entity (missing value)
        "P_emaildomain": [{"key": "a.com", "feat_sum": [...], "degree": 3}, ...]
      },
      "explain": true                        # optional: add each entity's contribution
    }

``feat_sum``/``degree``/``first_dt`` are the entity's graph state INCLUDING the target (the
scoring path inserts the transaction first). An entity's ``age`` (seconds since its first
transaction) is ``age`` when given, else the transaction's ``TransactionDT - first_dt``, else
unknown; a fresh entity (no ``feat_sum``) has age 0. Entity types the request leaves out take their key from the
``transaction`` fields, as new entities. A key the model has never seen uses the per-type mean
embedding. Response: ``{"id", "pred_prob", "threshold", "unseen_entities"}`` (or
``{"predictions": [...]}``): ``pred_prob`` is the calibrated probability, ``threshold`` the
model's operating threshold (absent for a model trained without one), and with ``explain`` an
``explanation`` (:func:`explain`).
Malformed requests raise :class:`vigil.serving_errors.BadRequest` (HTTP 400, message first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from vigil.fraud.calibration import PlattCalibration
from vigil.fraud.features import Featurizer, FeaturizerSpec, decode_vector
from vigil.fraud.model import FraudModelBundle
from vigil.fraud.schema import TIME_COLUMN, canonical_key, entity_age
from vigil.serving_errors import BadRequest

CONTENT_TYPE = "application/json"
MAX_INSTANCES = 1000


@dataclass
class ParsedInstance:
    id: object
    features: list[float]
    context: dict[str, list[tuple[int | None, torch.Tensor | None, int, float]]]
    unseen: list[str]
    keys: dict[str, list[str]]
    explain: bool = False


class FraudPredictor:
    """A loaded model bundle plus its featurizer; turns request bodies into predictions."""

    def __init__(self, bundle: FraudModelBundle):
        self.bundle = bundle
        self.model = bundle.model
        self.dim = bundle.model.in_dim
        self.calibration = PlattCalibration.from_dict(bundle.calibration)
        self.featurizer = (
            Featurizer(FeaturizerSpec.from_dict(bundle.featurizer)) if bundle.featurizer else None
        )
        if self.featurizer is not None and self.featurizer.dim != self.dim:
            raise ValueError(
                f"featurizer gives {self.featurizer.dim} features, model wants {self.dim}"
            )
        if bundle.kind == "rgcn" and bundle.model.config.n_layers > 2:
            raise ValueError("the fraud endpoint serves 1- or 2-layer models only")

    @classmethod
    def load(cls, model_dir: str | Path) -> FraudPredictor:
        return cls(FraudModelBundle.load(model_dir))

    # -- parsing -------------------------------------------------------------------------------
    def parse_body(self, body: bytes | str, content_type: str | None) -> tuple[list, bool]:
        """(instances, batched) from a request body; raises BadRequest when malformed."""
        media = (content_type or CONTENT_TYPE).split(";", 1)[0].strip().lower()
        if media != CONTENT_TYPE:
            raise BadRequest(f"unsupported content type {content_type!r}: send {CONTENT_TYPE}", 415)
        try:
            payload = json.loads(
                body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
            )
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from None
        if isinstance(payload, Mapping) and "instances" in payload:
            instances = payload["instances"]
            if not isinstance(instances, list) or not instances:
                raise BadRequest("'instances' must be a non-empty list")
            if len(instances) > MAX_INSTANCES:
                raise BadRequest(f"at most {MAX_INSTANCES} instances per request")
            return [self.parse_instance(x, i) for i, x in enumerate(instances)], True
        return [self.parse_instance(payload, None)], False

    def parse_instance(self, item, position: int | None) -> ParsedInstance:
        where = "request" if position is None else f"instances[{position}]"
        if not isinstance(item, Mapping):
            raise BadRequest(f"{where} must be a JSON object")
        unknown = set(item) - {"id", "transaction", "features", "entities", "explain"}
        if unknown:
            raise BadRequest(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        transaction = item.get("transaction")
        if transaction is not None and not isinstance(transaction, Mapping):
            raise BadRequest(f"{where}.transaction must be an object of raw IEEE-CIS fields")
        features = self._features(item.get("features"), transaction, where)
        entities = item.get("entities") or {}
        if not isinstance(entities, Mapping):
            raise BadRequest(f"{where}.entities must be an object keyed by entity type")
        explain = item.get("explain", False)
        if not isinstance(explain, bool):
            raise BadRequest(f"{where}.explain must be true or false")
        types = self.model.entity_types
        unknown_types = set(entities) - set(types)
        if unknown_types:
            raise BadRequest(
                f"{where}.entities has unknown entity type(s) {sorted(unknown_types)}; "
                f"the model knows {types}"
            )
        context: dict[str, list] = {}
        keys: dict[str, list[str]] = {}
        unseen: list[str] = []
        for etype in types:
            if etype in entities:
                value = entities[etype]
                items = value if isinstance(value, list) else [] if value is None else [value]
            elif transaction is not None and canonical_key(transaction.get(etype)) is not None:
                items = [{"key": transaction.get(etype)}]
            else:
                items = []
            parsed, parsed_keys = [], []
            transaction_dt = None if transaction is None else transaction.get(TIME_COLUMN)
            for j, entity in enumerate(items):
                key, state = self._entity(
                    entity, etype, f"{where}.entities.{etype}[{j}]", transaction_dt
                )
                parsed.append(state)
                parsed_keys.append(key)
                if state[0] is None:
                    unseen.append(etype)
            context[etype] = parsed
            keys[etype] = parsed_keys
        return ParsedInstance(item.get("id"), features, context, sorted(set(unseen)), keys, explain)

    def _features(self, features, transaction, where: str) -> list[float]:
        if features is not None:
            if isinstance(features, str):
                try:
                    values = decode_vector(features, self.dim)
                except ValueError as error:
                    raise BadRequest(f"{where}.features: {error}") from None
                return self._finite_floats(values, f"{where}.features")
            if isinstance(features, list):
                if len(features) != self.dim:
                    raise BadRequest(
                        f"{where}.features has {len(features)} values, expected {self.dim}"
                    )
                values = features
            else:
                raise BadRequest(f"{where}.features must be a list of numbers or a base64 string")
            return self._finite(values, f"{where}.features")
        if transaction is None:
            raise BadRequest(f"{where} needs 'transaction' (raw fields) or 'features'")
        if self.featurizer is None:
            raise BadRequest("this model has no featurizer: send 'features'")
        return self.featurizer.transform(transaction)

    def _entity(self, entity, etype: str, where: str, transaction_dt=None):
        if not isinstance(entity, Mapping) or "key" not in entity:
            raise BadRequest(f"{where} must be an object with 'key' (and 'feat_sum', 'degree')")
        key = canonical_key(entity["key"])
        if key is None:
            raise BadRequest(f"{where}.key is missing or empty")
        index = self.bundle.index_of(etype, key)
        age = self._age(entity, where, transaction_dt)
        feat_sum, degree = entity.get("feat_sum"), entity.get("degree")
        if feat_sum is None:
            return key, (index, None, 1, 0.0)
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise BadRequest(f"{where}.degree must be a positive integer when feat_sum is given")
        if isinstance(feat_sum, str):
            try:
                values = decode_vector(feat_sum, self.dim)
            except ValueError as error:
                raise BadRequest(f"{where}.feat_sum: {error}") from None
            values = self._finite_floats(values, f"{where}.feat_sum")
            return key, (index, torch.tensor(values, dtype=torch.float32) / degree, degree, age)
        if isinstance(feat_sum, list) and len(feat_sum) == self.dim:
            values = feat_sum
        else:
            raise BadRequest(
                f"{where}.feat_sum must be base64 float32 or a list of {self.dim} numbers"
            )
        values = self._finite(values, f"{where}.feat_sum")
        return key, (index, torch.tensor(values, dtype=torch.float32) / degree, degree, age)

    @staticmethod
    def _age(entity: Mapping, where: str, transaction_dt) -> float:
        """The entity's age in seconds (NaN when unknown: the trees' missing-value branch)."""
        age, first_dt = entity.get("age"), entity.get("first_dt")
        if age is not None:
            if isinstance(age, bool) or not isinstance(age, int | float) or not age >= 0:
                raise BadRequest(f"{where}.age must be a number of seconds >= 0")
            if not math.isfinite(age):
                raise BadRequest(f"{where}.age must be finite")
            return float(age)
        if first_dt is not None and (isinstance(first_dt, bool) or not isinstance(first_dt, int)):
            raise BadRequest(f"{where}.first_dt must be an integer TransactionDT")
        known = entity_age(transaction_dt, first_dt)
        return math.nan if known is None else known

    @staticmethod
    def _finite_floats(values: list[float], where: str) -> list[float]:
        """A decoded base64 vector holds floats only: just check they are finite."""
        if not all(map(math.isfinite, values)):
            raise BadRequest(f"{where} must hold finite numbers only")
        return values

    @staticmethod
    def _finite(values, where: str) -> list[float]:
        out = []
        for value in values:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise BadRequest(f"{where} must hold finite numbers only")
            out.append(float(value))
        return out

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, instances: list[ParsedInstance]) -> list[dict]:
        features = torch.tensor([p.features for p in instances], dtype=torch.float32)
        logits = self.model.logits(features, [p.context for p in instances]).tolist()
        out = []
        for b, (p, logit) in enumerate(zip(instances, logits, strict=True)):
            answer = {"id": p.id, "pred_prob": self.calibration.prob(logit)}
            if self.bundle.threshold is not None:
                answer["threshold"] = self.bundle.threshold
            answer["unseen_entities"] = p.unseen
            if p.explain:
                answer["explanation"] = self.explain(features[b], p, logit)
            out.append(answer)
        return out

    def explain(self, features: torch.Tensor, instance: ParsedInstance, logit: float) -> dict:
        """The explanation of one answer (:func:`entity_contributions`, documented there), with
        each entity's key, degree (including this transaction) and labelled-fraud history."""
        ((full, base, slots),) = entity_contributions(
            self.model, self.calibration, features.unsqueeze(0), [instance.context], [logit]
        )
        entities = []
        for etype, j, contribution in slots:
            index, _, degree, age = instance.context[etype][j]
            labelled, frauds = self._label_history(etype, index)
            entities.append(
                {
                    "type": etype,
                    "key": instance.keys[etype][j],
                    "degree": degree,
                    "age_s": age if math.isfinite(age) else None,
                    "known": index is not None,
                    "labelled": labelled,
                    "fraud_share": frauds / labelled if labelled else None,
                    "contribution": contribution,
                }
            )
        entities.sort(key=lambda e: -abs(e["contribution"]))
        return {
            "logit": full,
            "base_logit": base,
            "interaction": full - base - sum(e["contribution"] for e in entities),
            "entities": entities,
        }

    def _label_history(self, etype: str, index: int | None) -> tuple[int, int]:
        if index is None or not self.bundle.entity_labels:
            return 0, 0
        labelled, frauds = self.bundle.entity_labels[etype][index]
        return int(labelled), int(frauds)

    def __call__(self, body: bytes | str, content_type: str | None = CONTENT_TYPE) -> dict:
        instances, batched = self.parse_body(body, content_type)
        predictions = self.predict(instances)
        return {"predictions": predictions} if batched else predictions[0]


FRESH_ENTITY = (None, None, 1, 0.0)
"""An entity as the model sees a brand-new one: unseen index, its only transaction the target
(so first seen now: age 0)."""


def entity_contributions(
    model, calibration: PlattCalibration, features: torch.Tensor, contexts, raw_logits=None
):
    """Per target: ``(logit, base_logit, [(etype, j, contribution), ...])``, all in calibrated
    log-odds (``logit(pred_prob)``).

    ``contribution`` of the ``j``-th entity of type ``etype``: the logit minus the logit with that
    entity replaced by :data:`FRESH_ENTITY` (unseen by the model, its only transaction the target:
    what the model would say of a brand-new card or device). ``base_logit``: every entity fresh.
    What the entities do only together is ``logit - base_logit - Σ contribution`` (the
    explanation's ``interaction``; 0 with a single entity). One batched model call of
    ``B · (entities + 2)`` rows. ``raw_logits``: the targets' model logits when already known
    (the answer's own ``pred_prob`` then matches ``logit`` to the last bit).
    """
    rows, variants, layout = [], [], []
    for b, context in enumerate(contexts):
        slots = [(t, j) for t, entities in context.items() for j in range(len(entities))]
        start = len(variants)
        variants.append(context)
        for etype, j in slots:
            changed = {t: list(entities) for t, entities in context.items()}
            changed[etype][j] = FRESH_ENTITY
            variants.append(changed)
        variants.append({t: [FRESH_ENTITY] * len(e) for t, e in context.items()})
        rows.extend([b] * (len(slots) + 2))
        layout.append((start, slots))
    raw = model.logits(features[torch.tensor(rows, dtype=torch.long)], variants).tolist()
    out = []
    for b, (start, slots) in enumerate(layout):
        full = calibration.logit(raw[start] if raw_logits is None else raw_logits[b])
        base = calibration.logit(raw[start + len(slots) + 1])
        out.append(
            (
                full,
                base,
                [
                    (etype, j, full - calibration.logit(raw[start + 1 + k]))
                    for k, (etype, j) in enumerate(slots)
                ],
            )
        )
    return out


def add_serving_code(model_dir: str | Path, entry_point: str | Path) -> Path:
    """Write the model's ``code/`` into ``model_dir``: ``entry_point`` (the caller's inference.py)
    as ``code/inference.py`` and the vigil modules it imports."""
    from vigil.packaging import add_inference_code

    root = Path(__file__).resolve().parents[2]
    return add_inference_code(
        model_dir,
        entry_point=entry_point,
        code_files={"vigil/serving_errors.py": root / "vigil" / "serving_errors.py"},
        packages=["vigil.fraud"],
    )
