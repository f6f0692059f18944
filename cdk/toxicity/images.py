"""The toxicity models' SageMaker framework images (resolved and mapped per region by
``cdk/shared/sagemaker.py``).

- BiLSTM: the PyTorch training and inference DLCs (``PYTORCH_VERSION``, ``PY_VERSION``).
- Transformer: the Hugging Face PyTorch training and inference DLCs (``TRANSFORMERS_VERSION``).
"""

from __future__ import annotations

from cdk.shared.sagemaker import ImageSpec

PYTORCH_VERSION = "2.5"
PY_VERSION = "py311"
TRANSFORMERS_VERSION = "4.49.0"
HF_TRAINING_PYTORCH = "pytorch2.5.1"
HF_INFERENCE_PYTORCH = "pytorch2.6.0"
HF_INFERENCE_PY_VERSION = "py312"


def pytorch(instance_type: str, scope: str) -> ImageSpec:
    return ImageSpec("pytorch", PYTORCH_VERSION, PY_VERSION, instance_type, scope)


def huggingface(instance_type: str, scope: str) -> ImageSpec:
    training = scope == "training"
    return ImageSpec(
        "huggingface",
        TRANSFORMERS_VERSION,
        PY_VERSION if training else HF_INFERENCE_PY_VERSION,
        instance_type,
        scope,
        HF_TRAINING_PYTORCH if training else HF_INFERENCE_PYTORCH,
    )
