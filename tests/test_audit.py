"""Tests for governance.audit: exact against fairlearn, honest on degenerate input, cheap at scale."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

import governance.audit as audit_module
import governance.audit._counting as counting_module
import governance.audit._engine as engine_module
from governance.audit import (
    FAIRNESS_METRICS,
    METRICS,
    SCHEMA,
    AuditReport,
    audit,
)
from governance.errors import DataValidationError

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9
Array = Any

# ---------------------------------------------------------------------------------------------
# Reference implementations (fairlearn and scikit-learn)
# ---------------------------------------------------------------------------------------------


def _auc(y: Array, s: Array) -> float:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else math.nan


def _precision_at_k(share: float) -> Callable[[Array, Array], float]:
    def metric(y: Array, s: Array) -> float:
        y, s = np.asarray(y), np.asarray(s)
        k = max(1, math.ceil(round(share * len(s), 9)))
        cut = np.sort(s)[::-1][k - 1]
        return float(precision_score(y, s >= cut, zero_division=0))

    return metric


THRESHOLD_REFERENCE: dict[str, Callable[[Array, Array], float]] = {
    "count": count,
    "base_rate": lambda y, d: float(np.mean(y)),
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "true_negative_rate": true_negative_rate,
    "precision": lambda y, d: precision_score(y, d, zero_division=0),
    "negative_predictive_value": lambda y, d: precision_score(y, d, pos_label=0, zero_division=0),
    "accuracy": accuracy_score,
}


def _score_reference(share: float) -> dict[str, Callable[[Array, Array], float]]:
    return {
        "auc": _auc,
        "mean_score": lambda y, s: float(np.mean(s)),
        "calibration_gap": lambda y, s: float(np.mean(s) - np.mean(y)),
        "precision_at_k": _precision_at_k(share),
    }


def _denominator(metric: str, y: Array, d: Array) -> int:
    """The denominator of a metric on one group (0: undefined)."""
    return {
        "true_positive_rate": int(y.sum()),
        "false_negative_rate": int(y.sum()),
        "false_positive_rate": int((~y).sum()),
        "true_negative_rate": int((~y).sum()),
        "precision": int(d.sum()),
        "negative_predictive_value": int((~d).sum()),
        "auc": int(min(y.sum(), (~y).sum())),
    }.get(metric, len(y))


def _frames(
    y: Array, d: Array, s: Array, features: pd.Series | pd.DataFrame, share: float
) -> tuple[pd.DataFrame, pd.Series]:
    """fairlearn by_group and overall for every metric."""
    threshold = MetricFrame(metrics=THRESHOLD_REFERENCE, y_true=y, y_pred=d, sensitive_features=features)
    score = MetricFrame(metrics=_score_reference(share), y_true=y, y_pred=s, sensitive_features=features)
    by_group = pd.concat([threshold.by_group, score.by_group], axis=1)
    overall = pd.concat([threshold.overall, score.overall])
    return by_group, overall


@st.composite
def audit_inputs(draw: st.DrawFn) -> tuple[Array, Array, dict[str, Array], float]:
    """Random labels, tied scores, 1-3 attributes with 2-5 skewed groups (tiny and empty cells)."""
    n = draw(st.integers(4, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    attributes: dict[str, Array] = {}
    for j in range(draw(st.integers(1, 3))):
        k = draw(st.integers(2, 5))
        codes = rng.choice(k, n, p=rng.dirichlet(np.full(k, 0.6)))
        codes[:2] = [0, 1]  # at least two groups
        attributes[f"attr{j}"] = np.array([f"g{c}" for c in codes])
    y = rng.random(n) < draw(st.floats(0.0, 1.0))
    decimals = draw(st.sampled_from([1, 2, 8]))  # few decimals: many ties
    scores = np.round(rng.random(n) * 0.6 + 0.3 * y, decimals)
    threshold = draw(st.sampled_from([0.0, 0.35, 0.5, 0.8, 2.0]))
    return y, scores, attributes, threshold


def _levels(attributes: Mapping[str, Array]) -> list[tuple[str, pd.Series | pd.DataFrame]]:
    """(attribute name in the report, fairlearn sensitive_features) for singles and the full intersection."""
    out: list[tuple[str, pd.Series | pd.DataFrame]] = [
        (name, pd.Series(v, name=name)) for name, v in attributes.items()
    ]
    if len(attributes) > 1:
        out.append((" & ".join(attributes), pd.DataFrame(dict(attributes))))
    return out


def _rows_of(features: pd.Series | pd.DataFrame, index: object) -> Array:
    """Mask of the rows of one fairlearn group."""
    if isinstance(features, pd.Series):
        return features.to_numpy() == index
    parts = index if isinstance(index, tuple) else (index,)
    return np.all([features[c].to_numpy() == p for c, p in zip(features.columns, parts, strict=True)], axis=0)


def _group_name(index: object) -> str:
    return " & ".join(index) if isinstance(index, tuple) else str(index)


# ---------------------------------------------------------------------------------------------
# Exactness against fairlearn
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(audit_inputs())
def test_every_point_estimate_equals_fairlearn_metricframe(data: tuple[Array, Array, dict[str, Array], float]) -> None:
    y, s, attributes, threshold = data
    d = s >= threshold
    report = audit(
        y, s, sensitive=attributes, threshold=threshold, intersections="all", n_boot=0, min_group_size=1, min_events=1
    )
    share = 0.1
    _, overall = _frames(y, d, s, pd.Series(np.zeros(len(y)), name="all"), share)
    for metric in METRICS:
        ours = report.overall[metric]
        if ours.status == "undefined":
            assert _denominator(metric, y, d) == 0
        else:
            assert ours.value == pytest.approx(overall[metric], abs=TOLERANCE), metric
    for attribute, features in _levels(attributes):
        by_group, _ = _frames(y, d, s, features, share)
        for index, row in by_group.iterrows():
            if math.isnan(row["count"]):
                continue  # an empty intersection: fairlearn reports NaN, we list no such occupied group
            group = report.group(attribute, _group_name(index))
            mask = _rows_of(features, index)
            for metric in METRICS:
                ours = group.metrics[metric]
                if _denominator(metric, y[mask], d[mask]) == 0:
                    assert ours.status == "undefined" and ours.value is None, (attribute, index, metric)
                else:
                    assert ours.value == pytest.approx(row[metric], abs=TOLERANCE), (attribute, index, metric)


@settings(max_examples=25, deadline=None)
@given(audit_inputs())
def test_named_fairness_metrics_equal_fairlearn(data: tuple[Array, Array, dict[str, Array], float]) -> None:
    y, s, attributes, threshold = data
    d = s >= threshold
    report = audit(
        y, s, sensitive=attributes, threshold=threshold, intersections="all", n_boot=0, min_group_size=1, min_events=1
    )
    reference = {
        "demographic_parity_difference": demographic_parity_difference,
        "demographic_parity_ratio": demographic_parity_ratio,
        "equalized_odds_difference": equalized_odds_difference,
        "equalized_odds_ratio": equalized_odds_ratio,
        "equal_opportunity_difference": equal_opportunity_difference,
    }
    for attribute, features in _levels(attributes):
        frame = MetricFrame(
            metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y,
            y_pred=d,
            sensitive_features=features,
        ).by_group.dropna(how="all")
        for name in FAIRNESS_METRICS:
            ours = report.fairness_metric(attribute, name)
            if ours.excluded_groups:
                continue  # fairlearn scores an undefined rate as 0.0; compared in the test below
            value = reference[name](y, d, sensitive_features=features)
            if ours.value.status == "undefined":  # a ratio whose largest rate is 0: fairlearn gives NaN or 0.0
                columns = ["sel"] if name.startswith("demographic") else ["tpr", "fpr"]
                assert "ratio" in name and frame[columns].max().min() == 0.0
            else:
                assert ours.value.value == pytest.approx(value, abs=TOLERANCE), (attribute, name)
        # with exclusions, our disparities equal fairlearn's group values restricted to the compared groups
        for metric, column in (
            ("true_positive_rate", "tpr"),
            ("false_positive_rate", "fpr"),
            ("selection_rate", "sel"),
        ):
            disparity = report.disparity(attribute, metric)
            compared = frame[[_group_name(i) not in disparity.excluded_groups for i in frame.index]][column]
            if len(compared) >= 2:
                assert disparity.difference.value == pytest.approx(compared.max() - compared.min(), abs=TOLERANCE)
                if compared.max() > 0:
                    assert disparity.ratio.value == pytest.approx(compared.min() / compared.max(), abs=TOLERANCE)
                else:
                    assert disparity.ratio.status == "undefined"
            else:
                assert disparity.difference.status == "insufficient_data"


def test_group_with_no_positives_has_undefined_rates_where_fairlearn_reports_zero() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.2, 0.4, 0.7, 0.1, 0.8, 0.3, 0.6])
    region = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])  # group b has no positive label
    report = audit(y, s, sensitive={"region": region}, threshold=0.5, n_boot=0, min_group_size=1, min_events=1)
    fairlearn_tpr = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=s >= 0.5, sensitive_features=region)
    assert fairlearn_tpr.by_group["b"] == 0.0
    group_b = report.group("region", "b")
    for metric in ("true_positive_rate", "false_negative_rate", "auc"):
        assert group_b.metrics[metric].status == "undefined"
        assert group_b.metrics[metric].value is None
        assert group_b.metrics[metric].reason
    tpr = report.disparity("region", "true_positive_rate")
    assert tpr.excluded_groups == ("b",)
    assert tpr.difference.status == "insufficient_data"
    odds = report.fairness_metric("region", "equalized_odds_ratio")
    assert odds.value.status != "ok" and odds.value.value is None
    assert equalized_odds_ratio(y, s >= 0.5, sensitive_features=region) == 0.0  # fairlearn: fails for lack of evidence


def test_precision_and_npv_are_undefined_without_positive_or_negative_decisions() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.1, 0.2, 0.9, 0.8])
    report = audit(y, s, sensitive={"r": ["a", "a", "b", "b"]}, threshold=0.5, n_boot=0, min_group_size=1, min_events=1)
    assert report.group("r", "a").metrics["precision"].status == "undefined"
    assert report.group("r", "b").metrics["negative_predictive_value"].status == "undefined"
    assert report.group("r", "a").metrics["negative_predictive_value"].value == 0.5


def test_auc_counts_ties_half_like_roc_auc_score() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    s = np.array([0.5, 0.5, 0.5, 0.2, 0.9, 0.9, 0.5, 0.1])
    report = audit(y, s, sensitive={"r": ["a", "b"] * 4}, threshold=0.5, n_boot=0, min_group_size=1, min_events=1)
    assert report.overall["auc"].value == pytest.approx(roc_auc_score(y, s), abs=TOLERANCE)
    for group in ("a", "b"):
        mask = np.array(["a", "b"] * 4) == group
        assert report.group("r", group).metrics["auc"].value == pytest.approx(roc_auc_score(y[mask], s[mask]))


# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------


def _normal_quantile_se(q: float, replicates: int, sd: float) -> float:
    """Standard error of a bootstrap quantile estimate, for a roughly normal statistic."""
    normal = NormalDist()
    return math.sqrt(q * (1 - q) / replicates) / normal.pdf(normal.inv_cdf(q)) * sd


def test_intervals_agree_with_fairlearn_bootstrap_within_monte_carlo_error() -> None:
    """Both are row bootstraps; only Monte Carlo error separates them.

    Tolerance: 4 standard errors of the difference of two independent estimates of the
    2.5% and 97.5% quantiles (normal approximation, SD from our interval), plus one count
    of granularity (1 / group size).
    """
    rng = np.random.default_rng(11)
    n = 3000
    region = rng.choice(["na", "emea", "apac"], n, p=[0.5, 0.3, 0.2])
    y = rng.random(n) < 0.3
    s = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1)
    d = s >= 0.5
    ours_b, theirs_b = 4000, 120
    report = audit(y, s, sensitive={"region": region}, threshold=0.5, n_boot=ours_b, seed=3)
    metrics = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate, "accuracy": accuracy_score}
    frame = MetricFrame(
        metrics=metrics,
        y_true=y,
        y_pred=d,
        sensitive_features=pd.Series(region, name="region"),
        n_boot=theirs_b,
        ci_quantiles=[0.025, 0.975],
        random_state=5,
    )
    low, high = frame.by_group_ci
    for metric in metrics:
        for group in ("na", "emea", "apac"):
            ci = report.group("region", group).metrics[metric].ci
            assert ci is not None
            sd = (ci[1] - ci[0]) / (2 * 1.96)
            se = math.hypot(_normal_quantile_se(0.025, ours_b, sd), _normal_quantile_se(0.025, theirs_b, sd))
            granularity = 1 / int((region == group).sum())
            assert ci[0] == pytest.approx(low.loc[group, metric], abs=4 * se + granularity), (metric, group)
            assert ci[1] == pytest.approx(high.loc[group, metric], abs=4 * se + granularity), (metric, group)
        difference = report.disparity("region", metric).difference.ci
        assert difference is not None
        their_low, their_high = (c[metric] for c in frame.difference_ci())
        sd = (difference[1] - difference[0]) / (2 * 1.96)
        se = math.hypot(_normal_quantile_se(0.025, ours_b, sd), _normal_quantile_se(0.025, theirs_b, sd))
        assert difference[0] == pytest.approx(their_low, abs=4 * se + 0.005)
        assert difference[1] == pytest.approx(their_high, abs=4 * se + 0.005)


def test_score_bins_add_little_error_to_bootstrap_auc_and_precision_at_k() -> None:
    """The error the default 200 score bins add, on the same resampled rows.

    For each row-bootstrap replicate, the exact AUC and precision at k of the resample are
    compared with the binned ones (shifted by exact - binned on the audited data, as the
    audit does). Bound: AUC error below 3e-4 in every replicate, and the spread of precision
    at k within 5% of the exact spread.
    """
    rng = np.random.default_rng(0)
    n, share = 20_000, 0.1
    y = rng.random(n) < 0.2
    s = rng.normal(0, 1, n) + 0.9 * y
    order = np.argsort(s, kind="stable")
    edges, pure = counting_module._score_bins(s[order], 200, None, share)
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.searchsorted(edges, np.arange(n), side="right")

    def binned_precision_at_k(weights: Array) -> float:
        neg = np.bincount(bins, weights=weights * ~y, minlength=len(pure))
        pos = np.bincount(bins, weights=weights * y, minlength=len(pure))
        return float(counting_module._precision_at_k_from_bins(neg[None], pos[None], pure, share)[0])

    def exact_precision_at_k(weights: Array) -> float:
        descending = np.argsort(-s, kind="stable")
        k = max(1, math.ceil(round(share * weights.sum(), 9)))
        cut = s[descending][np.searchsorted(np.cumsum(weights[descending]), k)]
        chosen = s >= cut
        return float((weights * y)[chosen].sum() / weights[chosen].sum())

    ones = np.ones(n)
    shift_auc = roc_auc_score(y, s) - roc_auc_score(y, bins)
    shift_pk = exact_precision_at_k(ones) - binned_precision_at_k(ones)
    auc_errors, pk_exact, pk_binned = [], [], []
    draws = np.random.default_rng(1)
    for _ in range(60):
        w = draws.multinomial(n, np.full(n, 1 / n)).astype(np.float64)
        auc_errors.append(roc_auc_score(y, bins, sample_weight=w) + shift_auc - roc_auc_score(y, s, sample_weight=w))
        pk_exact.append(exact_precision_at_k(w))
        pk_binned.append(binned_precision_at_k(w) + shift_pk)
    assert max(abs(e) for e in auc_errors) < 3e-4
    assert np.std(pk_binned) == pytest.approx(np.std(pk_exact), rel=0.05)
    report = audit(y, s, sensitive={"r": np.where(rng.random(n) < 0.5, "a", "b")}, top_k=share, n_boot=100)
    assert report.bootstrap.score_bins == 200
    assert report.bootstrap.binning_error["auc"] < 1e-3


def test_auc_interval_agrees_with_exact_row_bootstrap() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    y = rng.random(n) < 0.25
    s = rng.normal(0, 1, n) + y
    report = audit(y, s, sensitive={"r": np.where(rng.random(n) < 0.5, "a", "b")}, threshold=0.5, n_boot=2000)
    draws = np.random.default_rng(4)
    exact = [roc_auc_score(y, s, sample_weight=draws.multinomial(n, np.full(n, 1 / n))) for _ in range(300)]
    low, high = np.quantile(exact, [0.025, 0.975])
    ci = report.overall["auc"].ci
    assert ci is not None
    sd = float(np.std(exact))
    se = math.hypot(_normal_quantile_se(0.025, 2000, sd), _normal_quantile_se(0.025, 300, sd))
    assert ci[0] == pytest.approx(low, abs=4 * se)
    assert ci[1] == pytest.approx(high, abs=4 * se)


def test_same_seed_gives_the_same_report_and_another_seed_other_intervals() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    y, s = rng.random(n) < 0.3, rng.random(n)
    sensitive = {"r": rng.choice(["a", "b", "c"], n)}
    first = audit(y, s, sensitive=sensitive, top_k=0.2, n_boot=200, seed=1)
    again = audit(y, s, sensitive=sensitive, top_k=0.2, n_boot=200, seed=1)
    other = audit(y, s, sensitive=sensitive, top_k=0.2, n_boot=200, seed=2)
    assert first == again
    # the bootstrap (mean scores) depends on the seed; score intervals of rates do not
    assert first.overall["mean_score"].ci != other.overall["mean_score"].ci
    assert first.overall["mean_score"].value == other.overall["mean_score"].value
    assert first.overall["accuracy"].ci == other.overall["accuracy"].ci


def test_dense_and_sparse_bootstrap_plans_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    n = 5000
    y, s = rng.random(n) < 0.3, np.round(rng.random(n), 3)
    sensitive = {"r": rng.choice(["a", "b", "c"], n), "z": rng.choice(["x", "y"], n)}
    for rule in ({"threshold": 0.5}, {"top_k": 0.1}, {"decisions": s > 0.4}):
        scores = None if "decisions" in rule else s
        dense = audit(y, scores, sensitive=sensitive, intersections="all", n_boot=50, **rule)
        monkeypatch.setattr(engine_module, "_DENSE_RATIO", 0)
        sparse = audit(y, scores, sensitive=sensitive, intersections="all", n_boot=50, **rule)
        monkeypatch.undo()
        for a, b in zip(dense.groups, sparse.groups, strict=True):
            for metric in METRICS:
                ca, cb = a.metrics[metric].ci, b.metrics[metric].ci
                assert (ca is None) == (cb is None)
                if ca is not None and cb is not None:
                    assert ca == pytest.approx(cb, abs=1e-12)


def test_cell_and_row_resampling_give_the_same_intervals_within_monte_carlo_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    y = rng.random(n) < 0.3
    s = rng.random(n) + 0.2 * y
    sensitive = {"r": rng.choice(["a", "b"], n)}
    cells = audit(y, s, sensitive=sensitive, threshold=0.5, n_boot=1500)
    monkeypatch.setattr(engine_module, "_ROWS_SCHEME_RATIO", 10**9)
    rows = audit(y, s, sensitive=sensitive, threshold=0.5, n_boot=1500)
    assert (cells.bootstrap.scheme, rows.bootstrap.scheme) == ("multinomial", "rows")
    for metric in ("selection_rate", "true_positive_rate", "auc", "precision_at_k"):
        a, b = cells.overall[metric].ci, rows.overall[metric].ci
        assert a is not None and b is not None
        width = a[1] - a[0]
        assert a[0] == pytest.approx(b[0], abs=0.15 * width)
        assert a[1] == pytest.approx(b[1], abs=0.15 * width)


def test_a_rate_from_fewer_events_than_min_events_is_insufficient_with_the_count() -> None:
    y = np.zeros(60, dtype=bool)
    y[:6] = True  # 6 positives: the true positive rate divides by 6
    s = np.linspace(0, 1, 60)
    report = audit(y, s, sensitive={"r": ["a", "b"] * 30}, threshold=0.5, n_boot=0, min_events=10)
    tpr = report.overall["true_positive_rate"]
    assert tpr.status == "insufficient_data" and tpr.ci is None and tpr.value == 0.0
    assert tpr.reason is not None and "6 positives, fewer than 10" in tpr.reason
    fpr = report.overall["false_positive_rate"]  # 54 negatives: enough
    assert fpr.status == "ok" and fpr.method == "wilson-cc" and fpr.events == (30, 54)


def test_no_rate_interval_with_status_ok_has_zero_width() -> None:
    y = np.array([0] * 32 + [1] * 12)
    s = np.concatenate([np.zeros(32), np.ones(12)])  # every negative unselected, every positive selected
    report = audit(y, s, sensitive={"r": ["a", "b"] * 22}, threshold=0.5, n_boot=0, min_group_size=10, min_events=6)
    for group in report.groups:
        for name, value in group.metrics.items():
            if value.status == "ok" and value.ci is not None:
                assert value.ci[1] > value.ci[0], (group.group, name)
    fpr = report.overall["false_positive_rate"]
    assert fpr.value == 0.0 and fpr.ci is not None and fpr.ci[0] == 0.0 and fpr.ci[1] > 0.05
    auc = report.overall["auc"]
    assert auc.value == 1.0 and auc.ci is not None and auc.ci[0] < 1.0


# ---------------------------------------------------------------------------------------------
# Decision rules and definitions
# ---------------------------------------------------------------------------------------------


def test_top_k_selects_every_account_tied_at_the_cut() -> None:
    s = np.array([0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
    report = audit(y, s, sensitive={"r": ["a", "b"] * 5}, top_k=0.2, n_boot=0, min_group_size=1, min_events=1)
    assert report.decision_rule.kind == "top_k"
    assert report.decision_rule.threshold == 0.8  # the 2nd highest score
    assert report.decision_rule.selected == 4  # the three accounts tied at 0.8 are all selected
    assert report.overall["selection_rate"].value == 0.4


def test_precision_at_k_is_precision_among_the_scopes_own_top_share() -> None:
    rng = np.random.default_rng(8)
    n = 997
    y, s = rng.random(n) < 0.3, np.round(rng.random(n), 2)
    region = rng.choice(["a", "b"], n)
    report = audit(
        y,
        s,
        sensitive={"region": region},
        threshold=0.5,
        precision_at_k_share=0.15,
        n_boot=0,
        min_group_size=1,
        min_events=1,
    )
    assert report.decision_rule.precision_at_k_share == 0.15
    reference = _precision_at_k(0.15)
    assert report.overall["precision_at_k"].value == pytest.approx(reference(y, s), abs=TOLERANCE)
    for group in ("a", "b"):
        mask = region == group
        value = report.group("region", group).metrics["precision_at_k"].value
        assert value == pytest.approx(reference(y[mask], s[mask]), abs=TOLERANCE)


def test_calibration_gap_is_mean_score_minus_base_rate() -> None:
    y = np.array([1, 0, 0, 1])
    s = np.array([0.9, 0.5, 0.3, 0.7])
    report = audit(y, s, sensitive={"r": ["a", "a", "b", "b"]}, threshold=0.5, n_boot=0, min_group_size=1, min_events=1)
    assert report.overall["calibration_gap"].value == pytest.approx(0.6 - 0.5)
    assert report.group("r", "a").metrics["calibration_gap"].value == pytest.approx(0.7 - 0.5)


def test_decisions_without_scores_leave_score_metrics_undefined() -> None:
    rng = np.random.default_rng(9)
    n = 400
    y, d = rng.random(n) < 0.3, rng.random(n) < 0.4
    report = audit(y, decisions=d, sensitive={"r": rng.choice(["a", "b"], n)}, n_boot=50)
    assert report.decision_rule.kind == "decisions"
    assert report.decision_rule.selected == int(d.sum())
    for metric in ("auc", "mean_score", "calibration_gap", "precision_at_k"):
        assert report.overall[metric].status == "undefined"
        assert report.overall[metric].reason == "no scores"
        assert report.disparity("r", metric).difference.status == "undefined"
        assert report.disparity("r", metric).difference.reason == "no scores"
    assert report.overall["selection_rate"].value == pytest.approx(d.mean())
    assert report.overall["selection_rate"].ci is not None


def test_intersection_names_join_parts_with_ampersand_in_the_given_order() -> None:
    rng = np.random.default_rng(10)
    n = 300
    sensitive = {"region": rng.choice(["na", "emea"], n), "size": rng.choice(["small", "big"], n)}
    report = audit(
        rng.random(n) < 0.3,
        rng.random(n),
        sensitive=sensitive,
        threshold=0.5,
        intersections=[["size", "region"]],
        n_boot=0,
    )
    names = [a.name for a in report.attributes]
    assert names == ["region", "size", "size & region"]
    assert report.attributes[-1].parts == ("size", "region")
    groups = {g.group for g in report.groups if g.attribute == "size & region"}
    assert groups == {"big & emea", "big & na", "small & emea", "small & na"}


def test_reference_group_difference_and_ratio() -> None:
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    region = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4)  # selection rates 0.75, 0.25, 1.0
    report = audit(
        y,
        s,
        sensitive={"region": region},
        threshold=0.5,
        reference={"region": "a"},
        n_boot=0,
        min_group_size=1,
        min_events=1,
    )
    selection = report.disparity("region", "selection_rate")
    assert selection.reference_group == "a"
    assert selection.reference_difference is not None and selection.reference_ratio is not None
    assert selection.reference_difference.value == pytest.approx(0.5)  # |0.25 - 0.75|
    assert selection.reference_ratio.value == pytest.approx(0.25 / 0.75)
    assert selection.difference.value == pytest.approx(0.75)
    assert selection.ratio.value == pytest.approx(0.25)
    assert report.attributes[0].reference == "a"


def test_every_selection_rate_zero_makes_the_ratio_undefined_never_one() -> None:
    rng = np.random.default_rng(12)
    n = 200
    report = audit(rng.random(n) < 0.4, rng.random(n), sensitive={"r": rng.choice(["a", "b"], n)}, threshold=2.0)
    for ratio in (
        report.disparity("r", "selection_rate").ratio,
        report.fairness_metric("r", "demographic_parity_ratio").value,
    ):
        assert ratio.status == "undefined"
        assert ratio.value is None and ratio.ci is None
        assert ratio.reason is not None and "undefined" in ratio.reason
    assert report.disparity("r", "selection_rate").difference.value == 0.0
    assert report.fairness_metric("r", "demographic_parity_difference").value.value == 0.0
    assert '"value": null' in json.dumps(report.to_dict(), allow_nan=False)


def test_small_groups_are_insufficient_and_left_out_of_disparities() -> None:
    rng = np.random.default_rng(13)
    n = 500
    region = np.where(np.arange(n) < 10, "tiny", rng.choice(["a", "b"], n))
    report = audit(rng.random(n) < 0.4, rng.random(n), sensitive={"region": region}, threshold=0.5, n_boot=50)
    tiny = report.group("region", "tiny")
    assert tiny.status == "insufficient_data"
    assert tiny.n == 10
    assert tiny.reason == "10 rows, below min_group_size 30"
    assert tiny.metrics["selection_rate"].status == "insufficient_data"
    assert tiny.metrics["selection_rate"].value is not None
    assert tiny.metrics["selection_rate"].ci is None
    for disparity in report.disparities:
        assert disparity.excluded_groups == ("tiny",)
        assert disparity.groups_compared == 2
    assert report.fairness_metric("region", "equalized_odds_difference").excluded_groups == ("tiny",)


def test_empty_intersections_are_listed_with_insufficient_data() -> None:
    region = np.array(["na", "na", "emea", "emea", "apac"] * 20)
    size = np.array(["s", "b", "s", "b", "s"] * 20)  # apac & b never occurs
    rng = np.random.default_rng(14)
    report = audit(
        rng.random(100) < 0.5,
        rng.random(100),
        sensitive={"region": region, "size": size},
        threshold=0.5,
        intersections="all",
        n_boot=0,
    )
    summary = report.attributes[-1]
    assert summary.absent_groups == ("apac & b",)
    assert summary.absent_count == 1
    empty = report.group("region & size", "apac & b")
    assert empty.n == 0 and empty.status == "insufficient_data"
    assert empty.metrics["count"].value == 0
    assert all(m.status == "insufficient_data" for m in empty.metrics.values())
    assert "apac & b" in report.disparity("region & size", "accuracy").excluded_groups


# ---------------------------------------------------------------------------------------------
# Bring-your-own scores: any scale, comparisons of named groups, publication of small groups
# ---------------------------------------------------------------------------------------------

_RACES = ["African-American", "Asian", "Caucasian", "Hispanic", "Native American", "Other"]


def _credit_file(n: int = 3000, seed: int = 21) -> tuple[Array, Array, Array, Array]:
    """Labels, integer credit scores in 300..850, a six-group race and a two-group sex."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    credit = np.clip(np.round(575 + 120 * (y - 0.35) + rng.normal(0, 90, n)), 300, 850)
    race = rng.choice(_RACES, n, p=[0.42, 0.05, 0.35, 0.12, 0.02, 0.04])
    return y, credit, race, rng.choice(["F", "M"], n)


@pytest.mark.parametrize("rule", [{"top_k": 0.2}, {"threshold": 650.0}])
def test_scores_outside_zero_one_rank_and_leave_the_probability_metrics_undefined(rule: dict[str, float]) -> None:
    y, credit, race, _ = _credit_file()
    assert credit.min() >= 300 and credit.max() <= 850 and credit.max() > 1
    report = audit(y, credit, sensitive={"race": race}, n_boot=100, **rule)
    # the same ranking on [0, 1], said not to be probabilities: every ranking metric is the same
    unit_rule = {k: (v - 300) / 550 if k == "threshold" else v for k, v in rule.items()}
    unit = audit(
        y, (credit - 300) / 550, sensitive={"race": race}, n_boot=100, scores_are_probabilities=False, **unit_rule
    )
    assert not report.scores_are_probabilities and not unit.scores_are_probabilities
    assert report.overall["auc"].value == pytest.approx(roc_auc_score(y, credit), abs=TOLERANCE)
    assert report.decision_rule.selected == unit.decision_rule.selected > 0
    assert report.groups == unit.groups
    assert report.fairness == unit.fairness
    for scope in [report.overall, *(g.metrics for g in report.groups)]:
        for metric in ("mean_score", "calibration_gap"):
            assert scope[metric] == audit_module.MetricValue(None, None, "undefined", "scores are not probabilities")
        assert scope["auc"].status == "ok" and scope["precision_at_k"].value is not None
    for metric in ("mean_score", "calibration_gap"):
        disparity = report.disparity("race", metric)
        assert disparity.difference.reason == disparity.ratio.reason == "scores are not probabilities"
        assert disparity.groups_compared == 0
    assert report.disparity("race", "auc").difference.status == "ok"
    document = report.to_dict()
    assert document["scores_are_probabilities"] is False
    assert AuditReport.from_dict(json.loads(json.dumps(document, allow_nan=False))) == report


def test_scores_in_zero_one_are_probabilities_unless_said_otherwise_and_log_odds_are_not() -> None:
    rng = np.random.default_rng(22)
    n = 400
    y, p, region = rng.random(n) < 0.3, rng.random(n), rng.choice(["a", "b"], n)
    default = audit(y, p, sensitive={"region": region}, threshold=0.5, n_boot=30)
    said = audit(y, p, sensitive={"region": region}, threshold=0.5, n_boot=30, scores_are_probabilities=True)
    assert default == said and default.scores_are_probabilities
    assert "scores_are_probabilities" not in default.to_dict()  # nothing changes for probabilities
    assert default.overall["calibration_gap"].status == "ok"
    ranking = audit(y, p, sensitive={"region": region}, threshold=0.5, n_boot=30, scores_are_probabilities=False)
    assert ranking.overall["mean_score"].reason == "scores are not probabilities"
    assert ranking.overall["auc"] == default.overall["auc"]
    log_odds = audit(y, np.log(p / (1 - p)), sensitive={"region": region}, threshold=0.0, n_boot=0)
    assert not log_odds.scores_are_probabilities
    assert log_odds.overall["selection_rate"] == default.overall["selection_rate"]
    assert log_odds.overall["calibration_gap"].status == "undefined"


def test_compare_restricts_the_disparities_to_the_named_groups_as_a_filtered_file_would() -> None:
    y, credit, race, sex = _credit_file(4000, seed=23)
    pair = ["African-American", "Caucasian"]
    options: dict[str, Any] = {"threshold": 650.0, "n_boot": 0, "intersections": "all"}
    report = audit(
        y,
        credit,
        sensitive={"race": race, "sex": sex},
        compare={"race": pair},
        reference={"race": "Caucasian"},
        **options,
    )
    keep = np.isin(race, pair)
    filtered = audit(
        y[keep],
        credit[keep],
        sensitive={"race": race[keep], "sex": sex[keep]},
        reference={"race": "Caucasian"},
        **options,
    )
    whole = audit(y, credit, sensitive={"race": race, "sex": sex}, reference={"race": "Caucasian"}, **options)
    for name in ("race", "race & sex"):
        assert [f for f in report.fairness if f.attribute == name] == [
            f for f in filtered.fairness if f.attribute == name
        ]
        for metric in METRICS[1:]:
            mine, theirs = report.disparity(name, metric), filtered.disparity(name, metric)
            if metric != "auc":
                assert mine == theirs
                continue
            # the AUC's DeLong variance comes from score bins over all rows: the same within what bins lose
            assert mine.difference.value == pytest.approx(theirs.difference.value, abs=TOLERANCE)
            assert mine.difference.ci == pytest.approx(theirs.difference.ci, abs=2e-3)
    assert report.disparity("race", "selection_rate").groups_compared == 2
    assert report.disparity("race", "selection_rate").excluded_groups == ()  # the others are not compared
    assert [g for g in report.groups if g.attribute == "race"] == [g for g in whole.groups if g.attribute == "race"]
    assert report.attributes[0].compared_groups == tuple(pair)
    assert report.attributes[2].compared_groups == (
        "African-American & F",
        "African-American & M",
        "Caucasian & F",
        "Caucasian & M",
    )
    assert report.attributes[1].compared_groups is None  # sex: every group
    assert [d for d in report.disparities if d.attribute == "sex"] == [
        d for d in whole.disparities if d.attribute == "sex"
    ]
    assert report.to_dict()["attributes"][0]["compared_groups"] == pair
    assert "compared_groups" not in whole.to_dict()["attributes"][0]
    assert AuditReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_publishing_with_a_minimum_withholds_small_groups_but_not_empty_ones() -> None:
    rng = np.random.default_rng(24)
    n = 400
    region = np.where(np.arange(n) < 4, "tiny", np.where(np.arange(n) < 7, None, rng.choice(["a", "b"], n)))
    region = region.astype(object)
    report = audit(
        rng.random(n) < 0.4,
        rng.random(n),
        sensitive={"region": region},
        categories={"region": ["a", "b", "tiny", "never"]},
        missing="group",
        threshold=0.5,
        n_boot=0,
    )
    assert report.to_dict(publish_min_group_size=None) == report.to_dict()
    assert report.to_dict(publish_min_group_size=1) == report.to_dict()
    document = report.to_dict(publish_min_group_size=10)
    groups = {g["group"]: g for g in document["groups"]}
    for name in ("tiny", "unknown"):  # 4 and 3 rows
        assert groups[name]["n"] is None and groups[name]["n_published"] == "fewer than 10"
        assert groups[name]["reason"] == "fewer than 10 rows; not published"
        assert all(m["value"] is None and m["ci"] is None for m in groups[name]["metrics"].values())
    assert groups["never"]["n"] == 0 and "n_published" not in groups["never"]  # absent: no one to reveal
    assert groups["a"] == report.to_dict()["groups"][0]
    summary = document["attributes"][0]
    assert summary["missing_rows"] is None and summary["missing_rows_published"] == "fewer than 10"
    assert report.group("region", "tiny").n == 4  # the report itself keeps every count
    json.dumps(document, allow_nan=False)


def test_audit_texts_name_rows_not_accounts() -> None:
    rng = np.random.default_rng(25)
    n = 300
    region = np.where(np.arange(n) < 40, "few", rng.choice(["a", "b"], n))
    y = rng.random(n) < 0.5
    report = audit(y, rng.random(n), sensitive={"region": region}, top_k=0.02, n_boot=0)
    precision = report.group("region", "few").metrics["precision"]
    assert precision.status == "insufficient_data" and precision.reason is not None
    assert "selected rows" in precision.reason
    assert "selected rows (top k)" in str(report.group("region", "a").metrics["precision_at_k"].reason)
    text = json.dumps(report.to_dict())
    with pytest.raises(DataValidationError) as info:
        audit(y, rng.random(n), sensitive={"region": region}, top_k=1.5, precision_at_k_share=0.0)
    assert "share of rows" in str(info.value)
    assert "account" not in text + str(info.value)


# ---------------------------------------------------------------------------------------------
# Contract: JSON, public names, imports, scale
# ---------------------------------------------------------------------------------------------


def test_report_json_is_strict_and_round_trips() -> None:
    rng = np.random.default_rng(17)
    n = 600
    report = audit(
        rng.random(n) < 0.3,
        rng.random(n),
        sensitive={"region": rng.choice(["a", "b", "c"], n), "size": rng.choice(["s", "m"], n)},
        top_k=0.1,
        intersections="all",
        reference={"region": "a", "region & size": "a & s"},
        n_boot=40,
    )
    document = report.to_dict()
    text = json.dumps(document, allow_nan=False)
    assert document["schema"] == SCHEMA == "governance.audit/1"
    assert document["rows"] == n
    assert set(document["overall"]) == set(METRICS)
    assert set(document["groups"][0]["metrics"]) == set(METRICS)
    assert {"value", "ci", "status"} <= set(document["overall"]["auc"])
    assert {"attribute", "metric", "difference", "ratio", "reference", "excluded_groups"} <= set(
        document["disparities"][0]
    )
    assert {f["metric"] for f in document["fairness"]} == set(FAIRNESS_METRICS)
    assert AuditReport.from_dict(json.loads(text)) == report
    with pytest.raises(DataValidationError, match="schema"):
        AuditReport.from_dict({**document, "schema": "other/1"})


def test_public_names_are_the_intended_ones() -> None:
    assert sorted(audit_module.__all__) == sorted(
        [
            "FAIRNESS_METRICS",
            "METRICS",
            "SCHEMA",
            "AttributeSummary",
            "AuditReport",
            "BootstrapInfo",
            "DecisionRule",
            "Disparity",
            "FairnessMetric",
            "GroupCurves",
            "GroupMetrics",
            "MetricValue",
            "audit",
            "check_audit_size",
        ]
    )


def test_importing_the_audit_module_pulls_no_presentation_or_tracking_library() -> None:
    # The package __init__ is bypassed: this checks what governance.audit itself imports.
    code = (
        "import sys, types\n"
        f"package = types.ModuleType('governance'); package.__path__ = [{str(ROOT / 'governance')!r}]\n"
        "sys.modules['governance'] = package\n"
        "import governance.audit\n"
        "heavy = ('matplotlib', 'jinja2', 'typer', 'rich', 'mlflow', 'sklearn', 'shap')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
        "governance.audit.audit([0, 1] * 20, [0.1, 0.9] * 20, sensitive={'g': ['a'] * 20 + ['b'] * 20}, top_k=0.5)\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split("\n")[:2] == ["", ""]  # neither on import nor when auditing


def test_four_attributes_of_thirty_values_on_200k_rows_are_refused_before_any_counting() -> None:
    rng = np.random.default_rng(18)
    n = 200_000
    sensitive = {f"attr{j}": rng.integers(0, 30, n).astype(str) for j in range(4)}
    y = rng.random(n) < 0.2
    with pytest.raises(DataValidationError) as info:
        audit(
            y, rng.random(n) + 0.3 * y, sensitive=sensitive, threshold=0.5, intersections=[list(sensitive)], n_boot=10
        )
    (problem,) = info.value.problems
    assert problem.parameter == "intersections"
    assert "attr0 & attr1 & attr2 & attr3" in str(problem)


def test_three_attributes_of_twenty_values_on_200k_rows_complete_and_add_up() -> None:
    rng = np.random.default_rng(18)
    n = 200_000
    sensitive = {f"attr{j}": rng.integers(0, 20, n).astype(str) for j in range(3)}
    y = rng.random(n) < 0.2
    report = audit(
        y,
        rng.random(n) + 0.3 * y,
        sensitive=sensitive,
        threshold=0.5,
        intersections=[list(sensitive)],
        n_boot=10,
    )
    crossed = [g for g in report.groups if g.attribute == "attr0 & attr1 & attr2"]
    occupied = len({tuple(row) for row in np.column_stack(list(sensitive.values())).tolist()})
    assert len(crossed) == occupied
    assert sum(g.n for g in crossed) == n
    assert report.attributes[-1].absent_count == 20**3 - occupied
    for name in sensitive:
        assert sum(g.n for g in report.groups if g.attribute == name) == n
    assert report.overall["count"].value == n
