"""Label schema, tasks, label modes and the metric names/regexes (light: no numpy/torch imports).

CDK imports this module at synth time (the SageMaker metric definitions), so keep it dependency
free.
"""

from __future__ import annotations

import re
from enum import StrEnum

# The six Jigsaw labels, in the order models emit them.
JIGSAW_LABELS: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)
TOXICITY_LABEL = "toxic"
TEXT_COLUMN = "comment_text"
SAMPLE_WEIGHT_COLUMN = "sample_weight"
POSITIVE_THRESHOLD = 0.5  # truth for a fractional label is label >= 0.5


class Task(StrEnum):
    BINARY = "binary"  # one label: toxicity
    FINE_GRAINED = "fine-grained"  # the subtype labels, on rows whose toxicity >= 0.5
    MULTITASK = "multitask"  # every label at once


class LabelMode(StrEnum):
    FRACTIONAL = "fractional"  # soft targets in [0, 1]
    BINARY = "binary"  # threshold at 0.5, plus class weights from label frequencies


class LossMode(StrEnum):
    MULTI_CLASS = "MULTI_CLASS"  # softmax over classes (targets: index or a distribution)
    MULTI_LABEL = "MULTI_LABEL"  # independent sigmoid per label (targets in [0, 1])
    REGRESSION = "REGRESSION"  # sigmoid output regressed onto fractional targets (MSE)


# --- metrics ---------------------------------------------------------------------------------
AVERAGES = ("micro", "macro", "weighted")
METRIC_NAMES: tuple[str, ...] = (
    "loss",
    "accuracy",
    *(f"f1_{avg}" for avg in AVERAGES),
    *(f"ap_score_{avg}" for avg in AVERAGES),
    *(f"roc_auc_{avg}" for avg in AVERAGES),
)
DEFAULT_METRIC_FOR_BEST_MODEL = "ap_score_weighted"
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan)"


def metric_line(name: str, value: float, prefix: str = "eval") -> str:
    """The line both training scripts print per metric: ``eval_<name> = <value>;``."""
    return f"{prefix}_{name} = {value:.6f};"


def metric_regex(name: str, prefix: str = "eval") -> str:
    return rf"{prefix}_{re.escape(name)} = {_NUMBER};"


def sagemaker_metric_definitions(prefix: str = "eval") -> list[dict[str, str]]:
    """``MetricDefinitions`` of a SageMaker training job: CloudWatch picks these from the log."""
    return [{"Name": f"{prefix}:{n}", "Regex": metric_regex(n, prefix)} for n in METRIC_NAMES]


def task_labels(task: Task | str, label_columns: list[str], toxicity_column: str) -> list[str]:
    """Which label columns a task trains on."""
    task = Task(task)
    if task is Task.BINARY:
        return [toxicity_column]
    if task is Task.FINE_GRAINED:
        subtypes = [c for c in label_columns if c != toxicity_column]
        if not subtypes:
            raise ValueError("fine-grained task needs subtype label columns besides toxicity")
        return subtypes
    return list(label_columns)
