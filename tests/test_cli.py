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


def test_debug_adds_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--debug", "config", "check", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr and "config file not found" in result.stderr


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


def test_data_check_prints_events_per_split_and_flags_groups_too_small_for_the_test_split(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    hostile = "[/x]<b>\u202etiny"  # markup, HTML and a bidi override in a group name
    frame = accounts.copy()
    frame["ownership"] = frame["ownership"].astype(object)
    frame.loc[frame.index[:12], "ownership"] = hostile

    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["min_events"] = 10

    result = runner.invoke(app, ["data", "check", "--config", str(write_config(frame=frame, edit=edit))])
    assert result.exit_code == 0, result.output
    assert "train rows / pos / neg" in result.stdout and "test rows / pos / neg" in result.stdout
    assert "intersection ownership & size_band" in result.stdout
    shown = "[/x]<b>\\u202etiny"  # printed as text, the override shown as an escape
    assert shown in result.stdout and "\u202e" not in result.stdout
    assert f"ownership = {shown}: insufficient on test: " in result.stdout
    assert "fewer than min_group_size 30 (no metric of the group is judged)" in result.stdout
    assert "positives, fewer than min_events 10 (true positive and false negative rates cannot be judged)" in (
        result.stdout
    )
    assert f"ownership & size_band = {shown} & " in result.stdout  # the intersection's groups, named as the audit does


def test_run_summary_prints_why_the_champion_won_as_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    from governance.cli._tables import print_cards as _print_cards
    from governance.pipeline import CardOutcome, Outcome, RunOutcome

    why = "fair_lgbm: passed with 1 rule undecided (allowed as a warning by on_inconclusive: warn): [/x] (inconclusive)"
    card = CardOutcome("fair_lgbm", "pass", 3, Path("card.json"), Path("card.html"), 0.8, 0.05, False)
    training = Outcome("run", "sqlite:///x.db", False, 10, 10, {}, "0" * 64, False, ())
    _print_cards(RunOutcome(training, (card,), "fair_lgbm", "champion", 3, None, why), reports=Path("reports"))
    assert f"why: {why}" in capsys.readouterr().out


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


def test_an_error_message_with_markup_like_text_is_printed_literally(tmp_path: Path) -> None:
    """A group, path or value written like rich markup (``[/x]``) must not break the error handler."""
    missing = tmp_path / "[/x][bold]nope.yaml"
    result = runner.invoke(app, ["config", "check", str(missing)])
    assert result.exit_code == 2
    assert "[/x][bold]nope.yaml" in result.output
    assert "Traceback" not in result.output


def test_a_path_written_like_markup_is_printed_as_it_is(tmp_path: Path) -> None:
    # what reaches stdout (paths, names, groups) is data: the stdout console reads no rich markup
    target = tmp_path / "[bold red]x[/]" / "accounts.parquet"
    result = runner.invoke(app, ["data", "generate", "--rows", "50", "--seed", "3", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert f"to {target} in" in result.stdout


def test_an_internal_error_with_markup_like_text_is_printed_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    import governance.datasets

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("[/x] not closed [bold]")

    monkeypatch.setattr(governance.datasets, "write_accounts", broken)
    result = runner.invoke(app, ["data", "generate", "--rows", "5", "--out", "a.parquet"])
    assert result.exit_code == 70
    assert "RuntimeError: [/x] not closed [bold]" in result.stderr
