"""What the console stack reads of the air-quality system, published as SSM parameters: the
anomaly and state tables, the detector's name and the stack key (tables are encrypted with it)."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from vigil.console.contract import parameter_name


class ConsoleParameters(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_prefix: str,
        anomaly_table: dynamodb.ITable,
        state_table: dynamodb.ITable,
        detector_name: str,
        key: kms.IKey,
    ):
        super().__init__(scope, construct_id)
        values = {
            "anomaly-table": anomaly_table.table_name,
            "state-table": state_table.table_name,
            "detector-name": detector_name,
            "key-arn": key.key_arn,
        }
        for item, value in values.items():
            ssm.StringParameter(
                self,
                f"Parameter-{item}",
                parameter_name=parameter_name(stack_prefix, "air-quality", item),
                string_value=value,
                description=f"Vigil console: the air-quality system's {item}",
            )
