"""The scoring API's event: one IEEE-CIS transaction, validated strictly (``TransactionEvent``),
and a raw IEEE-CIS row turned into that event (what a payment service would send)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from vigil.fraud import schema
from vigil.fraud.contract import (
    EXPLAIN_FIELD,
    INPUT_COLUMNS,
    MAX_STRING_LENGTH,
    STRING_COLUMNS,
)

FiniteNumber = Annotated[float | None, Field(default=None, allow_inf_nan=False)]
BoundedString = Annotated[str | None, Field(default=None, max_length=MAX_STRING_LENGTH)]


def _fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for column in INPUT_COLUMNS:
        if column == schema.ID_COLUMN:
            fields[column] = (Annotated[int, Field(ge=0, lt=2**53)], ...)
        elif column == schema.TIME_COLUMN:
            fields[column] = (Annotated[int | None, Field(default=None, ge=0, lt=2**53)], None)
        elif column in STRING_COLUMNS:
            fields[column] = (BoundedString, None)
        else:
            fields[column] = (FiniteNumber, None)
    fields[EXPLAIN_FIELD] = (bool | None, None)
    return fields


TransactionEvent: type[BaseModel] = create_model(
    "TransactionEvent",
    __config__=ConfigDict(extra="forbid", strict=True, frozen=True),
    __doc__=(
        "One transaction to score: IEEE-CIS transaction + identity columns (isFraud excluded), "
        "and optionally explain (true: the answer names each entity's contribution). "
        "TransactionID is required (a non-negative integer); numbers must be finite JSON "
        "numbers, strings at most 256 characters; any other key is rejected."
    ),
    **_fields(),
)


class InvalidTransaction(ValueError):
    """The event is not a valid transaction; ``errors`` name each offending field."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def parse_transaction(payload: Any) -> dict[str, Any]:
    """Validate a decoded event body; returns the transaction's non-null fields."""
    if not isinstance(payload, Mapping):
        raise InvalidTransaction(
            [{"field": "body", "message": "must be a JSON object of IEEE-CIS columns"}]
        )
    try:
        model = TransactionEvent.model_validate(payload)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "body"
            message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append({"field": where, "message": message})
        raise InvalidTransaction(problems) from None
    return model.model_dump(exclude_none=True)


def transaction_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A raw IEEE-CIS row (merged transaction + identity, e.g. from the generator or a CSV) as
    the API's JSON event: the label dropped, missing values (NaN, None) left out, numpy scalars as
    plain numbers — what a payment service would send."""
    event: dict[str, Any] = {}
    for column in INPUT_COLUMNS:
        value = row.get(column)
        if value is None or schema.is_missing(value):
            continue
        if hasattr(value, "item"):  # numpy scalar
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if column == schema.ID_COLUMN or column == schema.TIME_COLUMN:
            value = int(value)
        elif column in STRING_COLUMNS:
            value = str(value)
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            number = float(value)
            if not math.isfinite(number):
                continue
            value = number
        event[column] = value
    return event
