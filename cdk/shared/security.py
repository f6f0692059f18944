"""The security baseline each system stack creates for itself.

Each system stack owns its KMS key and access-log bucket instead of importing them from a shared
stack: a cross-stack export that is in use blocks `cdk destroy` of the exporting stack, and a
bucket's server-access-log policy would reference the consumer bucket back (a dependency cycle).
One construct, used by every stack, keeps the definition in one place.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


def removal_policy(name: str) -> RemovalPolicy:
    return RemovalPolicy.DESTROY if name == "destroy" else RemovalPolicy.RETAIN


class SecurityBaseline(Construct):
    """A customer-managed KMS key (rotated) and a TLS-only, versioned access-log bucket.

    Exposes ``key``, ``log_bucket`` and ``removal_policy``. CloudWatch Logs in this region may use
    the key (log groups of the system's Lambdas, Glue and state machines are encrypted with it).
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal: str, description: str):
        super().__init__(scope, construct_id)
        self.removal_policy = removal_policy(removal)
        # CloudFormation cannot delete a bucket that holds objects: under destroy CDK's
        # custom resource empties each bucket first, so `cdk destroy` removes everything.
        self.auto_delete_objects = self.removal_policy == RemovalPolicy.DESTROY
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=description,
            enable_key_rotation=True,
            removal_policy=self.removal_policy,
            pending_window=Duration.days(7 if removal == "destroy" else 30),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogs",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
                        )
                    }
                },
            )
        )
        # Server-access-log targets support SSE-S3 only (not SSE-KMS): AWS documents this limit.
        # It logs nothing itself; cdk-nag's S1 passes it because the data buckets log into it.
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=self.removal_policy,
            auto_delete_objects=self.auto_delete_objects,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )

    def data_bucket(
        self, construct_id: str, *, scope: Construct | None = None, **overrides
    ) -> s3.Bucket:
        """A KMS-encrypted, TLS-only, versioned bucket that logs access to ``log_bucket``."""
        props = dict(
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=f"{construct_id}/",
            removal_policy=self.removal_policy,
            auto_delete_objects=self.auto_delete_objects,
        )
        props.update(overrides)
        return s3.Bucket(scope or self, construct_id, **props)
