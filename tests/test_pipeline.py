from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import governance.pipeline._run
from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.data import prepare
from governance.pipeline import ensure_data, git_commit, run, train
from tests.conftest import WriteConfig

# one plain candidate and one that reads the sensitive attribute at inference: cheap, and both kinds of facts
KEEP = ("baseline_logreg", "logreg_group_thresholds")


def _two_candidates(raw: dict[str, Any]) -> None:
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] in KEEP]


def test_train_trains_the_candidates_and_logs_one_parent_and_one_nested_run_each(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    config = load_config(write_config(edit=_two_candidates))
    outcome = train(config)
    assert [c.name for c in outcome.candidates] == list(KEEP)
    plain, thresholds = outcome.candidates
    assert 0.65 < plain.test_auc < 0.95 and not plain.uses_sensitive_at_inference
    assert thresholds.uses_sensitive_at_inference and thresholds.inputs[-1] == "ownership"

    client = MlflowClient(tracking_uri(config))
    parent = client.get_run(outcome.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["config.sha256"] == config.sha256
    assert parent.data.tags["data.sha256"] == outcome.fingerprint
    assert parent.data.tags["git.commit"] == git_commit()
    assert parent.data.metrics["baseline_logreg.test_auc"] == plain.test_auc
    (data_input,) = parent.inputs.dataset_inputs
    assert data_input.dataset.digest == outcome.fingerprint[:32]
    assert {t.key: t.value for t in data_input.tags}["data.sha256"] == outcome.fingerprint

    for candidate in outcome.candidates:
        child = client.get_run(candidate.run_id)
        tags, metrics = child.data.tags, child.data.metrics
        assert child.info.status == "FINISHED" and tags["mlflow.parentRunId"] == outcome.run_id
        assert tags["candidate.kind"] == "logistic_regression" and tags["git.commit"] == git_commit()
        assert tags["config.sha256"] == config.sha256 and tags["data.sha256"] == outcome.fingerprint
        assert tags["candidate.uses_sensitive_at_inference"] == str(candidate.uses_sensitive_at_inference).lower()
        assert tags["model.sha256"] == candidate.model_sha256
        assert metrics["test_auc"] == candidate.test_auc and metrics["validation_auc"] == candidate.validation_auc
        assert child.data.params["estimator.C"] == "1.0" and child.data.params["seed"] == str(config.seed)
        assert child.inputs.dataset_inputs[0].dataset.digest == outcome.fingerprint[:32]
        facts = Path(client.download_artifacts(candidate.run_id, "candidate.json", str(tmp_path)))
        assert json.loads(facts.read_text())["model"]["sha256"] == candidate.model_sha256
    assert client.get_run(thresholds.run_id).data.tags["candidate.mitigation"] == "threshold_optimizer"


def test_nothing_personal_reaches_mlflow_the_cards_or_the_summary(
    write_config: WriteConfig, accounts: pd.DataFrame, tmp_path: Path
) -> None:
    config = load_config(write_config(edit=_two_candidates))
    result = run(config)
    outcome = result.training
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["chosen"] == result.chosen and summary["why"] == result.why  # why the champion won, or why none
    assert result.why.startswith(
        f"{result.chosen}: passed with " if result.chosen else "no candidate passed the gate ("
    )
    client = MlflowClient(tracking_uri(config))
    runs = client.search_runs([client.get_run(outcome.run_id).info.experiment_id])
    assert len(runs) == 1 + len(KEEP)
    texts = [p.read_text() for p in (tmp_path / "reports").rglob("*") if p.suffix in (".json", ".html")]
    # the summary; card.json, card.html, audit.json and figures/figures.json (kept for re-renders) per candidate
    assert len(texts) == 1 + 4 * len(KEEP)
    for logged in runs:
        texts.append(json.dumps([logged.data.params, logged.data.tags, sorted(logged.data.metrics)]))
        folder = Path(client.download_artifacts(logged.info.run_id, "", str(tmp_path / logged.info.run_id)))
        texts += [p.read_text() for p in folder.rglob("*") if p.suffix in (".json", ".html", ".txt", ".yaml")]
    text = "\n".join(texts)
    for column in ("account_id", "company_name", "contact_email", "contact_phone"):
        assert not any(str(v) in text for v in accounts[column]), column
    assert not any(p in text for p in prepare(config).pseudonyms)


def test_training_is_reproducible(write_config: WriteConfig) -> None:
    config = load_config(write_config(edit=_two_candidates))
    first, second = train(config), train(config)
    assert first.candidates == second.candidates
    assert first.candidates[0].run_id != second.candidates[0].run_id  # same facts, different runs


def test_a_candidate_failing_midway_leaves_no_run_running(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write_config(edit=_two_candidates))
    real = governance.pipeline._run.train_candidate

    def fail_on_second(candidate: Any, *args: Any, **kwargs: Any) -> Any:
        if candidate.name == KEEP[1]:
            raise MemoryError("out of memory while training")
        return real(candidate, *args, **kwargs)

    monkeypatch.setattr(governance.pipeline._run, "train_candidate", fail_on_second)
    with pytest.raises(MemoryError):
        run(config)
    client = MlflowClient(tracking_uri(config))
    runs = client.search_runs([client.get_experiment_by_name(config.mlflow.experiment).experiment_id])
    statuses = {r.info.run_name: r.info.status for r in runs}
    assert statuses == {"governance-run": "FAILED", KEEP[0]: "FINISHED", KEEP[1]: "FAILED"}


def test_train_command_trains_every_candidate_with_a_progress_bar(write_config: WriteConfig) -> None:
    result = CliRunner().invoke(app, ["train", "--config", str(write_config(edit=_two_candidates))])
    assert result.exit_code == 0, result.output
    assert "train candidates" in result.stderr and "2/2" in result.stderr
    assert "test AUC baseline_logreg:" in result.stdout and "test AUC logreg_group_thresholds:" in result.stdout
    assert "note: logreg_group_thresholds reads ownership when it scores" in result.stdout


def test_run_generates_missing_data_then_reuses_it(write_config: WriteConfig, tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["path"] = "generated/accounts.csv"
        raw["data"]["generate"] = {"rows": 3000, "seed": 1, "bias": 0.5}
        raw["candidates"] = raw["candidates"][:1]

    path = write_config(edit=edit)
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "generated" / "accounts.csv").is_file()
    assert "generated" in result.stdout and "test AUC baseline_logreg:" in result.stdout
    assert not train(load_config(path)).data_generated


def test_generated_data_is_made_again_when_the_config_asks_for_other_data(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    def edit(rows: int) -> Any:
        def apply(raw: dict[str, Any]) -> None:
            raw["data"]["path"] = "generated/accounts.parquet"
            raw["data"]["generate"] = {"rows": rows, "seed": 1, "bias": 0.5}

        return apply

    assert ensure_data(load_config(write_config(edit=edit(2000))))
    assert not ensure_data(load_config(write_config(edit=edit(2000))))
    assert ensure_data(load_config(write_config(edit=edit(2500))))
    assert len(pd.read_parquet(tmp_path / "generated" / "accounts.parquet")) == 2500
    user_file = tmp_path / "generated" / "accounts.parquet.generated.json"
    user_file.unlink()  # a file without its sidecar is the user's own: never overwritten
    assert not ensure_data(load_config(write_config(edit=edit(3000))))
    assert len(pd.read_parquet(tmp_path / "generated" / "accounts.parquet")) == 2500


def test_a_relative_sqlite_uri_puts_the_store_beside_the_config_whatever_the_working_directory(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"] = raw["candidates"][:1]
        raw["mlflow"]["tracking_uri"] = "sqlite:///mlruns/mlflow.db"

    path = write_config(edit=edit)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert tracking_uri(config) == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    outcome = train(config)
    assert (tmp_path / "mlruns" / "mlflow.db").is_file() and (tmp_path / "mlruns" / "artifacts").is_dir()
    assert not any(elsewhere.iterdir())
    client = MlflowClient(tracking_uri(config))
    assert client.get_run(outcome.run_id).info.status == "FINISHED"
