"""Fault injection for Vigil's local HTTP stand-ins (Neptune stand-in, SageMaker runtime proxy).

A test asks a running stand-in to fail its next ``count`` requests the way the real service fails
(an HTTP status with the service's error code, or a slow answer), then checks that the caller's
retries, latency budget and fallback behave. ``POST <endpoint>/_standin/faults`` with JSON
``{"status": 503, "code": "ServiceUnavailable", "count": 2, "delay_s": 0.0}`` arms them;
``POST <endpoint>/_standin/reset-faults`` disarms them.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass, field
from typing import Any

FAULTS_PATH = "/_standin/faults"
RESET_PATH = "/_standin/reset-faults"


@dataclass
class Faults:
    status: int = 0
    code: str = ""
    count: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, spec: dict[str, Any]) -> None:
        with self.lock:
            self.status = int(spec.get("status", 500))
            self.code = str(spec.get("code", ""))
            self.count = int(spec.get("count", 1))
            self.delay_s = float(spec.get("delay_s", 0.0))

    def reset(self) -> None:
        with self.lock:
            self.count = 0

    def take(self) -> tuple[int, str, float] | None:
        """The fault for this request, if one is armed (each request uses one up)."""
        with self.lock:
            if self.count <= 0:
                return None
            self.count -= 1
            return self.status, self.code, self.delay_s


def inject_faults(endpoint_url: str, **spec: Any) -> None:
    """Arm ``spec`` (status, code, count, delay_s) on the stand-in; no arguments disarms it."""
    path = FAULTS_PATH if spec else RESET_PATH
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + path,
        data=json.dumps(spec).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()
