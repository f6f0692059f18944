"""A warm scoring container follows a newly published featurizer spec: it checks the object (S3
ETag, or a file's mtime and size) once per refresh interval, reloads it when it changed, switches
the graph layout when the entity columns changed, and keeps scoring with the spec in hand when the
check fails."""

from __future__ import annotations

import os

import pytest

from vigil import aws
from vigil.fraud.features import CategoricalFeature, FeaturizerSpec, NumericFeature
from vigil.fraud.scoring import FeaturizerSource, Scorer, ScoringConfig

OLD = FeaturizerSpec(
    numeric=[NumericFeature("TransactionAmt", 4.0, 1.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C"])],
    entity_columns=["card1", "ProductCD"],
)
NEW = FeaturizerSpec(  # a retrain: other statistics, one more entity column
    numeric=[NumericFeature("TransactionAmt", 5.0, 2.0, log=True)],
    categorical=[CategoricalFeature("ProductCD", ["W", "C", "H"])],
    entity_columns=["card1", "ProductCD", "DeviceInfo"],
)
ROW = {"TransactionID": 1, "TransactionAmt": 100.0, "ProductCD": "H"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Metrics:
    def __init__(self):
        self.names: list[str] = []

    def add_metric(self, name, unit, value):
        self.names.append(name)


def publish(path, spec: FeaturizerSpec, mtime_ns: int) -> None:
    path.write_text(spec.to_json())
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_file_spec_is_reloaded_after_the_interval_only_when_it_changed(tmp_path):
    path = tmp_path / "featurizer.json"
    publish(path, OLD, 1_000_000_000)
    clock = Clock()
    source = FeaturizerSource(str(path), refresh_s=60, clock=clock)
    first = source.current()
    assert first.spec == OLD
    clock.now += 61
    assert source.current() is first and source.reloads == 0  # unchanged: nothing reloaded
    publish(path, NEW, 2_000_000_000)
    clock.now += 30
    assert source.current() is first  # within the interval: not even checked
    clock.now += 31
    metrics = Metrics()
    assert source.current(metrics).spec == NEW
    assert source.reloads == 1 and metrics.names == ["FeaturizerReloaded"]


def test_an_s3_spec_is_followed_by_its_etag_and_a_failed_check_keeps_the_spec(moto_server):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="processed")
    s3.put_object(Bucket="processed", Key="current/featurizer.json", Body=OLD.to_json())
    clock = Clock()
    source = FeaturizerSource("s3://processed/current/featurizer.json", 60, clock=clock)
    assert source.current().spec == OLD
    s3.put_object(Bucket="processed", Key="current/featurizer.json", Body=NEW.to_json())
    clock.now += 60
    assert source.current().spec == NEW and source.reloads == 1
    s3.delete_object(Bucket="processed", Key="current/featurizer.json")
    clock.now += 60
    metrics = Metrics()
    assert source.current(metrics).spec == NEW  # the check failed: the spec in hand stays
    assert metrics.names == ["FeaturizerCheckFailed"]


def test_the_scorer_switches_featurizer_and_graph_layout_with_the_published_spec(tmp_path):
    path = tmp_path / "featurizer.json"
    publish(path, OLD, 1_000_000_000)
    config = ScoringConfig(
        graph_endpoint="http://127.0.0.1:9",  # never called here
        endpoint_name="vigil-fraud-rgcn",
        featurizer_spec=str(path),
        featurizer_refresh_s=60,
    )
    scorer = Scorer(config)
    clock = Clock()
    scorer.featurizer_source.clock = clock
    scorer.featurizer_source.checked_at = clock.now
    assert scorer.graph.layout.columns == ["card1", "ProductCD"]
    old_features = scorer.featurizer.transform(ROW)
    publish(path, NEW, 2_000_000_000)
    clock.now += 61
    scorer._follow_published_spec()
    assert scorer.featurizer.spec == NEW
    assert scorer.graph.layout.columns == ["card1", "ProductCD", "DeviceInfo"]
    assert len(scorer.featurizer.transform(ROW)) == len(old_features) + 1  # ProductCD=H


def test_refresh_interval_comes_from_the_environment():
    env = {
        "GRAPH_ENDPOINT": "https://neptune:8182",
        "SCORING_ENDPOINT_NAME": "e",
        "FEATURIZER_SPEC": "s3://b/k",
    }
    assert ScoringConfig.from_environment(env).featurizer_refresh_s == 60
    refreshed = ScoringConfig.from_environment({**env, "FEATURIZER_REFRESH_S": "15"})
    assert refreshed.featurizer_refresh_s == pytest.approx(15)
