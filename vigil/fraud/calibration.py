"""Calibrated fraud probabilities and the operating threshold that ships with the model.

Calibration (Platt scaling, fitted on the validation split). ``pred_prob = sigmoid(a · logit + b)``
over the model's raw logit. Why Platt and not isotonic regression: it is monotone and strictly
increasing, so ranking metrics (ROC-AUC, AUC-PR) and model selection are untouched; two
parameters fit reliably on the few dozen frauds a small validation split holds, where isotonic
steps overfit; and being affine in log-odds it keeps explanations additive (an entity's
contribution to the model's logit times ``a`` is its contribution to ``logit(pred_prob)``).

Threshold table and rule. On the validation split's calibrated probabilities, every distinct
probability ``t`` gives precision, recall, false-positive rate and flagged share of
``pred_prob >= t``. The rule (hyperparameter ``threshold-rule``) picks the operating threshold:

* ``max_f1``: the threshold of highest F1;
* ``precision:P``: the lowest threshold whose precision is at least ``P`` (the most recall at
  that precision; the most precise threshold when none reaches ``P``);
* ``flagged_share:S``: the lowest threshold that flags at most a share ``S`` of transactions.

Pure Python for applying (serving); numpy and scikit-learn only for fitting.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

RULE_PATTERN = r"^(max_f1|precision:(0?\.\d+|1(\.0*)?)|flagged_share:(0?\.\d+|1(\.0*)?))$"
THRESHOLD_TABLE_FILE = "threshold_table.json"
TABLE_ROWS = 200


@dataclass(frozen=True)
class PlattCalibration:
    a: float = 1.0
    b: float = 0.0

    def logit(self, raw: float) -> float:
        return self.a * raw + self.b

    def prob(self, raw: float) -> float:
        return sigmoid(self.logit(raw))

    def to_dict(self) -> dict:
        return {"method": "platt", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict | None) -> PlattCalibration:
        if not data:
            return cls()
        if data.get("method", "platt") != "platt":
            raise ValueError(f"unsupported calibration {data.get('method')!r}")
        return cls(a=float(data["a"]), b=float(data["b"]))

    @classmethod
    def fit(cls, raw_logits, labels) -> PlattCalibration:
        """Maximum-likelihood ``a``, ``b`` on (raw logit, label) pairs (no regularisation)."""
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels)
        if len(np.unique(labels)) < 2:
            return cls()
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit(np.asarray(raw_logits, dtype=np.float64).reshape(-1, 1), labels)
        return cls(a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    z = math.exp(value)
    return z / (1.0 + z)


def expected_calibration_error(probs, labels, bins: int = 15) -> float:
    """Σ over equal-width probability bins of (bin share) · |mean prob − fraud rate|."""
    import numpy as np

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(probs) == 0:
        return float("nan")
    which = np.minimum((probs * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        in_bin = which == k
        if in_bin.any():
            total += in_bin.mean() * abs(probs[in_bin].mean() - labels[in_bin].mean())
    return float(total)


def threshold_curve(probs, labels) -> dict:
    """Per distinct probability ``t`` (descending): precision, recall, FPR, flagged share of
    ``probs >= t``."""
    import numpy as np

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    order = np.argsort(-probs, kind="stable")
    sorted_probs, sorted_labels = probs[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(sorted_probs)), len(probs) - 1]  # end of each tie run
    tp = np.cumsum(sorted_labels == 1)[last]
    flagged = last + 1
    fp = flagged - tp
    positives, negatives = max(int((labels == 1).sum()), 1), max(int((labels == 0).sum()), 1)
    precision = tp / flagged
    recall = tp / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "threshold": sorted_probs[last],
        "precision": precision,
        "recall": recall,
        "fpr": fp / negatives,
        "flagged_share": flagged / len(probs),
        "f1": f1,
    }


def choose_threshold(probs, labels, rule: str) -> float:
    """The operating threshold that ``rule`` picks on (probs, labels); see the module docstring."""
    import numpy as np

    if not re.match(RULE_PATTERN, rule):
        raise ValueError(f"threshold rule {rule!r} is not max_f1, precision:P or flagged_share:S")
    curve = threshold_curve(probs, labels)
    thresholds = curve["threshold"]
    if len(thresholds) == 0:
        return 0.5
    name, _, target = rule.partition(":")
    if name == "max_f1":
        return float(thresholds[int(np.argmax(curve["f1"]))])
    goal = float(target)
    if name == "precision":
        ok = np.flatnonzero(curve["precision"] >= goal)
        if len(ok) == 0:
            return float(thresholds[int(np.argmax(curve["precision"]))])
        return float(thresholds[ok[-1]])
    ok = np.flatnonzero(curve["flagged_share"] <= goal)
    return float(thresholds[ok[-1]]) if len(ok) else float(thresholds[0]) + 1e-12


def threshold_table(probs, labels, operating: float, rows: int = TABLE_ROWS) -> list[dict]:
    """At most ``rows`` rows of the curve (evenly spaced by flagged share) plus the operating
    threshold's own row, descending by threshold."""
    import numpy as np

    curve = threshold_curve(probs, labels)
    n = len(curve["threshold"])
    if n == 0:
        return []
    picks = set(np.unique(np.linspace(0, n - 1, min(rows, n)).round().astype(int)).tolist())
    at = np.flatnonzero(curve["threshold"] >= operating)
    if len(at):
        picks.add(int(at[-1]))
    keys = ("threshold", "precision", "recall", "fpr", "flagged_share", "f1")
    return [{k: round(float(curve[k][i]), 6) for k in keys} for i in sorted(picks)]
