"""Air quality at fleet scale: per delivered object, what the continuous detector costs as the
fleet grows, through the local continuous path (moto server: S3 and DynamoDB on 127.0.0.1).

For each fleet size (1k, 10k, 30k series = places x CO/SO2/NO2 at 5-minute intervals) a detector
is configured with ``state_shards = ceil(series / --series-per-shard)`` and every shard's state is
created in DynamoDB (one warm-up object per shard). Then the measured objects go through
``DetectorService.process_object`` (S3 GET, claim, validation, the shards' state load, scoring,
anomaly writes, the conditional state commit). Each measured object is what Firehose's dynamic
partitioning delivers: one shard's readings for one 5-minute interval (every place reports once);
the same shards and intervals are measured at every fleet size, so the object size stays the
same while the fleet grows 30-fold. A second sweep at the largest fleet delivers objects that span
1, 2 and 4 shards: the cost per object should grow with the series in the object instead.

Reported per measured object: wall seconds (the moto server runs in its own process and
serves every DynamoDB call over HTTP, so this is dominated by the stand-in), the detector's own
CPU seconds, state bytes read and written, state items written, and what the previous
single-blob design would have read and written for the same object (the whole fleet's state).

The default run (about 3 to 5 minutes on a loaded 2-core machine) covers half an hour of data
after the warm-up interval: ``--intervals 6``. State per series here is what a few intervals leave
(profiles still empty, they compress well); a detector that learnt weeks of history keeps about
6.7 KB per series (docs/air-quality.md), which scales bytes per object by the same factor at every
fleet size and leaves the ratio as it is.

    python benchmarks/air_quality_scale.py            # prints one JSON object as its last line
    python benchmarks/air_quality_scale.py --series 1000,10000,30000 --intervals 12
    python benchmarks/air_quality_scale.py --state-store s3   # the shards as S3 objects
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vigil.air_quality.config import DetectorConfig, Measure  # noqa: E402
from vigil.air_quality.sharding import shard_of  # noqa: E402

OUT = REPO / "build" / "benchmarks" / "air_quality_scale"
MEASURES = ("CO", "SO2", "NO2")
START = datetime(2026, 3, 2)
INTERVAL = 5


def fleet_config(series: int, series_per_shard: int) -> DetectorConfig:
    return DetectorConfig(
        name=f"scale-{series}",
        interval_minutes=INTERVAL,
        measures=[Measure(name=m) for m in MEASURES],
        dimensions=["LOCATION_ID"],
        state_shards=max(1, math.ceil(series / series_per_shard)),
    )


def places_by_shard(series: int, shards: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {k: [] for k in range(shards)}
    for i in range(series // len(MEASURES)):
        place = f"P-{i:06d}"
        out[shard_of(place, shards)].append(place)
    return out


def readings(places: list[str], interval: int, rng: np.random.Generator) -> bytes:
    """One reading per place for one 5-minute interval, as Firehose writes them (JSON lines)."""
    stamp = (START + timedelta(minutes=INTERVAL * interval)).strftime("%Y-%m-%d %H:%M")
    values = rng.normal([2.0, 60.0, 80.0], [0.1, 3.0, 4.0], size=(len(places), 3)).round(3)
    lines = [
        f'{{"TIMESTAMP":"{stamp}","LOCATION_ID":"{p}","CO":{v[0]},"SO2":{v[1]},"NO2":{v[2]}}}'
        for p, v in zip(places, values.tolist(), strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def deliver(service, bucket: str, key: str, body: bytes) -> tuple[dict, float, float, dict]:
    """One object through the service: its counts, wall and CPU seconds, and state traffic."""
    from vigil.aws import client

    client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))
    before = asdict(service.state.traffic)
    wall, cpu = time.perf_counter(), time.process_time()
    result = service.process_object(bucket, key)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = asdict(service.state.traffic)
    counts = result.counts()
    if counts["received"] != counts["processed"] + counts["rejected"] or counts["rejected"]:
        raise AssertionError(f"accounting broken or records rejected for {key}: {counts}")
    return counts, wall, cpu, {k: after[k] - before[k] for k in after}


def fleet_state_bytes(service, table: str, config: DetectorConfig) -> int:
    """Every shard's stored state: what the single-blob design read and rewrote per object."""
    from vigil.air_quality.state_store import S3ShardStore, ShardedStateStore
    from vigil.aws import client

    if isinstance(service.state, S3ShardStore):
        pages = (
            client("s3")
            .get_paginator("list_objects_v2")
            .paginate(
                Bucket=service.state.bucket,
                Prefix=service.state.partition(0).rsplit("/", 1)[0] + "/",
            )
        )
        return sum(o["Size"] for page in pages for o in page.get("Contents", []))

    store = ShardedStateStore(table, config.name, config.state_shards)
    ddb, total = client("dynamodb"), 0
    for start in range(0, config.state_shards, 100):
        keys = [
            {"pk": {"S": store.partition(k)}, "sk": {"S": "head"}}
            for k in range(start, min(start + 100, config.state_shards))
        ]
        response = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
        total += sum(int(item["bytes"]["N"]) for item in response["Responses"][table])
    return total


def run_fleet(resources, series: int, args, rng) -> dict:
    from vigil.air_quality.service import DetectorService

    config = fleet_config(series, args.series_per_shard)
    service = DetectorService(
        config,
        state_table=resources.state_table,
        anomaly_table=resources.anomaly_table,
        topic_arn=None,
        state_bucket=resources.bucket if args.state_store == "s3" else None,
    )
    shards = places_by_shard(series, config.state_shards)
    started = time.perf_counter()
    for k, places in shards.items():  # warm-up: every shard's state exists in DynamoDB
        deliver(
            service, resources.bucket, f"readings/{config.name}/warm/{k}", readings(places, 0, rng)
        )
    warm_seconds = time.perf_counter() - started
    # the measured objects: the same number of places each, at every fleet size
    per_object = args.places_per_object
    measured = []
    for interval in range(1, args.intervals + 1):
        for k in range(args.shards_measured):
            places = shards[k][:per_object]
            if len(places) < per_object:
                raise SystemExit(f"shard {k} of {series} series holds {len(shards[k])} places")
            others = shards[k][per_object:]  # the rest of the shard reports too, unmeasured
            body = readings(places, interval, rng)
            key = f"readings/{config.name}/shard={k}/{interval}"
            counts, wall, cpu, traffic = deliver(service, resources.bucket, key, body)
            measured.append({"records": counts["received"], "wall": wall, "cpu": cpu, **traffic})
            if others:
                deliver(
                    service,
                    resources.bucket,
                    f"{key}-rest",
                    readings(others, interval, rng),
                )
        for k in range(args.shards_measured, config.state_shards):  # the fleet keeps reporting
            if interval == args.intervals:
                deliver(
                    service,
                    resources.bucket,
                    f"readings/{config.name}/shard={k}/{interval}",
                    readings(shards[k], interval, rng),
                )

    def mean(name):
        return float(np.mean([m[name] for m in measured]))

    blob = fleet_state_bytes(service, resources.state_table, config)
    records = sum(m["records"] for m in measured)
    return {
        "series": series,
        "shards": config.state_shards,
        "series_per_object": per_object * len(MEASURES),
        "shard_series": round(series / config.state_shards),
        "objects_measured": len(measured),
        "seconds_per_object": round(mean("wall"), 4),
        "detector_cpu_seconds_per_object": round(mean("cpu"), 4),
        "state_bytes_read_per_object": round(mean("bytes_read")),
        "state_bytes_written_per_object": round(mean("bytes_written")),
        "state_items_written_per_object": round(mean("items_written"), 2),
        "state_items_read_per_object": round(mean("items_read"), 2),
        "fleet_state_bytes": blob,
        "fleet_state_bytes_per_series": round(blob / series, 1),
        "single_blob_bytes_per_object": blob,  # the previous design read and rewrote all of it
        "records_per_second": round(records / sum(m["wall"] for m in measured)),
        "records_per_cpu_second": round(records / sum(m["cpu"] for m in measured)),
        "warm_up_seconds": round(warm_seconds, 1),
    }


def object_size_sweep(resources, series: int, args, rng) -> list[dict]:
    """At one fleet size, objects spanning 1, 2 and 4 whole shards: cost follows the object."""
    from vigil.air_quality.service import DetectorService

    config = fleet_config(series, args.series_per_shard)
    service = DetectorService(
        config,
        state_table=resources.state_table,
        anomaly_table=resources.anomaly_table,
        topic_arn=None,
        state_bucket=resources.bucket if args.state_store == "s3" else None,
    )
    shards = places_by_shard(series, config.state_shards)
    interval = args.intervals + 1
    out = []
    first = args.shards_measured  # shards the first sweep did not measure
    for width in (1, 2, 4):
        places = [p for k in range(first, first + width) for p in shards[k]]
        key = f"readings/{config.name}/sweep/{width}"
        _, wall, _, traffic = deliver(
            service, resources.bucket, key, readings(places, interval, rng)
        )
        out.append(
            {
                "shards_in_object": width,
                "series_in_object": len(places) * len(MEASURES),
                "seconds": round(wall, 4),
                "state_bytes_written": traffic["bytes_written"],
                "state_items_written": traffic["items_written"],
            }
        )
        first += width
    return out


def mature_state_bytes_per_series(args, rng) -> dict:
    """One shard learnt from ``--mature-days`` of 5-minute history, then a live hour: its
    serialised size per series (profiles filled: what a detector in service stores)."""
    from vigil.air_quality.engine import Detector
    from vigil.air_quality.records import parse_json_lines

    config = fleet_config(args.series_per_shard, args.series_per_shard)
    places = [f"P-{i:06d}" for i in range(args.series_per_shard // len(MEASURES))]
    history_intervals = args.mature_days * 288
    detector = Detector(config)
    history = b"".join(readings(places, i, rng) for i in range(history_intervals))
    detector.learn(parse_json_lines(history, config))
    live = b"".join(readings(places, history_intervals + i, rng) for i in range(12))
    detector.ingest(parse_json_lines(live, config))
    size = len(detector.to_bytes())
    return {
        "history_days": args.mature_days,
        "series": len(detector.series),
        "shard_state_bytes": size,
        "bytes_per_series": round(size / len(detector.series), 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Vigil air-quality scale benchmark")
    parser.add_argument("--series", default="1000,10000,30000", help="fleet sizes (series)")
    parser.add_argument("--series-per-shard", type=int, default=300)
    parser.add_argument("--intervals", type=int, default=6, help="measured 5-minute intervals")
    parser.add_argument("--shards-measured", type=int, default=3)
    parser.add_argument(
        "--places-per-object", type=int, default=60, help="places (x 3 series) per object"
    )
    parser.add_argument(
        "--mature-days", type=int, default=14, help="history one shard learns for its mature size"
    )
    parser.add_argument(
        "--state-store",
        choices=("dynamodb", "s3"),
        default="dynamodb",
        help="where the shards' state lives (the stack's vigil:air-quality:stateStore)",
    )
    args = parser.parse_args(argv)
    from local.standins.air_quality_pipeline import provision
    from local.standins.moto_server import running_moto_server
    from vigil.aws import reset_clients

    fleets = [int(s) for s in args.series.split(",")]
    rng = np.random.default_rng(7)
    OUT.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    results, sweep = [], []
    try:
        with running_moto_server() as moto:
            os.environ.update(moto.environment())
            reset_clients()
            resources = provision("vigil-air-scale")
            for series in fleets:
                results.append(run_fleet(resources, series, args, rng))
                print(json.dumps(results[-1]), flush=True)
            sweep = object_size_sweep(resources, fleets[-1], args, rng)
            print(json.dumps({"object_size_sweep": sweep}), flush=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with contextlib.suppress(Exception):
            reset_clients()
    mature = mature_state_bytes_per_series(args, rng)
    print(json.dumps({"mature_state": mature}), flush=True)
    by_series = {r["series"]: r for r in results}
    smallest, largest = by_series[min(fleets)], by_series[max(fleets)]
    summary = {
        "series": fleets,
        "shards": {s: by_series[s]["shards"] for s in fleets},
        "series_per_object": smallest["series_per_object"],
        "seconds_per_object": {s: by_series[s]["seconds_per_object"] for s in fleets},
        "detector_cpu_seconds_per_object": {
            s: by_series[s]["detector_cpu_seconds_per_object"] for s in fleets
        },
        "state_bytes_read_per_object": {
            s: by_series[s]["state_bytes_read_per_object"] for s in fleets
        },
        "state_bytes_written_per_object": {
            s: by_series[s]["state_bytes_written_per_object"] for s in fleets
        },
        "state_items_written_per_object": {
            s: by_series[s]["state_items_written_per_object"] for s in fleets
        },
        "single_blob_bytes_per_object": {
            s: by_series[s]["single_blob_bytes_per_object"] for s in fleets
        },
        "fleet_state_bytes_per_series": {
            s: by_series[s]["fleet_state_bytes_per_series"] for s in fleets
        },
        "state_bytes_ratio_30k_vs_1k": round(
            largest["state_bytes_written_per_object"] / smallest["state_bytes_written_per_object"],
            3,
        ),
        "single_blob_ratio_30k_vs_1k": round(
            largest["single_blob_bytes_per_object"] / smallest["single_blob_bytes_per_object"], 1
        ),
        "seconds_ratio_30k_vs_1k": round(
            largest["seconds_per_object"] / smallest["seconds_per_object"], 3
        ),
        "object_size_sweep": sweep,
        "mature_state": mature,
        # what one object's commit writes once the shard has learnt (one shard per object)
        "mature_state_bytes_written_per_object": {
            s: round(by_series[s]["shard_series"] * mature["bytes_per_series"]) for s in fleets
        },
        "mature_single_blob_bytes_per_object": {
            s: round(s * mature["bytes_per_series"]) for s in fleets
        },
        "records_per_second": {s: by_series[s]["records_per_second"] for s in fleets},
        "records_per_cpu_second": {s: by_series[s]["records_per_cpu_second"] for s in fleets},
        "intervals_measured": args.intervals,
        "state_store": args.state_store,
    }
    (OUT / "metrics.json").write_text(json.dumps({"fleets": results, **summary}, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
