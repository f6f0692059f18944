"""What every state of the fraud pipeline shares: throttling retries, the failure path (SNS
notification → ``PipelineFailed``) and the guarded Lambda invoke.

Every phase creates its states in the pipeline's own scope, so state names and logical ids do not
depend on which module builds them.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from cdk.shared.function import PythonFunction

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


class PipelineStates:
    """The failure path in ``scope`` (``topic``, ``notify``) and helpers that guard each task."""

    def __init__(self, scope: Construct, *, key: kms.IKey):
        self.scope = scope
        self.topic = sns.Topic(
            scope,
            "FailureTopic",
            display_name="Vigil fraud pipeline failures",
            master_key=key,
            enforce_ssl=True,
        )
        # One error name for the execution; the cause keeps the failed task's error and cause.
        failed = sfn.Fail(
            scope,
            "PipelineFailed",
            error="FraudPipelineFailed",
            cause_path=sfn.JsonPath.format(
                "{}: {}",
                sfn.JsonPath.string_at("$.error.Error"),
                sfn.JsonPath.string_at("$.error.Cause"),
            ),
        )
        self.notify = tasks.SnsPublish(
            scope,
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
        self.notify.add_retry(
            errors=THROTTLING["sns"],
            interval=Duration.seconds(2),
            max_attempts=5,
            backoff_rate=2,
        )
        self.notify.add_catch(failed, errors=["States.ALL"], result_path="$.notifyError")
        self.notify.next(failed)

    def guard(self, task, service: str):
        """Retry ``service``'s throttling errors; anything else goes to ``NotifyFailure``."""
        task.add_retry(
            errors=THROTTLING[service],
            interval=Duration.seconds(5),
            max_attempts=4,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_catch(self.notify, errors=["States.ALL"], result_path="$.error")
        return task

    def invoke(self, name: str, fn: PythonFunction, payload: dict, result_path: str):
        """A guarded ``LambdaInvoke`` of one helper Lambda (its timeout + 30 s)."""
        return self.guard(
            tasks.LambdaInvoke(
                self.scope,
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

    def failed_with(self, name: str, error: str, cause: str) -> sfn.Chain:
        """A Pass that records ``{Error, Cause}`` under ``$.error`` and notifies."""
        return sfn.Pass(
            self.scope,
            name,
            parameters={"Error": error, "Cause": cause},
            result_path="$.error",
        ).next(self.notify)
