from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.config import load_config
from governance.data import DevelopmentKeyWarning, SplitCounts, consent_mask, load_table, prepare, split_group_counts
from governance.errors import DataValidationError, PrivacyError
from tests.conftest import WriteConfig

PII = ("company_name", "contact_email", "contact_phone")


def _problems(exc: pytest.ExceptionInfo[DataValidationError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_consent_filter_excludes_first_and_counts_by_reason(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    dataset = prepare(load_config(write_config()))
    not_given = int((~accounts["consent_marketing"]).sum())
    no_stamp = int((accounts["consent_marketing"] & accounts["consent_timestamp"].isna()).sum())
    bad_basis = int(
        (
            accounts["consent_marketing"] & accounts["consent_timestamp"].notna() & accounts["lawful_basis"].eq("none")
        ).sum()
    )
    assert dict(dataset.excluded) == {
        "consent_not_given": not_given,
        "consent_timestamp_missing": no_stamp,
        "lawful_basis_not_accepted": bad_basis,
    }
    assert dataset.rows_in == len(accounts)
    assert dataset.rows_used == len(accounts) - not_given - no_stamp - bad_basis
    assert len(dataset.X) == len(dataset.y) == len(dataset.pseudonyms) == dataset.rows_used


def test_expired_and_future_consent_are_excluded_with_as_of(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["consent"]["max_age_days"] = 365
        raw["data"]["consent"]["as_of"] = "2025-06-30"

    dataset = prepare(load_config(write_config(edit=edit)))
    assert dataset.excluded["consent_expired"] > 0
    assert dataset.excluded["consent_timestamp_in_future"] > 0


def test_undeclared_and_pii_columns_are_dropped_and_listed(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    frame = accounts.assign(notes="free text")
    dataset = prepare(load_config(write_config(frame=frame)))
    assert {c: dataset.dropped_columns[c] for c in PII} == dict.fromkeys(PII, "pii")
    assert dataset.dropped_columns["notes"] == "undeclared"
    assert dataset.dropped_columns["country"] == "undeclared"
    assert dataset.dropped_columns["consent_marketing"] == "consent"
    assert list(dataset.X.columns) == list(dataset.features)


def test_model_matrix_holds_no_pii_no_id_and_no_sensitive_attribute(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    dataset = prepare(load_config(write_config()))
    assert not {"ownership", "size_band", "account_id", *PII} & set(dataset.X.columns)
    values = {str(v) for v in np.ravel(dataset.X.to_numpy(dtype=object))}
    for column in ("account_id", *PII):
        assert not values & set(accounts[column].astype(str)), column
    assert not set(dataset.pseudonyms) & set(accounts["account_id"])
    assert list(dataset.sensitive.columns) == ["ownership", "size_band"]


def test_pii_looking_feature_is_refused_whatever_its_name(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    frame = accounts.assign(lead_source=accounts["contact_email"], hotline=accounts["contact_phone"])

    def edit(raw: dict[str, Any]) -> None:
        raw["features"].append({"name": "lead_source", "type": "categorical", "justification": "channel"})
        raw["features"].append({"name": "hotline", "type": "categorical", "justification": "support"})

    with pytest.raises(PrivacyError) as info:
        prepare(load_config(write_config(frame=frame, edit=edit)))
    message = str(info.value)
    assert "features.lead_source: its values look like e-mail addresses" in message
    assert "features.hotline: its values look like phone numbers" in message
    assert info.value.exit_code == 4
    assert not any(email in message for email in accounts["contact_email"].head(50))


def test_every_data_problem_is_reported_at_once_without_values(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    frame = accounts.drop(columns=["intent_score", "region"]).copy()
    frame["converted_90d"] = frame["converted_90d"].astype(float)
    frame.loc[0:2, "converted_90d"] = np.nan
    frame.loc[3:4, "converted_90d"] = 2.0
    frame.loc[5, "account_id"] = frame.loc[6, "account_id"]
    frame["ownership"] = frame["ownership"].astype(object)
    frame.loc[7:9, "ownership"] = None
    frame["employee_count"] = frame["employee_count"].astype(str) + " staff"
    with pytest.raises(DataValidationError) as info:
        prepare(load_config(write_config(frame=frame)))
    problems = _problems(info)
    text = "\n".join(problems)
    assert len(problems) == 7, problems
    assert "intent_score: missing column (the config declares it as the feature)" in text
    assert "region: missing column" in text
    assert "converted_90d: 3 row(s) have no label" in text
    assert "converted_90d: the label must be binary 0/1" in text
    assert "account_id: 1 duplicated identifier(s)" in text
    assert "ownership: 3 row(s) have no value for this sensitive attribute" in text and "missing: group" in text
    assert "features.employee_count: declared numeric" in text
    assert "staff" not in text and str(frame.loc[5, "account_id"]) not in text


def test_missing_sensitive_values_become_a_group_when_configured(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    frame = accounts.copy()
    frame["ownership"] = frame["ownership"].astype(object)
    frame.loc[frame.index[:40], "ownership"] = None

    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][0]["missing"] = "group"
        raw["sensitive"]["attributes"][0]["missing_label"] = "not stated"

    dataset = prepare(load_config(write_config(frame=frame, edit=edit)))
    kept = consent_mask(frame, load_config(write_config(frame=frame, edit=edit)))[0]
    assert dataset.group_sizes["ownership"]["not stated"] == int(frame.loc[kept, "ownership"].isna().sum())


def _size_band_read_from_the_file(raw: dict[str, Any]) -> None:
    """Declare size_band as the file's own column (the demo computes it from employee_count)."""
    raw["sensitive"]["attributes"][1] = {
        "name": "size_band",
        "categories": ["micro", "small", "medium", "large", "enterprise"],
        "reference": "medium",
    }


def test_continuous_sensitive_attribute_is_refused(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    frame = accounts.assign(size_band=np.random.default_rng(0).random(len(accounts)))
    with pytest.raises(DataValidationError, match=r"size_band: looks continuous .* bin it into bands"):
        prepare(load_config(write_config(frame=frame, edit=_size_band_read_from_the_file)))


def test_empty_file_and_no_consented_rows_say_why(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="the file has no rows"):
        prepare(load_config(write_config(frame=accounts.iloc[:0])))
    nobody = accounts.assign(consent_marketing=False)
    with pytest.raises(
        DataValidationError,
        match=r"no row is usable after the consent filter \(4000 rows in; excluded consent_not_given: 4000\)",
    ):
        prepare(load_config(write_config(frame=nobody)))


def test_unreadable_consent_flags_are_reported(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    frame = accounts.assign(consent_marketing=accounts["consent_marketing"].map({True: "yes", False: "no"}))
    frame.loc[0:4, "consent_marketing"] = "maybe"
    with pytest.raises(DataValidationError, match="consent_marketing: 5 value"):
        prepare(load_config(write_config(frame=frame)))


def test_missing_file_and_wrong_format_are_clear(tmp_path: Any) -> None:
    with pytest.raises(DataValidationError, match=r"data\.path: file not found"):
        load_table(tmp_path / "nope.parquet")
    with pytest.raises(DataValidationError, match=r"expected a \.csv or \.parquet file, found 'x\.xlsx'"):
        load_table(tmp_path / "x.xlsx")


def test_split_is_deterministic_and_independent_of_row_order(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    config = load_config(write_config())
    first = prepare(config)
    again = prepare(config)
    np.testing.assert_array_equal(first.split, again.split)
    shuffled = accounts.sample(frac=1.0, random_state=1).reset_index(drop=True)
    other = prepare(config, frame=shuffled)
    side = dict(zip(first.pseudonyms, first.split, strict=True))
    assert all(side[p] == s for p, s in zip(other.pseudonyms, other.split, strict=True))


def test_split_is_stratified_by_label_and_sensitive_group(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    dataset = prepare(config)
    strata = dataset.sensitive.assign(label=dataset.y, split=dataset.split)
    for _, stratum in strata.groupby(["ownership", "size_band", "label"]):
        n = len(stratum)
        for code, share in ((1, config.data.split.validation), (2, config.data.split.test)):
            assert abs((stratum["split"] == code).sum() - n * share) <= 1
    assert abs(dataset.test.y.mean() - dataset.y.mean()) < 0.01
    assert len(dataset.train) + len(dataset.validation) + len(dataset.test) == dataset.rows_used


def test_fingerprint_changes_with_the_data_used_and_not_with_the_format(
    write_config: WriteConfig, accounts: pd.DataFrame, tmp_path: Any
) -> None:
    config = load_config(write_config())
    base = prepare(config)
    assert prepare(config).fingerprint == base.fingerprint
    changed = accounts.copy()
    row = int(np.flatnonzero(consent_mask(accounts, config)[0])[0])
    changed.loc[row, "web_visits_30d"] += 1
    assert prepare(config, frame=changed).fingerprint != base.fingerprint
    csv = tmp_path / "accounts.csv"
    accounts.to_csv(csv, index=False)
    assert prepare(config, frame=load_table(csv)).fingerprint == base.fingerprint


def test_development_key_warns_and_is_recorded(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    with pytest.warns(DevelopmentKeyWarning, match="PUBLIC development key"):
        dataset = prepare(load_config(write_config()))
    assert dataset.pseudonymization.development_key


def test_required_key_is_refused_when_missing(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")

    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["require_pseudonym_key"] = True

    with pytest.raises(PrivacyError, match="requires a real pseudonymization key"):
        prepare(load_config(write_config(edit=edit)))


def test_split_group_counts_equal_a_plain_count_for_every_attribute_and_intersection(
    write_config: WriteConfig,
) -> None:
    config = load_config(write_config())
    dataset = prepare(config)
    scopes = split_group_counts(dataset, sensitive=config.sensitive)
    assert [s.name for s in scopes] == ["ownership", "size_band", "ownership & size_band"]
    frame = dataset.sensitive.assign(split=dataset.split, y=dataset.y)
    for scope in scopes:
        names = frame[list(scope.parts)].astype(str).agg(" & ".join, axis=1)
        observed = [g for g in scope.groups if not g.declared_absent]
        assert [g.group for g in observed] == sorted(set(names))  # only the cells that occur
        for g in observed:
            for code, counts in enumerate((g.train, g.validation, g.test)):
                rows = frame[(names == g.group).to_numpy() & (frame["split"] == code).to_numpy()]
                expected = SplitCounts(len(rows), int(rows["y"].sum()), int((rows["y"] == 0).sum()))
                assert counts == expected, (scope.name, g.group, code)
        assert sum(g.train.rows + g.validation.rows + g.test.rows for g in scope.groups) == dataset.rows_used


def test_split_group_counts_flag_what_each_group_lacks_on_the_test_split(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    frame = accounts.copy()
    frame.loc[frame["ownership"] == "women_owned", "converted_90d"] = 1  # no negatives left

    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][0]["categories"].append("cooperative")  # declared, never seen
        raw["sensitive"]["min_group_size"] = 100
        raw["sensitive"]["min_events"] = 20

    config = load_config(write_config(frame=frame, edit=edit))
    ownership = split_group_counts(prepare(config), sensitive=config.sensitive)[0]
    groups = {g.group: g for g in ownership.groups}
    assert list(groups)[-1] == "cooperative" and groups["cooperative"].declared_absent
    assert [(f.what, f.found) for f in groups["cooperative"].shortfalls] == [("rows", 0)]
    assert not groups["none"].insufficient
    minority, women, veteran = groups["minority_owned"], groups["women_owned"], groups["veteran_owned"]
    assert minority.test.rows >= 100 and women.test.rows >= 100 and veteran.test.rows < 100
    assert [(f.what, f.found, f.needed) for f in minority.shortfalls] == [("positives", minority.test.positives, 20)]
    assert minority.shortfalls[0].message == (
        f"{minority.test.positives} positives, fewer than min_events 20 "
        "(true positive and false negative rates cannot be judged)"
    )
    assert [(f.what, f.found) for f in women.shortfalls] == [("negatives", 0)]
    assert "false positive and true negative rates cannot be judged" in women.shortfalls[0].message
    # too small to be judged at all: rows is its only shortfall, whatever its events
    assert [f.what for f in veteran.shortfalls] == ["rows"] and veteran.test.positives < 20
    assert veteran.shortfalls[0].message.startswith(f"{veteran.test.rows} rows, fewer than min_group_size 100")


def test_an_integer_attribute_with_many_values_is_refused_with_a_binning_hint(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    frame = accounts.assign(size_band=np.random.default_rng(0).integers(18, 90, len(accounts)))
    with pytest.raises(DataValidationError) as info:
        prepare(load_config(write_config(frame=frame, edit=_size_band_read_from_the_file)))
    (problem,) = _problems(info)
    assert "size_band: looks continuous (72 distinct integers, from 18 to 89)" in problem
    assert "add `bins: [" in problem


def test_a_binned_attribute_is_audited_in_its_bands(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    ages = np.random.default_rng(1).integers(18, 90, len(accounts))
    frame = accounts.assign(size_band=ages)

    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][1] = {"name": "size_band", "bins": [25, 45, 65], "reference": "[25, 45)"}

    dataset = prepare(load_config(write_config(frame=frame, edit=edit)))
    kept = consent_mask(frame, load_config(write_config(frame=frame, edit=edit)))[0]
    used = ages[kept]
    expected = {
        "< 25": int((used < 25).sum()),
        "[25, 45)": int(((used >= 25) & (used < 45)).sum()),
        "[45, 65)": int(((used >= 45) & (used < 65)).sum()),
        ">= 65": int((used >= 65).sum()),
    }
    assert dict(dataset.group_sizes["size_band"]) == expected
    assert set(dataset.sensitive["size_band"]) == set(expected)


def test_a_dataset_wide_lawful_basis_needs_no_consent_column(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    frame = accounts.drop(columns=["consent_marketing", "consent_timestamp", "lawful_basis"])

    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["consent"] = {"lawful_basis": "research", "reason": "Synthetic research extract."}

    dataset = prepare(load_config(write_config(frame=frame, edit=edit)))
    assert dataset.rows_used == dataset.rows_in == len(frame)
    assert not any(reason.startswith("consent") or reason.startswith("lawful") for reason in dataset.excluded)


def test_a_missing_consent_column_names_the_keys_that_can_be_null(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    frame = accounts.drop(columns=["consent_timestamp", "consent_marketing"])
    with pytest.raises(DataValidationError) as info:
        prepare(load_config(write_config(frame=frame)))
    text = "\n".join(_problems(info))
    assert "`data.consent.timestamp_column: null` to skip that check" in text
    assert "consent_marketing: missing column" in text and "`data.consent.lawful_basis:`" in text
