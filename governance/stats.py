"""The statistics of the package: AUCs and interval methods whose coverage holds at small counts.

One module, used by the audit, the gate, the explanations, the plots and the
monitor, so an AUC or an interval is computed one way everywhere.

AUC
---
``auc_from_counts`` (Mann-Whitney AUC from counts per ascending score value or bin, ties count 1/2),
``auc_of_scores`` (exact, from labels and scores), ``roc_from_counts`` (the ROC curve's points),
``midranks`` and ``paired_delong`` (two scores of the same rows: their AUCs and the DeLong
variance of the difference).

Intervals
---------

Every function is vectorized over numpy arrays and takes ``z``, the normal
quantile of the interval (:func:`z_value` turns a two-sided confidence and a
number of simultaneous comparisons into it, by Bonferroni). The audit and the
gate both use these functions, so the interval a card prints and the interval
a verdict rests on are the same numbers.

Methods, and why
----------------
``wilson_cc`` (one proportion; the audit's)
    The Wilson score interval with continuity correction. A gate needs the
    guarantee, not the average: the plain Wilson interval (``wilson``) is
    close to nominal on average (Brown, Cai and DasGupta 2001) but dips to
    about 0.92 at some small ``n * p``, and Jeffreys to about 0.88, so some
    groups would be judged at 92 % while the card says 95 %. The corrected
    interval's coverage stays at or above nominal for every ``n`` and ``p``
    (checked exactly with the binomial distribution in the tests), like
    Clopper-Pearson, and it is narrower than Clopper-Pearson on average. It
    never has zero width when ``n > 0``, and it is closed form, so thousands of
    groups cost nothing. The percentile bootstrap collapses to a point when a
    group has no events.
``newcombe_difference`` (difference of two independent proportions)
    Newcombe's hybrid score interval: the Wilson limits of each proportion
    combined by the square-and-add rule, with continuity-corrected limits
    (method 11 of Newcombe 1998; method 10 without). Closed form, at or near
    nominal coverage at small counts, and it contains 0 whenever the data
    cannot tell the two proportions apart.
``score_ratio`` (ratio of two independent proportions)
    The Miettinen-Nurminen score interval for ``p1 / p2``: every ratio
    ``theta`` whose score statistic, with the proportions re-estimated under
    ``p1 = theta * p2`` (closed form), stays within ``z``. Found by bisection
    on ``log(theta)``. It handles zero counts (a ratio with 0 events on top
    has lower end 0; with 0 below, upper end infinity) where the log method
    and MOVER-R break down.
``delong_auc`` (one AUC)
    DeLong's variance of the Mann-Whitney AUC from the placements of the
    positives among the negatives and vice versa, with ties counted 1/2,
    computed from counts per score bin; the interval is normal on the logit
    scale, so it stays inside (0, 1). At an AUC of 0 or 1, or a variance of 0,
    the Hanley-McNeil variance of the AUC moved half a pair from the edge is
    used instead, so the interval never has zero width.
``normal_difference`` / ``normal_ratio`` (two independent estimates with standard errors)
    Wald intervals for a difference, and on the log scale for a ratio; used for
    AUCs (DeLong standard errors) and mean scores (bootstrap standard errors).
"""

from __future__ import annotations

import math
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "auc_from_counts",
    "auc_of_scores",
    "delong_auc",
    "hanley_mcneil_variance",
    "logit_interval",
    "midranks",
    "newcombe_difference",
    "normal_difference",
    "normal_ratio",
    "paired_delong",
    "roc_from_counts",
    "score_ratio",
    "wilson",
    "wilson_cc",
    "z_value",
]

Array: TypeAlias = npt.NDArray[Any]

_BISECTION_STEPS: Final = 48  # on log(theta) over [-30, 30]: a width of 2e-13 in log terms
_LOG_RANGE: Final = 30.0


def z_value(confidence: float, comparisons: int = 1) -> float:
    """Return the normal quantile of a two-sided interval at ``confidence``, Bonferroni-adjusted over ``comparisons``.

    Examples
    --------
    >>> round(z_value(0.95), 3)
    1.96
    >>> round(z_value(0.95, 6), 3)
    2.638
    """
    from scipy.special import ndtri

    alpha = (1.0 - confidence) / max(1, comparisons)
    return float(ndtri(1.0 - alpha / 2.0))


def wilson(k: npt.ArrayLike, n: npt.ArrayLike, z: float) -> tuple[Array, Array]:
    """Wilson score interval of ``k`` events out of ``n``; NaN where ``n`` is 0."""
    k_arr, n_arr = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        z2 = z * z
        denominator = 1.0 + z2 / n_arr
        center = (p + z2 / (2.0 * n_arr)) / denominator
        half = z * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / n_arr + z2 / (4.0 * n_arr * n_arr)) / denominator
        low, high = np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)
    low = np.where(k_arr <= 0, 0.0, low)  # exact ends at the boundaries (float noise otherwise)
    high = np.where(k_arr >= n_arr, 1.0, high)
    empty = n_arr <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def wilson_cc(k: npt.ArrayLike, n: npt.ArrayLike, z: float) -> tuple[Array, Array]:
    """Wilson score interval with continuity correction (Newcombe 1998, method 4); NaN where ``n`` is 0.

    It inverts the score test with ``|k - n p| - 1/2``: its coverage stays at or
    above the nominal level for every ``n`` and ``p`` (the plain Wilson interval
    dips to about 0.92 at some small ``n p``).
    """
    k_arr, n_arr = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        q = 1.0 - p
        z2 = z * z
        denominator = 2.0 * (n_arr + z2)
        low = 2 * n_arr * p + z2 - 1 - z * np.sqrt(np.maximum(z2 - 2 - 1 / n_arr + 4 * p * (n_arr * q + 1), 0.0))
        high = 2 * n_arr * p + z2 + 1 + z * np.sqrt(np.maximum(z2 + 2 - 1 / n_arr + 4 * p * (n_arr * q - 1), 0.0))
        low, high = np.clip(low / denominator, 0.0, 1.0), np.clip(high / denominator, 0.0, 1.0)
    low = np.where(k_arr <= 0, 0.0, np.minimum(low, p))
    high = np.where(k_arr >= n_arr, 1.0, np.maximum(high, p))
    empty = n_arr <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def newcombe_difference(
    k1: npt.ArrayLike,
    n1: npt.ArrayLike,
    k2: npt.ArrayLike,
    n2: npt.ArrayLike,
    z: float,
    *,
    continuity: bool = True,
) -> tuple[Array, Array]:
    """Newcombe's hybrid score interval of ``k1/n1 - k2/n2`` (independent samples).

    ``continuity=True`` (the audit's) squares and adds the continuity-corrected
    Wilson limits (Newcombe 1998, method 11); ``False``, the plain ones (method 10).
    """
    a, b = np.asarray(k1, np.float64), np.asarray(n1, np.float64)
    c, d = np.asarray(k2, np.float64), np.asarray(n2, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / b, c / d
    limits = wilson_cc if continuity else wilson
    l1, u1 = limits(a, b, z)
    l2, u2 = limits(c, d, z)
    diff = p1 - p2
    low = diff - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


def _mn_statistic(theta: Array, x1: Array, n1: Array, x2: Array, n2: Array) -> Array:
    """Miettinen-Nurminen score statistic of H0: p1 = theta * p2 (positive: p1 above theta * p2).

    Call inside ``np.errstate(divide="ignore", invalid="ignore")``.
    """
    total = n1 + n2
    a = total * theta
    b = -(n1 * theta + x1 + n2 + x2 * theta)
    c = x1 + x2
    root = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
    p2 = np.minimum(np.maximum((-b - root) / (2.0 * a), 0.0), 1.0)
    p1 = np.minimum(p2 * theta, 1.0)
    variance = (p1 * (1.0 - p1) / n1 + theta * theta * p2 * (1.0 - p2) / n2) * total / (total - 1.0)
    numerator = x1 / n1 - theta * x2 / n2
    # a zero variance happens only where the constrained estimates sit on 0 or 1: the sign decides
    edge = np.where(numerator > 0, np.inf, np.where(numerator < 0, -np.inf, 0.0))
    return np.where(variance > 0, numerator / np.sqrt(variance), edge)


def score_ratio(
    k1: npt.ArrayLike, n1: npt.ArrayLike, k2: npt.ArrayLike, n2: npt.ArrayLike, z: float | npt.ArrayLike
) -> tuple[Array, Array]:
    """Miettinen-Nurminen score interval of ``(k1/n1) / (k2/n2)``; ends 0 or ``inf`` at zero counts.

    Both counts zero: the interval is ``[0, inf]`` (the data say nothing about the ratio).
    ``z`` may be one quantile or one per ratio (many intervals of different levels in one call).
    """
    x1, m1 = np.atleast_1d(np.asarray(k1, np.float64)), np.atleast_1d(np.asarray(n1, np.float64))
    x2, m2 = np.atleast_1d(np.asarray(k2, np.float64)), np.atleast_1d(np.asarray(n2, np.float64))
    x1, m1, x2, m2, z_each = np.broadcast_arrays(x1, m1, x2, m2, np.asarray(z, np.float64))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        estimate = np.log((x1 / m1) / (x2 / m2))  # -inf when x1 = 0, +inf when x2 = 0, nan when both
        finite = np.isfinite(estimate)
        # both ends at once: row 0 solves stat = z below the estimate (the statistic decreases in theta),
        # row 1 solves stat = -z above it
        target = np.stack([z_each, -z_each])
        lo = np.stack([np.full(x1.shape, -_LOG_RANGE), np.where(finite, estimate, -_LOG_RANGE)])
        hi = np.stack([np.where(finite, estimate, _LOG_RANGE), np.full(x1.shape, _LOG_RANGE)])
        xs = [np.broadcast_to(v, lo.shape) for v in (x1, m1, x2, m2)]
        for _ in range(_BISECTION_STEPS):
            mid = (lo + hi) * 0.5
            above = _mn_statistic(np.exp(mid), *xs) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        ends = np.exp((lo + hi) * 0.5)
    low, high = ends[0], ends[1]
    low = np.where((x1 == 0) | (low <= math.exp(-_LOG_RANGE + 1)), 0.0, low)
    high = np.where((x2 == 0) | (high >= math.exp(_LOG_RANGE - 1)), np.inf, high)
    undefined = (m1 <= 0) | (m2 <= 0)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def hanley_mcneil_variance(auc: Array, positives: Array, negatives: Array) -> Array:
    """Hanley and McNeil's (1982) variance of an AUC from ``positives`` and ``negatives``."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = auc * (1.0 - auc) + (positives - 1.0) * (q1 - auc * auc) + (negatives - 1.0) * (q2 - auc * auc)
        return np.asarray(spread / (positives * negatives), dtype=np.float64)


def delong_auc(neg: Array, pos: Array) -> tuple[Array, Array]:
    """AUC and DeLong variance from counts per ascending score bin ``(..., bins)``; ties within a bin count 1/2.

    Returns NaN where a label class is empty. The variance uses the unbiased
    variance of the placements (``/ (m - 1)``), as DeLong et al. (1988).
    """
    neg = np.asarray(neg, np.float64)
    pos = np.asarray(pos, np.float64)
    m = pos.sum(axis=-1)
    n = neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.cumsum(neg, axis=-1) - neg
        above = pos.sum(axis=-1, keepdims=True) - np.cumsum(pos, axis=-1)
        v10 = (below + 0.5 * neg) / n[..., None]  # placement of a positive in each bin among the negatives
        v01 = (above + 0.5 * pos) / m[..., None]  # placement of a negative among the positives
        auc = (pos * v10).sum(axis=-1) / m
        s10 = (pos * (v10 - auc[..., None]) ** 2).sum(axis=-1) / (m - 1.0)
        s01 = (neg * (v01 - auc[..., None]) ** 2).sum(axis=-1) / (n - 1.0)
        variance = np.where(m > 1, s10, 0.0) / m + np.where(n > 1, s01, 0.0) / n
    defined = (m > 0) & (n > 0)
    return np.where(defined, auc, np.nan), np.where(defined, variance, np.nan)


def logit_interval(
    auc: npt.ArrayLike, variance: npt.ArrayLike, positives: npt.ArrayLike, negatives: npt.ArrayLike, z: float
) -> tuple[Array, Array]:
    """Return the normal interval of an AUC on the logit scale; never zero width (see the module docstring)."""
    a = np.asarray(auc, np.float64)
    v = np.asarray(variance, np.float64)
    m = np.asarray(positives, np.float64)
    n = np.asarray(negatives, np.float64)
    pairs = m * n
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = (a <= 0.0) | (a >= 1.0) | ~(v > 0)
        moved = (a * pairs + 0.5) / (pairs + 1.0)
        center = np.where(edge, moved, a)
        v = np.where(edge, hanley_mcneil_variance(moved, m, n), v)
        logit = np.log(center / (1.0 - center))
        half = z * np.sqrt(v) / (center * (1.0 - center))
        low = 1.0 / (1.0 + np.exp(-(logit - half)))
        high = 1.0 / (1.0 + np.exp(-(logit + half)))
    low = np.minimum(low, a)  # the interval holds the point estimate even at the edges
    high = np.maximum(high, a)
    undefined = ~np.isfinite(a) | (pairs <= 0)
    return np.where(undefined, np.nan, low), np.where(undefined, np.nan, high)


def normal_difference(
    a: npt.ArrayLike, se_a: npt.ArrayLike, b: npt.ArrayLike, se_b: npt.ArrayLike, z: float
) -> tuple[Array, Array]:
    """Wald interval of ``a - b`` for independent estimates with standard errors."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    half = z * np.sqrt(np.asarray(se_a, np.float64) ** 2 + np.asarray(se_b, np.float64) ** 2)
    return diff - half, diff + half


def normal_ratio(
    a: npt.ArrayLike, se_a: npt.ArrayLike, b: npt.ArrayLike, se_b: npt.ArrayLike, z: float
) -> tuple[Array, Array]:
    """Interval of ``a / b`` on the log scale (delta method) for positive independent estimates; NaN otherwise."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sx, sy = np.asarray(se_a, np.float64), np.asarray(se_b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(x / y)
        half = z * np.sqrt((sx / x) ** 2 + (sy / y) ** 2)
        low, high = np.exp(log_ratio - half), np.exp(log_ratio + half)
    positive = (x > 0) & (y > 0)
    return np.where(positive, low, np.nan), np.where(positive, high, np.nan)


# ---------------------------------------------------------------------------------------------- AUC


def auc_from_counts(neg: npt.ArrayLike, pos: npt.ArrayLike) -> Array:
    """Mann-Whitney AUC from counts per ascending score value or bin.

    Parameters
    ----------
    neg, pos
        Counts of negatives and positives per score value (or bin), in ascending
        score order along the last axis; ties within a value count 1/2.

    Returns
    -------
    numpy.ndarray
        The AUC over the last axis; NaN where there are no positives or no negatives.
    """
    neg_a, pos_a = np.asarray(neg, dtype=np.float64), np.asarray(pos, dtype=np.float64)
    below = np.cumsum(neg_a, axis=-1) - neg_a
    num = (pos_a * (below + 0.5 * neg_a)).sum(axis=-1)
    den = pos_a.sum(axis=-1) * neg_a.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Array = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _counts_by_value(y: Array, scores: Array) -> tuple[Array, Array, Array]:
    """Distinct scores in ascending order with the negatives and positives at each."""
    values, inverse = np.unique(scores, return_inverse=True)
    positive = (y == 1).astype(np.float64)
    pos = np.bincount(inverse, weights=positive, minlength=len(values))
    neg = np.bincount(inverse, minlength=len(values)) - pos
    return values, neg, pos


def auc_of_scores(y: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """Exact AUC of ``scores`` against binary labels ``y`` (ties count 1/2).

    Parameters
    ----------
    y
        Labels, 1 for a positive and 0 for a negative.
    scores
        Scores of the same rows; higher means more likely positive.

    Returns
    -------
    float or None
        The AUC (equal to ``sklearn.metrics.roc_auc_score``); None when one class is absent.
    """
    _, neg, pos = _counts_by_value(np.asarray(y), np.asarray(scores, dtype=np.float64))
    value = float(auc_from_counts(neg, pos))
    return None if math.isnan(value) else value


def roc_from_counts(neg: npt.ArrayLike, pos: npt.ArrayLike) -> tuple[Array, Array]:
    """ROC curve points from counts per ascending score value or bin.

    Parameters
    ----------
    neg, pos
        Counts of negatives and positives per score value (or bin), ascending.

    Returns
    -------
    tuple of numpy.ndarray
        ``(false_positive_rate, true_positive_rate)`` from ``(0, 0)`` to ``(1, 1)``,
        one point per threshold from the highest score down; NaN rates when a class is absent.
    """
    neg_d = np.asarray(neg, dtype=np.float64)[::-1]
    pos_d = np.asarray(pos, dtype=np.float64)[::-1]
    fp = np.concatenate([[0.0], np.cumsum(neg_d)])
    tp = np.concatenate([[0.0], np.cumsum(pos_d)])
    with np.errstate(divide="ignore", invalid="ignore"):
        return fp / fp[-1], tp / tp[-1]


def midranks(x: npt.ArrayLike) -> Array:
    """Ranks from 1, ties given the mean of the ranks they span (``scipy.stats.rankdata``'s ``average``)."""
    values = np.asarray(x)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    start = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    stop = np.concatenate([start[1:], [len(values)]])
    average = (start + stop + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(average, stop - start)
    return ranks


def paired_delong(y: npt.ArrayLike, first: npt.ArrayLike, second: npt.ArrayLike) -> tuple[float, float, float]:
    """AUCs of two scores of the same rows and the DeLong variance of their difference.

    Parameters
    ----------
    y
        Binary labels; needs at least two positives and two negatives for a variance.
    first, second
        The two scores of the same rows.

    Returns
    -------
    tuple of float
        ``(auc_first, auc_second, variance of auc_first - auc_second)`` (DeLong, DeLong and
        Clarke-Pearson 1988), the variance clipped at 0.
    """
    labels = np.asarray(y)
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    aucs, v10, v01 = [], [], []
    for scores in (np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)):
        pos, neg = scores[positive], scores[~positive]
        tx, ty, tz = midranks(pos), midranks(neg), midranks(np.concatenate([pos, neg]))
        aucs.append(float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return aucs[0], aucs[1], float(max(variance, 0.0))
