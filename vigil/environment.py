"""A Lambda's settings as one pydantic model: CDK writes it, the handler reads it.

Each Lambda has one ``EnvironmentSettings`` model in its system's ``contract`` module. The CDK
construct builds it (validated at synth) and passes ``to_environment()`` as the function's
environment; the handler calls ``from_environment()``. The variable name of a field is its alias,
or its name in upper case, so a setting has one name and one default on both sides.

Standard library and pydantic only: the CDK app imports this at synth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class EnvironmentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def variable(cls, field_name: str) -> str:
        """The environment variable that carries ``field_name``."""
        field = cls.model_fields[field_name]
        return field.alias or field_name.upper()

    def to_environment(self) -> dict[str, str]:
        """The fields given explicitly (in declaration order), as strings; the others keep
        their defaults on the Lambda side, which reads the same model."""
        environment = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in self.model_fields_set and value is not None:
                environment[self.variable(name)] = _text(value)
        return environment

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values = {
            name: environ[cls.variable(name)]
            for name in cls.model_fields
            if cls.variable(name) in environ
        }
        return cls.model_validate(values)


def _text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset | set):
        return ",".join(sorted(value))
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)
