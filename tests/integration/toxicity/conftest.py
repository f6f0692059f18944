from tests.unit.toxicity.conftest import (  # noqa: F401 (fixtures)
    tiny_bilstm,
    tiny_transformer,
    tox_channels,
)
