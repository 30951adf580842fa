"""The card contract's one validator: problems by JSON path, one schema id, used by ``from_dict``, the gate and a registry."""

from __future__ import annotations

import ast
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import governance.card
from governance.audit import audit
from governance.card import SCHEMA, ModelCard, check_card, read_evidence
from governance.errors import DataValidationError

CARD_PACKAGE = Path(governance.card.__file__).parent


def _audit_document() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    n = 600
    y = rng.integers(0, 2, n)
    scores = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    groups = np.where(rng.uniform(size=n) < 0.5, "north", "south")
    return audit(y, scores, sensitive={"region": groups}, threshold=0.5, n_boot=0, seed=1).to_dict()


def _card() -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "model": {"name": "m", "candidate": "c", "run_id": "r1", "created": "2026-01-15T09:30:00"},
        "lineage": {},
        "purpose": {},
        "data": {"features": [{"name": "x", "justification": "signal"}]},
        "performance": {},
        "fairness": _audit_document(),
        "candidates": [],
        "policy": {},
        "gate": {"verdict": "pass", "rules": []},
    }


def test_schema_id_is_written_once_and_the_schema_file_carries_it() -> None:
    schema = json.loads(files("governance.card").joinpath("schema.json").read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA
    assert schema["properties"]["schema"]["const"] == SCHEMA
    from governance.gate import CARD_SCHEMA
    from governance.monitor import SCHEMA as MONITORING

    assert CARD_SCHEMA is SCHEMA
    assert MONITORING == governance.card.MONITORING_SCHEMA


def test_a_malformed_value_deep_in_the_audit_is_named_by_its_json_path() -> None:
    card = _card()
    group = card["fairness"]["groups"][1]
    group["metrics"]["selection_rate"]["ci"] = [0.9, 0.1]
    group["metrics"]["true_positive_rate"]["status"] = "fine"
    with pytest.raises(DataValidationError) as info:
        read_evidence(card)
    locations = [p.location for p in info.value.problems]
    assert locations == [
        "fairness.groups[1].metrics.selection_rate.ci",
        "fairness.groups[1].metrics.true_positive_rate.status",
    ]


def test_every_problem_of_the_evidence_is_reported_at_once() -> None:
    card = _card()
    card["schema"] = "governance.card/0"
    card["model"]["valid_until"] = 20260101
    card["explanations"] = {"proxies": [{"feature": "x", "attribute": "region", "flagged": "yes"}]}
    with pytest.raises(DataValidationError) as info:
        read_evidence(card)
    assert [p.location for p in info.value.problems] == [
        "schema",
        "model.valid_until",
        "explanations.proxies[0].flagged",
    ]


def test_from_dict_names_every_missing_section() -> None:
    card = _card()
    del card["lineage"], card["policy"]
    with pytest.raises(DataValidationError, match="missing section of the card") as info:
        ModelCard.from_dict(card)
    assert [p.location for p in info.value.problems] == ["lineage", "policy"]


def test_a_registration_checks_the_verdict_the_reviews_and_the_run_under_a_root() -> None:
    card = _card() | {"schema": "governance.card/0", "gate": {"rules": []}, "reviews": [{"decision": "approve"}]}
    with pytest.raises(DataValidationError) as info:
        check_card(card, registration_of="r1", root="card")
    assert [p.location for p in info.value.problems] == ["card.schema", "card.gate.verdict", "card.reviews"]
    other = _card()
    with pytest.raises(DataValidationError, match="expected the registered run 'r2'"):
        check_card(other, registration_of="r2", root="card")
    assert check_card(other, registration_of="r1") == json.loads(json.dumps(other))


def test_a_registration_refuses_values_json_cannot_hold() -> None:
    card = _card()
    card["performance"] = {"auc": float("nan")}
    with pytest.raises(DataValidationError, match="finite numbers"):
        check_card(card, registration_of="r1")


def _runtime_imports(tree: ast.AST) -> list[str]:
    """Modules imported outside ``if TYPE_CHECKING:`` blocks."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("path", sorted(CARD_PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_card_imports_neither_the_gate_nor_the_audit_engine(path: Path) -> None:
    imports = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
    assert not [m for m in imports if m.startswith(("governance.gate", "governance.audit._"))], imports
