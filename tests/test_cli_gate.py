"""`governance gate`: a card's JSON alone, offline, through the real CLI; exit 0 pass, 1 fail or inconclusive, 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from governance.audit import AuditReport, audit
from governance.cli import app
from governance.gate import CARD_SCHEMA

runner = CliRunner()

FOUR_FIFTHS = {
    "name": "four-fifths rule",
    "metric": "selection_rate",
    "scope": "disparity",
    "attribute": "ownership",
    "statistic": "ratio",
    "bound": 0.8,
    "side": "min",
}


def _report(size: int, shift: float, seed: int) -> AuditReport:
    rng = np.random.default_rng(seed)
    groups = np.repeat(["a", "b"], size)
    y = (rng.random(2 * size) < 0.3).astype(int)
    scores = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, 2 * size) + np.where(groups == "b", shift, 0.0))))
    return audit(y, scores, sensitive={"ownership": groups}, top_k=0.3, n_boot=200)


@pytest.fixture(scope="module")
def reports() -> dict[str, AuditReport]:
    """Selection ratio 0.97 [0.90, 1.00] (fair), 0.29 [0.26, 0.32] (biased), 0.91 [0.62, 0.99] (straddling)."""
    return {"fair": _report(3000, 0.0, 1), "biased": _report(3000, -1.5, 1), "straddling": _report(150, -0.3, 5)}


def _write_card(folder: Path, report: AuditReport, *, rules: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
    card = {
        "schema": CARD_SCHEMA,
        "model": {"name": "account-scoring", "candidate": "c", "version": "3", "valid_until": "2026-03-01"},
        "fairness": report.to_dict(),
        "policy": {"rules": rules or [FOUR_FIFTHS]},
        **extra,
    }
    path = folder / "card.json"
    path.write_text(json.dumps(card, allow_nan=False))
    return path


def _gate(*args: str) -> Any:
    return runner.invoke(app, ["gate", *args, "--today", "2026-01-15"])


def test_passing_card_exits_0_and_prints_the_table(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    result = _gate("--card", str(_write_card(tmp_path, reports["fair"])))
    assert result.exit_code == 0, result.output
    assert "four-fifths rule" in result.stdout and "disparity: ownership (ratio)" in result.stdout
    assert ">= 0.8" in result.stdout and "card validity" in result.stdout
    assert "policy: the card's own" in result.stdout
    assert "gate pass (2 rules: 2 pass; decided by interval)" in result.stdout


def test_failing_card_exits_1_and_writes_junit(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    junit = tmp_path / "out" / "gate.xml"
    result = _gate("--card", str(_write_card(tmp_path, reports["biased"])), "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert "the gate did not pass: fail" in result.stderr and "blocked by: four-fifths rule" in result.stderr
    assert "Traceback" not in result.output
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert [c.get("name") for c in suite.iter("testcase")] == ["four-fifths rule", "card validity"]


def test_inconclusive_exits_1_unless_the_policy_warns(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    card = str(_write_card(tmp_path, reports["straddling"]))
    result = _gate("--card", card)
    assert result.exit_code == 1 and "straddles the bound 0.8" in result.stdout
    warn = tmp_path / "warn.yaml"
    warn.write_text(yaml.safe_dump({"on_inconclusive": "warn", "rules": [FOUR_FIFTHS]}))
    result = _gate("--card", card, "--policy", str(warn))
    assert result.exit_code == 0, result.output
    assert f"policy: {warn}" in result.stdout and "inconclusive (warn)" in result.stdout
    assert "warning: four-fifths rule: inconclusive" in result.stderr


def test_expired_card_exits_1_with_the_reason(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    card = str(_write_card(tmp_path, reports["fair"]))
    result = runner.invoke(app, ["gate", "--card", card, "--today", "2026-03-02"])
    assert result.exit_code == 1
    assert "the card expired on 2026-03-01" in result.stdout and "blocked by: card validity" in result.stderr


def test_the_demo_policy_file_gates_a_card(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    policy = Path(__file__).resolve().parents[1] / "configs" / "policies" / "account-scoring.yaml"
    result = _gate("--card", str(_write_card(tmp_path, reports["fair"])), "--policy", str(policy))
    assert result.exit_code == 0, result.output
    for name in ("four-fifths rule on selection rate by ownership", "equalized odds difference by ownership"):
        assert name in result.stdout


def test_the_default_policy_file_gates_a_card_on_every_attribute_whatever_its_name(
    tmp_path: Path, reports: dict[str, AuditReport]
) -> None:
    policy = Path(__file__).resolve().parents[1] / "configs" / "policies" / "default.yaml"
    card = _write_card(tmp_path, reports["fair"])
    result = _gate("--card", str(card), "--policy", str(policy), "--junit", str(tmp_path / "gate.xml"))
    assert result.exit_code in (0, 1), result.output
    assert "four-fifths rule" in result.stdout
    audited = {a["name"] for a in json.loads(card.read_text())["fairness"]["attributes"]}
    judged = (tmp_path / "gate.xml").read_text()
    # the rules name no attribute, and every attribute of the card is judged by them
    assert audited and all(name in judged for name in audited), (audited, judged)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON at line 1"),
        ('{"schema": "governance.card/1", "fairness": NaN}', "NaN is not a number JSON allows"),
        ('"a string"', "expected a JSON object (a card), found a string"),
        ('{"schema": "governance.card/1"}', "fairness: missing"),
        ('{"schema": "governance.card/1", "fairness": {"schema": "governance.audit/0"}}', "fairness.schema: expected"),
    ],
)
def test_bad_cards_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "card.json"
    path.write_text(content)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [FOUR_FIFTHS]}))
    result = _gate("--card", str(path), "--policy", str(policy))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output


def test_a_card_without_policy_needs_one_given(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    path = _write_card(tmp_path, reports["fair"])
    card = json.loads(path.read_text())
    del card["policy"]
    path.write_text(json.dumps(card))
    result = _gate("--card", str(path))
    assert result.exit_code == 2
    assert "the card carries no policy and none was given" in result.stderr and "--policy FILE" in result.stderr


def test_bad_options_and_policies_exit_2(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    card = str(_write_card(tmp_path, reports["fair"]))
    assert runner.invoke(app, ["gate", "--card", str(tmp_path / "missing.json")]).exit_code == 2
    result = runner.invoke(app, ["gate", "--card", card, "--today", "15/01/2026"])
    assert result.exit_code == 2 and "--today: expected a date YYYY-MM-DD" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    metric: selection_rat\n    scope: overall\n    bound: 1\n    side: min\n")
    result = _gate("--card", card, "--policy", str(bad))
    assert result.exit_code == 2 and "rules[0].metric (line 3): unknown audit metric 'selection_rat'" in result.stderr
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"rules": [{**FOUR_FIFTHS, "attribute": "gender"}]}))
    result = _gate("--card", card, "--policy", str(other))
    assert result.exit_code == 2 and "'gender' is not audited in the card" in result.stderr
    assert runner.invoke(app, ["gate"]).exit_code == 2  # --card is required


def test_gating_a_card_loads_no_model_explanation_tracking_or_plotting_library(
    tmp_path: Path, reports: dict[str, AuditReport]
) -> None:
    from tests.test_package import HEAVY, _modules

    card = str(_write_card(tmp_path, reports["fair"]))
    loaded = _modules("-m", "governance", "gate", "--card", card, "--today", "2026-01-15")
    assert {name.split(".")[0] for name in loaded} & {*HEAVY, "pandas", "scipy"} == set()
    # nor what only training and the audit engine need: the gate judges a card's recorded evidence
    assert loaded & {"governance.config", "governance.data", "governance.audit._engine"} == set()


def test_hostile_names_are_printed_as_text(tmp_path: Path, reports: dict[str, AuditReport]) -> None:
    hostile = "[bold red]owned[/bold red] <script>x</script>"
    card = str(_write_card(tmp_path, reports["fair"], rules=[{**FOUR_FIFTHS, "name": hostile}]))
    result = runner.invoke(app, ["gate", "--card", card, "--today", "2026-01-15"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert hostile in result.stdout  # rich markup in a card is shown, never interpreted
