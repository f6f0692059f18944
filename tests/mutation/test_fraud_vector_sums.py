"""The online ``feat_sum`` update refuses vectors of different lengths, saying which."""

from __future__ import annotations

import pytest

from vigil.fraud.features import add_vectors


def test_vectors_of_different_lengths_are_refused_with_both_lengths():
    with pytest.raises(ValueError, match=r"^vector lengths differ: 2 and 3$"):
        add_vectors([1.0, 2.0], [1.0, 2.0, 3.0])
