"""`governance audit`: bring-your-own predictions from a file, through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
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
    # publish_min_group_size 1 publishes every group: the document is the library's, whole
    result = runner.invoke(
        app, [*args, "--bootstrap", "200", "--seed", "3", "--publish-min-group-size", "1", "--out", str(out)]
    )
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
    assert "fewer than 10" not in result.stdout


def test_groups_below_the_publication_minimum_are_withheld_from_the_table_and_the_document(
    predictions: tuple[Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.cli._app import out as console

    monkeypatch.setattr(console, "width", 400)  # a terminal wide enough that no group name wraps
    path, frame = predictions
    out = tmp_path / "audit.json"
    args = [*_base(path), "--score", "score", "--top-k", "0.2", "--intersections", "--bootstrap", "0"]
    result = runner.invoke(app, [*args, "--out", str(out)])  # the default minimum: 10, as the config's
    assert result.exit_code == 0, result.output
    expected = audit(
        frame["converted_90d"],
        frame["score"],
        sensitive={"ownership": frame["ownership"], "size_band": frame["size_band"]},
        top_k=0.2,
        intersections="all",
        n_boot=0,
    )
    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(expected.to_dict(publish_min_group_size=10)))
    small = {g.group: g.n for g in expected.groups if 0 < g.n < 10}
    assert small == {"veteran_owned & enterprise": 1, "minority_owned & enterprise": 7, "women_owned & enterprise": 7}
    published = {g["group"]: g for g in document["groups"]}
    for name in small:
        assert published[name]["n"] is None and published[name]["n_published"] == "fewer than 10"
        assert all(m["value"] is None for m in published[name]["metrics"].values())
        (line,) = [row for row in result.stdout.splitlines() if row.startswith(f"│ {name} ")]
        assert "fewer than 10" in line
        assert re.sub(r"fewer than 10", "", line.replace(name, "")).strip("│ ") == ""  # neither count nor value
    assert "3 group(s) of fewer than 10 rows, shown without count or values" in result.stdout
    lower = runner.invoke(app, [*args, "--publish-min-group-size", "5"])
    assert lower.exit_code == 0, lower.output
    (line,) = [row for row in lower.stdout.splitlines() if row.startswith("│ minority_owned & enterprise ")]
    assert re.search(r"│ +7 │", line) and "fewer than" not in line


def _credit_file(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Credit scores in 300..850 with a six-group race and a two-group sex."""
    rng = np.random.default_rng(5)
    n = 4000
    race = rng.choice(_RACES, n, p=[0.42, 0.05, 0.35, 0.12, 0.02, 0.04])
    y = (rng.random(n) < 0.35).astype(int)
    credit = np.clip(np.round(575 + 120 * (y - 0.35) + rng.normal(0, 90, n)), 300, 850).astype(int)
    frame = pd.DataFrame({"y": y, "credit": credit, "race": race, "sex": rng.choice(["F", "M"], n)})
    path = tmp_path / "credit.csv"
    frame.to_csv(path, index=False)
    return path, frame


_RACES = ["African-American", "Asian", "Caucasian", "Hispanic", "Native American", "Other"]


def _credit_args(path: Path, *extra: str) -> list[str]:
    return ["audit", "--data", str(path), "--label", "y", "--score", "credit", "--bootstrap", "0", *extra]


@pytest.mark.parametrize("rule", [["--threshold", "650"], ["--top-k", "0.2"]])
def test_credit_scores_rank_and_the_probability_metrics_are_undefined(tmp_path: Path, rule: list[str]) -> None:
    path, frame = _credit_file(tmp_path)
    out = tmp_path / "audit.json"
    result = runner.invoke(app, _credit_args(path, *rule, "--sensitive", "race", "--out", str(out)))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["scores_are_probabilities"] is False
    assert document["overall"]["auc"]["value"] == pytest.approx(roc_auc_score(frame["y"], frame["credit"]))
    assert document["decision_rule"]["selected"] > 0
    for metric in ("mean_score", "calibration_gap"):
        assert document["overall"][metric] == {
            "value": None,
            "ci": None,
            "status": "undefined",
            "reason": "scores are not probabilities",
        }
    assert {f["status"] for f in document["fairness"]} == {"ok"}
    assert "scores rank only (not probabilities: mean score and calibration gap undefined)" in result.stdout


def test_scores_can_be_said_to_be_probabilities_or_not(predictions: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    path, _ = predictions
    out = tmp_path / "audit.json"
    args = [*_base(path), "--score", "score", "--top-k", "0.2", "--bootstrap", "0", "--out", str(out)]
    result = runner.invoke(app, [*args, "--scores-are-not-probabilities"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["scores_are_probabilities"] is False
    assert document["overall"]["calibration_gap"]["reason"] == "scores are not probabilities"
    assert document["overall"]["auc"]["status"] == "ok"
    result = runner.invoke(app, [*args, "--scores-are-probabilities"])
    assert result.exit_code == 0, result.output
    assert "scores_are_probabilities" not in json.loads(out.read_text())
    credit, _ = _credit_file(tmp_path)
    refused = runner.invoke(
        app, _credit_args(credit, "--top-k", "0.2", "--sensitive", "race", "--scores-are-probabilities")
    )
    assert refused.exit_code == 2
    assert (
        "--scores-are-probabilities/--scores-are-not-probabilities: 4000 scores are outside [0, 1], "
        "so they are not probabilities" in refused.stderr
    )


def test_compare_restricts_the_comparisons_to_two_of_six_groups(tmp_path: Path) -> None:
    path, frame = _credit_file(tmp_path)
    documents = []
    for compare in (["--compare", "race=African-American,Caucasian"], ["--compare", "African-American,Caucasian"]):
        out = tmp_path / f"audit{len(documents)}.json"
        args = _credit_args(path, "--threshold", "650", "--sensitive", "race", "--reference", "race=Caucasian")
        result = runner.invoke(app, [*args, *compare, "--out", str(out)])
        assert result.exit_code == 0, result.output
        documents.append(json.loads(out.read_text()))
    assert documents[0] == documents[1]
    document = documents[0]
    assert document["attributes"][0]["compared_groups"] == ["African-American", "Caucasian"]
    assert len(document["groups"]) == 6
    assert "disparities and fairness metrics compare 2 groups only: African-American, Caucasian" in result.stdout
    assert "Asian (not compared)" in result.stdout
    # the same comparisons as a file holding the two groups only
    filtered_path = tmp_path / "two.csv"
    frame[frame["race"].isin(["African-American", "Caucasian"])].to_csv(filtered_path, index=False)
    filtered_out = tmp_path / "two.json"
    args = _credit_args(filtered_path, "--threshold", "650", "--sensitive", "race", "--reference", "race=Caucasian")
    assert runner.invoke(app, [*args, "--out", str(filtered_out)]).exit_code == 0
    filtered = json.loads(filtered_out.read_text())
    assert document["fairness"] == filtered["fairness"]
    for mine, theirs in zip(document["disparities"], filtered["disparities"], strict=True):
        if mine["metric"] != "auc":  # the AUC's DeLong variance uses score bins over all rows
            assert mine == theirs
        if mine["metric"] not in ("mean_score", "calibration_gap"):  # undefined for every group
            assert mine["groups_compared"] == 2
            assert mine["excluded_groups"] == []  # the other four are not compared, not excluded


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--sensitive", "race", "--compare", "race=African-American,White"],
            "--compare race: no group 'White' in race; expected one of the 6 groups found: "
            "African-American, Asian, Caucasian, Hispanic, Native American, Other",
        ),
        (
            ["--sensitive", "race", "--reference", "race=White"],
            "--reference race: no group 'White' in race; expected one of the 6 groups found: African-American",
        ),
        (
            ["--sensitive", "race,sex", "--compare", "African-American,Caucasian"],
            "--compare: expected ATTR=GROUP,GROUP as --sensitive names 2 attributes",
        ),
        (["--sensitive", "race", "--compare", "race=Asian"], "--compare: expected at least 2 groups"),
        (
            ["--sensitive", "race", "--compare", "race=Asian,Other", "--compare", "race=Asian,Hispanic"],
            "--compare: 'race' is given twice",
        ),
        (
            ["--sensitive", "race", "--compare", "race=Asian,Other", "--reference", "race=Caucasian"],
            "--reference race: the reference group is not among the 2 groups compared",
        ),
        (["--sensitive", "race", "--compare", "sex=F,M"], "--compare sex: not an attribute being audited"),
    ],
)
def test_unknown_or_bad_comparisons_exit_two_naming_the_groups_found(
    tmp_path: Path, extra: list[str], expected: str
) -> None:
    path, _ = _credit_file(tmp_path)
    result = runner.invoke(app, _credit_args(path, "--threshold", "650", *extra))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr


def _header(stdout: str, title: str) -> str:
    """The header row of the table with this title."""
    lines = stdout.splitlines()
    return lines[lines.index(title) + 2]


def test_metrics_choose_the_columns_of_the_group_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _credit_file(tmp_path)
    out = tmp_path / "audit.json"
    args = _credit_args(path, "--threshold", "650", "--sensitive", "race", "--out", str(out))
    default = runner.invoke(app, args)
    assert default.exit_code == 0, default.output
    labels = [cell.strip() for cell in _header(default.stdout, "by race").split("┃")[1:-1]]
    assert labels == ["group", "n", "selection rate", "TPR", "FPR", "precision", "AUC"]  # as before the option
    chosen = runner.invoke(app, [*args, "--metrics", "FNR,selection_rate"])
    assert chosen.exit_code == 0, chosen.output
    header = _header(chosen.stdout, "by race")
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["group", "n", "FNR", "selection rate"]
    document = json.loads(out.read_text())
    for group in document["groups"]:
        fnr = group["metrics"]["false_negative_rate"]
        text = f"{fnr['value']:.3f}" + (f" [{fnr['ci'][0]:.3f}, {fnr['ci'][1]:.3f}]" if fnr["ci"] else " *")
        (line,) = [row for row in chosen.stdout.splitlines() if row.startswith(f"│ {group['group']} ")]
        assert text in line
    from governance.cli._app import out as console

    monkeypatch.setattr(console, "width", 400)  # a terminal wide enough for every column unwrapped
    every = runner.invoke(app, [*args, "--metrics", "all"])
    assert every.exit_code == 0, every.output
    labels = [cell.strip() for cell in _header(every.stdout, "by race").split("┃")[1:-1]]
    assert labels == [
        "group",
        "n",
        "base rate",
        "selection rate",
        "TPR",
        "FPR",
        "FNR",
        "TNR",
        "precision",
        "NPV",
        "accuracy",
        "AUC",
        "mean score",
        "calibration gap",
        "precision at k",
    ]


def test_unknown_metrics_exit_two_listing_the_valid_ones(tmp_path: Path) -> None:
    path, _ = _credit_file(tmp_path)
    result = runner.invoke(
        app, _credit_args(path, "--threshold", "650", "--sensitive", "race", "--metrics", "fnr,bogus")
    )
    assert result.exit_code == 2
    assert "--metrics: expected 'all' or a comma-separated list of base_rate, selection_rate" in result.stderr
    assert "fnr (false_negative_rate)" in result.stderr
    assert "found unknown 'bogus'" in result.stderr


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
        (
            ["--score", "score", "--threshold", "0.9999"],
            "--threshold: 0.9999 is above every score, so it selects no row",
        ),
        (
            ["--score", "score", "--threshold", "0"],
            "--threshold: 0 is at or below every score, so it selects every row",
        ),
        (["--score", "score", "--top-k", "0.2", "--reference", "ownership"], "--reference: expected ATTR=GROUP"),
        (
            ["--score", "score", "--threshold", "5", "--scores-are-not-probabilities"],
            "--threshold: 5 is above every score, so it selects no row",
        ),
        (
            ["--decision", "decision", "--scores-are-not-probabilities"],
            "--scores-are-probabilities/--scores-are-not-probabilities: no scores are given (decisions only)",
        ),
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
