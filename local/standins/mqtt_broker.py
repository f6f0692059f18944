"""A real MQTT broker (amqtt, from PyPI) on 127.0.0.1: the local stand-in for AWS IoT Core's broker.

Run it as ``python -m local.standins.mqtt_broker --port 1883`` or start it from code with
``start_mqtt_broker()`` (a subprocess, stopped by its PID). Devices connect with their thing name
as client id, as they do against IoT Core; TLS and X.509 are the cloud's part (see the simulator).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from local.standins.loopback_process import LoopbackProcess, free_port


def broker_config(port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def _serve(port: int) -> None:
    from amqtt.broker import Broker

    broker = Broker(broker_config(port))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


@dataclass
class MqttBroker(LoopbackProcess):
    """The amqtt broker process (its health check is a TCP connect, not HTTP)."""

    host: str = "127.0.0.1"


def start_mqtt_broker(port: int | None = None, *, timeout: float = 20.0) -> MqttBroker:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.standins.mqtt_broker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MQTT broker exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return MqttBroker(process, port)
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"MQTT broker did not listen on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def running_mqtt_broker() -> Iterator[MqttBroker]:
    broker = start_mqtt_broker()
    try:
        yield broker
    finally:
        broker.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
