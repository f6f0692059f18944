"""Data: raw and processed buckets, the Glue catalog and crawler, and the PySpark ETL job.

* ``raw_bucket``: the IEEE-CIS files (``incoming/`` for uploads, ``tables/<table>/`` what the
  crawler catalogs); ``processed_bucket``: per-run ETL output, model artifacts, packaged models.
  Both from ``SecurityBaseline.data_bucket`` (KMS, TLS-only, versioned, access-logged).
* Glue database + crawler over ``raw/tables/`` (tables ``raw_transaction``, ``raw_identity``).
* The ETL job runs ``glue/fraud_etl.py`` (uploaded as an asset, with the ``vigil`` package as an
  extra Python zip): Glue 5.0, worker type/count by setting, bookmarks off, continuous logging.
* One Glue security configuration (KMS for S3 output, CloudWatch logs and bookmarks) for both.

Exposes ``raw_bucket``, ``processed_bucket``, ``database``, ``database_name``, ``crawler``,
``crawler_name``, ``job``, ``job_name``, ``job_role``, ``crawler_role``, ``security_configuration``.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from cdk.nag import FRAUD_GLUE_TABLES, FRAUD_METRICS_ANY_RESOURCE, GLUE_LOG_GROUPS, acknowledge
from cdk.shared.iam import read_asset, read_objects, use_key, write_objects
from cdk.shared.security import SecurityBaseline
from vigil.fraud.contract import CRAWLER_TABLE_PREFIX, RAW_TABLES_PREFIX, RUNS_PREFIX
from vigil.fraud.label_log import LABEL_LOG_PREFIX

GLUE_TEMP_PREFIX = "glue-temp/"

REPO_ROOT = Path(__file__).resolve().parents[2]
# ".*" as well as "*": the glob does not match dot-names (see cdk/shared/lambda_code.py).
VIGIL_ONLY = [".*", "*", "!vigil", "!vigil/**", "**/__pycache__", "**/*.pyc"]


class FraudData(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        baseline: SecurityBaseline,
        etl_script: Path,
        worker_type: str,
        number_of_workers: int,
        timeout_minutes: int,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        key = baseline.key
        self.raw_bucket = baseline.data_bucket("RawBucket", scope=self)
        self.processed_bucket = baseline.data_bucket("ProcessedBucket", scope=self)

        self.database_name = f"{stack.stack_name.lower().replace('-', '_')}_raw"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="Vigil fraud: raw IEEE-CIS tables (train_transaction, train_identity)",
            ),
        )
        sec_name = f"{stack.stack_name}-fraud-glue"
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=sec_name,
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )

        catalog = stack.format_arn(service="glue", resource="catalog")
        database_arn = stack.format_arn(
            service="glue", resource="database", resource_name=self.database_name
        )
        tables_arn = stack.format_arn(
            service="glue", resource="table", resource_name=f"{self.database_name}/*"
        )
        glue_log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=_colon(),
        )

        def glue_logs() -> iam.PolicyStatement:
            """Write Glue's own log groups (KMS-associated by the security configuration)."""
            return iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[glue_log_groups],
            )

        # --- crawler --------------------------------------------------------------------------
        self.crawler_role = iam.Role(
            self,
            "CrawlerRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Vigil fraud Glue crawler: reads raw tables, writes the raw database",
        )
        read_objects(self.crawler_role, self.raw_bucket, key, RAW_TABLES_PREFIX)
        self.crawler_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:BatchCreatePartition",
                    "glue:BatchUpdatePartition",
                    "glue:GetSecurityConfiguration",
                ],
                resources=[catalog, database_arn, tables_arn],
            )
        )
        self.crawler_role.add_to_policy(glue_logs())
        use_key(self.crawler_role, key, write=True)
        self.crawler_name = f"{stack.stack_name}-fraud-raw"
        self.crawler = glue.CfnCrawler(
            self,
            "Crawler",
            name=self.crawler_name,
            role=self.crawler_role.role_arn,
            database_name=self.database_name,
            table_prefix=CRAWLER_TABLE_PREFIX,
            crawler_security_configuration=self.security_configuration.name,
            description="Catalogs raw IEEE-CIS tables (one folder per table under tables/)",
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[
                    glue.CfnCrawler.S3TargetProperty(
                        path=f"s3://{self.raw_bucket.bucket_name}/{RAW_TABLES_PREFIX}"
                    )
                ]
            ),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
            recrawl_policy=glue.CfnCrawler.RecrawlPolicyProperty(
                recrawl_behavior="CRAWL_EVERYTHING"
            ),
        )
        self.crawler.node.add_dependency(self.database)
        self.crawler.node.add_dependency(self.security_configuration)

        # --- ETL job --------------------------------------------------------------------------
        if not etl_script.is_file():
            raise FileNotFoundError(f"Glue ETL script {etl_script} does not exist")
        script = s3_assets.Asset(self, "EtlScript", path=str(etl_script))
        library = s3_assets.Asset(self, "VigilPackage", path=str(REPO_ROOT), exclude=VIGIL_ONLY)
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Vigil fraud Glue ETL: reads raw, writes processed",
        )
        read_asset(self.job_role, script)
        read_asset(self.job_role, library)
        read_objects(self.job_role, self.raw_bucket, key)
        # Only the run folders (runs/<run id>/processed/) and Spark's temp dir: the live model
        # and featurizer under current/ are the PackageModel step's, never the ETL's.
        for prefix in (RUNS_PREFIX, GLUE_TEMP_PREFIX):
            read_objects(self.job_role, self.processed_bucket, key, prefix)
            write_objects(self.job_role, self.processed_bucket, key, prefix, delete=True)
        # the label API's log: read-only, the job's --label-log (labels replace raw isFraud)
        read_objects(self.job_role, self.processed_bucket, key, LABEL_LOG_PREFIX)
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:GetSecurityConfiguration",
                ],
                resources=[catalog, database_arn, tables_arn],
            )
        )
        self.job_role.add_to_policy(glue_logs())
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        acknowledge(self.crawler_role, GLUE_LOG_GROUPS, FRAUD_GLUE_TABLES)
        acknowledge(self.job_role, GLUE_LOG_GROUPS, FRAUD_GLUE_TABLES, FRAUD_METRICS_ANY_RESOURCE)
        processed = f"s3://{self.processed_bucket.bucket_name}"
        self.job_name = f"{stack.stack_name}-fraud-etl"
        self.job = glue.CfnJob(
            self,
            "EtlJob",
            name=self.job_name,
            description="Vigil fraud ETL: IEEE-CIS tables → features, edges, Neptune bulk-load CSV",
            role=self.job_role.role_arn,
            glue_version="5.0",
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            worker_type=worker_type,
            number_of_workers=number_of_workers,
            timeout=timeout_minutes,
            max_retries=0,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.name,
            default_arguments={
                "--job-language": "python",
                "--job-bookmark-option": "job-bookmark-disable",
                "--enable-continuous-cloudwatch-log": "true",
                "--enable-continuous-log-filter": "true",
                "--enable-metrics": "true",
                "--enable-glue-datacatalog": "true",
                "--extra-py-files": library.s3_object_url,
                "--TempDir": f"{processed}/{GLUE_TEMP_PREFIX}",
                "--label-log": f"{processed}/{LABEL_LOG_PREFIX}",
            },
        )
        self.job.node.add_dependency(self.security_configuration)


def _colon():
    from aws_cdk import ArnFormat

    return ArnFormat.COLON_RESOURCE_NAME
