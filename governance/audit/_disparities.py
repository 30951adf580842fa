"""Disparities across groups: max - min, min / max and against a reference."""

from __future__ import annotations

import math

import numpy as np

from governance.audit._counting import _rate
from governance.audit._report import Array


def _spread(values: Array) -> tuple[Array, Array]:
    """Per row: max - min and min / max over non-NaN columns (NaN: < 2 values, or max 0)."""
    nan = np.isnan(values)
    count = values.shape[1] - nan.sum(axis=1)
    hi = np.where(nan, -np.inf, values).max(axis=1, initial=-np.inf)
    lo = np.where(nan, np.inf, values).min(axis=1, initial=np.inf)
    enough = count >= 2
    hi = np.where(enough, hi, 0.0)
    lo = np.where(enough, lo, 0.0)
    difference = np.where(enough, hi - lo, np.nan)
    ratio = _rate(lo, hi)
    return difference, ratio


def _to_reference(values: Array, ref: int) -> tuple[Array, Array]:
    """Per row: largest |v - ref| and smallest min(v, ref) / max(v, ref) over the other columns."""
    r = values[:, ref : ref + 1]
    others = np.delete(values, ref, axis=1)
    valid = ~np.isnan(others) & ~np.isnan(r)
    gap = np.where(valid, np.abs(others - r), -np.inf).max(axis=1, initial=-np.inf)
    difference = np.where(valid.any(axis=1), gap, np.nan)
    top = np.maximum(others, r)
    pair = valid & (top > 0)
    ratios = np.where(pair, _rate(np.minimum(others, r), np.where(pair, top, 0.0)), np.inf)
    smallest = ratios.min(axis=1, initial=np.inf)
    return difference, np.where(pair.any(axis=1), smallest, np.nan)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
