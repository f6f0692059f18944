"""Local Amazon Neptune stand-in: Neptune's openCypher HTTP API backed by the ladybug graph engine.

What it is: an HTTP server on 127.0.0.1 that answers ``POST /openCypher`` (and ``/opencypher``)
exactly as boto3's ``neptunedata`` client expects (``execute_open_cypher_query`` sends a JSON
body ``{"query": ..., "parameters": "<json>"}``; ``curl`` users send a form body, also accepted)
and returns Neptune's JSON result format ``{"results": [{column: value, ...}, ...]}``. Failures
come back the way Neptune sends them, ``{"code": "MalformedQueryException", "requestId": ...,
"detailedMessage": ...}`` with the HTTP status botocore's service model expects, so boto3 raises
``client.exceptions.MalformedQueryException`` and friends unchanged.

The engine is real: ``ladybug`` (the maintained Kùzu fork) runs every openCypher query. Ladybug
needs a schema, so node and relationship tables are derived from the one graph schema
(``vigil.fraud.graph.graph_layout()``, built on ``vigil/fraud/schema.py``), then filled from the SAME
Neptune bulk-load CSV files the ETL writes (``~id,~label,prop:Type`` node files and
``~id,~from,~to,~label`` edge files), so the local graph is what a Neptune bulk load would hold.

Process model: :func:`start_neptune_standin` runs the server as a separate process
(``python -m local.standins.neptune_standin``), started and stopped by PID like ``local/standins/moto_server.py``.
A separate process is what Neptune is to the Lambda: the handler's latency measured against it
includes a real HTTP round trip and serialisation, and the engine does not compete with the
caller for the GIL. :class:`NeptuneStandin` also runs in-process on a thread (``serve_in_thread``)
for unit tests that need many short-lived graphs.

Fault injection (``POST /_standin/faults``, JSON ``{"status": 429|500|..., "code": ..., "count": n,
"delay_s": s}``) makes the next ``count`` queries fail the way Neptune fails (throttling, 5xx,
slow answers), so the scoring Lambda's retries and fallbacks are tested against the real client
stack. ``POST /_standin/reset-faults`` clears them; ``GET /status`` answers like Neptune's status.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import ladybug
import pyarrow as pa

from local.standins.fault_injection import FAULTS_PATH, RESET_PATH, Faults, inject_faults
from local.standins.loopback_process import LoopbackProcess, free_port
from vigil.fraud.graph import GraphLayout, graph_layout

# Neptune bulk-load (openCypher format) column types → ladybug column types.
_TYPES = {
    "string": "STRING",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "byte": "INT64",
    "short": "INT64",
    "int": "INT64",
    "long": "INT64",
    "float": "DOUBLE",
    "double": "DOUBLE",
    "datetime": "STRING",
}


_ARROW_TYPES = {
    "STRING": pa.string(),
    "BOOLEAN": pa.bool_(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
}


CHECKPOINT_THRESHOLD_BYTES = 2 * 1024 * 1024  # ~300 scoring inserts between checkpoints
_PLAN_CACHE_SIZE = 4096  # distinct (query, parameter types); the scoring path uses a few hundred


class QueryError(Exception):
    """A Neptune-style error: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _neptune_error(exc: Exception) -> QueryError:
    text = str(exc)
    if text.startswith(("Parser exception", "Binder exception")):
        return QueryError(400, "MalformedQueryException", text)
    if "violates the uniqueness constraint" in text or "primary key" in text.lower():
        return QueryError(400, "ConstraintViolationException", text)
    if "Interrupted" in text or "timeout" in text.lower():
        return QueryError(500, "TimeLimitExceededException", text)
    return QueryError(500, "FailureByQueryException", text)


def _to_json_value(value: Any) -> Any:
    """Ladybug values → Neptune's JSON result format (nodes as ~id/~labels/~properties)."""
    if isinstance(value, dict) and "_LABEL" in value and "_ID" in value:
        props = {k: _to_json_value(v) for k, v in value.items() if not k.startswith("_")}
        entity = "relationship" if "_SRC" in value else "node"
        ident = value["_ID"]
        out = {
            "~id": f"{ident.get('table')}:{ident.get('offset')}",
            "~entityType": entity,
            "~properties": {k: v for k, v in props.items() if v is not None},
        }
        if entity == "node":
            out["~labels"] = [value["_LABEL"]]
        else:
            out["~type"] = value["_LABEL"]
        return out
    if isinstance(value, dict):
        return {k: _to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(v) for v in value]
    return value


def _binding_type(value: Any) -> str:
    """The type ladybug binds a parameter value as: Python integers by magnitude (INT8, UINT8,
    INT16, …, as its Python binding narrows them), anything else by its Python type.

    A statement prepared with one integer width and executed with another is bound and planned
    again (its plan is typed for the first width), costing about as much as a fresh prepare, so
    each width gets its own held statement.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return type(value).__name__
    for name, low, high in _INTEGER_WIDTHS:
        if low <= value <= high:
            return name
    return "int64"


_INTEGER_WIDTHS = (
    ("int8", -(2**7), 2**7 - 1),
    ("uint8", 0, 2**8 - 1),
    ("int16", -(2**15), 2**15 - 1),
    ("uint16", 0, 2**16 - 1),
    ("int32", -(2**31), 2**31 - 1),
    ("uint32", 0, 2**32 - 1),
)


class GraphEngine:
    """One ladybug database with the graph layout's tables; queries are serialised by a lock."""

    def __init__(
        self,
        layout: GraphLayout,
        database: str | None = None,
        *,
        checkpoint_threshold_bytes: int = CHECKPOINT_THRESHOLD_BYTES,
    ):
        """``database``: a ladybug database path, ``":memory:"``, or ``None`` for a scratch
        database in a temporary folder (on ``/dev/shm`` where there is one), removed on close.

        Why not ``":memory:"`` for the long-running stand-in: ladybug never checkpoints an
        in-memory database, so every update leaves version info behind that later queries walk;
        with the scoring path's updates of the same entity nodes, a keyed read grew from 1.4 to
        15 ms and the insert from 8 to 34 ms over 2,000 inserts. An on-disk database checkpoints
        whenever its WAL passes ``checkpoint_threshold_bytes`` (the write that crosses it waits
        ~0.5 s, every few hundred inserts) and stays flat. tmpfs keeps its commits free of fsync.
        """
        self.layout = layout
        self._scratch: tempfile.TemporaryDirectory | None = None
        if database is None:
            shm = Path("/dev/shm")
            parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
            self._scratch = tempfile.TemporaryDirectory(prefix="vigil-neptune-", dir=parent)
            database = str(Path(self._scratch.name) / "graph")
        self.db = ladybug.Database(database)
        self.conn = ladybug.Connection(self.db, num_threads=1)  # small point queries
        self.lock = threading.Lock()
        self._plans: OrderedDict[tuple, Any] = OrderedDict()
        if database != ":memory:":
            self.conn.execute(f"CALL checkpoint_threshold={int(checkpoint_threshold_bytes)}")
        for statement in ddl(layout):
            self.conn.execute(statement)

    def _prepared(self, query: str, parameters: dict[str, Any]):
        """The query's held prepared statement.

        Neptune caches the plans of parameterised read queries, not of mutations (it plans each
        insert afresh). The stand-in holds every query's statement because ladybug's first plan
        of the scoring insert is its most expensive step: measured ~13 ms of CPU for an insert
        whose statement is new against ~3.5–4.5 ms for a held one (a one-off literal query
        costs the same as prepare + execute). ``Connection.execute(str)`` also re-scans the
        query text for every parameter; holding the statement halves a keyed read (~1.1 →
        ~0.5 ms) and removes its multi-millisecond outliers. ladybug still binds a held statement
        on every execute, so the key includes each parameter's binding type as ladybug sees it
        (see :func:`_binding_type`).
        """
        key = (query, tuple(sorted((name, _binding_type(v)) for name, v in parameters.items())))
        statement = self._plans.get(key)
        if statement is None:
            with warnings.catch_warnings():  # ladybug prefers execute(str); see above for why not
                warnings.simplefilter("ignore", DeprecationWarning)
                statement = self.conn.prepare(query, parameters)
            if not statement.is_success():
                raise RuntimeError(statement.get_error_message())
            self._plans[key] = statement
            if len(self._plans) > _PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return statement

    def execute(self, query: str, parameters: dict[str, Any] | None = None) -> list[dict]:
        parameters = parameters or {}
        with self.lock:
            try:
                if parameters:
                    result = self.conn.execute(self._prepared(query, parameters), parameters)
                else:  # DDL, COPY and literal queries: nothing to reuse
                    result = self.conn.execute(query)
            except RuntimeError as exc:
                raise _neptune_error(exc) from exc
            try:
                columns = result.get_column_names()
                rows = []
                while result.has_next():
                    rows.append(
                        {
                            c: _to_json_value(v)
                            for c, v in zip(columns, result.get_next(), strict=True)
                        }
                    )
                return rows
            finally:
                # An open result pins engine state: left open, every later query gets slower
                # (measured: a keyed read 1.4 → 15 ms and the insert 8 → 34 ms over 2,000 inserts).
                result.close()

    def load_bulk_files(self, *directories: Path) -> dict[str, int]:
        """Load Neptune openCypher bulk-load CSVs (nodes first, then edges); returns row counts."""
        return load_bulk_files(self, *[Path(d) for d in directories])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.db.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def ddl(layout: GraphLayout) -> list[str]:
    """CREATE NODE/REL TABLE statements for ladybug from the graph layout (only those absent: a
    stand-in restarted on its database keeps its tables and the graph in them)."""
    statements = []
    for label, (primary_key, properties) in layout.node_tables().items():
        columns = ", ".join(f"{name} {_TYPES[kind]}" for name, kind in properties.items())
        statements.append(
            f"CREATE NODE TABLE IF NOT EXISTS {label}({columns}, PRIMARY KEY({primary_key}))"
        )
    for rel_type, (source, target) in layout.rel_tables().items():
        statements.append(f"CREATE REL TABLE IF NOT EXISTS {rel_type}(FROM {source} TO {target})")
    return statements


# openCypher-format bulk-load system columns → the Gremlin-format names used below.
_SYSTEM_COLUMNS = {
    ":id": "~id",
    ":label": "~label",
    ":start_id": "~from",
    ":end_id": "~to",
    ":type": "~label",
    "~id": "~id",
    "~label": "~label",
    "~from": "~from",
    "~to": "~to",
}


def _system_name(column: str) -> str | None:
    name = column.strip().lower()
    if name.startswith(":id(") or name.startswith(":start_id(") or name.startswith(":end_id("):
        name = name.split("(")[0]
    return _SYSTEM_COLUMNS.get(name)


def _parse_header(header: list[str]) -> list[tuple[str, str]]:
    """Bulk-load header (Gremlin ``~id`` or openCypher ``:ID`` format) → (name, kind)."""
    parsed = []
    for column in header:
        column = column.strip()
        system = _system_name(column)
        if system is not None:
            parsed.append((system, "system"))
            continue
        name, _, kind = column.partition(":")
        kind = (kind or "string").lower().removesuffix("[]")
        parsed.append((name, kind))
    return parsed


def _convert(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind in ("int", "long", "short", "byte"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind in ("bool", "boolean"):
        return value.strip().lower() == "true"
    return value


def load_bulk_files(engine: GraphEngine, *directories: Path) -> dict[str, int]:
    files = sorted(p for d in directories for p in d.rglob("*.csv") if p.is_file())
    node_files, edge_files = [], []
    for path in files:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        names = {_system_name(c) for c in header}
        if "~from" in names and "~to" in names:
            edge_files.append(path)
        elif "~id" in names:
            node_files.append(path)
    node_tables = engine.layout.node_tables()
    ids: dict[str, tuple[str, str]] = {}  # bulk-load ~id → (label, primary key value)
    counts: dict[str, int] = {}
    rows_by_label: dict[str, list[dict[str, Any]]] = {}
    for path in node_files:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            header = _parse_header(next(reader))
            for raw in reader:
                record = {}
                label = ident = None
                for (name, kind), value in zip(header, raw, strict=False):
                    if name == "~id":
                        ident = value
                    elif name == "~label":
                        label = value.split(";")[0]
                    elif kind != "system":
                        record[name] = _convert(value, kind)
                if label not in node_tables:
                    raise ValueError(f"{path.name}: label {label!r} is not in the graph schema")
                primary_key = node_tables[label][0]
                ids[ident] = (label, str(record[primary_key]))
                rows_by_label.setdefault(label, []).append(record)
    for label, rows in rows_by_label.items():
        _, properties = node_tables[label]
        arrow_rows = pa.table(
            {
                name: pa.array([row.get(name) for row in rows], _ARROW_TYPES[_TYPES[kind]])
                for name, kind in properties.items()
            }
        )
        with engine.lock:
            engine.conn.execute(f"COPY {label} FROM arrow_rows")
        counts[label] = arrow_rows.num_rows
    rel_tables = engine.layout.rel_tables()
    edges: dict[str, list[tuple[str, str]]] = {}
    for path in edge_files:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            header = [_system_name(c) or c for c in next(reader)]
            for raw in reader:
                row = dict(zip(header, raw, strict=False))
                rel_type = row["~label"]
                if rel_type not in rel_tables:
                    raise ValueError(f"{path.name}: edge label {rel_type!r} is not in the schema")
                source, target = ids[row["~from"]], ids[row["~to"]]
                edges.setdefault(rel_type, []).append((source[1], target[1]))
    for rel_type, pairs in edges.items():
        arrow_rows = pa.table(
            {
                "from": pa.array([p[0] for p in pairs], pa.string()),
                "to": pa.array([p[1] for p in pairs], pa.string()),
            }
        )
        with engine.lock:
            engine.conn.execute(f"COPY {rel_type} FROM arrow_rows")
        counts[rel_type] = arrow_rows.num_rows
    return counts


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connection across invocations
    disable_nagle_algorithm = True  # small answers leave at once (no 40 ms delayed-ACK stall)
    server: _StandinHTTPServer

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if status >= 400:
            self.send_header("x-amzn-ErrorType", payload.get("code", ""))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(
            status, {"requestId": str(uuid.uuid4()), "code": code, "detailedMessage": message}
        )

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path.rstrip("/").lower()
        if path in ("/status", "/opencypher/status"):
            self._send(200, {"status": "healthy", "role": "writer", "dbEngineVersion": "local"})
        else:
            self._error(400, "BadRequestException", f"unsupported GET {self.path}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path.rstrip("/").lower()
        if path == FAULTS_PATH:
            self.server.faults.arm(json.loads(raw or b"{}"))
            self._send(200, {"ok": True})
            return
        if path == RESET_PATH:
            self.server.faults.reset()
            self._send(200, {"ok": True})
            return
        if path != "/opencypher":
            self._error(400, "BadRequestException", f"unsupported path {self.path}")
            return
        fault = self.server.faults.take()
        if fault is not None:
            status, code, delay = fault
            if delay:
                time.sleep(delay)
            if status >= 400:
                default = {429: "TooManyRequestsException", 408: "ClientTimeoutException"}
                code = code or default.get(status, "FailureByQueryException")
                self._error(status, code, "injected fault")
                return
        try:
            query, parameters = self._parse_body(raw)
        except QueryError as exc:
            self._error(exc.status, exc.code, exc.message)
            return
        try:
            rows = self.server.engine.execute(query, parameters)
        except QueryError as exc:
            self._error(exc.status, exc.code, exc.message)
            return
        except Exception as exc:  # the server must answer, whatever the engine raised
            self._error(500, "InternalFailureException", f"{type(exc).__name__}: {exc}")
            return
        self._send(200, {"results": rows})

    def _parse_body(self, raw: bytes) -> tuple[str, dict]:
        content_type = (self.headers.get("Content-Type") or "").lower()
        if "json" in content_type:
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise QueryError(400, "BadRequestException", f"invalid JSON body: {exc}") from exc
        else:
            body = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        query = body.get("query")
        if not query:
            raise QueryError(400, "MissingParameterException", "missing parameter 'query'")
        parameters = body.get("parameters") or {}
        if isinstance(parameters, str):
            try:
                parameters = json.loads(parameters)
            except ValueError as exc:
                raise QueryError(
                    400, "InvalidParameterException", f"parameters is not JSON: {exc}"
                ) from exc
        if not isinstance(parameters, dict):
            raise QueryError(400, "InvalidParameterException", "parameters must be a JSON object")
        return query, parameters


class _StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (its read timeout) closed the socket: not a server error
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    engine: GraphEngine
    faults: Faults


class NeptuneStandin:
    """The stand-in in this process: ``engine`` + an HTTP server on 127.0.0.1."""

    def __init__(self, engine: GraphEngine, port: int = 0):
        self.engine = engine
        self.httpd = _StandinHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.engine = engine
        self.httpd.faults = Faults()
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve_in_thread(self) -> NeptuneStandin:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.engine.close()


class StandinProcess(LoopbackProcess):
    """The stand-in running as its own process (stopped by PID)."""

    def inject_faults(self, **spec: Any) -> None:
        inject_faults(self.endpoint_url, **spec)


def start_neptune_standin(
    bulk_dir: Path | str | list[Path | str] | None = None,
    *,
    port: int | None = None,
    database: Path | str | None = None,
    timeout: float = 300.0,
) -> StandinProcess:
    """Start the stand-in process on 127.0.0.1, load ``bulk_dir`` (one folder or several, each
    a set of bulk-load files, all loaded in one go), wait until it answers. ``database``: a
    ladybug database path that outlives the process (restart on it to recover the graph);
    default a scratch database removed when the process ends."""
    port = port or free_port()
    command = [sys.executable, "-m", "local.standins.neptune_standin", "--port", str(port)]
    if database is not None:
        command += ["--database", str(database)]
    folders = [] if bulk_dir is None else bulk_dir if isinstance(bulk_dir, list) else [bulk_dir]
    for folder in folders:
        command += ["--load", str(folder)]
    repo_root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    process = subprocess.Popen(command, cwd=repo_root, env=env, stdout=subprocess.DEVNULL)
    standin = StandinProcess(process=process, port=port)
    standin.wait_until_healthy("/status", name="Neptune stand-in", timeout=timeout)
    return standin


@contextlib.contextmanager
def running_neptune_standin(bulk_dir: Path | str | None = None) -> Iterator[StandinProcess]:
    standin = start_neptune_standin(bulk_dir)
    try:
        yield standin
    finally:
        standin.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8182)
    parser.add_argument(
        "--load", type=Path, action="append", help="folder of Neptune bulk-load CSV files"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="ladybug database path (default: a scratch database removed on exit)",
    )
    args = parser.parse_args(argv)
    engine = GraphEngine(graph_layout(), args.database)
    if args.load:
        counts = engine.load_bulk_files(*args.load)
        print(json.dumps({"loaded": counts}), file=sys.stderr, flush=True)
    # The start-up heap (~65k objects: modules, the load's leftovers) lives as long as the server;
    # left in the collector, each full collection walks it (~40 ms, measured) inside a request.
    gc.collect()
    gc.freeze()
    standin = NeptuneStandin(engine, args.port)
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=standin.httpd.shutdown).start()
    )
    try:
        standin.httpd.serve_forever()
    finally:
        standin.httpd.server_close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
