from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.pipeline import git_commit, run
from tests.conftest import WriteConfig


def test_run_trains_the_baseline_and_logs_a_finished_run(
    write_config: WriteConfig, accounts: pd.DataFrame, tmp_path: Path
) -> None:
    config = load_config(write_config())
    outcome = run(config)
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["run_id"] == outcome.run_id
    assert summary["candidates"][0]["test_auc"] == outcome.candidates[0].test_auc
    (candidate,) = outcome.candidates
    assert candidate.name == "baseline_logreg"
    assert 0.65 < candidate.test_auc < 0.95
    client = MlflowClient(tracking_uri(config))
    logged = client.get_run(outcome.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["config.sha256"] == config.sha256
    assert logged.data.tags["data.sha256"] == outcome.fingerprint
    assert logged.data.tags["git.commit"] == git_commit()
    assert logged.data.metrics["baseline_logreg.test_auc"] == candidate.test_auc
    logged_text = json.dumps([logged.data.params, logged.data.tags, sorted(logged.data.metrics)])
    summary_text = json.dumps(summary)
    for column in ("account_id", "company_name", "contact_email", "contact_phone"):
        assert not any(str(v) in logged_text or str(v) in summary_text for v in accounts[column].head(200)), column


def test_run_is_reproducible(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    assert run(config).candidates == run(config).candidates


def test_run_generates_missing_data_then_reuses_it(write_config: WriteConfig, tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["path"] = "generated/accounts.csv"
        raw["data"]["generate"] = {"rows": 3000, "seed": 1, "bias": 0.5}

    path = write_config(edit=edit)
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "generated" / "accounts.csv").is_file()
    assert "generated" in result.stdout and "test AUC baseline_logreg:" in result.stdout
    assert not run(load_config(path)).data_generated
