"""The loss in every mode against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vigil.toxicity.labels import LossMode
from vigil.toxicity.losses import probabilities, toxicity_loss

LN2 = math.log(2)
SOFTPLUS2 = math.log1p(math.exp(2))


def loss(logits, targets, mode, **kw):
    return float(toxicity_loss(torch.tensor(logits), torch.tensor(targets), mode, **kw))


def test_multi_label_bce_with_a_fractional_target():
    # BCE(z=0, t=1) = ln 2; BCE(z=2, t=0.5) = softplus(2) - 0.5 * 2
    expected = (LN2 + (SOFTPLUS2 - 1.0)) / 2
    assert loss([[0.0, 2.0]], [[1.0, 0.5]], LossMode.MULTI_LABEL) == pytest.approx(expected)


def test_multi_label_class_weights_scale_each_label():
    expected = (2 * LN2 + 1 * (SOFTPLUS2 - 1.0)) / 2
    got = loss([[0.0, 2.0]], [[1.0, 0.5]], "MULTI_LABEL", class_weights=torch.tensor([2.0, 1.0]))
    assert got == pytest.approx(expected)


def test_multi_class_with_index_and_with_distribution_targets():
    logits = [[0.0, math.log(3)]]  # softmax = [0.25, 0.75]
    assert loss(logits, [1], LossMode.MULTI_CLASS) == pytest.approx(-math.log(0.75))
    soft = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert loss(logits, [[0.5, 0.5]], LossMode.MULTI_CLASS) == pytest.approx(soft)
    weighted = loss(logits, [1], LossMode.MULTI_CLASS, class_weights=torch.tensor([1.0, 2.0]))
    assert weighted == pytest.approx(-2 * math.log(0.75))


def test_regression_is_squared_error_of_the_probability():
    assert loss([[0.0]], [[0.25]], LossMode.REGRESSION) == pytest.approx(0.0625)


def test_sample_weights_make_a_weighted_mean():
    l1, l2 = LN2, SOFTPLUS2  # BCE(0, 1) and BCE(2, 0)
    got = loss(
        [[0.0], [2.0]],
        [[1.0], [0.0]],
        LossMode.MULTI_LABEL,
        sample_weights=torch.tensor([3.0, 1.0]),
    )
    assert got == pytest.approx((3 * l1 + l2) / 4)
    assert loss([[0.0], [2.0]], [[1.0], [0.0]], "MULTI_LABEL") == pytest.approx((l1 + l2) / 2)


@pytest.mark.parametrize("mode", ["MULTI_LABEL", "REGRESSION"])
def test_fractional_target_is_optimal_at_its_own_probability(mode):
    """With the fraction 0.7 the loss is minimal at p = 0.7; thresholded to 1 it pushes p up."""
    z = torch.tensor([[math.log(0.7 / 0.3)]], requires_grad=True)
    toxicity_loss(z, torch.tensor([[0.7]]), mode).backward()
    assert abs(float(z.grad)) < 1e-6
    z.grad = None
    toxicity_loss(z, torch.tensor([[1.0]]), mode).backward()
    assert float(z.grad) < -1e-3


def test_wrong_class_weight_shape_is_an_error():
    with pytest.raises(ValueError, match="class_weights"):
        loss([[0.0, 1.0]], [[1.0, 0.0]], "MULTI_LABEL", class_weights=torch.tensor([1.0]))


def test_served_probabilities_per_mode():
    logits = torch.tensor([[0.0, math.log(3)]])
    assert probabilities(logits, "MULTI_CLASS").tolist()[0] == pytest.approx([0.25, 0.75])
    assert probabilities(logits, "MULTI_LABEL").tolist()[0] == pytest.approx([0.5, 0.75])
