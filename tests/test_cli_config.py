"""``governance config check`` reads the data file's header (or Parquet schema) and finds every column it lacks."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.data import read_columns
from governance.errors import DataValidationError
from tests.test_scaffold import people

runner = CliRunner()


def _config(tmp_path: Path, suffix: str = ".csv") -> Path:
    """Write the applicants' file and an init-written config with its TODOs filled in."""
    data = tmp_path / f"applicants{suffix}"
    frame = people()
    if suffix == ".parquet":
        frame.to_parquet(data, index=False)
    else:
        frame.to_csv(data, index=False)
    config = tmp_path / "applicants.yaml"
    result = runner.invoke(
        app, ["init", "--data", str(data), "--label", "bad_payer", "--sensitive", "years", "--config", str(config)]
    )
    assert result.exit_code == 0, result.stderr
    config.write_text(re.sub(r'"TODO:[^"]*"', '"Written for the test."', config.read_text()))
    return config


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_columns_reads_the_header_or_the_schema(tmp_path: Path, suffix: str) -> None:
    config = _config(tmp_path, suffix)
    assert read_columns(config.parent / f"applicants{suffix}") == tuple(people().columns)


def test_a_valid_config_with_every_column_in_the_file_passes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(_config(tmp_path))])
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout


def test_a_missing_column_is_one_problem_with_a_close_match(tmp_path: Path) -> None:
    config = _config(tmp_path)
    text = config.read_text().replace("- name: credit_amount", "- name: credit_amnt")
    config.write_text(text.replace("label: bad_payer", "label: bad_payr"))
    result = runner.invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "2 config problem(s)" in result.stderr
    assert "column 'credit_amnt' is not in applicants.csv; did you mean 'credit_amount'?" in result.stderr
    assert "data.label: column 'bad_payr' is not in applicants.csv; did you mean 'bad_payer'?" in result.stderr


def test_no_data_skips_the_reading(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("- name: credit_amount", "- name: credit_amnt"))
    result = runner.invoke(app, ["config", "check", "--no-data", str(config)])
    assert result.exit_code == 0, result.stderr


def test_a_data_file_of_another_format_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("path: applicants.csv", "path: applicants.xlsx"))
    result = runner.invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "data.path: expected a .csv or .parquet file, found 'applicants.xlsx'" in result.stderr
    with pytest.raises(DataValidationError, match=r"expected a \.csv or \.parquet file"):
        read_columns(tmp_path / "applicants.xlsx")


def test_a_missing_data_file_is_a_problem_unless_it_is_generated(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "applicants.csv").unlink()
    result = runner.invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 2 and "file not found" in result.stderr
    text = config.read_text().replace(
        "  path: applicants.csv\n", "  path: applicants.csv\n  generate:\n    rows: 1000\n"
    )
    config.write_text(text)
    result = runner.invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 0, result.stderr


def test_the_header_of_a_csv_is_all_that_is_read(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b,c\n1,2,\xff\xfe not text\n")  # a BOM, then a row that is not UTF-8
    assert read_columns(path) == ("a", "b", "c")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "one.parquet")
    assert read_columns(tmp_path / "one.parquet") == ("x",)
