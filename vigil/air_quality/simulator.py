"""Sensor simulator: realistic CO/SO2/NO2 readings for N locations, published over MQTT.

Readings follow a daily cycle with morning and evening rush hours, quieter weekends, a slowly
wandering weather factor (AR(1)) and sensor noise, with the UCI sentinel ``-200`` now and then.
Anomalies (spike, dip, level shift, drift, stuck, variance) can be injected at known times.

Publishing:
* ``--target iot``: the AWS IoT Device SDK (``awsiotsdk``) over MQTT with mutual TLS (X.509):
  one connection per thing, client id = thing name, topic ``vigil/air-quality/<thing>/telemetry``
  (what the thing policy allows and nothing else);
* ``--target local``: the same topic layout on the local amqtt broker (``local/standins/mqtt_broker.py``).

    python -m vigil.air_quality.simulator --locations 5 --hours 6 --target local --port 1883
    python -m vigil.air_quality.simulator --target iot --endpoint xxx-ats.iot.eu-west-1.amazonaws.com \\
        --cert-dir certs/  # certs/<thing>.pem.crt, certs/<thing>.private.key, certs/AmazonRootCA1.pem
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from vigil.air_quality.topic_rule import TOPIC_TEMPLATE

BASE = {"CO": 2.0, "SO2": 40.0, "NO2": 80.0}


def thing_name(location: str) -> str:
    return f"sensor-{location}"


@dataclass(frozen=True)
class Injected:
    location: str
    measure: str
    kind: str
    start: datetime
    end: datetime


def _daily_profile(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    rush = np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2) + 0.8 * np.exp(-0.5 * ((hour - 19.0) / 2) ** 2)
    return 0.6 + np.where(weekend, 0.4, 1.0) * rush


def generate(
    locations: int,
    start: datetime,
    steps: int,
    step_minutes: int = 5,
    *,
    seed: int = 7,
    sentinel_rate: float = 0.002,
    anomalies: Iterable[tuple[int, str, str, int, int]] = (),
) -> tuple[list[dict], list[Injected]]:
    """Readings in time order. ``anomalies``: (location index, measure, kind, first step, steps)."""
    rng = np.random.default_rng(seed)
    names = [f"B-{101 + i}" for i in range(locations)]
    stamps = [start + timedelta(minutes=step_minutes * k) for k in range(steps)]
    hour = np.array([s.hour + s.minute / 60 for s in stamps])
    weekend = np.array([s.weekday() >= 5 for s in stamps])
    profile = _daily_profile(hour, weekend)
    values: dict[tuple[int, str], np.ndarray] = {}
    for i in range(locations):
        site = rng.uniform(0.7, 1.4)
        weather = np.zeros(steps)
        for k in range(1, steps):
            weather[k] = 0.995 * weather[k - 1] + rng.normal(0, 0.02)
        for measure, base in BASE.items():
            noise = rng.normal(0, 0.06, steps)
            values[(i, measure)] = base * site * profile * np.exp(weather + noise)
    injected = []
    for loc, measure, kind, first, length in anomalies:
        series = values[(loc, measure)]
        seg = slice(first, min(first + length, steps))
        level = float(np.median(series))
        if kind == "spike":
            series[seg] += 3.0 * level
        elif kind == "dip":
            series[seg] *= 0.1
        elif kind == "level_shift":
            series[seg] *= 2.0
        elif kind == "drift":
            series[seg] *= np.linspace(1.2, 3.0, seg.stop - seg.start)
        elif kind == "stuck":
            series[seg] = series[first - 1]
        elif kind == "variance":
            series[seg] *= np.exp(rng.normal(0, 0.6, seg.stop - seg.start))
        else:
            raise ValueError(f"unknown anomaly kind {kind!r}")
        injected.append(Injected(names[loc], measure, kind, stamps[first], stamps[seg.stop - 1]))
    records = []
    for k, stamp in enumerate(stamps):
        for i, name in enumerate(names):
            record = {"TIMESTAMP": stamp.strftime("%Y-%m-%d %H:%M"), "LOCATION_ID": name}
            for measure in BASE:
                value = float(values[(i, measure)][k])
                if rng.random() < sentinel_rate:
                    value = -200.0
                record[measure] = round(value, 2 if measure == "CO" else 1)
            records.append(record)
    return records, injected


# --- publishers ----------------------------------------------------------------------------------
class LocalPublisher:
    """paho-mqtt clients on the local broker, one per thing (client id = thing name)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883):
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.host, self.port = host, port
        self.clients: dict[str, object] = {}

    def _client(self, thing: str):
        client = self.clients.get(thing)
        if client is None:
            client = self._mqtt.Client(self._mqtt.CallbackAPIVersion.VERSION2, client_id=thing)
            client.connect(self.host, self.port)
            client.loop_start()
            self.clients[thing] = client
        return client

    def publish(self, thing: str, payload: bytes) -> None:
        info = self._client(thing).publish(TOPIC_TEMPLATE.format(thing=thing), payload, qos=1)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


class IotCorePublisher:
    """AWS IoT Device SDK v2: mutual-TLS MQTT, one connection per thing (client id = thing)."""

    def __init__(self, endpoint: str, cert_dir: Path, ca_file: Path | None = None):
        self.endpoint = endpoint
        self.cert_dir = Path(cert_dir)
        self.ca_file = ca_file or self.cert_dir / "AmazonRootCA1.pem"
        self.connections: dict[str, object] = {}

    def _connection(self, thing: str):
        from awsiot import mqtt_connection_builder

        connection = self.connections.get(thing)
        if connection is None:
            connection = mqtt_connection_builder.mtls_from_path(
                endpoint=self.endpoint,
                cert_filepath=str(self.cert_dir / f"{thing}.pem.crt"),
                pri_key_filepath=str(self.cert_dir / f"{thing}.private.key"),
                ca_filepath=str(self.ca_file),
                client_id=thing,
                clean_session=False,
                keep_alive_secs=30,
            )
            connection.connect().result(timeout=20)
            self.connections[thing] = connection
        return connection

    def publish(self, thing: str, payload: bytes) -> None:
        from awscrt import mqtt

        future, _ = self._connection(thing).publish(
            topic=TOPIC_TEMPLATE.format(thing=thing), payload=payload, qos=mqtt.QoS.AT_LEAST_ONCE
        )
        future.result(timeout=20)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.disconnect().result(timeout=10)


def publish_records(
    publisher, records: Iterable[dict], *, delay_s: float = 0.0
) -> Iterator[tuple[dict, float]]:
    """Publish each record from its location's thing; yields (record, wall time published)."""
    for record in records:
        thing = thing_name(str(record.get("LOCATION_ID", "unknown")))
        publisher.publish(thing, json.dumps(record).encode())
        yield record, time.time()
        if delay_s:
            time.sleep(delay_s)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.air_quality.simulator", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--locations", type=int, default=5)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--step-minutes", type=int, default=5)
    parser.add_argument("--start", default="2026-01-05T00:00")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="LOC:MEASURE:KIND:STEP:LEN",
        help="e.g. 0:NO2:spike:40:1 (repeatable)",
    )
    parser.add_argument("--target", choices=["local", "iot"], default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--endpoint", help="IoT Core data endpoint (ATS)")
    parser.add_argument("--cert-dir", type=Path, help="<thing>.pem.crt / .private.key per thing")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between publishes")
    args = parser.parse_args(argv)
    anomalies = []
    for spec in args.inject:
        loc, measure, kind, first, length = spec.split(":")
        anomalies.append((int(loc), measure, kind, int(first), int(length)))
    steps = int(args.hours * 60 / args.step_minutes)
    records, injected = generate(
        args.locations,
        datetime.fromisoformat(args.start),
        steps,
        args.step_minutes,
        seed=args.seed,
        anomalies=anomalies,
    )
    if args.target == "iot":
        if not (args.endpoint and args.cert_dir):
            parser.error("--target iot needs --endpoint and --cert-dir")
        publisher = IotCorePublisher(args.endpoint, args.cert_dir)
    else:
        publisher = LocalPublisher(args.host, args.port)
    try:
        count = sum(1 for _ in publish_records(publisher, records, delay_s=args.delay))
    finally:
        publisher.close()
    print(json.dumps({"published": count, "injected": [i.__dict__ for i in injected]}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
