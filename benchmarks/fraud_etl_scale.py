"""Benchmark: how the fraud Glue ETL scales with rows, on local Spark.

``python benchmarks/fraud_etl_scale.py [--sizes 100000,300000,1000000] [--master local[2]]
[--format parquet|csv] [--shuffle-partitions 8] [--workdir build/bench/fraud_etl_scale]``

For each size it generates IEEE-CIS-layout transactions and identities (``vigil.fraud.datagen``,
kept in ``--workdir`` for the next run), then runs ``glue/fraud_etl.py``'s job in a fresh process
(its own Spark driver, so memory figures are per size) and records the seconds of every stage,
the seconds per million rows, the peak resident memory of the driver's Python process (where a
``collect`` would land) and of the Spark JVM (in local mode it holds the driver and the
executors), and the time-vs-rows exponent (least squares of log seconds on log rows; a job
without single-machine steps stays close to 1; target <= 1.15). The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _jvm_peak_mb(spark) -> float | None:
    """VmHWM of the Spark JVM (the launcher ``exec``s java, so its pid is the JVM's)."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is None:
        return None
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def run_one(args) -> dict:
    """Generate (if needed) and run the ETL for one size in this process."""
    from glue.fraud_etl import EtlConfig, local_spark_session, run

    data_dir = Path(args.workdir) / f"n{args.one}-{args.format}"
    ident = data_dir / f"train_identity.{args.format}"
    started = time.perf_counter()
    if not ident.exists():  # in its own process: the generator's memory is not the driver's
        subprocess.run(
            [sys.executable, "-m", "vigil.fraud.datagen", "--transactions", str(args.one),
             "--seed", str(args.seed), "--out", str(data_dir), "--format", args.format],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    generate_s = time.perf_counter() - started
    spark = local_spark_session(args.master, args.shuffle_partitions)
    spark.sparkContext.setLogLevel("ERROR")
    config = EtlConfig(
        transactions=str(data_dir / f"train_transaction.{args.format}"),
        identity=str(ident),
        output=str(Path(args.workdir) / f"out-n{args.one}"),
        shuffle_partitions=args.shuffle_partitions,
        master=args.master,
    )
    report = run(spark, config)
    jvm_mb = _jvm_peak_mb(spark)
    spark.stop()
    return {
        "rows": args.one,
        "generate_seconds": round(generate_s, 1),
        "etl_seconds": report["seconds"],
        "stages": {s["stage"]: s["seconds"] for s in report["stages"]},
        "entities": report["entities"],
        "edges": report["edges"],
        "python_driver_peak_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "spark_jvm_peak_mb": jvm_mb,
    }


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Slope of log(seconds) on log(rows) by least squares."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=str(ROOT / "build" / "bench" / "fraud_etl_scale"))
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args)))
        return 0

    runs = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        command = [sys.executable, __file__, "--one", str(size), "--master", args.master,
                   "--format", args.format, "--shuffle-partitions", str(args.shuffle_partitions),
                   "--seed", str(args.seed), "--workdir", args.workdir]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy()
        )
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"ETL run for {size} rows failed ({done.returncode})")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), file=sys.stderr)
        runs.append(result)

    largest = runs[-1]
    summary = {
        "master": args.master,
        "format": args.format,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "runs": runs,
        "seconds_per_million_rows": {
            str(r["rows"]): round(r["etl_seconds"] / r["rows"] * 1e6, 1) for r in runs
        },
        "stage_seconds_per_million_rows": {
            stage: round(seconds / largest["rows"] * 1e6, 1)
            for stage, seconds in largest["stages"].items()
        },
        "scaling_exponent": None,
        "driver_peak_mb": max(r["python_driver_peak_mb"] for r in runs),
        "spark_jvm_peak_mb": max((r["spark_jvm_peak_mb"] or 0) for r in runs) or None,
    }
    slope = exponent([(r["rows"], r["etl_seconds"]) for r in runs])
    summary["scaling_exponent"] = None if slope is None else round(slope, 3)
    summary["scaling_exponent_target_met"] = slope is not None and slope <= 1.15
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
