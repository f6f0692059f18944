"""cdk-nag: the AwsSolutions pack and every acknowledgement Vigil makes, each with its reason.

All acknowledgements live here so a reviewer reads one file to see every accepted deviation.
They are granular: a rule id with its finding (``AwsSolutions-IAM5[Resource::*]``) on the narrowest
construct that needs it, never a blanket rule on a whole stack, and always with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


@dataclass(frozen=True)
class Ack:
    rule: str  # e.g. "AwsSolutions-IAM5[Resource::*]"
    reason: str


def attach_checks(app: App) -> None:
    """Run the AwsSolutions pack over every stack at synth; a finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


# With this context key set, acknowledge() records each acknowledgement as construct metadata
# instead of applying it, so a test can check that every one still matches a cdk-nag finding.
RECORD_ONLY_CONTEXT = "vigil-nag:recordAcknowledgementsOnly"
RECORDED_ACK = "vigil:nag:acknowledgement"


def acknowledge(scope: IConstruct, *acks: Ack) -> None:
    """Acknowledge each finding on ``scope``, once: helpers that grant twice on one role (read and
    write of one prefix) would otherwise acknowledge the same finding twice."""
    record_only = bool(scope.node.try_get_context(RECORD_ONLY_CONTEXT))
    for ack in acks:
        if ack.rule in recorded_acknowledgements(scope):
            continue
        scope.node.add_metadata(RECORDED_ACK, ack.rule)
        if not record_only:
            Validations.of(scope).acknowledge(Acknowledgment(id=ack.rule, reason=ack.reason))


def recorded_acknowledgements(scope: IConstruct) -> list[str]:
    """The rules acknowledged on ``scope`` itself (not on its children)."""
    return [entry.data for entry in scope.node.metadata if entry.type == RECORDED_ACK]


# --- Reasons shared by several systems -------------------------------------------------------
LAMBDA_RUNTIME = Ack(
    "AwsSolutions-L1",
    "Lambdas run python3.11 on purpose: the same interpreter the project's tests, local demo and "
    "SageMaker images use; upgrading is one change in cdk/shared/function.py with the tests.",
)
XRAY_WILDCARD = Ack(
    "AwsSolutions-IAM5[Resource::*]",
    "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; the "
    "statement CDK adds for active tracing must use '*'.",
)
SAGEMAKER_PREFIX_LIST_LOOKUP = (
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        "ec2:DescribeManagedPrefixLists takes no resource; the deploy-time lookup reads the "
        "region's S3 prefix list id for the SageMaker security group's only outbound rule.",
    ),
)
SAGEMAKER_PREFIX_LIST_LOOKUP_FUNCTION = Ack(
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    "CDK's own AwsCustomResource function (a deploy-time lookup of the S3 prefix list id) comes "
    "with the AWS basic execution policy: its own log group only; its one API call is in the "
    "lookup's inline policy.",
)
SAGEMAKER_NETWORK_INTERFACES = (
    "EC2 network-interface actions SageMaker performs with the execution role to place job and "
    "endpoint instances in the private subnets (Describe* take no resource; SageMaker names the "
    "interfaces it creates at run time)"
)
API_PUSH_LOGS_ROLE = Ack(
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    "API Gateway's account-level CloudWatch Logs role (needed for execution logging) uses the "
    "AWS-managed push-to-logs policy, which AWS documents for exactly this role.",
)


# --- Fraud: add fraud acknowledgements below this line -----------------------------------------
# Pipeline, network and graph (cdk/fraud/*.py except scoring_api.py).
GLUE_LOG_GROUPS = Ack(
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*]",
    "Glue names its log groups itself (/aws-glue/jobs/..., /aws-glue/crawlers-role/<role>-"
    "<security configuration>): the documented log-group prefix is the narrowest resource.",
)
FRAUD_GLUE_TABLES = Ack(
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/vigil_fraud_raw/*]",
    "The crawler creates the raw tables at run time (raw_transaction, raw_identity); the "
    "permission is limited to tables of the fraud raw database.",
)
FRAUD_METRICS_ANY_RESOURCE = Ack(
    "AwsSolutions-IAM5[Resource::*]",
    "cloudwatch:PutMetricData has no resource-level permissions (AWS service authorization "
    "reference); it is limited by a cloudwatch:namespace condition instead.",
)
_FRAUD_SAGEMAKER_NO_RESOURCE_LEVEL = Ack(
    "AwsSolutions-IAM5[Resource::*]",
    "Actions without resource-level permissions: ecr:GetAuthorizationToken (the registry "
    "login before pulling the DLC image, whose pull actions are scoped to its repository), "
    "cloudwatch:PutMetricData (limited to /aws/sagemaker/* namespaces by condition), and the "
    + SAGEMAKER_NETWORK_INTERFACES
    + ".",
)
FRAUD_TRAINING_ROLE: tuple[Ack, ...] = (
    _FRAUD_SAGEMAKER_NO_RESOURCE_LEVEL,
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*]",
        "SageMaker writes training logs to the service-named /aws/sagemaker/TrainingJobs group "
        "with one stream per job created at run time.",
    ),
)
FRAUD_MODEL_ROLE: tuple[Ack, ...] = (
    _FRAUD_SAGEMAKER_NO_RESOURCE_LEVEL,
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints*]",
        "SageMaker writes endpoint logs to /aws/sagemaker/Endpoints/<endpoint name>, created by "
        "the service at run time.",
    ),
)
FRAUD_PIPELINE_ROLE: tuple[Ack, ...] = (
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        "Added by CDK for the state machine's own logging and tracing: CloudWatch Logs vended "
        "log delivery (logs:*LogDelivery, DescribeLogGroups, DescribeResourcePolicies, "
        "PutResourcePolicy) and X-Ray do not support resource-level permissions.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/vigil-fraud-*]",
        "Each run creates a training job named vigil-fraud-<run id> at run time (.sync also "
        "needs Describe/Stop/ListTags on it); only that prefix is known at deploy time.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:model/*]",
        "Each run creates a SageMaker model named after its run id at run time.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:endpoint-config/*]",
        "Each run creates an endpoint config named after its run id, which Create/UpdateEndpoint "
        "then reference; the endpoint itself is named exactly.",
    ),
)
GRAPH_LOAD_DATA_PLANE = Ack(
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:neptune-db:<AWS::Region>:<AWS::AccountId>:<NetworkGraphCluster5CEC8689.ClusterResourceId>/*]",
    "neptune-db data-plane permissions name a cluster by its resource id followed by '/*' (the "
    "only form IAM accepts); the actions are limited to StartLoaderJob and GetLoaderJobStatus.",
)


# Real-time scoring API (cdk/fraud/scoring_api.py).
SCORING_API_COGNITO = Ack(
    "AwsSolutions-COG4",
    "The scoring API is called service-to-service by the payment backend with SigV4 (IAM "
    "authorisation on every method); there are no end users, so no Cognito user pool.",
)


def scoring_neptune_data_ack(resource: str) -> Ack:
    """The scoring Lambda's openCypher access to ONE cluster: ``<cluster resource id>/*``."""
    return Ack(
        f"AwsSolutions-IAM5[Resource::{resource}]",
        "neptune-db data-plane actions (connect, ReadDataViaQuery, WriteDataViaQuery) name a "
        "cluster by its resource id followed by '/*' (the graph data); this is one cluster.",
    )


# Batch scoring (cdk/fraud/batch_scoring.py): a Batch Transform of a run's model.
FRAUD_BATCH_MODEL_ROLE = (
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TransformJobs*]",
        "SageMaker writes a transform job's logs to the service-named /aws/sagemaker/TransformJobs "
        "group, one stream per job instance created at run time.",
    ),
)
FRAUD_BATCH_STATE_MACHINE_ROLE = (
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        "Added by CDK for the state machine's own logging and tracing: CloudWatch Logs vended "
        "log delivery (logs:*LogDelivery, DescribeLogGroups, DescribeResourcePolicies, "
        "PutResourcePolicy) and X-Ray, none of which support resource-level permissions.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:transform-job/vigil-fraud-batch-*]",
        "Each run creates a transform job named vigil-fraud-batch-<fresh UUID> at run time (.sync "
        "also needs Describe/Stop/ListTags on it); only that prefix is known at deploy time.",
    ),
)


# --- Air quality: add air-quality acknowledgements below this line ------------------------------
def _air(findings: tuple[str, ...], reason: str) -> tuple[Ack, ...]:
    return tuple(Ack(f"AwsSolutions-IAM5[{finding}]", reason) for finding in findings)


_AIR_BUCKET = "<Readings9F99D490.Arn>"
AIR_IOT_RULE_ROLE = _air(
    (f"Resource::{_AIR_BUCKET}/errors/iot-rule/*",),
    "The topic rule's error action writes one object per failed message under errors/iot-rule/ with "
    "a key IoT computes (topic, timestamp, uuid): the wildcard is that prefix.",
)
AIR_DETECTOR_ROLE = _air(
    ("Resource::<DetectorAnomalies36F7FACF.Arn>/index/*",),
    "CDK's table grant names the anomalies table and its indexes (<table>/index/*, here only "
    "byDimension); the actions are the exact item writes the detector makes.",
)
AIR_DETECTOR_DLQ = Ack(
    "AwsSolutions-SQS3",
    "This queue is itself the dead-letter destination of the detector Lambda's failed async "
    "invocations; a dead-letter queue of a dead-letter queue would only move the problem.",
)
AIR_BUCKET_NOTIFICATIONS = Ack(
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]",
    "CDK's own BucketNotificationsHandler (a deploy-time custom resource that sets the bucket's "
    "S3 -> detector notification) uses the AWS managed basic execution role; CDK does not expose "
    "its role for replacement.",
)


# --- Toxicity: add toxicity acknowledgements below this line ------------------------------------
TOXICITY_API_COGNITO = Ack(
    "AwsSolutions-COG4",
    "The moderation API is called service-to-service by the chat/comment backend with SigV4 "
    "(IAM authorisation on every method); there are no end users, so no Cognito user pool.",
)
_TOXICITY_NO_RESOURCE_LEVEL = (
    "Actions without resource-level permissions: ecr:GetAuthorizationToken (the registry login "
    "before pulling the DLC image, whose pull actions are scoped to its one repository), "
    "cloudwatch:PutMetricData (limited by a cloudwatch:namespace condition), and the "
    + SAGEMAKER_NETWORK_INTERFACES
    + "."
)
TOXICITY_TRAINING_JOB_ROLE = (
    Ack("AwsSolutions-IAM5[Resource::*]", _TOXICITY_NO_RESOURCE_LEVEL),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs*]",
        "SageMaker writes training logs to the service-named /aws/sagemaker/TrainingJobs group "
        "with one stream per job created at run time.",
    ),
)
TOXICITY_TRAINING_STATE_MACHINE_ROLE = (
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        "Added by CDK for the state machine's own logging and tracing: CloudWatch Logs vended "
        "log delivery (logs:*LogDelivery, DescribeLogGroups, DescribeResourcePolicies, "
        "PutResourcePolicy) and X-Ray, none of which support resource-level permissions.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/vigil-tox-*]",
        "Each run creates training jobs named vigil-tox-<model>-<fresh UUID> at run time (.sync "
        "also needs Describe/Stop/ListTags on them); only that prefix is known at deploy time.",
    ),
)
TOXICITY_ENDPOINT_ROLE = (
    Ack("AwsSolutions-IAM5[Resource::*]", _TOXICITY_NO_RESOURCE_LEVEL),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/Endpoints*]",
        "SageMaker writes endpoint logs to /aws/sagemaker/Endpoints/<endpoint name>, created by "
        "the service at run time.",
    ),
)
TOXICITY_BULK_STATE_MACHINE_ROLE = (
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        "Added by CDK for the state machine's own logging and tracing: CloudWatch Logs vended "
        "log delivery (logs:*LogDelivery, DescribeLogGroups, DescribeResourcePolicies, "
        "PutResourcePolicy) and X-Ray, none of which support resource-level permissions.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:transform-job/vigil-tox-bulk-*]",
        "Each run creates a transform job named vigil-tox-bulk-<fresh UUID> at run time (.sync "
        "also needs Describe/Stop/ListTags on it); only that prefix is known at deploy time.",
    ),
)


# --- Console: add console acknowledgements below this line ---------------------------------------
CONSOLE_COGNITO_THREAT_PROTECTION = Ack(
    "AwsSolutions-COG8",
    "Cognito threat protection (the Plus feature plan) is billed per active user; the pool has a "
    "handful of administrator-created operators with MFA required and no self sign-up, so the "
    "risk it scores (credential stuffing, sign-ups from bad IPs) is already closed.",
)
CONSOLE_DISTRIBUTION = (
    Ack(
        "AwsSolutions-CFR1",
        "The console is for the operators of this deployment wherever they are; sign-in (MFA) "
        "gates every API call, so a country allow-list would add nothing but lock-outs.",
    ),
    Ack(
        "AwsSolutions-CFR2",
        "A CloudFront web ACL must live in us-east-1 (a second stack in another region); the "
        "read API behind /api/* has its own regional web ACL (rate limit, known bad inputs) and "
        "the static page has nothing to attack.",
    ),
    Ack(
        "AwsSolutions-CFR4",
        "The distribution uses the default *.cloudfront.net certificate, with which CloudFront "
        "fixes the viewer policy (TLSv1); HTTPS is enforced, and a custom domain with its own "
        "certificate (TLSv1.2_2021, set here) raises the floor.",
    ),
)
_DEPLOYMENT = (
    "CDK's BucketDeployment copies the page from the CDK asset bucket into the page bucket "
    "through one singleton Lambda that CDK owns: its grants are CDK's read of the asset bucket "
    "and read/write/delete of the page bucket (prune), plus cloudfront:CreateInvalidation, which "
    "CDK grants on '*'; CDK does not expose the function for narrowing."
)
CONSOLE_PAGE_DEPLOYMENT = (
    Ack(
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        _DEPLOYMENT,
    ),
    *(
        Ack(f"AwsSolutions-IAM5[{finding}]", _DEPLOYMENT)
        for finding in (
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
            "Resource::<SitePage9170653D.Arn>/*",
            "Resource::*",
        )
    ),
    Ack(
        "AwsSolutions-L1", _DEPLOYMENT + " Its runtime is CDK's choice, upgraded with aws-cdk-lib."
    ),
)
