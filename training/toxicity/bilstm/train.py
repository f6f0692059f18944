"""SageMaker training entry point (script mode): the subword-embedding BiLSTM toxicity classifier.

Channels ``train``/``valid``/``test`` (from ``python -m vigil.toxicity.data``), optionally
``embeddings`` holding a fastText ``.bin``; without it fastText embeddings are trained on the
train texts with gensim. Prints ``eval_<name> = <value>;`` per epoch (SageMaker metric regexes),
keeps the epoch that is best by ``--metric-for-best-model``, chooses per-label thresholds on the
validation set and writes a deployable model directory (model files + ``code/``).

    python training/toxicity/bilstm/train.py --train data/train --valid data/valid \
        --test data/test --model-dir model --epochs 3 --embed-size 100
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (SageMaker): make `vigil` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np
import torch
from tqdm.auto import tqdm

from vigil.toxicity.bilstm import (
    BiLSTMClassifier,
    BiLSTMConfig,
    encode,
    predict,
    predict_logits,
    save_model,
)
from vigil.toxicity.embeddings import (
    DEFAULT_BUCKET,
    SubwordVocabulary,
    load_fasttext,
    tokenize,
    train_fasttext,
)
from vigil.toxicity.losses import probabilities, toxicity_loss
from vigil.toxicity.metrics import compute_metrics, print_metrics
from vigil.toxicity.normalize import normalize_texts
from vigil.toxicity.training import (
    add_flag,
    add_sagemaker_args,
    add_serving_code,
    augmented,
    finish,
    greater_is_better,
    load_channels,
    text_normalizer,
)

# this entry point's own inference.py: the model directory it writes deploys with it
INFERENCE_ENTRY = (
    Path(__file__).resolve().parents[3] / "inference" / "toxicity" / "bilstm" / "inference.py"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the BiLSTM toxicity classifier")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-batch-size", type=int, default=128)
    parser.add_argument("--eval-batch-size", type=int, default=1024)
    parser.add_argument("--embed-size", type=int, default=300)
    parser.add_argument("--lstm-hidden-size", type=int, default=200)
    parser.add_argument("--lstm-num-layers", type=int, default=2)
    parser.add_argument("--proj-size", type=int, default=100)
    parser.add_argument("--total-length", type=int, default=128, help="max tokens per text")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--patience", type=int, default=3, help="epochs without improvement")
    add_flag(parser, "--train-embeddings", "fine-tune the fastText table too")
    parser.add_argument("--fasttext-epochs", type=int, default=5)
    parser.add_argument("--fasttext-bucket", type=int, default=DEFAULT_BUCKET)
    parser.add_argument("--fasttext-min-count", type=int, default=2)
    parser.add_argument(
        "--embeddings",
        default=os.environ.get("SM_CHANNEL_EMBEDDINGS", ""),
        help="a fastText .bin (or a folder holding one); empty: train on the train texts",
    )
    add_sagemaker_args(parser)
    return parser.parse_args(argv)


def _fasttext(args, texts):
    source = Path(args.embeddings) if args.embeddings else None
    if source is not None and source.is_dir():
        found = sorted(source.glob("*.bin"))
        source = found[0] if found else None
    if source is not None:
        model = load_fasttext(source)
        if model.wv.vector_size != args.embed_size:
            raise SystemExit(
                f"{source} has {model.wv.vector_size}-d vectors but --embed-size is "
                f"{args.embed_size}"
            )
        return model
    return train_fasttext(
        texts,
        vector_size=args.embed_size,
        epochs=args.fasttext_epochs,
        min_count=args.fasttext_min_count,
        bucket=args.fasttext_bucket,
        seed=args.seed,
    )


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """Shuffled batches of texts of similar length (less padding, same epoch coverage)."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _evaluate(model, vocab, split, args, loss_mode, class_weights) -> tuple[dict, np.ndarray]:
    logits = predict_logits(model, vocab, split.texts, batch_size=args.eval_batch_size)
    probs = probabilities(logits, loss_mode).numpy()
    metrics = {}
    with torch.no_grad():
        metrics["loss"] = float(
            toxicity_loss(
                logits,
                torch.from_numpy(split.targets),
                loss_mode,
                class_weights=class_weights,
                sample_weights=torch.from_numpy(split.sample_weights),
            )
        )
    metrics.update(compute_metrics(split.targets, probs))
    return metrics, probs


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load_channels(args)
    started = time.monotonic()
    normalizer = text_normalizer(args, data.train.texts)
    corpus = data.train.texts
    if args.augment_obfuscation > 0:
        corpus = corpus + augmented(data.train.texts, args.augment_obfuscation, args.seed)
    fasttext = _fasttext(args, normalize_texts(corpus, normalizer))
    vocab, table = SubwordVocabulary.from_fasttext(fasttext)
    print(
        f"fastText: {len(vocab.words)} words, {vocab.bucket} n-gram buckets, "
        f"{time.monotonic() - started:.1f}s",
        flush=True,
    )
    config = BiLSTMConfig(
        labels=data.labels,
        embed_size=args.embed_size,
        lstm_hidden_size=args.lstm_hidden_size,
        lstm_num_layers=args.lstm_num_layers,
        proj_size=args.proj_size,
        total_length=args.total_length,
        dropout=args.dropout,
        loss_mode=args.loss_mode,
        normalizer=args.text_normalizer,
    )
    model = BiLSTMClassifier(config, vocab.rows, freeze_embeddings=not args.train_embeddings)
    model.text_normalizer = normalizer
    model.load_embeddings(table)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=args.learning_rate
    )
    class_weights = torch.tensor(data.class_weights) if data.class_weights else None
    targets = torch.from_numpy(data.train.targets)
    weights = torch.from_numpy(data.train.sample_weights)
    higher = greater_is_better(args.metric_for_best_model)
    best_score, best_state, best_epoch, stale = None, None, 0, 0
    n = len(data.train.texts)
    lengths = np.array([min(len(tokenize(t)), args.total_length) for t in data.train.texts])
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        texts = augmented(data.train.texts, args.augment_obfuscation, args.seed + epoch)
        batches = length_bucketed_batches(lengths, args.train_batch_size, rng)
        for idx in tqdm(batches, desc=f"epoch {epoch}", leave=False, mininterval=5):
            batch = encode([texts[i] for i in idx], vocab, config.total_length, normalizer)
            loss = toxicity_loss(
                model(batch),
                targets[idx],
                config.loss_mode,
                class_weights=class_weights,
                sample_weights=weights[idx],
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        metrics, _ = _evaluate(model, vocab, data.valid, args, config.loss_mode, class_weights)
        print(f"epoch = {epoch}; train_loss = {total / n:.6f};", flush=True)
        print_metrics(metrics)
        score = metrics.get(args.metric_for_best_model)
        if score is None:
            raise SystemExit(f"unknown --metric-for-best-model {args.metric_for_best_model!r}")
        if best_score is None or (score > best_score if higher else score < best_score):
            best_score, best_state, best_epoch, stale = (
                score,
                copy.deepcopy(model.state_dict()),
                epoch,
                0,
            )
        else:
            stale += 1
            if stale >= args.patience:
                print(f"early stop after epoch {epoch}", flush=True)
                break
    model.load_state_dict(best_state)
    print(f"best epoch = {best_epoch}; best_{args.metric_for_best_model} = {best_score:.6f};")
    valid_probs = predict(model, vocab, data.valid.texts, batch_size=args.eval_batch_size)
    test_probs = (
        predict(model, vocab, data.test.texts, batch_size=args.eval_batch_size)
        if data.test
        else None
    )
    thresholds, final = finish(
        labels=data.labels,
        valid_targets=data.valid.targets,
        valid_probs=valid_probs,
        test_targets=data.test.targets if data.test else None,
        test_probs=test_probs,
        output_dir=args.output_data_dir,
        predict=lambda texts: predict(model, vocab, texts, batch_size=args.eval_batch_size),
    )
    model.config.thresholds = thresholds
    save_model(model, vocab, args.model_dir)
    add_serving_code(args.model_dir, "bilstm", INFERENCE_ENTRY)
    return {"best_epoch": best_epoch, "thresholds": thresholds, "metrics": final}


if __name__ == "__main__":
    main()
