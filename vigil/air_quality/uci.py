"""The UCI Air Quality file as records, and anomalies of six kinds injected at known times.

The file (De Vito et al.) is hourly, ``;``-separated with decimal commas and ``-200`` for a missing
value. ``load_uci`` returns it as Vigil records: ``TIMESTAMP`` (``%Y-%m-%d %H:%M``), a
``LOCATION_ID`` (the one device, ``UCI-1``) and the ground-truth pollutant columns renamed to
plain names (CO, NO2, NOx, C6H6); -200 is kept, as a sensor would send it.

``inject`` changes a copy of the frame at known places and returns the ground-truth windows.
Magnitudes are in units of the series' hour-to-hour noise ``sigma`` (standard deviation of the
first differences / sqrt 2, over the part of the file being injected), so every kind is comparable
across pollutants:

* spike: +U(4, 7) sigma for one interval; dip: -U(4, 7) sigma for one interval (where the value
  leaves room to dip without going below zero);
* level shift: +-U(3, 5) sigma for 12 intervals;
* drift: a linear ramp from 0 to +U(6, 9) sigma over 24 intervals;
* stuck sensor: the value at the start repeated for 8 intervals;
* variance burst: Gaussian noise of 3 sigma added for 12 intervals (clipped at zero).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.datasets import UCI_AIR_QUALITY, data_file

UCI_MEASURES = {"CO(GT)": "CO", "NO2(GT)": "NO2", "NOx(GT)": "NOx", "C6H6(GT)": "C6H6"}
SENTINEL = -200.0
KINDS = ("spike", "dip", "level_shift", "drift", "stuck", "variance")
LENGTHS = {"spike": 1, "dip": 1, "level_shift": 12, "drift": 24, "stuck": 8, "variance": 12}


def load_uci(path: str | Path | None = None) -> pd.DataFrame:
    """The file at ``path``, by default the copy vendored in the repository's ``data/``."""
    path = Path(path) if path else data_file(UCI_AIR_QUALITY)
    raw = pd.read_csv(path, sep=";", decimal=",")
    raw = raw.dropna(subset=["Date", "Time"])
    stamps = pd.to_datetime(raw["Date"] + " " + raw["Time"], format="%d/%m/%Y %H.%M.%S")
    frame = pd.DataFrame({"TIMESTAMP": stamps.dt.strftime("%Y-%m-%d %H:%M")})
    frame["LOCATION_ID"] = "UCI-1"
    for source, name in UCI_MEASURES.items():
        frame[name] = raw[source].astype(float).to_numpy()
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Injection:
    measure: str
    kind: str
    start: str  # TIMESTAMP of the first changed interval
    end: str  # TIMESTAMP of the last changed interval
    start_row: int
    end_row: int
    magnitude_sigma: float

    def to_dict(self) -> dict:
        return asdict(self)


def robust_sigma(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.std(np.diff(v)) / np.sqrt(2)) or 1e-3


def inject(
    frame: pd.DataFrame,
    measures: list[str],
    *,
    seed: int,
    start_row: int,
    per_kind: int = 3,
    gap: int = 48,
) -> tuple[pd.DataFrame, list[Injection]]:
    """Inject ``per_kind`` anomalies of every kind into each measure after ``start_row``."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    injections: list[Injection] = []
    for measure in measures:
        values = out[measure].to_numpy(dtype=float).copy()
        valid = values != SENTINEL
        sigma = robust_sigma(np.where(valid, values, np.nan)[start_row:])
        taken = np.zeros(len(values), dtype=bool)
        plan = [kind for kind in KINDS for _ in range(per_kind)]
        rng.shuffle(plan)
        for kind in plan:
            length = LENGTHS[kind]
            for _ in range(500):
                s = int(rng.integers(start_row + 2, len(values) - length - 2))
                lo, hi = max(0, s - gap), min(len(values), s + length + gap)
                window = slice(s, s + length)
                if taken[lo:hi].any() or not valid[s - 2 : s + length + 2].all():
                    continue
                if _apply(kind, values, window, sigma, rng, injections, measure, out):
                    taken[lo:hi] = True
                    break
        out[measure] = values
    injections.sort(key=lambda i: (i.start, i.measure))
    return out, injections


def _apply(kind, values, window, sigma, rng, injections, measure, frame) -> bool:
    seg = values[window]
    if kind == "spike":
        magnitude = rng.uniform(4, 7)
        values[window] = seg + magnitude * sigma
    elif kind == "dip":
        magnitude = rng.uniform(4, 7)
        if (seg - magnitude * sigma < 0).any():
            return False
        values[window] = seg - magnitude * sigma
    elif kind == "level_shift":
        magnitude = rng.uniform(3, 5) * rng.choice([-1, 1])
        if (seg + magnitude * sigma < 0).any():
            magnitude = abs(magnitude)
        values[window] = seg + magnitude * sigma
    elif kind == "drift":
        magnitude = rng.uniform(6, 9)
        values[window] = seg + np.linspace(magnitude / len(seg), magnitude, len(seg)) * sigma
    elif kind == "stuck":
        magnitude = 0.0
        values[window] = values[window.start - 1]
    elif kind == "variance":
        magnitude = 3.0
        values[window] = np.maximum(seg + rng.normal(0, 3 * sigma, len(seg)), 0.0)
    else:  # pragma: no cover - KINDS is closed
        raise ValueError(kind)
    stamps = frame["TIMESTAMP"]
    injections.append(
        Injection(
            measure=measure,
            kind=kind,
            start=str(stamps.iloc[window.start]),
            end=str(stamps.iloc[window.stop - 1]),
            start_row=window.start,
            end_row=window.stop - 1,
            magnitude_sigma=round(float(magnitude), 2),
        )
    )
    return True
