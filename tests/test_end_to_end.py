"""The whole governance loop, as `make demo` runs it, on the demo's own data (slow: about four minutes).

These tests hold the product's central promise: on the biased demo data every plain candidate fails
the gate and a mitigated one passes and becomes champion; on unbiased data the fairness rules pass;
the card is the same document for the same inputs; and it renders in a real browser without a
network request or a console error.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config, tracking_uri
from tests.conftest import WriteConfig, open_in_chrome

pytestmark = pytest.mark.slow
runner = CliRunner()


def _config(folder: Path, default_raw: dict[str, Any], **generate: Any) -> Path:
    """The demo config with every path inside ``folder``."""
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"]["generate"] = {**raw["data"]["generate"], **generate}
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any]) -> tuple[Path, dict[str, Any], str]:
    """`governance run` on the demo config (its biased accounts, seven candidates)."""
    folder = tmp_path_factory.mktemp("demo")
    path = _config(folder, default_raw)
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "reports" / "summary.json").read_text())
    return path, summary, result.stdout


def test_demo_fails_every_plain_candidate_and_promotes_a_mitigated_one(demo: tuple[Path, dict[str, Any], str]) -> None:
    path, summary, stdout = demo
    config = load_config(path)
    mitigation = {c.name: c.mitigation for c in config.candidates}
    verdicts = {c["name"]: c["verdict"] for c in summary["cards"]}
    plain = [name for name, m in mitigation.items() if m is None]
    assert plain and all(verdicts[name] == "fail" for name in plain), verdicts
    assert any(verdicts[name] == "pass" for name, m in mitigation.items() if m is not None), verdicts
    chosen = summary["chosen"]
    assert mitigation[chosen] is not None
    assert summary["alias"] == "champion"
    champion = MlflowClient(tracking_uri(config)).get_model_version_by_alias(config.mlflow.registered_model, "champion")
    assert int(champion.version) == summary["champion_version"]
    assert champion.tags["gate.verdict"] == "pass"
    assert f"champion: {chosen}" in stdout


def test_every_candidate_has_a_card_that_the_offline_gate_agrees_with(
    demo: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    _, summary, _ = demo
    import jsonschema

    from tests.test_card import _schema

    for entry in summary["cards"]:
        card = json.loads(Path(entry["card_json"]).read_text())
        jsonschema.validate(card, _schema())
        assert card["model"]["version"] == entry["version"]
        assert card["gate"]["verdict"] == entry["verdict"]
        assert Path(entry["card_html"]).read_text().startswith("<!DOCTYPE html>")
        junit = tmp_path / f"{entry['name']}.xml"
        result = runner.invoke(app, ["gate", "--card", entry["card_json"], "--junit", str(junit)])
        assert result.exit_code == (0 if entry["verdict"] == "pass" else 1), result.output
        assert "<testsuite" in junit.read_text()


def test_unbiased_data_passes_the_fairness_rules(tmp_path: Path, default_raw: dict[str, Any]) -> None:
    raw = copy.deepcopy(default_raw)
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] in ("baseline_logreg", "lightgbm")]
    path = _config(tmp_path, raw, bias=0.0)
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    for entry in summary["cards"]:
        rules = {r["name"]: r for r in json.loads(Path(entry["card_json"]).read_text())["gate"]["rules"]}
        fairness = [r for r in rules.values() if r["scope"] == "disparity"]
        assert fairness
        assert all(r["verdict"] != "fail" for r in fairness), entry["name"]
        assert rules["four-fifths rule on selection rate by ownership"]["verdict"] == "pass"
        assert entry["verdict"] == "pass"


def _without_run_facts(card: dict[str, Any]) -> dict[str, Any]:
    """A card minus what legitimately differs between two runs: timestamps and MLflow's identifiers."""
    card = copy.deepcopy(card)
    for key in ("created", "valid_until", "run_id", "version"):
        card["model"].pop(key, None)
    card["lineage"].pop("model_sha256", None)
    return card


def test_the_same_config_and_data_give_the_same_card(write_config: WriteConfig, tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"] = raw["candidates"][:1]

    path = write_config(edit=edit)
    cards = []
    for _ in range(2):
        result = runner.invoke(app, ["run", "--config", str(path)])
        assert result.exit_code in (0, 1), result.output
        card = json.loads((tmp_path / "reports" / "cards" / "baseline_logreg" / "card.json").read_text())
        cards.append(_without_run_facts(card))
    assert json.dumps(cards[0], sort_keys=True) == json.dumps(cards[1], sort_keys=True)


def test_the_html_card_renders_in_a_browser_without_errors_or_network(demo: tuple[Path, dict[str, Any], str]) -> None:
    _, summary, _ = demo
    card = next(Path(c["card_html"]) for c in summary["cards"] if c["name"] == summary["chosen"])
    seen = open_in_chrome(card)
    images = seen["images"]
    assert len(images) >= 4
    assert all(complete and width > 0 and alt > 20 for complete, width, alt in images), images
    assert seen["console"] == []
    requested = seen["requested"]
    assert requested[0] == card.resolve().as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in requested[1:]), [u[:40] for u in requested]
