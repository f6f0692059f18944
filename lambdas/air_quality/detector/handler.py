"""Air-quality detector: a new Firehose object in S3 → score closed intervals → DynamoDB, SNS.

The same function runs on a schedule (an EventBridge rule, every interval): it closes quiet
anomaly episodes and raises silent-series alerts in every shard, even when no object arrives.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from vigil.air_quality.contract import DetectorSettings
from vigil.air_quality.service import DetectorService, service_from_environment
from vigil.lambda_handler import lambda_handler, powertools

logger, metrics, tracer = powertools()
# the variables the service is built from: a change (a test, a redeploy) builds it again
_ENV_KEYS = tuple(DetectorSettings.variable(name) for name in DetectorSettings.model_fields)
_services: dict[tuple, DetectorService] = {}


def _get_service() -> DetectorService:
    """One service per configuration, built on first use (warm invocations reuse it)."""
    key = tuple(os.environ.get(name) for name in (*_ENV_KEYS, "AWS_ENDPOINT_URL"))
    if key not in _services:
        _services.clear()
        _services[key] = service_from_environment(os.environ)
    return _services[key]


@lambda_handler(logger, metrics, tracer)
def handler(event: dict, context: LambdaContext) -> dict:
    service = _get_service()
    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        scheduled = EventBridgeModel.model_validate(event)
        result = service.check_schedule(scheduled.time)
        counts = result.counts()
        logger.info("scheduled check", extra=counts)
        for name, metric in (("silent", "SeriesSilent"), ("alerts_published", "AlertsPublished")):
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts[name])
        return counts
    totals: dict[str, int] = {}
    completeness: list[dict] = []
    by_reason: dict[str, int] = {}
    for record in S3Model.model_validate(event).Records:
        result = service.process_object(record.s3.bucket.name, record.s3.object.key)
        completeness += result.completeness
        for code, n in result.rejected_by_reason.items():
            by_reason[code] = by_reason.get(code, 0) + n
        counts = result.counts()
        logger.info(
            "processed object",
            extra={"source": result.source, "skipped": result.skipped, **counts},
        )
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value
    # data quality: counts per invocation, and completeness (series reporting / series that
    # normally report) per closed interval; dimensions stay {service}, so the cost does not grow
    # with the number of places
    reporting = sum(row["reporting"] for row in completeness)
    expected = sum(row["expected"] for row in completeness)
    if expected:
        metrics.add_metric(
            name="Completeness", unit=MetricUnit.Percent, value=100.0 * reporting / expected
        )
    for name, metric in (
        ("received", "RecordsReceived"),
        ("processed", "RecordsProcessed"),
        ("rejected", "RecordsRejected"),
        ("late", "RecordsLate"),
        ("duplicates", "RecordsDuplicate"),
        ("sentinels", "RecordsSentinel"),
        ("anomalies", "Anomalies"),
        ("alerts_published", "AlertsPublished"),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=totals.get(name, 0))
    # rejected records by reason: one metric per code of the contract's REJECT_REASONS (a fixed
    # list), with the service and reason dimensions
    for code, n in sorted(by_reason.items()):
        with single_metric(
            name="RecordsRejected",
            unit=MetricUnit.Count,
            value=n,
            namespace=metrics.namespace,
            default_dimensions={**metrics.default_dimensions, "reason": code},
        ) as metric:
            if metrics.service:
                metric.add_dimension(name="service", value=metrics.service)
    return {**totals, **{f"rejected_{code}": n for code, n in sorted(by_reason.items())}}
