"""The fraud RGCN — its one definition, used by training, offline scoring and serving.

Follows DGL's ``examples/pytorch/rgcn-hetero``: each :class:`RelGraphConvLayer` has a weight per
relation applied to ``GraphConv(norm="right", weight=False)`` (the mean over that relation's
neighbours), a self-loop weight (one per node type, since transaction features and entity
embeddings differ in size), a bias, an activation and dropout; relations are summed per node
type. Entity nodes have learnable embeddings; transaction nodes take their feature vectors.

Unseen entities. An entity that touches no labelled training transaction never receives a
gradient, so its embedding would stay random noise. Such entities (``known`` is False) and any
entity value the model has never seen use the per-type mean of the known embeddings — offline
and online alike.

Exact online scoring (:meth:`FraudRGCN.score_targets`). With two layers, a transaction's logit
depends on its own features ``x_t``, the input of each of its entities ``e`` (embedding) and
``e``'s layer-1 output, which depends on ``e``'s neighbours only through the MEAN of their
feature vectors (``feat_sum / degree``). So serving needs no neighbourhood scan, and gives the
same result as the layer-wise full-graph :meth:`FraudRGCN.inference` (to float rounding).

DGL is imported only by the graph paths; serving (``score_targets``) needs torch alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vigil.fraud.context import DenseContexts, densify
from vigil.fraud.schema import TRANSACTION_NTYPE, forward_relation, reverse_relation

MODEL_FILE = "model.pt"
CONFIG_FILE = "model_config.json"
ENTITY_KEYS_FILE = "entity_keys.json"


@dataclass
class RGCNConfig:
    in_dim: int
    entity_counts: dict[str, int]
    n_hidden: int = 32
    n_layers: int = 2
    embedding_size: int = 32
    dropout: float = 0.2
    self_loop: bool = True

    @property
    def entity_types(self) -> list[str]:
        return list(self.entity_counts)

    @property
    def relations(self) -> list[tuple[str, str, str]]:
        out = []
        for etype in self.entity_types:
            out.append((TRANSACTION_NTYPE, forward_relation(etype), etype))
            out.append((etype, reverse_relation(etype), TRANSACTION_NTYPE))
        return out

    def to_dict(self) -> dict:
        return asdict(self)


class RelGraphConvLayer(nn.Module):
    """One relational graph convolution over a heterograph (or a sampled block)."""

    def __init__(
        self,
        in_dims: Mapping[str, int],
        out_dim: int,
        relations: Sequence[tuple[str, str, str]],
        *,
        activation=None,
        self_loop: bool = True,
        dropout: float = 0.0,
        bias: bool = True,
    ):
        super().__init__()
        self.relations = [tuple(r) for r in relations]
        self.out_dim = out_dim
        self.activation = activation
        self.self_loop = self_loop
        self.weight = nn.ParameterDict(
            {
                rel: nn.Parameter(torch.empty(in_dims[src], out_dim))
                for src, rel, _ in self.relations
            }
        )
        for param in self.weight.values():
            nn.init.xavier_uniform_(param, gain=nn.init.calculate_gain("relu"))
        self.loop_weight = nn.ParameterDict()
        if self_loop:
            for ntype, dim in in_dims.items():
                self.loop_weight[ntype] = nn.Parameter(torch.empty(dim, out_dim))
                nn.init.xavier_uniform_(
                    self.loop_weight[ntype], gain=nn.init.calculate_gain("relu")
                )
        self.h_bias = nn.Parameter(torch.zeros(out_dim)) if bias else None
        self.dropout = nn.Dropout(dropout)
        self._convs: dict = {}

    # -- the arithmetic shared by the graph and the single-target paths ------------------------------
    def message(self, relation: str, mean_input: torch.Tensor) -> torch.Tensor:
        """``W_r · mean`` for relation ``relation`` (``mean_input`` is the neighbour mean)."""
        return mean_input @ self.weight[relation]

    def finish(
        self, ntype: str, h_self: torch.Tensor, messages: torch.Tensor | None
    ) -> torch.Tensor:
        """``act(Σ_r messages + self-loop + bias)`` then dropout."""
        h = messages if messages is not None else h_self.new_zeros(h_self.shape[0], self.out_dim)
        if self.self_loop:
            h = h + h_self @ self.loop_weight[ntype]
        if self.h_bias is not None:
            h = h + self.h_bias
        if self.activation is not None:
            h = self.activation(h)
        return self.dropout(h)

    # -- graph path -----------------------------------------------------------------------------------
    def _conv(self):
        if "conv" not in self._convs:  # no parameters: kept out of the state dict
            from dgl.nn import GraphConv

            from vigil.dgl_compat import dgl  # noqa: F401  (the shim before dgl.nn)

            self._convs["conv"] = GraphConv(
                1, 1, norm="right", weight=False, bias=False, allow_zero_in_degree=True
            )
        return self._convs["conv"]

    def forward(self, graph, inputs: Mapping[str, torch.Tensor], dst_types=None):
        """``inputs`` per source node type; returns outputs per destination node type.

        Works on a full heterograph and on a DGL block (destination nodes are the first
        ``num_dst_nodes`` source nodes). ``dst_types`` limits which node types are computed.
        """
        conv = self._conv()
        is_block = getattr(graph, "is_block", False)
        sums: dict[str, torch.Tensor] = {}
        for src, rel, dst in self.relations:
            if dst_types is not None and dst not in dst_types:
                continue
            if src not in inputs or rel not in graph.etypes:
                continue
            rel_graph = graph[src, rel, dst]
            if rel_graph.num_edges() == 0:
                continue
            h_src = inputs[src]
            n_src, n_dst = rel_graph.num_src_nodes(), rel_graph.num_dst_nodes()
            dummy = h_src.new_zeros(n_dst, 1)
            if n_src < n_dst:  # mean is linear: multiply on the smaller side
                out = conv(rel_graph, (self.message(rel, h_src), dummy))
            else:
                out = self.message(rel, conv(rel_graph, (h_src, dummy)))
            sums[dst] = sums[dst] + out if dst in sums else out
        outputs = {}
        for ntype in graph.dsttypes if is_block else graph.ntypes:
            if (dst_types is not None and ntype not in dst_types) or ntype not in inputs:
                continue
            n_dst = graph.num_dst_nodes(ntype) if is_block else graph.num_nodes(ntype)
            outputs[ntype] = self.finish(ntype, inputs[ntype][:n_dst], sums.get(ntype))
        return outputs


class FraudRGCN(nn.Module):
    """RGCN over transactions and entities; one fraud logit per transaction."""

    kind = "rgcn"

    def __init__(self, config: RGCNConfig):
        super().__init__()
        if config.n_layers < 1:
            raise ValueError("n_layers must be at least 1")
        self.config = config
        self.embeddings = nn.ParameterDict()
        for etype, count in config.entity_counts.items():
            emb = nn.Parameter(torch.empty(count, config.embedding_size))
            nn.init.xavier_uniform_(emb)
            self.embeddings[etype] = emb
            self.register_buffer(f"known_{etype}", torch.ones(count, dtype=torch.bool))
        in_dims = {TRANSACTION_NTYPE: config.in_dim}
        in_dims.update({etype: config.embedding_size for etype in config.entity_types})
        self.layers = nn.ModuleList()
        for i in range(config.n_layers):
            last = i == config.n_layers - 1
            self.layers.append(
                RelGraphConvLayer(
                    in_dims if i == 0 else {n: config.n_hidden for n in in_dims},
                    1 if last else config.n_hidden,
                    config.relations,
                    activation=None if last else torch.relu,
                    self_loop=config.self_loop,
                    dropout=0.0 if last else config.dropout,
                )
            )

    @property
    def in_dim(self) -> int:
        return self.config.in_dim

    @property
    def entity_types(self) -> list[str]:
        return self.config.entity_types

    # -- entity inputs ----------------------------------------------------------------------------------
    def known(self, etype: str) -> torch.Tensor:
        return getattr(self, f"known_{etype}")

    def set_known(self, known: Mapping[str, Sequence[bool]]) -> None:
        for etype, flags in known.items():
            self.known(etype).copy_(torch.as_tensor(flags, dtype=torch.bool))

    def mean_embedding(self, etype: str) -> torch.Tensor:
        emb, known = self.embeddings[etype], self.known(etype)
        if bool(known.any()):
            return emb[known].mean(dim=0)
        return emb.new_zeros(emb.shape[1])

    def entity_input(self, etype: str, index: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of entities ``index`` (all when None), unknown ones as the type mean."""
        emb, known = self.embeddings[etype], self.known(etype)
        if index is not None:
            emb, known = emb[index], known[index]
        return torch.where(known.unsqueeze(1), emb, self.mean_embedding(etype).unsqueeze(0))

    # -- graph paths ------------------------------------------------------------------------------------
    def forward(self, graph, features: torch.Tensor) -> torch.Tensor:
        """Full-graph forward: a logit for every transaction node."""
        h = {TRANSACTION_NTYPE: features}
        h.update({etype: self.entity_input(etype) for etype in self.config.entity_types})
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            h = layer(graph, h, dst_types={TRANSACTION_NTYPE} if last else None)
        return h[TRANSACTION_NTYPE].squeeze(-1)

    def forward_blocks(self, blocks, features: torch.Tensor) -> torch.Tensor:
        """Mini-batch forward on sampled blocks; ``features`` are the input transactions' rows."""
        first = blocks[0]
        h = {TRANSACTION_NTYPE: features}
        for etype in self.config.entity_types:
            if etype in first.srctypes and first.num_src_nodes(etype) > 0:
                h[etype] = self.entity_input(etype, first.srcnodes[etype].data["_ID"])
            elif etype in first.srctypes:
                h[etype] = self.embeddings[etype].new_zeros(0, self.config.embedding_size)
        for i, (layer, block) in enumerate(zip(self.layers, blocks, strict=True)):
            last = i == len(self.layers) - 1
            h = layer(block, h, dst_types={TRANSACTION_NTYPE} if last else None)
        return h[TRANSACTION_NTYPE].squeeze(-1)

    @torch.no_grad()
    def inference(self, graph, features: torch.Tensor) -> torch.Tensor:
        """Layer-wise full-graph inference (eval mode): every transaction's fraud probability."""
        return torch.sigmoid(self.inference_logits(graph, features))

    @torch.no_grad()
    def inference_logits(self, graph, features: torch.Tensor) -> torch.Tensor:
        """Layer-wise full-graph inference (eval mode): every transaction's fraud logit."""
        was_training = self.training
        self.eval()
        try:
            h = {TRANSACTION_NTYPE: features}
            h.update({etype: self.entity_input(etype) for etype in self.config.entity_types})
            for i, layer in enumerate(self.layers):  # one layer at a time, all nodes
                last = i == len(self.layers) - 1
                h = layer(graph, h, dst_types={TRANSACTION_NTYPE} if last else None)
            return h[TRANSACTION_NTYPE].squeeze(-1)
        finally:
            self.train(was_training)

    # -- single-target path (serving) -----------------------------------------------------------------
    def score_targets(self, features: torch.Tensor, contexts) -> torch.Tensor:
        """Fraud probabilities of target transactions (see :meth:`logits`)."""
        return torch.sigmoid(self.logits(features, contexts))

    @torch.inference_mode()  # serving only: no autograd bookkeeping at all
    def logits(
        self,
        features: torch.Tensor,
        contexts: Sequence[Mapping[str, Sequence[tuple]]],
    ) -> torch.Tensor:
        """Fraud logits of target transactions from their graph context alone.

        ``features``: ``[B, D]`` target feature vectors. ``contexts[b][etype]``: the target's
        entities of that type (usually one), each ``(index, neighbour_mean[, degree])`` where ``index`` is
        the entity's row in the model (``None``: unseen → mean embedding) and
        ``neighbour_mean`` is ``feat_sum / degree`` over all of the entity's transactions
        (``None``: the entity is new, its only transaction is the target). Needs ≤ 2 layers.
        """
        if self.config.n_layers > 2:
            raise ValueError(
                f"single-target scoring supports 1 or 2 layers, the model has {self.config.n_layers}"
            )
        if features.dim() != 2 or features.shape[1] != self.config.in_dim:
            raise ValueError(
                f"features must be [B, {self.config.in_dim}], got {list(features.shape)}"
            )
        if self.training:
            self.eval()
        dense = densify(contexts, self.config.entity_types, self.config.in_dim)
        if dense is not None:
            return self.dense_logits(features, dense)
        weights = self._serving_weights()
        type_index = weights["type_index"]
        n_types = len(type_index)
        two_layers = len(self.layers) == 2
        logits = []
        for b, context in enumerate(contexts):
            x_t = features[b]
            types, embs, means = [], [], []
            for etype, entities in context.items():
                if not entities:
                    continue
                t = type_index[etype]
                table, fallback = weights["embeddings"][t], weights["mean_embeddings"][t]
                for index, mean, *_ in entities:
                    known = index is not None and bool(weights["known"][t][index])
                    types.append(t)
                    embs.append(table[index] if known else fallback)
                    means.append(x_t if mean is None else mean.to(x_t.dtype))
            # the target's own layer-1 state: self-loop + bias (+ its entities' messages below)
            h1_t = x_t @ weights["loop1_txn"] + weights["bias1"]
            if types:
                idx = torch.tensor(types)
                emb = torch.stack(embs)
                counts = torch.zeros(n_types).index_add_(0, idx, torch.ones(len(types)))
                present = counts > 0
                # layer-1 messages into the target: W_rev(t) · mean of its type-t entities
                emb_mean = torch.zeros(n_types, emb.shape[1]).index_add_(0, idx, emb)
                emb_mean = emb_mean[present] / counts[present].unsqueeze(1)
                h1_t = h1_t + torch.einsum("te,teh->h", emb_mean, weights["rev1"][present])
                if two_layers:
                    # each entity's layer-1 state from its neighbour mean and its own embedding
                    h1_e = (
                        torch.einsum("nd,ndh->nh", torch.stack(means), weights["fwd1"][idx])
                        + torch.einsum("ne,neh->nh", emb, weights["loop1_ent"][idx])
                        + weights["bias1"]
                    )
                    h1_e = weights["act1"](h1_e)
                    h_mean = torch.zeros(n_types, h1_e.shape[1]).index_add_(0, idx, h1_e)
                    h_mean = h_mean[present] / counts[present].unsqueeze(1)
                    messages_2 = torch.einsum("th,tho->o", h_mean, weights["rev2"][present])
            if two_layers:
                h1_t = weights["act1"](h1_t)
                out = h1_t @ weights["loop2_txn"] + weights["bias2"]
                if types:
                    out = out + messages_2
            else:
                out = weights["act1"](h1_t)
            logits.append(out.reshape(1))
        return torch.cat(logits) if logits else features.new_zeros(0)

    @torch.inference_mode()
    def dense_logits(self, features: torch.Tensor, dense: DenseContexts) -> torch.Tensor:
        """:meth:`logits` for targets with at most one entity per type, the whole batch at once
        (the same arithmetic as the per-target path, as tensor products over ``[B, T]``)."""
        if self.training:
            self.eval()
        weights = self._serving_weights()
        inputs = []
        for k in range(len(self.config.entity_types)):
            table, known = weights["embeddings"][k], weights["known"][k]
            index = dense.index[:, k]
            safe = index.clamp(min=0)
            use = (index >= 0) & known[safe]
            fallback = weights["mean_embeddings"][k].unsqueeze(0)
            inputs.append(torch.where(use.unsqueeze(1), table[safe], fallback))
        x = features.float()
        present = dense.present.to(x.dtype).unsqueeze(-1)
        if not inputs:
            emb = x.new_zeros(x.shape[0], 0, self.config.embedding_size)
        else:
            emb = torch.stack(inputs, dim=1)  # [B, T, E]
        h1_t = x @ weights["loop1_txn"] + weights["bias1"]
        h1_t = h1_t + torch.einsum("bte,teh->bh", emb * present, weights["rev1"])
        if len(self.layers) == 1:
            return weights["act1"](h1_t).squeeze(-1)
        means = torch.where(dense.has_mean.unsqueeze(-1), dense.mean, x.unsqueeze(1))
        h1_e = weights["act1"](
            torch.einsum("btd,tdh->bth", means, weights["fwd1"])
            + torch.einsum("bte,teh->bth", emb, weights["loop1_ent"])
            + weights["bias1"]
        )
        messages = torch.einsum("bth,tho->bo", h1_e * present, weights["rev2"])
        out = weights["act1"](h1_t) @ weights["loop2_txn"] + weights["bias2"] + messages
        return out.squeeze(-1)

    def _serving_weights(self) -> dict:
        """The layers' weights stacked per entity type for :meth:`score_targets` (one batched
        product per layer instead of a dozen small ones), rebuilt when any parameter changed."""
        version = tuple(t._version for t in (*self.parameters(), *self.buffers()))
        cached = getattr(self, "_serving_cache", None)
        if cached is not None and cached["version"] == version:
            return cached
        types = self.config.entity_types
        first = self.layers[0]

        def stacked(layer, relation) -> torch.Tensor:
            return torch.stack([layer.weight[relation(t)].detach() for t in types])

        def loop(layer, ntype: str, rows: int) -> torch.Tensor:
            if layer.self_loop:
                return layer.loop_weight[ntype].detach()
            return torch.zeros(rows, layer.out_dim)

        def bias(layer) -> torch.Tensor:
            return torch.zeros(layer.out_dim) if layer.h_bias is None else layer.h_bias.detach()

        weights = {
            "version": version,
            "type_index": {t: i for i, t in enumerate(types)},
            "embeddings": [self.embeddings[t].detach() for t in types],
            "mean_embeddings": [self.mean_embedding(t).detach() for t in types],
            "known": [self.known(t) for t in types],
            "rev1": stacked(first, reverse_relation),
            "fwd1": stacked(first, forward_relation),
            "loop1_ent": torch.stack([loop(first, t, self.config.embedding_size) for t in types]),
            "loop1_txn": loop(first, TRANSACTION_NTYPE, self.config.in_dim),
            "bias1": bias(first),
            "act1": first.activation or (lambda h: h),
        }
        if len(self.layers) == 2:
            second = self.layers[1]
            weights.update(
                rev2=stacked(second, reverse_relation),
                loop2_txn=loop(second, TRANSACTION_NTYPE, self.config.n_hidden),
                bias2=bias(second),
            )
        self._serving_cache = weights
        return weights

    def _embedding_row(self, etype: str, index: int | None) -> torch.Tensor:
        if index is None or not bool(self.known(etype)[index]):
            return self.mean_embedding(etype)
        return self.embeddings[etype][index]


# --- artifacts -------------------------------------------------------------------------------------------
ENTITY_LABELS_FILE = "entity_labels.json"


@dataclass
class FraudModelBundle:
    """A trained model (the RGCN or the graph-feature GBDT) with what serving needs around it.

    ``calibration`` maps the model's logit to ``pred_prob`` (``vigil.fraud.calibration``),
    ``threshold`` is the operating threshold chosen on validation (None: the scoring Lambda's
    own), ``entity_labels[etype][index]`` is ``[labelled, frauds]``: the entity's labelled
    training transactions and how many were fraud (what an explanation reports).
    """

    model: Any  # FraudRGCN | GraphGBDT: in_dim, entity_types, logits(features, contexts)
    entity_keys: dict[str, list[str]]
    featurizer: dict | None = None
    metadata: dict = field(default_factory=dict)
    calibration: dict | None = None
    threshold: float | None = None
    entity_labels: dict[str, list[list[int]]] | None = None

    def __post_init__(self):
        self.key_index = {
            etype: {key: i for i, key in enumerate(keys)}
            for etype, keys in self.entity_keys.items()
        }

    @property
    def kind(self) -> str:
        return self.model.kind

    def index_of(self, etype: str, key: str | None) -> int | None:
        if key is None:
            return None
        return self.key_index.get(etype, {}).get(key)

    def save(self, model_dir: str | Path) -> None:
        out = Path(model_dir)
        out.mkdir(parents=True, exist_ok=True)
        config = {
            "kind": self.kind,
            self.kind: self.model.config.to_dict(),
            "calibration": self.calibration,
            "threshold": self.threshold,
            **self.metadata,
        }
        if self.kind == "rgcn":
            torch.save(self.model.state_dict(), out / MODEL_FILE)
        else:
            self.model.save(out)
        (out / CONFIG_FILE).write_text(json.dumps(config, indent=1))
        (out / ENTITY_KEYS_FILE).write_text(json.dumps(self.entity_keys))
        if self.entity_labels is not None:
            (out / ENTITY_LABELS_FILE).write_text(json.dumps(self.entity_labels))
        if self.featurizer is not None:
            from vigil.fraud.schema import FEATURIZER_FILE

            (out / FEATURIZER_FILE).write_text(json.dumps(self.featurizer, indent=1))

    @classmethod
    def load(cls, model_dir: str | Path) -> FraudModelBundle:
        from vigil.fraud.schema import FEATURIZER_FILE

        src = Path(model_dir)
        config = json.loads((src / CONFIG_FILE).read_text())
        kind = config.pop("kind", "rgcn")
        if kind == "rgcn":
            model = FraudRGCN(RGCNConfig(**config.pop("rgcn")))
            state = torch.load(src / MODEL_FILE, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            model.eval()
        elif kind == "graph-gbdt":
            from vigil.fraud.graph_gbdt import GraphGBDT

            model = GraphGBDT.load(src, config.pop(kind))
        else:
            raise ValueError(f"unknown fraud model kind {kind!r} in {src / CONFIG_FILE}")
        keys = json.loads((src / ENTITY_KEYS_FILE).read_text())
        spec_path = src / FEATURIZER_FILE
        featurizer = json.loads(spec_path.read_text()) if spec_path.exists() else None
        labels_path = src / ENTITY_LABELS_FILE
        entity_labels = json.loads(labels_path.read_text()) if labels_path.exists() else None
        return cls(
            model=model,
            entity_keys=keys,
            featurizer=featurizer,
            calibration=config.pop("calibration", None),
            threshold=config.pop("threshold", None),
            entity_labels=entity_labels,
            metadata=config,
        )
