"""The curves a figure draws: ROC and calibration of each group, from the audit's counts per score bin.

A figure draws these and computes nothing, so it cannot disagree with the
report: its ROC curve is the one the report's bins give, and its legend
prints the report's own AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from governance.audit._report import Array, GroupCurves
from governance.stats import roc_from_counts

CALIBRATION_BINS: Final = 10  # the score bins merge into this many equal-frequency bins (deciles of all scores)


def _calibration_bin(edges: Array, rows: int) -> Array:
    """Decile of all scores that each score bin falls in, by its first row in score order.

    Score bins never split tied scores, so neither do the deciles they make up.
    """
    first_row = np.concatenate(([0], edges)).astype(np.int64)
    return np.minimum((first_row * CALIBRATION_BINS) // max(rows, 1), CALIBRATION_BINS - 1)


def group_curves(
    attribute: str, groups: Sequence[str], bins_table: Array, score_sums: Array, edges: Array
) -> tuple[GroupCurves, ...]:
    """ROC and calibration curves of every group of one attribute.

    Parameters
    ----------
    attribute
        The attribute's name.
    groups
        Its groups, in the order of the tables' first axis.
    bins_table
        Rows per ``(group, label, score bin)``, score bins ascending.
    score_sums
        Sum of the scores per ``(group, score bin)``.
    edges
        The first row, in score order over all rows, of every score bin but the first.

    Returns
    -------
    tuple of GroupCurves
        One per group. The ROC curve has a point per score bin the group has rows in (none when
        the group has one label class); the calibration curve a point per decile of all scores
        the group has rows in.
    """
    neg, pos = bins_table[:, 0], bins_table[:, 1]
    count = neg + pos
    merge = np.zeros((count.shape[1], CALIBRATION_BINS))
    merge[np.arange(count.shape[1]), _calibration_bin(edges, int(count.sum()))] = 1.0
    calibration_count, calibration_pos, calibration_sum = count @ merge, pos @ merge, score_sums @ merge
    out = []
    for g, name in enumerate(groups):
        occupied = count[g] > 0
        fpr, tpr = roc_from_counts(neg[g][occupied], pos[g][occupied])
        defined = bool(np.isfinite(fpr[-1]) and np.isfinite(tpr[-1]))
        used = calibration_count[g] > 0
        rows = calibration_count[g][used]
        out.append(
            GroupCurves(
                attribute=attribute,
                group=name,
                false_positive_rate=tuple(fpr.tolist()) if defined else (),
                true_positive_rate=tuple(tpr.tolist()) if defined else (),
                bin_mean_score=tuple((calibration_sum[g][used] / rows).tolist()),
                bin_positive_rate=tuple((calibration_pos[g][used] / rows).tolist()),
                bin_count=tuple(int(c) for c in rows.tolist()),
            )
        )
    return tuple(out)
