from tests.unit.toxicity.conftest import tiny_bilstm, tox_channels  # noqa: F401 (fixtures)
