"""What both training entry points share: the SageMaker script-mode contract (paths from
``SM_*`` variables, read when arguments are parsed), channel loading, class weights, the final
evaluation (thresholds, metrics JSON, curves) and writing ``code/`` into the model directory."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.toxicity import lexicon
from vigil.toxicity.data import class_weights_from, load_channel
from vigil.toxicity.labels import (
    DEFAULT_METRIC_FOR_BEST_MODEL,
    SAMPLE_WEIGHT_COLUMN,
    LossMode,
    canonical_metric_name,
    metric_line,
)
from vigil.toxicity.metrics import best_thresholds, compute_metrics, print_metrics, save_report
from vigil.toxicity.normalize import EVASION, NORMALIZERS, TextNormalizer, normalize_texts

# the identity-bias figures each training run prints (``test_<name> = …;``) and saves
BIAS_METRIC_NAMES = (
    "bias_generalized_mean_auc",
    "min_subgroup_auc",
    "min_bpsn_auc",
    "min_bnsp_auc",
)


def flag(value: str | bool) -> bool:
    """A boolean hyperparameter: ``--x`` alone, or ``--x true`` as SageMaker passes it."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def add_flag(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    parser.add_argument(name, type=flag, nargs="?", const=True, default=False, help=help)


def add_sagemaker_args(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    parser.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--output-data-dir", default=env.get("SM_OUTPUT_DATA_DIR", "output/data"))
    for channel in ("train", "valid", "test"):
        parser.add_argument(
            f"--{channel}", default=env.get(f"SM_CHANNEL_{channel.upper()}", f"data/{channel}")
        )
    parser.add_argument(
        "--metric-for-best-model",
        type=canonical_metric_name,
        default=DEFAULT_METRIC_FOR_BEST_MODEL,
        help="metric name (without eval_) that selects the best epoch/checkpoint; the "
        "recipe's names (f1_score_macro, auc_score_weighted, ...) mean the same metrics",
    )
    parser.add_argument(
        "--class-weight",
        default="auto",
        help="'none', 'auto' (from the prepared data's label frequencies, when it has them), "
        "'balanced' or 'sqrt-balanced' (from the training labels' frequencies, any label mode) "
        "or weights, one per label, separated by commas or spaces ('1,2,3' or '1 2 3')",
    )
    parser.add_argument(
        "--loss-mode", choices=[m.value for m in LossMode], default=LossMode.MULTI_LABEL.value
    )
    parser.add_argument(
        "--num-targets",
        "--num-labels",
        dest="num_targets",
        type=int,
        default=0,
        help="labels the model predicts, checked against the data's (0: take the data's); "
        "--num-labels is the transformer recipe's name for it",
    )
    parser.add_argument("--max-train-samples", type=int, default=0, help="0: all (debug runs)")
    parser.add_argument("--max-eval-samples", type=int, default=0, help="0: all (debug runs)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--text-normalizer",
        choices=list(NORMALIZERS),
        default=EVASION,
        help="text normalisation before tokenizing, in training and (stored with the model) at "
        "inference: 'evasion' undoes leetspeak, stretched and spelled-out words "
        "(vigil.toxicity.normalize); 'none' keeps texts as they are",
    )
    parser.add_argument(
        "--spelling-lexicon",
        choices=list(lexicon.SOURCES),
        default=lexicon.CORPUS_ENGLISH,
        help="spelling repair after the normaliser, against a lexicon saved with the model "
        "(vigil.toxicity.lexicon): 'corpus' (training words seen 3+ times), 'corpus+english' "
        "(plus the 40,000 most frequent English words of wordfreq) or 'none'",
    )
    parser.add_argument(
        "--identity-augmentation",
        type=int,
        default=0,
        help="sentences mentioning identities added to the training data, neutral and toxic "
        "balanced per identity, against the bias of scoring harmless identity mentions as "
        "toxic (vigil.toxicity.bias; its templates are not the evaluation's); 0: none",
    )
    parser.add_argument(
        "--augment-obfuscation",
        type=float,
        default=0.0,
        help="share of training texts replaced each epoch by a spelling-obfuscated copy "
        "(character swaps, repeats, leetspeak, inserted spaces; vigil.toxicity.obfuscate)",
    )


@dataclass
class Split:
    texts: list[str]
    targets: np.ndarray
    sample_weights: np.ndarray


@dataclass
class Channels:
    labels: list[str]
    class_weights: list[float] | None
    train: Split
    valid: Split
    test: Split | None


def _split(frame, labels, limit: int) -> Split:
    if limit:
        frame = frame.iloc[:limit]
    weights = (
        frame[SAMPLE_WEIGHT_COLUMN].to_numpy(dtype=np.float32, copy=True)
        if SAMPLE_WEIGHT_COLUMN in frame.columns
        else np.ones(len(frame), dtype=np.float32)
    )
    return Split(
        texts=frame["text"].astype(str).tolist(),
        targets=frame[labels].to_numpy(dtype=np.float32, copy=True),
        sample_weights=weights,
    )


def load_channels(args) -> Channels:
    train, meta = load_channel(args.train)
    labels = list(meta["labels"])
    if args.num_targets and args.num_targets != len(labels):
        raise SystemExit(
            f"--num-targets/--num-labels is {args.num_targets} but the prepared data "
            f"(task {meta.get('task')!r}) has {len(labels)} labels: {labels}"
        )
    valid, _ = load_channel(args.valid)
    test = None
    if args.test and (Path(args.test) / "data.parquet").exists():
        test = _split(load_channel(args.test)[0], labels, args.max_eval_samples)
    train_split = _split(train, labels, args.max_train_samples)
    if getattr(args, "identity_augmentation", 0):
        train_split = with_identity_mentions(train_split, labels, args.identity_augmentation)
    return Channels(
        labels=labels,
        class_weights=resolve_class_weights(
            args.class_weight, meta, len(labels), train[labels].to_numpy(dtype=float)
        ),
        train=train_split,
        valid=_split(valid, labels, args.max_eval_samples),
        test=test,
    )


def with_identity_mentions(split: Split, labels: list[str], count: int) -> Split:
    """``split`` plus ``count`` identity sentences, neutral (every label 0) and toxic (``toxic``
    and the template's other labels that this data has) balanced per identity: the bias
    mitigation (:func:`vigil.toxicity.bias.augmentation_rows`). Only for tasks that include the
    toxicity label: the fine-grained task trains on toxic rows only, where a neutral row does not
    belong."""
    from vigil.toxicity.bias import TOXICITY_LABEL, augmentation_rows

    if TOXICITY_LABEL not in labels:
        raise SystemExit(
            f"--identity-augmentation needs a task with the {TOXICITY_LABEL!r} label; "
            f"this data has {labels}"
        )
    rows = augmentation_rows(count)
    targets = np.zeros((count, len(labels)), dtype=np.float32)
    for row, (_text, carried) in enumerate(rows):
        for label in carried:
            if label in labels:
                targets[row, labels.index(label)] = 1.0
    return Split(
        texts=split.texts + [text for text, _carried in rows],
        targets=np.vstack([split.targets, targets]),
        sample_weights=np.concatenate([split.sample_weights, np.ones(count, dtype=np.float32)]),
    )


def resolve_class_weights(
    spec: str, meta: dict, num_labels: int, train_targets: np.ndarray | None = None
) -> list[float] | None:
    """``--class-weight``: ``none``; ``auto`` (the prepared data's, label mode ``binary``);
    ``balanced`` (``n / (k · positives_k)`` of the training targets, mean 1, any label mode);
    ``sqrt-balanced`` (their square roots, mean 1: rare labels count more, common ones are not
    starved); or one weight per label."""
    spec = (spec or "none").strip().lower()
    if spec == "none":
        return None
    if spec == "auto":
        return meta.get("class_weights")  # present for label mode 'binary'
    if spec in ("balanced", "sqrt-balanced"):
        if train_targets is None:
            raise SystemExit(f"--class-weight {spec} needs the training targets")
        weights = np.asarray(class_weights_from(train_targets))
        if spec == "sqrt-balanced":
            weights = np.sqrt(weights)
        return [float(w) for w in weights / weights.mean()]
    try:
        weights = [float(w) for w in re.split(r"[,\s]+", spec.strip(" ,[]()")) if w]
    except ValueError:
        raise SystemExit(
            f"--class-weight {spec!r}: expected none, auto, balanced, sqrt-balanced or "
            "numbers separated by commas or spaces"
        ) from None
    if len(weights) != num_labels:
        raise SystemExit(f"--class-weight has {len(weights)} values for {num_labels} labels")
    return weights


def text_normalizer(args, train_texts: list[str]) -> TextNormalizer:
    """The model's normaliser: ``--text-normalizer``'s rules, then spelling repair against a
    lexicon built from the (normalised) training texts per ``--spelling-lexicon``."""
    rules = TextNormalizer(args.text_normalizer)
    words = lexicon.build_lexicon(normalize_texts(train_texts, rules), source=args.spelling_lexicon)
    if words is not None:
        print(f"spelling lexicon: {len(words)} words ({args.spelling_lexicon})", flush=True)
    return TextNormalizer(args.text_normalizer, words)


def augmented(texts: list[str], share: float, seed: int) -> list[str]:
    """``texts`` with about ``share`` of them obfuscated (which ones and how follow ``seed``)."""
    if share <= 0:
        return texts
    from vigil.toxicity.obfuscate import obfuscate

    rng = np.random.default_rng(seed)
    chosen = rng.random(len(texts)) < share
    return [
        obfuscate(t, seed=10_000 + seed) if pick else t
        for t, pick in zip(texts, chosen, strict=True)
    ]


def greater_is_better(metric: str) -> bool:
    return "loss" not in metric


def finish(
    *,
    labels: list[str],
    valid_targets: np.ndarray,
    valid_probs: np.ndarray,
    test_targets: np.ndarray | None,
    test_probs: np.ndarray | None,
    output_dir: str | Path,
    predict: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[list[float], dict[str, float]]:
    """Per-label thresholds from validation; test metrics printed (``test_<name> = …;``) and
    saved as JSON with ROC and PR curves; with ``predict`` (texts → probabilities), the identity
    bias on the template set (``vigil.toxicity.bias``) is printed and saved in the same JSON
    under ``bias``. Returns (thresholds, test or validation metrics)."""
    thresholds = best_thresholds(valid_targets, valid_probs)
    valid_metrics = compute_metrics(valid_targets, valid_probs, thresholds)
    paths = save_report(output_dir, labels, valid_targets, valid_probs, valid_metrics, name="valid")
    final = valid_metrics
    if test_probs is not None:
        final = compute_metrics(test_targets, test_probs, thresholds)
        print_metrics(final, prefix="test")
        paths = save_report(output_dir, labels, test_targets, test_probs, final, name="test")
    if predict is not None:
        from vigil.toxicity.bias import evaluate_bias

        bias = evaluate_bias(predict, labels)
        if bias is not None:
            for name in BIAS_METRIC_NAMES:
                print(metric_line(name, bias[name], "test"), flush=True)
            report = json.loads(paths["json"].read_text())
            report["bias"] = bias
            paths["json"].write_text(json.dumps(report, indent=2, allow_nan=True))
    return thresholds, final


def add_serving_code(model_dir: str | Path, kind: str, entry_point: str | Path) -> None:
    """Write ``code/`` (``entry_point``, the caller's inference.py, the vigil modules it imports,
    the hashed serving requirements and, where the source has them, their wheels) into the model
    directory so the job's model.tar.gz deploys as is, network isolated. ``kind`` names the
    model; both serve with the same requirements."""
    from vigil.container_requirements import TOXICITY_SERVING, code_files
    from vigil.packaging import add_inference_code

    # the source root: the repository locally, the unpacked source bundle in a training job
    requirements, wheels = code_files(TOXICITY_SERVING, Path(__file__).resolve().parents[2])
    add_inference_code(
        model_dir,
        entry_point=entry_point,
        code_files=wheels,
        packages=["vigil.toxicity", "vigil.serving_errors"],
        requirements=requirements,
    )
