"""Explanations that serve fairness: SHAP by group, proxies, data minimization, reason codes.

Everything here works on bounded samples, so the cost does not grow with the
data, and returns frozen results of plain data: :meth:`Explanation.to_dict`
is the card's ``explanations`` block (DESIGN.md). Nothing here imports a
plotting, templating or tracking library; shap is imported lazily, and
without its plotting stack (see :func:`_shap`).

SHAP values (:func:`shap_values`)
    Every candidate is explained in one space, the **log-odds** of its score,
    ``logit(predict_proba(X)[:, 1])``, over its declared features. Tree and
    linear models are exact and additive there; a contribution of +0.5 means
    the feature multiplies the account's odds of converting by e^0.5 = 1.65.
    The explainer depends on the candidate:

    =========================================  ==================================================
    candidate                                  explainer (``method``)
    =========================================  ==================================================
    lightgbm, hist_gradient_boosting           ``shap.TreeExplainer``, path-dependent, on the final
    (plain or reweighing)                      estimator over the prepared features (``tree``)
    logistic_regression (plain or reweighing)  ``shap.LinearExplainer``, interventional, over the
                                               background sample (``linear``)
    correlation_remover + logistic_regression  ``shap.LinearExplainer`` on the decorrelated
                                               features, the background decorrelated with the
                                               account's own group (``linear``)
    exponentiated_gradient, threshold_         ``shap.explainers.Permutation``: model-agnostic,
    optimizer, any other                       an independent masker over the background sample,
                                               one antithetic permutation per account
                                               (``permutation``)
    =========================================  ==================================================

    The columns a declared feature becomes in the pipeline (one scaled column,
    or one column per category) are summed back into that feature. The
    model-agnostic explainer masks whole declared features: it sees each
    feature as one column holding a row index into a table of prepared rows,
    so masking a feature swaps in a background account's prepared columns of
    that feature, exactly as the pipeline would have prepared them.
Sensitive attributes
    are never explained features and never reasons. A model that reads one at
    inference (threshold_optimizer, correlation_remover) is explained with it
    **held fixed** at each account's own group: its direct effect sits in the
    group's base value, which :attr:`Explanation.held_fixed` reports per group.
Additivity
    SHAP values plus the base value must give the log-odds the model itself
    returns (to 1e-6) on every explained row; otherwise the explanation is
    marked ``degraded`` with the largest error, never silently accepted.
Sample (:func:`stratified_sample`)
    The test split (the audited accounts, none of which trained the model),
    sampled per sensitive attribute: a simple random sample of
    ``explain.sample_per_group`` accounts of each group (all of a smaller
    group). The draws are coordinated (each account has one seeded random
    number, shared by every attribute, and each group takes its accounts with
    the smallest numbers), so they overlap and the union to explain is about a
    fifth smaller than independent draws. A group's figures come from its
    own sample; overall figures are the stratified estimate over the first
    attribute's groups (each group's sample weighted by its share of the
    split). Intervals are percentile bootstrap intervals over the sampled accounts.
Group differences
    For each attribute, feature and group: the group's mean signed SHAP value
    minus the reference group's (the configured reference, else the largest
    group), with simultaneous (Bonferroni over the attribute's comparisons)
    normal intervals from the bootstrap standard error; a difference whose
    interval excludes zero is flagged and described in words.
Proxies (:func:`detect_proxies`)
    For every feature and attribute: ``nmi``, the mutual information between
    the feature (numbers in 20 quantile bins, missing values a bin of their
    own) and the attribute, bias-corrected (Miller-Madow) and divided by the
    attribute's entropy: the share of the attribute's uncertainty that the
    feature removes (0 to 1). ``auc``: the feature alone as a classifier of
    each group against the rest (the group's share among accounts with the
    same feature bin, estimated on the other folds of a 5-fold split and
    smoothed), the largest one-vs-rest AUC over the groups with at least
    ``min_group_size`` accounts, naming that group. ``joint_proxy_auc``: the
    same for a 3-fold cross-validated gradient-boosting classifier of all
    features together. A feature is flagged when its ``nmi`` or ``auc``
    reaches its threshold, unless the attribute is declared ``derived_from``
    model features (``size_band`` from ``employee_count``): the model sees
    such an attribute by construction, so its proxies are reported, not flagged.
Minimization (:func:`minimize_features`)
    Drop-column retraining, decided on evidence. The candidate's own estimator
    and hyper-parameters (without its mitigation, which adds no feature) refit
    on a seeded sample of ``explain.minimization_rows`` training accounts,
    scored on as many validation accounts. A *loss* is the validation AUC of
    the full refit minus that of a reduced refit, on the same accounts, with
    the two-sided DeLong interval of that paired difference at
    ``explain.confidence``; it is **below the tolerance** when the interval's
    upper end is below ``minimization_tolerance`` (a one-sided test at level
    (1 + confidence) / 2 that the loss is under the tolerance). A feature is
    ``removable_alone`` when the loss of the refit without it alone is below
    the tolerance. A greedy backward elimination then removes those features,
    the tightest upper end first, and keeps a removal only if the loss of the
    whole reduced set is still below the tolerance: the features removed are
    ``removable`` (candidates for removal, verified *together*: ``joint_loss``
    and ``joint_ci`` are the loss of the final set and its interval), the rest
    the ``minimal_set`` (found greedily, not proven smallest). A reduced refit
    that scores every account exactly as the full one loses nothing; any other
    whose DeLong variance is zero or not finite (perfect separation, too few
    accounts) gives no interval, so no evidence, and is never removable. The
    interval is asymptotic, and the same validation accounts choose and test
    the set (the bound is not adjusted for that choice). With few validation
    accounts the intervals are wide and few features are listed: absence of
    evidence that a feature helps is not evidence that it does not.
Reason codes (:func:`explain_account`)
    One account's largest contributions in plain words, with its value's
    place among all accounts of the data: ``42 website visits in the last 30
    days, more than 90% of accounts: raises the score``. Only the account's
    own feature values appear; never its identifier, never another account's
    data, never a sensitive attribute.
"""

from __future__ import annotations

import math
import string
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from governance.errors import DataValidationError, Problem

if TYPE_CHECKING:
    from governance.config import Feature, GovernanceConfig
    from governance.data import Dataset
    from governance.train import ScoringModel

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "SPACE",
    "AccountExplanation",
    "Additivity",
    "Explanation",
    "FeatureImportance",
    "FeatureLoss",
    "GroupDifference",
    "GroupImportance",
    "HeldFixed",
    "JointProxy",
    "Minimization",
    "ProxyCheck",
    "ProxyReport",
    "Reason",
    "Sample",
    "ShapValues",
    "account_row",
    "detect_proxies",
    "explain",
    "explain_account",
    "minimize_features",
    "shap_values",
    "stratified_sample",
]

#: The space every candidate is explained in.
SPACE = "log_odds"
#: Largest |sum of SHAP values + base value - model log-odds| accepted on any row.
ADDITIVITY_TOLERANCE = 1e-6

_EPS = 1e-12
_BINS = 20
_FOLDS = 5
_JOINT_FOLDS = 3
_PRIOR_ROWS = 20.0  # smoothing of the one-feature classifier: a bin's share is pulled toward the overall share
_CHUNK = 250  # bootstrap replicates computed at a time (memory stays bounded)
_SPACE_NOTE = (
    "contributions to the log-odds of the score, logit(score); +0.69 doubles an account's odds, -0.69 halves them"
)

Method = Literal["tree", "linear", "permutation"]


# ---------------------------------------------------------------- shap, without its plotting stack


def _shap() -> Any:
    """The shap package, imported without its plotting module.

    shap imports its plots (and so matplotlib, which then warns about shap's
    colormaps) whenever matplotlib is installed; explanations use none of it,
    and computation modules must not load a plotting stack. matplotlib is hidden
    while shap is imported (and put back as it was), so shap takes its "no
    matplotlib" path whatever was imported before.
    """
    if "shap" in sys.modules:
        return sys.modules["shap"]
    missing = object()
    saved = sys.modules.get("matplotlib", missing)
    sys.modules["matplotlib"] = None  # type: ignore[assignment]  # makes `import matplotlib` fail
    try:
        import shap
    finally:
        if saved is missing:
            del sys.modules["matplotlib"]
        else:
            sys.modules["matplotlib"] = saved  # type: ignore[assignment]
    return shap


@contextmanager
def _numpy_global_seed() -> Iterator[None]:
    """shap's Permutation explainer seeds and draws from numpy's global generator: restore it afterwards."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _one_thread() -> Any:
    from governance.train import _one_thread as one_thread  # one native thread: reproducible, fair to a shared CPU

    return one_thread()


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    out: np.ndarray = np.log(q) - np.log1p(-q)
    return out


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    """A (low, high) pair of finite floats, or None."""
    if values is None or not np.all(np.isfinite(values)):
        return None
    return (float(values[0]), float(values[1]))


def _json_float(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _json_interval(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(ci[0]), float(ci[1])]


# ---------------------------------------------------------------- the stratified sample


@dataclass(frozen=True)
class Sample:
    """Simple random samples of each group of each sensitive attribute, drawn coordinated, and their union.

    Attributes
    ----------
    rows
        Positions of the drawn accounts in the frame, ascending (the union: each is explained once).
    strata
        For each attribute and group, the positions *within* ``rows`` of that group's simple
        random sample of ``min(per_group, group size)`` accounts.
    sizes
        Accounts in each group's sample.
    population
        Accounts in the frame per attribute and group.
    per_group, seed
        How it was drawn.
    """

    rows: np.ndarray = field(compare=False)
    strata: Mapping[str, Mapping[str, np.ndarray]] = field(compare=False)
    sizes: Mapping[str, Mapping[str, int]]
    population: Mapping[str, Mapping[str, int]]
    per_group: int
    seed: int

    def __len__(self) -> int:
        return len(self.rows)

    def members(self, attribute: str, group: str) -> np.ndarray:
        """Positions within ``rows`` of the simple random sample of one group."""
        return self.strata[attribute][group]

    def overall(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and weights of the stratified estimator over the whole frame (first attribute's strata).

        Each group's sample stands for its share of the frame: weight = group size / sample size.
        """
        attribute = next(iter(self.strata))
        positions, weights = [], []
        for group, members in self.strata[attribute].items():
            if len(members):
                positions.append(members)
                weights.append(np.full(len(members), self.population[attribute][group] / len(members)))
        if not positions:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return np.concatenate(positions), np.concatenate(weights)


def stratified_sample(sensitive: pd.DataFrame, *, per_group: int, seed: int) -> Sample:
    """Draw ``per_group`` accounts of every group of every sensitive attribute (all of a smaller group).

    Each group's draw is a simple random sample without replacement: the
    ``per_group`` accounts of the group with the smallest seeded random numbers.
    Every account has one random number, shared by all attributes (coordinated
    sampling), so the draws of different attributes overlap as much as they
    can: an account drawn for its ownership group is also the likeliest to be
    drawn for its size band, and the union to explain is smaller. The sample is
    bounded by ``per_group`` times the number of groups, whatever the number of
    accounts.

    Parameters
    ----------
    sensitive
        The audit attributes of the accounts to sample from, one column each.
    per_group
        Accounts to draw from each group.
    seed
        Seed of the draws; the same frame and seed give the same sample.

    Returns
    -------
    Sample
        The union of the draws, and each group's draw within it.
    """
    if per_group < 1:
        raise ValueError(f"per_group: expected a positive number of accounts, found {per_group}")
    n = len(sensitive)
    order = np.random.default_rng([seed, 2654435761]).random(n)
    chosen: dict[str, dict[str, np.ndarray]] = {}
    population: dict[str, Mapping[str, int]] = {}
    for name in sensitive.columns:
        codes, groups = pd.factorize(sensitive[name].astype(str), sort=True)
        chosen[str(name)] = {}
        counts = np.bincount(codes, minlength=len(groups))
        population[str(name)] = MappingProxyType({str(g): int(c) for g, c in zip(groups, counts, strict=True)})
        by_group = np.argsort(codes, kind="stable")
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        for group, start, count in zip(groups, starts, counts, strict=True):
            members = by_group[start : start + count]
            if count > per_group:
                members = members[np.argpartition(order[members], per_group - 1)[:per_group]]
            chosen[str(name)][str(group)] = np.sort(members)
    union = np.unique(np.concatenate([m for groups in chosen.values() for m in groups.values()] or [np.empty(0, int)]))
    strata = {
        name: MappingProxyType({g: np.searchsorted(union, m) for g, m in groups.items()})
        for name, groups in chosen.items()
    }
    sizes = {name: MappingProxyType({g: len(m) for g, m in groups.items()}) for name, groups in chosen.items()}
    return Sample(
        rows=union.astype(np.int64),
        strata=MappingProxyType(strata),
        sizes=MappingProxyType(sizes),
        population=MappingProxyType(population),
        per_group=per_group,
        seed=seed,
    )


# ---------------------------------------------------------------- what a candidate computes, seen from inside


@dataclass(frozen=True)
class _View:
    """A fitted candidate as (prepare -> estimator input -> estimator -> head), in log-odds."""

    prepare: Any
    blocks: tuple[np.ndarray, ...]
    estimator: Any
    method: Method
    attribute: str | None = None
    decorrelate: Any = None
    thresholds: Any = None

    def inputs(self, prepared: np.ndarray, group: str | None) -> np.ndarray:
        """What the final estimator reads: the prepared features, decorrelated with ``group`` when needed."""
        if self.decorrelate is None:
            return prepared
        groups = pd.DataFrame({self.attribute: np.full(len(prepared), group, dtype=object)})
        stacked = np.hstack([prepared, self.decorrelate.encoder_.transform(groups)])
        out: np.ndarray = self.decorrelate.remover_.transform(stacked)
        return out

    def log_odds(self, prepared: np.ndarray, group: str | None) -> np.ndarray:
        """The model's log-odds for prepared rows, the sensitive attribute (if read) fixed at ``group``."""
        score = self.estimator.predict_proba(self.inputs(prepared, group))[:, 1]
        if self.thresholds is not None:
            score = self.thresholds.positive_from_base(score, np.full(len(prepared), group, dtype=object))
        return _logit(score)


def _blocks(prepare: Any, features: Sequence[str]) -> tuple[np.ndarray, ...]:
    """The prepared columns of each declared feature (one scaled column, or one per category)."""
    spans: dict[str, np.ndarray] = {}
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder" or isinstance(transformer, str) or not len(columns):
            continue
        piece = prepare.output_indices_[name]
        steps = getattr(transformer, "named_steps", {})
        onehot = steps.get("onehot") if isinstance(steps, Mapping) else None
        widths = [len(c) for c in onehot.categories_] if onehot is not None else [1] * len(columns)
        start = piece.start
        for column, width in zip(columns, widths, strict=True):
            spans[str(column)] = np.arange(start, start + width)
            start += width
        if start != piece.stop:
            raise ValueError(f"prepare step {name!r}: its output columns do not add up to its features")
    missing = [f for f in features if f not in spans]
    if missing:
        raise ValueError(f"the model's prepare step does not produce the feature(s) {', '.join(missing)}")
    return tuple(spans[f] for f in features)


def _view(model: ScoringModel) -> _View:
    """How to compute and explain ``model``'s log-odds from its prepared features."""
    fitted = model.model_
    features = tuple(model.features)
    mitigation = model.mitigation
    if mitigation == "threshold_optimizer":
        pipeline = fitted.base
        prepare, estimator = pipeline.named_steps["prepare"], pipeline.named_steps["model"]
        return _View(
            prepare, _blocks(prepare, features), estimator, "permutation", attribute=model.attribute, thresholds=fitted
        )
    prepare_step, estimator = fitted.named_steps["prepare"], fitted.named_steps["model"]
    if mitigation == "correlation_remover":
        prepare = prepare_step.prepare_
        method: Method = "linear" if _is_linear(estimator) else "permutation"
        return _View(
            prepare, _blocks(prepare, features), estimator, method, attribute=model.attribute, decorrelate=prepare_step
        )
    if mitigation in (None, "reweighing"):
        method = "linear" if _is_linear(estimator) else "tree" if _is_tree(estimator) else "permutation"
    else:
        method = "permutation"
    return _View(prepare_step, _blocks(prepare_step, features), estimator, method)


def _is_linear(estimator: Any) -> bool:
    from sklearn.linear_model import LogisticRegression

    return isinstance(estimator, LogisticRegression)


def _is_tree(estimator: Any) -> bool:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return isinstance(estimator, HistGradientBoostingClassifier) or type(estimator).__name__ == "LGBMClassifier"


# ---------------------------------------------------------------- SHAP values


@dataclass(frozen=True)
class ShapValues:
    """SHAP values of some accounts over the declared features, in log-odds.

    Attributes
    ----------
    features
        The explained (declared) features, in the model's order.
    values
        ``(accounts, features)`` contributions to the log-odds.
    base_values
        Each account's base value (the reference log-odds; per group when an
        attribute is held fixed).
    output
        The log-odds the model itself gives each account.
    method, explainer
        ``tree``, ``linear`` or ``permutation``, and the shap explainer used.
    held_fixed
        The sensitive attribute held at each account's own group, if the model reads one.
    background
        Background accounts (0 for the path-dependent tree explainer, which uses the training covers).
    """

    features: tuple[str, ...]
    values: np.ndarray = field(compare=False)
    base_values: np.ndarray = field(compare=False)
    output: np.ndarray = field(compare=False)
    method: Method
    explainer: str
    held_fixed: str | None
    background: int
    space: str = SPACE

    @property
    def additivity_error(self) -> float:
        """Largest |sum of SHAP values + base value - model log-odds| over the accounts."""
        if not len(self.output):
            return 0.0
        return float(np.max(np.abs(self.values.sum(axis=1) + self.base_values - self.output)))


_EXPLAINERS: Mapping[Method, str] = MappingProxyType(
    {
        "tree": "shap.TreeExplainer(feature_perturbation='tree_path_dependent') on the prepared features",
        "linear": "shap.LinearExplainer with shap.maskers.Independent(background)",
        "permutation": "shap.explainers.Permutation with shap.maskers.Independent(background), "
        "one antithetic permutation per account (max_evals = 2 x features + 1)",
    }
)


def shap_values(
    model: ScoringModel,
    X: pd.DataFrame,
    sensitive: pd.DataFrame | None = None,
    *,
    background: pd.DataFrame,
    seed: int = 0,
) -> ShapValues:
    """SHAP values of accounts under a fitted candidate, over its declared features, in log-odds.

    Parameters
    ----------
    model
        A fitted :class:`~governance.train.ScoringModel`.
    X
        The accounts to explain (their declared features).
    sensitive
        Their audit attributes; needed only when the model reads one at
        inference, which is then held fixed at each account's own group.
    background
        Reference accounts (features) for the linear and model-agnostic
        explainers; a few dozen to a few hundred training accounts.
    seed
        Seed of the model-agnostic explainer's permutations.

    Returns
    -------
    ShapValues
        Values, base values, and the model's own log-odds for the additivity check.
    """
    view = _view(model)
    features = tuple(model.features)
    frame = X.loc[:, list(features)].reset_index(drop=True)
    groups: np.ndarray | None = None
    if view.attribute is not None:
        if sensitive is None or view.attribute not in sensitive:
            raise ValueError(
                f"the {model.mitigation} mitigation reads {view.attribute!r} at inference; pass it in `sensitive` "
                "so that it is held fixed at each account's own group"
            )
        groups = sensitive[view.attribute].astype(str).to_numpy()
    reference = background.loc[:, list(features)].reset_index(drop=True)
    with _one_thread(), _numpy_global_seed():
        prepared = np.asarray(view.prepare.transform(frame), dtype=np.float64)
        prepared_bg = np.asarray(view.prepare.transform(reference), dtype=np.float64)
        values = np.zeros((len(frame), len(features)))
        base = np.zeros(len(frame))
        for group, rows in _partition(groups, len(frame)):
            if view.method == "tree":
                v, b = _tree_values(view, prepared[rows])
            elif view.method == "linear":
                v, b = _linear_values(view, prepared[rows], prepared_bg, group)
            else:
                v, b = _permutation_values(view, prepared[rows], prepared_bg, group, seed=seed)
            values[rows], base[rows] = v, b
        output = _logit(model.scores(frame, None if sensitive is None else sensitive.reset_index(drop=True)))
    return ShapValues(
        features=features,
        values=values,
        base_values=base,
        output=output,
        method=view.method,
        explainer=_EXPLAINERS[view.method]
        + (", on the decorrelated features (background decorrelated with the same group)" if view.decorrelate else "")
        + (f"; {view.attribute} held fixed at each account's own group" if view.attribute else ""),
        held_fixed=view.attribute,
        background=0 if view.method == "tree" else len(reference),
    )


def _partition(groups: np.ndarray | None, n: int) -> Iterator[tuple[str | None, np.ndarray]]:
    """Rows by held-fixed group (all rows at once when nothing is held fixed)."""
    if groups is None:
        yield None, np.arange(n)
        return
    for group in sorted(set(groups.tolist())):
        yield str(group), np.flatnonzero(groups == group)


def _by_feature(view: _View, prepared_values: np.ndarray) -> np.ndarray:
    """Sum the prepared columns' contributions back into their declared features."""
    return np.column_stack([prepared_values[:, cols].sum(axis=1) for cols in view.blocks])


def _explanation_arrays(explanation: Any) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(explanation.values, dtype=np.float64)
    base = np.asarray(explanation.base_values, dtype=np.float64)
    if values.ndim == 3:  # one column per class: keep the positive class
        values, base = values[..., -1], base[..., -1]
    return values, np.broadcast_to(base, (len(values),)).astype(np.float64)


def _tree_values(view: _View, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shap = _shap()
    explainer = shap.TreeExplainer(view.estimator, feature_perturbation="tree_path_dependent")
    # additivity is checked below against the model's own scores and reported, never raised here
    values, base = _explanation_arrays(explainer(prepared, check_additivity=False))
    return _by_feature(view, values), base


def _linear_values(
    view: _View, prepared: np.ndarray, prepared_bg: np.ndarray, group: str | None
) -> tuple[np.ndarray, np.ndarray]:
    shap = _shap()
    reference = view.inputs(prepared_bg, group)
    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    explainer = shap.LinearExplainer(view.estimator, masker)
    values, base = _explanation_arrays(explainer(view.inputs(prepared, group)))
    return _by_feature(view, values), base


def _permutation_values(
    view: _View, prepared: np.ndarray, prepared_bg: np.ndarray, group: str | None, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Model-agnostic SHAP over whole declared features.

    The explainer sees each declared feature as one column of codes, one code
    per distinct prepared value of that feature: masking the feature swaps in
    a background account's prepared columns, and where an account shares a
    background account's value the model is not evaluated again (shap skips
    inputs that do not vary), which is exact.
    """
    shap = _shap()
    n = len(prepared)
    table = np.vstack([prepared, prepared_bg])
    lookups: list[np.ndarray] = []
    codes = np.empty((len(table), len(view.blocks)), dtype=np.float64)
    for j, cols in enumerate(view.blocks):
        distinct, inverse = np.unique(table[:, cols], axis=0, return_inverse=True)
        lookups.append(distinct)
        codes[:, j] = inverse.ravel()

    def model(masked: np.ndarray) -> np.ndarray:
        rows = masked.astype(np.int64)
        batch = np.empty((len(rows), table.shape[1]))
        for j, cols in enumerate(view.blocks):
            batch[:, cols] = lookups[j][rows[:, j]]
        return view.log_odds(batch, group)

    reference = codes[n:]
    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    explainer = shap.explainers.Permutation(model, masker, seed=seed)
    # One account per call: shap 0.51's Explainer.__call__ reuses the name `main_effects` for its list of
    # results, which turns main effects on (about 60% more model evaluations, unused) from the second row on.
    parts = [
        _explanation_arrays(explainer(codes[i : i + 1], max_evals=2 * len(view.blocks) + 1, silent=True))
        for i in range(n)
    ]
    if not parts:
        return np.empty((0, len(view.blocks))), np.empty(0)
    return np.vstack([v for v, _ in parts]), np.concatenate([b for _, b in parts])


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Additivity:
    """Whether SHAP values plus base values reproduce the model's log-odds on every explained account."""

    max_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        """True when the largest error is within the tolerance."""
        return self.max_error <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"max_error": _json_float(self.max_error), "tolerance": self.tolerance, "ok": self.ok}


@dataclass(frozen=True)
class FeatureImportance:
    """Mean absolute SHAP value of a feature over the explained population, with its interval."""

    feature: str
    mean_abs: float
    ci: tuple[float, float] | None
    mean: float

    def to_dict(self) -> dict[str, Any]:
        """The card's ``global[]`` item."""
        return {
            "feature": self.feature,
            "mean_abs": self.mean_abs,
            "ci": _json_interval(self.ci),
            "mean": self.mean,
        }


@dataclass(frozen=True)
class GroupImportance:
    """A feature's mean absolute and mean signed SHAP value within one group.

    ``mean`` < 0: on average the feature pushes this group's scores down.
    Values are None for a group too small to publish (``n_published``).
    """

    attribute: str
    group: str
    feature: str
    n: int | None
    mean_abs: float | None
    mean: float | None
    ci: tuple[float, float] | None
    mean_ci: tuple[float, float] | None
    n_published: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card's ``by_group[]`` item."""
        out = {
            "attribute": self.attribute,
            "group": self.group,
            "feature": self.feature,
            "n": self.n,
            "mean_abs": _json_float(self.mean_abs),
            "mean": _json_float(self.mean),
            "ci": _json_interval(self.ci),
            "mean_ci": _json_interval(self.mean_ci),
        }
        if self.n_published is not None:
            out["n_published"] = self.n_published
        return out


@dataclass(frozen=True)
class GroupDifference:
    """How differently a feature moves one group's scores than the reference group's.

    ``difference`` = mean signed SHAP value in ``groups[0]`` minus in
    ``groups[1]`` (the reference); ``ci`` is simultaneous over the attribute's
    comparisons; ``flagged`` when it excludes zero.
    """

    attribute: str
    feature: str
    groups: tuple[str, str]
    difference: float
    ci: tuple[float, float] | None
    flagged: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The card's ``group_differences[]`` item."""
        return {
            "attribute": self.attribute,
            "feature": self.feature,
            "groups": list(self.groups),
            "difference": self.difference,
            "ci": _json_interval(self.ci),
            "flagged": self.flagged,
            "text": self.text,
        }


@dataclass(frozen=True)
class HeldFixed:
    """The sensitive attribute a model reads at inference, held at each account's own group.

    Its direct effect is not any feature's: it is the difference between the
    groups' base values (the model's mean log-odds over the background
    accounts, all put in that group).
    """

    attribute: str
    base_by_group: Mapping[str, float]
    reference: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with each group's base value relative to the reference group."""
        ref = self.base_by_group.get(self.reference) if self.reference is not None else None
        return {
            "attribute": self.attribute,
            "note": "a sensitive attribute the model reads at inference; held fixed at each account's own group, "
            "never explained as a feature or given as a reason",
            "base_by_group": {g: float(v) for g, v in self.base_by_group.items()},
            "reference": self.reference,
            "difference_to_reference": None
            if ref is None
            else {g: float(v - ref) for g, v in self.base_by_group.items() if g != self.reference},
        }


@dataclass(frozen=True)
class ProxyCheck:
    """How well one feature alone reveals one sensitive attribute.

    Attributes
    ----------
    nmi
        Bias-corrected mutual information divided by the attribute's entropy (0 to 1).
    auc, auc_group
        The largest one-vs-rest AUC of the feature alone over the groups, and that group
        (None when no group has enough accounts).
    flagged
        ``nmi`` or ``auc`` at or above its threshold, and the attribute not derived from model features.
    derived
        The attribute is declared ``derived_from`` model features: reported, never flagged.
    """

    feature: str
    attribute: str
    nmi: float
    auc: float | None
    auc_group: str | None
    flagged: bool
    derived: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The card's ``proxies[]`` item."""
        return {
            "feature": self.feature,
            "attribute": self.attribute,
            "nmi": self.nmi,
            "auc": _json_float(self.auc),
            "auc_group": self.auc_group,
            "flagged": self.flagged,
            "derived": self.derived,
        }


@dataclass(frozen=True)
class JointProxy:
    """How well all model features together reveal one sensitive attribute (cross-validated)."""

    attribute: str
    auc: float | None
    auc_group: str | None
    flagged: bool
    derived: bool
    rows: int
    folds: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "attribute": self.attribute,
            "auc": _json_float(self.auc),
            "auc_group": self.auc_group,
            "flagged": self.flagged,
            "derived": self.derived,
            "rows": self.rows,
            "folds": self.folds,
        }


@dataclass(frozen=True)
class ProxyReport:
    """Proxy checks of every feature against every sensitive attribute, and of all features together."""

    checks: tuple[ProxyCheck, ...]
    joint: tuple[JointProxy, ...]
    nmi_threshold: float
    auc_threshold: float
    rows: int
    derived_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def flagged(self) -> tuple[ProxyCheck, ...]:
        """The checks flagged as proxies."""
        return tuple(c for c in self.checks if c.flagged)

    def check(self, feature: str, attribute: str) -> ProxyCheck:
        """The check of ``feature`` against ``attribute``."""
        for item in self.checks:
            if item.feature == feature and item.attribute == attribute:
                return item
        raise KeyError(f"no proxy check of {feature!r} against {attribute!r}")

    def to_dict(self) -> dict[str, Any]:
        """The card's ``proxies`` and ``joint_proxy_auc``, with the definitions used."""
        return {
            "proxies": [c.to_dict() for c in self.checks],
            "joint_proxy_auc": {j.attribute: _json_float(j.auc) for j in self.joint},
            "joint_proxies": [j.to_dict() for j in self.joint],
            "proxy_method": {
                "nmi": "mutual information of the feature (20 quantile bins for numbers) and the attribute, "
                "Miller-Madow bias-corrected, divided by the attribute's entropy",
                "auc": f"largest one-vs-rest AUC over the groups of the feature alone as a classifier: the group's "
                f"smoothed share among accounts in the same feature bin, estimated out of fold ({_FOLDS} folds)",
                "joint_proxy_auc": f"largest one-vs-rest AUC of a gradient-boosting classifier of all model "
                f"features, {_JOINT_FOLDS}-fold cross-validated",
                "nmi_threshold": self.nmi_threshold,
                "auc_threshold": self.auc_threshold,
                "rows": self.rows,
                "derived_from": {a: list(f) for a, f in self.derived_from.items()},
                "derived_note": "an attribute derived from model features is seen by the model by construction: "
                "features that predict it are reported, not flagged",
            },
        }


@dataclass(frozen=True)
class FeatureLoss:
    """What the candidate's estimator loses without one feature (drop-column retraining).

    ``auc_loss`` = validation AUC of the full refit minus the refit without the
    feature alone (negative: the refit without it did better); ``ci`` is the
    two-sided DeLong interval of that paired difference (None: no evidence).
    ``removable_alone``: the upper end of ``ci`` is below the tolerance (or the
    refit without it scores every account exactly as the full one).
    ``removable``: in the jointly verified set. ``auc_after`` and ``ci_after``
    are the reduced model's AUC, and the interval of its loss against the full
    refit, when the greedy elimination tried removing the feature (None: not
    tried, because it is not removable alone). ``order`` ranks the features by
    the upper end of ``ci`` (no interval last).
    """

    feature: str
    auc_loss: float
    ci: tuple[float, float] | None
    removable_alone: bool
    removable: bool
    auc_after: float | None
    ci_after: tuple[float, float] | None
    order: int

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "feature": self.feature,
            "auc_loss": self.auc_loss,
            "ci": _json_interval(self.ci),
            "removable_alone": self.removable_alone,
            "removable": self.removable,
            "auc_after": _json_float(self.auc_after),
            "ci_after": _json_interval(self.ci_after),
            "order": self.order,
        }


@dataclass(frozen=True)
class Minimization:
    """The data-minimization audit: which features the candidate does not need, on evidence.

    ``removable_alone``: each could go on its own (the upper end of its loss's
    DeLong interval is below ``tolerance``). ``removable``: the set verified
    together (a subset of ``removable_alone``); ``joint_loss`` is the full
    refit's AUC minus that of the refit on ``minimal_set``, ``joint_ci`` its
    DeLong interval, whose upper end is below ``tolerance`` whenever
    ``removable`` is not empty. ``confidence`` is the two-sided level of every
    interval.
    """

    method: str
    tolerance: float
    estimator: str
    rows_train: int
    rows_validation: int
    full_auc: float
    minimal_auc: float
    removable: tuple[str, ...]
    minimal_set: tuple[str, ...]
    features: tuple[FeatureLoss, ...]
    confidence: float
    fits: int
    removable_alone: tuple[str, ...]
    joint_loss: float
    joint_ci: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        """The card's ``minimization`` block."""
        return {
            "method": self.method,
            "tolerance": self.tolerance,
            "removable": list(self.removable),
            "minimal_set": list(self.minimal_set),
            "removable_alone": list(self.removable_alone),
            "joint_loss": self.joint_loss,
            "joint_ci": _json_interval(self.joint_ci),
            "estimator": self.estimator,
            "rows_train": self.rows_train,
            "rows_validation": self.rows_validation,
            "full_auc": self.full_auc,
            "minimal_auc": self.minimal_auc,
            "confidence": self.confidence,
            "fits": self.fits,
            "features": [f.to_dict() for f in self.features],
            "note": "loss = validation AUC of the full refit minus a refit without some features, on the same "
            "accounts, with a two-sided asymptotic DeLong interval at the confidence; a loss is below the "
            "tolerance only when the interval's upper end is. removable_alone: features whose loss alone is "
            "below it. removable = candidates for removal, verified together: greedy backward elimination over "
            "removable_alone keeping a removal only while the loss of the whole reduced set (joint_loss, "
            "joint_ci) is below the tolerance. The same validation accounts choose and test the set. Few "
            "validation accounts give wide intervals, so few features are listed: not listed is not proof "
            "that a feature is needed",
        }


@dataclass(frozen=True)
class Explanation:
    """Everything the card says about how one candidate uses its features.

    Attributes
    ----------
    candidate
        The candidate's name.
    method, explainer, space
        How the SHAP values were computed, and in which space (``log_odds``).
    features
        The explained features.
    sample_sizes, sample_rows, per_group, split
        The stratified sample (accounts per attribute and group).
    background
        Background accounts of the linear and model-agnostic explainers.
    base_value
        Mean base value over the explained population.
    global_importance, by_group, group_differences
        Importances with intervals, per group, and flagged differences.
    held_fixed
        The sensitive attribute held fixed (models that read one at inference).
    additivity
        The additivity check; ``degraded`` when it failed.
    proxies, minimization
        The proxy checks and the minimization audit (shared by candidates on the same data).
    bootstrap, confidence, seed
        The intervals' replicates, level and seed.
    seconds
        Wall-clock time of each part (not compared).
    """

    candidate: str
    method: Method
    explainer: str
    space: str
    features: tuple[str, ...]
    sample_sizes: Mapping[str, Mapping[str, int]]
    sample_rows: int
    per_group: int
    split: str
    background: int
    base_value: float
    global_importance: tuple[FeatureImportance, ...]
    by_group: tuple[GroupImportance, ...]
    group_differences: tuple[GroupDifference, ...]
    held_fixed: HeldFixed | None
    additivity: Additivity
    proxies: ProxyReport | None
    minimization: Minimization | None
    bootstrap: int
    confidence: float
    seed: int
    publish_min_group_size: int = 10
    seconds: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def degraded(self) -> bool:
        """True when the additivity check failed: the values do not fully account for the scores."""
        return not self.additivity.ok

    def top_features(self, k: int = 5) -> tuple[str, ...]:
        """The ``k`` features with the largest mean absolute SHAP value."""
        return tuple(item.feature for item in self.global_importance[:k])

    def to_dict(self) -> dict[str, Any]:
        """The card's ``explanations`` block (DESIGN.md), JSON-safe (no NaN)."""
        sample: dict[str, int | None] = {}
        for attribute, sizes in self.sample_sizes.items():
            for group, n in sizes.items():
                sample[f"{attribute}={group}"] = n if n >= self.publish_min_group_size else None
        out: dict[str, Any] = {
            "candidate": self.candidate,
            "method": self.method,
            "explainer": self.explainer,
            "space": self.space,
            "space_note": _SPACE_NOTE,
            "sample": sample,
            "sample_rows": self.sample_rows,
            "sample_per_group": self.per_group,
            "split": self.split,
            "background_rows": self.background,
            "base_value": self.base_value,
            "degraded": self.degraded,
            "additivity": self.additivity.to_dict(),
            "held_fixed": None if self.held_fixed is None else self.held_fixed.to_dict(),
            "global": [g.to_dict() for g in self.global_importance],
            "by_group": [g.to_dict() for g in self.by_group],
            "group_differences": [d.to_dict() for d in self.group_differences],
            "bootstrap": {"replicates": self.bootstrap, "confidence": self.confidence, "seed": self.seed},
        }
        if self.proxies is not None:
            out.update(self.proxies.to_dict())
        if self.minimization is not None:
            out["minimization"] = self.minimization.to_dict()
        return out


# ---------------------------------------------------------------- explaining a candidate


def _background(dataset: Dataset, *, size: int, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of training accounts: the reference of the explainers."""
    train = dataset.train
    rng = np.random.default_rng([seed, 7919])
    take = min(size, len(train))
    rows = np.sort(rng.choice(len(train), size=take, replace=False))
    return train.X.iloc[rows].reset_index(drop=True)


def explain(
    model: ScoringModel,
    dataset: Dataset,
    *,
    config: GovernanceConfig,
    name: str,
    proxies: ProxyReport | None = None,
    minimization: Minimization | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Explanation:
    """Explain one fitted candidate for its card: SHAP overall and by group, with intervals.

    Parameters
    ----------
    model
        The fitted candidate.
    dataset
        The prepared data; the test split is explained, training accounts are the background.
    config
        The run's config (``explain``, ``sensitive`` sections).
    name
        The candidate's name.
    proxies, minimization
        Results computed once for several candidates (:func:`detect_proxies`,
        :func:`minimize_features`); left out of the explanation when None.
    clock
        Source of time for ``seconds``.

    Returns
    -------
    Explanation
        Frozen plain data; ``to_dict()`` is the card's ``explanations`` block.
    """
    spec = config.explain
    test = dataset.test
    start = clock()
    sample = stratified_sample(test.sensitive, per_group=spec.sample_per_group, seed=spec.seed)
    X = test.X.iloc[sample.rows].reset_index(drop=True)
    sensitive = test.sensitive.iloc[sample.rows].reset_index(drop=True)
    values = shap_values(
        model,
        X,
        sensitive,
        background=_background(dataset, size=spec.background_size, seed=spec.seed),
        seed=spec.seed,
    )
    shap_seconds = clock() - start
    start = clock()
    stats = _Statistics(values, sample, bootstrap=spec.bootstrap, seed=spec.seed, confidence=spec.confidence)
    global_importance = stats.global_importance()
    order = [item.feature for item in global_importance]
    references = {a.name: a.reference for a in config.sensitive.attributes}
    publish_min = config.sensitive.publish_min_group_size
    by_group: list[GroupImportance] = []
    differences: list[GroupDifference] = []
    for attribute, sizes in sample.sizes.items():
        groups = sorted(sizes)
        by_group += stats.by_group(attribute, groups, order=order, publish_min=publish_min)
        configured = references.get(attribute)
        # none configured, or absent from the data: the largest group
        reference: str = (
            configured
            if configured is not None and configured in sizes
            else max(groups, key=lambda g: (sample.population[attribute][g], g))
        )
        differences += stats.differences(
            attribute,
            groups,
            reference=reference,
            order=order,
            min_rows=max(config.sensitive.min_group_size, publish_min),
        )
    held_fixed = None
    if values.held_fixed is not None:
        labels = sensitive[values.held_fixed].astype(str).to_numpy()
        base_by_group = {
            g: float(values.base_values[labels == g][0])
            for g in sorted(set(labels.tolist()))
            if int((labels == g).sum()) >= publish_min
        }
        held_fixed = HeldFixed(values.held_fixed, MappingProxyType(base_by_group), references.get(values.held_fixed))
    overall, w = sample.overall()
    return Explanation(
        candidate=name,
        method=values.method,
        explainer=values.explainer,
        space=values.space,
        features=values.features,
        sample_sizes=sample.sizes,
        sample_rows=len(sample),
        per_group=spec.sample_per_group,
        split="test",
        background=values.background,
        base_value=float(np.sum(w * values.base_values[overall]) / np.sum(w)) if len(w) else 0.0,
        global_importance=global_importance,
        by_group=tuple(by_group),
        group_differences=tuple(differences),
        held_fixed=held_fixed,
        additivity=Additivity(values.additivity_error, ADDITIVITY_TOLERANCE),
        proxies=proxies,
        minimization=minimization,
        bootstrap=spec.bootstrap,
        confidence=spec.confidence,
        seed=spec.seed,
        publish_min_group_size=publish_min,
        seconds=MappingProxyType({"shap": shap_seconds, "statistics": clock() - start}),
    )


class _Statistics:
    """Means of SHAP values over the sample's strata, with row-bootstrap replicates."""

    def __init__(self, values: ShapValues, sample: Sample, *, bootstrap: int, seed: int, confidence: float):
        self.features = values.features
        self.signed = values.values
        self.absolute = np.abs(values.values)
        self.sample = sample
        self.confidence = confidence
        n = len(sample)
        rng = np.random.default_rng([seed, 104729])
        # one set of replicates for every scope, so differences between groups keep their joint distribution
        self._counts = [
            rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, bootstrap - start)).astype(np.float64)
            for start in range(0, bootstrap if n else 0, _CHUNK)
        ]

    def _estimate(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = w.sum()
        return (w @ self.absolute[rows]) / total, (w @ self.signed[rows]) / total

    def _replicates(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(replicates, features) bootstrap estimates of the mean |SHAP| and mean SHAP over ``rows``."""
        absolute, signed = [], []
        for counts in self._counts:
            cw = counts[:, rows] * w
            total = cw.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                absolute.append((cw @ self.absolute[rows]) / total[:, None])
                signed.append((cw @ self.signed[rows]) / total[:, None])
        if not absolute:
            empty = np.empty((0, len(self.features)))
            return empty, empty
        return np.vstack(absolute), np.vstack(signed)

    def _percentile(self, replicates: np.ndarray) -> list[tuple[float, float] | None]:
        alpha = 1.0 - self.confidence
        out: list[tuple[float, float] | None] = []
        for column in replicates.T:
            finite = column[np.isfinite(column)]
            if len(finite) < max(2, 0.9 * len(column)):
                out.append(None)
                continue
            out.append(_interval(np.quantile(finite, [alpha / 2, 1 - alpha / 2])))
        return out

    def global_importance(self) -> tuple[FeatureImportance, ...]:
        rows, w = self.sample.overall()
        if not len(rows):
            return tuple(FeatureImportance(f, 0.0, None, 0.0) for f in self.features)
        mean_abs, mean = self._estimate(rows, w)
        cis = self._percentile(self._replicates(rows, w)[0])
        items = [FeatureImportance(f, float(mean_abs[j]), cis[j], float(mean[j])) for j, f in enumerate(self.features)]
        return tuple(sorted(items, key=lambda item: (-item.mean_abs, item.feature)))

    def by_group(
        self, attribute: str, groups: Sequence[str], *, order: Sequence[str], publish_min: int
    ) -> list[GroupImportance]:
        index = {f: j for j, f in enumerate(self.features)}
        out = []
        for group in groups:
            rows = self.sample.members(attribute, group)
            if len(rows) < publish_min:
                hidden = f"fewer than {publish_min}"
                out += [
                    GroupImportance(attribute, group, f, None, None, None, None, None, n_published=hidden)
                    for f in order
                ]
                continue
            ones = np.ones(len(rows))
            mean_abs, mean = self._estimate(rows, ones)
            rep_abs, rep_signed = self._replicates(rows, ones)
            ci_abs, ci_signed = self._percentile(rep_abs), self._percentile(rep_signed)
            for f in order:
                j = index[f]
                out.append(
                    GroupImportance(
                        attribute, group, f, len(rows), float(mean_abs[j]), float(mean[j]), ci_abs[j], ci_signed[j]
                    )
                )
        return out

    def differences(
        self,
        attribute: str,
        groups: Sequence[str],
        *,
        reference: str,
        order: Sequence[str],
        min_rows: int,
    ) -> list[GroupDifference]:
        from scipy.stats import norm

        index = {f: j for j, f in enumerate(self.features)}
        ref_rows = self.sample.members(attribute, reference)
        compared = [g for g in groups if g != reference and len(self.sample.members(attribute, g)) >= min_rows]
        if len(ref_rows) < min_rows or not compared:
            return []
        comparisons = len(compared) * len(self.features)
        alpha = 1.0 - self.confidence
        z = float(norm.ppf(1.0 - alpha / (2 * comparisons)))
        _, ref_mean = self._estimate(ref_rows, np.ones(len(ref_rows)))
        ref_rep = self._replicates(ref_rows, np.ones(len(ref_rows)))[1]
        out = []
        for group in compared:
            rows = self.sample.members(attribute, group)
            _, mean = self._estimate(rows, np.ones(len(rows)))
            rep = self._replicates(rows, np.ones(len(rows)))[1] - ref_rep
            for f in order:
                j = index[f]
                difference = float(mean[j] - ref_mean[j])
                column = rep[:, j][np.isfinite(rep[:, j])]
                ci = None
                if len(column) >= 2:
                    se = float(np.std(column, ddof=1))
                    ci = (difference - z * se, difference + z * se)
                flagged = ci is not None and (ci[0] > 0 or ci[1] < 0)
                text = _difference_text(
                    attribute, f, group, reference, difference, ci, flagged=flagged, confidence=self.confidence
                )
                out.append(GroupDifference(attribute, f, (group, reference), difference, ci, flagged, text))
        return out


def _difference_text(
    attribute: str,
    feature: str,
    group: str,
    reference: str,
    difference: float,
    ci: tuple[float, float] | None,
    *,
    flagged: bool,
    confidence: float,
) -> str:
    """A group difference in plain words."""
    direction = "raises" if difference > 0 else "lowers"
    interval = (
        f" ({confidence:.0%} simultaneous interval {ci[0]:+.3f} to {ci[1]:+.3f})"
        if ci is not None
        else " (no interval)"
    )
    if flagged:
        return (
            f"{feature} {direction} the scores of {attribute} {group} accounts relative to {reference} accounts, "
            f"by {abs(difference):.3f} log-odds on average{interval}"
        )
    return (
        f"no clear difference: {feature} moves the scores of {attribute} {group} and {reference} accounts alike "
        f"(difference {difference:+.3f} log-odds{interval})"
    )


# ---------------------------------------------------------------- proxies


def _feature_codes(column: pd.Series, *, categorical: bool) -> np.ndarray:
    """Integer codes: categories, or up to 20 quantile bins of a number; missing values get a code of their own."""
    if categorical or not pd.api.types.is_numeric_dtype(column.dtype):
        codes, _ = pd.factorize(column.astype(object).where(column.notna(), "\x00missing"), sort=True)
        return codes.astype(np.int64)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    if not present.any():
        return np.zeros(len(values), dtype=np.int64)
    edges = np.unique(np.quantile(values[present], np.linspace(0.0, 1.0, _BINS + 1)[1:-1]))
    codes = np.searchsorted(edges, values, side="right").astype(np.int64)
    codes[~present] = len(edges) + 1
    return codes


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _nmi(feature: np.ndarray, attribute: np.ndarray, n_groups: int) -> float:
    """Miller-Madow corrected mutual information divided by the attribute's entropy, in [0, 1]."""
    n = len(feature)
    cells = np.bincount(feature * n_groups + attribute, minlength=(feature.max() + 1) * n_groups)
    table = cells.reshape(-1, n_groups).astype(np.float64)
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    h_attribute = _entropy(cols)
    if h_attribute <= 0.0 or n == 0:
        return 0.0
    mi = _entropy(rows) + h_attribute - _entropy(table.ravel())
    bias = (int((rows > 0).sum()) - 1) * (int((cols > 0).sum()) - 1) / (2.0 * n)
    return float(min(1.0, max(0.0, (mi - bias) / h_attribute)))


def _auc_from_cells(positives: np.ndarray, negatives: np.ndarray, scores: np.ndarray) -> float | None:
    """AUC of a score constant within cells, from each cell's positive and negative counts (ties count 1/2)."""
    n_pos, n_neg = positives.sum(), negatives.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="stable")
    s, pos, neg = scores[order], positives[order], negatives[order]
    distinct, start = np.unique(s, return_index=True)
    pos_t, neg_t = np.add.reduceat(pos, start), np.add.reduceat(neg, start)
    below = np.cumsum(neg_t) - neg_t
    del distinct
    return float((pos_t * (below + 0.5 * neg_t)).sum() / (n_pos * n_neg))


def _one_feature_auc(
    feature: np.ndarray, attribute: np.ndarray, groups: Sequence[int], folds: np.ndarray
) -> tuple[float | None, int | None]:
    """Largest one-vs-rest AUC (and its group) of the out-of-fold, smoothed group share of the feature's bin."""
    n_cells = int(feature.max()) + 1
    best: tuple[float | None, int | None] = (None, None)
    fold_cells = folds * n_cells + feature
    size = _FOLDS * n_cells
    total = np.bincount(fold_cells, minlength=size).reshape(_FOLDS, n_cells).astype(np.float64)
    for group in groups:
        hit = (attribute == group).astype(np.float64)
        members = np.bincount(fold_cells, weights=hit, minlength=size).reshape(_FOLDS, n_cells)
        others_members = members.sum(axis=0) - members  # counts on the other folds
        others_total = total.sum(axis=0) - total
        prior = (members.sum() - members.sum(axis=1, keepdims=True)) / np.maximum(
            total.sum() - total.sum(axis=1, keepdims=True), 1.0
        )
        score = (others_members + _PRIOR_ROWS * prior) / (others_total + _PRIOR_ROWS)
        auc = _auc_from_cells(members.ravel(), (total - members).ravel(), score.ravel())
        if auc is not None and (best[0] is None or auc > best[0]):
            best = (auc, group)
    return best


def detect_proxies(
    X: pd.DataFrame,
    sensitive: pd.DataFrame,
    *,
    categorical: Sequence[str] = (),
    nmi_threshold: float = 0.05,
    auc_threshold: float = 0.65,
    derived_from: Mapping[str, Sequence[str]] | None = None,
    min_group_size: int = 30,
    joint_rows: int = 20_000,
    seed: int = 0,
) -> ProxyReport:
    """Measure how well each feature, and all features together, reveal each sensitive attribute.

    Single-feature measures use every account (counting, linear in the rows);
    the joint classifier uses a seeded sample of ``joint_rows`` accounts.

    Parameters
    ----------
    X
        The model features of the accounts.
    sensitive
        Their audit attributes.
    categorical
        The categorical features (the others are binned numbers).
    nmi_threshold, auc_threshold
        A feature reaching either is flagged as a proxy.
    derived_from
        Attributes defined from model features (``{"size_band": ["employee_count"]}``):
        reported, never flagged.
    min_group_size
        Groups smaller than this get no AUC.
    joint_rows
        Accounts for the cross-validated classifier of all features.
    seed
        Seed of the folds and the sample.

    Returns
    -------
    ProxyReport
        One check per (feature, attribute), one joint result per attribute.
    """
    derived = {k: tuple(v) for k, v in (derived_from or {}).items() if v}
    n = len(X)
    rng = np.random.default_rng([seed, 15485863])
    folds = rng.integers(0, _FOLDS, size=n)
    checks: list[ProxyCheck] = []
    codes = {name: _feature_codes(X[name], categorical=name in categorical) for name in X.columns}
    for attribute in sensitive.columns:
        attr_codes, labels = pd.factorize(sensitive[attribute].astype(str), sort=True)
        counts = np.bincount(attr_codes, minlength=len(labels))
        eligible = [g for g in range(len(labels)) if min_group_size <= counts[g] < n]
        is_derived = str(attribute) in derived
        for name in X.columns:
            nmi = _nmi(codes[name], attr_codes, len(labels))
            auc, group = _one_feature_auc(codes[name], attr_codes, eligible, folds)
            flagged = not is_derived and (nmi >= nmi_threshold or (auc is not None and auc >= auc_threshold))
            checks.append(
                ProxyCheck(
                    feature=str(name),
                    attribute=str(attribute),
                    nmi=nmi,
                    auc=auc,
                    auc_group=None if group is None else str(labels[group]),
                    flagged=flagged,
                    derived=is_derived,
                )
            )
    joint = tuple(
        _joint_proxy(
            X,
            sensitive[attribute],
            categorical=categorical,
            rows=joint_rows,
            min_group_size=min_group_size,
            seed=seed,
            threshold=auc_threshold,
            derived=str(attribute) in derived,
        )
        for attribute in sensitive.columns
    )
    return ProxyReport(
        checks=tuple(checks),
        joint=joint,
        nmi_threshold=nmi_threshold,
        auc_threshold=auc_threshold,
        rows=n,
        derived_from=MappingProxyType(derived),
    )


def _joint_proxy(
    X: pd.DataFrame,
    attribute: pd.Series,
    *,
    categorical: Sequence[str],
    rows: int,
    min_group_size: int,
    seed: int,
    threshold: float,
    derived: bool,
) -> JointProxy:
    """A cross-validated classifier of the attribute from all features; its largest one-vs-rest AUC."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    name = str(attribute.name)
    rng = np.random.default_rng([seed, 32452843])
    take = np.sort(rng.choice(len(X), size=min(rows, len(X)), replace=False))
    labels = attribute.astype(str).to_numpy()[take]
    values, counts = np.unique(labels, return_counts=True)
    kept = set(values[counts >= max(min_group_size, _JOINT_FOLDS)].tolist())
    keep = np.isin(labels, list(kept))
    if len(kept) < 2:
        return JointProxy(name, None, None, False, derived, int(keep.sum()), _JOINT_FOLDS)
    frame = X.iloc[take[keep]].reset_index(drop=True)
    y = labels[keep]
    matrix = np.column_stack(
        [
            _feature_codes(frame[c], categorical=True).astype(np.float64)
            if c in categorical or not pd.api.types.is_numeric_dtype(frame[c].dtype)
            else frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
            for c in frame.columns
        ]
    )
    is_categorical = [c in categorical or not pd.api.types.is_numeric_dtype(frame[c].dtype) for c in frame.columns]
    for j, flag in enumerate(is_categorical):
        if flag:  # HistGradientBoosting takes at most 255 categories: keep the most frequent, pool the rest
            column = matrix[:, j].astype(np.int64)
            top = np.argsort(-np.bincount(column), kind="stable")[:254]
            remap = np.full(column.max() + 1, 254, dtype=np.int64)
            remap[top] = np.arange(len(top))
            matrix[:, j] = remap[column]
    classifier = HistGradientBoostingClassifier(
        max_iter=100,
        # without shrinkage of the leaf values, multi-class boosting on an attribute the features determine
        # (size_band from employee_count) saturates and diverges: out-of-fold AUC 0.84 instead of 1.0 on 20,000 rows
        learning_rate=0.05,
        l2_regularization=1.0,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=np.asarray(is_categorical, dtype=bool) if any(is_categorical) else None,
        random_state=seed,
    )
    folds = StratifiedKFold(n_splits=_JOINT_FOLDS, shuffle=True, random_state=seed)
    with _one_thread():
        probabilities = cross_val_predict(classifier, matrix, y, cv=folds, method="predict_proba")
    classes = sorted(kept)
    best: tuple[float | None, str | None] = (None, None)
    for j, group in enumerate(classes):
        hit = (y == group).astype(np.int64)
        auc = float(roc_auc_score(hit, probabilities[:, j]))
        if best[0] is None or auc > best[0]:
            best = (auc, group)
    flagged = not derived and best[0] is not None and best[0] >= threshold
    return JointProxy(name, best[0], best[1], flagged, derived, len(y), _JOINT_FOLDS)


# ---------------------------------------------------------------- minimization


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    out: np.ndarray = rankdata(x, method="average")
    return out


def _delong(y: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """AUCs of two scores of the same accounts and the DeLong variance of their difference."""
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    aucs, v10, v01 = [], [], []
    for scores in (first, second):
        pos, neg = scores[positive], scores[~positive]
        tx, ty, tz = _midranks(pos), _midranks(neg), _midranks(np.concatenate([pos, neg]))
        aucs.append(float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return aucs[0], aucs[1], float(max(variance, 0.0))


@dataclass(frozen=True)
class _Loss:
    """The AUC loss of reduced scores against the full ones on the same accounts, with its DeLong interval."""

    loss: float
    ci: tuple[float, float] | None
    identical: bool

    def below(self, tolerance: float) -> bool:
        """Whether the evidence puts the loss under ``tolerance``: the interval's upper end is below it."""
        # identical scores lose nothing on any sample of accounts, whatever the tolerance; otherwise
        # a zero or non-finite variance is a degenerate estimate (perfect separation, too few
        # accounts), not a certainty, so there is no interval and no evidence
        return self.identical or (self.ci is not None and self.ci[1] < tolerance)


def _paired_loss(y: np.ndarray, full: np.ndarray, reduced: np.ndarray, *, z: float) -> _Loss:
    """Full AUC minus reduced AUC, with the two-sided interval of half-width ``z`` DeLong standard errors."""
    from sklearn.metrics import roc_auc_score

    if np.array_equal(full, reduced):
        return _Loss(0.0, (0.0, 0.0), identical=True)
    positives = int((y == 1).sum())
    if min(positives, len(y) - positives) < 2:  # no covariance of one placement value: no interval
        return _Loss(float(roc_auc_score(y, full) - roc_auc_score(y, reduced)), None, identical=False)
    full_auc, reduced_auc, variance = _delong(y, full, reduced)
    loss = full_auc - reduced_auc
    if not (math.isfinite(variance) and variance > 0.0 and math.isfinite(loss)):
        return _Loss(loss, None, identical=False)
    half = z * math.sqrt(variance)
    return _Loss(loss, (loss - half, loss + half), identical=False)


def minimize_features(
    model: ScoringModel,
    dataset: Dataset,
    *,
    tolerance: float,
    rows: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Minimization:
    """Find the features a candidate does not need, on evidence: drop-column retraining, then a verified greedy elimination.

    A feature is removable alone when the upper end of the two-sided DeLong
    interval of its loss (full refit's validation AUC minus the refit's without
    it, paired on the same accounts) is below ``tolerance``. The features
    removable alone are then removed greedily, the smallest upper end first,
    each removal kept only while the upper end of the loss of the whole reduced
    set against the full refit stays below ``tolerance``; so ``removable`` is
    verified together (see the module docstring, "Minimization").

    Parameters
    ----------
    model
        The candidate; its estimator kind and hyper-parameters are refit
        (without its mitigation) on subsets of its features.
    dataset
        The prepared data: training accounts to refit, validation accounts to measure.
    tolerance
        Largest validation AUC loss, relative to the full refit, that the
        reduced feature set may have: the upper end of the loss's interval must be below it.
    rows
        Training accounts per refit (seeded sample), and validation accounts measured.
    seed
        Seed of the samples.
    confidence
        Two-sided level of the DeLong intervals (0.95: each decision is a
        one-sided test at 97.5%).

    Returns
    -------
    Minimization
        ``removable_alone``, the jointly verified ``removable`` and the
        ``minimal_set``, the final set's ``joint_loss`` and ``joint_ci``, with each feature's evidence.
    """
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    from governance.train import ScoringModel

    features = tuple(model.features)
    categorical = tuple(c for c in model.categorical if c in features)
    rng = np.random.default_rng([seed, 86028121])
    train, validation = dataset.train, dataset.validation
    train_rows = np.sort(rng.choice(len(train), size=min(rows, len(train)), replace=False))
    valid_rows = np.sort(rng.choice(len(validation), size=min(rows, len(validation)), replace=False))
    X_train, y_train = train.X.iloc[train_rows].reset_index(drop=True), train.y[train_rows]
    X_valid, y_valid = validation.X.iloc[valid_rows].reset_index(drop=True), validation.y[valid_rows]
    if len(np.unique(y_train)) < 2 or len(np.unique(y_valid)) < 2:
        raise DataValidationError(
            [
                Problem(
                    "explain.minimization_rows",
                    f"the minimization sample ({len(y_train)} training, {len(y_valid)} validation accounts) "
                    "needs both labels on each side",
                    "raise minimization_rows or use more data",
                )
            ]
        )
    fitted: dict[frozenset[str], np.ndarray] = {}

    def scores(keep: Sequence[str]) -> np.ndarray:
        key = frozenset(keep)
        if key not in fitted:
            subset = [f for f in features if f in key]
            refit = ScoringModel(
                model.kind,
                dict(model.params or {}),
                features=subset,
                categorical=[c for c in categorical if c in key],
                seed=model.seed,
            )
            refit.fit(X_train, y_train)
            fitted[key] = refit.scores(X_valid)
        return fitted[key]

    full = scores(features)
    full_auc = float(roc_auc_score(y_valid, full))
    z = float(norm.ppf(0.5 + confidence / 2.0))
    alone: dict[str, _Loss] = {}
    for feature in features:
        if len(features) == 1:
            break
        alone[feature] = _paired_loss(y_valid, full, scores([f for f in features if f != feature]), z=z)
    removable_alone = [f for f in alone if alone[f].below(tolerance)]

    def upper(feature: str) -> tuple[float, float, int]:
        ci = alone[feature].ci
        return (math.inf if ci is None else ci[1], alone[feature].loss, features.index(feature))

    order = sorted(alone, key=upper)
    # only features that could go alone are tried: a set is listed only if each of its
    # features passes on its own and the whole set passes against the full refit
    current = list(features)
    removed: list[str] = []
    joint = _Loss(0.0, (0.0, 0.0), identical=True)
    after: dict[str, tuple[float, _Loss]] = {}
    for feature in (f for f in order if f in removable_alone):
        if len(current) == 1:
            break
        trial = [f for f in current if f != feature]
        reduced = scores(trial)
        loss = _paired_loss(y_valid, full, reduced, z=z)
        after[feature] = (float(roc_auc_score(y_valid, reduced)), loss)
        if loss.below(tolerance):
            current, removed, joint = trial, [*removed, feature], loss
    minimal_auc = float(roc_auc_score(y_valid, scores(current)))
    evidence = tuple(
        FeatureLoss(
            feature=f,
            auc_loss=float(alone[f].loss),
            ci=alone[f].ci,
            removable_alone=f in removable_alone,
            removable=f in removed,
            auc_after=after[f][0] if f in after else None,
            ci_after=after[f][1].ci if f in after else None,
            order=order.index(f) + 1,
        )
        for f in features
        if f in alone
    )
    return Minimization(
        method="drop_column_retraining",
        tolerance=tolerance,
        estimator=f"{model.kind} with the candidate's hyper-parameters, refit without mitigation",
        rows_train=len(train_rows),
        rows_validation=len(valid_rows),
        full_auc=full_auc,
        minimal_auc=minimal_auc,
        removable=tuple(removed),
        minimal_set=tuple(current),
        features=evidence,
        confidence=confidence,
        fits=len(fitted),
        removable_alone=tuple(removable_alone),
        joint_loss=float(joint.loss),
        joint_ci=joint.ci,
    )


# ---------------------------------------------------------------- reason codes


@dataclass(frozen=True)
class Reason:
    """One reason for an account's score: its value of a feature and which way it moves the score.

    ``share_lower`` / ``share_equal`` / ``share_higher``: the shares of accounts
    whose value is below, equal to and above this account's (numbers);
    ``share_equal`` alone for a category.
    """

    feature: str
    value: float | str | None
    contribution: float
    direction: Literal["raises", "lowers"]
    text: str
    share_lower: float | None = None
    share_equal: float | None = None
    share_higher: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {
            "feature": self.feature,
            "value": value,
            "contribution": self.contribution,
            "direction": self.direction,
            "text": self.text,
            "share_lower": _json_float(self.share_lower),
            "share_equal": _json_float(self.share_equal),
            "share_higher": _json_float(self.share_higher),
        }


@dataclass(frozen=True)
class AccountExplanation:
    """Why one account got its score, in plain words; keyed by its pseudonym, never its identifier."""

    pseudonym: str
    candidate: str
    score: float
    percentile: float
    accounts: int
    log_odds: float
    base_value: float
    method: Method
    explainer: str
    reasons: tuple[Reason, ...]
    held_fixed: str | None
    additivity_error: float
    space: str = SPACE

    @property
    def score_text(self) -> str:
        """The score and its place among all scored accounts."""
        return f"score {self.score:.3f}, higher than {math.floor(self.percentile)}% of {self.accounts:,} accounts"

    def to_dict(self) -> dict[str, Any]:
        """The ``governance.reasons/1`` document (without the model's lineage, which the caller adds)."""
        return {
            "schema": "governance.reasons/1",
            "pseudonym": self.pseudonym,
            "candidate": self.candidate,
            "score": self.score,
            "percentile": self.percentile,
            "accounts": self.accounts,
            "score_text": self.score_text,
            "space": self.space,
            "space_note": _SPACE_NOTE,
            "log_odds": self.log_odds,
            "base_value": self.base_value,
            "method": self.method,
            "explainer": self.explainer,
            "additivity_error": _json_float(self.additivity_error),
            "held_fixed": None
            if self.held_fixed is None
            else {
                "attribute": self.held_fixed,
                "note": "the model also reads this sensitive attribute when it scores; it is held fixed at the "
                "account's own value and is never a reason",
            },
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _words(name: str) -> str:
    return name.replace("_", " ")


def _format_value(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _phrase(feature: Feature | None, name: str, value: str) -> str:
    template = feature.describe if feature is not None and feature.describe else None
    if template is None:
        categorical = feature is not None and feature.type == "categorical"
        template = f"{_words(name)} is {{value}}" if categorical else f"{_words(name)} of {{value}}"
    return string.Formatter().vformat(template, (), {"value": value})


def _percent(share: float) -> str:
    return f"{math.floor(100.0 * share + 1e-9)}%"


def _reason(
    name: str,
    raw: Any,
    contribution: float,
    column: pd.Series,
    *,
    feature: Feature | None,
    categorical: bool,
) -> Reason:
    """A reason in plain words, with the value's place among all accounts of the data."""
    direction: Literal["raises", "lowers"] = "raises" if contribution > 0 else "lowers"
    effect = f"{direction} the score"
    missing = raw is None or (isinstance(raw, float) and math.isnan(raw)) or bool(pd.isna(raw))
    if missing:
        text = f"no {_words(name)} recorded: {effect}"
        share = float(column.isna().mean()) if len(column) else None
        return Reason(name, None, contribution, direction, text, share_equal=share)
    if categorical:
        value = str(raw)
        share = float((column.astype(str) == value).mean())
        text = f"{_phrase(feature, name, value)} ({_percent(share)} of accounts): {effect}"
        return Reason(name, value, contribution, direction, text, share_equal=share)
    number = float(raw)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    lower = float((values < number).mean()) if len(values) else 0.0
    equal = float((values == number).mean()) if len(values) else 0.0
    higher = float((values > number).mean()) if len(values) else 0.0
    if equal >= 0.5:
        place = f"the same as {_percent(equal)} of accounts"
    elif lower >= higher:
        place = f"more than {_percent(lower)} of accounts"
    else:
        place = f"less than {_percent(higher)} of accounts"
    text = f"{_phrase(feature, name, _format_value(number))}, {place}: {effect}"
    return Reason(name, number, contribution, direction, text, lower, equal, higher)


def account_row(dataset: Dataset, pseudonym: str) -> int:
    """The position of the account with this pseudonym in the prepared data.

    Raises
    ------
    DataValidationError
        When no usable account has it: unknown, or excluded for lack of consent.
        The two are not told apart (whether a record exists is itself personal
        data about an account that withheld consent), and the identifier is not
        repeated.
    """
    found = np.flatnonzero(dataset.pseudonyms == pseudonym)
    if len(found) != 1:
        raise DataValidationError(
            [
                Problem(
                    "--account",
                    "no usable account has this identifier: it is unknown, or excluded because it has no valid "
                    "consent (excluded accounts are never scored or explained)",
                    "check the identifier as it appears in the data's id column",
                )
            ]
        )
    return int(found[0])


def explain_account(
    model: ScoringModel,
    dataset: Dataset,
    pseudonym: str,
    *,
    config: GovernanceConfig,
    name: str,
    scores: np.ndarray | None = None,
) -> AccountExplanation:
    """Why one account got its score: its largest SHAP contributions, in plain words.

    Parameters
    ----------
    model
        The fitted candidate (the champion, or a named version).
    dataset
        The prepared data: the account, the distribution its values are compared
        with, the background accounts, and every account's score for its percentile.
    pseudonym
        The account's keyed pseudonym (never the raw identifier).
    config
        The config (``explain.reason_codes``, ``explain.background_size``, the features' ``describe``).
    name
        The candidate's name, for the record.
    scores
        Every account's score, when already computed (else computed here).

    Returns
    -------
    AccountExplanation
        Score, percentile and up to ``explain.reason_codes`` reasons; deterministic.

    Raises
    ------
    DataValidationError
        When no usable account has this pseudonym: unknown, or excluded for lack
        of consent (the two are not told apart, and the identifier is not repeated).
    """
    row = account_row(dataset, pseudonym)
    spec = config.explain
    X = dataset.X.iloc[[row]].reset_index(drop=True)
    sensitive = dataset.sensitive.iloc[[row]].reset_index(drop=True)
    values = shap_values(
        model,
        X,
        sensitive,
        background=_background(dataset, size=spec.background_size, seed=spec.seed),
        seed=spec.seed,
    )
    every = model.scores(dataset.X, dataset.sensitive) if scores is None else scores
    score = float(every[row])
    declared = {f.name: f for f in config.features}
    contributions = values.values[0]
    ranked = sorted(range(len(values.features)), key=lambda j: (-abs(contributions[j]), j))
    reasons = []
    for j in ranked[: spec.reason_codes]:
        if contributions[j] == 0.0:
            continue
        feature = values.features[j]
        reasons.append(
            _reason(
                feature,
                X.at[0, feature],
                float(contributions[j]),
                dataset.X[feature],
                feature=declared.get(feature),
                categorical=feature in dataset.categorical,
            )
        )
    return AccountExplanation(
        pseudonym=pseudonym,
        candidate=name,
        score=score,
        percentile=100.0 * float((every < score).mean()),
        accounts=len(every),
        log_odds=float(values.output[0]),
        base_value=float(values.base_values[0]),
        method=values.method,
        explainer=values.explainer,
        reasons=tuple(reasons),
        held_fixed=values.held_fixed,
        additivity_error=values.additivity_error,
    )
