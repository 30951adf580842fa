"""Proxies: how well each feature, and all features together, reveal each sensitive attribute.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from governance.explain._common import _json_float, _one_thread
from governance.stats import auc_from_counts, auc_of_scores

if TYPE_CHECKING:
    pass

__all__ = ["JointProxy", "ProxyCheck", "ProxyReport", "detect_proxies"]

_BINS = 20
_FOLDS = 5
_JOINT_FOLDS = 3
_PRIOR_ROWS = 20.0  # smoothing of the one-feature classifier: a bin's share is pulled toward the overall share


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
        """Return the card's ``proxies[]`` item."""
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
        """Return the check of ``feature`` against ``attribute``."""
        for item in self.checks:
            if item.feature == feature and item.attribute == attribute:
                return item
        raise KeyError(f"no proxy check of {feature!r} against {attribute!r}")

    def to_dict(self, *, subjects: str = "rows") -> dict[str, Any]:
        """Return the card's ``proxies`` and ``joint_proxy_auc``, with the definitions used.

        Parameters
        ----------
        subjects
            The word for the rows in the definitions (``config.purpose.subjects``).

        Returns
        -------
        dict
            ``proxies``, ``joint_proxy_auc``, ``joint_proxies`` and ``proxy_method``.
        """
        return {
            "proxies": [c.to_dict() for c in self.checks],
            "joint_proxy_auc": {j.attribute: _json_float(j.auc) for j in self.joint},
            "joint_proxies": [j.to_dict() for j in self.joint],
            "proxy_method": {
                "nmi": "mutual information of the feature (20 quantile bins for numbers) and the attribute, "
                "Miller-Madow bias-corrected, divided by the attribute's entropy",
                "auc": f"largest one-vs-rest AUC over the groups of the feature alone as a classifier: the group's "
                f"smoothed share among {subjects} in the same feature bin, estimated out of fold ({_FOLDS} folds)",
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
    """Return the Shannon entropy (nats) of counts."""
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
    if positives.sum() == 0 or negatives.sum() == 0:
        return None
    order = np.argsort(scores, kind="stable")
    _, start = np.unique(scores[order], return_index=True)
    # counts per distinct score, in ascending order
    pos, neg = np.add.reduceat(positives[order], start), np.add.reduceat(negatives[order], start)
    return float(auc_from_counts(neg, pos))


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
    codes = {name: _feature_codes(X[name], categorical=name in categorical) for name in X.columns}
    thresholds = {"nmi_threshold": nmi_threshold, "auc_threshold": auc_threshold}
    checks = [
        check
        for a in sensitive.columns
        for check in _single_feature_checks(
            codes, sensitive[a], folds, min_group_size=min_group_size, derived=str(a) in derived, **thresholds
        )
    ]
    joint = tuple(
        _joint_proxy(
            X,
            sensitive[a],
            categorical=categorical,
            rows=joint_rows,
            min_group_size=min_group_size,
            seed=seed,
            threshold=auc_threshold,
            derived=str(a) in derived,
        )
        for a in sensitive.columns
    )
    return ProxyReport(
        checks=tuple(checks),
        joint=joint,
        nmi_threshold=nmi_threshold,
        auc_threshold=auc_threshold,
        rows=n,
        derived_from=MappingProxyType(derived),
    )


def _single_feature_checks(
    codes: Mapping[str, np.ndarray],
    attribute: pd.Series,
    folds: np.ndarray,
    *,
    min_group_size: int,
    nmi_threshold: float,
    auc_threshold: float,
    derived: bool,
) -> list[ProxyCheck]:
    """Return the check of every feature (its codes) against one attribute."""
    attr_codes, labels = pd.factorize(attribute.astype(str), sort=True)
    counts = np.bincount(attr_codes, minlength=len(labels))
    eligible = [g for g in range(len(labels)) if min_group_size <= counts[g] < len(attr_codes)]
    checks = []
    for name, feature in codes.items():
        nmi = _nmi(feature, attr_codes, len(labels))
        auc, group = _one_feature_auc(feature, attr_codes, eligible, folds)
        flagged = not derived and (nmi >= nmi_threshold or (auc is not None and auc >= auc_threshold))
        checks.append(
            ProxyCheck(
                feature=str(name),
                attribute=str(attribute.name),
                nmi=nmi,
                auc=auc,
                auc_group=None if group is None else str(labels[group]),
                flagged=flagged,
                derived=derived,
            )
        )
    return checks


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
    """Fit a cross-validated classifier of the attribute from all features; return its largest one-vs-rest AUC."""
    from sklearn.ensemble import HistGradientBoostingClassifier
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
        auc = auc_of_scores(hit, probabilities[:, j])
        if auc is None:
            continue
        if best[0] is None or auc > best[0]:
            best = (auc, group)
    flagged = not derived and best[0] is not None and best[0] >= threshold
    return JointProxy(name, best[0], best[1], flagged, derived, len(y), _JOINT_FOLDS)
