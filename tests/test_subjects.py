"""Data-subject rights against a real MLflow store: access, correction, erasure, consent withdrawal, feedback.

One module-scoped ``governance run`` (a plain candidate on unbiased accounts, under a
policy of the overall AUC only, so that it becomes champion) gives every test a champion
with a card; each test keeps its own ledger and reports folder.
"""

from __future__ import annotations

import copy
import json
import re
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.card import render_access_html
from governance.cli import app
from governance.config import GovernanceConfig, load_config, tracking_uri
from governance.data import prepare
from governance.datasets import generate_accounts
from governance.errors import ConfigError, DataValidationError, PrivacyError
from governance.ledger import read_state
from governance.pipeline import run
from governance.privacy import pseudonymize, pseudonymize_one
from governance.registry import promote, verified_card
from governance.subjects import access, add_feedback, correct, erase, withdraw_consent
from tests.conftest import TEST_KEY, open_in_chrome

pytestmark = pytest.mark.slow

PII = ("account_id", "company_name", "contact_email", "contact_phone")
# the world's region is coded as numbers (as coded data often is), and the config names all codes but ANZ's
REGION_CODES = {"NA": 1, "EMEA": 2, "APAC": 3, "LATAM": 4, "ANZ": 5}
REGION_WORDS = {1: "North America", 2: "Europe, the Middle East and Africa", 3: "Asia-Pacific", 4: "Latin America"}


def _consented(frame: pd.DataFrame) -> pd.DataFrame:
    ok = (
        frame["consent_marketing"].astype(bool) & (frame["lawful_basis"] != "none") & frame["consent_timestamp"].notna()
    )
    return frame[ok]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any]) -> dict[str, Any]:
    """A champion trained, audited, carded and registered by a real `governance run`."""
    folder = tmp_path_factory.mktemp("subjects")
    frame = generate_accounts(6000, seed=21, bias=0.0)
    frame["region"] = frame["region"].map(REGION_CODES).astype("int64")
    frame.to_parquet(folder / "accounts.parquet", index=False)
    policy = yaml.safe_load(Path(default_raw["policy"]["file"]).read_text())
    policy["rules"] = [r for r in policy["rules"] if r["name"] == "overall AUC"]
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["policy"] = {"file": str(folder / "policy.yaml")}
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    (region,) = [f for f in raw["features"] if f["name"] == "region"]
    region.update({"describe": "sales region: {value}", "describe_values": REGION_WORDS})
    raw["audit"]["bootstrap"] = 50
    raw["explain"].update({"background_size": 30, "sample_per_group": 100, "bootstrap": 50})
    raw["explain"].update({"proxy_rows": 3000, "minimization_rows": 2000})
    raw["subjects"] = {"ledger": str(folder / "run-ledger.jsonl")}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        outcome = run(load_config(path))
    assert outcome.alias == "champion", outcome.cards
    consented = _consented(frame)
    return {
        "folder": folder,
        "raw": raw,
        "frame": frame,
        "version": outcome.champion_version,
        "accounts": [str(a) for a in consented["account_id"].iloc[:6]],
        "unconsented": str(frame.loc[~frame["consent_marketing"].astype(bool), "account_id"].iloc[0]),
    }


def _config(world: dict[str, Any], tmp_path: Path, *, reports: Path | None = None, **changes: Any) -> Path:
    """A config of the world with its own ledger (and reports folder) in ``tmp_path``."""
    raw = copy.deepcopy(world["raw"])
    raw["subjects"] = {"ledger": str(tmp_path / "ledger.jsonl")}
    # one experiment per ledger: the experiment anchors its ledger's head, so another ledger would be refused
    raw["mlflow"]["experiment"] = f"subjects-{tmp_path.name}"
    raw["output"]["reports"] = str(reports or tmp_path / "reports")
    raw.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _row(world: dict[str, Any], account: str) -> pd.Series:
    frame = world["frame"]
    return frame.loc[frame["account_id"] == account].iloc[0]


def _personal_strings(frame: pd.DataFrame) -> set[str]:
    return {str(v) for column in PII for v in frame[column].dropna()}


def _leaks(text: str, frame: pd.DataFrame) -> list[str]:
    """Raw identifiers, names, e-mails or phones of any account found in ``text``."""
    found = []
    for value in _personal_strings(frame):
        if len(value) >= 6 and value in text:
            found.append(value)
    return found[:5]


# ---------------------------------------------------------------- access


def test_access_reports_the_accounts_declared_fields_consent_models_and_score(
    world: dict[str, Any], tmp_path: Path
) -> None:
    config = load_config(_config(world, tmp_path))
    account = world["accounts"][0]
    report = access(config, account)
    document = report.to_dict()
    row = _row(world, account)

    assert document["schema"] == "governance.access/1"
    assert document["account"]["pseudonym"] == pseudonymize_one(account, TEST_KEY.encode())
    assert document["status"] == "active"
    assert document["consent"]["valid"] is True
    assert document["consent"]["lawful_basis"] == row["lawful_basis"]
    assert document["purpose"]["intended_use"] == config.purpose.intended_use
    assert document["controller"]["contact"] == config.purpose.contact
    held = {item["field"]: item for item in document["held"]}
    declared = {*config.feature_names, *config.sensitive.names, config.data.label}
    assert set(held) == declared  # the declared fields only: no personal data column, no undeclared one
    for feature in config.features:
        expected = row[feature.name]
        assert held[feature.name]["value"] == (expected if feature.type == "categorical" else pytest.approx(expected))
        assert held[feature.name]["justification"] and held[feature.name]["role"] == "model feature"
    for name in config.sensitive.names:
        assert held[name]["value"] == row[name]
        assert "never an input of the model" in held[name]["used_for"]
    # which registered version was trained with the account's data, and on which side of the split
    (use,) = [u for u in document["training"] if u["model_version"] == world["version"]]
    dataset = prepare(config)
    position = list(dataset.pseudonyms).index(report.pseudonym)
    assert use["used"] == ("train", "validation", "test")[int(dataset.split[position])]
    # the champion's score, percentile and reasons, never a sensitive attribute as a reason
    score = document["score"]
    assert score["model_version"] == world["version"]
    assert 0.0 <= score["score"] <= 1.0 and 0.0 <= score["percentile"] <= 100.0
    assert score["reasons"] and all(r["feature"] in config.feature_names for r in score["reasons"])
    # recorded in the ledger, by pseudonym
    state = read_state(config.subjects.ledger, secret=TEST_KEY.encode())
    assert [(e.kind, e.pseudonym) for e in state.entries] == [("access", report.pseudonym)]
    assert [h["kind"] for h in document["history"]] == ["access"]


def test_access_report_holds_no_other_accounts_data_and_no_personal_data(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    account = world["accounts"][1]
    html_path = tmp_path / "access.html"
    result = CliRunner().invoke(
        app, ["subject", "access", account, "--config", str(config_path), "--html", str(html_path)]
    )
    assert result.exit_code == 0, result.output
    pseudonym = pseudonymize_one(account, TEST_KEY.encode())
    json_path = tmp_path / "reports" / "subjects" / pseudonym / "access.json"
    texts = {"json": json_path.read_text(), "html": html_path.read_text(), "output": result.output}
    frame = world["frame"]
    others = set(pseudonymize(frame["account_id"].tolist(), TEST_KEY.encode())) - {pseudonym}
    for name, text in texts.items():
        assert not _leaks(text, frame), name  # no identifier, name, e-mail or phone: not even the account's own
        assert not [p for p in others if p in text], name  # no other account is named
    document = json.loads(texts["json"])
    assert len(document["held"]) == len(load_config(config_path).feature_names) + 3
    html = texts["html"]
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "What we hold about this account, and the reasons for the score" in html
    assert document["score"]["text"] in html


def test_the_access_page_and_a_re_rendered_card_open_in_a_browser_without_errors_or_network(
    world: dict[str, Any], tmp_path: Path
) -> None:
    config = load_config(_config(world, tmp_path, reports=world["folder"] / "reports"))
    page = tmp_path / "access.html"
    page.write_text(render_access_html(access(config, world["accounts"][2]).to_dict()))
    seen = open_in_chrome(page)
    assert seen["console"] == [] and seen["requested"] == [page.resolve().as_uri()]
    add_feedback(config, model_version=world["version"], text="Please explain the postcode effect.")
    card = world["folder"] / "reports" / "cards" / "baseline_logreg" / "card.html"
    assert "Please explain the postcode effect." in card.read_text()
    seen = open_in_chrome(card)
    assert seen["console"] == [] and len(seen["images"]) >= 4
    assert all(complete and width > 0 for complete, width, _ in seen["images"]), seen["images"]
    assert all(url.startswith("data:image/png;base64,") for url in seen["requested"][1:])


def _every_reason(world: dict[str, Any], tmp_path: Path, **changes: Any) -> Path:
    """A config of the world whose access reports give every feature's reason (the model is unchanged)."""
    return _config(world, tmp_path, explain={**world["raw"]["explain"], "reason_codes": 20}, **changes)


def _consented_in_region(world: dict[str, Any], code: int) -> str:
    frame = _consented(world["frame"])
    return str(frame.loc[frame["region"] == code, "account_id"].iloc[0])


def test_the_access_report_shows_a_coded_value_in_words_with_its_code(world: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(_every_reason(world, tmp_path))
    for code in (1, 2, 5):  # two codes the config names, and ANZ's, which it does not
        document = access(config, _consented_in_region(world, code)).to_dict()
        held = {item["field"]: item for item in document["held"]}
        words = REGION_WORDS.get(code)
        assert held["region"]["value"] == code  # the record keeps the code as the data holds it
        assert held["region"]["value_text"] == (None if words is None else f"{words} ({code})")
        assert held["industry"]["value_text"] is None and held["web_visits_30d"]["value_text"] is None
        html = render_access_html(document)
        if words is not None:
            assert f"<td>{escape(words)} ({code})</td>" in html
        else:
            assert f'<th scope="row">region</th><td>{code}</td>' in html  # an unknown code reads as itself
        (reason,) = [r for r in document["score"]["reasons"] if r["feature"] == "region"]
        assert reason["value"] == str(code)
        assert reason["text"].startswith(f"sales region: {words or code} ("), reason["text"]
        assert escape(reason["text"]) in html


def _as_applicants(raw: dict[str, Any]) -> dict[str, Any]:
    """The world's purpose and features for applicants: the subject, and every free text they print, say applicant."""
    text = yaml.safe_dump({key: raw[key] for key in ("purpose", "features")}, sort_keys=False)
    changed: dict[str, Any] = yaml.safe_load(text.replace("B2B account", "account").replace("account", "applicant"))
    changed["purpose"]["subject"] = "applicant"
    return changed


def test_an_access_report_about_applicants_speaks_of_applicants(world: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(_every_reason(world, tmp_path, **_as_applicants(world["raw"])))
    assert config.purpose.subjects == "applicants"
    document = access(config, world["accounts"][0]).to_dict()
    assert document["words"] == {"subject": "applicant", "subjects": "applicants"}
    html = render_access_html(document)
    assert "<h1>What we hold about this applicant, and the reasons for the score</h1>" in html
    assert "Why we score applicants:" in html and "What we hold about this applicant</h2>" in html
    assert document["score"]["text"].endswith(" applicants") and document["score"]["reasons"]
    # no word of the report says account (its keys keep the schema's names)
    said = [v for v in _strings(document) if "account" in v.lower()]
    assert not said, said
    assert "account" not in html.lower()
    # the words are recorded in the report: it renders the same later, without the config
    assert render_access_html(json.loads(json.dumps(document))) == html


def _strings(value: Any) -> list[str]:
    """Every string value of a JSON document (not its keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_access_html_escapes_hostile_values() -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    document = {
        "schema": "governance.access/1",
        "generated_at": "2026-01-01T00:00:00+00:00",
        "account": {"pseudonym": "0" * 32, "note": "n"},
        "controller": {"owner": hostile, "contact": hostile},
        "purpose": {"intended_use": hostile, "out_of_scope": [hostile]},
        "status": "active",
        "status_text": hostile,
        "consent": None,
        "held": [
            {
                "field": hostile,
                "role": "model feature",
                "value": hostile,
                "corrected": True,
                "used_for": hostile,
                "justification": hostile,
            }
        ],
        "held_note": hostile,
        "training": [],
        "score": None,
        "score_note": hostile,
        "history": [],
        "rights": [hostile],
    }
    html = render_access_html(document)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_unknown_account_is_refused_without_repeating_its_identifier(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    secret_id = "ACC-NOT-THERE-4242"
    for command in (["subject", "access", secret_id], ["subject", "erase", secret_id, "--reason", "asked to"]):
        result = CliRunner().invoke(app, [*command, "--config", str(config_path)])
        assert result.exit_code == 2, result.output
        assert "no account in the data has this identifier" in result.output
        assert secret_id not in result.output
    assert (
        not (tmp_path / "ledger.jsonl").exists()
        or not read_state(tmp_path / "ledger.jsonl", secret=TEST_KEY.encode()).entries
    )


def test_without_a_ledger_the_subject_commands_refuse(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path, subjects={"ledger": None})
    result = CliRunner().invoke(app, ["subject", "access", world["accounts"][0], "--config", str(config_path)])
    assert result.exit_code == 2
    assert "subjects.ledger" in result.output


# ---------------------------------------------------------------- rectification


def test_a_correction_changes_the_next_score_and_every_later_read(world: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(_config(world, tmp_path))
    account = world["accounts"][2]
    row = _row(world, account)
    # a big jump in engagement and intent: the plain logistic model must score the account higher
    wanted = {"web_visits_30d": str(int(row["web_visits_30d"]) + 80), "intent_score": "99"}
    result = correct(config, account, wanted, reason="the customer sent its analytics export")
    assert result.fields == ("intent_score", "web_visits_30d")
    assert result.before is not None and result.after is not None
    assert result.after.score > result.before.score
    dataset = prepare(config)
    position = list(dataset.pseudonyms).index(result.pseudonym)
    assert dataset.X["web_visits_30d"].iloc[position] == int(row["web_visits_30d"]) + 80
    assert dataset.X["intent_score"].iloc[position] == 99
    assert dataset.corrected == 1
    # the source file is never rewritten: corrections overlay it
    source = pd.read_parquet(config.data.path)
    assert source.loc[source["account_id"] == account, "intent_score"].iloc[0] == row["intent_score"]
    # the ledger names the fields, never the values
    ledger_text = config.subjects.ledger.read_text()  # type: ignore[union-attr]
    assert '"fields":["intent_score","web_visits_30d"]' in ledger_text and '"99"' not in ledger_text
    # and the reason codes read the corrected value
    explained = CliRunner().invoke(app, ["explain", "--account", account, "--config", str(config.path)])
    assert explained.exit_code == 0, explained.output


def test_invalid_corrections_are_refused_with_every_problem_and_nothing_recorded(
    world: dict[str, Any], tmp_path: Path
) -> None:
    config_path = _config(world, tmp_path)
    account = world["accounts"][3]
    result = CliRunner().invoke(
        app,
        [
            "subject",
            "correct",
            account,
            "--config",
            str(config_path),
            "--set",
            "web_visits_30d=-4",
            "--set",
            "intent_score=lots",
            "--set",
            "industry=<script>",
            "--set",
            "ownership=martian",
            "--set",
            "converted_90d=1",
            "--set",
            "contact_email=x",
            "--reason",
            "fix",
        ],
    )
    assert result.exit_code == 2, result.output
    for name in ("web_visits_30d", "intent_score", "industry", "ownership", "converted_90d", "contact_email"):
        assert f"--set {name}" in result.output
    assert not (tmp_path / "ledger.jsonl").exists()
    config = load_config(config_path)
    with pytest.raises(ConfigError, match="whole number"):
        correct(config, account, {"web_visits_30d": "2.5"}, reason="fix")
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        from governance.subjects import parse_assignments

        parse_assignments(["web_visits_30d"])
    # a reason that names the account or holds contact details is a security refusal
    row = _row(world, account)
    for reason in (f"asked by {row['company_name']}", f"write to {row['contact_email']}", f"re {account}"):
        with pytest.raises(PrivacyError):
            correct(config, account, {"intent_score": "50"}, reason=reason)
    assert not (tmp_path / "ledger.jsonl").exists()


# ---------------------------------------------------------------- erasure and consent withdrawal


def test_erased_and_withdrawn_accounts_are_absent_from_training_scores_and_reports(
    world: dict[str, Any], tmp_path: Path
) -> None:
    # a registered model of its own, so that this run's promotion does not touch the shared champion
    raw_mlflow = {**world["raw"]["mlflow"], "registered_model": "erasure-test", "experiment": f"e-{tmp_path.name}"}
    config_path = _config(world, tmp_path, mlflow=raw_mlflow)
    # the same ledger and experiment, with the shared champion to explain an account with
    explain_raw = yaml.safe_load(config_path.read_text())
    explain_raw["mlflow"]["registered_model"] = world["raw"]["mlflow"]["registered_model"]
    explain_path = tmp_path / "explain.yaml"
    explain_path.write_text(yaml.safe_dump(explain_raw, sort_keys=False))
    config = load_config(config_path)
    erased, withdrawn = world["accounts"][4], world["accounts"][5]
    pseudonyms = {a: pseudonymize_one(a, TEST_KEY.encode()) for a in (erased, withdrawn)}
    before = prepare(config)
    assert set(pseudonyms.values()) <= set(before.pseudonyms)
    # a correction and a report about the account before its erasure
    correct(config, erased, {"intent_score": "88"}, reason="a correction before the erasure")
    explained = CliRunner().invoke(
        app,
        ["explain", "--account", erased, "--config", str(explain_path), "--model-version", str(world["version"])],
    )
    assert explained.exit_code == 0, explained.output
    (report_file,) = (config.output.reports / "explanations").glob(f"explanation-{pseudonyms[erased]}-*.json")
    assert report_file.exists()

    result = CliRunner().invoke(
        app, ["subject", "erase", erased, "--config", str(config_path), "--reason", "erasure request, art. 17"]
    )
    assert result.exit_code == 0, result.output
    assert not report_file.exists()
    result = CliRunner().invoke(app, ["subject", "withdraw-consent", withdrawn, "--config", str(config_path)])
    assert result.exit_code == 0, result.output

    # the ledger keeps the pseudonym and the fact; the erased account's correction values are purged
    vault = (tmp_path / "ledger.jsonl.vault.json").read_text()
    assert "a correction before the erasure" not in vault and '"intent_score":88' not in vault.replace(" ", "")
    assert CliRunner().invoke(app, ["ledger", "verify", "--config", str(config_path)]).exit_code == 0
    state = read_state(config.subjects.ledger, secret=TEST_KEY.encode())
    assert pseudonyms[erased] in state.erased and pseudonyms[withdrawn] in state.withdrawn
    assert not state.corrections

    # training data, scores and reports from now on
    after = prepare(config)
    assert not set(pseudonyms.values()) & set(after.pseudonyms)
    assert after.excluded["erased"] == 1 and after.excluded["consent_withdrawn"] == 1
    assert after.rows_used == before.rows_used - 2
    for account in (erased, withdrawn):
        refused = CliRunner().invoke(app, ["explain", "--account", account, "--config", str(config_path)])
        assert refused.exit_code == 2 and "no usable account" in refused.output
    outcome = run(config)
    assert outcome.training.excluded["erased"] == 1 and outcome.training.excluded["consent_withdrawn"] == 1
    card = json.loads(Path(outcome.cards[0].card_json).read_text())
    assert card["data"]["excluded"]["erased"] == 1 and card["data"]["excluded"]["consent_withdrawn"] == 1
    everything = "".join(p.read_text(errors="ignore") for p in config.output.reports.rglob("*") if p.is_file())
    assert not [p for p in pseudonyms.values() if p in everything]
    # nothing is held about an erased account: its access request makes no report and records nothing
    entries = len(read_state(config.subjects.ledger, secret=TEST_KEY.encode()).entries)
    report = access(config, erased)
    assert report.erased_at == state.erased[pseudonyms[erased]] and report.entry is None
    assert len(read_state(config.subjects.ledger, secret=TEST_KEY.encode()).entries) == entries
    asked = CliRunner().invoke(app, ["subject", "access", erased, "--config", str(config_path)])
    assert asked.exit_code == 0 and "no report is written" in asked.output, asked.output
    assert not (config.output.reports / "subjects" / pseudonyms[erased]).exists()
    # an erasure is recorded once
    again = erase(config, erased, reason="asked again")
    assert again.entry is None and again.earlier == state.erased[pseudonyms[erased]]
    with pytest.raises(ConfigError, match="erased"):
        correct(config, erased, {"intent_score": "10"}, reason="a late correction")


def test_withdrawing_consent_needs_a_known_account_and_is_recorded_once(world: dict[str, Any], tmp_path: Path) -> None:
    config = load_config(_config(world, tmp_path))
    with pytest.raises(DataValidationError):
        withdraw_consent(config, "ACC-NOBODY")
    first = withdraw_consent(config, world["accounts"][0], reason="no longer wants marketing")
    second = withdraw_consent(config, world["accounts"][0])
    assert first.entry is not None and second.entry is None and second.earlier == first.entry.at


# ---------------------------------------------------------------- feedback


def test_feedback_is_shown_on_the_card_and_the_version_stays_promotable(world: dict[str, Any], tmp_path: Path) -> None:
    reports = world["folder"] / "reports"  # the run's own cards, so the local card is rendered again
    config_path = _config(world, tmp_path, reports=reports)
    config: GovernanceConfig = load_config(config_path)
    version = world["version"]
    text = "Retail accounts in APAC seem ranked too low; please look at <b>region</b> effects."
    result = CliRunner().invoke(
        app,
        [
            "feedback",
            "add",
            "--config",
            str(config_path),
            "--model-version",
            str(version),
            "--text",
            text,
            "--account",
            world["accounts"][0],
        ],
    )
    assert result.exit_code == 0, result.output
    outcome = add_feedback(config, model_version=version, text="The score ignores recent events.")
    assert outcome.items == 2
    card = verified_card(tracking_uri(config), registered_model=config.mlflow.registered_model, version=version).card
    items = card["feedback"]["items"]
    # the text about one account stays in the ledger alone (erasable); MLflow keeps every card a version had
    assert [i["text"] for i in items] == [None, "The score ignores recent events."]
    assert [i["about_account"] for i in items] == [True, False]
    assert card["feedback"]["contact"] == config.purpose.contact
    # the local card of the version lists both (escaped), and still gates offline
    local = json.loads((reports / "cards" / "baseline_logreg" / "card.json").read_text())
    assert [i["text"] for i in local["feedback"]["items"]] == [text, "The score ignores recent events."]
    html = (reports / "cards" / "baseline_logreg" / "card.html").read_text()
    assert "Retail accounts in APAC" in html and "&lt;b&gt;region&lt;/b&gt;" in html and "<b>region" not in html
    assert "data:image/png;base64," in html  # the figures were kept and embedded again
    gated = CliRunner().invoke(app, ["gate", "--card", str(reports / "cards" / "baseline_logreg" / "card.json")])
    assert gated.exit_code == 0, gated.output
    # feedback is not part of the audited card: promotion re-verifies the card and accepts it
    promoted = promote(
        tracking_uri(config), registered_model=config.mlflow.registered_model, version=version, required_approvals=0
    )
    assert promoted.champion == version
    client = MlflowClient(tracking_uri(config), registry_uri=tracking_uri(config))
    assert client.get_model_version(config.mlflow.registered_model, str(version)).tags["feedback.count"] == "2"


def test_feedback_with_contact_details_or_about_an_unknown_version_is_refused(
    world: dict[str, Any], tmp_path: Path
) -> None:
    config_path = _config(world, tmp_path)
    base = ["feedback", "add", "--config", str(config_path), "--model-version"]
    phone = CliRunner().invoke(app, [*base, str(world["version"]), "--text", "call me on +1 415 555 0199"])
    assert phone.exit_code == 4, phone.output
    assert "555 0199" not in phone.output
    unknown = CliRunner().invoke(app, [*base, "999", "--text", "a fair remark"])
    assert unknown.exit_code == 2, unknown.output
    assert (
        not (tmp_path / "ledger.jsonl").exists()
        or not read_state(tmp_path / "ledger.jsonl", secret=TEST_KEY.encode()).feedback
    )


# ---------------------------------------------------------------- the ledger command


def test_ledger_verify_names_the_first_bad_entry_and_exits_4(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    config = load_config(config_path)
    for account in world["accounts"][:3]:
        withdraw_consent(config, account)
    intact = CliRunner().invoke(app, ["ledger", "verify", "--config", str(config_path)])
    assert intact.exit_code == 0 and "3 entries" in intact.output
    head = re.search(r"head ([0-9a-f]{64})", intact.output)
    assert head is not None
    ledger = tmp_path / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    lines[1] = lines[1].replace('"withdraw_consent"', '"access"')
    ledger.write_text("\n".join(lines) + "\n")
    tampered = CliRunner().invoke(app, ["ledger", "verify", "--config", str(config_path)])
    assert tampered.exit_code == 4, tampered.output
    assert "first bad entry is 2" in tampered.output
    # and nothing that reads the data trusts it any more
    with pytest.raises(PrivacyError):
        prepare(config)
