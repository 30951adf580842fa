"""Reason codes: readable, deterministic, free of identifiers and sensitive attributes."""

from __future__ import annotations

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
