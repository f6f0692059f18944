"""A Step Functions state machine as every Vigil stack runs one: traced, every event logged to
its own KMS-encrypted log group, with a timeout."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk.shared.logs import encrypted_log_group


def logged_state_machine(
    scope: Construct,
    start: sfn.IChainable,
    *,
    key: kms.IKey,
    log_retention_days: int,
    removal_policy: RemovalPolicy,
    timeout: Duration,
    comment: str,
    log_group_id: str = "StateMachineLogs",
    include_execution_data: bool | None = None,
) -> tuple[logs.LogGroup, sfn.StateMachine]:
    """The log group ``log_group_id`` and the state machine ``StateMachine`` under ``scope``."""
    log_group = encrypted_log_group(
        scope,
        log_group_id,
        key=key,
        retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(start),
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            include_execution_data=include_execution_data,
        ),
        comment=comment,
    )
    return log_group, state_machine
