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
# The names the original training recipe's notebooks (the blog post Vigil reproduces) read for
# the same metrics: its metric definitions match ``eval_f1_score_<avg>`` and
# ``eval_auc_score_<avg>``. Both scripts print these lines too, so those definitions work as
# written; ``--metric-for-best-model`` takes either name.
RECIPE_METRIC_ALIASES: dict[str, str] = {
    **{f"f1_score_{avg}": f"f1_{avg}" for avg in AVERAGES},
    **{f"auc_score_{avg}": f"roc_auc_{avg}" for avg in AVERAGES},
}
ALIASES_OF: dict[str, tuple[str, ...]] = {
    name: tuple(alias for alias, target in RECIPE_METRIC_ALIASES.items() if target == name)
    for name in METRIC_NAMES
}
PRINTED_METRIC_NAMES: tuple[str, ...] = (*METRIC_NAMES, *RECIPE_METRIC_ALIASES)
# The recipe's CloudWatch names: ``validation:<name>`` for the ``eval_<name>`` lines.
RECIPE_METRIC_PREFIX = "validation"
RECIPE_METRIC_NAMES: tuple[str, ...] = (
    "loss",
    "accuracy",
    *RECIPE_METRIC_ALIASES,
    "ap_score_macro",
    "ap_score_weighted",
)
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan)"


def canonical_metric_name(name: str) -> str:
    """Vigil's name of a metric given either its own name or the recipe's (``auc_score_macro``)."""
    return RECIPE_METRIC_ALIASES.get(name, name)


def metric_line(name: str, value: float, prefix: str = "eval") -> str:
    """The line both training scripts print per metric: ``eval_<name> = <value>;``."""
    return f"{prefix}_{name} = {value:.6f};"


def metric_lines_with_aliases(name: str, value: float, prefix: str = "eval") -> list[str]:
    """The metric's own line, then one per recipe name of it (``eval_auc_score_macro = …;``)."""
    return [metric_line(n, value, prefix) for n in (name, *ALIASES_OF.get(name, ()))]


def metric_regex(name: str, prefix: str = "eval") -> str:
    return rf"{prefix}_{re.escape(name)} = {_NUMBER};"


def sagemaker_metric_definitions(prefix: str = "eval") -> list[dict[str, str]]:
    """``MetricDefinitions`` of a SageMaker training job: CloudWatch picks these from the log."""
    return [{"Name": f"{prefix}:{n}", "Regex": metric_regex(n, prefix)} for n in METRIC_NAMES]


def recipe_metric_definitions() -> list[dict[str, str]]:
    """The recipe's ``validation:<name>`` definitions, read from the ``eval_<name>`` lines."""
    return [
        {"Name": f"{RECIPE_METRIC_PREFIX}:{n}", "Regex": metric_regex(n, "eval")}
        for n in RECIPE_METRIC_NAMES
    ]


def training_job_metric_definitions() -> list[dict[str, str]]:
    """Every definition a toxicity training job carries: Vigil's ``eval:*`` and ``test:*`` and
    the recipe's ``validation:*`` (32 of SageMaker's 40 per job)."""
    return [
        *sagemaker_metric_definitions("eval"),
        *sagemaker_metric_definitions("test"),
        *recipe_metric_definitions(),
    ]


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
