"""`vigil:removalPolicy=destroy` deletes everything on `cdk destroy`, `retain` keeps data."""

from __future__ import annotations

import pytest

from cdk.app_builder import build_app
from local.standins.synth import new_app, synthesize

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def destroy_synth(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk.out.destroy")
    app = new_app(outdir, **{"vigil:removalPolicy": "destroy"})
    build_app(app)
    return synthesize(app, outdir)


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _auto_deleted_buckets(template: dict) -> set[str]:
    return {
        resource["Properties"]["BucketName"]["Ref"]
        for resource in _of_type(template, "Custom::S3AutoDeleteObjects").values()
    }


def test_destroy_empties_every_bucket_before_deleting_it(destroy_synth):
    templates = destroy_synth.templates()
    assert templates
    for name, template in templates.items():
        buckets = _of_type(template, "AWS::S3::Bucket")
        assert buckets, name
        assert {b["DeletionPolicy"] for b in buckets.values()} == {"Delete"}, name
        # A bucket holding objects cannot be deleted; the custom resource empties it first.
        assert _auto_deleted_buckets(template) == set(buckets), name


def test_destroy_is_clean_under_cdk_nag(destroy_synth):
    assert destroy_synth.findings() == []
    assert destroy_synth.error is None


def test_retain_keeps_bucket_objects(templates):
    for name, template in templates.items():
        assert _auto_deleted_buckets(template) == set(), name
        buckets = _of_type(template, "AWS::S3::Bucket")
        assert {b["DeletionPolicy"] for b in buckets.values()} == {"Retain"}, name


# Every resource that holds data; each follows vigil:removalPolicy.
DATA_TYPES = ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::KMS::Key")


@pytest.mark.parametrize("kind", DATA_TYPES)
def test_data_follows_the_removal_policy(kind, templates, destroy_synth):
    for expected, synthesized in (("Retain", templates), ("Delete", destroy_synth.templates())):
        policies = {
            (name, resource["DeletionPolicy"])
            for name, template in synthesized.items()
            for resource in _of_type(template, kind).values()
        }
        assert {policy for _, policy in policies} <= {expected}, policies
