"""Context keys of the console stack: `vigil:console:<key>` in cdk.json or `-c`."""

from __future__ import annotations

from pydantic import Field

from cdk.config import ContextModel


class ConsoleStackSettings(ContextModel):
    """Every field is a context key (camelCase alias); listed in docs/configuration.md."""

    self_sign_up: bool = Field(
        False,
        description="Let anyone with the sign-in page create an account (off: an administrator "
        "creates each operator with `aws cognito-idp admin-create-user`).",
    )
    domain_prefix: str = Field(
        "",
        pattern=r"^$|^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="Cognito hosted sign-in domain prefix (globally unique); empty: "
        "<stack prefix>-console-<account id>.",
    )
    read_api_reserved_concurrency: int = Field(
        10, ge=1, le=1000, description="Reserved concurrency of the read-API Lambda."
    )
