from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG, ROOT, WriteConfig

runner = CliRunner()


def test_version_prints_and_exits_zero() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("governance ")


def test_config_check_valid_prints_a_summary_and_exits_zero() -> None:
    result = runner.invoke(app, ["config", "check", str(DEFAULT_CONFIG)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and "ownership, size_band" in result.stdout
    assert "top 20% of accounts" in result.stdout


def test_config_check_invalid_prints_every_problem_to_stderr_and_exits_two(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"].append({"name": "ownership", "justification": "x"})
        raw["candidates"][0]["kind"] = "svm"

    result = runner.invoke(app, ["config", "check", str(write_config(edit=edit))])
    assert result.exit_code == 2
    assert "2 config problem(s)" in result.stderr
    assert "features[15].name" in result.stderr and "candidates[0].kind" in result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_exception_instead_of_a_short_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "config", "check", str(tmp_path / "missing.yaml")])
    assert isinstance(result.exception, ConfigError)


def test_data_generate_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "accounts.csv"
    result = runner.invoke(
        app, ["data", "generate", "--rows", "500", "--seed", "3", "--bias", "0.5", "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(target)) == 500
    assert "wrote 500 accounts" in result.stdout


def test_data_generate_refuses_an_unknown_format(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "generate", "--rows", "5", "--out", str(tmp_path / "a.xlsx")])
    assert result.exit_code == 2
    assert "--out: expected a path ending in .csv or .parquet" in result.stderr


def test_data_check_prints_the_summary(write_config: WriteConfig) -> None:
    result = runner.invoke(app, ["data", "check", "--config", str(write_config())])
    assert result.exit_code == 0, result.output
    assert "rows in file: 4,000" in result.stdout
    assert "company_name (pii)" in result.stdout and "country (undeclared)" in result.stdout
    assert "minority_owned" in result.stdout


def test_data_problems_exit_two_with_the_column_named(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    result = runner.invoke(
        app, ["data", "check", "--config", str(write_config(frame=accounts.drop(columns="intent_score")))]
    )
    assert result.exit_code == 2
    assert "intent_score: missing column" in result.stderr


def test_pii_feature_exits_four(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"].append({"name": "lead", "type": "categorical", "justification": "channel"})

    path = write_config(frame=accounts.assign(lead=accounts["contact_email"]), edit=edit)
    result = runner.invoke(app, ["data", "check", "--config", str(path)])
    assert result.exit_code == 4
    assert "features.lead" in result.stderr
    assert "@" not in result.stderr


def test_development_key_warning_is_loud(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    result = runner.invoke(app, ["data", "check", "--config", str(write_config())])
    assert result.exit_code == 0
    assert "WARNING" in result.stderr and "PUBLIC development key" in result.stderr


@pytest.mark.slow
def test_real_subprocess_reports_errors_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("purpose: {}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "governance", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "purpose.intended_use (in the mapping at line 1): required key is missing" in proc.stderr
    assert "- data: required key is missing" in proc.stderr
    assert "Traceback" not in proc.stderr
