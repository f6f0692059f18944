"""Benchmark: offline batch scoring of a file of transactions (``vigil.fraud.batch_scoring``).

``python benchmarks/fraud_batch_scoring.py [--transactions 3000] [--seed 11] [--model rgcn]
[--copies 20] [--workdir build/bench/fraud_batch_scoring]``

Builds (or reuses, from ``--workdir``) generated data, its ETL output and a trained model
(``local.standins.fraud_training.build_artifacts``), reads the raw file (timed apart), then
scores every row as it is (transactions already in the graph) and ``--copies`` more times under
new ids (new transactions, each entity's state plus the row). Reports ``batch_rows_per_second``
over all passes (one process; the copies as one frame, as a file chunk through ``BatchScorer.score_frame``; loading the model
and graph and reading the file reported apart; ``batch_rows_per_cpu_second`` divides by the
process's CPU time instead, what a quiet machine's wall clock shows with one torch thread) and ``batch_parity_max_abs_diff``: the largest
difference between the batch score and the training run's full-graph score of each test-split
transaction (the reference the online path is tested equal to, within 1e-4, in
``tests/integration/fraud/test_fraud_scoring_integration.py``, which also compares batch and
online answers directly). Targets: >= 20,000 rows/s on 2 cores; parity <= 1e-4. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEW_ID_OFFSET = 50_000_000  # ids no ETL row has


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default="rgcn", help="rgcn or graph-gbdt")
    parser.add_argument("--copies", type=int, default=20, help="passes under new ids")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's own)")
    parser.add_argument("--workdir", default=str(ROOT / "build" / "bench" / "fraud_batch_scoring"))
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    from local.standins.fraud_training import build_artifacts, offline_test_scores
    from vigil.fraud import schema
    from vigil.fraud.batch_scoring import BatchScorer, read_rows

    artifacts = build_artifacts(
        Path(args.workdir), transactions=args.transactions, seed=args.seed, model=args.model
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    scorer = BatchScorer.load(artifacts.model_dir, artifacts.processed_dir)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = read_rows(
        artifacts.raw_dir / "train_transaction.csv",
        artifacts.raw_dir / "train_identity.csv",
        columns=scorer.input_columns,
    )
    read_s = time.perf_counter() - started
    ids = rows[schema.ID_COLUMN].astype(int)
    copies = pd.concat(
        [
            rows.assign(**{schema.ID_COLUMN: (ids + NEW_ID_OFFSET * (k + 1)).astype(str)})
            for k in range(args.copies)
        ],
        ignore_index=True,
    )
    cpu_started = time.process_time()
    started = time.perf_counter()
    in_graph = scorer.score_frame(rows)
    in_graph_s = time.perf_counter() - started
    started = time.perf_counter()
    new_rejects = len(scorer.score_frame(copies).rejects)
    new_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    scores, rejects = in_graph.score_rows(), in_graph.rejects
    new_rows = len(copies)

    offline = offline_test_scores(artifacts.model_dir)
    batch = {s[schema.ID_COLUMN]: s["pred_prob"] for s in scores}
    diffs = [abs(batch[tid] - prob) for tid, prob in offline.items() if tid in batch]
    total = len(rows) + new_rows
    print(
        json.dumps(
            {
                "model": args.model,
                "rows": total,
                "rejected": len(rejects) + new_rejects,
                "cpu_count": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 1),
                "load_seconds": round(load_s, 2),
                "read_rows_per_second": round(len(rows) / read_s, 1),
                "rows_per_second_in_graph": round(len(rows) / in_graph_s, 1),
                "rows_per_second_new": round(new_rows / new_s, 1),
                "batch_rows_per_second": round(total / (in_graph_s + new_s), 1),
                "batch_rows_per_second_target_met": total / (in_graph_s + new_s) >= 20_000,
                "torch_threads": torch.get_num_threads(),
                "batch_rows_per_cpu_second": round(total / cpu_s, 1),
                "parity_transactions": len(diffs),
                "batch_parity_max_abs_diff": max(diffs) if diffs else None,
                "batch_parity_target_met": bool(diffs) and max(diffs) <= 1e-4,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
