"""The stratified sample of accounts to explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.config import GovernanceConfig
from governance.data import Dataset
from governance.explain import (
    explain,
    stratified_sample,
)
from governance.train import TrainedCandidate

# ---------------------------------------------------------------- the stratified sample


def test_stratified_sample_takes_per_group_accounts_and_all_of_a_small_group() -> None:
    rng = np.random.default_rng(0)
    sensitive = pd.DataFrame(
        {
            "a": rng.choice(["big", "mid", "tiny"], p=[0.8, 0.195, 0.005], size=20_000),
            "b": rng.choice(["x", "y"], size=20_000),
        }
    )
    sample = stratified_sample(sensitive, per_group=300, seed=1)
    drawn = sensitive.iloc[sample.rows].reset_index(drop=True)
    tiny = int((sensitive["a"] == "tiny").sum())
    assert tiny < 300
    for column in ("a", "b"):
        for group, n in sensitive[column].value_counts().items():
            members = sample.members(column, str(group))
            assert sample.sizes[column][group] == len(members) == min(300, n)  # exactly per_group, or all
            assert (drawn[column].iloc[members] == group).all()
    # coordinated draws overlap: fewer accounts to explain than the draws hold together
    assert len(sample) < sum(sum(sizes.values()) for sizes in sample.sizes.values())
    assert len(sample) <= 300 * 5  # bounded by the number of groups, whatever the rows
    rows, weights = sample.overall()
    assert len(np.unique(rows)) == len(rows) == 300 * 2 + tiny
    assert weights.sum() == pytest.approx(len(sensitive))  # the stratified estimate stands for every account
    again = stratified_sample(sensitive, per_group=300, seed=1)
    assert np.array_equal(again.rows, sample.rows)
    assert not np.array_equal(stratified_sample(sensitive, per_group=300, seed=2).rows, sample.rows)


def test_each_groups_sample_is_a_uniform_draw() -> None:
    # accounts of one group are drawn alike whatever their other attribute: no size band is favoured
    rng = np.random.default_rng(3)
    sensitive = pd.DataFrame(
        {"a": rng.choice(["p", "q"], p=[0.9, 0.1], size=40_000), "b": rng.choice(["u", "v"], size=40_000)}
    )
    shares = []
    for seed in range(20):
        sample = stratified_sample(sensitive, per_group=400, seed=seed)
        drawn = sensitive.iloc[sample.rows].reset_index(drop=True).iloc[sample.members("a", "p")]
        shares.append((drawn["b"] == "u").mean())
    expected = (sensitive.loc[sensitive["a"] == "p", "b"] == "u").mean()
    assert np.mean(shares) == pytest.approx(expected, abs=0.01)


def test_explanation_sample_covers_every_group_of_every_attribute(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    explanation = explain(trained["logistic_regression"].model, dataset, config=config, name="lr")
    test = dataset.test.sensitive
    for attribute in ("ownership", "size_band"):
        sizes = explanation.sample_sizes[attribute]
        for group, n in test[attribute].value_counts().items():
            assert sizes[group] >= min(150, n)
    assert explanation.sample_rows <= 150 * 9
