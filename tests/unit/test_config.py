from __future__ import annotations

import json
import re

import pytest

from cdk.app_builder import SYSTEMS
from cdk.config import SettingsError, SharedSettings, context_table, parse_settings
from local.standins.synth import REPO_ROOT


def test_defaults_apply_when_context_is_empty():
    settings = parse_settings(SharedSettings, {})
    assert settings.stack_prefix == "Vigil"
    assert settings.removal_policy == "retain"


def test_cli_strings_are_coerced():
    settings = parse_settings(
        SharedSettings,
        {"vigil:logRetentionDays": "30", "vigil:systems": "fraud,toxicity"},
    )
    assert settings.log_retention_days == 30
    assert settings.systems == ["fraud", "toxicity"]


def test_a_typo_is_an_error_naming_the_key():
    with pytest.raises(SettingsError, match="removalPolcy"):
        parse_settings(SharedSettings, {"vigil:removalPolcy": "destroy"})


def test_a_bad_value_is_an_error():
    with pytest.raises(SettingsError, match="removalPolicy"):
        parse_settings(SharedSettings, {"vigil:removalPolicy": "shred"})


def test_system_keys_do_not_leak_into_shared_settings():
    settings = parse_settings(SharedSettings, {"vigil:fraud:somethingElse": 1})
    assert settings.stack_prefix == "Vigil"


def test_cdk_json_context_is_valid():
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    parse_settings(SharedSettings, context)
    for namespace, (_, model, _) in SYSTEMS.items():
        parse_settings(model, context, namespace)


def test_docs_document_every_context_key():
    # The key table lives in docs/configuration.md, which the README links for deployers.
    table = (REPO_ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(vigil:[A-Za-z:-]+)`", table, flags=re.MULTILINE))
    keys = {row[0] for row in context_table(SharedSettings)}
    for namespace, (_, model, _) in SYSTEMS.items():
        keys |= {row[0] for row in context_table(model, namespace)}
    assert keys - documented == set(), "document these context keys in docs/configuration.md"
