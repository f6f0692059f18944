"""SageMaker training entry point (script mode): the transformer toxicity classifier.

``--model-name`` is a Hugging Face id (``roberta-base``, in the cloud) or a local path to a
checkpoint; with ``--train-tokenizer`` (and no ``--model-name``) a byte-level BPE tokenizer is
trained on the corpus and a small RoBERTa is built from a config (fully offline). The custom loss
(``--loss-mode`` MULTI_CLASS / MULTI_LABEL / REGRESSION, ``--class-weight``, per-sample weights,
fractional targets) runs inside the Hugging Face ``Trainer``, with its conventions: a checkpoint
per epoch (resumed when present, e.g. SageMaker's ``/opt/ml/checkpoints``), the best checkpoint
by ``--metric-for-best-model`` loaded at the end, ``--save-total-limit`` checkpoints kept.

    python training/toxicity/transformer/train.py --train data/train --valid data/valid \
        --test data/test --model-dir model --train-tokenizer --epochs 2
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (SageMaker): make `vigil` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np
import torch

from vigil.toxicity.data import load_channel
from vigil.toxicity.labels import LossMode
from vigil.toxicity.losses import probabilities
from vigil.toxicity.metrics import compute_metrics
from vigil.toxicity.training import (
    add_flag,
    add_sagemaker_args,
    add_serving_code,
    augmented,
    finish,
    greater_is_better,
    load_channels,
    resolve_class_weights,
    text_normalizer,
)
from vigil.toxicity.transformer import (
    META_FILE,
    POOLINGS,
    SERVING_AUC_TOLERANCE,
    Collator,
    TextDataset,
    choose_serving_precision,
    export_onnx_int8,
    freeze_lower_layers,
    load_classifier,
    make_trainer_class,
    metric_lines_callback,
    predict,
    pretrained_classifier,
    roberta_from_config,
    save_meta,
    train_bpe_tokenizer,
)

# this entry point's own inference.py: the model directory it writes deploys with it
INFERENCE_ENTRY = (
    Path(__file__).resolve().parents[3] / "inference" / "toxicity" / "transformer" / "inference.py"
)
SAGEMAKER_CHECKPOINTS = "/opt/ml/checkpoints"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the transformer toxicity classifier")
    parser.add_argument("--model-name", default="", help="Hugging Face id or local path")
    add_flag(parser, "--train-tokenizer", "BPE tokenizer + model from a config (offline)")
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-hidden-layers", type=int, default=2)
    parser.add_argument("--num-attention-heads", type=int, default=2)
    add_flag(parser, "--freeze-embeddings", "keep the token embeddings fixed (faster on CPU)")
    parser.add_argument(
        "--freeze-layers",
        type=int,
        default=0,
        help="also keep the embeddings and the lowest N encoder layers fixed (faster on CPU)",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="cls",
        help="classification head on the [CLS] token (the architecture's own) or on the "
        "mean of the token states (how sentence encoders such as MiniLM were trained)",
    )
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    parser.add_argument("--train-batch-size", type=int, default=16)
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--save-total-limit", type=int, default=2)
    parser.add_argument("--eval-steps", type=int, default=0, help="0: evaluate every epoch")
    parser.add_argument(
        "--checkpoint-dir",
        default=SAGEMAKER_CHECKPOINTS if os.path.isdir(SAGEMAKER_CHECKPOINTS) else "",
        help="where checkpoints go (and are resumed from); default: <output-data-dir>/checkpoints",
    )
    parser.add_argument(
        "--distill-from",
        default="",
        help="a trained transformer directory (the teacher): its full-precision probabilities "
        "replace the training targets, and the student starts from its weights",
    )
    parser.add_argument(
        "--student-layers",
        default="",
        help="with --distill-from: the teacher's encoder layers the student keeps, e.g. 0,2,5 "
        "(default: all)",
    )
    parser.add_argument(
        "--distill-student",
        type=int,
        default=0,
        help="after training, distil a student of N encoder layers (evenly spaced, the first "
        "and last kept) from the trained model over the same rows, and serve it when its served "
        "valid mean ROC-AUC is within SERVING_AUC_TOLERANCE of the trained model's full "
        "precision (0: no student). The trained model stays in <output-data-dir>/teacher",
    )
    parser.add_argument(
        "--student-epochs",
        type=float,
        default=0,
        help="with --distill-student: its epochs (0: three times --epochs; a student starts "
        "from a pruned network and learns from soft targets, which takes longer)",
    )
    parser.add_argument(
        "--student-learning-rate",
        type=float,
        default=0,
        help="with --distill-student: its learning rate (0: twice --learning-rate)",
    )
    add_sagemaker_args(parser)
    args = parser.parse_args(argv)
    if args.distill_from:
        args.model_name = args.distill_from
    if not args.model_name and not args.train_tokenizer:
        parser.error("give --model-name (hub id or path), --distill-from or --train-tokenizer")
    if args.student_layers and not args.distill_from:
        parser.error("--student-layers needs --distill-from")
    if args.distill_student and (args.distill_from or args.student_layers):
        parser.error("--distill-student trains its own teacher: not with --distill-from")
    return args


def distill(args, data) -> None:
    """The teacher's (``--distill-from``) full-precision probabilities as the training targets
    (identity sentences included) and class weights from them, so the student learns the
    teacher's ranking over the same rows, soft labels carrying more than thresholded ones."""
    teacher, tokenizer, meta = load_classifier(args.distill_from, precision="fp32")
    data.train.targets = predict(
        teacher,
        tokenizer,
        data.train.texts,
        loss_mode=meta["loss_mode"],
        max_length=meta["max_length"],
        normalizer=teacher.text_normalizer,
    )
    _, channel_meta = load_channel(args.train)
    data.class_weights = resolve_class_weights(
        args.class_weight, channel_meta, len(data.labels), data.train.targets
    )


def keep_encoder_layers(model, layers: list[int]) -> None:
    """The student: only the teacher's encoder ``layers`` (in order), the rest dropped."""
    encoder = model.base_model.encoder
    if not layers or max(layers) >= len(encoder.layer) or min(layers) < 0:
        raise SystemExit(f"--student-layers {layers} is not a subset of {len(encoder.layer)}")
    encoder.layer = torch.nn.ModuleList(encoder.layer[i] for i in layers)
    model.base_model.config.num_hidden_layers = len(layers)


def length_grouping(training_arguments) -> dict:
    """Batches of similar length: ``train_sampling_strategy`` in transformers 5, the
    ``group_by_length`` flag in 4.x (the Hugging Face training DLC)."""
    fields = inspect.signature(training_arguments).parameters
    if "train_sampling_strategy" in fields:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def student_layers(layers: int, kept: int) -> list[int]:
    """``kept`` of a teacher's ``layers`` encoder layers, evenly spaced, the first and the
    last among them (the last is the one fine-tuning changed most): 6 -> 3 keeps 0, 2, 5."""
    if not 1 <= kept < layers:
        raise SystemExit(f"--distill-student {kept} must be between 1 and {layers - 1}")
    if kept == 1:
        return [layers - 1]
    return sorted({round(i * (layers - 1) / (kept - 1)) for i in range(kept)})


TEACHER_FOLDER = "teacher"
STUDENT_FOLDER = "student"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not args.distill_student:
        return train(args)
    return train_and_distill(args)


def train_and_distill(args: argparse.Namespace) -> dict:
    """The model as asked (into ``<output-data-dir>/teacher``), then a student distilled from
    it with the same recipe; ``--model-dir`` gets the student when its served form keeps the
    teacher's full-precision valid mean ROC-AUC within ``SERVING_AUC_TOLERANCE``, else the
    teacher. The choice and both figures go into the served model's metadata (``distillation``)."""
    import json
    import shutil

    output = Path(args.output_data_dir)
    teacher_dir = output / TEACHER_FOLDER
    teacher = train(argparse.Namespace(**{**vars(args), "model_dir": str(teacher_dir)}))
    teacher_meta = json.loads((teacher_dir / META_FILE).read_text())
    layers = json.loads((teacher_dir / "config.json").read_text())["num_hidden_layers"]
    kept = student_layers(layers, args.distill_student)
    checkpoints = Path(args.checkpoint_dir or output / "checkpoints") / STUDENT_FOLDER
    student_dir = output / STUDENT_FOLDER / "model"
    student = train(
        argparse.Namespace(
            **{
                **vars(args),
                "model_dir": str(student_dir),
                "output_data_dir": str(output / STUDENT_FOLDER),
                "checkpoint_dir": str(checkpoints),
                "model_name": str(teacher_dir),
                "distill_from": str(teacher_dir),
                "student_layers": ",".join(map(str, kept)),
                "epochs": args.student_epochs or 3 * args.epochs,
                "learning_rate": args.student_learning_rate or 2 * args.learning_rate,
                "train_tokenizer": False,
                "pooling": teacher_meta.get("pooling", "cls"),
                # the student trains every encoder layer it keeps; fixed embeddings as the
                # teacher had them
                "freeze_layers": 0,
                "freeze_embeddings": bool(args.freeze_embeddings or args.freeze_layers),
            }
        )
    )
    full = teacher["serving_precision"]["valid_mean_auc_fp32"]
    check = student["serving_precision"]
    served_auc = check.get(f"valid_mean_auc_{check['serving_precision']}", float("nan"))
    chosen = "student" if full - served_auc <= SERVING_AUC_TOLERANCE else "teacher"
    decision = {
        "served": chosen,
        "student_layers": kept,
        "teacher_layers": layers,
        "teacher_valid_mean_auc_fp32": full,
        "student_valid_mean_auc_served": served_auc,
        "student_serving_precision": check["serving_precision"],
        "tolerance": SERVING_AUC_TOLERANCE,
    }
    print(f"distillation: {decision}", flush=True)
    model_dir = Path(args.model_dir)
    shutil.copytree(
        student_dir if chosen == "student" else teacher_dir, model_dir, dirs_exist_ok=True
    )
    meta = json.loads((model_dir / META_FILE).read_text())
    save_meta(model_dir, **meta, distillation=decision)
    return {**(student if chosen == "student" else teacher), "distillation": decision}


def train(args: argparse.Namespace) -> dict:
    from transformers import AutoTokenizer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    set_seed(args.seed)
    data = load_channels(args)
    if args.distill_from:
        distill(args, data)
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    normalizer = text_normalizer(args, data.train.texts)
    if args.train_tokenizer and not args.model_name:
        tokenizer = train_bpe_tokenizer(
            data.train.texts, Path(args.output_data_dir) / "tokenizer", vocab_size=args.vocab_size
        )
        model = roberta_from_config(
            tokenizer,
            data.labels,
            hidden_size=args.hidden_size,
            num_layers=args.num_hidden_layers,
            num_heads=args.num_attention_heads,
            max_length=args.max_length,
        )
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.model_name)
        model = pretrained_classifier(args.model_name, data.labels, pooling=args.pooling)
    if args.student_layers:
        keep_encoder_layers(model, [int(i) for i in args.student_layers.split(",")])
    if args.freeze_embeddings or args.freeze_layers:
        freeze_lower_layers(model, args.freeze_layers)
    datasets = {
        name: TextDataset(
            tokenizer,
            split.texts,
            split.targets,
            split.sample_weights,
            max_length=args.max_length,
            normalizer=normalizer,
        )
        for name, split in (("train", data.train), ("valid", data.valid))
    }
    if args.augment_obfuscation > 0:  # a fixed obfuscated share (one tokenization)
        datasets["train"] = TextDataset(
            tokenizer,
            augmented(data.train.texts, args.augment_obfuscation, args.seed),
            data.train.targets,
            data.train.sample_weights,
            max_length=args.max_length,
            normalizer=normalizer,
        )

    def metrics_of(eval_pred) -> dict[str, float]:
        logits, targets = eval_pred.predictions, eval_pred.label_ids
        import torch

        probs = probabilities(torch.as_tensor(logits), args.loss_mode).numpy()
        return compute_metrics(np.asarray(targets), probs)

    checkpoints = Path(args.checkpoint_dir or Path(args.output_data_dir) / "checkpoints")
    strategy = "steps" if args.eval_steps else "epoch"
    training_args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.train_batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,  # transformers 5: a float < 1 is a ratio of all steps
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=args.eval_steps or None,
        save_steps=args.eval_steps or 500,
        logging_steps=50,
        load_best_model_at_end=True,
        metric_for_best_model=args.metric_for_best_model,
        greater_is_better=greater_is_better(args.metric_for_best_model),
        save_total_limit=args.save_total_limit,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
        seed=args.seed,
        **length_grouping(TrainingArguments),  # similar lengths: far less padding
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=False,
    )
    trainer = make_trainer_class()(
        model=model,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["valid"],
        data_collator=Collator(tokenizer),
        compute_metrics=metrics_of,
        callbacks=[metric_lines_callback()],
        loss_mode=LossMode(args.loss_mode),
        class_weights=data.class_weights,
    )
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        print(f"resuming from checkpoint {last}", flush=True)
    trainer.train(resume_from_checkpoint=last)
    model = trainer.model
    kwargs = {
        "loss_mode": args.loss_mode,
        "max_length": args.max_length,
        "normalizer": normalizer,
    }
    valid_probs = predict(model, tokenizer, data.valid.texts, **kwargs)
    test_probs = predict(model, tokenizer, data.test.texts, **kwargs) if data.test else None
    thresholds, final = finish(
        labels=data.labels,
        valid_targets=data.valid.targets,
        valid_probs=valid_probs,
        test_targets=data.test.targets if data.test else None,
        test_probs=test_probs,
        output_dir=args.output_data_dir,
        predict=lambda texts: predict(model, tokenizer, texts, **kwargs),
    )
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    if normalizer.lexicon is not None:
        normalizer.lexicon.save(model_dir)
    export_onnx_int8(model, model_dir)
    # int8 on the endpoint only when it keeps the valid mean ROC-AUC of the trained weights
    precision_check = choose_serving_precision(
        model,
        tokenizer,
        data.valid.texts,
        data.valid.targets,
        folder=model_dir,
        full_precision_probs=valid_probs,
        **kwargs,
    )
    print(f"serving precision: {precision_check}", flush=True)
    save_meta(
        model_dir,
        serving_precision=precision_check["serving_precision"],
        serving_precision_check=precision_check,
        labels=data.labels,
        loss_mode=args.loss_mode,
        thresholds=thresholds,
        max_length=args.max_length,
        normalizer=args.text_normalizer,
        pooling=args.pooling if args.model_name else "cls",
        base_model=args.model_name or "roberta-from-config",
    )
    add_serving_code(model_dir, "transformer", INFERENCE_ENTRY)
    return {
        "serving_precision": precision_check,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "thresholds": thresholds,
        "metrics": final,
    }


if __name__ == "__main__":
    main()
