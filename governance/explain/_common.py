"""Small helpers shared by the explanation modules: log-odds, intervals, JSON-safe numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass

__all__ = []

_EPS = 1e-12


def _one_thread() -> Any:
    """Return a context in which native code runs on one thread (see governance.train)."""
    from governance.train import _one_thread as one_thread  # one native thread: reproducible, fair to a shared CPU

    return one_thread()


def _logit(p: np.ndarray) -> np.ndarray:
    """Return the log-odds of probabilities, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    out: np.ndarray = np.log(q) - np.log1p(-q)
    return out


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    """Return a (low, high) pair of finite floats, or None."""
    if values is None or not np.all(np.isfinite(values)):
        return None
    return (float(values[0]), float(values[1]))


def _json_float(value: float | None) -> float | None:
    """Return a finite float, or None."""
    return None if value is None or not math.isfinite(value) else float(value)


def _json_interval(ci: tuple[float, float] | None) -> list[float] | None:
    """Return an interval as a JSON list, or None."""
    return None if ci is None else [float(ci[0]), float(ci[1])]
