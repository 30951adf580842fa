"""Reason codes: readable, deterministic, free of identifiers and sensitive attributes."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.config import GovernanceConfig
from governance.data import Dataset
from governance.errors import DataValidationError
from governance.explain import (
    _reason,
    account_row,
    explain_account,
)
from governance.train import TrainedCandidate
from tests.conftest import TEST_KEY
from tests.explain.conftest import READS_SENSITIVE

# ---------------------------------------------------------------- reason codes


def _row_account_ids(dataset: Dataset, accounts: pd.DataFrame) -> pd.DataFrame:
    from governance.privacy import pseudonymize

    ids = accounts.assign(pseudonym=pseudonymize(accounts["account_id"].tolist(), TEST_KEY.encode()))
    return ids.set_index("pseudonym").loc[list(dataset.pseudonyms[:5])]


def test_reason_codes_are_readable_deterministic_and_free_of_identifiers(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig, accounts: pd.DataFrame
) -> None:
    model = trained["lightgbm"].model
    own = _row_account_ids(dataset, accounts)
    for pseudonym, record in own.iterrows():
        first = explain_account(model, dataset, str(pseudonym), config=config, name="lightgbm")
        second = explain_account(model, dataset, str(pseudonym), config=config, name="lightgbm")
        assert first == second
        assert len(first.reasons) == config.explain.reason_codes
        contributions = [abs(r.contribution) for r in first.reasons]
        assert contributions == sorted(contributions, reverse=True)
        for reason in first.reasons:
            assert re.fullmatch(r".+: (raises|lowers) the score", reason.text), reason.text
            assert (reason.contribution > 0) == (reason.direction == "raises")
        document = json.dumps(first.to_dict(), allow_nan=False)
        for column in ("account_id", "company_name", "contact_email", "contact_phone"):
            assert str(record[column]) not in document
        others = set(dataset.pseudonyms.tolist()) - {pseudonym}
        assert not any(p in document for p in re.findall(r"[0-9a-f]{32}", document) if p in others)
        assert 0.0 <= first.percentile <= 100.0 and 0.0 < first.score < 1.0
        assert first.to_dict()["pseudonym"] == pseudonym


def test_a_numeric_reason_places_the_value_among_all_accounts() -> None:
    feature = validate_config_feature("web_visits_30d", describe="{value} website visits in the last 30 days")
    column = pd.Series(np.arange(100, dtype=float))
    reason = _reason("web_visits_30d", 95.0, 0.4, column, feature=feature, categorical=False)
    assert reason.text == "95 website visits in the last 30 days, more than 95% of accounts: raises the score"
    low = _reason("web_visits_30d", 3.0, -0.2, column, feature=feature, categorical=False)
    assert low.text == "3 website visits in the last 30 days, less than 96% of accounts: lowers the score"
    zeros = pd.Series([0.0] * 80 + [1.0] * 20)
    tied = _reason("web_visits_30d", 0.0, -0.1, zeros, feature=feature, categorical=False)
    assert tied.text == "0 website visits in the last 30 days, the same as 80% of accounts: lowers the score"
    industry = validate_config_feature("industry", describe="industry is {value}", type="categorical")
    categories = pd.Series(["software"] * 18 + ["retail"] * 82)
    text = _reason("industry", "software", 0.3, categories, feature=industry, categorical=True).text
    assert text == "industry is software (18% of accounts): raises the score"
    missing = _reason("web_visits_30d", float("nan"), -0.1, column, feature=feature, categorical=False)
    assert missing.text == "no web visits 30d recorded: lowers the score" and missing.to_dict()["value"] is None


def validate_config_feature(name: str, **fields: Any) -> Any:
    from governance.config import Feature

    return Feature.model_validate({"name": name, "justification": "test", **fields})


@pytest.mark.parametrize("kind", sorted(READS_SENSITIVE))
def test_sensitive_attributes_are_never_reasons(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig, kind: str
) -> None:
    every = config.model_copy(update={"explain": config.explain.model_copy(update={"reason_codes": 20})})
    for pseudonym in dataset.pseudonyms[:3]:
        result = explain_account(trained[kind].model, dataset, str(pseudonym), config=every, name=kind)
        features = {r.feature for r in result.reasons}
        assert features <= set(dataset.features) and not features & set(dataset.sensitive.columns)
        assert result.held_fixed == "ownership"
        assert not any(g in r.text for r in result.reasons for g in ("minority_owned", "women_owned", "veteran"))


def test_an_unknown_account_is_refused_without_repeating_it(dataset: Dataset) -> None:
    with pytest.raises(DataValidationError, match="unknown, or excluded") as caught:
        account_row(dataset, "not-a-pseudonym-of-any-account")
    assert "not-a-pseudonym" not in str(caught.value)


# ---------------------------------------------------------------- coded categories in words


def test_a_coded_category_reads_as_its_words_in_the_describe_phrase_or_alone() -> None:
    codes = {"A11": "checking balance below 0", "A12": "checking balance 0 to 200"}
    column = pd.Series(["A11"] * 30 + ["A12"] * 60 + ["A14"] * 10)
    phrased = validate_config_feature(
        "checking_status", type="categorical", describe="checking account: {value}", describe_values=codes
    )
    reason = _reason("checking_status", "A11", 0.5, column, feature=phrased, categorical=True, subjects="applicants")
    assert reason.text == "checking account: checking balance below 0 (30% of applicants): raises the score"
    assert reason.value == "A11" and reason.to_dict()["value"] == "A11"  # the record keeps the code
    alone = validate_config_feature("checking_status", type="categorical", describe_values=codes)
    text = _reason("checking_status", "A12", -0.2, column, feature=alone, categorical=True, subjects="applicants").text
    assert text == "checking balance 0 to 200 (60% of applicants): lowers the score"
    # a code the config does not name reads as the code itself, in the phrase or the default one
    unknown = _reason("checking_status", "A14", 0.1, column, feature=phrased, categorical=True).text
    assert unknown == "checking account: A14 (10% of accounts): raises the score"
    default = _reason("checking_status", "A14", 0.1, column, feature=alone, categorical=True).text
    assert default == "checking status is A14 (10% of accounts): raises the score"


def test_numeric_codes_written_as_yaml_numbers_match_the_datas_text() -> None:
    feature = validate_config_feature("housing", type="categorical", describe_values={1: "rents", 2: "owns"})
    column = pd.Series(["1"] * 25 + ["2"] * 75)
    text = _reason("housing", "2", 0.3, column, feature=feature, categorical=True).text
    assert text == "owns (75% of accounts): raises the score"
    assert feature.value_words(1) == "rents" and feature.value_words(3) == "3"


CODES = {f"I{i:02d}": name for i, name in enumerate(sorted(("software", "retail", "healthcare", "energy")), start=1)}


@pytest.fixture(scope="module")
def coded(accounts: pd.DataFrame, default_raw: dict[str, Any]) -> tuple[GovernanceConfig, Dataset, Any]:
    """Applicants whose industry is coded (I01...), the config naming all codes but one, a model trained on them."""
    from governance.config import Candidate
    from governance.train import train_candidate
    from tests.explain.conftest import _config, _prepare

    words = {code: f"works in {name}" for code, name in CODES.items()}
    recode = {name: code for code, name in CODES.items()}
    frame = accounts.assign(industry=accounts["industry"].map(lambda v: recode.get(v, "I99")))
    raw = copy.deepcopy(default_raw)
    raw["purpose"]["subject"] = "applicant"
    for feature in raw["features"]:
        if feature["name"] == "industry":
            feature.pop("describe", None)
            feature["describe_values"] = words
        if feature["name"] == "region":
            feature["describe_values"] = {"EMEA": "Europe, Middle East and Africa"}
    config = _config(raw, reason_codes=20)
    dataset = _prepare(frame, config)
    candidate = Candidate.model_validate({"name": "plain", "kind": "logistic_regression"})
    return config, dataset, train_candidate(candidate, dataset, seed=1).model


def test_reason_codes_of_coded_categories_show_the_configs_words(coded: tuple[GovernanceConfig, Dataset, Any]) -> None:
    config, dataset, model = coded
    seen: dict[str, set[str]] = {"industry": set(), "region": set()}
    for pseudonym in dataset.pseudonyms[:40]:
        result = explain_account(model, dataset, str(pseudonym), config=config, name="plain")
        assert result.score_text.endswith(f"of {len(dataset.pseudonyms):,} applicants")
        assert result.to_dict()["subjects"] == "applicants"
        for reason in result.reasons:
            if reason.feature in seen:
                seen[reason.feature].add(reason.text)
                assert re.search(r"\(\d+% of applicants\): (raises|lowers) the score$", reason.text), reason.text
    industry = seen["industry"]
    assert any(t.startswith("works in ") for t in industry), industry
    assert all(t.startswith("works in ") or t.startswith("industry is I99 (") for t in industry), industry
    assert not any(re.search(r"\bI0\d\b", t) for t in industry), industry  # a named code never shows as a code
    region = seen["region"]
    assert any(t.startswith("region is Europe, Middle East and Africa (") for t in region), region
    assert all("EMEA" not in t for t in region) and any(t.startswith("region is NA (") for t in region), region
    assert not any("account" in t for texts in seen.values() for t in texts)
