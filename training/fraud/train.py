"""SageMaker training entry point (script mode): the fraud RGCN and a GBDT baseline beside it.

``python training/fraud/train.py --train <etl output> --model-dir <dir> --output-data-dir <dir>``
or, on SageMaker, with ``SM_CHANNEL_TRAIN``, ``SM_MODEL_DIR`` and ``SM_OUTPUT_DATA_DIR`` set.
Hyperparameters are one ``--<kebab-case>`` flag per field of
``vigil.fraud.hyperparameters.Hyperparameters`` (``--help`` lists them with their defaults); the
loop, metrics, curves and outputs are :mod:`vigil.fraud.training`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (SageMaker script mode): make `vigil` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vigil.fraud import training

# this entry point's own inference.py: the model directory it writes deploys with it (absent
# from the SageMaker source bundle, where the package-model step adds code/ instead)
INFERENCE_ENTRY = Path(__file__).resolve().parents[2] / "inference" / "fraud" / "inference.py"


def main(argv: list[str] | None = None) -> int:
    return training.main(argv, inference_entry=INFERENCE_ENTRY)


if __name__ == "__main__":
    sys.exit(main())
