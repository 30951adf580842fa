"""Fairness mitigations as scikit-learn estimators: what ``ScoringModel`` fits for each mitigation.

``reweighing_weights`` (Kamiran-Calders sample weights), the exponentiated
gradient's mixture of base estimators (``_Mixture``), the threshold optimizer's
smoothed group thresholds (``_GroupThresholds``) and the correlation remover
over the prepared features (``_Decorrelate``). :mod:`governance.train`'s
docstring says how each yields a continuous score; its ``ScoringModel`` is
the only user of this module, which imports fairlearn lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

__all__ = ["reweighing_weights"]

_EG_MOMENT_PARAMS = frozenset({"difference_bound", "ratio_bound", "ratio_bound_slack"})


def reweighing_weights(y: np.ndarray, groups: np.ndarray | pd.Series) -> np.ndarray:
    """Kamiran-Calders sample weights: ``P(a) P(y) / P(a, y)`` for a row of group ``a`` and label ``y``.

    In the weighted data the label is independent of the group; the weights
    average to 1.

    Parameters
    ----------
    y
        Binary labels.
    groups
        The group of each row (one sensitive attribute).

    Returns
    -------
    numpy.ndarray
        One positive weight per row.
    """
    labels = np.asarray(y).astype(np.int64)
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    n = len(labels)
    cells = codes * 2 + labels
    joint = np.bincount(cells, minlength=2 * (codes.max() + 1)).astype(float) / n
    group_share = np.bincount(codes).astype(float) / n
    label_share = np.bincount(labels, minlength=2).astype(float) / n
    weights: np.ndarray = group_share[codes] * label_share[labels] / joint[cells]
    return weights


class _Mixture(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type hints
    """A fitted ExponentiatedGradient solution: ``sum_t w_t h_t.predict_proba(X)``."""

    def __init__(self, estimators: Sequence[Any] = (), weights: Sequence[float] = ()) -> None:
        self.estimators = estimators
        self.weights = weights

    def fit(self, X: Any, y: Any) -> Self:  # built fitted from ExponentiatedGradient; fit only records classes
        """Record the classes (the mixture is built fitted)."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[1 - score, score]``: the weighted mean of the base estimators' probabilities."""
        positive = np.zeros(len(X))
        for estimator, weight in zip(self.estimators, self.weights, strict=True):
            positive += weight * estimator.predict_proba(X)[:, 1]
        positive = np.clip(positive, 0.0, 1.0)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """1 where the score is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def _moment_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options that belong to the fairness constraint (its bounds)."""
    return {k: v for k, v in params.items() if k in _EG_MOMENT_PARAMS}


def _eg_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """ExponentiatedGradient's own options; ``costs`` ({fp, fn}) sets its objective, hence its operating point."""
    from fairlearn.reductions import ErrorRate

    args = {k: v for k, v in params.items() if k not in _EG_MOMENT_PARAMS and k != "costs"}
    if "costs" in params:
        args["objective"] = ErrorRate(costs=dict(params["costs"]))
    return args


def _fit_exponentiated_gradient(
    base: Any, Xt: np.ndarray, y: np.ndarray, groups: pd.Series, *, constraint: str, params: Mapping[str, Any]
) -> _Mixture:
    """Fit fairlearn's ExponentiatedGradient on prepared rows; return its positive-weight base estimators as a mixture."""
    from fairlearn.reductions import (
        DemographicParity,
        EqualizedOdds,
        ExponentiatedGradient,
        TruePositiveRateParity,
    )

    moments = {
        "demographic_parity": DemographicParity,
        "equalized_odds": EqualizedOdds,
        "true_positive_rate_parity": TruePositiveRateParity,
    }
    mitigator = ExponentiatedGradient(clone(base), moments[constraint](**_moment_args(params)), **_eg_args(params))
    mitigator.fit(Xt, y, sensitive_features=groups.to_numpy())
    chosen = [(mitigator.predictors_[i], float(w)) for i, w in mitigator.weights_.items() if w > 0]
    total = sum(w for _, w in chosen)
    mixture = _Mixture([h for h, _ in chosen], [w / total for _, w in chosen])
    return mixture.fit(Xt, y)


class _GroupThresholds(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type hints
    """ThresholdOptimizer's group-specific thresholds, smoothed into a continuous score (see the module)."""

    def __init__(self, base: Any = None, attribute: str = "", rules: Mapping[str, Mapping[str, Any]] | None = None):
        self.base = base
        self.attribute = attribute
        self.rules = rules

    def fit(self, X: Any, y: Any) -> Self:  # built fitted from ThresholdOptimizer
        """Record the classes (the thresholds are built fitted)."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[1 - score, score]``: each group's thresholds, smoothed, applied to the base score."""
        groups = X[self.attribute].astype(str).to_numpy()
        self._check_groups(groups)  # before the base model's work, which would be wasted
        positive = self.positive_from_base(self.base.predict_proba(X)[:, 1], groups)
        return np.column_stack([1.0 - positive, positive])

    def _check_groups(self, groups: np.ndarray) -> None:
        """Refuse groups the optimizer has no thresholds for."""
        rules = self.rules or {}
        unknown = ~np.isin(groups, list(rules))
        if unknown.any():
            raise ValueError(
                f"{self.attribute}: {int(unknown.sum())} row(s) belong to groups the threshold optimizer was not "
                f"fitted on (it knows {len(rules)}); score them with a model that does not use {self.attribute}"
            )

    def positive_from_base(self, base_scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Return the score from the base model's scores and each row's group (explanations hold the group fixed)."""
        from scipy.special import expit, logit

        rules = self.rules or {}
        groups = np.asarray(groups).astype(str)
        self._check_groups(groups)
        eps = 1e-12
        base = np.clip(base_scores, eps, 1.0 - eps)
        z = logit(base)
        positive = np.zeros(len(base))
        for group, rule in rules.items():
            rows = groups == group
            soft = np.zeros(int(rows.sum()))
            for p, operator, threshold in (
                (rule["p0"], rule["operator0"], rule["threshold0"]),
                (rule["p1"], rule["operator1"], rule["threshold1"]),
            ):
                t = logit(np.clip(threshold, eps, 1.0 - eps)) if np.isfinite(threshold) else threshold
                step = expit(z[rows] - t) if operator == ">" else expit(t - z[rows])
                soft += p * step
            positive[rows] = rule["p_ignore"] * rule["constant"] + (1.0 - rule["p_ignore"]) * soft
        out: np.ndarray = np.clip(positive, 0.0, 1.0)
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the score is at least 0.5 (the optimizer's sure decisions)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def _fit_threshold_optimizer(
    base: Pipeline, X: pd.DataFrame, y: np.ndarray, groups: pd.Series, *, constraint: str, params: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Fit fairlearn's ThresholdOptimizer on a fitted pipeline; return each group's interpolated thresholds."""
    from fairlearn.postprocessing import ThresholdOptimizer

    optimizer = ThresholdOptimizer(
        estimator=base, constraints=constraint, prefit=True, predict_method="predict_proba", **params
    )
    optimizer.fit(X, y, sensitive_features=groups.to_numpy())
    rules: dict[str, dict[str, Any]] = {}
    for group, rule in optimizer.interpolated_thresholder_.interpolation_dict.items():
        rules[str(group)] = {
            "p0": float(rule.p0),
            "operator0": str(rule.operation0.operator),
            "threshold0": float(rule.operation0.threshold),
            "p1": float(rule.p1),
            "operator1": str(rule.operation1.operator),
            "threshold1": float(rule.operation1.threshold),
            "p_ignore": float(rule.get("p_ignore", 0.0)),
            "constant": float(rule.get("prediction_constant", 0.0)),
        }
    return rules


class _Decorrelate(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type hints
    """Prepared features with their linear correlation with one sensitive attribute removed (fairlearn)."""

    def __init__(self, prepare: Any = None, attribute: str = "", alpha: float = 1.0) -> None:
        self.prepare = prepare
        self.attribute = attribute
        self.alpha = alpha

    def _stack(self, X: pd.DataFrame) -> np.ndarray:
        """Return prepared features, then the one-hot group: the layout the remover was fitted on."""
        groups = X[[self.attribute]].astype(str)
        known = np.isin(groups[self.attribute].to_numpy(), self.encoder_.categories_[0])
        if not known.all():
            raise ValueError(
                f"{self.attribute}: {int((~known).sum())} row(s) belong to groups the correlation remover was not "
                "fitted on; it cannot remove their correlation"
            )
        return np.hstack([self.prepare_.transform(X), self.encoder_.transform(groups)])

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        """Fit the preparation, the group encoder and the correlation remover."""
        from fairlearn.preprocessing import CorrelationRemover

        self.prepare_ = clone(self.prepare).fit(X)
        self.encoder_ = OneHotEncoder(sparse_output=False, dtype=np.float64).fit(X[[self.attribute]].astype(str))
        stacked = np.hstack([self.prepare_.transform(X), self.encoder_.transform(X[[self.attribute]].astype(str))])
        first = stacked.shape[1] - len(self.encoder_.categories_[0])
        self.remover_ = CorrelationRemover(sensitive_feature_ids=list(range(first, stacked.shape[1])), alpha=self.alpha)
        self.remover_.fit(stacked)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Return the prepared features with their correlation with the group removed."""
        out: np.ndarray = self.remover_.transform(self._stack(X))
        return out
