"""SHAP values of a fitted candidate, over its declared features, in log-odds.

SHAP values (:func:`shap_values`)
    Every candidate is explained in one space, the **log-odds** of its score,
    ``logit(predict_proba(X)[:, 1])``, over its declared features. Tree and
    linear models are exact and additive there; a contribution of +0.5 means
    the feature multiplies the account's odds of converting by e^0.5 = 1.65.
    The explainer depends on the candidate:

    =========================================  ==================================================
    candidate                                  explainer (``method``)
    =========================================  ==================================================
    lightgbm, hist_gradient_boosting           path-dependent TreeSHAP on the final estimator over
    (plain or reweighing)                      the prepared features: LightGBM's own
                                               ``pred_contrib`` (what ``shap.TreeExplainer``
                                               returns for LightGBM), ``shap.TreeExplainer`` for
                                               hist_gradient_boosting (``tree``)
    logistic_regression (plain or reweighing)  linear SHAP, interventional over the background
                                               sample: ``shap.LinearExplainer``'s values,
                                               computed directly (``linear``)
    correlation_remover + logistic_regression  linear SHAP on the decorrelated features, the
                                               background decorrelated with the account's own
                                               group (``linear``)
    exponentiated_gradient, threshold_         permutation SHAP (``shap.explainers.Permutation``'s
    optimizer, any other                       algorithm, drawn from a local seeded generator):
                                               model-agnostic, an independent masker over the
                                               background sample, one antithetic permutation per
                                               account (``permutation``)
    =========================================  ==================================================

    The columns a declared feature becomes in the pipeline (one scaled column,
    or one column per category) are summed back into that feature. The
    model-agnostic explainer masks whole declared features: masking a feature
    swaps in a background account's prepared columns of that feature, exactly
    as the pipeline would have prepared them.
Sensitive attributes
    are never explained features and never reasons. A model that reads one at
    inference (threshold_optimizer, correlation_remover) is explained with it
    **held fixed** at each account's own group: its direct effect sits in the
    group's base value, which :attr:`Explanation.held_fixed` reports per group.
Additivity
    SHAP values plus the base value must give the log-odds the model itself
    returns (to 1e-6) on every explained row; otherwise the explanation is
    marked ``degraded`` with the largest error, never silently accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from governance.explain._common import _logit, _one_thread

if TYPE_CHECKING:
    from governance.train import ScoringModel

__all__ = ["ADDITIVITY_TOLERANCE", "SPACE", "ShapValues", "shap_values"]

#: The space every candidate is explained in.
SPACE = "log_odds"
#: Largest |sum of SHAP values + base value - model log-odds| accepted on any row.
ADDITIVITY_TOLERANCE = 1e-6

Method = Literal["tree", "linear", "permutation"]

_SPACE_NOTE = (
    "contributions to the log-odds of the score, logit(score); +0.69 doubles a row's odds, -0.69 halves them"
)
_PERMUTATION_ROWS = 50_000  # rows of one model call of the permutation explainer (memory stays bounded)


# ---------------------------------------------------------------- shap, without its plotting stack


def _shap() -> Any:
    """Return the shap package, imported on first use (by the tree explainer of a non-LightGBM model).

    shap imports its plots, and so ``matplotlib.pyplot``, whenever matplotlib is
    installed (about 0.3 s more than without it); only hist_gradient_boosting
    candidates need shap, so linear, LightGBM and model-agnostic explanations
    load neither. The warning matplotlib gives about shap's colormaps at import
    is silenced in a ``catch_warnings`` block, which restores the filters after.
    """
    import warnings

    with warnings.catch_warnings():
        # shap's plots build colormaps with `set_bad`, which matplotlib schedules for deprecation
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")
        import shap
    return shap


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
        """Return what the final estimator reads: the prepared features, decorrelated with ``group`` when needed."""
        if self.decorrelate is None:
            return prepared
        groups = pd.DataFrame({self.attribute: np.full(len(prepared), group, dtype=object)})
        stacked = np.hstack([prepared, self.decorrelate.encoder_.transform(groups)])
        out: np.ndarray = self.decorrelate.remover_.transform(stacked)
        return out

    def log_odds(self, prepared: np.ndarray, group: str | None) -> np.ndarray:
        """Return the model's log-odds for prepared rows, the sensitive attribute (if read) fixed at ``group``."""
        score = self.estimator.predict_proba(self.inputs(prepared, group))[:, 1]
        if self.thresholds is not None:
            score = self.thresholds.positive_from_base(score, np.full(len(prepared), group, dtype=object))
        return _logit(score)


def _blocks(prepare: Any, features: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Return the prepared columns of each declared feature (one scaled column, or one per category)."""
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
    """Return whether the estimator is a logistic regression (exact linear SHAP)."""
    from sklearn.linear_model import LogisticRegression

    return isinstance(estimator, LogisticRegression)


def _is_tree(estimator: Any) -> bool:
    """Return whether the estimator is a gradient-boosted tree model (exact tree SHAP)."""
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
        "tree": "path-dependent TreeSHAP on the prepared features (LightGBM's pred_contrib, which "
        "shap.TreeExplainer returns for LightGBM; shap.TreeExplainer(feature_perturbation='tree_path_dependent') "
        "for other trees)",
        "linear": "interventional linear SHAP over the background (the values of shap.LinearExplainer with "
        "shap.maskers.Independent(background))",
        "permutation": "permutation SHAP (the algorithm of shap.explainers.Permutation) with an independent "
        "masker over the background, one antithetic permutation per row (2 x features + 1 coalitions)",
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
                "so that it is held fixed at each row's own group"
            )
        groups = sensitive[view.attribute].astype(str).to_numpy()
    reference = background.loc[:, list(features)].reset_index(drop=True)
    with _one_thread():
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
    """Return a shap Explanation's values and base values, for the positive class."""
    values = np.asarray(explanation.values, dtype=np.float64)
    base = np.asarray(explanation.base_values, dtype=np.float64)
    if values.ndim == 3:  # one column per class: keep the positive class
        values, base = values[..., -1], base[..., -1]
    return values, np.broadcast_to(base, (len(values),)).astype(np.float64)


def _tree_values(view: _View, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return path-dependent tree SHAP values over the declared features, and base values."""
    if type(view.estimator).__name__ == "LGBMClassifier":
        # LightGBM's own path-dependent TreeSHAP: what shap.TreeExplainer itself returns for a LightGBM model
        contributions = np.asarray(view.estimator.booster_.predict(prepared, pred_contrib=True), dtype=np.float64)
        return _by_feature(view, contributions[:, :-1]), contributions[:, -1].copy()
    shap = _shap()
    explainer = shap.TreeExplainer(view.estimator, feature_perturbation="tree_path_dependent")
    # additivity is checked below against the model's own scores and reported, never raised here
    values, base = _explanation_arrays(explainer(prepared, check_additivity=False))
    return _by_feature(view, values), base


def _linear_values(
    view: _View, prepared: np.ndarray, prepared_bg: np.ndarray, group: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return interventional linear SHAP values over the declared features, and base values.

    What ``shap.LinearExplainer`` computes with ``shap.maskers.Independent(background)``:
    ``coef * (x - mean(background))``, base value ``coef @ mean(background) + intercept``.
    """
    coef = np.asarray(view.estimator.coef_, dtype=np.float64)[0]
    intercept = float(np.asarray(view.estimator.intercept_, dtype=np.float64)[0])
    mean = view.inputs(prepared_bg, group).mean(axis=0)
    values = (view.inputs(prepared, group) - mean) * coef
    return _by_feature(view, values), np.full(len(values), float(np.dot(coef, mean)) + intercept)


def _permutation_values(
    view: _View, prepared: np.ndarray, prepared_bg: np.ndarray, group: str | None, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Model-agnostic SHAP over whole declared features: one antithetic permutation per account.

    The algorithm of ``shap.explainers.Permutation`` with an independent masker
    (``max_evals = 2 x features + 1``), drawn from a local generator: shap's
    explainer seeds and shuffles numpy's global generator. For one ordering of
    the features, each feature's contribution is the mean of its marginal
    contributions added forward along the ordering and backward along its
    reverse; a coalition's value is the mean log-odds over the background
    accounts with the coalition's features (all their prepared columns) taken
    from the account. The contributions add up to the account's log-odds minus
    the base value (the background's mean log-odds), and are exact for an
    additive model.
    """
    account = np.asarray(prepared, dtype=np.float64)
    reference = np.asarray(prepared_bg, dtype=np.float64)
    n, m = len(account), len(view.blocks)
    if not n:
        return np.empty((0, m)), np.empty(0)
    rng = np.random.default_rng([seed, 2147483647])
    orders = np.stack([rng.permutation(m) for _ in range(n)])
    coalitions = _antithetic_coalitions(orders)  # (accounts, 2m, features)
    columns = np.zeros((m, account.shape[1]), dtype=bool)
    for j, cols in enumerate(view.blocks):
        columns[j, cols] = True
    taken = (coalitions.astype(np.int64) @ columns.astype(np.int64)) > 0  # (accounts, 2m, prepared columns)
    worth = np.empty((n, 2 * m))
    chunk = max(1, _PERMUTATION_ROWS // max(1, 2 * m * len(reference)))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        batch = np.where(taken[lo:hi, :, None, :], account[lo:hi, None, None, :], reference[None, None, :, :])
        log_odds = view.log_odds(batch.reshape(-1, account.shape[1]), group)
        worth[lo:hi] = log_odds.reshape(hi - lo, 2 * m, len(reference)).mean(axis=2)
    return _antithetic_values(worth, orders), worth[:, 0].copy()


def _antithetic_coalitions(orders: np.ndarray) -> np.ndarray:
    """Each account's 2m coalitions: the ordering's prefixes (empty to full), then its proper suffixes."""
    n, m = orders.shape
    rank = np.empty_like(orders)
    rank[np.arange(n)[:, None], orders] = np.arange(m)
    steps = np.arange(m + 1)[:, None]
    prefixes = rank[:, None, :] < steps[None]  # prefix k: the first k features of the ordering
    suffixes = rank[:, None, :] >= steps[1:m][None]  # suffix k: all but the first k
    out: np.ndarray = np.concatenate([prefixes, suffixes], axis=1)
    return out


def _antithetic_values(worth: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Mean of the forward and backward marginal contributions of each feature, from the coalitions' worth."""
    n, m = orders.shape
    prefix = worth[:, : m + 1]  # prefix k, k = 0..m
    suffix = np.concatenate([worth[:, m : m + 1], worth[:, m + 1 :], worth[:, :1]], axis=1)  # suffix k, k = 0..m
    forward = prefix[:, 1:] - prefix[:, :-1]  # the k-th feature of the ordering joins the first k - 1
    backward = suffix[:, :-1] - suffix[:, 1:]  # the k-th feature leaves the features after it
    values = np.empty((n, m))
    values[np.arange(n)[:, None], orders] = (forward + backward) / 2.0
    return values
