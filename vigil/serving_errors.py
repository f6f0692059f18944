"""Errors that inference code raises so the SageMaker serving stack answers 4xx, not 500.

The SageMaker inference toolkit (``sagemaker_inference.transformer.Transformer.transform``) turns
any exception raised by ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` into a 500, except
subclasses of ``sagemaker_inference.errors.BaseInferenceToolkitError``, whose ``status_code`` and
``phrase`` it sets on the response (its body is the message, then the traceback). ``BadRequest``
is such a subclass, so ``raise BadRequest("'inputs' must be a list")`` in ``input_fn`` gives the
caller a 400 whose body starts with that message (SageMaker's ``InvokeEndpoint`` then reports a
``ModelError`` with ``OriginalStatusCode`` 400 and that message).

Where the toolkit is not installed (a Lambda importing ``vigil``), ``BadRequest`` derives from a
stand-in with the same attributes, so the same code imports and raises everywhere.
"""

from __future__ import annotations

try:
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:  # pragma: no cover - only outside the serving stack

    class _ToolkitError(Exception):
        def __init__(self, status_code, message=None, phrase=None):
            self.status_code = status_code
            self.message = message or "Invalid Request"
            self.phrase = phrase or self.message
            super().__init__(status_code, self.message, self.phrase)


class BadRequest(_ToolkitError):
    """The request is wrong (content type, shape, values): the server answers ``status_code``
    (400 unless another 4xx is given) with ``message`` as the first line of the body."""

    def __init__(self, message: str, status_code: int = 400):
        if not 400 <= status_code < 500:
            raise ValueError(f"BadRequest needs a 4xx status code, not {status_code}")
        super().__init__(status_code, message, "Bad Request" if status_code == 400 else message)

    def __str__(self) -> str:
        return self.message
