"""The AUC functions of governance.stats against scikit-learn and scipy, on random labels and tied scores."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from governance.stats import auc_from_counts, auc_of_scores, midranks, paired_delong, roc_from_counts

_rows = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(_rows)
def test_auc_of_scores_equals_sklearn_with_ties(rows: list[tuple[int, int]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float) / 6.0
    got = auc_of_scores(y, s)
    if len(set(y.tolist())) < 2:
        assert got is None
    else:
        assert got is not None and abs(got - roc_auc_score(y, s)) < 1e-12


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=50))
def test_midranks_equal_scipy_average_ranks(values: list[int]) -> None:
    assert np.allclose(midranks(values), rankdata(values, method="average"))


@settings(max_examples=100, deadline=None)
@given(_rows)
def test_roc_points_from_counts_are_sklearns_curve(rows: list[tuple[int, int]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    if len(set(y.tolist())) < 2:
        return
    values = np.unique(s)
    neg = np.array([((s == v) & (y == 0)).sum() for v in values])
    pos = np.array([((s == v) & (y == 1)).sum() for v in values])
    fpr, tpr = roc_from_counts(neg, pos)
    ref_fpr, ref_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    assert abs(float(auc_from_counts(neg, pos)) - roc_auc_score(y, s)) < 1e-12


def test_paired_delong_gives_both_aucs_and_zero_variance_for_identical_scores() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = rng.normal(size=300) + y
    b = rng.normal(size=300) + 0.5 * y
    auc_a, auc_b, variance = paired_delong(y, a, b)
    assert abs(auc_a - roc_auc_score(y, a)) < 1e-12 and abs(auc_b - roc_auc_score(y, b)) < 1e-12
    assert variance > 0
    assert paired_delong(y, a, a)[2] == 0.0


def test_auc_from_counts_is_nan_without_both_classes() -> None:
    assert np.isnan(auc_from_counts([0, 0], [1, 2]))
