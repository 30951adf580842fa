"""What the card says about consent: each per-row check, run or skipped because its key is null, with its counts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from governance.audit import audit
from governance.card import ModelCard, build_card, check_card, render_html
from governance.config import GovernanceConfig, PseudonymKey, validate_config
from governance.data import Dataset, prepare
from governance.datasets import generate_accounts
from governance.errors import DataValidationError
from tests.conftest import DEFAULT_CONFIG

KEY = PseudonymKey(b"consent-card-key-0123456789", development_key=False)
CHECKS = ["consent_flag", "timestamp_present", "timestamp_not_in_future", "not_expired", "lawful_basis"]
DEMO_CAVEAT = "Scores rank accounts for sales attention; they are not a judgement of any company or person."


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_accounts(3000, seed=13, bias=1.0)


def _config(**consent: Any) -> GovernanceConfig:
    raw: dict[str, Any] = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    raw["data"]["path"] = "/nonexistent/accounts.parquet"
    raw["data"].pop("generate", None)
    raw["data"]["consent"].update(consent)
    return validate_config(raw, base_dir=DEFAULT_CONFIG.parent)


def _card(config: GovernanceConfig, dataset: Dataset) -> dict[str, Any]:
    test = dataset.test
    scores = np.random.default_rng(0).random(len(test))
    report = audit(test.y, scores, sensitive=test.sensitive, top_k=0.2, n_boot=0, seed=1)
    card = build_card(
        config=config,
        dataset=dataset,
        candidate={"name": "plain", "kind": "logistic_regression", "uses_sensitive_at_inference": False},
        audit=report,
        explanations=None,
        candidates=[],
        run_id="run-1",
        created=datetime(2026, 12, 1, tzinfo=UTC),
        git_commit="abc",
    )
    return card.to_dict()


def test_the_demo_card_lists_every_check_it_ran_with_its_counts(frame: pd.DataFrame) -> None:
    config = _config()
    dataset = prepare(config, frame=frame, key=KEY)
    document = _card(config, dataset)
    consent = document["data"]["consent"]
    assert consent["per_row"] is True and consent["lawful_basis"] is None
    assert [c["check"] for c in consent["checks"]] == CHECKS
    ran = {c["check"]: c["checked"] for c in consent["checks"]}
    # the demo sets no as_of: consent dates are not compared with a date, and it says so
    assert ran == {
        "consent_flag": True,
        "timestamp_present": True,
        "timestamp_not_in_future": False,
        "not_expired": False,
        "lawful_basis": True,
    }
    counted = {r: n for c in consent["checks"] for r, n in c["excluded"].items() if n}
    assert counted == dict(dataset.excluded) and consent["excluded"] == sum(dataset.excluded.values()) > 0
    assert consent["checks"][2]["text"] == "consent timestamps in the future: not checked (data.consent.as_of is null)"
    flag = consent["checks"][0]["text"]
    assert flag.startswith("consent flag: checked, column consent_marketing must be true")
    assert f"{sum(consent['checks'][0]['excluded'].values()):,} accounts excluded" in flag
    # the demo card keeps its words: its caveat comes from its config, once
    assert document["purpose"]["subject"] == {"singular": "account", "plural": "accounts"}
    assert document["caveats"][-1] == DEMO_CAVEAT and document["caveats"].count(DEMO_CAVEAT) == 1


def test_a_null_timestamp_column_is_said_not_checked(frame: pd.DataFrame) -> None:
    config = _config(timestamp_column=None)
    dataset = prepare(config, frame=frame.drop(columns=["consent_timestamp"]), key=KEY)
    document = _card(config, dataset)
    checks = {c["check"]: c for c in document["data"]["consent"]["checks"]}
    assert checks["timestamp_present"]["checked"] is False
    assert checks["timestamp_present"]["text"] == (
        "consent timestamps: not checked (data.consent.timestamp_column is null)"
    )
    for name in ("timestamp_not_in_future", "not_expired"):
        assert checks[name]["checked"] is False and "timestamp_column is null" in checks[name]["text"]
    assert "consent_timestamp_missing" not in dataset.excluded
    text = document["data"]["consent"]["text"]
    assert "not checked: consent timestamps, consent timestamps in the future, expired consent" in text
    page = render_html(ModelCard.from_dict(document))
    assert "<strong>Consent timestamps: not checked (data.consent.timestamp_column is null)</strong>" in page


def test_every_check_runs_with_an_as_of_date_and_a_maximum_age(frame: pd.DataFrame) -> None:
    config = _config(as_of="2025-06-30", max_age_days=400)
    dataset = prepare(config, frame=frame, key=KEY)
    consent = _card(config, dataset)["data"]["consent"]
    assert all(c["checked"] for c in consent["checks"]) and consent["text"].endswith("every check ran.")
    expired = consent["checks"][3]
    assert expired["text"].startswith(
        "expired consent: checked, a consent given more than 400 days before 2025-06-30 excludes; "
    )
    assert expired["excluded"]["consent_expired"] == dataset.excluded.get("consent_expired", 0) > 0
    future = consent["checks"][2]
    assert future["excluded"]["consent_timestamp_in_future"] == dataset.excluded.get("consent_timestamp_in_future", 0)
    counted = {r: n for c in consent["checks"] for r, n in c["excluded"].items() if n}
    assert counted == dict(dataset.excluded)


def test_a_malformed_consent_block_or_subject_is_refused_by_path(frame: pd.DataFrame) -> None:
    config = _config()
    document = _card(config, prepare(config, frame=frame, key=KEY))
    check_card(document)
    document["purpose"]["subject"] = {"singular": "", "plural": "accounts"}
    document["data"]["consent"]["checks"][1]["checked"] = "yes"
    document["data"]["sensitive"][0]["groups"] = ["a"]
    document["data"]["sensitive"][0]["bins"] = [10, 5]
    with pytest.raises(DataValidationError) as caught:
        check_card(document)
    message = str(caught.value)
    for path in (
        "purpose.subject.singular",
        "data.consent.checks[1].checked",
        "data.sensitive[0].bins",
        "data.sensitive[0].groups",
    ):
        assert path in message
