"""`make demo-air`: the air-quality system end to end on local stand-ins.

1. learn from the first 60 % of the UCI Air Quality file (hourly CO, NO2, NOx of one device);
2. replay the next four weeks with anomalies of six kinds injected at known times, published as
   MQTT messages from the device's thing to a real local broker (amqtt);
3. the local topic-rule bridge applies the rule SQL and puts the records to Firehose on moto
   server, which writes objects to S3; each new object triggers the real detector handler, which
   keeps its state in DynamoDB, stores anomalies and publishes alerts to SNS;
4. alerts are read back through an SQS subscription and printed; a PNG per alerted series shows
   observed vs expected (``build/demo/air_quality/``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from local.standins.air_quality_pipeline import (
    read_alerts,
    running_air_quality,
    running_path,
    wait_until_idle,
)
from local.standins.api_gateway import LocalContext
from vigil.air_quality.backtest import run_backtest
from vigil.air_quality.config import DetectorConfig, Measure
from vigil.air_quality.simulator import LocalPublisher, publish_records
from vigil.air_quality.uci import inject, load_uci

OUT = Path(__file__).resolve().parents[2] / "build" / "demo" / "air_quality"
MEASURES = ["CO", "NO2", "NOx"]
REPLAY_ROWS = 24 * 28


def demo_config() -> DetectorConfig:
    return DetectorConfig(
        name="uci-demo",
        interval_minutes=60,
        measures=[Measure(name=m) for m in MEASURES],
        dimensions=["LOCATION_ID"],
        lateness_minutes=0,
        cooldown_minutes=120,
    )


CONTEXT = LocalContext(
    function_name="vigil-air-quality-detector",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:vigil-air-detector",
    aws_request_id="local",
    log_group_name="/aws/lambda/vigil-air-quality-detector",
    timeout_ms=60_000,
)


def plot_series(scores: pd.DataFrame, measure: str, alerts: list[str], injections, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = scores[scores["measure"] == measure]
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot(part["interval_start"], part["observed"], lw=1, label="observed")
    ax.plot(part["interval_start"], part["expected"], lw=1, ls="--", label="expected")
    for inj in injections:
        if inj.measure == measure:
            ax.axvspan(pd.Timestamp(inj.start), pd.Timestamp(inj.end), color="orange", alpha=0.3)
    stamps = pd.to_datetime(alerts)
    hit = part[part["interval_start"].isin(stamps)]
    ax.scatter(hit["interval_start"], hit["observed"], color="red", zorder=3, label="alert")
    ax.set_title(f"{measure} at UCI-1: observed vs expected (orange: injected anomalies)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    from lambdas.air_quality.detector import handler as detector_handler

    started = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    config = demo_config()
    frame = load_uci()
    split = int(len(frame) * 0.6)
    injected, injections = inject(
        frame.iloc[: split + REPLAY_ROWS], MEASURES, seed=11, start_row=split, per_kind=1, gap=24
    )
    history, replay = injected.iloc[:split], injected.iloc[split:]
    print(f"[air] history {len(history)} hourly rows, replay {len(replay)} rows with")
    for inj in injections:
        print(f"        {inj.kind:<12} {inj.measure:<4} {inj.start} .. {inj.end}")

    with running_air_quality(config, history, "vigil-air-demo") as local:
        resources = local.resources
        print(f"[air] learnt {local.series} series; state stored in DynamoDB")

        records = []
        for row in replay.to_dict("records"):
            records.append({k: (None if pd.isna(v) else v) for k, v in row.items()})
        publisher = LocalPublisher(port=local.broker_port)
        with running_path(local.broker_port, resources, detector_handler.handler, CONTEXT) as (
            bridge,
            trigger,
        ):
            sent = sum(1 for _ in publish_records(publisher, records, delay_s=0.002))
            publisher.close()
            wait_until_idle(bridge, trigger, sent, timeout=120)
        alerts = read_alerts(resources.queue_url, wait_s=2.0)
        totals: dict[str, int] = {}
        for result in trigger.results:
            for k, v in (result or {}).items():
                totals[k] = totals.get(k, 0) + v
        print(
            f"[air] published {sent} MQTT messages; bridge forwarded {bridge.forwarded} to "
            f"Firehose; detector ran on {len(trigger.results)} S3 objects "
            f"({len(trigger.errors)} failed)"
        )
        print(f"[air] detector totals: {totals}")
        for error in trigger.errors:
            print(f"[air] detector failed on {error}")

    print(f"\n[air] {len(alerts)} alert message(s) received through SNS → SQS:")
    alerted: dict[str, list[str]] = {}
    for alert in alerts:
        print(f"  * {alert['subject']}")
        body = alert["message"].split("\n")
        for line in body[2:]:
            if line.startswith("- "):
                print(f"      {line}")
        details = body[-1]
        import json

        group = json.loads(details)
        for anomaly in group.get("anomalies", []):  # silent/recovered notes carry none
            alerted.setdefault(anomaly["measure"], []).append(anomaly["interval_start"])

    # Which injected anomalies were alerted (alert inside the window + 3 intervals)?
    print("\n[air] injected anomaly → alerted?")
    hits = 0
    for inj in injections:
        stamps = pd.to_datetime(alerted.get(inj.measure, []))
        lo, hi = pd.Timestamp(inj.start), pd.Timestamp(inj.end) + pd.Timedelta(hours=3)
        hit = bool(((stamps >= lo) & (stamps <= hi)).any())
        hits += hit
        print(f"  {inj.kind:<12} {inj.measure:<4} {inj.start}: {'yes' if hit else 'no'}")

    # Observed vs expected: the same engine, same history, over the same records (backtest).
    _, scores, _, _ = run_backtest(injected, config, learn_fraction=split / len(injected))
    for measure in sorted(alerted):
        path = OUT / f"{measure}_UCI-1.png"
        plot_series(scores, measure, alerted[measure], injections, path)
        print(f"[air] wrote {path.relative_to(OUT.parents[2])}")
    print(
        f"\n[air] summary: {len(injections)} injected, {hits} alerted, "
        f"{len(alerts)} alert messages, {sum(len(v) for v in alerted.values())} series alerts, "
        f"{time.monotonic() - started:.1f}s"
    )
    ok = (
        sent == len(records)
        and totals.get("received", 0) == totals.get("processed", 0) + totals.get("rejected", 0)
        and not trigger.errors
        and len(alerts) > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main(sys.argv[1:]))
