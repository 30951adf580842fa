"""The audit's interval methods, kept at their first address; they live in :mod:`governance.stats`."""

from __future__ import annotations

from governance.stats import (
    delong_auc,
    hanley_mcneil_variance,
    logit_interval,
    newcombe_difference,
    normal_difference,
    normal_ratio,
    score_ratio,
    wilson,
    wilson_cc,
    z_value,
)

__all__ = [
    "delong_auc",
    "hanley_mcneil_variance",
    "logit_interval",
    "newcombe_difference",
    "normal_difference",
    "normal_ratio",
    "score_ratio",
    "wilson",
    "wilson_cc",
    "z_value",
]
