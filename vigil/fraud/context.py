"""Target transactions' graph contexts as dense tensors: what both fraud models score in batch.

A serving context is, per entity type, a list of ``(index, neighbour_mean, degree, age)`` (see
``vigil.fraud.serving``; ``age`` in seconds, NaN when unknown, optional). When every type has at most one entity per target (IEEE-CIS: one card1,
one device, …), a batch of contexts becomes fixed-size tensors over ``[B, T]`` (T entity types
in model order), so a model scores the whole batch with a few tensor products instead of a
Python loop per target. Contexts with several entities of one type keep the per-target path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch


@dataclass
class DenseContexts:
    index: torch.Tensor  # int64 [B, T]: the entity's row in the model, -1 when unseen or absent
    mean: torch.Tensor  # float32 [B, T, D]: feat_sum / degree (meaningful where has_mean)
    has_mean: torch.Tensor  # bool [B, T]: False → a fresh entity (its only transaction: the target)
    degree: torch.Tensor  # float64 [B, T]: the entity's degree including the target (1 if fresh)
    present: torch.Tensor  # bool [B, T]: the target has an entity of this type
    age: torch.Tensor | None = None  # float64 [B, T]: seconds since first seen (NaN: unknown)

    def with_fresh(self, types: torch.Tensor) -> DenseContexts:
        """A copy in which the entity of each ``types`` (bool [T]) is fresh where present."""
        fresh = self.present & types.unsqueeze(0)
        return DenseContexts(
            index=torch.where(fresh, -1, self.index),
            mean=self.mean,
            has_mean=self.has_mean & ~fresh,
            degree=torch.where(fresh, 1.0, self.degree),
            present=self.present,
            age=None if self.age is None else torch.where(fresh, 0.0, self.age),
        )


def densify(
    contexts: Sequence[Mapping[str, Sequence[tuple]]], entity_types: Sequence[str], dim: int
) -> DenseContexts | None:
    """``contexts`` as :class:`DenseContexts`, or None when a type has several entities."""
    type_index = {t: i for i, t in enumerate(entity_types)}
    n, t = len(contexts), len(entity_types)
    index = torch.full((n, t), -1, dtype=torch.int64)
    mean = torch.zeros(n, t, dim)
    has_mean = torch.zeros(n, t, dtype=torch.bool)
    degree = torch.ones(n, t, dtype=torch.float64)
    present = torch.zeros(n, t, dtype=torch.bool)
    age = torch.full((n, t), float("nan"), dtype=torch.float64)
    for b, context in enumerate(contexts):
        for etype, entities in context.items():
            if not entities:
                continue
            if len(entities) > 1:
                return None
            k = type_index[etype]
            entity_index, entity_mean = entities[0][0], entities[0][1]
            present[b, k] = True
            if entity_index is not None:
                index[b, k] = entity_index
            if entity_mean is not None:
                mean[b, k] = entity_mean
                has_mean[b, k] = True
                degree[b, k] = float(entities[0][2]) if len(entities[0]) > 2 else 1.0
                age[b, k] = entities[0][3] if len(entities[0]) > 3 else float("nan")
            else:
                age[b, k] = 0.0  # a fresh entity: first seen with the target
    return DenseContexts(index, mean, has_mean, degree, present, age)
