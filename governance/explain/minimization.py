"""Data minimization: the features a candidate does not need, decided on evidence.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from governance.errors import DataValidationError, Problem
from governance.explain._common import _json_float, _json_interval
from governance.stats import auc_of_scores, paired_delong

if TYPE_CHECKING:
    import pandas as pd

    from governance.data import Dataset
    from governance.train import ScoringModel

__all__ = ["FeatureLoss", "Minimization", "minimize_features"]


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

    def to_dict(self, *, subjects: str = "rows") -> dict[str, Any]:
        """Return the card's ``minimization`` block.

        Parameters
        ----------
        subjects
            The word for the rows in its note (``config.purpose.subjects``).

        Returns
        -------
        dict
            The block: the removable features, the minimal set, each feature's loss, and a note.
        """
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
            f"{subjects}, with a two-sided asymptotic DeLong interval at the confidence; a loss is below the "
            "tolerance only when the interval's upper end is. removable_alone: features whose loss alone is "
            "below it. removable = candidates for removal, verified together: greedy backward elimination over "
            "removable_alone keeping a removal only while the loss of the whole reduced set (joint_loss, "
            f"joint_ci) is below the tolerance. The same validation {subjects} choose and test the set. Few "
            f"validation {subjects} give wide intervals, so few features are listed: not listed is not proof "
            "that a feature is needed",
        }


# ---------------------------------------------------------------- minimization


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


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUC of scores whose labels hold both classes (checked before any refit)."""
    value = auc_of_scores(y, scores)
    if value is None:
        raise ValueError("an AUC needs both labels among the validation accounts")
    return value


def _paired_loss(y: np.ndarray, full: np.ndarray, reduced: np.ndarray, *, z: float) -> _Loss:
    """Full AUC minus reduced AUC, with the two-sided interval of half-width ``z`` DeLong standard errors."""
    if np.array_equal(full, reduced):
        return _Loss(0.0, (0.0, 0.0), identical=True)
    positives = int((y == 1).sum())
    if min(positives, len(y) - positives) < 2:  # no covariance of one placement value: no interval
        return _Loss(_auc(y, full) - _auc(y, reduced), None, identical=False)
    full_auc, reduced_auc, variance = paired_delong(y, full, reduced)
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

    features = tuple(model.features)
    X_train, y_train, X_valid, y_valid = _minimization_sample(dataset, rows=rows, seed=seed)
    refits = _Refits(model, X_train, y_train, X_valid)
    full = refits.scores(features)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    alone = {  # one feature alone cannot be dropped: nothing would be left
        feature: _paired_loss(y_valid, full, refits.scores([f for f in features if f != feature]), z=z)
        for feature in (features if len(features) > 1 else ())
    }
    removable_alone = [f for f in alone if alone[f].below(tolerance)]
    # the tightest upper end first, then the smallest loss, then the declared order
    order = sorted(alone, key=lambda f: (_upper(alone[f]), alone[f].loss, features.index(f)))
    current, removed, joint, after = _eliminate(
        refits, y_valid, full, [f for f in order if f in removable_alone], tolerance=tolerance, z=z
    )
    return Minimization(
        method="drop_column_retraining",
        tolerance=tolerance,
        estimator=f"{model.kind} with the candidate's hyper-parameters, refit without mitigation",
        rows_train=len(y_train),
        rows_validation=len(y_valid),
        full_auc=_auc(y_valid, full),
        minimal_auc=_auc(y_valid, refits.scores(current)),
        removable=tuple(removed),
        minimal_set=tuple(current),
        features=_evidence(features, alone, order, removed, after, tolerance=tolerance),
        confidence=confidence,
        fits=len(refits.fitted),
        removable_alone=tuple(removable_alone),
        joint_loss=float(joint.loss),
        joint_ci=joint.ci,
    )


def _upper(loss: _Loss) -> float:
    """Return the upper end of the loss's interval (infinite without one)."""
    return math.inf if loss.ci is None else loss.ci[1]


def _evidence(
    features: Sequence[str],
    alone: Mapping[str, _Loss],
    order: Sequence[str],
    removed: Sequence[str],
    after: Mapping[str, tuple[float, _Loss]],
    *,
    tolerance: float,
) -> tuple[FeatureLoss, ...]:
    """Return each feature's evidence: its loss alone, and its loss and AUC when tried in the elimination."""
    return tuple(
        FeatureLoss(
            feature=f,
            auc_loss=float(alone[f].loss),
            ci=alone[f].ci,
            removable_alone=alone[f].below(tolerance),
            removable=f in removed,
            auc_after=after[f][0] if f in after else None,
            ci_after=after[f][1].ci if f in after else None,
            order=order.index(f) + 1,
        )
        for f in features
        if f in alone
    )


def _minimization_sample(
    dataset: Dataset, *, rows: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """Return seeded samples of training and validation accounts, refusing one without both labels."""
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
    return X_train, y_train, X_valid, y_valid


class _Refits:
    """The candidate's estimator refit on subsets of its features, each subset fitted once."""

    def __init__(self, model: ScoringModel, X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame):
        self.model = model
        self.features = tuple(model.features)
        self.categorical = tuple(c for c in model.categorical if c in self.features)
        self.X_train, self.y_train, self.X_valid = X_train, y_train, X_valid
        self.fitted: dict[frozenset[str], np.ndarray] = {}

    def scores(self, keep: Sequence[str]) -> np.ndarray:
        """Return the validation scores of the refit on the features ``keep``."""
        from governance.train import ScoringModel

        key = frozenset(keep)
        if key not in self.fitted:
            refit = ScoringModel(
                self.model.kind,
                dict(self.model.params or {}),
                features=[f for f in self.features if f in key],
                categorical=[c for c in self.categorical if c in key],
                seed=self.model.seed,
            )
            refit.fit(self.X_train, self.y_train)
            self.fitted[key] = refit.scores(self.X_valid)
        return self.fitted[key]


def _eliminate(
    refits: _Refits, y: np.ndarray, full: np.ndarray, candidates: Sequence[str], *, tolerance: float, z: float
) -> tuple[list[str], list[str], _Loss, dict[str, tuple[float, _Loss]]]:
    """Greedy backward elimination over ``candidates``, in order; a removal is kept while the whole set passes.

    Returns the features kept, those removed, the loss of the final set, and each tried
    feature's AUC and loss after its removal.
    """
    # only features that could go alone are tried: a set is listed only if each of its
    # features passes on its own and the whole set passes against the full refit
    current = list(refits.features)
    removed: list[str] = []
    joint = _Loss(0.0, (0.0, 0.0), identical=True)
    after: dict[str, tuple[float, _Loss]] = {}
    for feature in candidates:
        if len(current) == 1:
            break
        trial = [f for f in current if f != feature]
        reduced = refits.scores(trial)
        loss = _paired_loss(y, full, reduced, z=z)
        after[feature] = (_auc(y, reduced), loss)
        if loss.below(tolerance):
            current, removed, joint = trial, [*removed, feature], loss
    return current, removed, joint, after
