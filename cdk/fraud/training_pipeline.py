"""The training pipeline: one Step Functions state machine from raw data to an InService endpoint.

    NormalizeParameters → IngestData → StartCrawler → (WaitForCrawler → GetCrawler)* →
    ProcessData (Glue .sync) → BuildHyperparameters → TrainModel (SageMaker .sync) →
    [StartGraphLoad → (WaitForGraphLoad → GetGraphLoadStatus)*] → PackageModel → CreateModel →
    CreateEndpointConfig → CheckEndpoint → CreateEndpoint | UpdateEndpoint →
    (WaitForEndpoint → GetEndpointStatus)* → PublishFeaturizer → PipelineSucceeded

Every task retries throttling errors and catches everything else into ``NotifyFailure`` (SNS,
KMS-encrypted topic, the error and its cause) → ``PipelineFailed``. Helper Lambdas are thin
Powertools handlers over :mod:`vigil.fraud.pipeline`. Image URIs come from the SageMaker SDK at
synth time (a per-region mapping); training runs the PyTorch DLC with a pinned DGL build
(``cdk/fraud/code_bundles.py``).

Exposes ``state_machine``, ``topic``, ``functions`` (by name), ``training_role``, ``model_role``,
``log_group``. State names (``TrainModel``, ``ProcessData``…) are part of the interface: the
local runner's overrides and the tests address states by name.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnMapping, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.fraud import code_bundles
from cdk.nag import (
    FRAUD_PIPELINE_ROLE,
    FRAUD_SAGEMAKER_ROLE,
    GRAPH_LOAD_DATA_PLANE,
    acknowledge,
)
from cdk.shared.function import PythonFunction
from cdk.shared.iam import (
    acknowledge_function_versions,
    grant_image_pull,
    read_asset,
    read_objects,
    use_key,
    write_objects,
)
from cdk.shared.logs import encrypted_log_group
from vigil.fraud.contract import (
    FEATURIZER_FILE,
    RAW_TABLES_PREFIX,
    RUNS_PREFIX,
    SAGEMAKER_PROGRAM,
    GraphLoadSettings,
    Hyperparameters,
    PackageModelSettings,
    PipelineEnvironment,
    accelerated,
    metric_definitions,
)

THROTTLING = {
    "lambda": [
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
    ],
    "glue": [
        "Glue.ThrottlingException",
        "Glue.InternalServiceException",
        "Glue.OperationTimeoutException",
        "Glue.ConcurrentRunsExceededException",
    ],
    # SageMaker's optimized integrations surface throttling as AmazonSageMakerException.
    "sagemaker": [
        "SageMaker.ThrottlingException",
        "SageMaker.AmazonSageMakerException",
        "ThrottlingException",
    ],
    "sns": ["SNS.ThrottledException", "SNS.KMSThrottlingException", "SNS.InternalErrorException"],
}
WAIT_CRAWLER = Duration.seconds(30)
WAIT_GRAPH_LOAD = Duration.seconds(30)
WAIT_ENDPOINT = Duration.seconds(60)


class TrainingPipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        log_retention_days: int,
        raw_bucket: s3.IBucket,
        processed_bucket: s3.IBucket,
        crawler_name: str,
        glue_job_name: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        client_security_group: ec2.ISecurityGroup,
        neptune_endpoint: str,
        neptune_data_arn: str,
        neptune_load_role: iam.IRole,
        endpoint_name: str,
        training_instance_type: str,
        training_max_runtime: Duration,
        endpoint_instance_type: str,
        endpoint_instance_count: int,
        featurizer_key: str,
        timeout: Duration,
        bundle_dir: Path | None = None,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._key = key

        # --- synth-time artifacts: images and code bundles ---------------------------------------
        images = CfnMapping(self, "DlcImages", mapping=code_bundles.dlc_images())
        gpu = accelerated(training_instance_type)
        training_image = images.find_in_map(Aws.REGION, "trainingGpu" if gpu else "trainingCpu")
        inference_image = images.find_in_map(Aws.REGION, "inference")
        dlc_account = images.find_in_map(Aws.REGION, "account")
        source = s3_assets.Asset(
            self,
            "TrainingSource",
            path=str(code_bundles.training_source_bundle(training_instance_type, bundle_dir)),
        )
        inference_code = s3_assets.Asset(
            self, "InferenceCode", path=str(code_bundles.inference_code_bundle(bundle_dir))
        )

        # --- SageMaker roles ---------------------------------------------------------------------
        self.training_role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Vigil fraud RGCN training job: reads processed data, writes the model",
        )
        read_objects(self.training_role, processed_bucket, key, RUNS_PREFIX)
        write_objects(self.training_role, processed_bucket, key, RUNS_PREFIX)
        read_asset(self.training_role, source)
        self.model_role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Vigil fraud RGCN endpoint: reads the packaged model",
        )
        read_objects(self.model_role, processed_bucket, key, RUNS_PREFIX)
        for role, repository, log_prefix in (
            (self.training_role, "pytorch-training", "TrainingJobs"),
            (self.model_role, "pytorch-inference", "Endpoints"),
        ):
            use_key(role, key, write=True)
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant", "kms:DescribeKey"], resources=[key.key_arn]
                )
            )
            grant_image_pull(
                role,
                [f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{dlc_account}:repository/{repository}"],
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    resources=[
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                        f"/aws/sagemaker/{log_prefix}*"
                    ],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
                )
            )
            acknowledge(role, *FRAUD_SAGEMAKER_ROLE)

        # --- helper Lambdas ----------------------------------------------------------------------
        common = dict(
            key=key,
            service_name="fraud-pipeline",
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        env = PipelineEnvironment(
            raw_bucket=raw_bucket.bucket_name,
            processed_bucket=processed_bucket.bucket_name,
            endpoint_name=endpoint_name,
            training_instance_type=training_instance_type,
            endpoint_instance_type=endpoint_instance_type,
            endpoint_instance_count=endpoint_instance_count,
        ).to_environment()
        self.functions: dict[str, PythonFunction] = {}
        functions_scope = Construct(self, "Functions")

        def function(name: str, description: str, **kwargs) -> PythonFunction:
            fn = PythonFunction(
                functions_scope,
                name,
                handler_module=f"lambdas.fraud.pipeline_{_snake(name)}.handler",
                description=description,
                **common,
                **kwargs,
            )
            self.functions[name] = fn
            return fn

        normalize = function(
            "Normalize",
            "Fraud pipeline: validate the execution input, fill defaults",
            environment=env,
        )
        ingest = function(
            "Ingest",
            "Fraud pipeline: stage raw IEEE-CIS files as crawler tables",
            timeout=Duration.minutes(5),
        )
        read_objects(ingest.role, raw_bucket, key)
        write_objects(ingest.role, raw_bucket, key, RAW_TABLES_PREFIX, delete=True)
        hyper = function("Hyperparameters", "Fraud pipeline: SageMaker hyperparameter map")
        graph_load = function(
            "GraphLoad",
            "Fraud pipeline: start and poll the Neptune bulk loader (SigV4)",
            environment=GraphLoadSettings(
                neptune_endpoint=neptune_endpoint,
                neptune_load_role_arn=neptune_load_role.role_arn,
            ).to_environment(),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[client_security_group],
        )
        graph_load.role.add_to_policy(
            iam.PolicyStatement(
                actions=["neptune-db:StartLoaderJob", "neptune-db:GetLoaderJobStatus"],
                resources=[neptune_data_arn],
            )
        )
        acknowledge(graph_load.role, GRAPH_LOAD_DATA_PLANE)
        package = function(
            "PackageModel",
            "Fraud pipeline: merge the trained model with the inference code",
            environment=PackageModelSettings(
                code_bundle_uri=inference_code.s3_object_url
            ).to_environment(),
            timeout=Duration.minutes(10),
            memory_size=2048,
        )
        package.function.node.default_child.add_property_override("EphemeralStorage.Size", 10240)
        read_objects(package.role, processed_bucket, key, RUNS_PREFIX)
        write_objects(package.role, processed_bucket, key, RUNS_PREFIX)
        read_asset(package.role, inference_code)
        # PublishFeaturizer: exactly the one object the scoring Lambda loads, nothing else outside
        # runs/ (KMS Encrypt/GenerateDataKey come with write_objects above).
        package.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[processed_bucket.arn_for_objects(featurizer_key)],
            )
        )
        endpoint_status = function("EndpointStatus", "Fraud pipeline: describe the endpoint")
        endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name
        )
        endpoint_status.role.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoint_arn])
        )

        # --- failure path ------------------------------------------------------------------------
        self.topic = sns.Topic(
            self,
            "FailureTopic",
            display_name="Vigil fraud pipeline failures",
            master_key=key,
            enforce_ssl=True,
        )
        # One error name for the execution; the cause keeps the failed task's error and cause.
        failed = sfn.Fail(
            self,
            "PipelineFailed",
            error="FraudPipelineFailed",
            cause_path=sfn.JsonPath.format(
                "{}: {}",
                sfn.JsonPath.string_at("$.error.Error"),
                sfn.JsonPath.string_at("$.error.Cause"),
            ),
        )
        notify = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=self.topic,
            subject="Vigil fraud training pipeline failed",
            message=sfn.TaskInput.from_object(
                {
                    "pipeline": "vigil-fraud-training",
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify.add_retry(
            errors=THROTTLING["sns"],
            interval=Duration.seconds(2),
            max_attempts=5,
            backoff_rate=2,
        )
        notify.add_catch(failed, errors=["States.ALL"], result_path="$.notifyError")
        notify.next(failed)

        def guard(task, service: str):
            task.add_retry(
                errors=THROTTLING[service],
                interval=Duration.seconds(5),
                max_attempts=4,
                backoff_rate=2,
                jitter_strategy=sfn.JitterType.FULL,
            )
            task.add_catch(notify, errors=["States.ALL"], result_path="$.error")
            return task

        def invoke(name: str, fn: PythonFunction, payload: dict, result_path: str):
            return guard(
                tasks.LambdaInvoke(
                    self,
                    name,
                    lambda_function=fn.function,
                    payload=sfn.TaskInput.from_object(payload),
                    payload_response_only=True,
                    retry_on_service_exceptions=False,
                    result_path=result_path,
                    task_timeout=sfn.Timeout.duration(
                        Duration.seconds(fn.function.timeout.to_seconds() + 30)
                        if fn.function.timeout
                        else Duration.minutes(2)
                    ),
                ),
                "lambda",
            )

        # --- states ------------------------------------------------------------------------------
        normalize_state = invoke(
            "NormalizeParameters",
            normalize,
            {
                "input": sfn.JsonPath.object_at("$$.Execution.Input"),
                "executionName": sfn.JsonPath.execution_name,
            },
            "$.config",
        )
        ingest_state = invoke(
            "IngestData",
            ingest,
            {
                "location": sfn.JsonPath.string_at("$.config.data.location"),
                "tables": sfn.JsonPath.string_at("$.config.data.tables"),
            },
            "$.ingest",
        )
        crawler_arn = stack.format_arn(
            service="glue", resource="crawler", resource_name=crawler_name
        )
        start_crawler = tasks.CallAwsService(
            self,
            "StartCrawler",
            service="glue",
            action="startCrawler",
            parameters={"Name": crawler_name},
            iam_resources=[crawler_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        wait_crawler = sfn.Wait(self, "WaitForCrawler", time=sfn.WaitTime.duration(WAIT_CRAWLER))
        # Already running (a previous attempt started it): just wait for it.
        start_crawler.add_catch(
            wait_crawler, errors=["Glue.CrawlerRunningException"], result_path=sfn.JsonPath.DISCARD
        )
        guard(start_crawler, "glue")
        get_crawler = guard(
            tasks.CallAwsService(
                self,
                "GetCrawler",
                service="glue",
                action="getCrawler",
                parameters={"Name": crawler_name},
                iam_resources=[crawler_arn],
                result_selector={"crawler": sfn.JsonPath.object_at("$.Crawler")},
                result_path="$.crawl",
            ),
            "glue",
        )
        crawl_failed = sfn.Pass(
            self,
            "CrawlFailed",
            parameters={
                "Error": "CrawlFailed",
                "Cause": sfn.JsonPath.format(
                    "crawler {} finished {}: {}",
                    sfn.JsonPath.string_at("$.crawl.crawler.Name"),
                    sfn.JsonPath.string_at("$.crawl.crawler.LastCrawl.Status"),
                    sfn.JsonPath.json_to_string(
                        sfn.JsonPath.object_at("$.crawl.crawler.LastCrawl")
                    ),
                ),
            },
            result_path="$.error",
        ).next(notify)

        # The catalog is ready: carry on with only the run's config (drops the crawler polling).
        crawled = sfn.Pass(
            self,
            "CatalogReady",
            parameters={
                "config": sfn.JsonPath.object_at("$.config"),
                "ingest": sfn.JsonPath.object_at("$.ingest"),
            },
        )
        process = guard(
            tasks.GlueStartJobRun(
                self,
                "ProcessData",
                glue_job_name=glue_job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(
                    {  # glue/fraud_etl.py's arguments
                        "--transactions": sfn.JsonPath.string_at("$.ingest.transactions"),
                        "--identity": sfn.JsonPath.string_at("$.ingest.identity"),
                        "--output": sfn.JsonPath.string_at("$.config.processed"),
                        "--input-format": sfn.JsonPath.string_at("$.ingest.format"),
                    }
                ),
                result_selector={
                    "jobRunId": sfn.JsonPath.string_at("$.Id"),
                    "state": sfn.JsonPath.string_at("$.JobRunState"),
                },
                result_path="$.etl",
            ),
            "glue",
        )
        build_hp = invoke(
            "BuildHyperparameters",
            hyper,
            {"hyperparameters": sfn.JsonPath.object_at("$.config.hyperparameters")},
            "$.hyperparameters",
        )
        hyperparameters = {
            Hyperparameters.flag(name): sfn.JsonPath.string_at(f"$.hyperparameters.{alias}")
            for name, alias in Hyperparameters.aliases().items()
        }
        hyperparameters.update(
            {
                "sagemaker_program": SAGEMAKER_PROGRAM,
                "sagemaker_submit_directory": source.s3_object_url,
                "sagemaker_region": Aws.REGION,
                "sagemaker_container_log_level": "20",
            }
        )
        # The L2 tasks grant their roles `kms:GenerateDataKey*`/`kms:ReEncrypt*` on the key; they
        # get immutable references instead, and the roles hold the exact statements above.
        train = guard(
            tasks.SageMakerCreateTrainingJob(
                self,
                "TrainModel",
                training_job_name=sfn.JsonPath.string_at("$.config.training.jobName"),
                role=iam.Role.from_role_arn(
                    self, "TrainingRoleRef", self.training_role.role_arn, mutable=False
                ),
                algorithm_specification=tasks.AlgorithmSpecification(
                    training_image=tasks.DockerImage.from_registry(training_image),
                    training_input_mode=tasks.InputMode.FILE,
                    metric_definitions=[
                        tasks.MetricDefinition(name=m["Name"], regex=m["Regex"])
                        for m in metric_definitions()
                    ],
                ),
                input_data_config=[
                    tasks.Channel(
                        channel_name="train",
                        data_source=tasks.DataSource(
                            s3_data_source=tasks.S3DataSource(
                                s3_location=tasks.S3Location.from_json_expression(
                                    "$.config.processed"
                                ),
                                s3_data_type=tasks.S3DataType.S3_PREFIX,
                                s3_data_distribution_type=tasks.S3DataDistributionType.FULLY_REPLICATED,
                            )
                        ),
                    )
                ],
                output_data_config=tasks.OutputDataConfig(
                    s3_output_location=tasks.S3Location.from_json_expression(
                        "$.config.training.outputPath"
                    ),
                    encryption_key=key,
                ),
                resource_config=tasks.ResourceConfig(
                    instance_count=sfn.JsonPath.number_at("$.config.training.instanceCount"),
                    instance_type=ec2.InstanceType(
                        sfn.JsonPath.string_at("$.config.training.instanceType")
                    ),
                    volume_size=Size.gibibytes(50),
                    volume_encryption_key=key,
                ),
                stopping_condition=tasks.StoppingCondition(max_runtime=training_max_runtime),
                hyperparameters=hyperparameters,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                result_selector={
                    "jobName": sfn.JsonPath.string_at("$.TrainingJobName"),
                    "modelArtifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                },
                result_path="$.training",
            ),
            "sagemaker",
        )

        start_load = invoke(
            "StartGraphLoad",
            graph_load,
            {
                "action": "start",
                "source": sfn.JsonPath.string_at("$.config.graphLoad.source"),
                "format": sfn.JsonPath.string_at("$.config.graphLoad.format"),
            },
            "$.graphLoad",
        )
        wait_load = sfn.Wait(self, "WaitForGraphLoad", time=sfn.WaitTime.duration(WAIT_GRAPH_LOAD))
        load_status = invoke(
            "GetGraphLoadStatus",
            graph_load,
            {"action": "status", "loadId": sfn.JsonPath.string_at("$.graphLoad.loadId")},
            "$.graphLoad",
        )

        package_state = invoke(
            "PackageModel",
            package,
            {
                "modelUri": sfn.JsonPath.string_at("$.training.modelArtifacts"),
                "outputUri": sfn.JsonPath.string_at("$.config.model.packagedUri"),
            },
            "$.package",
        )
        create_model = guard(
            tasks.SageMakerCreateModel(
                self,
                "CreateModel",
                model_name=sfn.JsonPath.string_at("$.config.model.name"),
                role=iam.Role.from_role_arn(
                    self, "ModelRoleRef", self.model_role.role_arn, mutable=False
                ),
                primary_container=tasks.ContainerDefinition(
                    image=tasks.DockerImage.from_registry(inference_image),
                    mode=tasks.Mode.SINGLE_MODEL,
                    model_s3_location=tasks.S3Location.from_json_expression(
                        "$.package.modelDataUrl"
                    ),
                    environment_variables=sfn.TaskInput.from_object(
                        {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                            "SAGEMAKER_REGION": Aws.REGION,
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                        }
                    ),
                ),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        create_config = guard(
            tasks.SageMakerCreateEndpointConfig(
                self,
                "CreateEndpointConfig",
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                kms_key=key,
                production_variants=[
                    tasks.ProductionVariant(
                        model_name=sfn.JsonPath.string_at("$.config.model.name"),
                        variant_name="AllTraffic",
                        # the L2 validates a literal count (>= 1): a context setting, not an input
                        initial_instance_count=endpoint_instance_count,
                        instance_type=ec2.InstanceType(
                            sfn.JsonPath.string_at("$.config.endpoint.instanceType")
                        ),
                        initial_variant_weight=1,
                    )
                ],
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        check_endpoint = invoke(
            "CheckEndpoint",
            endpoint_status,
            {"endpointName": endpoint_name},
            "$.endpointStatus",
        )
        create_endpoint = guard(
            tasks.SageMakerCreateEndpoint(
                self,
                "CreateEndpoint",
                endpoint_name=endpoint_name,
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        update_endpoint = guard(
            tasks.SageMakerUpdateEndpoint(
                self,
                "UpdateEndpoint",
                endpoint_name=endpoint_name,
                endpoint_config_name=sfn.JsonPath.string_at("$.config.endpoint.configName"),
                result_path=sfn.JsonPath.DISCARD,
            ),
            "sagemaker",
        )
        wait_endpoint = sfn.Wait(self, "WaitForEndpoint", time=sfn.WaitTime.duration(WAIT_ENDPOINT))
        get_endpoint = invoke(
            "GetEndpointStatus",
            endpoint_status,
            {"endpointName": endpoint_name},
            "$.endpointStatus",
        )
        endpoint_failed = sfn.Pass(
            self,
            "EndpointFailed",
            parameters={
                "Error": "EndpointFailed",
                "Cause": sfn.JsonPath.format(
                    "endpoint {} is {}: {}",
                    endpoint_name,
                    sfn.JsonPath.string_at("$.endpointStatus.status"),
                    sfn.JsonPath.string_at("$.endpointStatus.failureReason"),
                ),
            },
            result_path="$.error",
        ).next(notify)
        # The scoring Lambda's featurizer spec and the endpoint's model are a pair: the model was
        # trained on vectors of exactly this run's spec (its width, statistics and vocabularies).
        # Published earlier (e.g. after ProcessData), the Lambda would send new-spec vectors to the
        # old model for the whole endpoint update, or for good if the run then failed. So it is
        # published only once the endpoint is InService with this run's config. (Still a window:
        # the seconds until this copy lands, and warm scoring containers that cached the old spec.)
        publish_featurizer = invoke(
            "PublishFeaturizer",
            package,
            {
                "action": "publishFeaturizer",
                # $.config.processed ends in '/' (normalize_input); the ETL writes the spec there
                "source": sfn.JsonPath.format(
                    "{}" + FEATURIZER_FILE, sfn.JsonPath.string_at("$.config.processed")
                ),
                "destination": f"s3://{processed_bucket.bucket_name}/{featurizer_key}",
            },
            "$.featurizer",
        )
        succeeded = sfn.Succeed(self, "PipelineSucceeded")

        # --- wiring ------------------------------------------------------------------------------
        (
            package_state.next(create_model)
            .next(create_config)
            .next(check_endpoint)
            .next(
                sfn.Choice(self, "EndpointExists")
                .when(
                    sfn.Condition.boolean_equals("$.endpointStatus.exists", True), update_endpoint
                )
                .otherwise(create_endpoint)
            )
        )
        create_endpoint.next(wait_endpoint)
        update_endpoint.next(wait_endpoint)
        wait_endpoint.next(get_endpoint).next(
            sfn.Choice(self, "EndpointInService")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals("$.endpointStatus.status", "InService"),
                    sfn.Condition.string_equals_json_path(
                        "$.endpointStatus.configName", "$.config.endpoint.configName"
                    ),
                ),
                publish_featurizer.next(succeeded),
            )
            .when(sfn.Condition.string_equals("$.endpointStatus.status", "Failed"), endpoint_failed)
            .otherwise(wait_endpoint)
        )
        start_load.next(wait_load).next(load_status).next(
            sfn.Choice(self, "GraphLoadDone")
            .when(sfn.Condition.boolean_equals("$.graphLoad.done", True), package_state)
            .otherwise(wait_load)
        )
        train.next(
            sfn.Choice(self, "LoadGraph")
            .when(sfn.Condition.boolean_equals("$.config.graphLoad.enabled", True), start_load)
            .otherwise(package_state)
        )
        start_crawler.next(wait_crawler)
        # Two Choices so LastCrawl.Status is only compared when it is present.
        wait_crawler.next(get_crawler).next(
            sfn.Choice(self, "CrawlerDone")
            .when(
                sfn.Condition.string_equals("$.crawl.crawler.State", "READY"),
                sfn.Choice(self, "CrawlSucceeded")
                .when(sfn.Condition.is_not_present("$.crawl.crawler.LastCrawl.Status"), crawled)
                .when(
                    sfn.Condition.string_equals("$.crawl.crawler.LastCrawl.Status", "FAILED"),
                    crawl_failed,
                )
                .otherwise(crawled),
            )
            .otherwise(wait_crawler)
        )
        crawled.next(process).next(build_hp).next(train)
        definition = normalize_state.next(ingest_state).next(start_crawler)

        self.log_group = encrypted_log_group(
            self,
            "Logs",
            key=key,
            retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            comment="Vigil fraud: raw data → Glue ETL → RGCN training → Neptune load → endpoint",
        )
        use_key(self.state_machine.role, key, write=True)  # publishes to the KMS-encrypted topic
        acknowledge_function_versions(
            self.state_machine.role, [fn.function for fn in self.functions.values()]
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant", "kms:DescribeKey"], resources=[key.key_arn]
            )
        )
        acknowledge(self.state_machine.role, *FRAUD_PIPELINE_ROLE)


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out
