"""The fraud models' hyperparameters: one definition for the training script's flags, the
pipeline's execution input and the state machine's SageMaker hyperparameter map.

Only pydantic (and the standard-library ``vigil.fraud.calibration`` header) is imported here, so both the helper Lambdas (no numpy, no torch) and the training
container (no Powertools) can import it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from vigil.fraud.calibration import RULE_PATTERN

MODEL_KINDS = ("rgcn", "graph-gbdt")
MODELS_PATTERN = r"^(rgcn|graph-gbdt)(,(rgcn|graph-gbdt))?$"


class Hyperparameters(BaseModel):
    """``training/fraud/train.py``'s flags (``--<kebab-case>``) and defaults; all overridable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    n_layers: int = Field(2, ge=1, le=8, description="number of RGCN layers")
    n_hidden: int = Field(32, ge=1, le=4096, description="hidden size of each RGCN layer")
    # embedding 16 and L2 5e-3: the best validation ROC-AUC of a sweep (embedding 8/16/32 x L2
    # 5e-4/5e-3, ID or feature-only entity inputs) on the 100k generated set; docs/fraud-training.md
    embedding_size: int = Field(16, ge=1, le=4096, description="learned entity embedding size")
    entity_input: str = Field(
        "id+features",
        pattern=r"^(id\+features|features)$",
        description="RGCN entity inputs: id+features (a learned ID embedding per entity, and its "
        "transactions' mean features in layer 1) or features (inductive: no ID embeddings)",
    )
    n_epochs: int = Field(60, ge=1, le=100_000, description="full-graph training epochs")
    lr: float = Field(0.01, gt=0, le=10, description="Adam learning rate")
    weight_decay: float = Field(5e-3, ge=0, le=1, description="L2 penalty")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout between layers")
    class_weight: str = Field("balanced", min_length=1, description="fraud class weight")
    patience: int = Field(10, ge=1, description="early-stopping epochs without improvement")
    batch_size: int = Field(0, ge=0, description="0: full-graph training; >0: mini-batches")
    fanout: int = Field(10, ge=1, description="neighbour sampling fanout (mini-batch mode)")
    seed: int = Field(0, ge=0, description="random seed")
    model: str = Field(
        "rgcn,graph-gbdt",
        pattern=MODELS_PATTERN,
        description="models to train, comma separated (rgcn, graph-gbdt); the best on "
        "validation is deployed",
    )
    selection_metric: str = Field(
        "roc_auc",
        pattern=r"^(roc_auc|average_precision)$",
        description="validation metric that picks the deployed model: roc_auc or "
        "average_precision (AUC-PR)",
    )
    threshold_rule: str = Field(
        "max_f1",
        pattern=RULE_PATTERN,
        description="operating threshold rule on validation: max_f1, precision:P (lowest "
        "threshold with precision >= P) or flagged_share:S (flags at most a share S)",
    )
    gbdt_max_iter: int = Field(300, ge=1, le=10_000, description="graph-gbdt boosting rounds")
    gbdt_learning_rate: float = Field(0.1, gt=0, le=1, description="graph-gbdt learning rate")
    gbdt_max_leaf_nodes: int = Field(31, ge=2, le=4096, description="graph-gbdt leaves per tree")
    gbdt_l2: float = Field(1.0, ge=0, description="graph-gbdt L2 regularisation of leaf values")
    gbdt_recency: str = Field(
        "on",
        pattern=r"^(on|off)$",
        description="graph-gbdt entity age columns (TransactionDT minus the entity's first "
        "TransactionDT, kept exactly by the graph): on or off",
    )
    gbdt_rgcn_embeddings: str = Field(
        "off",
        pattern=r"^(on|off)$",
        description="graph-gbdt: each entity's RGCN embedding as extra columns (the RGCN is "
        "trained first; its table travels with the GBDT): on or off",
    )
    baseline_iter: int = Field(
        200, ge=0, description="iterations of the non-graph baseline (0: skip)"
    )
    num_threads: int = Field(0, ge=0, description="torch threads (0: default)")

    @classmethod
    def flag(cls, field_name: str) -> str:
        """``n_hidden`` → ``n-hidden`` (SageMaker passes each as ``--n-hidden <value>``)."""
        return field_name.replace("_", "-")

    @classmethod
    def flags(cls) -> list[str]:
        return [cls.flag(name) for name in cls.model_fields]

    @classmethod
    def aliases(cls) -> dict[str, str]:
        """Field name → camelCase key (the key the state machine reads each value from)."""
        return {name: field.alias or name for name, field in cls.model_fields.items()}

    def as_strings(self) -> dict[str, str]:
        """SageMaker wants every hyperparameter as a string: camelCase key → string value.

        The state machine maps each key to its CLI flag (:meth:`flag`), so the training job is
        started with ``--n-hidden 16 --lr 0.01 ...``.
        """
        aliases = self.aliases()
        return {aliases[name]: _to_string(value) for name, value in self.model_dump().items()}


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
