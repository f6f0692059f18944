"""Metrics: values on known inputs, fractional truth, thresholds, report files, and that every
printed ``eval_<name> = <value>;`` line parses with the SageMaker metric regexes the CDK uses."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from vigil.toxicity.labels import METRIC_NAMES, metric_line, sagemaker_metric_definitions
from vigil.toxicity.metrics import (
    best_thresholds,
    compute_metrics,
    metric_lines,
    print_metrics,
    save_report,
)


def test_perfect_ranking_and_fractional_truth():
    targets = np.array([[0.9, 0.0], [0.6, 1.0], [0.2, 0.0], [0.4, 1.0]])  # truth: label >= 0.5
    probs = np.array([[0.8, 0.1], [0.7, 0.9], [0.1, 0.2], [0.3, 0.8]])
    metrics = compute_metrics(targets, probs)
    for avg in ("micro", "macro", "weighted"):
        assert metrics[f"roc_auc_{avg}"] == pytest.approx(1.0)
        assert metrics[f"ap_score_{avg}"] == pytest.approx(1.0)
        assert metrics[f"f1_{avg}"] == pytest.approx(1.0)
    assert metrics["accuracy"] == 1.0


def test_inverted_ranking_and_a_label_without_positives():
    targets = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=float)
    probs = np.array([[0.1, 0.5], [0.9, 0.5], [0.2, 0.5], [0.8, 0.5]])
    metrics = compute_metrics(targets, probs)
    assert metrics["roc_auc_macro"] == pytest.approx(0.0)  # only label 0 is defined
    assert metrics["accuracy"] == 0.0


def test_thresholds_maximise_f1_per_label():
    targets = np.array([[1], [1], [0], [0]], dtype=float)
    probs = np.array([[0.3], [0.35], [0.1], [0.2]])
    (t,) = best_thresholds(targets, probs)
    assert 0.2 < t <= 0.3
    assert compute_metrics(targets, probs, [t])["f1_micro"] == 1.0
    assert compute_metrics(targets, probs)["f1_micro"] == 0.0  # at 0.5 nothing is flagged


def test_every_metric_line_parses_with_the_sagemaker_regexes(capsys):
    rng = np.random.default_rng(0)
    targets = rng.random((50, 3))
    metrics = {"loss": 0.1234567, **compute_metrics(targets, rng.random((50, 3)))}
    print_metrics(metrics)
    printed = capsys.readouterr().out
    definitions = sagemaker_metric_definitions()
    assert {d["Name"] for d in definitions} == {f"eval:{n}" for n in METRIC_NAMES}
    assert set(metrics) == set(METRIC_NAMES)
    for d in definitions:
        found = re.findall(d["Regex"], printed)
        name = d["Name"].split(":", 1)[1]
        assert len(found) == 1, d
        assert float(found[0]) == pytest.approx(metrics[name], abs=1e-6)
    # f1_micro's regex must not pick up f1_macro's line and vice versa
    assert re.findall(definitions[2]["Regex"], metric_line("f1_macro", 0.5)) == []


def test_regexes_read_nan_and_exponents():
    regex = sagemaker_metric_definitions("test")[0]["Regex"]
    assert re.findall(regex, metric_line("loss", math.nan, "test")) == ["nan"]
    assert re.findall(regex, "test_loss = 1.5e-07;") == ["1.5e-07"]
    assert metric_lines({"loss": 2.0})[0] == "eval_loss = 2.000000;"


def test_report_writes_json_and_curves(tmp_path):
    rng = np.random.default_rng(1)
    targets = (rng.random((40, 2)) > 0.5).astype(float)
    probs = np.clip(targets * 0.6 + rng.random((40, 2)) * 0.4, 0, 1)
    metrics = compute_metrics(targets, probs)
    paths = save_report(tmp_path, ["toxic", "insult"], targets, probs, metrics)
    report = json.loads(paths["json"].read_text())
    assert report["metrics"]["roc_auc_macro"] == pytest.approx(metrics["roc_auc_macro"])
    assert set(report["per_label_roc_auc"]) == {"toxic", "insult"}
    for kind in ("roc", "pr"):
        assert paths[kind].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
