"""Fraud operations: alarms on scoring fallbacks, the scoring API's 5xx rate and p99 latency, the
scoring Lambda's errors, labels the label API could not store, and failed pipeline executions,
to the operations topic and dashboard."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.fraud.label_api import LabelApi
from cdk.fraud.scoring_api import ScoringApi
from cdk.fraud.training_pipeline import TrainingPipeline
from cdk.shared.alarms import ABOVE, PERIOD, Operations, powertools_metric

# Share of scoring requests answered with a 5xx over five minutes that pages someone.
SERVER_ERROR_RATE = 0.05
# Consecutive five-minute periods over the latency budget before paging: one slow burst (a cold
# start, a featurizer reload) is not an incident.
LATENCY_PERIODS = 3


class FraudOperations(Construct):
    """Exposes ``topic``, ``dashboard`` and ``alarms`` (by construct id)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        email: str | None,
        scoring: ScoringApi,
        pipeline: TrainingPipeline,
        latency_budget_ms: int,
        labels: LabelApi | None = None,
    ):
        super().__init__(scope, construct_id)
        ops = Operations(self, "Operations", key=key, system="fraud", email=email)
        self.topic, self.dashboard = ops.topic, ops.dashboard
        scorer = scoring.function
        machine = pipeline.state_machine
        self.alarms = {
            "ScoringFallback": ops.alarm(
                "ScoringFallback",
                # Every fallback answers with the configured policy instead of the model's score.
                metric=powertools_metric(scorer.service_name, "ScoringFallback"),
                threshold=1,
                description="Fraud scoring fell back (Neptune or the endpoint kept failing)",
            ),
            "ScoringApi5xx": ops.alarm(
                "ScoringApi5xx",
                # 5XXError is 0 or 1 per request, so its average is the 5xx rate.
                metric=scoring.api.metric_server_error(statistic="Average", period=PERIOD),
                threshold=SERVER_ERROR_RATE,
                comparison=ABOVE,
                description="Fraud scoring API 5xx rate above 5%",
            ),
            "ScoringErrors": ops.alarm(
                "ScoringErrors",
                metric=scorer.function.metric_errors(period=PERIOD),
                threshold=1,
                description="Fraud scoring Lambda errors",
            ),
            "ScoringLatencyP99": ops.alarm(
                "ScoringLatencyP99",
                metric=scoring.api.metric_latency(statistic="p99", period=PERIOD),
                threshold=latency_budget_ms,
                comparison=ABOVE,
                evaluation_periods=LATENCY_PERIODS,
                description=f"Fraud scoring API p99 latency above the {latency_budget_ms} ms budget",
            ),
            "PipelineFailed": ops.alarm(
                "PipelineFailed",
                # A timed-out execution is no ExecutionsFailed datapoint, but fails all the same.
                metric=cloudwatch.MathExpression(
                    expression="failed + timedOut",
                    using_metrics={
                        "failed": machine.metric_failed(period=PERIOD),
                        "timedOut": machine.metric_timed_out(period=PERIOD),
                    },
                    period=PERIOD,
                    label="Failed or timed-out pipeline executions",
                ),
                threshold=1,
                description="Fraud training pipeline execution failed or timed out",
            ),
        }
        if labels is not None:
            labeller = labels.function
            self.alarms["LabelsNotStored"] = ops.alarm(
                "LabelsNotStored",
                # a label answered 503 (S3 or Neptune kept failing) or 500: the sender must retry
                # it, and a graph write missing after the log write leaves the graph behind
                metric=cloudwatch.MathExpression(
                    expression="notStored + graphBehind + failed",
                    using_metrics={
                        "notStored": powertools_metric(labeller.service_name, "LabelNotStored"),
                        "graphBehind": powertools_metric(
                            labeller.service_name, "LabelLoggedGraphBehind"
                        ),
                        "failed": powertools_metric(labeller.service_name, "LabelError"),
                    },
                    period=PERIOD,
                    label="Label requests not stored in both the log and the graph",
                ),
                threshold=1,
                description="Fraud label API could not store labels (the senders must retry)",
            )
