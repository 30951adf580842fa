"""``governance explain --account``: a round trip against a real temporary MLflow store."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.pipeline import train
from governance.registry import promote, register_candidate
from tests.conftest import TEST_KEY
from tests.registry.test_promotion import _card

# one plain candidate and one that reads ownership at inference
KEEP = ("baseline_logreg", "logreg_group_thresholds")


def _write(folder: Path, raw: dict[str, Any], name: str, **mlflow: Any) -> Path:
    raw = copy.deepcopy(raw)
    raw["data"]["path"] = "accounts.parquet"
    raw["data"].pop("generate", None)
    raw["mlflow"]["embedded_store"] = "mlruns"
    raw["mlflow"].update(mlflow)
    raw["output"] = {"reports": "reports", "models": "models"}
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] in KEEP]
    raw["explain"].update({"background_size": 30})
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any], accounts: pd.DataFrame
) -> dict[str, Any]:
    """Two candidates trained and tracked in a temporary store; a config per registered model name."""
    folder = tmp_path_factory.mktemp("explain-cli")
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    config_path = _write(folder, default_raw, "config.yaml")
    unregistered = _write(folder, default_raw, "unregistered.yaml", registered_model="never-registered")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = load_config(config_path)
        outcome = train(config)
        # register the plain candidate with its card and promote it: only a governed version is used as champion
        name = config.mlflow.registered_model
        (plain,) = [c for c in outcome.candidates if c.name == "baseline_logreg"]
        uri = tracking_uri(config)
        version = register_candidate(uri, registered_model=name, run_id=plain.run_id, card=_card(plain, "pass"))
        promote(uri, registered_model=name, version=version.version, required_approvals=0)
    consented = accounts[accounts["consent_marketing"].astype(bool) & (accounts["lawful_basis"] != "none")]
    consented = consented[consented["consent_timestamp"].notna()]
    return {
        "folder": folder,
        "config": config_path,
        "unregistered": unregistered,
        "account": str(consented["account_id"].iloc[0]),
        "record": consented.iloc[0],
        "refused": str(accounts.loc[~accounts["consent_marketing"].astype(bool), "account_id"].iloc[0]),
        "version": int(version.version),
    }


def _explain(*args: str) -> Any:
    return CliRunner().invoke(app, ["explain", *args])


def test_explain_prints_and_writes_an_accounts_reasons_from_the_champion(store: dict[str, Any]) -> None:
    result = _explain("--account", store["account"], "--config", str(store["config"]))
    assert result.exit_code == 0, result.output
    assert "alias 'champion' of 'account-scoring'" in result.stdout
    assert re.search(r"score 0\.\d{3}, higher than \d+% of [\d,]+ accounts", result.stdout)
    lines = [line for line in result.stdout.splitlines() if re.match(r"\s+\d\. ", line)]
    assert len(lines) == 3 and all(re.search(r": (raises|lowers) the score \([+-]\d\.\d\d\)$", x) for x in lines)
    (pseudonym,) = re.findall(r"account ([0-9a-f]{32})", result.stdout)
    written = store["folder"] / "reports" / "explanations" / f"explanation-{pseudonym}-v{store['version']}.json"
    document = json.loads(written.read_text())
    assert document["schema"] == "governance.reasons/1" and document["pseudonym"] == pseudonym
    assert document["model"]["candidate"] == "baseline_logreg" and document["model"]["version"] == store["version"]
    assert document["data"]["matches_training"] is True
    assert [r["text"] for r in document["reasons"]] == [re.sub(r"^\s+\d\. | \([+-]\d\.\d\d\)$", "", x) for x in lines]
    record = store["record"]
    for text in (result.stdout, json.dumps(document)):
        for column in ("account_id", "company_name", "contact_email", "contact_phone"):
            assert str(record[column]) not in text, column


def test_explain_uses_a_named_version_or_a_candidate_of_the_latest_run(store: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "reasons.json"
    by_version = _explain(
        "--account", store["account"], "--config", str(store["config"]), "--model-version", str(store["version"])
    )
    assert by_version.exit_code == 0, by_version.output
    assert f"version {store['version']} of 'account-scoring'" in by_version.stdout
    by_name = _explain(
        "--account",
        store["account"],
        "--config",
        str(store["config"]),
        "--candidate",
        "logreg_group_thresholds",
        "--out",
        str(out),
    )
    assert by_name.exit_code == 0, by_name.output
    assert "note: this model also reads ownership when it scores; it is held fixed" in by_name.stdout
    reasons = json.loads(out.read_text())["reasons"]
    assert reasons and not any(r["feature"] == "ownership" for r in reasons)
    assert not any(g in r["text"] for r in reasons for g in ("minority_owned", "women_owned", "veteran_owned"))


def test_unknown_and_unconsented_accounts_get_the_same_refusal(store: dict[str, Any]) -> None:
    unknown = _explain("--account", "ACC-99999999", "--config", str(store["config"]))
    refused = _explain("--account", store["refused"], "--config", str(store["config"]))
    assert unknown.exit_code == refused.exit_code == 2
    assert unknown.stderr == refused.stderr and "unknown, or excluded" in unknown.stderr
    assert "ACC-99999999" not in unknown.stderr and store["refused"] not in refused.stderr
    assert "Traceback" not in unknown.output


def test_without_a_champion_the_refusal_names_the_candidates(store: dict[str, Any]) -> None:
    result = _explain("--account", store["account"], "--config", str(store["unregistered"]))
    assert result.exit_code == 2
    assert "no version with the alias 'champion'" in result.stderr
    assert "baseline_logreg, logreg_group_thresholds" in result.stderr
    missing = _explain("--account", store["account"], "--config", str(store["config"]), "--candidate", "nope")
    assert missing.exit_code == 2 and "expected one of baseline_logreg, logreg_group_thresholds" in missing.stderr
    both = _explain(
        "--account", store["account"], "--config", str(store["config"]), "--candidate", "x", "--model-version", "1"
    )
    assert both.exit_code == 2 and "expected at most one of them" in both.stderr


def test_explanation_files_are_named_by_pseudonym_and_version_and_never_overwrite_another_versions(
    store: dict[str, Any],
) -> None:
    # a second version of the account's model (the other candidate), as a later run would register
    config = load_config(store["config"])
    client = MlflowClient(tracking_uri(config), registry_uri=tracking_uri(config))
    (other,) = (
        r
        for r in client.search_runs([client.get_experiment_by_name(config.mlflow.experiment).experiment_id])
        if r.data.tags.get("candidate.name") == "logreg_group_thresholds"
    )
    logged = client.get_logged_model(other.data.tags["model.id"])
    second = int(
        client.create_model_version(
            config.mlflow.registered_model,
            source=logged.artifact_location,
            run_id=other.info.run_id,
            model_id=logged.model_id,
        ).version
    )
    folder = store["folder"] / "reports" / "explanations"
    documents = {}
    for version in (store["version"], second):
        result = _explain(
            "--account", store["account"], "--config", str(store["config"]), "--model-version", str(version)
        )
        assert result.exit_code == 0, result.output
        (pseudonym,) = set(re.findall(r"account ([0-9a-f]{32})", result.stdout))
        path = folder / f"explanation-{pseudonym}-v{version}.json"
        documents[version] = json.loads(path.read_text())
    assert documents[store["version"]]["model"]["version"] == store["version"]
    assert documents[second]["model"]["version"] == second  # the first version's file is still there, unchanged
    by_candidate = _explain("--account", store["account"], "--config", str(store["config"]), "--candidate", KEEP[0])
    assert by_candidate.exit_code == 0, by_candidate.output
    names = sorted(p.name for p in folder.iterdir())
    assert (
        f"explanation-{pseudonym}-v{store['version']}.json" in names
        and f"explanation-{pseudonym}-v{second}.json" in names
    )
    assert any(re.fullmatch(rf"explanation-{pseudonym}-run-[0-9a-f]{{32}}\.json", n) for n in names), names
    record = store["record"]
    for path in folder.iterdir():
        for column in ("account_id", "company_name", "contact_email", "contact_phone"):
            assert str(record[column]) not in path.name and str(record[column]) not in path.read_text(), column
