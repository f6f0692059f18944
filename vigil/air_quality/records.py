"""Records in, validated columns out: JSON lines or a table → a ``Batch`` plus named rejects.

Validation is vectorised (pandas) so the continuous path keeps up with Firehose. A record is
rejected, with every reason named, when it is not a JSON object, lacks the timestamp, a dimension
or a measure, has a timestamp that does not match the configured format, or has a measure that is
not a finite number (strings, booleans, null, NaN, Infinity). A sensor sentinel (-200 by default)
is not an error: that measure is missing for that record. Nothing is dropped silently:
``received == len(batch) + len(rejects)``. Each reject also carries one code from the contract's
``REJECT_REASONS`` (what the metrics and the data-quality figures count) and
its timestamp's minute when it had a readable one (which interval it counts in). With several
problems, the code is the most basic one, in the order of ``REJECT_REASONS`` (a missing field
before a wrong type), so both parsing paths give a record the same code.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vigil.air_quality.config import DetectorConfig
from vigil.air_quality.contract import (
    BAD_DIMENSION,
    BAD_MEASURE,
    BAD_TIMESTAMP,
    MISSING_FIELD,
    NOT_JSON,
    REJECT_REASONS,
    WRONG_DEVICE,
)
from vigil.air_quality.sharding import DIM_SEPARATOR, shard_of

_RANK = {code: rank for rank, code in enumerate(REJECT_REASONS)}  # lower: more basic


@dataclass
class Reject:
    record: str
    reason: str
    code: str | None = None  # one of REJECT_REASONS
    minute: int | None = None  # the record's time when it could be read

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason, "code": self.code, "record": self.record})


@dataclass
class Batch:
    """Valid records as columns: minute timestamps, one dimension key each, measure values."""

    minutes: np.ndarray  # int64 minutes since the epoch (naive local clock of the sensor)
    dim_keys: np.ndarray  # object array of "value1\x1fvalue2" ("" without dimensions)
    values: np.ndarray  # float64 [n, n_measures]; NaN where a sentinel marked it missing
    sentinels: int = 0
    received: int = 0
    rejects: list[Reject] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.minutes)

    def take(self, rows: np.ndarray) -> Batch:
        """The records at ``rows`` as a batch of their own (counts and rejects stay here)."""
        return Batch(
            minutes=self.minutes[rows],
            dim_keys=self.dim_keys[rows],
            values=self.values[rows],
            received=len(rows),
        )


def rows_by_shard(dim_keys: np.ndarray, shards: int) -> dict[int, np.ndarray]:
    """Row numbers per state shard of their dimension keys, in their order within a shard."""
    if not len(dim_keys):
        return {}
    codes, keys = pd.factorize(dim_keys)
    shard_of_key = np.array([shard_of(str(key), shards) for key in keys], dtype=np.int64)
    shard = shard_of_key[codes]
    order = np.argsort(shard, kind="stable")
    cuts = np.flatnonzero(np.diff(shard[order])) + 1
    return {int(shard[part[0]]): part for part in np.split(order, cuts)}


def _raw_lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line.strip()]


def parse_json_lines(data: bytes | str, config: DetectorConfig) -> Batch:
    """Parse newline-delimited JSON (what Firehose writes) and validate it."""
    if isinstance(data, str):
        data = data.encode()
    lines = _raw_lines(data)
    if not lines:
        return _empty(config)
    # Both C parsers assume one object per line: a line that is an array, a number or null
    # makes pandas build a frame validate_frame cannot read, and a leading null crashes
    # Arrow's reader outright, so any such line sends the whole object to the per-line path.
    objects_only = all(line.lstrip()[:1] == b"{" for line in lines)
    if objects_only:
        fast = _arrow_fast_path(data, config)
        if fast is not None:
            return fast
    frame = None
    if objects_only:
        try:  # fast path: one C parser call for the whole object
            frame = pd.read_json(io.BytesIO(b"\n".join(lines)), lines=True, dtype=False)
            if len(frame) != len(lines):
                frame = None
        except (ValueError, TypeError, RecursionError):
            frame = None
    rejects: list[Reject] = []
    if frame is None:  # slow path: find the lines that are not JSON objects
        required = [*config.timestamp_columns, *config.dimensions, *config.measure_names]
        rows, kept = [], []
        for line in lines:
            text = line.decode("utf-8", errors="replace")
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
                rejects.append(Reject(text, reason, NOT_JSON))
                continue
            except RecursionError:
                rejects.append(Reject(text, "not valid JSON: nested too deeply", NOT_JSON))
                continue
            if not isinstance(parsed, dict):
                reason = f"not a JSON object but {type(parsed).__name__}"
                rejects.append(Reject(text, reason, NOT_JSON))
                continue
            problems = [f"missing field {n}" for n in required if n not in parsed]
            problems += [f"{n} is null" for n in required if n in parsed and parsed[n] is None]
            if problems:
                minute = _readable_minute(parsed, config)
                rejects.append(Reject(text, "; ".join(problems), MISSING_FIELD, minute))
                continue
            rows.append(parsed)
            kept.append(text)
        frame = pd.DataFrame(rows, columns=required) if not rows else pd.DataFrame(rows)
        raw = kept
    else:
        raw = lines
    batch = validate_frame(frame, config, raw=raw)
    batch.received += len(rejects)
    batch.rejects = rejects + batch.rejects
    return batch


def _readable_minute(record: dict, config: DetectorConfig) -> int | None:
    """The minute of a rejected record's timestamp, when it has a readable one."""
    if any(record.get(name) is None for name in config.timestamp_columns):
        return None
    text = " ".join(str(record[name]) for name in config.timestamp_columns)
    if config.timestamp_format in ("epoch_s", "epoch_ms"):
        text = record[config.timestamp_columns[0]]
    minute = parse_timestamps(pd.Series([text]), config.timestamp_format).iloc[0]
    return int(minute) if np.isfinite(minute) else None


THING_COLUMN = "THING_NAME"  # added by the topic rule: topic(3), the publishing device's name


def expected_things(frame: pd.DataFrame, config: DetectorConfig) -> np.ndarray:
    """Per record, the thing name of the device allowed to report for its dimension values."""
    template = config.device_thing_template or ""
    columns = {name: frame[name].astype(str).tolist() for name in config.dimensions}
    return np.array(
        [
            template.format(**{name: columns[name][i] for name in config.dimensions})
            for i in range(len(frame))
        ],
        dtype=object,
    )


def _arrow_fast_path(data: bytes, config: DetectorConfig) -> Batch | None:
    """Clean batches (the common case) parse in Arrow's C++ JSON reader, fully vectorised.

    Returns None whenever anything needs a per-record explanation (bad JSON, a wrong type, a
    missing field, an unparseable timestamp, NaN): the caller then takes the pandas path, which
    names every problem per record.
    """
    if (
        len(config.timestamp_columns) != 1
        or config.timestamp_format in ("epoch_s", "epoch_ms", "iso8601")
        or config.device_thing_template is not None  # checked per record on the pandas path
    ):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pa_json

    stamp = config.timestamp_columns[0]
    fields = [(stamp, pa.string())]
    fields += [(name, pa.string()) for name in config.dimensions]
    fields += [(name, pa.float64()) for name in config.measure_names]
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    names = [name for name, _ in fields]
    if any(name not in table.column_names for name in names):
        return None
    if any(table[name].null_count for name in names):
        return None
    seconds = pc.strptime(
        table[stamp], format=config.timestamp_format, unit="s", error_is_null=True
    )
    if seconds.null_count:
        return None
    minutes = pc.floor(pc.divide(seconds.cast(pa.int64()).cast(pa.float64()), 60.0))
    minutes = minutes.to_numpy(zero_copy_only=False).astype(np.int64)
    values = np.column_stack(
        [table[name].to_numpy(zero_copy_only=False) for name in config.measure_names]
    ).astype(float)
    if not np.isfinite(values).all():
        return None
    if config.dimensions:
        for name in config.dimensions:  # each value: a joined key such as "\x1fs-1" is not empty
            if pc.any(pc.equal(pc.utf8_trim_whitespace(pc.unique(table[name])), "")).as_py():
                return None
        keys = table[config.dimensions[0]]
        for name in config.dimensions[1:]:
            keys = pc.binary_join_element_wise(keys, table[name], DIM_SEPARATOR)
        encoded = pc.dictionary_encode(keys).combine_chunks()
        dictionary = np.array(encoded.dictionary.to_pylist(), dtype=object)
        dim_keys = dictionary[encoded.indices.to_numpy(zero_copy_only=False)]
    else:
        dim_keys = np.full(len(minutes), "", dtype=object)
    sentinels = np.asarray(config.sentinels, dtype=float)
    is_sentinel = np.isin(values, sentinels) if sentinels.size else np.zeros(values.shape, bool)
    values[is_sentinel] = np.nan
    return Batch(
        minutes=minutes,
        dim_keys=dim_keys,
        values=values,
        sentinels=int(is_sentinel.sum()),
        received=len(minutes),
    )


def _empty(config: DetectorConfig) -> Batch:
    return Batch(
        minutes=np.zeros(0, dtype=np.int64),
        dim_keys=np.zeros(0, dtype=object),
        values=np.zeros((0, len(config.measures))),
    )


def parse_timestamps(text: pd.Series, fmt: str) -> pd.Series:
    """Timestamps → minutes since the epoch as float (NaN where unparseable)."""
    if fmt in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(text, errors="coerce")
        return np.floor(numbers / (60 if fmt == "epoch_s" else 60_000))
    if fmt == "iso8601":
        stamps = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        stamps = stamps.dt.tz_localize(None)
    else:
        stamps = pd.to_datetime(text, errors="coerce", format=fmt)
    ns = stamps.astype("datetime64[ns]").to_numpy().astype("int64")
    minutes = (ns // 60_000_000_000).astype("float64")
    minutes[stamps.isna().to_numpy()] = np.nan
    return pd.Series(minutes, index=text.index)


def _is_number_column(column: pd.Series) -> np.ndarray:
    """True where the value is a real JSON number (not str, bool or null)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return np.zeros(len(column), dtype=bool)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return np.ones(len(column), dtype=bool)
    return column.map(
        lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    ).to_numpy(dtype=bool)


def validate_frame(
    frame: pd.DataFrame, config: DetectorConfig, *, raw: list | None = None
) -> Batch:
    """Validate a table of records (columns = fields) into a ``Batch`` and named rejects."""
    n = len(frame)
    if n == 0:
        return _empty(config)
    reasons = np.full(n, "", dtype=object)
    codes = np.full(n, "", dtype=object)  # the most basic problem's code

    def flag(mask: np.ndarray, message, code: str) -> None:
        if mask.any():
            idx = np.flatnonzero(mask)
            for i in idx:
                text = message(i) if callable(message) else message
                reasons[i] = f"{reasons[i]}; {text}" if reasons[i] else text
                if not codes[i] or _RANK[code] < _RANK[codes[i]]:
                    codes[i] = code

    # timestamp
    stamp_cols = config.timestamp_columns
    missing_stamp = np.zeros(n, dtype=bool)
    for name in stamp_cols:
        if name not in frame.columns:
            missing_stamp |= True
        else:
            missing_stamp |= frame[name].isna().to_numpy()
    stamp_name = "+".join(stamp_cols)
    flag(missing_stamp, f"missing field {stamp_name}", MISSING_FIELD)
    if all(name in frame.columns for name in stamp_cols):
        text = frame[stamp_cols[0]].astype(str)
        for name in stamp_cols[1:]:
            text = text + " " + frame[name].astype(str)
        if config.timestamp_format in ("epoch_s", "epoch_ms"):
            text = frame[stamp_cols[0]]
        minutes = parse_timestamps(text, config.timestamp_format).to_numpy()
    else:
        text = pd.Series([""] * n)
        minutes = np.full(n, np.nan)
    bad_stamp = np.isnan(minutes) & ~missing_stamp
    flag(
        bad_stamp,
        lambda i: (
            f"{stamp_name} {str(text.iloc[i])!r} does not match format {config.timestamp_format!r}"
        ),
        BAD_TIMESTAMP,
    )

    # dimensions
    if config.dimensions:
        parts = []
        for name in config.dimensions:
            if name not in frame.columns:
                flag(np.ones(n, dtype=bool), f"missing field {name}", MISSING_FIELD)
                parts.append(pd.Series([""] * n, index=frame.index))
                continue
            column = frame[name]
            absent = column.isna().to_numpy()
            flag(absent, f"missing field {name}", MISSING_FIELD)
            as_text = column.astype(str)
            empty = (as_text.str.strip() == "").to_numpy() & ~absent
            flag(empty, f"empty {name}", BAD_DIMENSION)
            nested = column.map(lambda v: isinstance(v, dict | list)).to_numpy(dtype=bool)
            flag(nested, f"{name} must be a string or number", BAD_DIMENSION)
            parts.append(as_text)
        dim_keys = parts[0]
        for part in parts[1:]:
            dim_keys = dim_keys + DIM_SEPARATOR + part
        dim_keys = dim_keys.to_numpy(dtype=object)
    else:
        dim_keys = np.full(n, "", dtype=object)

    # the device: a record is for its own device's place
    if config.device_thing_template is not None and config.dimensions:
        things = frame[THING_COLUMN] if THING_COLUMN in frame.columns else pd.Series([None] * n)
        owner = expected_things(frame, config)
        wrong = (things.astype(str).to_numpy(dtype=object) != owner) & (reasons == "")
        flag(
            wrong,
            lambda i: (
                f"{THING_COLUMN} {things.iloc[i]!r} may not report for "
                f"{', '.join(f'{d}={frame[d].iloc[i]}' for d in config.dimensions)} "
                f"(its own device is {owner[i]!r})"
            ),
            WRONG_DEVICE,
        )

    # measures
    values = np.full((n, len(config.measures)), np.nan)
    sentinel_count = 0
    sentinels = np.asarray(config.sentinels, dtype=float)
    for j, name in enumerate(config.measure_names):
        if name not in frame.columns:
            flag(np.ones(n, dtype=bool), f"missing field {name}", MISSING_FIELD)
            continue
        column = frame[name]
        absent = column.isna().to_numpy() & ~_float_nan(column)
        flag(
            absent,
            f"{name} is missing, null or NaN"
            if pd.api.types.is_float_dtype(column.dtype)
            else f"missing field {name}",
            BAD_MEASURE if pd.api.types.is_float_dtype(column.dtype) else MISSING_FIELD,
        )
        numeric = _is_number_column(column) & ~absent
        flag(
            ~numeric & ~absent,
            lambda i, c=column, nm=name: (
                f"{nm} must be a number, got {type(c.iloc[i]).__name__} {c.iloc[i]!r}"
            ),
            BAD_MEASURE,
        )
        numbers = pd.to_numeric(column.where(numeric), errors="coerce").to_numpy(dtype=float)
        not_finite = numeric & ~np.isfinite(numbers)
        flag(
            not_finite,
            lambda i, nm=name, v=numbers: f"{nm} is not a finite number ({v[i]})",
            BAD_MEASURE,
        )
        is_sentinel = np.isin(numbers, sentinels) if sentinels.size else np.zeros(n, dtype=bool)
        sentinel_count += int(is_sentinel.sum())
        numbers = np.where(is_sentinel, np.nan, numbers)
        values[:, j] = numbers

    bad = reasons != ""
    rejects = []
    if bad.any():
        for i in np.flatnonzero(bad):
            record = raw[i] if raw is not None else frame.iloc[i].to_dict()
            if isinstance(record, bytes):
                record = record.decode("utf-8", errors="replace")
            elif not isinstance(record, str):
                record = json.dumps(record, default=str)
            minute = int(minutes[i]) if np.isfinite(minutes[i]) else None
            rejects.append(Reject(record, str(reasons[i]), str(codes[i]), minute))
    good = ~bad
    return Batch(
        minutes=minutes[good].astype(np.int64),
        dim_keys=dim_keys[good],
        values=values[good],
        sentinels=sentinel_count,
        received=n,
        rejects=rejects,
    )


def _float_nan(column: pd.Series) -> np.ndarray:
    """True where the value is a float NaN that was present (JSON NaN), not a missing key."""
    if pd.api.types.is_float_dtype(column.dtype):
        return np.zeros(len(column), dtype=bool)  # cannot tell; treat NaN as missing
    return column.map(lambda v: isinstance(v, float) and math.isnan(v)).to_numpy(dtype=bool)
