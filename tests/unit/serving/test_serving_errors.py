"""vigil.serving_errors.BadRequest is the toolkit's error type, so the server answers 4xx."""

from __future__ import annotations

import pytest
from sagemaker_inference.errors import BaseInferenceToolkitError
from sagemaker_inference.transformer import Transformer

from vigil.serving_errors import BadRequest


def test_bad_request_is_a_toolkit_error_with_status_400():
    error = BadRequest("'inputs' is missing")
    assert isinstance(error, BaseInferenceToolkitError)
    assert (error.status_code, error.message, error.phrase) == (
        400,
        "'inputs' is missing",
        "Bad Request",
    )
    assert str(error) == "'inputs' is missing"
    assert BadRequest("too big", status_code=413).status_code == 413


def test_only_4xx_codes_are_accepted():
    with pytest.raises(ValueError, match="4xx"):
        BadRequest("boom", status_code=500)


class _Context:
    def __init__(self):
        self.status = None

    def set_response_status(self, code, phrase):
        self.status = (code, phrase)


def test_the_toolkit_turns_it_into_the_response_status_and_message():
    context = _Context()
    try:
        raise BadRequest("'inputs' must be a list")
    except BadRequest as error:
        body = Transformer.handle_error(context, error, "trace")
    assert context.status == (400, "Bad Request")
    assert body[0].splitlines()[0] == "'inputs' must be a list"
