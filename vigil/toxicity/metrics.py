"""Metrics for both classifiers: accuracy, F1 / AP / ROC-AUC (micro, macro, weighted), the
``eval_<name> = <value>;`` lines SageMaker's metric regexes read, per-label thresholds, a JSON
file and ROC / PR curve PNGs. Truth for a fractional label is ``label >= 0.5``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from vigil.toxicity.labels import POSITIVE_THRESHOLD, metric_lines_with_aliases


def _truth(targets: np.ndarray) -> np.ndarray:
    return (np.asarray(targets, dtype=float) >= POSITIVE_THRESHOLD).astype(int)


def _ranking_metric(fn, truth: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """micro/macro/weighted of a ranking metric, skipping labels with one class only."""
    defined = [k for k in range(truth.shape[1]) if 0 < truth[:, k].sum() < len(truth)]
    out = {}
    if defined:
        per_label = np.array([fn(truth[:, k], probs[:, k]) for k in defined])
        support = truth[:, defined].sum(axis=0).astype(float)
        out["macro"] = float(per_label.mean())
        out["weighted"] = float((per_label * support).sum() / support.sum())
    else:
        out["macro"] = out["weighted"] = math.nan
    flat_t, flat_p = truth.ravel(), probs.ravel()
    out["micro"] = float(fn(flat_t, flat_p)) if 0 < flat_t.sum() < len(flat_t) else math.nan
    return out


def _f1(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Multi-label F1 (also for one label: sklearn would read a column as binary classes)."""
    tp = (truth & predicted).sum(axis=0).astype(float)
    fp = ((1 - truth) & predicted).sum(axis=0).astype(float)
    fn = (truth & (1 - predicted)).sum(axis=0).astype(float)
    denominator = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    support = truth.sum(axis=0).astype(float)
    total = denominator.sum()
    return {
        "f1_micro": float(2 * tp.sum() / total) if total else 0.0,
        "f1_macro": float(per_label.mean()),
        "f1_weighted": float((per_label * support).sum() / support.sum()) if support.sum() else 0.0,
    }


def per_label_auc(targets: np.ndarray, probs: np.ndarray) -> list[float]:
    truth = _truth(targets)
    return [
        float(roc_auc_score(truth[:, k], probs[:, k]))
        if 0 < truth[:, k].sum() < len(truth)
        else math.nan
        for k in range(truth.shape[1])
    ]


def compute_metrics(
    targets: np.ndarray, probs: np.ndarray, thresholds: list[float] | None = None
) -> dict[str, float]:
    """Every metric by name (``f1_micro``, ``ap_score_weighted``, ``roc_auc_macro``, …)."""
    truth = _truth(targets)
    probs = np.asarray(probs, dtype=float)
    if truth.shape != probs.shape:
        raise ValueError(f"targets {truth.shape} and probabilities {probs.shape} differ")
    cut = np.asarray(thresholds if thresholds is not None else [0.5] * probs.shape[1])
    predicted = (probs >= cut).astype(int)
    metrics = {"accuracy": float((predicted == truth).all(axis=1).mean())}
    metrics.update(_f1(truth, predicted))
    for name, fn in (("ap_score", average_precision_score), ("roc_auc", roc_auc_score)):
        for avg, value in _ranking_metric(fn, truth, probs).items():
            metrics[f"{name}_{avg}"] = value
    return metrics


def best_thresholds(targets: np.ndarray, probs: np.ndarray) -> list[float]:
    """Per-label threshold maximising F1 on the given (validation) set; 0.5 when undefined."""
    truth = _truth(targets)
    out = []
    for k in range(truth.shape[1]):
        if not 0 < truth[:, k].sum() < len(truth):
            out.append(0.5)
            continue
        precision, recall, cuts = precision_recall_curve(truth[:, k], probs[:, k])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1])) if len(cuts) else 0
        out.append(float(cuts[best]) if len(cuts) else 0.5)
    return out


def metric_lines(metrics: dict[str, float], prefix: str = "eval") -> list[str]:
    """One line per metric, plus one per recipe name of it (``eval_f1_score_macro``)."""
    return [
        line
        for name, value in metrics.items()
        for line in metric_lines_with_aliases(name, value, prefix)
    ]


def print_metrics(metrics: dict[str, float], prefix: str = "eval") -> None:
    for line in metric_lines(metrics, prefix):
        print(line, flush=True)


def save_report(
    folder: str | Path,
    labels: list[str],
    targets: np.ndarray,
    probs: np.ndarray,
    metrics: dict[str, float],
    *,
    name: str = "test",
) -> dict[str, Path]:
    """``<name>_metrics.json`` with ROC (``<name>_roc.png``) and PR (``<name>_pr.png``) beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    truth = _truth(targets)
    report = {
        "metrics": metrics,
        "per_label_roc_auc": dict(zip(labels, per_label_auc(targets, probs), strict=True)),
        "labels": labels,
        "rows": len(truth),
    }
    paths = {"json": folder / f"{name}_metrics.json"}
    paths["json"].write_text(json.dumps(report, indent=2, allow_nan=True))
    for kind in ("roc", "pr"):
        fig, ax = plt.subplots(figsize=(6, 5))
        for k, label in enumerate(labels):
            if not 0 < truth[:, k].sum() < len(truth):
                continue
            if kind == "roc":
                x, y, _ = roc_curve(truth[:, k], probs[:, k])
                score = roc_auc_score(truth[:, k], probs[:, k])
            else:
                y, x, _ = precision_recall_curve(truth[:, k], probs[:, k])
                score = average_precision_score(truth[:, k], probs[:, k])
            ax.plot(x, y, label=f"{label} ({score:.3f})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], "k--", lw=0.8)
            ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        else:
            ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths[kind] = folder / f"{name}_{kind}.png"
        fig.savefig(paths[kind], dpi=80)
        plt.close(fig)
    return paths
