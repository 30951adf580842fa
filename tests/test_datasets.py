from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from governance import datasets
from governance.datasets import COLUMNS, generate_accounts, write_accounts
from governance.privacy import looks_like_pii

LEGITIMATE = [
    "employee_count",
    "annual_revenue",
    "company_age_years",
    "web_visits_30d",
    "content_downloads_90d",
    "email_opens_90d",
    "email_clicks_90d",
    "intent_score",
    "tech_fit_score",
    "prior_purchases",
    "open_opportunities",
    "days_since_last_touch",
]


def _conversion_gap(frame: pd.DataFrame) -> float:
    rates = frame.groupby("ownership")["converted_90d"].mean()
    return float(rates["none"] - rates["minority_owned"])


def test_same_seed_gives_the_same_table_and_another_seed_does_not() -> None:
    a = generate_accounts(3000, seed=11, bias=0.5)
    b = generate_accounts(3000, seed=11, bias=0.5)
    c = generate_accounts(3000, seed=12, bias=0.5)
    pd.testing.assert_frame_equal(a, b)
    assert not a["web_visits_30d"].equals(c["web_visits_30d"])
    assert tuple(a.columns) == COLUMNS


def test_chunks_are_deterministic_and_ids_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "CHUNK_ROWS", 1000)
    a = generate_accounts(2500, seed=3)
    b = generate_accounts(2500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a["account_id"].is_unique
    assert a["account_id"].iloc[0] == "ACC-3000000001" and a["account_id"].iloc[-1] == "ACC-3000002500"
    assert (
        not a.iloc[:1000]["intent_score"]
        .reset_index(drop=True)
        .equals(a.iloc[1000:2000]["intent_score"].reset_index(drop=True))
    )


def test_distributions_are_realistic() -> None:
    frame = generate_accounts(50_000, seed=5, bias=0.0)
    assert 0.08 <= frame["converted_90d"].mean() <= 0.15
    for column in ("annual_revenue", "employee_count"):
        values = frame[column]
        assert values.mean() > 2 * values.median(), f"{column} should be heavy-tailed"
        assert values.max() > 100 * values.median()
    engagement = frame[["web_visits_30d", "content_downloads_90d", "email_opens_90d", "intent_score"]]
    corr = engagement.corr(method="spearman").to_numpy()
    assert (corr[np.triu_indices(4, 1)] > 0.15).all(), "engagement signals should be correlated"
    no_consent = ~frame["consent_marketing"] | frame["consent_timestamp"].isna() | frame["lawful_basis"].eq("none")
    assert 0.02 <= no_consent.mean() <= 0.08
    shares = frame["ownership"].value_counts(normalize=True)
    assert set(shares.index) == set(datasets.OWNERSHIP)
    assert set(frame["size_band"]) == {"micro", "small", "medium", "large", "enterprise"}


def test_pii_columns_look_real_and_are_detected() -> None:
    frame = generate_accounts(1000, seed=1)
    assert looks_like_pii(frame["contact_email"]) == "e-mail addresses"
    assert looks_like_pii(frame["contact_phone"]) == "phone numbers"
    assert frame["company_name"].str.split().str.len().eq(3).all()
    assert frame["contact_phone"].str.match(r"^\+1 \d{3} 555 01\d\d$").all()


def test_proxy_reveals_ownership_at_any_bias() -> None:
    frame = generate_accounts(40_000, seed=2, bias=0.0)
    low = frame["hq_postcode_cluster"].isin([f"PC-0{i}" for i in range(1, 7)])
    minority = frame["ownership"].eq("minority_owned")
    assert low[minority].mean() > 0.6 and low[~minority].mean() < 0.3


def _ownership_effect_given_signals(frame: pd.DataFrame) -> float:
    """Coefficient of minority ownership in a logistic model that also sees every legitimate signal."""
    X = np.log1p(frame[LEGITIMATE].to_numpy(dtype=float))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    owner = pd.get_dummies(frame["ownership"]).drop(columns="none").astype(float)
    model = LogisticRegression(C=1e6, max_iter=2000).fit(np.hstack([X, owner.to_numpy()]), frame["converted_90d"])
    return float(model.coef_[0][len(LEGITIMATE) + list(owner.columns).index("minority_owned")])


def test_without_bias_conversion_does_not_depend_on_ownership_given_signals() -> None:
    frame = generate_accounts(200_000, seed=9, bias=0.0)
    assert abs(_ownership_effect_given_signals(frame)) < 0.06
    assert abs(_conversion_gap(frame)) < 0.01


def test_with_bias_the_ownership_gap_grows_with_bias() -> None:
    gaps = [_conversion_gap(generate_accounts(100_000, seed=9, bias=b)) for b in (0.25, 0.5, 1.0)]
    assert gaps[0] > 0.01
    assert gaps[0] < gaps[1] < gaps[2]
    effect = _ownership_effect_given_signals(generate_accounts(200_000, seed=9, bias=1.0))
    assert effect < -0.5, "given the signals, minority-owned accounts still convert less under bias"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_accounts_round_trips_and_leaves_no_temporary_file(tmp_path: Path, suffix: str) -> None:
    calls: list[tuple[int, int]] = []
    path = write_accounts(
        tmp_path / f"a{suffix}", rows=1500, seed=4, bias=0.3, progress=lambda d, t: calls.append((d, t))
    )
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    expected = generate_accounts(1500, seed=4, bias=0.3)
    assert list(back.columns) == list(COLUMNS)
    assert back["account_id"].tolist() == expected["account_id"].tolist()
    np.testing.assert_allclose(back["annual_revenue"], expected["annual_revenue"])
    assert calls[-1] == (1500, 1500)
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"out: expected a file ending in \.csv or \.parquet"):
        write_accounts(tmp_path / "a.xlsx", rows=10)
    with pytest.raises(ValueError, match="rows: expected a positive integer"):
        generate_accounts(0)
    with pytest.raises(ValueError, match="bias: expected a finite number >= 0"):
        generate_accounts(10, bias=-1.0)
