"""`governance audit`: bring-your-own predictions from a file, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from governance.audit import audit
from governance.cli import app
from governance.datasets import generate_accounts

runner = CliRunner()


@pytest.fixture(scope="module")
def predictions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = generate_accounts(6000, seed=4, bias=1.0)
    rng = np.random.default_rng(1)
    logit = np.log1p(frame["web_visits_30d"]) + frame["intent_score"] / 30 - 4 + rng.normal(0, 1, len(frame))
    frame["score"] = 1 / (1 + np.exp(-logit))
    frame["decision"] = (frame["score"] > 0.5).astype(int)
    path = tmp_path_factory.mktemp("preds") / "preds.csv"
    frame[["converted_90d", "score", "decision", "ownership", "size_band", "region", "contact_email"]].to_csv(
        path, index=False
    )
    return path, pd.read_csv(path, keep_default_na=False, na_values=[""])


def _base(path: Path) -> list[str]:
    return ["audit", "--data", str(path), "--label", "converted_90d", "--sensitive", "ownership,size_band"]


def test_audit_writes_the_document_that_the_library_computes(
    predictions: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = predictions
    out = tmp_path / "audit.json"
    args = [*_base(path), "--score", "score", "--top-k", "0.2", "--intersections", "--reference", "ownership=none"]
    result = runner.invoke(app, [*args, "--bootstrap", "200", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    expected = audit(
        frame["converted_90d"],
        frame["score"],
        sensitive={"ownership": frame["ownership"], "size_band": frame["size_band"]},
        top_k=0.2,
        intersections="all",
        reference={"ownership": "none"},
        n_boot=200,
        seed=3,
    ).to_dict()
    assert document == json.loads(json.dumps(expected))
    assert document["schema"] == "governance.audit/1"
    assert {a["name"] for a in document["attributes"]} == {"ownership", "size_band", "ownership & size_band"}
    assert "by ownership & size_band" in result.stdout
    assert "demographic_parity_ratio" in result.stdout


def test_audit_of_decisions_reports_score_metrics_as_undefined(
    predictions: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, _ = predictions
    out = tmp_path / "audit.json"
    result = runner.invoke(app, [*_base(path), "--decision", "decision", "--bootstrap", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["decision_rule"]["kind"] == "decisions"
    assert document["overall"]["auc"]["status"] == "undefined"
    assert document["overall"]["selection_rate"]["status"] == "ok"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--score", "nope", "--top-k", "0.2"], "--score: no column 'nope' in preds.csv"),
        (["--score", "score", "--decision", "decision", "--top-k", "0.2"], "--score/--decision: expected exactly one"),
        (["--score", "score"], "--threshold/--top-k: scores need exactly one decision rule"),
        (["--score", "score", "--top-k", "1.5"], "--top-k: expected a share of rows in (0, 1]"),
        (["--score", "score", "--threshold", "5"], "--threshold: expected a threshold in [0, 1]"),
        (["--score", "score", "--threshold", "0.9999"], "--threshold: 0.9999 is above every score"),
        (["--score", "score", "--top-k", "0.2", "--reference", "ownership"], "--reference: expected ATTR=GROUP"),
        (["--score", "score", "--top-k", "0.2", "--reference", "owner=none"], "--reference owner: not an attribute"),
    ],
)
def test_bad_options_exit_two_naming_the_option(
    predictions: tuple[Path, pd.DataFrame], extra: list[str], expected: str
) -> None:
    path, _ = predictions
    result = runner.invoke(app, [*_base(path), *extra])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_non_binary_label_exits_two_naming_the_column(predictions: tuple[Path, pd.DataFrame]) -> None:
    path, _ = predictions
    args = ["audit", "--data", str(path), "--label", "score", "--score", "score", "--top-k", "0.2"]
    result = runner.invoke(app, [*args, "--sensitive", "ownership"])
    assert result.exit_code == 2
    assert "--label score:" in result.stderr


def test_non_finite_scores_exit_two(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [0, 1] * 50, "s": [0.1, np.nan] * 50, "g": ["a", "b"] * 50})
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    args = ["audit", "--data", str(path), "--label", "y", "--score", "s", "--sensitive", "g", "--top-k", "0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--score s: 50 non-finite values" in result.stderr


def test_personal_data_as_audit_group_is_refused(predictions: tuple[Path, pd.DataFrame]) -> None:
    path, frame = predictions
    args = ["audit", "--data", str(path), "--label", "converted_90d", "--score", "score", "--top-k", "0.2"]
    result = runner.invoke(app, [*args, "--sensitive", "contact_email"])
    assert result.exit_code == 4
    assert "--sensitive contact_email: its values look like e-mail addresses" in result.stderr
    assert not any(email in result.output for email in frame["contact_email"].head(100))


def test_missing_sensitive_values_are_an_error_or_a_group(tmp_path: Path) -> None:
    frame = pd.DataFrame({"y": [0, 1] * 60, "s": np.linspace(0.01, 0.99, 120), "g": ["a", "b", ""] * 40})
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    args = ["audit", "--data", str(path), "--label", "y", "--score", "s", "--sensitive", "g", "--top-k", "0.5"]
    result = runner.invoke(app, [*args, "--bootstrap", "0"])
    assert result.exit_code == 2
    assert "--sensitive g" in result.stderr
    assert "40" in result.stderr
    out = tmp_path / "a.json"
    result = runner.invoke(app, [*args, "--bootstrap", "0", "--missing", "group", "--out", str(out)])
    assert result.exit_code == 0, result.output
    groups = {g["group"]: g["n"] for g in json.loads(out.read_text())["groups"]}
    assert groups == {"a": 40, "b": 40, "unknown": 40}


def test_the_audits_problems_are_named_by_the_option_that_gave_the_argument() -> None:
    from governance.cli.audit import _named_for_the_command, _Request
    from governance.errors import Problem, ProblemCode

    request = _Request("converted_90d", "score", None, ["ownership", "region"], {"ownership": "none"})
    structured = Problem.for_parameter("sensitive", "40 missing values", key="region", code=ProblemCode.MISSING)
    assert structured.location == "sensitive['region']"
    named = _named_for_the_command(structured, request)
    assert (named.location, named.message, named.code) == ("--sensitive region", "40 missing values", "missing")
    assert _named_for_the_command(Problem.for_parameter("y_true", "not binary"), request).location == (
        "--label converted_90d"
    )
    reference = Problem.for_parameter("reference", "absent", key="ownership", code=ProblemCode.UNKNOWN_NAME)
    assert _named_for_the_command(reference, request).location == "--reference ownership"
    assert _named_for_the_command(Problem.for_parameter("top_k", "too large"), request).location == "--top-k"
    assert _named_for_the_command(Problem.for_parameter("n_boot", "negative"), request).location == "n_boot"
    # the location is never read: a problem without its parameter keeps the location it has
    assert _named_for_the_command(Problem("top_k", "too large"), request).location == "top_k"
