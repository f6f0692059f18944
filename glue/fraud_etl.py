"""Fraud ETL: IEEE-CIS transactions → features, labels, time split, edge lists, Neptune bulk load.

One PySpark script that runs unchanged as an AWS Glue 5.0 job and locally::

    python glue/fraud_etl.py --transactions data/train_transaction.csv \\
        --identity data/train_identity.csv --output out/processed [--master local[*]]

On Glue, the job arguments arrive the same way (``--transactions s3://…``; Glue's own arguments
such as ``--JOB_NAME`` or ``--TempDir`` are accepted and ignored), and the ``vigil`` package comes
from ``--extra-py-files`` (a zip of ``vigil/__init__.py`` and ``vigil/fraud/``; see
docs/fraud-training.md). Inputs are CSV (Kaggle's files as distributed, or our generator's) or
Parquet, a file or a folder, a local path or an ``s3://`` URI.

Job arguments (``--name value``; ``-`` and ``_`` are interchangeable in names):

==========================  ===================================================================
``--transactions``          ``train_transaction`` file/folder (required)
``--identity``              ``train_identity`` file/folder (optional)
``--output``                output folder / S3 prefix (required)
``--entity-cols``           entity node types (default card1–card6, ProductCD, addr1, addr2,
                            P_emaildomain, R_emaildomain, DeviceType, DeviceInfo); ranges allowed
``--cat-cols``              one-hot columns (default ProductCD, card4, card6, M1–M9, DeviceType)
``--numeric-cols``          z-scored columns (default TransactionAmt, dist1, dist2, C1–C14, D1–D15)
``--log-cols``              numeric columns log-transformed first (default TransactionAmt)
``--max-categories``        most frequent training values kept per one-hot column (default 30)
``--test-fraction``         latest share of rows by TransactionDT used for test (default 0.2)
``--valid-fraction``        share of rows just before the test slice for validation (default 0.1)
``--input-format``          ``auto`` (by extension), ``csv`` or ``parquet``
``--shuffle-partitions``    Spark shuffle partitions (default: twice the executor cores, at
                            least 16, so the partitions grow with the Glue workers)
``--master``                Spark master when not on Glue (default ``local[*]``)
``--label-log``             the label API's log (``vigil/fraud/label_log.py``: a folder / S3
                            prefix of JSON records); per transaction its latest label replaces
                            the raw ``isFraud``. Absent or empty: the raw labels stand.
==========================  ===================================================================

Outputs under ``--output`` (CSV folders of part files, each with a header; names from
``vigil.fraud.schema``):

* ``features/``: ``TransactionID, f_0 … f_{d-1}`` (float32; the arithmetic of
  ``vigil.fraud.features.Featurizer``, statistics from training rows only);
* ``featurizer.json``: the featurizer spec (statistics, vocabularies, feature names);
* ``labels/``: ``TransactionID, TransactionDT, isFraud, split`` (``train``/``valid``/``test``);
* ``edges/relation_<column>_edgelist/``: ``TransactionID, <column>`` (the entity key);
* ``neptune/``: openCypher bulk-load files (``nodes_transaction/``, ``nodes_<column>/``,
  ``edges_<column>/``) with ``feat_sum``/``degree`` for every entity;
* ``bad_rows/``: ``source, TransactionID, reason, raw`` for every row set aside;
* ``etl_report.json``: row counts per stage and timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

try:  # the vigil package: from --extra-py-files on Glue, from the repository locally
    from vigil.fraud import schema
except ImportError:  # pragma: no cover - running the script from a checkout without PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from vigil.fraud import schema

from vigil.fraud import label_log
from vigil.fraud.features import (
    CategoricalFeature,
    FeaturizerSpec,
    NumericFeature,
    encode_vector,
)

LOG = logging.getLogger("vigil.fraud.etl")


@dataclass
class EtlConfig:
    transactions: str
    output: str
    identity: str | None = None
    entity_cols: list[str] = field(default_factory=lambda: list(schema.DEFAULT_ENTITY_COLUMNS))
    cat_cols: list[str] = field(default_factory=lambda: list(schema.DEFAULT_CATEGORICAL_COLUMNS))
    numeric_cols: list[str] = field(default_factory=lambda: list(schema.DEFAULT_NUMERIC_COLUMNS))
    log_cols: list[str] = field(default_factory=lambda: list(schema.DEFAULT_LOG_COLUMNS))
    max_categories: int = schema.DEFAULT_MAX_CATEGORIES
    test_fraction: float = schema.DEFAULT_TEST_FRACTION
    valid_fraction: float = schema.DEFAULT_VALID_FRACTION
    input_format: str = "auto"
    shuffle_partitions: int | None = None
    master: str = "local[*]"
    job_name: str | None = None
    label_log: str | None = None

    def validate(self) -> None:
        if not 0 < self.test_fraction < 1 or not 0 <= self.valid_fraction < 1:
            raise ValueError("test-fraction must be in (0, 1) and valid-fraction in [0, 1)")
        if self.test_fraction + self.valid_fraction >= 1:
            raise ValueError("test-fraction + valid-fraction must leave training rows (< 1)")
        if self.max_categories < 1:
            raise ValueError("max-categories must be at least 1")
        if self.input_format not in ("auto", "csv", "parquet"):
            raise ValueError(f"input-format must be auto, csv or parquet, not {self.input_format}")
        if not self.entity_cols:
            raise ValueError("entity-cols is empty: the graph needs at least one entity column")
        unknown_log = set(self.log_cols) - set(self.numeric_cols)
        if unknown_log:
            raise ValueError(f"log-cols not among numeric-cols: {sorted(unknown_log)}")


def parse_args(argv: list[str]) -> EtlConfig:
    """Parse ``--name value`` job arguments (Glue style; unknown Glue arguments are ignored)."""
    normalized = []
    for arg in argv:
        if arg.startswith("--") and "=" not in arg:
            arg = "--" + arg[2:].replace("_", "-")
        normalized.append(arg)
    parser = argparse.ArgumentParser(prog="fraud_etl.py", allow_abbrev=False)
    parser.add_argument("--transactions", required=True)
    parser.add_argument("--identity", default=None)
    parser.add_argument("--output", required=True)
    parser.add_argument("--entity-cols", default=None)
    parser.add_argument("--cat-cols", default=None)
    parser.add_argument("--numeric-cols", default=None)
    parser.add_argument("--log-cols", default=None)
    parser.add_argument("--max-categories", type=int, default=schema.DEFAULT_MAX_CATEGORIES)
    parser.add_argument("--test-fraction", type=float, default=schema.DEFAULT_TEST_FRACTION)
    parser.add_argument("--valid-fraction", type=float, default=schema.DEFAULT_VALID_FRACTION)
    parser.add_argument("--input-format", default="auto")
    parser.add_argument("--shuffle-partitions", type=int, default=None)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--JOB-NAME", dest="job_name", default=None)
    parser.add_argument("--label-log", default=None)
    args, _unknown = parser.parse_known_args(normalized)
    config = EtlConfig(
        transactions=args.transactions,
        identity=args.identity or None,
        output=args.output.rstrip("/"),
        entity_cols=schema.parse_columns(args.entity_cols, schema.DEFAULT_ENTITY_COLUMNS),
        cat_cols=schema.parse_columns(args.cat_cols, schema.DEFAULT_CATEGORICAL_COLUMNS),
        numeric_cols=schema.parse_columns(args.numeric_cols, schema.DEFAULT_NUMERIC_COLUMNS),
        log_cols=schema.parse_columns(args.log_cols, schema.DEFAULT_LOG_COLUMNS),
        max_categories=args.max_categories,
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        input_format=args.input_format,
        shuffle_partitions=args.shuffle_partitions,
        master=args.master,
        job_name=args.job_name,
        label_log=args.label_log or None,
    )
    config.validate()
    return config


# --- Spark expressions shared with the pure-Python featurizer ---------------------------------------
def _q(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def missing_condition(column):
    """Spark twin of ``schema.is_missing`` on a string column."""
    from pyspark.sql import functions as F

    return column.isNull() | F.lower(F.trim(column)).isin(*sorted(schema.MISSING_TOKENS))


def number_column(column):
    """Spark twin of ``features.parse_number``: double or null (missing/unparseable/not finite)."""
    from pyspark.sql import functions as F

    parsed = _try_cast_double(F.trim(column))
    finite = parsed.isNotNull() & ~F.isnan(parsed) & (F.abs(parsed) != float("inf"))
    return F.when(~missing_condition(column) & finite, parsed)


def _try_cast_double(column):
    """``string → double`` or null when unparseable (``run`` turns ANSI mode off, so a plain cast
    answers null instead of failing on Spark 4 as on Glue 5.0's Spark 3.5)."""
    return column.cast("double")


def canonical_key_column(column):
    """Spark twin of ``schema.canonical_key``: string key or null."""
    from pyspark.sql import functions as F

    trimmed = F.trim(column)
    number = _try_cast_double(trimmed)
    integral = (
        number.isNotNull() & ~F.isnan(number) & (F.abs(number) < 1e15) & (number == F.floor(number))
    )
    return F.when(missing_condition(column), F.lit(None).cast("string")).otherwise(
        F.when(integral, number.cast("long").cast("string")).otherwise(trimmed)
    )


def numeric_feature_column(feature: NumericFeature, raw):
    """Spark twin of ``features.numeric_value`` followed by the float32 cast."""
    from pyspark.sql import functions as F

    value = number_column(raw)
    if feature.log:
        value = F.signum(value) * F.log1p(F.abs(value))
    std = feature.std if feature.std and feature.std > 0 else 1.0
    return F.coalesce((value - F.lit(feature.mean)) / F.lit(std), F.lit(0.0)).cast("float")


def feature_columns(spec: FeaturizerSpec, frame):
    """Spark columns ``f_0 … f_{d-1}`` computing the featurizer's vector from raw string columns."""
    from pyspark.sql import functions as F

    out = [numeric_feature_column(f, frame[f.column]) for f in spec.numeric]
    for cat in spec.categorical:
        key = canonical_key_column(frame[cat.column])
        out.extend(
            F.when(key == F.lit(value), F.lit(1.0)).otherwise(F.lit(0.0)).cast("float")
            for value in cat.values
        )
    return [c.alias(f"{schema.FEATURE_PREFIX}{i}") for i, c in enumerate(out)]


# --- I/O ------------------------------------------------------------------------------------------------
def _format_of(path: str, configured: str) -> str:
    if configured != "auto":
        return configured
    return "parquet" if path.rstrip("/").lower().endswith((".parquet", ".pq")) else "csv"


def read_table(spark, path: str, input_format: str):
    """Read a CSV or Parquet file/folder with every column as a string, names normalised."""
    from pyspark.sql import functions as F

    if _format_of(path, input_format) == "parquet":
        frame = spark.read.parquet(path)
    else:
        frame = (
            spark.read.option("header", True)
            .option("inferSchema", False)
            .option("mode", "PERMISSIVE")
            .option("escape", '"')
            .option("multiLine", False)
            .csv(path)
        )
    return frame.select(
        *[
            F.col(_q(c)).cast("string").alias(schema.normalize_identity_column(c))
            for c in frame.columns
        ]
    )


def write_csv(frame, path: str, partitions: int | None = None) -> None:
    if partitions:
        frame = frame.coalesce(partitions)
    (
        frame.write.mode("overwrite")
        .option("header", True)
        .option("escape", '"')
        .option("quoteAll", False)
        .option("emptyValue", "")
        .csv(path)
    )


def write_partitioned(
    spark, frame, path: str, folders: dict[str, str], partitions=None, tmp_name="_partitioned"
) -> None:
    """Write ``frame`` partitioned by its ``__column`` column in ONE Spark job, then rename each
    ``__column=<value>`` folder to ``folders[value]`` (relative to ``path``) through the Hadoop
    file system (local, or S3 on Glue). Empty partitions get a header-only file so every folder
    exists."""
    if partitions:
        frame = frame.coalesce(partitions)
    tmp = f"{path.rstrip('/')}/{tmp_name}"
    (
        frame.write.mode("overwrite")
        .partitionBy("__column")
        .option("header", True)
        .option("escape", '"')
        .option("emptyValue", "")
        .csv(tmp)
    )
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    fs = hadoop_path(tmp).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    header = ",".join(c for c in frame.columns if c != "__column")
    for value, folder in folders.items():
        target = hadoop_path(f"{path.rstrip('/')}/{folder}")
        if fs.exists(target):
            fs.delete(target, True)
        source = hadoop_path(f"{tmp}/__column={_escape_partition(value)}")
        if fs.exists(source):
            fs.mkdirs(target.getParent())
            if not fs.rename(source, target):
                raise OSError(f"could not move {source} to {target}")
        else:
            stream = fs.create(hadoop_path(f"{target}/part-00000-empty.csv"), True)
            stream.write(bytearray((header + "\n").encode("utf-8")))
            stream.close()
    fs.delete(hadoop_path(tmp), True)


def _escape_partition(value: str) -> str:
    """Spark's escaping of partition values in folder names (``ExternalCatalogUtils``)."""
    special = set("\"#%'*/:=?\\\x7f{[]^")
    return "".join(f"%{ord(ch):02X}" if ch in special or ord(ch) < 0x20 else ch for ch in value)


def write_text(path: str, text: str) -> None:
    """Write a small text file to a local path or an S3 URI."""
    if path.startswith(("s3://", "s3a://")):
        from vigil.aws import client

        bucket, _, key = path.split("://", 1)[1].partition("/")
        client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


# --- the job ------------------------------------------------------------------------------------------------
class Stage:
    """Logs a stage's start, end, duration and row counts; records them in the report."""

    def __init__(self, report: dict, name: str):
        self.report, self.name = report, name

    def __enter__(self):
        self.start = time.perf_counter()
        LOG.info("stage %s: start", self.name)
        self.counts: dict[str, int] = {}
        return self

    def count(self, **counts: int) -> None:
        self.counts.update({k: int(v) for k, v in counts.items()})

    def __exit__(self, *exc):
        seconds = round(time.perf_counter() - self.start, 3)
        self.report["stages"].append({"stage": self.name, "seconds": seconds, **self.counts})
        LOG.info("stage %s: done in %.1fs %s", self.name, seconds, self.counts)
        return False


def _check_columns(frame, required: list[str], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{source} lacks required column(s): {', '.join(missing)}")


def _not_integer(column):
    from pyspark.sql import functions as F

    number = _try_cast_double(F.trim(column))
    return number.isNull() | F.isnan(number) | (number != F.floor(number))


def _not_number(column):
    from pyspark.sql import functions as F

    number = _try_cast_double(F.trim(column))
    return number.isNull() | F.isnan(number)


def _not_binary(column):
    from pyspark.sql import functions as F

    number = _try_cast_double(F.trim(column))
    return number.isNull() | ~number.isin(0.0, 1.0)


def _with_reasons(frame, checks):
    """Add ``__tid`` (long), ``__raw`` (JSON of the columns read) and ``__reason`` (why the row is
    set aside, or null): the first failed check, else a duplicate TransactionID after the first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    reason = F.lit(None).cast("string")
    for condition, message in reversed(checks):
        reason = F.when(condition, F.lit(message)).otherwise(reason)
    frame = frame.select(
        "*",
        F.to_json(F.struct(*[F.col(_q(c)) for c in frame.columns])).alias("__raw"),
        F.monotonically_increasing_id().alias("__order"),
        reason.alias("__reason0"),
    )
    tid = F.when(
        F.col("__reason0").isNull(),
        _try_cast_double(F.trim(F.col(schema.ID_COLUMN))).cast("long"),
    )
    frame = frame.withColumn("__tid", tid)
    rank = F.row_number().over(Window.partitionBy("__tid").orderBy("__order"))
    return frame.withColumn(
        "__reason",
        F.when(F.col("__reason0").isNotNull(), F.col("__reason0")).when(
            rank > 1, F.lit("duplicate TransactionID (first occurrence kept)")
        ),
    ).drop("__reason0", "__order")


def read_label_log(spark, path: str):
    """The label log's latest record per transaction: ``(__label_id, __label)``, or None when
    the log is absent or empty; plus counts (records read, records set aside as unreadable)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fields = (label_log.ID_FIELD, label_log.IS_FRAUD_FIELD, label_log.VERSION_FIELD)
    try:
        records = (
            spark.read.option("recursiveFileLookup", True)
            .option("pathGlobFilter", "*.json")
            .option("mode", "PERMISSIVE")
            .schema(f"{fields[0]} long, {fields[1]} int, {fields[2]} long")
            .json(path)
        )
    except AnalysisException as error:  # no label was ever logged: the prefix does not exist
        if "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error).lower():
            return None, {"label_records": 0, "label_records_unreadable": 0}
        raise
    readable = (
        F.col(fields[0]).isNotNull()
        & F.col(fields[1]).isin(*label_log.LABEL_WORDS)
        & F.col(fields[2]).isNotNull()
    )
    counts = records.select(
        F.count(F.lit(1)).alias("n"), F.sum(F.when(readable, 0).otherwise(1)).alias("bad")
    ).collect()[0]
    # the highest version wins (docs/fraud.md#label-feedback)
    latest = (
        records.where(readable)
        .withColumn(
            "__rank",
            F.row_number().over(Window.partitionBy(fields[0]).orderBy(F.col(fields[2]).desc())),
        )
        .where(F.col("__rank") == 1)
        .select(F.col(fields[0]).alias("__label_id"), F.col(fields[1]).alias("__label"))
    )
    return latest, {"label_records": counts["n"], "label_records_unreadable": counts["bad"] or 0}


def apply_label_log(spark, tx, path: str):
    """``tx`` with each logged transaction's latest label in place of its raw ``isFraud`` (a raw
    row without a usable label becomes labelled), and what that changed."""
    from pyspark.sql import functions as F

    latest, counts = read_label_log(spark, path)
    if latest is None:
        return tx, {**counts, "labelled_transactions": 0, "applied": 0, "changed": 0}
    latest = latest.persist()
    raw_id = _try_cast_double(F.trim(F.col(schema.ID_COLUMN))).cast("long")
    y_col = schema.LABEL_COLUMN
    joined = tx.join(F.broadcast(latest), raw_id == F.col("__label_id"), "left")
    raw_y = _try_cast_double(F.trim(F.col(y_col).cast("string")))
    matched = joined.where(F.col("__label").isNotNull())
    stats = matched.select(
        F.count(F.lit(1)).alias("applied"),
        F.sum(
            F.when(raw_y.isNull() | (raw_y != F.col("__label").cast("double")), 1).otherwise(0)
        ).alias("changed"),
        F.countDistinct("__label_id").alias("matched_ids"),
    ).collect()[0]
    labelled = latest.count()
    merged = joined.select(
        *[
            F.coalesce(F.col("__label").cast("string"), F.col(_q(c)).cast("string")).alias(c)
            if c == y_col
            else F.col(_q(c))
            for c in tx.columns
        ]
    )
    latest.unpersist()
    return merged, {
        **counts,
        "labelled_transactions": labelled,
        "applied": stats["applied"],
        "changed": stats["changed"] or 0,
        # labels of transactions the raw data does not hold (yet): they stay in the log
        "labels_without_transaction": labelled - stats["matched_ids"],
    }


def _bad_rows(frame, source: str):
    from pyspark.sql import functions as F

    return frame.where(F.col("__reason").isNotNull()).select(
        F.lit(source).alias("source"),
        F.col(schema.ID_COLUMN).cast("string").alias(schema.ID_COLUMN),
        F.col("__reason").alias("reason"),
        F.col("__raw").alias("raw"),
    )


def rank_by_time(frame, partitions: int):
    """``frame`` with ``__position``: each row's 0-based place in ``(__dt, __tid)`` order.

    A global ``row_number()`` window has no partition, so Spark would move every row to one task.
    Here the rows are range-partitioned by ``(__dt, __tid)`` (bounds sampled by the executors), so
    partition ``i`` holds only rows that precede partition ``i + 1``'s; each partition is sorted
    on its own, a row's index inside it is the low 33 bits of ``monotonically_increasing_id()``,
    and the driver receives one size per partition to turn into offsets. The partitioned frame is
    persisted so that the partitions the sizes were counted on are the ones the positions are
    taken from; it is returned second for the caller to unpersist once the positions are stored.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    indexed = (
        frame.repartitionByRange(partitions, "__dt", "__tid")
        .sortWithinPartitions("__dt", "__tid")
        .select(
            "*",
            F.spark_partition_id().alias("__part"),
            F.monotonically_increasing_id().alias("__row_id"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sizes = dict((r["__part"], r["count"]) for r in indexed.groupBy("__part").count().collect())
    offsets, total = [], 0
    for part in range(max(sizes, default=-1) + 1):
        offsets.append(total)
        total += sizes.get(part, 0)
    index_in_part = F.col("__row_id") - F.col("__part").cast("long") * F.lit(1 << 33)
    offset = F.element_at(F.array(*[F.lit(o).cast("long") for o in offsets]), F.col("__part") + 1)
    ranked = indexed.withColumn("__position", offset + index_in_part).drop("__part", "__row_id")
    return ranked, indexed


def top_categories(train, keys: dict[str, str], columns: list[str], limit: int) -> dict:
    """The ``limit`` most frequent keys of each one-hot column among training rows (ties by
    key), ranked by the executors: the driver receives at most ``limit`` keys per column."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    pairs = F.explode(
        F.array(*[F.struct(F.lit(c).alias("c"), F.col(keys[c]).alias("k")) for c in columns])
    ).alias("p")
    counted = (
        train.select(pairs)
        .select("p.c", "p.k")
        .where(F.col("k").isNotNull())
        .groupBy("c", "k")
        .count()
    )
    rank = F.row_number().over(Window.partitionBy("c").orderBy(F.col("count").desc(), "k"))
    top = counted.withColumn("__rank", rank).where(F.col("__rank") <= limit).collect()
    by_column: dict[str, list[tuple[int, str]]] = {c: [] for c in columns}
    for row in top:
        by_column[row["c"]].append((row["__rank"], row["k"]))
    return {c: [k for _, k in sorted(by_column[c])] for c in columns}


def encode_entity_nodes(sums, feature_names: list[str]):
    """Entity bulk-load rows from the per-entity sums, encoded by the executors (``mapInPandas``,
    ``features.encode_vector`` per row): a bank's millions of entities never reach the driver."""
    node_schema = (
        "id string, label string, key string, feat_sum string, degree int, first_dt long, "
        "__column string"
    )
    source = sums.select("__column", "__key", "__degree", "__first_dt", *feature_names)

    def encode(batches):
        import pandas as pd

        for batch in batches:
            vectors = batch[feature_names].to_numpy("float64")
            columns = batch["__column"].tolist()
            keys = batch["__key"].tolist()
            yield pd.DataFrame(
                {
                    "id": [schema.entity_node_id(c, k) for c, k in zip(columns, keys, strict=True)],
                    "label": [schema.entity_label(c) for c in columns],
                    "key": keys,
                    "feat_sum": [encode_vector(v) for v in vectors.tolist()],
                    "degree": batch["__degree"].astype("int32"),
                    "first_dt": batch["__first_dt"].astype("int64"),
                    "__column": columns,
                }
            )

    return source.mapInPandas(encode, node_schema)


def run(spark, config: EtlConfig) -> dict:
    """Run the ETL with an existing SparkSession; returns the report (also written as JSON)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    config.validate()
    report: dict = {"config": config.__dict__.copy(), "stages": []}
    partitions = config.shuffle_partitions or max(16, 2 * spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    report["shuffle_partitions"] = partitions
    spark.conf.set("spark.sql.ansi.enabled", "false")  # unparseable casts give null, not errors
    started = time.perf_counter()
    out = config.output.rstrip("/")

    # 1. read and parse transactions ---------------------------------------------------------
    id_col, dt_col, y_col = schema.ID_COLUMN, schema.TIME_COLUMN, schema.LABEL_COLUMN
    wanted = sorted(set(config.entity_cols + config.cat_cols + config.numeric_cols))
    with Stage(report, "read_transactions") as stage:
        tx = read_table(spark, config.transactions, config.input_format)
        _check_columns(tx, [id_col, dt_col, y_col], "transactions")
        identity = None
        identity_cols: set[str] = set()
        if config.identity:
            identity = read_table(spark, config.identity, config.input_format)
            _check_columns(identity, [id_col], "identity")
            identity_cols = set(identity.columns) - {id_col}
        absent = [c for c in wanted if c not in tx.columns and c not in identity_cols]
        if absent:
            raise ValueError(f"configured column(s) found in neither input: {', '.join(absent)}")
        # Read only what the job uses (the rest of the 394 columns is never parsed).
        tx_cols = [id_col, dt_col, y_col, *[c for c in wanted if c in tx.columns]]
        tx_cols = list(dict.fromkeys(tx_cols))
        tx = tx.select(*[F.col(_q(c)) for c in tx_cols])
        if config.label_log:
            tx, report["label_feedback"] = apply_label_log(spark, tx, config.label_log)
            LOG.info("label log %s: %s", config.label_log, report["label_feedback"])
        tx = _with_reasons(
            tx,
            [
                (_not_integer(F.col(id_col)), "TransactionID is not an integer"),
                (_not_number(F.col(dt_col)), "TransactionDT is not a number"),
                (_not_binary(F.col(y_col)), "isFraud is not 0 or 1"),
            ],
        ).persist(StorageLevel.MEMORY_AND_DISK)
        reasons_tx = {r["__reason"]: r["count"] for r in tx.groupBy("__reason").count().collect()}
        n_in = sum(reasons_tx.values())
        n_bad_tx = n_in - reasons_tx.get(None, 0)
        bad_tx = _bad_rows(tx, "transactions")
        good = tx.where(F.col("__reason").isNull()).select(
            "__tid",
            _try_cast_double(F.trim(F.col(dt_col))).cast("long").alias("__dt"),
            _try_cast_double(F.trim(F.col(y_col))).cast("int").alias("__y"),
            *[F.col(_q(c)) for c in tx_cols if c not in (id_col, dt_col, y_col)],
        )
        stage.count(rows_in=n_in, bad_rows=n_bad_tx, rows_out=n_in - n_bad_tx)
        LOG.info("transactions: %d rows in, %d set aside", n_in, n_bad_tx)

    # 2. identity join ----------------------------------------------------------------------
    bad_parts = [bad_tx]
    with Stage(report, "join_identity") as stage:
        if identity is not None:
            keep = [c for c in wanted if c in identity_cols and c not in tx_cols]
            identity = _with_reasons(
                identity.select(F.col(id_col), *[F.col(_q(c)) for c in keep]),
                [(_not_integer(F.col(id_col)), "TransactionID is not an integer")],
            )
            ident_ok = identity.where(F.col("__reason").isNull())
            orphan = ident_ok.join(good.select("__tid"), "__tid", "left_anti")
            orphan = orphan.withColumn("__reason", F.lit("no transaction with this TransactionID"))
            bad_parts += [_bad_rows(identity, "identity"), _bad_rows(orphan, "identity")]
            good = good.join(
                ident_ok.select("__tid", *[F.col(_q(c)) for c in keep]), "__tid", "left"
            )
        for column in wanted:  # columns of an identity file that was not given
            if column not in good.columns:
                good = good.withColumn(column, F.lit(None).cast("string"))
        good = good.persist(StorageLevel.MEMORY_AND_DISK)
        n_good = good.count()
        stage.count(rows_out=n_good)
    if n_good == 0:
        raise ValueError("no valid transactions left after setting bad rows aside")

    # 3. time split, and every used column parsed once -----------------------------------------
    with Stage(report, "time_split") as stage:
        n_train = round(n_good * (1 - config.test_fraction - config.valid_fraction))
        n_valid = round(n_good * (1 - config.test_fraction)) - n_train
        ranked, ranked_cache = rank_by_time(good, partitions)
        position = F.col("__position")
        split = (
            F.when(position < n_train, F.lit(schema.SPLIT_TRAIN))
            .when(position < n_train + n_valid, F.lit(schema.SPLIT_VALID))
            .otherwise(F.lit(schema.SPLIT_TEST))
        )
        numbers = {c: f"__n{i}" for i, c in enumerate(config.numeric_cols)}
        keys = {
            c: f"__k{i}" for i, c in enumerate(dict.fromkeys(config.cat_cols + config.entity_cols))
        }
        prepared = ranked.select(
            "__tid",
            "__dt",
            "__y",
            split.alias("__split"),
            *[number_column(F.col(_q(c))).alias(n) for c, n in numbers.items()],
            *[canonical_key_column(F.col(_q(c))).alias(k) for c, k in keys.items()],
        ).persist(StorageLevel.MEMORY_AND_DISK)
        counts = {r["__split"]: r["count"] for r in prepared.groupBy("__split").count().collect()}
        ranked_cache.unpersist()  # the positions are stored in ``prepared`` now
        stage.count(**{f"{k}_rows": v for k, v in counts.items()})

    # 4. featurizer statistics on training rows only -----------------------------------------
    with Stage(report, "fit_featurizer") as stage:
        train = prepared.where(F.col("__split") == schema.SPLIT_TRAIN)
        aggs = []
        for i, column in enumerate(config.numeric_cols):
            value = F.col(numbers[column])
            if column in config.log_cols:
                value = F.signum(value) * F.log1p(F.abs(value))
            aggs += [F.mean(value).alias(f"m{i}"), F.stddev_pop(value).alias(f"s{i}")]
        stats = train.agg(*aggs).collect()[0] if aggs else {}
        numeric = []
        for i, column in enumerate(config.numeric_cols):
            mean, std = stats[f"m{i}"], stats[f"s{i}"]
            numeric.append(
                NumericFeature(
                    column=column,
                    mean=float(mean) if mean is not None else 0.0,
                    std=float(std) if std else 1.0,
                    log=column in config.log_cols,
                )
            )
        categorical = []
        if config.cat_cols:
            top = top_categories(train, keys, config.cat_cols, config.max_categories)
            categorical = [CategoricalFeature(column=c, values=top[c]) for c in config.cat_cols]
        spec = FeaturizerSpec(
            numeric=numeric, categorical=categorical, entity_columns=list(config.entity_cols)
        )
        write_text(f"{out}/{schema.FEATURIZER_FILE}", spec.to_json())
        stage.count(feature_dim=spec.dim)

    # 5. features and labels --------------------------------------------------------------
    with Stage(report, "features") as stage:
        columns = []
        for feature in spec.numeric:  # the arithmetic of features.numeric_value, then float32
            value = F.col(numbers[feature.column])
            if feature.log:
                value = F.signum(value) * F.log1p(F.abs(value))
            std = feature.std if feature.std and feature.std > 0 else 1.0
            columns.append(F.coalesce((value - F.lit(feature.mean)) / F.lit(std), F.lit(0.0)))
        for cat in spec.categorical:
            key = F.col(keys[cat.column])
            columns.extend(F.when(key == F.lit(v), 1.0).otherwise(0.0) for v in cat.values)
        feature_names = [f"{schema.FEATURE_PREFIX}{i}" for i in range(spec.dim)]
        feats = prepared.select(
            F.col("__tid").alias(schema.ID_COLUMN),
            *[c.cast("float").alias(n) for c, n in zip(columns, feature_names, strict=True)],
        ).persist(StorageLevel.MEMORY_AND_DISK)
        write_csv(feats, f"{out}/{schema.FEATURES_FOLDER}")
        labels = prepared.select(
            F.col("__tid").alias(schema.ID_COLUMN),
            F.col("__dt").alias(schema.TIME_COLUMN),
            F.col("__y").alias(schema.LABEL_COLUMN),
            F.col("__split").alias("split"),
        )
        write_csv(labels, f"{out}/{schema.LABELS_FOLDER}")
        stage.count(rows_out=n_good)

    # 6. edge lists (one write, one folder per entity column) ---------------------------------
    with Stage(report, "edges") as stage:
        all_edges = (
            prepared.select(
                F.col("__tid").alias(schema.ID_COLUMN),
                F.col("__dt"),
                F.explode(
                    F.array(
                        *[
                            F.struct(F.lit(c).alias("column"), F.col(keys[c]).alias("key"))
                            for c in config.entity_cols
                        ]
                    )
                ).alias("p"),
            )
            .select(
                schema.ID_COLUMN,
                "__dt",
                F.col("p.column").alias("__column"),
                F.col("p.key").alias("__key"),
            )
            .where(F.col("__key").isNotNull())
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        write_partitioned(
            spark,
            all_edges.select(schema.ID_COLUMN, F.col("__key").alias("key"), "__column"),
            f"{out}/{schema.EDGES_FOLDER}",
            {c: schema.edgelist_name(c) for c in config.entity_cols},
        )
        n_edges = all_edges.count()
        stage.count(edges=n_edges)

    # 7. Neptune bulk-load files with entity state ----------------------------------------------
    with Stage(report, "neptune_bulk_load") as stage:
        nep = f"{out}/{schema.NEPTUNE_FOLDER}"
        tx_nodes = labels.select(
            F.concat(F.lit("t-"), F.col(schema.ID_COLUMN).cast("string")),
            F.lit(schema.TRANSACTION_LABEL),
            F.col(schema.ID_COLUMN).cast("string"),
            F.col(schema.TIME_COLUMN),
            F.col(schema.LABEL_COLUMN),
        ).toDF(*schema.TRANSACTION_NODE_HEADER)
        write_csv(tx_nodes, f"{nep}/{schema.bulk_load_folder('transaction')}")
        sums = (
            all_edges.join(feats, schema.ID_COLUMN)
            .groupBy("__column", "__key")
            .agg(
                F.count(F.lit(1)).alias("__degree"),
                F.min("__dt").alias("__first_dt"),
                *[F.sum(F.col(f).cast("double")).alias(f) for f in feature_names],
            )
        )
        nodes = encode_entity_nodes(sums, feature_names).persist(StorageLevel.MEMORY_AND_DISK)
        write_partitioned(
            spark,
            nodes.toDF(*schema.ENTITY_NODE_HEADER, "__column"),
            nep,
            {c: schema.bulk_load_folder("nodes", c) for c in config.entity_cols},
        )
        per_type = {c: 0 for c in config.entity_cols}
        per_type.update(
            {r["__column"]: r["count"] for r in nodes.groupBy("__column").count().collect()}
        )
        edge_rows = all_edges.select(
            F.concat_ws(
                "-", F.col("__column"), F.col(schema.ID_COLUMN).cast("string"), F.col("__key")
            ),
            F.concat(F.lit("t-"), F.col(schema.ID_COLUMN).cast("string")),
            F.concat_ws("-", F.col("__column"), F.col("__key")),
            F.concat(F.lit("USES_"), F.col("__column")),
            F.col("__column"),
        ).toDF(*schema.EDGE_HEADER, "__column")
        types = F.col(":TYPE")
        for column in config.entity_cols:  # edge types are upper-case snake names of the column
            types = F.when(F.col("__column") == column, F.lit(schema.edge_type(column))).otherwise(
                types
            )
        edge_rows = edge_rows.withColumn(":TYPE", types)
        write_partitioned(
            spark,
            edge_rows,
            nep,
            {c: schema.bulk_load_folder("edges", c) for c in config.entity_cols},
            tmp_name="_partitioned_edges",
        )
        nodes.unpersist()
        n_entities = sum(per_type.values())
        stage.count(entities=n_entities, transactions=n_good, edges=n_edges)
        report["entities_per_type"] = per_type

    # 8. bad rows ------------------------------------------------------------------------------
    with Stage(report, "bad_rows") as stage:
        bad = bad_parts[0]
        for frame in bad_parts[1:]:
            bad = bad.unionByName(frame)
        bad = bad.persist(StorageLevel.MEMORY_AND_DISK)
        write_csv(bad, f"{out}/{schema.BAD_ROWS_FOLDER}")
        reasons = {
            f"{r['source']}: {r['reason']}": r["count"]
            for r in bad.groupBy("source", "reason").count().collect()
        }
        n_bad = sum(reasons.values())
        stage.count(bad_rows=n_bad)

    report.update(
        rows_in=n_in,
        transactions_out=n_good,
        bad_rows=n_bad,
        bad_row_reasons=reasons,
        split_counts=counts,
        feature_dim=spec.dim,
        edges=n_edges,
        entities=n_entities,
        seconds=round(time.perf_counter() - started, 3),
    )
    write_text(f"{out}/{schema.ETL_REPORT_FILE}", json.dumps(report, indent=1, default=str))
    for frame in (tx, good, prepared, feats, all_edges, bad):  # free the cache for the next job
        frame.unpersist()
    LOG.info(
        "done: %d rows in, %d transactions out, %d set aside, %d entities, %d edges in %.1fs",
        n_in,
        n_good,
        n_bad,
        n_entities,
        n_edges,
        report["seconds"],
    )
    return report


def local_spark_session(master: str = "local[*]", shuffle_partitions: int = 16):
    """A local SparkSession for running the job (or its tests) off Glue."""
    from pyspark.sql import SparkSession

    # Python workers (the entity encoder) run the same interpreter as the driver and import the
    # same vigil package (on Glue it comes from --extra-py-files).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    repo = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if repo not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([repo, *paths])
    return (
        SparkSession.builder.master(master)
        .appName("vigil-fraud-etl")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", os.environ.get("VIGIL_SPARK_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_args(argv)
    try:  # on AWS Glue
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext
    except ImportError:
        spark = local_spark_session(config.master, config.shuffle_partitions or 16)
        job = None
    else:  # pragma: no cover - only on Glue
        glue_context = GlueContext(SparkContext.getOrCreate())
        spark = glue_context.spark_session
        job = Job(glue_context)
        job.init(config.job_name or "vigil-fraud-etl", {"JOB_NAME": config.job_name or ""})
    report = run(spark, config)
    if job is not None:  # pragma: no cover
        job.commit()
    print(
        json.dumps({k: report[k] for k in ("rows_in", "transactions_out", "bad_rows", "seconds")})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
