"""The metric vocabulary: the names of what the audit measures, shared by config, audit, card and gate.

Plain data with no dependencies, so that validating a config or reading a card
never imports the audit engine.

``METRICS``
    Per-group metrics the audit computes, in the order the card shows them.
``FAIRNESS_METRICS``
    The named fairness metrics a policy rule can bound.
``FAIRNESS_DEFINITIONS``
    What each named fairness metric compares.
``PERFORMANCE_METRICS``
    Overall performance metrics a card reports and a policy can bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

__all__ = ["FAIRNESS_DEFINITIONS", "FAIRNESS_METRICS", "METRICS", "PERFORMANCE_METRICS"]

METRICS: Final[tuple[str, ...]] = (
    "count",
    "base_rate",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "true_negative_rate",
    "precision",
    "negative_predictive_value",
    "accuracy",
    "auc",
    "mean_score",
    "calibration_gap",
    "precision_at_k",
)
FAIRNESS_METRICS: Final[tuple[str, ...]] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
)
#: What each named fairness metric is: the per-group metrics whose pairs it compares (one family of
#: pairs each, judged together) and the statistic. Equalized odds is the worse of the true and false
#: positive rate spreads, so its interval is simultaneous over the pairs of both rates.
FAIRNESS_DEFINITIONS: Final[Mapping[str, tuple[tuple[str, ...], Literal["difference", "ratio"]]]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
}
PERFORMANCE_METRICS: Final[tuple[str, ...]] = (
    "auc",
    "precision_at_k",
    "calibration_gap",
    "precision",
    "true_positive_rate",
    "accuracy",
)
