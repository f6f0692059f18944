"""The transformer toxicity classifier: a RoBERTa-architecture (or any Hugging Face encoder)
sequence classifier trained with ``toxicity_loss`` through the HF ``Trainer`` conventions.

Offline, ``train_bpe_tokenizer`` trains a byte-level BPE tokenizer on the corpus and
``roberta_from_config`` builds a model from a config; in the cloud ``model-name`` is a Hugging
Face id (``roberta-base``) or a local path (an unpacked checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from vigil.toxicity.labels import LossMode, metric_lines_with_aliases
from vigil.toxicity.losses import probabilities, toxicity_loss
from vigil.toxicity.normalize import NONE, TextNormalizer, normalize_texts

META_FILE = "vigil_toxicity.json"  # labels, loss mode, thresholds, max length
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def train_bpe_tokenizer(texts: Iterable[str], folder: str | Path, *, vocab_size: int = 4000):
    """A byte-level BPE tokenizer trained on ``texts``, saved to ``folder`` and loaded back as a
    ``RobertaTokenizerFast`` (transformers 5.x takes ``vocab=``/``merges=``, not file names)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS
    )
    bpe.save_model(str(folder))
    vocab = json.loads((folder / "vocab.json").read_text())
    merges = [
        tuple(line.split(" "))
        for line in (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#version")
    ]
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def roberta_from_config(
    tokenizer,
    labels: list[str],
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    max_length: int = 128,
):
    """A small randomly initialised ``RobertaForSequenceClassification`` for the tokenizer."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_length + 4,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    return RobertaForSequenceClassification(config)


def pretrained_classifier(model_name: str, labels: list[str], *, pooling: str = "cls"):
    """A sequence classifier from a hub id or local path (new head for ``labels``): the
    architecture's own (``[CLS]``) head, or ``pooling="mean"`` for ``MeanPooledClassifier``."""
    from transformers import AutoModelForSequenceClassification

    if pooling == "mean":
        return MeanPooledClassifier.from_pretrained(model_name, labels)

    return AutoModelForSequenceClassification.from_pretrained(
        model_name,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )


POOLINGS = ("cls", "mean")
POOLED_HEAD_FILE = "pooled_head.pt"


class MeanPooledClassifier(torch.nn.Module):
    """An encoder (``AutoModel``) whose token states are averaged over the attention mask, then
    dropout and one linear layer per label. Sentence encoders (MiniLM from sentence-transformers)
    were trained to summarise a text by this mean, so a head on it learns from few examples;
    the ``[CLS]`` pooler of ``AutoModelForSequenceClassification`` has to be re-learned first.

    Saved as the encoder's own ``save_pretrained`` folder plus ``POOLED_HEAD_FILE``."""

    def __init__(self, encoder, num_labels: int, *, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.config.num_labels = num_labels
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(self.config.hidden_size, num_labels)

    @property
    def base_model(self):
        return self.encoder

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def forward(self, input_ids, attention_mask, token_type_ids=None, **kwargs):
        from transformers.modeling_outputs import SequenceClassifierOutput

        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        states = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, **extra
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))

    def save_pretrained(self, folder: str | Path, **kwargs) -> None:
        self.encoder.save_pretrained(str(folder), **kwargs)
        torch.save(self.classifier.state_dict(), Path(folder) / POOLED_HEAD_FILE)

    @classmethod
    def from_pretrained(cls, folder: str | Path, labels: list[str] | None = None):
        """From a saved classifier folder, or (with ``labels``) a new head on an encoder."""
        from transformers import AutoModel

        try:  # BERT and RoBERTa build a [CLS] pooler this head never reads
            encoder = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
        except TypeError:  # architectures without one
            encoder = AutoModel.from_pretrained(str(folder))
        head = Path(folder) / POOLED_HEAD_FILE
        if labels is None:
            model = cls(encoder, encoder.config.num_labels)
            # Weights only: a state dict needs no pickled code, so a tampered file cannot run any.
            state = torch.load(head, map_location="cpu", weights_only=True)
            model.classifier.load_state_dict(state)
            return model
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {label: i for i, label in enumerate(labels)}
        return cls(encoder, len(labels))


def freeze_lower_layers(model, layers: int) -> None:
    """Keep the token embeddings and the lowest ``layers`` encoder layers fixed: gradients then
    stop below the first trained layer, so a CPU step costs a forward pass plus the backward pass
    of the upper layers only (BERT and RoBERTa keep their layers in ``encoder.layer``)."""
    for parameter in model.get_input_embeddings().parameters():
        parameter.requires_grad = False
    if layers <= 0:
        return
    encoder_layers = model.base_model.encoder.layer
    if layers > len(encoder_layers):
        raise ValueError(f"cannot freeze {layers} of {len(encoder_layers)} encoder layers")
    for parameter in model.base_model.embeddings.parameters():
        parameter.requires_grad = False
    for layer in encoder_layers[:layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False


class TextDataset(torch.utils.data.Dataset):
    """Tokenized (normalised) texts with float targets and sample weights, for the ``Trainer``."""

    def __init__(
        self,
        tokenizer,
        texts,
        targets,
        sample_weights=None,
        *,
        max_length: int,
        normalizer: str | TextNormalizer = NONE,
    ):
        self.encodings = tokenizer(
            normalize_texts(list(texts), normalizer), truncation=True, max_length=max_length
        )
        self.targets = np.asarray(targets, dtype=np.float32)
        n = len(self.targets)
        self.weights = np.asarray(
            sample_weights if sample_weights is not None else np.ones(n), dtype=np.float32
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> dict:
        return {
            "input_ids": self.encodings["input_ids"][i],
            "attention_mask": self.encodings["attention_mask"][i],
            "labels": self.targets[i],
            "sample_weight": self.weights[i],
        }


class Collator:
    """Pads token ids per batch (dynamic padding); stacks targets and sample weights."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        batch = self.tokenizer.pad(
            [{k: f[k] for k in ("input_ids", "attention_mask")} for f in features],
            return_tensors="pt",
        )
        batch["labels"] = torch.tensor(np.stack([f["labels"] for f in features]))
        batch["sample_weight"] = torch.tensor([f["sample_weight"] for f in features])
        return batch


def make_trainer_class():
    """``ToxicityTrainer``: the HF ``Trainer`` with ``toxicity_loss`` (imported lazily)."""
    from transformers import Trainer

    class ToxicityTrainer(Trainer):
        def __init__(self, *args, loss_mode: str, class_weights=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_mode = LossMode(loss_mode)
            self.class_weights = (
                None if class_weights is None else torch.tensor(class_weights, dtype=torch.float)
            )

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            targets = inputs.pop("labels")
            sample_weights = inputs.pop("sample_weight", None)
            outputs = model(**inputs)
            loss = toxicity_loss(
                outputs.logits,
                targets,
                self.loss_mode,
                class_weights=self.class_weights,
                sample_weights=sample_weights,
            )
            return (loss, outputs) if return_outputs else loss

    return ToxicityTrainer


def metric_lines_callback():
    """A ``TrainerCallback`` printing ``eval_<name> = <value>;`` after every evaluation (and the
    recipe's names of the same metrics)."""
    from transformers import TrainerCallback

    class MetricLines(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            for key, value in (metrics or {}).items():
                if key.startswith("eval_") and isinstance(value, int | float):
                    for line in metric_lines_with_aliases(key[len("eval_") :], float(value)):
                        print(line, flush=True)

    return MetricLines()


def save_meta(folder: str | Path, **meta) -> None:
    (Path(folder) / META_FILE).write_text(json.dumps(meta, indent=2))


# How the served model computes on CPU, fastest first:
# "onnx-int8": the classifier exported to an ONNX graph whose attention, GELU and layer norms ONNX
#   Runtime's transformer optimizer fuses, every MatMul dynamically quantized to int8 (weights per
#   output channel, activations per call), run by ONNX Runtime (ONNX_FILE beside the weights);
# "int8": PyTorch with the encoder's feed-forward layers dynamically quantized (attention and head
#   float);
# "fp32": the trained weights as they are.
# A model's metadata names one ("serving_precision", chosen at training by
# choose_serving_precision); a model without that entry is served "onnx-int8" when its folder
# holds the graph, else "int8".
SERVING_PRECISIONS = ("onnx-int8", "int8", "fp32")
SERVING_PRECISION = "onnx-int8"
ONNX_FILE = "model_int8.onnx"
ONNX_OPSET = 17


def is_feed_forward(name: str) -> bool:
    """The two linear layers of a BERT/RoBERTa layer's feed-forward block (``intermediate.dense``
    and the block's ``output.dense``, not the attention's ``attention.output.dense``)."""
    return name.endswith(".intermediate.dense") or (
        name.endswith(".output.dense") and ".attention." not in name
    )


def quantize_for_cpu(model):
    """The model with the feed-forward ``nn.Linear`` layers of its encoder replaced by
    dynamically quantized int8 ones (per-channel weight scales). They hold two thirds of the
    encoder's multiply-adds; the attention projections are where PyTorch's int8 costs quality
    (on the demo model: all linear layers int8 lost 0.008 of test mean ROC-AUC, the feed-forward
    ones alone none), so they stay float, as does the head."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and is_feed_forward(name)
    }
    normalizer = getattr(model, "text_normalizer", None)
    quantized = quantize_dynamic(model, spec, dtype=torch.qint8, inplace=False)
    if normalizer is not None:
        quantized.text_normalizer = normalizer
    return quantized.eval()


class _Logits(torch.nn.Module):
    """``(input_ids, attention_mask) -> logits``: the signature the ONNX graph is traced with."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx_int8(model, folder: str | Path) -> Path:
    """Writes ``folder/ONNX_FILE``: the classifier (either head) traced to an ONNX graph with
    dynamic batch and length, its attention, GELU and layer norms fused by ONNX Runtime's
    transformer optimizer, then every MatMul dynamically quantized to int8 with per-channel
    weight scales. Attention is traced in its eager form, the one the optimizer recognises."""
    import copy
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    traced = copy.deepcopy(model).eval()
    traced.base_model.set_attn_implementation("eager")
    config = traced.config
    length = 8
    input_ids = torch.arange(length, dtype=torch.long).unsqueeze(0) % config.vocab_size
    attention_mask = torch.ones_like(input_ids)
    target = Path(folder) / ONNX_FILE
    with tempfile.TemporaryDirectory(prefix="vigil-onnx-") as work:
        raw, fused = Path(work) / "raw.onnx", Path(work) / "fused.onnx"
        dynamic = {0: "batch", 1: "tokens"}
        torch.onnx.export(
            _Logits(traced),
            (input_ids, attention_mask),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "logits": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
        ).save_model_to_file(str(fused))
        quantize_dynamic(
            str(fused),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # fused operators hide the MatMuls' output types from shape inference
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return target


class OnnxClassifier:
    """An exported classifier (``ONNX_FILE``) run by ONNX Runtime behind the call ``predict``
    makes of a PyTorch model: ``model(input_ids=..., attention_mask=...).logits``. ONNX Runtime
    fixes its thread count when a session starts, so there is a session per
    ``torch.get_num_threads()``: the one thread setting serving and the benchmarks turn."""

    def __init__(self, path: str | Path, config):
        self.path = str(path)
        self.config = config
        self._sessions: dict[int, object] = {}
        self._session()  # load now, not on the first request

    def eval(self):
        return self

    def _session(self):
        threads = torch.get_num_threads()
        if threads not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # idle pool threads sleep instead of spinning: the cores are shared with the other
            # serving workers (and, in bulk, the reader), and a spinning thread takes theirs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[threads] = onnxruntime.InferenceSession(
                self.path, options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]

    def __call__(self, input_ids, attention_mask, **kwargs):
        from transformers.modeling_outputs import SequenceClassifierOutput

        feed = {
            "input_ids": np.asarray(input_ids, dtype=np.int64),
            "attention_mask": np.asarray(attention_mask, dtype=np.int64),
        }
        (logits,) = self._session().run(["logits"], feed)
        return SequenceClassifierOutput(logits=torch.from_numpy(logits))


def serving_form(model, folder: str | Path, precision: str):
    """The trained ``model`` (loaded from ``folder``) as it computes at ``precision``."""
    if precision not in SERVING_PRECISIONS:
        raise ValueError(f"serving precision {precision!r} is not one of {SERVING_PRECISIONS}")
    if precision == "onnx-int8":
        path = Path(folder) / ONNX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: export it with export_onnx_int8")
        return OnnxClassifier(path, model.config)
    if precision == "int8":
        return quantize_for_cpu(model)
    return model


# The most mean ROC-AUC the served precision may give up against the trained weights.
SERVING_AUC_TOLERANCE = 0.003


def choose_serving_precision(
    model,
    tokenizer,
    texts: list[str],
    targets,
    *,
    folder: str | Path,
    full_precision_probs=None,
    tolerance: float = SERVING_AUC_TOLERANCE,
    **predict_kwargs,
) -> dict:
    """Which precision to serve, by measurement on held-out ``texts``: the fastest of
    ``SERVING_PRECISIONS`` whose mean ROC-AUC is within ``tolerance`` of the trained weights'
    (``folder`` holds the exported graph), else "fp32" (a model whose margins are too thin for
    int8 keeps its quality and loses only speed)."""
    from vigil.toxicity.metrics import compute_metrics

    if full_precision_probs is None:
        full_precision_probs = predict(model, tokenizer, texts, **predict_kwargs)
    full = compute_metrics(targets, full_precision_probs)["roc_auc_macro"]
    check = {"serving_precision": "fp32", "valid_mean_auc_fp32": full, "tolerance": tolerance}
    for precision in SERVING_PRECISIONS[:-1]:
        if precision == "onnx-int8" and not (Path(folder) / ONNX_FILE).is_file():
            continue
        probs = predict(serving_form(model, folder, precision), tokenizer, texts, **predict_kwargs)
        check[f"valid_mean_auc_{precision}"] = compute_metrics(targets, probs)["roc_auc_macro"]
        if full - check[f"valid_mean_auc_{precision}"] <= tolerance:  # NaN compares False
            check["serving_precision"] = precision
            break
    return check


def load_classifier(folder: str | Path, *, precision: str | None = None):
    """(model, tokenizer, meta) from a folder written by the transformer training script, the
    model ready to serve at ``precision`` (default: the metadata's ``serving_precision``, else
    "onnx-int8" when the folder holds the graph, else "int8"; ``meta["serving_precision"]``
    says which was applied). Whatever the form, ``predict`` runs it the same way."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text())
    default = SERVING_PRECISION if (folder / ONNX_FILE).is_file() else "int8"
    precision = precision or meta.get("serving_precision") or default
    if precision not in SERVING_PRECISIONS:
        raise ValueError(f"serving precision {precision!r} is not one of {SERVING_PRECISIONS}")
    if meta.get("pooling", "cls") == "mean":
        model = MeanPooledClassifier.from_pretrained(folder)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = serving_form(model.eval(), folder, precision)
    # the rules named by meta["normalizer"], plus the lexicon saved beside the model
    model.text_normalizer = TextNormalizer.of_model(folder, meta.get("normalizer", NONE))
    meta["serving_precision"] = precision
    return model, tokenizer, meta


# A long text's first max_length tokens lie in its first few hundred words: normalising and
# tokenising all of a 5,000-character message cost more than the model does on its first tokens.
# So a text longer than HEAD_CHARS_PER_TOKEN characters per token is first encoded from its
# head (cut at a space), which stands for the whole text only when it still holds
# HEAD_SPARE_TOKENS tokens beyond max_length (what the normaliser joins or repairs across the
# cut lands in those spare tokens); a head that does not is thrown away for the whole text.
HEAD_CHARS_PER_TOKEN = 12
HEAD_SPARE_TOKENS = 16


def encode(
    tokenizer, texts: list[str], *, normalizer: str | TextNormalizer, max_length: int
) -> list[list[int]]:
    """Token ids of ``texts`` as the model reads them: normalised, tokenised, truncated to
    ``max_length`` (the same ids as normalising and tokenising each whole text)."""
    limit = max_length * HEAD_CHARS_PER_TOKEN
    heads = [t if len(t) <= limit else t[: (t.rfind(" ", 0, limit) + 1) or limit] for t in texts]
    normalized = normalize_texts(heads, normalizer)
    encoded = tokenizer(normalized, truncation=True, max_length=max_length)["input_ids"]
    for i, (text, head) in enumerate(zip(texts, heads, strict=True)):
        if len(head) == len(text):
            continue
        spare = tokenizer(normalized[i], truncation=True, max_length=max_length + HEAD_SPARE_TOKENS)
        if len(spare["input_ids"]) < max_length + HEAD_SPARE_TOKENS:  # too short a head
            whole = normalize_texts([text], normalizer)
            encoded[i] = tokenizer(whole, truncation=True, max_length=max_length)["input_ids"][0]
    return encoded


@torch.inference_mode()
def predict(
    model,
    tokenizer,
    texts: list[str],
    *,
    loss_mode: str,
    max_length: int,
    normalizer: str | TextNormalizer = NONE,
    batch_size: int = 64,
):
    """Probabilities ``[len(texts), labels]`` in input order; ``normalizer`` is the one the
    model trained with (``model.text_normalizer`` after :func:`load_classifier`). Texts are
    batched in order of token length, so a batch pads to a length close to each of its texts
    instead of to the longest text of the request."""
    model.eval()
    if not texts:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    encoded = encode(tokenizer, texts, normalizer=normalizer, max_length=max_length)
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        out[rows] = probabilities(logits, loss_mode).numpy()
    return out
