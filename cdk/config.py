"""Context → one validated settings object.

Every key lives under the ``vigil:`` namespace in ``cdk.json`` (or ``-c vigil:...=...`` on the
CLI). Keys are flat so they can be overridden from the command line:

    vigil:<setting>              shared settings (SharedSettings)
    vigil:<system>:<setting>     a system's settings (its own model in cdk/<system>/settings.py)

Values given on the command line arrive as strings; pydantic coerces them ("true" → True,
"3" → 3, "a,b" → ["a", "b"] for list fields). Unknown keys are an error, so a typo is not
silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

CONTEXT_PREFIX = "vigil:"


class ContextModel(BaseModel):
    """Base for every settings model: camelCase keys, typo-proof, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _split_csv_lists(cls, value: Any, info) -> Any:
        # `-c vigil:air-quality:alertEmails=a@x,b@y` arrives as one string; list fields take CSV.
        field = cls.model_fields.get(info.field_name)
        if (
            field is not None
            and isinstance(value, str)
            and getattr(field.annotation, "__origin__", None) in (list, tuple)
        ):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class SharedSettings(ContextModel):
    stack_prefix: str = Field("Vigil", description="Prefix of every stack name (Vigil-Fraud, ...).")
    removal_policy: Literal["retain", "destroy"] = Field(
        "retain",
        description="What `cdk destroy` does with data (buckets, tables, keys, graph): keep or delete.",
    )
    log_retention_days: int = Field(
        90, ge=1, le=3653, description="Retention of every CloudWatch log group Vigil creates."
    )
    systems: list[Literal["fraud", "air-quality", "toxicity", "console"]] = Field(
        default_factory=lambda: ["fraud", "air-quality", "toxicity", "console"],
        description="Which system stacks app.py builds.",
    )
    operations_email: str | None = Field(
        None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="E-mail address subscribed to every system's operations topic (alarms).",
    )


M = TypeVar("M", bound=ContextModel)


class SettingsError(ValueError):
    """Raised with every invalid context key named, so `cdk synth` fails with a clear message."""


def collect_context(raw_context: dict[str, Any], system: str | None) -> dict[str, Any]:
    """Pick the flat `vigil:[system:]key` entries for one settings model."""
    prefix = CONTEXT_PREFIX + (f"{system}:" if system else "")
    picked = {}
    for key, value in raw_context.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if ":" in rest:  # belongs to a system namespace, not to the shared settings
            continue
        picked[rest] = value
    return picked


def parse_settings(model: type[M], raw_context: dict[str, Any], system: str | None = None) -> M:
    values = collect_context(raw_context, system)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        where = CONTEXT_PREFIX + (f"{system}:" if system else "")
        raise SettingsError(f"invalid cdk context under '{where}': {exc}") from exc


def context_table(
    model: type[ContextModel], system: str | None = None
) -> list[tuple[str, str, str]]:
    """(key, default, description) rows; a test checks docs/configuration.md lists every key."""
    prefix = CONTEXT_PREFIX + (f"{system}:" if system else "")
    rows = []
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append((prefix + (field.alias or name), repr(default), field.description or ""))
    return rows
