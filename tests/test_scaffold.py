"""``governance init``: from a data file nobody configured to a config that validates once its TODOs are written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config
from governance.errors import ConfigError
from governance.policy import load_policy
from governance.scaffold import DEFAULT_POLICY, propose, write_scaffold

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def people(rows: int = 1_200, seed: int = 3) -> pd.DataFrame:
    """Loan applicants: an integer age, coded categoricals, an e-mail and a name column, no consent column."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    status = rng.choice(["S1", "S2", "S3"], rows, p=[0.5, 0.3, 0.2])
    amount = np.round(rng.gamma(2.0, 2000.0, rows), 2)
    logit = -1.0 + 0.8 * (status == "S3") + 0.00005 * (amount - 4000) - 0.01 * (age - 45)
    frame = pd.DataFrame(
        {
            "client_no": np.arange(rows),
            "applicant_ref_id": rng.permutation(rows) + 5_000,
            "full_name": [f"Applicant Number{i}" for i in range(rows)],
            "reach": [f"applicant{i}@example.org" for i in range(rows)],
            "years": age,
            "civil_status": status,
            "purpose_code": rng.choice(["P10", "P20", "P30", "P40"], rows),
            "credit_amount": amount,
            "dependants": rng.integers(0, 4, rows),
            "bad_payer": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    frame.loc[rng.choice(rows, 40, replace=False), "civil_status"] = None
    return frame


def _filled(text: str) -> str:
    """Replace every TODO as a person would, by text substitution only."""
    return re.sub(r'"TODO:[^"]*"', '"Written by a reviewer for this test."', text)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "applicants.csv"
    people().to_csv(path, index=False)
    return path


def _init(data: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["init", "--data", str(data), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_config_that_validates_once_its_todos_are_written(data_file: Path) -> None:
    config_path = data_file.parent / "applicants.yaml"
    code, out, err = _init(
        data_file, "--label", "bad_payer", "--sensitive", "years,civil_status", "--subject", "applicant",
        "--config", str(config_path),
    )  # fmt: skip
    assert code == 0, err
    text = config_path.read_text()
    policy_path = data_file.parent / "applicants.policy.yaml"
    assert policy_path.read_text() == DEFAULT_POLICY
    with pytest.raises(ConfigError, match="TODO"):
        load_config(config_path)
    config_path.write_text(_filled(text))
    config = load_config(config_path)
    # the id: the id-like column with unique values (client_no is unique but not named like an id)
    assert config.data.id_column == "applicant_ref_id"
    assert config.data.label == "bad_payer"
    # personal data by name and by value; never a feature, and their values never printed
    assert set(config.data.pii_columns) == {"full_name", "reach"}
    assert "Applicant Number" not in out and "@example.org" not in out
    assert "full_name" in out and "pii" in out
    # the integer age is binned into round bands, its reference the largest band
    years = config.sensitive.attributes[0]
    assert years.bins is not None and years.categories is None
    assert all(float(b).is_integer() and b % 5 == 0 for b in years.bins)
    bands = pd.cut(people()["years"], [-np.inf, *years.bins, np.inf], right=False, labels=list(years.groups or ()))
    assert years.reference == bands.value_counts().idxmax()
    # a coded categorical: every value found, sorted, the largest as reference; missing values are a group
    status = config.sensitive.attributes[1]
    assert status.categories is not None and list(status.categories[:3]) == ["S1", "S2", "S3"]
    assert status.reference == "S1" and status.missing == "group"
    assert config.sensitive.intersections == (("years", "civil_status"),)
    # every other column is a feature, by dtype
    kinds = {f.name: f.type for f in config.features}
    assert kinds == {
        "client_no": "numeric",
        "purpose_code": "categorical",
        "credit_amount": "numeric",
        "dependants": "numeric",
    }
    # the dataset-wide lawful basis, since there is no consent column
    assert not config.data.consent.per_row and config.data.consent.lawful_basis == "research"
    assert config.purpose.subject == "applicant"
    assert config.purpose.intended_use == "Rank applicants by their predicted probability of bad_payer = 1."
    assert [c.kind for c in config.candidates] == ["logistic_regression", "lightgbm", "logistic_regression"]
    assert config.candidates[1].params["n_jobs"] == 1
    assert config.candidates[2].mitigation is not None and config.candidates[2].mitigation.attribute == "years"
    assert config.mlflow.experiment == "applicants" and config.mlflow.embedded_store == data_file.parent / "mlruns"
    # the policy: every rule applies to every attribute and intersection
    assert config.policy.rules and all(rule.attribute is None for rule in config.policy.rules)
    # every section is commented, as in configs/default.yaml
    for section in ("purpose", "data", "features", "sensitive", "candidates", "audit", "explain", "policy", "mlflow"):
        before = text.split(f"\n{section}:", 1)[0].rstrip().splitlines()[-1]
        assert before.startswith("#"), section


def test_the_generic_policy_is_the_shipped_default_and_names_no_attribute() -> None:
    shipped = ROOT / "configs" / "policies" / "default.yaml"
    assert shipped.read_text() == DEFAULT_POLICY
    policy = load_policy(shipped)
    assert [r.metric for r in policy.rules] == ["selection_rate", "equalized_odds_difference", "auc", "auc"]
    assert all(rule.attribute is None for rule in policy.rules)
    four_fifths = policy.rules[0]
    assert (four_fifths.scope, four_fifths.statistic, four_fifths.bound, four_fifths.side) == (
        "disparity", "ratio", 0.8, "min",
    )  # fmt: skip
    assert policy.rules[1].on_inconclusive == "warn" and policy.rules[1].bound == 0.1
    assert [r.scope for r in policy.rules[2:]] == ["overall", "groups"]
    assert yaml.safe_load(DEFAULT_POLICY)["rules"] == yaml.safe_load(shipped.read_text())["rules"]


def test_init_refuses_without_a_label(data_file: Path) -> None:
    code, _, err = _init(data_file, "--sensitive", "years")
    assert code == 2
    assert "no label given" in err and "'bad_payer'" in err
    assert not (Path.cwd() / "applicants.yaml").exists()


def test_init_refuses_a_label_that_is_not_binary_and_says_how_to_recode_it(tmp_path: Path) -> None:
    frame = people()
    frame["bad_payer"] = np.where(frame["bad_payer"] == 1, "bad", "good")
    frame.to_csv(tmp_path / "two.csv", index=False)
    code, _, err = _init(
        tmp_path / "two.csv", "--label", "bad_payer", "--sensitive", "years", "--config", str(tmp_path / "c.yaml")
    )
    assert code == 2
    assert "'bad' and 'good'" in err and "recode" in err
    assert "@example.org" not in err and "Applicant Number" not in err
    frame["bad_payer"] = np.arange(len(frame)) % 3
    frame.to_csv(tmp_path / "three.csv", index=False)
    code, _, err = _init(
        tmp_path / "three.csv", "--label", "bad_payer", "--sensitive", "years", "--config", str(tmp_path / "c.yaml")
    )
    assert code == 2 and "3 distinct values" in err
    assert not (tmp_path / "c.yaml").exists()


def test_init_refuses_when_no_column_identifies_a_row(tmp_path: Path) -> None:
    frame = people().drop(columns=["applicant_ref_id", "client_no"])
    frame.to_csv(tmp_path / "noid.csv", index=False)
    code, _, err = _init(
        tmp_path / "noid.csv", "--label", "bad_payer", "--sensitive", "years", "--config", str(tmp_path / "c.yaml")
    )
    assert code == 2
    assert "no column identifies a row uniquely" in err and "--id" in err


def test_init_proposes_a_weaker_id_name_then_a_single_distinct_column_and_id_wins(tmp_path: Path) -> None:
    frame = people().drop(columns=["applicant_ref_id"])
    cases = [
        ({}, [], "client_no"),  # named like a number: *_no
        ({"client_no": "serial"}, [], "serial"),  # no id-like name: the only column of distinct values
        ({}, ["--id", "client_no"], "client_no"),
    ]
    for i, (rename, extra, expected) in enumerate(cases):
        path = tmp_path / f"data{i}.csv"
        frame.rename(columns=rename).to_csv(path, index=False)
        config = tmp_path / f"c{i}.yaml"
        code, _, err = _init(path, "--label", "bad_payer", "--sensitive", "years", *extra, "--config", str(config))
        assert code == 0, err
        assert load_config_text(config)["data"]["id_column"] == expected


def load_config_text(path: Path) -> dict[str, object]:
    """The config as YAML reads it (TODOs included)."""
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw, dict)
    return raw


def test_init_never_overwrites_without_force(data_file: Path) -> None:
    target = data_file.parent / "mine.yaml"
    policy = data_file.parent / "mine.policy.yaml"
    policy.write_text("# my own policy\n")
    args = ("--label", "bad_payer", "--sensitive", "years", "--config", str(target))
    code, _, err = _init(data_file, *args)
    assert code == 2 and "--force" in err
    assert not target.exists() and policy.read_text() == "# my own policy\n"
    code, _, err = _init(data_file, *args, "--force")
    assert code == 0, err
    assert policy.read_text() == DEFAULT_POLICY
    assert [p.name for p in data_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_consent_column_gives_the_per_row_mode(tmp_path: Path) -> None:
    frame = people()
    frame["consent_given"] = True
    frame["consent_timestamp"] = "2026-01-01"
    scaffold = propose(
        frame, data_path=tmp_path / "x.csv", label="bad_payer", config_path=tmp_path / "x.yaml", sensitive=["years"]
    )
    consent = yaml.safe_load(scaffold.config_text)["data"]["consent"]
    assert consent["column"] == "consent_given" and consent["timestamp_column"] == "consent_timestamp"
    assert "lawful_basis" not in consent
    features = [f["name"] for f in yaml.safe_load(scaffold.config_text)["features"]]
    assert "consent_given" not in features and "consent_timestamp" not in features


def test_unknown_sensitive_columns_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'years'"):
        propose(
            people(),
            data_path=tmp_path / "x.csv",
            label="bad_payer",
            config_path=tmp_path / "x.yaml",
            sensitive=["yeers"],
        )
    with pytest.raises(ConfigError, match="no sensitive attribute given"):
        propose(people(), data_path=tmp_path / "x.csv", label="bad_payer", config_path=tmp_path / "x.yaml")


def test_write_scaffold_writes_both_files(tmp_path: Path) -> None:
    scaffold = propose(
        people(),
        data_path=tmp_path / "x.csv",
        label="bad_payer",
        config_path=tmp_path / "x.yaml",
        sensitive=["civil_status"],
    )
    write_scaffold(scaffold)
    assert (tmp_path / "x.yaml").read_text() == scaffold.config_text
    assert (tmp_path / "x.policy.yaml").read_text() == DEFAULT_POLICY
    assert scaffold.todos == 1 + len(yaml.safe_load(scaffold.config_text)["features"])


@pytest.mark.slow
def test_init_then_check_then_run_gives_a_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = people(rows=2_000, seed=5)
    frame.to_parquet(tmp_path / "loans.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = _init(Path("loans.parquet"), "--label", "bad_payer", "--sensitive", "years,civil_status")
    assert code == 0, err
    config = tmp_path / "loans.yaml"
    config.write_text(_filled(config.read_text()))
    check = runner.invoke(app, ["config", "check", "loans.yaml"])
    assert check.exit_code == 0, check.stderr
    run = runner.invoke(app, ["run", "--config", "loans.yaml"])
    assert run.exit_code in (0, 1), run.stderr  # 1: the gate passed no candidate, with a card saying why
    cards = sorted((tmp_path / "reports" / "cards").glob("*/card.json"))
    assert len(cards) == 3
    card = cards[0].read_text()
    assert "Applicant Number" not in card and "@example.org" not in card
