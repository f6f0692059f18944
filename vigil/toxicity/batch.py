"""Bulk moderation of a file of comments with the model's own inference code, as SageMaker Batch
Transform runs it.

    python -m vigil.toxicity.batch comments.csv --model-dir model/transformer \
        --output scores.jsonl --rejects rejects.jsonl [--text-column comment_text --id-column id]

The input is CSV (a header row; ``--text-column`` and, when present, ``--id-column``) or JSON
lines (``.jsonl``/``.json``: one ``{"id": ..., "text": "..."}`` object a line, the Batch
Transform input as is). Rows travel to the model's ``code/inference.py`` in mini-batches of at
most ``--max-payload-mb`` as ``application/jsonlines`` bodies — ``input_fn``, ``predict_fn``,
``output_fn``, exactly what a transform job with ``SplitType=Line``, ``BatchStrategy=MultiRecord``
sends — so a file scored here and one scored in the cloud go through the same code.

Every input row ends in exactly one of two files: ``--output`` (``{"line", "id",
"probabilities", "flags", "flagged"}``) or ``--rejects`` (``{"line", "id", "reason"}``), where
``line`` is the row's 1-based position among the file's rows (CSV records after the header,
JSON lines). A summary (rows, scored, rejected, flagged, seconds, texts per second) is printed
as one JSON object. A cloud run's ``bulk/output/<file>.out`` is split into the same two files:

    python -m vigil.toxicity.batch comments.jsonl.out --transform-output \
        --output scores.jsonl --rejects rejects.jsonl
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from vigil.packaging import CODE_DIR, ENTRY_POINT
from vigil.toxicity.serving import BULK_MAX_PAYLOAD_MB, JSON_LINES


def load_entry_point(model_dir: str | Path, entry_point: str | Path | None = None):
    """The model's ``code/inference.py`` as a module (what the serving stack imports)."""
    path = Path(entry_point) if entry_point else Path(model_dir) / CODE_DIR / ENTRY_POINT
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train the model or pass --entry-point")
    spec = importlib.util.spec_from_file_location("vigil_bulk_inference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class UnreadableRow(str):
    """A row the file reader could not read (the string is the reason): rejected here, never
    sent to the model, and still counted."""


def csv_lines(path: Path, *, text_column: str, id_column: str) -> Iterator[str]:
    """One JSON line per CSV record; a record the CSV reader cannot read is an
    ``UnreadableRow``."""
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise ValueError(f"{path} has no {text_column!r} column (see --text-column)")
        with_ids = id_column in reader.fieldnames
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield UnreadableRow(f"the CSV reader failed: {exc}")
                continue
            row = {"text": record.get(text_column)}
            if with_ids:
                row["id"] = record.get(id_column)
            yield json.dumps(row)


def jsonl_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        for line in handle:
            yield line.rstrip(b"\r\n")


def mini_batches(
    lines: Iterable[str | bytes], max_payload_bytes: int
) -> Iterator[list[bytes | UnreadableRow]]:
    """Lines packed into bodies of at most ``max_payload_bytes`` (a longer line goes alone)."""
    batch, size = [], 0
    for line in lines:
        data = line if isinstance(line, bytes | UnreadableRow) else line.encode("utf-8")
        if batch and size + len(data) + 1 > max_payload_bytes:
            yield batch
            batch, size = [], 0
        batch.append(data)
        size += len(data) + 1
    if batch:
        yield batch


def score_batch(handler, bundle, batch: list[bytes | UnreadableRow]) -> list[dict]:
    """One result per item: the model's answer to the lines, in order, and a rejection for
    each unreadable row."""
    sent = [item for item in batch if not isinstance(item, UnreadableRow)]
    answers: Iterator[dict] = iter(())
    if sent:
        request = handler.input_fn(b"\n".join(sent) + b"\n", JSON_LINES)
        answer = handler.output_fn(handler.predict_fn(request, bundle), JSON_LINES)
        results = [json.loads(line) for line in answer.splitlines()]
        if len(results) != len(sent):
            raise RuntimeError(f"the model answered {len(results)} rows for {len(sent)}")
        answers = iter(results)
    return [
        {"id": None, "rejected": str(item)} if isinstance(item, UnreadableRow) else next(answers)
        for item in batch
    ]


def write_results(results: Iterable[dict], *, output: str | Path, rejects: str | Path) -> dict:
    """Scored rows to ``output``, rejected rows with their reason to ``rejects``, each with its
    1-based ``line`` among the file's rows; returns the counts."""
    counts = {"rows": 0, "scored": 0, "rejected": 0, "flagged": 0}
    with Path(output).open("w") as scored_out, Path(rejects).open("w") as rejected_out:
        for result in results:
            counts["rows"] += 1
            line = counts["rows"]
            if "rejected" in result:
                counts["rejected"] += 1
                reason = {"line": line, "id": result["id"], "reason": result["rejected"]}
                rejected_out.write(json.dumps(reason) + "\n")
            else:
                counts["scored"] += 1
                counts["flagged"] += bool(result["flagged"])
                scored_out.write(json.dumps({"line": line, **result}) + "\n")
    return counts


def moderate_file(
    input_path: str | Path,
    handler,
    bundle,
    *,
    output: str | Path,
    rejects: str | Path,
    text_column: str = "text",
    id_column: str = "id",
    max_payload_mb: float = BULK_MAX_PAYLOAD_MB,
) -> dict:
    """Scores every row of ``input_path`` through ``handler`` (an inference module) and writes
    the scored rows to ``output`` and the rejected ones to ``rejects``; returns the counts."""
    input_path = Path(input_path)
    if input_path.suffix.lower() == ".csv":
        lines = csv_lines(input_path, text_column=text_column, id_column=id_column)
    else:
        lines = jsonl_lines(input_path)
    started = time.perf_counter()
    results = (
        result
        for batch in mini_batches(lines, int(max_payload_mb * 1024 * 1024))
        for result in score_batch(handler, bundle, batch)
    )
    counts = write_results(results, output=output, rejects=rejects)
    seconds = time.perf_counter() - started
    counts["seconds"] = round(seconds, 3)
    counts["texts_per_second"] = round(counts["scored"] / seconds, 1) if seconds else 0.0
    return counts


def split_transform_output(path: str | Path, *, output: str | Path, rejects: str | Path) -> dict:
    """A Batch Transform ``<file>.out`` (one result or rejection a line, in input order) split
    into the same two files the local run writes."""
    with Path(path).open() as handle:
        return write_results(
            (json.loads(line) for line in handle if line.strip()), output=output, rejects=rejects
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a CSV file or a JSON lines file (.jsonl)")
    parser.add_argument("--model-dir", default="", help="a trained model directory")
    parser.add_argument(
        "--transform-output",
        action="store_true",
        help="INPUT is a Batch Transform .out file: split it into --output and --rejects",
    )
    parser.add_argument("--entry-point", default="", help="default: <model-dir>/code/inference.py")
    parser.add_argument("--output", required=True, help="scored rows (JSON lines)")
    parser.add_argument("--rejects", required=True, help="rejected rows and reasons (JSON lines)")
    parser.add_argument("--text-column", default="text", help="CSV column holding the text")
    parser.add_argument("--id-column", default="id", help="CSV column naming the row (optional)")
    parser.add_argument("--max-payload-mb", type=float, default=BULK_MAX_PAYLOAD_MB)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args(argv)
    if args.transform_output:
        counts = split_transform_output(args.input, output=args.output, rejects=args.rejects)
        print(json.dumps(counts))
        return 0
    if not args.model_dir:
        parser.error("--model-dir is required to score a file")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    handler = load_entry_point(args.model_dir, args.entry_point or None)
    try:
        counts = moderate_file(
            args.input,
            handler,
            handler.model_fn(args.model_dir),
            output=args.output,
            rejects=args.rejects,
            text_column=args.text_column,
            id_column=args.id_column,
            max_payload_mb=args.max_payload_mb,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
