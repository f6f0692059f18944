"""The published featurizer spec, followed by a warm container as the pipeline republishes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from vigil import aws
from vigil.fraud.features import (
    Featurizer,
    FeaturizerSpec,
)

logger = Logger(child=True)


def _s3_object(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read_spec(location: str) -> tuple[str, str]:
    """(text, version) of the spec at a path or ``s3://`` URI; the version is the S3 ETag or
    the file's mtime and size."""
    if location.startswith("s3://"):
        bucket, key = _s3_object(location)
        response = aws.client("s3").get_object(Bucket=bucket, Key=key)
        return response["Body"].read().decode("utf-8"), response["ETag"]
    path = Path(location)
    stat = path.stat()
    return path.read_text(), f"{stat.st_mtime_ns}:{stat.st_size}"


def _spec_version(location: str) -> str:
    if location.startswith("s3://"):
        bucket, key = _s3_object(location)
        return aws.client("s3").head_object(Bucket=bucket, Key=key)["ETag"]
    stat = Path(location).stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


class FeaturizerSource:
    """The published featurizer spec, re-checked every ``refresh_s`` seconds.

    The training pipeline publishes a retrained run's spec to the same key once its model is
    InService (``pipeline.publish_featurizer``): the spec and the served model are a pair. A warm
    container that kept the spec it started with would send old-spec vectors to the new model
    for the rest of its life, so the source asks whether the object changed — one ``HeadObject``
    (its ETag) per interval, or the file's mtime and size locally — and reloads it when it did.
    A failed check or reload keeps the spec in hand (logged, counted) and tries again next
    interval: a scoring request never fails for it.
    """

    def __init__(
        self,
        location: str,
        refresh_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.location = location
        self.refresh_s = refresh_s
        self.clock = clock
        text, self.version = _read_spec(location)
        self.featurizer = Featurizer(FeaturizerSpec.from_json(text))
        self.checked_at = clock()
        self.reloads = 0

    def current(self, metrics=None) -> Featurizer:
        """The featurizer of the published spec (reloaded when it changed since the last check)."""
        now = self.clock()
        if now - self.checked_at < self.refresh_s:
            return self.featurizer
        self.checked_at = now
        try:
            if _spec_version(self.location) != self.version:
                text, version = _read_spec(self.location)
                self.featurizer = Featurizer(FeaturizerSpec.from_json(text))
                self.version = version
                self.reloads += 1
                logger.info(
                    "featurizer spec reloaded",
                    extra={"location": self.location, "version": version},
                )
                if metrics is not None:
                    metrics.add_metric(name="FeaturizerReloaded", unit=MetricUnit.Count, value=1)
        except Exception as error:  # keep scoring with the spec in hand
            logger.warning(
                "featurizer spec check failed; keeping the current spec",
                extra={"location": self.location, "error": str(error)[:300]},
            )
            if metrics is not None:
                metrics.add_metric(name="FeaturizerCheckFailed", unit=MetricUnit.Count, value=1)
        return self.featurizer
