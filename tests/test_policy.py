"""The policy module: its rules load and validate on their own, and its fingerprint is the card's."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

import governance.config
import governance.policy
from governance._files import canonical_json
from governance.errors import ConfigError
from governance.policy import PolicySpec, load_policy, policy_sha256, validate_policy
from tests.conftest import DEFAULT_CONFIG

DEFAULT_POLICY = DEFAULT_CONFIG.parent / "policies" / "account-scoring.yaml"


def test_the_policy_fingerprint_is_the_sha256_of_its_canonical_json() -> None:
    from governance.gate import policy_sha256 as gate_policy_sha256

    policy = load_policy(DEFAULT_POLICY)
    expected = hashlib.sha256(canonical_json(policy.model_dump(mode="json"))).hexdigest()
    assert policy_sha256(policy) == expected == gate_policy_sha256(policy)
    assert policy_sha256(policy) != policy_sha256(policy.model_copy(update={"confidence": 0.9}))


def test_a_policy_file_locates_problems_by_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("decison: point\nrules:\n  - name: r\n    metric: selection_rat\n    scope: overall\n")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert "decison (line 1): unknown key `decison`; did you mean `decision`?" in text
    assert "rules[0].metric (line 4): unknown audit metric 'selection_rat'" in text
    assert "rules[0].bound" in text and "required key is missing" in text


def test_a_policy_given_as_data_is_located_at_the_cards_json_path() -> None:
    with pytest.raises(ConfigError) as info:
        validate_policy({"rules": [{"name": "r", "metric": "auc", "scope": "overall", "bound": 0.7, "side": "up"}]})
    assert "policy.rules[0].side" in str(info.value)
    assert validate_policy(load_policy(DEFAULT_POLICY).model_dump(mode="json")) == load_policy(DEFAULT_POLICY)


def test_a_missing_policy_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"policy file .* not found"):
        load_policy(DEFAULT_POLICY.with_name("absent.yaml"))


def test_the_config_re_exports_the_policy_names() -> None:
    for name in governance.policy.__all__:
        assert getattr(governance.config, name) is getattr(governance.policy, name)
    assert governance.config.GovernanceConfig.model_fields["policy"].annotation is PolicySpec


def test_the_policy_module_does_not_import_the_config_or_the_gate() -> None:
    tree = ast.parse(Path(governance.policy.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not imported & {"governance.config", "governance.gate", "governance.audit"}
