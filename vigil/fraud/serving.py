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
        "card1": {"key": "13926", "feat_sum": "<base64 float32>", "degree": 12},
        "addr1": {"key": "315"},             # no feat_sum: the target is its only transaction
        "DeviceInfo": null,                  # no such entity (missing value)
        "P_emaildomain": [{"key": "a.com", "feat_sum": [...], "degree": 3}, ...]
      }
    }

``feat_sum``/``degree`` are the entity's graph state INCLUDING the target (the scoring path
inserts the transaction first). Entity types the request leaves out take their key from the
``transaction`` fields, as new entities. A key the model has never seen uses the per-type mean
embedding. Response: ``{"id", "pred_prob", "unseen_entities"}`` (or ``{"predictions": [...]}``).
Malformed requests raise :class:`vigil.serving_errors.BadRequest` (HTTP 400, message first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from vigil.fraud.features import Featurizer, FeaturizerSpec, decode_vector
from vigil.fraud.model import FraudModelBundle
from vigil.fraud.schema import canonical_key
from vigil.serving_errors import BadRequest

CONTENT_TYPE = "application/json"
MAX_INSTANCES = 1000


@dataclass
class ParsedInstance:
    id: object
    features: list[float]
    context: dict[str, list[tuple[int | None, torch.Tensor | None]]]
    unseen: list[str]


class FraudPredictor:
    """A loaded model bundle plus its featurizer; turns request bodies into predictions."""

    def __init__(self, bundle: FraudModelBundle):
        self.bundle = bundle
        self.model = bundle.model
        self.dim = bundle.model.config.in_dim
        self.featurizer = (
            Featurizer(FeaturizerSpec.from_dict(bundle.featurizer)) if bundle.featurizer else None
        )
        if self.featurizer is not None and self.featurizer.dim != self.dim:
            raise ValueError(
                f"featurizer gives {self.featurizer.dim} features, model wants {self.dim}"
            )
        if bundle.model.config.n_layers > 2:
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
        unknown = set(item) - {"id", "transaction", "features", "entities"}
        if unknown:
            raise BadRequest(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        transaction = item.get("transaction")
        if transaction is not None and not isinstance(transaction, Mapping):
            raise BadRequest(f"{where}.transaction must be an object of raw IEEE-CIS fields")
        features = self._features(item.get("features"), transaction, where)
        entities = item.get("entities") or {}
        if not isinstance(entities, Mapping):
            raise BadRequest(f"{where}.entities must be an object keyed by entity type")
        types = self.model.config.entity_types
        unknown_types = set(entities) - set(types)
        if unknown_types:
            raise BadRequest(
                f"{where}.entities has unknown entity type(s) {sorted(unknown_types)}; "
                f"the model knows {types}"
            )
        context: dict[str, list] = {}
        unseen: list[str] = []
        for etype in types:
            if etype in entities:
                value = entities[etype]
                items = value if isinstance(value, list) else [] if value is None else [value]
            elif transaction is not None and canonical_key(transaction.get(etype)) is not None:
                items = [{"key": transaction.get(etype)}]
            else:
                items = []
            parsed = []
            for j, entity in enumerate(items):
                parsed.append(self._entity(entity, etype, f"{where}.entities.{etype}[{j}]"))
                if parsed[-1][0] is None:
                    unseen.append(etype)
            context[etype] = parsed
        return ParsedInstance(item.get("id"), features, context, sorted(set(unseen)))

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

    def _entity(self, entity, etype: str, where: str):
        if not isinstance(entity, Mapping) or "key" not in entity:
            raise BadRequest(f"{where} must be an object with 'key' (and 'feat_sum', 'degree')")
        key = canonical_key(entity["key"])
        if key is None:
            raise BadRequest(f"{where}.key is missing or empty")
        index = self.bundle.index_of(etype, key)
        feat_sum, degree = entity.get("feat_sum"), entity.get("degree")
        if feat_sum is None:
            return index, None
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise BadRequest(f"{where}.degree must be a positive integer when feat_sum is given")
        if isinstance(feat_sum, str):
            try:
                values = decode_vector(feat_sum, self.dim)
            except ValueError as error:
                raise BadRequest(f"{where}.feat_sum: {error}") from None
            values = self._finite_floats(values, f"{where}.feat_sum")
            return index, torch.tensor(values, dtype=torch.float32) / degree
        if isinstance(feat_sum, list) and len(feat_sum) == self.dim:
            values = feat_sum
        else:
            raise BadRequest(
                f"{where}.feat_sum must be base64 float32 or a list of {self.dim} numbers"
            )
        values = self._finite(values, f"{where}.feat_sum")
        return index, torch.tensor(values, dtype=torch.float32) / degree

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
        probs = self.model.score_targets(features, [p.context for p in instances])
        return [
            {"id": p.id, "pred_prob": float(prob), "unseen_entities": p.unseen}
            for p, prob in zip(instances, probs.tolist(), strict=True)
        ]

    def __call__(self, body: bytes | str, content_type: str | None = CONTENT_TYPE) -> dict:
        instances, batched = self.parse_body(body, content_type)
        predictions = self.predict(instances)
        return {"predictions": predictions} if batched else predictions[0]


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
