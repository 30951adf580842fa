"""Proxy detection: planted proxies flagged, none invented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mutual_info_score, roc_auc_score

from governance.data import Dataset
from governance.explain import (
    _auc_from_cells,
    _nmi,
    detect_proxies,
)

# ---------------------------------------------------------------- proxies


def test_the_planted_proxy_is_flagged_and_ordinary_features_are_not(dataset: Dataset) -> None:
    report = detect_proxies(
        dataset.X,
        dataset.sensitive,
        categorical=dataset.categorical,
        derived_from={"size_band": ["employee_count"]},
        joint_rows=3000,
        seed=3,
    )
    flagged = {(c.feature, c.attribute) for c in report.flagged}
    assert flagged == {("hq_postcode_cluster", "ownership")}
    proxy = report.check("hq_postcode_cluster", "ownership")
    assert proxy.nmi >= 0.05 and proxy.auc is not None and proxy.auc >= 0.65
    assert proxy.auc_group == "minority_owned"
    # size_band is derived from employee_count: reported (it predicts it almost perfectly), never flagged
    size = report.check("employee_count", "size_band")
    assert size.derived and not size.flagged and size.nmi > 0.8
    joint = {j.attribute: j for j in report.joint}
    assert joint["ownership"].flagged and joint["ownership"].auc is not None and joint["ownership"].auc > 0.65
    assert joint["size_band"].derived and not joint["size_band"].flagged
    assert joint["size_band"].auc is not None and joint["size_band"].auc > 0.99  # determined by employee_count


def test_without_a_declared_derivation_the_size_features_are_flagged_for_size_band(dataset: Dataset) -> None:
    report = detect_proxies(dataset.X, dataset.sensitive, categorical=dataset.categorical, joint_rows=500)
    assert report.check("employee_count", "size_band").flagged
    assert report.check("annual_revenue", "size_band").flagged


def test_no_proxy_is_invented_on_independent_random_features(dataset: Dataset) -> None:
    rng = np.random.default_rng(11)
    n = len(dataset.X)
    X = pd.DataFrame(
        {
            "count": rng.poisson(2.0, n).astype(float),
            "amount": rng.lognormal(3.0, 1.5, n),
            "score": rng.integers(0, 101, n).astype(float),
            "code": rng.choice([f"C{i:02d}" for i in range(30)], n).astype(object),
            "kind": rng.choice(["a", "b", "c"], n).astype(object),
        }
    )
    report = detect_proxies(X, dataset.sensitive, categorical=["code", "kind"], joint_rows=3000, seed=5)
    assert not report.flagged
    assert all(c.nmi < 0.02 and (c.auc is None or c.auc < 0.6) for c in report.checks)
    assert not any(j.flagged for j in report.joint)


def test_nmi_is_bias_corrected_mutual_information_over_the_attributes_entropy() -> None:
    rng = np.random.default_rng(0)
    attribute = rng.integers(0, 4, 5000)
    feature = np.where(rng.random(5000) < 0.5, attribute, rng.integers(0, 4, 5000))
    mi = mutual_info_score(attribute, feature)
    entropy = mutual_info_score(attribute, attribute)
    expected = (mi - 3 * 3 / (2 * 5000)) / entropy
    assert _nmi(feature, attribute, 4) == pytest.approx(expected)
    assert _nmi(attribute, attribute, 4) == pytest.approx(1.0, abs=1e-3)


def test_auc_from_cell_counts_equals_roc_auc_with_ties() -> None:
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 12, 3000)
    score_of_cell = rng.choice([0.1, 0.2, 0.2, 0.5, 0.7, 0.9], 12)
    labels = (rng.random(3000) < score_of_cell[cells]).astype(int)
    positives = np.bincount(cells, weights=labels, minlength=12)
    negatives = np.bincount(cells, weights=1 - labels, minlength=12)
    assert _auc_from_cells(positives, negatives, score_of_cell) == pytest.approx(
        roc_auc_score(labels, score_of_cell[cells])
    )
