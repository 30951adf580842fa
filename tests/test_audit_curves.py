"""Tests for the audit's curves: ROC and calibration of each group from its counts per score bin."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from governance.audit import AuditReport, audit


def test_roc_curves_are_sklearns_when_each_score_is_its_own_bin() -> None:
    rng = np.random.default_rng(31)
    n = 3000
    y = rng.random(n) < 0.3
    s = np.round(rng.random(n) * 0.6 + 0.3 * y, 1)  # 10 distinct scores, each a score bin of its own
    region = rng.choice(["a", "b", "c"], n)
    report = audit(y, s, sensitive={"region": region}, threshold=0.5, n_boot=0)
    assert [c.group for c in report.curves] == ["a", "b", "c"]
    for curve in report.curves:
        mask = region == curve.group
        fpr, tpr, _ = roc_curve(y[mask], s[mask], drop_intermediate=False)
        np.testing.assert_allclose(curve.false_positive_rate, fpr, atol=1e-12)
        np.testing.assert_allclose(curve.true_positive_rate, tpr, atol=1e-12)


def test_calibration_curves_add_up_to_each_groups_rows_mean_score_and_base_rate() -> None:
    rng = np.random.default_rng(32)
    n = 5000
    y = rng.random(n) < 0.2
    s = rng.random(n) * 0.5 + 0.4 * y
    report = audit(y, s, sensitive={"region": rng.choice(["a", "b"], n)}, top_k=0.1, n_boot=0)
    for curve in report.curves:
        metrics = report.group("region", curve.group).metrics
        counts = np.asarray(curve.bin_count)
        assert 1 <= len(counts) <= 10 and counts.min() > 0
        assert counts.sum() == metrics["count"].value
        assert np.dot(counts, curve.bin_mean_score) / counts.sum() == pytest.approx(metrics["mean_score"].value)
        assert np.dot(counts, curve.bin_positive_rate) / counts.sum() == pytest.approx(metrics["base_rate"].value)
        assert list(curve.bin_mean_score) == sorted(curve.bin_mean_score)


def test_curves_cover_single_attributes_with_scores_and_stay_out_of_the_document() -> None:
    rng = np.random.default_rng(33)
    n = 800
    y = rng.random(n) < 0.3
    sensitive = {"region": rng.choice(["a", "b"], n), "size": rng.choice(["s", "m", "l"], n)}
    report = audit(y, rng.random(n), sensitive=sensitive, threshold=0.5, intersections="all", n_boot=20)
    assert [(c.attribute, c.group) for c in report.curves] == [
        ("region", "a"),
        ("region", "b"),
        ("size", "l"),
        ("size", "m"),
        ("size", "s"),
    ]
    assert "curves" not in report.to_dict()
    read_back = AuditReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert read_back.curves == () and read_back == report
    without_scores = audit(y, decisions=rng.random(n) < 0.5, sensitive=sensitive, n_boot=0)
    assert without_scores.curves == ()
