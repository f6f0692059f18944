"""The one loss both classifiers train with: MULTI_CLASS, MULTI_LABEL or REGRESSION, with
per-class weights, per-sample weights and fractional (soft) targets.

Reduction, the same in every mode: each sample's loss is reduced over classes first
(weighted by class), then samples are averaged weighted by their sample weight:
``sum_i s_i * l_i / sum_i s_i`` (plain mean when no sample weights are given).

- MULTI_CLASS: ``l_i = -sum_c w_c * t_ic * log softmax(z_i)_c``; targets are class indices
  ``[N]`` or a distribution ``[N, C]`` (fractional votes).
- MULTI_LABEL: ``l_i = mean_c w_c * BCE(sigmoid(z_ic), t_ic)``; targets in [0, 1].
- REGRESSION: ``l_i = mean_c w_c * (sigmoid(z_ic) - t_ic)^2``; the output stays a probability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vigil.toxicity.labels import LossMode


def toxicity_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mode: LossMode | str,
    *,
    class_weights: torch.Tensor | None = None,
    sample_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    mode = LossMode(mode)
    logits = logits.float()
    n, c = logits.shape
    weights = (
        torch.ones(c, dtype=logits.dtype, device=logits.device)
        if class_weights is None
        else torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)
    )
    if weights.shape != (c,):
        raise ValueError(f"class_weights has shape {tuple(weights.shape)}, expected ({c},)")
    if mode is LossMode.MULTI_CLASS:
        if targets.dim() == 1:
            targets = F.one_hot(targets.long(), c).to(logits.dtype)
        targets = targets.to(logits.dtype)
        per_sample = -(weights * targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    else:
        targets = targets.to(logits.dtype).reshape(n, c)
        if mode is LossMode.MULTI_LABEL:
            elementwise = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        else:
            elementwise = (torch.sigmoid(logits) - targets) ** 2
        per_sample = (elementwise * weights).mean(dim=-1)
    if sample_weights is None:
        return per_sample.mean()
    s = torch.as_tensor(sample_weights, dtype=logits.dtype, device=logits.device).reshape(n)
    return (per_sample * s).sum() / s.sum().clamp_min(torch.finfo(logits.dtype).tiny)


def probabilities(logits: torch.Tensor, mode: LossMode | str) -> torch.Tensor:
    """What a model serves: softmax for MULTI_CLASS, otherwise an independent sigmoid."""
    if LossMode(mode) is LossMode.MULTI_CLASS:
        return torch.softmax(logits.float(), dim=-1)
    return torch.sigmoid(logits.float())
