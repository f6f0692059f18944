"""What a toxicity model serves from its logits (``vigil.toxicity.losses.probabilities``)."""

from __future__ import annotations

import torch

from vigil.toxicity.losses import LossMode, probabilities


def test_multi_class_softmax_is_over_the_classes_of_one_example():
    logits = torch.tensor([2.0, 0.0, -1.0])  # one example's classes, no batch axis
    probs = probabilities(logits, LossMode.MULTI_CLASS)
    assert torch.allclose(probs.sum(), torch.tensor(1.0))
    assert torch.allclose(probs, torch.softmax(logits, dim=0))


def test_multi_class_softmax_is_per_example_in_a_batch():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    probs = probabilities(logits, LossMode.MULTI_CLASS)
    assert torch.allclose(probs.sum(dim=-1), torch.ones(3))


def test_multi_label_is_an_independent_sigmoid_in_float32():
    logits = torch.tensor([[0.0, 2.0]], dtype=torch.float16)
    probs = probabilities(logits, LossMode.MULTI_LABEL)
    assert probs.dtype == torch.float32
    assert torch.allclose(probs, torch.sigmoid(logits.float()))
