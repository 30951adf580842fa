"""Hostile free texts and hostile audit groupings: no identifier, name or contact detail of any row is published.

Feedback, review notes and the reasons of data-subject requests are screened against every
row of the data (identifier, company name, e-mail, phone as digits only); a refused text
records nothing (ledger and MLflow unchanged) and is never echoed. An audit refuses an
identifier-like or high-cardinality sensitive attribute before any group is named.
One real candidate is trained into an embedded MLflow store and registered with a card.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.audit import audit
from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.errors import DataValidationError, PrivacyError
from governance.ledger import read_state
from governance.pipeline import CandidateOutcome, train
from governance.privacy import TextScreen, pseudonymize_one, screen_text
from governance.registry import register_candidate
from tests.conftest import ROOT, TEST_KEY

ACCOUNT = 3  # the account a request is about
OTHER = 17  # another account, whose personal data the hostile texts quote


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _hostile(accounts: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    """Texts quoting another row: kind -> (text, the quoted value, the kind the refusal names)."""
    row = accounts.iloc[OTHER]
    ten = _digits(row["contact_phone"])[-10:]
    return {
        "id": (f"the score of {row['account_id']} looks wrong", row["account_id"], "an identifier"),
        "id unspaced": (
            f"see {row['account_id'].lower().replace('-', '')} please",
            row["account_id"].replace("-", ""),
            "an identifier",
        ),
        "company": (f"{row['company_name'].upper()} complained about the score", row["company_name"], "a name"),
        "email": (f"they wrote from {row['contact_email']}", row["contact_email"], "an e-mail address"),
        "phone ten digits": (f"they called from {ten} yesterday", ten, "a phone number"),
    }


def _card(outcome: CandidateOutcome) -> dict[str, Any]:
    """A passing governance.card/1 document for one trained candidate (as the card step writes it)."""
    return {
        "schema": "governance.card/1",
        "model": {
            "name": "account-scoring",
            "candidate": outcome.name,
            "run_id": outcome.run_id,
            "created": "2026-01-15T09:30:00Z",
            "valid_until": "2026-04-15",
        },
        "lineage": {
            "git_commit": "0" * 40,
            "config_sha256": "a" * 64,
            "data_sha256": "b" * 64,
            "model_sha256": outcome.model_sha256,
            "policy_sha256": "c" * 64,
        },
        "purpose": {"intended_use": "Rank B2B accounts.", "out_of_scope": ["Credit decisions."]},
        "data": {
            "rows_in": 4000,
            "rows_used": 3803,
            "excluded": {"consent_not_given": 197},
            "features": [{"name": "intent_score", "justification": "Third-party buying-intent signal."}],
            "dropped_columns": ["company_name", "contact_email", "contact_phone"],
            "sensitive": ["ownership", "size_band"],
            "pseudonymization": {"method": "HMAC-SHA256, 128-bit hex", "development_key": False},
        },
        "performance": {
            "auc": {"value": outcome.test_auc, "ci": [outcome.test_auc - 0.03, outcome.test_auc + 0.03], "status": "ok"}
        },
        "fairness": {"schema": "governance.audit/1", "rows": 761, "min_group_size": 30},
        "explanations": {"method": "shap", "space": "transformed", "global": []},
        "policy": {"rules": [], "on_inconclusive": "fail", "required_approvals": 1},
        "candidates": [
            {
                "name": outcome.name,
                "kind": "logistic_regression",
                "mitigation": None,
                "uses_sensitive_at_inference": False,
                "auc": outcome.validation_auc,
                "worst_disparity": 0.14,
                "verdict": "pass",
            }
        ],
        "gate": {"verdict": "pass", "rules": []},
        "reviews": [],
        "feedback": {"contact": "privacy@example.com", "items": []},
        "caveats": ["Trained on synthetic accounts."],
    }


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any], accounts: pd.DataFrame
) -> dict[str, Any]:
    """A config, its data and one registered version with a card in an embedded MLflow store."""
    folder = tmp_path_factory.mktemp("hostile-text")
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    raw["subjects"] = {"ledger": str(folder / "ledger.jsonl")}
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = load_config(path)
        (outcome,) = train(config).candidates
        uri = tracking_uri(config)
        record = register_candidate(
            uri, registered_model=config.mlflow.registered_model, run_id=outcome.run_id, card=_card(outcome)
        )
    return {"path": path, "config": config, "uri": uri, "version": record.version}


def _registry_state(world: dict[str, Any]) -> dict[str, str]:
    """The version's tags (card.sha256, review.count, feedback.count...): what a recorded text would change."""
    client = MlflowClient(world["uri"], registry_uri=world["uri"])
    version = client.get_model_version(world["config"].mlflow.registered_model, str(world["version"]))
    return dict(version.tags or {})


def _ledger_entries(world: dict[str, Any]) -> int:
    ledger = world["config"].subjects.ledger
    if not ledger.exists():
        return 0
    return len(read_state(ledger, secret=TEST_KEY.encode()).entries)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m governance`` in a subprocess, as CI would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVERNANCE_PSEUDONYM_KEY": TEST_KEY, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "governance", *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def _assert_refused(exit_code: int, output: str, text: str, value: str, kind: str) -> None:
    assert exit_code == 4, output
    assert kind in output, output
    assert value not in output and value.casefold() not in output.casefold()
    assert text not in output


# ---------------------------------------------------------------- free texts


def test_feedback_quoting_another_row_is_refused_and_nothing_is_recorded(
    world: dict[str, Any], accounts: pd.DataFrame
) -> None:
    before, entries = _registry_state(world), _ledger_entries(world)
    account = accounts.iloc[ACCOUNT]["account_id"]
    base = ["feedback", "add", "--config", str(world["path"]), "--model-version", str(world["version"])]
    for name, (text, value, kind) in _hostile(accounts).items():
        for extra in ([], ["--account", account]):
            result = CliRunner().invoke(app, [*base, "--text", text, *extra])
            _assert_refused(result.exit_code, result.output, text, value, kind)
            assert _ledger_entries(world) == entries, name
    assert _registry_state(world) == before
    # the CLI as CI runs it: exit 4, nothing echoed
    text, value, kind = _hostile(accounts)["phone ten digits"]
    done = _cli(*base, "--text", text)
    _assert_refused(done.returncode, done.stdout + done.stderr, text, value, kind)
    assert _registry_state(world) == before and _ledger_entries(world) == entries


def test_a_review_note_quoting_a_row_is_refused_and_a_staff_reviewer_is_allowed(
    world: dict[str, Any], accounts: pd.DataFrame
) -> None:
    before = _registry_state(world)
    base = ["review", "--config", str(world["path"]), "--model-version", str(world["version"]), "--approve"]
    for text, value, kind in _hostile(accounts).values():
        result = CliRunner().invoke(app, [*base, "--reviewer", "Ana Ruiz", "--note", text])
        _assert_refused(result.exit_code, result.output, text, value, kind)
    assert _registry_state(world) == before
    text, value, kind = _hostile(accounts)["company"]
    done = _cli(*base, "--reviewer", "Ana Ruiz", "--note", text)
    _assert_refused(done.returncode, done.stdout + done.stderr, text, value, kind)
    assert _registry_state(world) == before
    # an identifier or contact details as the reviewer are refused too
    row = accounts.iloc[OTHER]
    for reviewer, value, kind in (
        (row["account_id"], row["account_id"], "an identifier"),
        (_digits(row["contact_phone"])[-10:], _digits(row["contact_phone"])[-10:], "a phone number"),
    ):
        result = CliRunner().invoke(app, [*base, "--reviewer", reviewer, "--note", "Within policy."])
        _assert_refused(result.exit_code, result.output, reviewer, value, kind)
    assert _registry_state(world) == before
    # a normal note passes, quoting a pseudonym; the reviewer is staff and is named on the card, even when
    # a contact person of the data has the same name
    reviewer = row["contact_email"].partition("@")[0].replace(".", " ").title()
    pseudonym = pseudonymize_one(row["account_id"], TEST_KEY.encode())
    note = f"Read the whole card; fairness within policy; the complaint about {pseudonym} was answered."
    result = CliRunner().invoke(app, [*base, "--reviewer", reviewer, "--note", note])
    assert result.exit_code == 0, result.output
    after = _registry_state(world)
    assert after["review.count"] == "1" and after["review.1.note"] == note and after["review.1.reviewer"] == reviewer


def test_reasons_quoting_any_row_are_refused_and_nothing_is_recorded(
    world: dict[str, Any], accounts: pd.DataFrame
) -> None:
    account = accounts.iloc[ACCOUNT]["account_id"]
    config = str(world["path"])
    commands = {
        "correct": ["subject", "correct", account, "--config", config, "--set", "intent_score=50"],
        "erase": ["subject", "erase", account, "--config", config],
        "withdraw": ["subject", "withdraw-consent", account, "--config", config],
    }
    entries = _ledger_entries(world)
    own = accounts.iloc[ACCOUNT]
    own_phone = (f"call {_digits(own['contact_phone'])[-10:]}", _digits(own["contact_phone"])[-10:], "a phone number")
    for command in commands.values():
        for text, value, kind in [*_hostile(accounts).values(), own_phone]:
            result = CliRunner().invoke(app, [*command, "--reason", text])
            _assert_refused(result.exit_code, result.output, text, value, kind)
    assert _ledger_entries(world) == entries
    # a normal reason passes (the erasure is recorded; the reason is in the vault, not shown)
    result = CliRunner().invoke(app, [*commands["erase"], "--reason", "the customer asked by letter"])
    assert result.exit_code == 0, result.output
    assert _ledger_entries(world) == entries + 1


def test_a_normal_feedback_passes_and_lists_on_the_card(world: dict[str, Any], accounts: pd.DataFrame) -> None:
    account = accounts.iloc[ACCOUNT + 1]["account_id"]
    count = int(_registry_state(world).get("feedback.count", "0"))
    text = "Retail accounts in APAC seem ranked too low; version 12 scored 150,000 rows."
    base = ["feedback", "add", "--config", str(world["path"]), "--model-version", str(world["version"])]
    result = CliRunner().invoke(app, [*base, "--text", text, "--account", account])
    assert result.exit_code == 0, result.output
    assert _registry_state(world)["feedback.count"] == str(count + 1)


def test_the_screen_normalizes_case_separators_and_phone_digits(accounts: pd.DataFrame) -> None:
    screen = TextScreen().add_identifiers(accounts["account_id"])
    for column in ("company_name", "contact_email", "contact_phone"):
        screen.add_personal(accounts[column])
    row = accounts.iloc[OTHER]
    phone = _digits(row["contact_phone"])
    name = row["company_name"].split()
    local = row["contact_email"].partition("@")[0].replace(".", " ")
    refused = {
        f"  {row['account_id'].lower()}  ": "an identifier",
        f"re: {row['account_id'].replace('-', ' ')}": "an identifier",
        "about " + "  ".join(name).lower(): "a name",
        f"spoke to {local.title()}": "a name",
        f"+{phone}": "a phone number",
        f"{phone[-10:]}": "a phone number",
        f"ext. {phone[-10:]}7": "a phone number",
        "write to someone@example.org": "an e-mail address",
    }
    for text, kind in refused.items():
        assert screen.found(text) == kind, text
        with pytest.raises(PrivacyError, match=kind) as info:
            screen_text(text, what="--text", screen=screen)
        assert text.strip() not in str(info.value)
    pseudonym = pseudonymize_one(row["account_id"], TEST_KEY.encode())
    for text in (
        f"account {pseudonym} asked for a review",
        "AUC 0.81 on 4,000 rows; version 3 of 12; threshold 0.5",
        "Retail in APAC and EMEA ranked low; the river of leads dried up",
    ):
        assert screen.found(text) is None, text


# ---------------------------------------------------------------- audit groupings


def _predictions(accounts: pd.DataFrame, folder: Path) -> Path:
    frame = accounts.copy()
    frame["score"] = frame["intent_score"] / 100.0
    path = folder / "predictions.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_an_audit_by_an_identifier_or_a_name_is_refused_and_names_no_row(
    accounts: pd.DataFrame, tmp_path: Path
) -> None:
    data = _predictions(accounts, tmp_path)
    out = tmp_path / "audit.json"
    base = ["audit", "--data", str(data), "--label", "converted_90d", "--score", "score", "--threshold", "0.5"]
    ids = set(accounts["account_id"]) | set(accounts["company_name"])
    for sensitive in ("account_id", "company_name", "account_id,region", "annual_revenue"):
        done = _cli(*base, "--sensitive", sensitive, "--bootstrap", "0", "--out", str(out))
        output = done.stdout + done.stderr
        assert done.returncode == 2, output
        assert "expected a grouping shared by many rows" in output and "distinct values" in output
        assert not out.exists()
        assert not any(value in output for value in ids)
    # a withheld group must also be too small to judge, else the disparities would reveal it
    lower = CliRunner().invoke(
        app, [*base, "--sensitive", "region", "--publish-min-group-size", "50", "--min-group-size", "30"]
    )
    assert lower.exit_code == 2 and "--min-group-size" in lower.output
    ok = CliRunner().invoke(app, [*base, "--sensitive", "region", "--bootstrap", "0", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    document = out.read_text()
    assert not any(value in document or value in ok.output for value in ids)
    assert {g["group"] for g in json.loads(document)["groups"]} <= set(accounts["region"]) | {"overall"}


def test_the_library_audit_refuses_identifier_like_attributes(accounts: pd.DataFrame) -> None:
    y = accounts["converted_90d"].to_numpy()
    scores = accounts["intent_score"].to_numpy() / 100.0
    for column in ("account_id", "company_name"):
        with pytest.raises(DataValidationError, match="expected a grouping shared by many rows") as info:
            audit(y, scores, sensitive={column: accounts[column].to_numpy()}, threshold=0.5, n_boot=0)
        assert not any(str(v) in str(info.value) for v in accounts[column].iloc[:50])
    report = audit(y, scores, sensitive={"region": accounts["region"].to_numpy()}, threshold=0.5, n_boot=0)
    assert report.attributes[0].groups == accounts["region"].nunique()
