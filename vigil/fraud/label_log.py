"""The label log: every fraud/legit label fed back through the label API, kept in S3, and the
rule that turns it into training labels. One definition for the label Lambda, the Glue ETL and
the CDK grants. Standard library only (the Glue job and ``python app.py`` import it).

Layout: one JSON object per accepted label change,
``<prefix><TransactionID>/<version, 8 digits>.json`` (default prefix ``labels/log/`` in the fraud
stack's processed bucket, KMS-encrypted). ``version`` counts the label changes of one transaction
from 1; the label Lambda writes version ``n + 1`` with a conditional put (``If-None-Match: *``),
so two writers can never both record a version ``n + 1``, and an object once written is never
replaced. Objects are never deleted by Vigil: the log is the history (who labelled what, when,
and what it replaced), and the source of truth the graph follows.

Training labels (:func:`latest_labels`): per transaction, the record with the highest version.
The ETL (``glue/fraud_etl.py --label-log``) lets it replace the raw data's ``isFraud`` — a
chargeback or an analyst's verdict is newer evidence than the label the raw export carried — and
a transaction the raw data holds without a usable label becomes a labelled one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LABEL_LOG_PREFIX = "labels/log/"
"""Where the label log lives in the fraud stack's processed bucket."""

LABEL_VALUES = {"fraud": 1, "legit": 0}
"""The API's label words → ``isFraud``."""
LABEL_WORDS = {value: word for word, value in LABEL_VALUES.items()}

# record fields (``TransactionID`` and ``isFraud`` are the IEEE-CIS column names)
ID_FIELD = "TransactionID"
IS_FRAUD_FIELD = "isFraud"
VERSION_FIELD = "version"


def object_key(transaction_id: str | int, version: int, prefix: str = LABEL_LOG_PREFIX) -> str:
    """The S3 key of one transaction's label version (zero-padded so keys sort by version)."""
    return f"{transaction_prefix(transaction_id, prefix)}{int(version):08d}.json"


def transaction_prefix(transaction_id: str | int, prefix: str = LABEL_LOG_PREFIX) -> str:
    return f"{prefix}{int(transaction_id)}/"


def version_of_key(key: str) -> int | None:
    """The version a log key names (None for anything else under the prefix)."""
    name = key.rsplit("/", 1)[-1]
    stem, dot, extension = name.partition(".")
    if dot and extension == "json" and stem.isdigit():
        return int(stem)
    return None


def label_record(
    *,
    transaction_id: str | int,
    label: str,
    source: str,
    version: int,
    labelled_at: str,
    previous_label: str | None,
    previous_source: str | None,
    override: bool,
    request_id: str | None,
) -> dict[str, Any]:
    """One log object's content."""
    return {
        ID_FIELD: int(transaction_id),
        IS_FRAUD_FIELD: LABEL_VALUES[label],
        "label": label,
        "source": source,
        VERSION_FIELD: int(version),
        "labelled_at": labelled_at,
        "previous_label": previous_label,
        "previous_source": previous_source,
        "override": bool(override),
        "request_id": request_id,
    }


def latest_labels(records: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Per TransactionID, the record with the highest version (the label training uses)."""
    latest: dict[int, Mapping[str, Any]] = {}
    for record in records:
        transaction_id = int(record[ID_FIELD])
        held = latest.get(transaction_id)
        if held is None or int(record[VERSION_FIELD]) > int(held[VERSION_FIELD]):
            latest[transaction_id] = record
    return latest
