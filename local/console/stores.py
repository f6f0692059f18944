"""The console's stores on the local AWS endpoint (moto server), defined from the same constants
as the CDK tables: the fraud recent-scores table; the air-quality tables come from
``local.standins.air_quality_pipeline.provision``."""

from __future__ import annotations

from vigil.aws import client
from vigil.fraud import recent_scores


def create_recent_scores_table(name: str) -> str:
    """The recent-scores table with its ``byTransaction`` index and TTL, as the stack has it."""
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": recent_scores.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": recent_scores.SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": recent_scores.PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": recent_scores.SORT_KEY, "AttributeType": "S"},
            {"AttributeName": recent_scores.ID_ATTRIBUTE, "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": recent_scores.ID_INDEX,
                "KeySchema": [{"AttributeName": recent_scores.ID_ATTRIBUTE, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": recent_scores.TTL_ATTRIBUTE},
    )
    return name
