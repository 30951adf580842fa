"""Hostile strings and paths at the command line: nothing is interpreted, nothing rewrites the terminal, codes hold.

Every test runs ``python -m governance`` in a subprocess, as a user or a CI job does, against
one real MLflow SQLite store trained once for the module (a group of the data, a sensitive
category, carries rich markup, an escape sequence and a bidi override).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, TEST_KEY

ESC = "\x1b"
RLO = "\u202e"
HOSTILE = f"[/bold][red]x[/red]:warning:{ESC}[2J{RLO}evil"  # markup, an emoji code, a screen clear, an override
SHOWN = "[/bold][red]x[/red]:warning:\\x1b[2J\\u202eevil"  # how a terminal must show it


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def governance(*args: str, cwd: Path, env: dict[str, str | None] | None = None) -> Result:
    """Run the command line in a subprocess, with the test key and no tracking server (``None`` unsets a variable)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GOVERNANCE_STRICT")}
    environ.update({"GOVERNANCE_PSEUDONYM_KEY": TEST_KEY, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    done = subprocess.run(
        [sys.executable, "-m", "governance", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_safe(result: Result) -> None:
    """No traceback, no escape character, no bidi override reached the terminal."""
    both = result.stdout + result.stderr
    assert "Traceback" not in both and "MarkupError" not in both, both
    assert ESC not in both and RLO not in both


def write_config(folder: Path, default_raw: dict[str, Any], frame: pd.DataFrame, **output: str) -> Path:
    """A config with one fast candidate and its data in ``folder``; ``output`` replaces the output folders."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "accounts.parquet", index=False)
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = "accounts.parquet"
    raw["data"].pop("generate", None)
    raw["mlflow"]["embedded_store"] = "mlruns"
    raw["output"] = {"reports": "reports", "models": "models", **output}
    raw["audit"]["bootstrap"] = 50
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["sensitive"]["attributes"][0]["categories"].append(HOSTILE)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def hostile_frame(accounts: pd.DataFrame) -> pd.DataFrame:
    frame = accounts.copy()
    frame["ownership"] = frame["ownership"].astype(object)
    frame.loc[frame.index[:600], "ownership"] = HOSTILE  # a sensitive category of the data
    return frame


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any], hostile_frame: pd.DataFrame
) -> tuple[Path, Result]:
    """One governance run with the hostile group: its folder (config, store, reports) and its output."""
    folder = tmp_path_factory.mktemp("hostile")
    config = write_config(folder, default_raw, hostile_frame)
    return folder, governance("run", "--config", str(config), cwd=folder)


def test_a_hostile_group_is_shown_literally_in_the_terminal_and_neutralized_in_the_card(
    trained: tuple[Path, Result],
) -> None:
    folder, result = trained
    assert result.code in (0, 1), result.stderr
    assert_safe(result)
    checked = governance("data", "check", "--config", str(folder / "config.yaml"), cwd=folder)
    assert checked.code == 0
    assert_safe(checked)
    assert SHOWN in checked.stdout  # every character kept, as text
    (html,) = (folder / "reports" / "cards").glob("*/card.html")
    page = html.read_text()
    assert RLO not in page and ESC not in page
    assert "x[/red]:warning:\\x1b[2J\\u202eevil" in page  # shown as escapes, the page's text left in its order


@pytest.mark.parametrize(
    "name", ["[/bold]", "[red]x[/red]", "a\\[/b]\\", ":warning: [bold]"], ids=["close", "tags", "backslash", "emoji"]
)
def test_a_reviewer_with_markup_in_the_name_is_recorded_once_and_later_reviews_still_work(
    trained: tuple[Path, Result], name: str
) -> None:
    folder, _ = trained
    config = str(folder / "config.yaml")
    first = governance(
        "review",
        "-c",
        config,
        "--model-version",
        "1",
        "--reviewer",
        name,
        "--note",
        "[/b] fine",
        "--approve",
        cwd=folder,
    )
    assert first.code == 0, first.stderr
    assert_safe(first)
    assert f"by {name} at " in first.stdout  # shown as typed, not taken for markup
    later = governance(
        "review", "-c", config, "--model-version", "1", "--reviewer", "later", "--note", "ok", "--reject", cwd=folder
    )
    assert later.code == 0, later.stderr
    assert_safe(later)
    approvals = next(line for line in later.stdout.splitlines() if line.startswith("approvals: "))
    assert approvals.count(name) == 1  # recorded once, listed as typed


def test_a_reviewer_or_a_note_with_an_escape_sequence_is_refused_cleanly(trained: tuple[Path, Result]) -> None:
    folder, _ = trained
    config = str(folder / "config.yaml")
    for reviewer, note in ((f"bob{ESC}[2J{RLO}", "ok"), ("bob", f"fine{ESC}[31m{RLO}")):
        result = governance(
            "review", "-c", config, "--model-version", "1", "--reviewer", reviewer, "--note", note, "--approve",
            cwd=folder,
        )  # fmt: skip
        assert result.code == 2
        assert_safe(result)
        assert result.stderr.startswith("error: ")


def test_a_hostile_path_is_shown_escaped_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / f"[/bold]{ESC}[2J{RLO}:warning:.yaml"
    for args in (["config", "check", str(path)], ["gate", "--card", str(path)], ["run", "--config", str(path)]):
        result = governance(*args, cwd=tmp_path)
        assert result.code == 2, result.stderr
        assert_safe(result)
        assert "[/bold]\\x1b[2J\\u202e:warning:.yaml" in result.stderr


def test_a_usage_error_with_an_escape_sequence_is_shown_escaped(tmp_path: Path) -> None:
    result = governance("run", f"--no-such{ESC}[2J{RLO}", cwd=tmp_path)
    assert result.code == 2
    assert_safe(result)
    assert "--no-such\\x1b[2J\\u202e" in result.stderr


def test_outputs_onto_a_folder_are_exit_two_naming_the_option(trained: tuple[Path, Result], tmp_path: Path) -> None:
    folder, _ = trained
    (card,) = (folder / "reports" / "cards").glob("*/card.json")
    junit = governance("gate", "--card", str(card), "--junit", str(tmp_path), cwd=folder)
    assert junit.code == 2, junit.stderr
    assert "'--junit': expected a file, found a folder" in junit.stderr  # refused as the options are read
    explain = governance(
        "explain", "-c", str(folder / "config.yaml"), "--account", "A-1", "--out", str(tmp_path), cwd=folder
    )
    assert explain.code == 2, explain.stderr
    assert "--out: expected a file, found a folder" in explain.stderr
    (tmp_path / "accounts.csv").mkdir()
    generate = governance("data", "generate", "--rows", "10", "--out", str(tmp_path / "accounts.csv"), cwd=tmp_path)
    assert generate.code == 2 and "--out: expected a file, found a folder" in generate.stderr
    for result in (junit, explain, generate):
        assert_safe(result)


@pytest.mark.parametrize("key", ["reports", "models"])
def test_an_output_folder_that_is_a_file_is_exit_two_before_any_training(
    tmp_path: Path, default_raw: dict[str, Any], accounts: pd.DataFrame, key: str
) -> None:
    (tmp_path / "taken").write_text("a file where a folder is expected")
    config = write_config(tmp_path, default_raw, accounts, **{key: "taken"})
    result = governance("run", "--config", str(config), cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert_safe(result)
    assert f"output.{key}: expected a folder, found a file" in result.stderr
    assert not (tmp_path / "mlruns").exists()  # no store, so no MLflow run, was made


def test_a_password_in_the_tracking_uri_is_exit_two_from_the_config_and_from_the_environment(
    trained: tuple[Path, Result], tmp_path: Path, default_raw: dict[str, Any], accounts: pd.DataFrame
) -> None:
    folder, _ = trained
    from_env = governance(
        "review", "-c", str(folder / "config.yaml"), "--model-version", "1", "--reviewer", "a", "--note", "b",
        "--approve", cwd=folder, env={"MLFLOW_TRACKING_URI": "https://bob:hunter2@mlflow.example.com"},
    )  # fmt: skip
    assert from_env.code == 2, from_env.stderr
    assert "MLFLOW_TRACKING_URI: the URI carries a password" in from_env.stderr
    config = write_config(tmp_path, default_raw, accounts)
    raw = yaml.safe_load(config.read_text())
    raw["mlflow"]["tracking_uri"] = "https://bob:hunter2@mlflow.example.com"
    config.write_text(yaml.safe_dump(raw))
    from_config = governance("run", "--config", str(config), cwd=tmp_path)
    assert from_config.code == 2, from_config.stderr
    assert "mlflow.tracking_uri" in from_config.stderr and "password" in from_config.stderr
    for result in (from_env, from_config):
        assert "hunter2" not in result.stdout + result.stderr
        assert_safe(result)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make a SQLite store read-only, also for root (immutable files), and writable again after."""
    paths = [folder / "mlflow.db", folder]
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
        if immutable:
            subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        for path in paths:
            if immutable:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_store_is_one_error_line_without_sqlalchemy_tracebacks(
    trained: tuple[Path, Result], tmp_path: Path
) -> None:
    folder, _ = trained
    copy_ = tmp_path / "copy"
    shutil.copytree(folder, copy_)
    args = ("review", "-c", str(copy_ / "config.yaml"), "--model-version", "1", "--reviewer", "r", "--note", "n")
    with read_only(copy_ / "mlruns"):
        result = governance(*args, "--approve", cwd=copy_)
        debug = governance("--debug", *args, "--approve", cwd=copy_)
    assert result.code == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: MLflow could not record the review"), result.stderr
    assert "[SQL" not in result.stderr and "parameters" not in result.stderr
    assert debug.code == 3  # --debug keeps the code, and shows where it failed
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1] == lines[0]


def test_debug_keeps_the_exit_code_and_adds_the_traceback(trained: tuple[Path, Result], tmp_path: Path) -> None:
    folder, _ = trained
    config = str(folder / "config.yaml")
    cases: list[tuple[int, list[str], dict[str, str | None]]] = [
        (2, ["config", "check", str(tmp_path / "missing.yaml")], {}),
        (4, ["data", "check", "--config", config], {"GOVERNANCE_STRICT": "1", "GOVERNANCE_PSEUDONYM_KEY": None}),
    ]
    for code, args, env in cases:
        plain = governance(*args, cwd=folder, env=env)
        debug = governance("--debug", *args, cwd=folder, env=env)
        assert plain.code == debug.code == code, (plain.stderr, debug.stderr)
        assert "Traceback" not in plain.stderr
        assert "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.rstrip().splitlines()[-1] == plain.stderr.rstrip().splitlines()[-1]
        assert_safe(plain)
