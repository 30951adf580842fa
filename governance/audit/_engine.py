"""The audit: validated inputs counted once, then every group, disparity and interval derived from the counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from governance.audit._bootstrap import _bootstrap, _DensePlan, _LevelPlan, _Plan
from governance.audit._counting import (
    _check_group_count,
    _count_cells,
    _exact_scores,
    _ExactScores,
    _fine_groups,
    _make_level,
    _precision_at_k_from_bins,
    _rank_rows,
    _rate,
    _Rows,
    _score_bins,
    _segment_starts,
    _threshold_events,
    _threshold_metrics,
    _top_count,
)
from governance.audit._curves import group_curves
from governance.audit._inputs import _Attribute, _Inputs, _Level, _validate
from governance.audit._report import (
    Array,
    AttributeSummary,
    AuditReport,
    BootstrapInfo,
    DecisionRule,
    Disparity,
    FairnessMetric,
    GroupCurves,
    GroupMetrics,
    MetricValue,
)
from governance.audit._values import _Builder, _Evidence
from governance.errors import DataValidationError, Problem
from governance.metrics import METRICS
from governance.stats import auc_from_counts, delong_auc

_DENSE_RATIO = 4  # dense bootstrap table when at most this many times the occupied cells
_ROWS_SCHEME_RATIO = 6  # draw rows instead of cells when cells > rows / this
_DEFAULT_SCORE_BINS: Final = 200


def audit(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
    *,
    decisions: npt.ArrayLike | None = None,
    sensitive: Mapping[str, npt.ArrayLike] | pd.DataFrame,
    threshold: float | None = None,
    top_k: float | None = None,
    precision_at_k_share: float | None = None,
    intersections: Sequence[Sequence[str]] | Literal["all"] | None = None,
    reference: Mapping[str, str] | None = None,
    compare: Mapping[str, Sequence[str]] | None = None,
    categories: Mapping[str, Sequence[object]] | None = None,
    scores_are_probabilities: bool | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_group_size: int = 30,
    min_events: int = 10,
    missing: Literal["error", "group"] | Mapping[str, Literal["error", "group"]] = "error",
    missing_label: str | Mapping[str, str] = "unknown",
    score_bins: int = _DEFAULT_SCORE_BINS,
) -> AuditReport:
    """Audit decisions and scores for every group of every sensitive attribute and intersection.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels (0/1 or bool).
    scores : array-like of shape (n,), optional
        Finite real scores on any scale, higher meaning more likely positive; for the score metrics and the rules.
    decisions : array-like of shape (n,), optional
        Binary decisions made elsewhere (then no ``threshold`` or ``top_k``); alone, score metrics are ``undefined``.
    sensitive : mapping of str to array-like of shape (n,), or DataFrame
        Sensitive attributes, audit only: categories (strings, integers, booleans, Categoricals, whose categories
        are declared). Floats with more than 20 distinct values are refused as continuous; bin them.
    threshold, top_k, precision_at_k_share : float, optional
        Exactly one of the first two with scores: decide ``score >= threshold``, or select the top share ``top_k``
        (ties at the cut). The share of ``precision_at_k``: default ``top_k``, else 0.1.
    intersections : list of lists of attribute names, or "all", optional
        Intersections besides each attribute ("all": every combination of two or more), named ``"a & b"``.
    reference : mapping of attribute or intersection name to group name, optional
        Reference group per attribute, for the reference difference and ratio.
    compare : mapping of attribute name to group names, optional
        The groups (2 or more) an attribute's disparities and fairness metrics compare, as if the data held no
        other (its intersections: their crossings); every group keeps its metrics; the reference is among them.
    categories : mapping of attribute name to categories, optional
        Declared categories; absent ones are reported, undeclared values are an error.
    scores_are_probabilities : bool, optional
        None: they are when every score is in [0, 1]. False: they only rank, and ``mean_score`` and
        ``calibration_gap`` are ``undefined`` ("scores are not probabilities"). True of others is an error.
    n_boot, seed : int, default 1000 and 0
        Bootstrap replicates for the intervals of mean scores and calibration gaps (0: none), and their seed.
    confidence : float, default 0.95
        Level of every interval (disparities: simultaneous over their pairs).
    min_group_size, min_events : int, default 30 and 10
        Groups with fewer rows, and rates with fewer events in their denominator (rows, positives, selected rows;
        an AUC: positives or negatives) get ``insufficient_data``: no interval, no verdict, not in disparities.
    missing, missing_label : {"error", "group"} and str, or mappings per attribute; default "error", "unknown"
        Missing sensitive values (None, NaN, blank): an error, or a group named ``missing_label``.
    score_bins : int, default 200
        Score bins for the bootstrap of the score metrics and the curves (point estimates are exact).

    Returns
    -------
    AuditReport
        Frozen result; ``to_dict()`` is the ``governance.audit/1`` JSON document.

    Raises
    ------
    DataValidationError
        Every problem with the inputs at once (labels, lengths, scores, options, attributes, names), never data.

    Examples
    --------
    >>> report = audit([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4], sensitive={"r": list("aabb")}, threshold=0.5, n_boot=0)
    >>> report.group("r", "a").metrics["selection_rate"].value
    0.5
    """
    return _run(_validate(**locals()))  # locals(): the arguments alone, checked together


def check_audit_size(sensitive: pd.DataFrame, intersections: Sequence[Sequence[str]] = ()) -> None:
    """Refuse, in one pass over the attributes, an audit that would report too many groups.

    What :func:`audit` checks first, for a caller that can check before costlier work (a run,
    before training): every attribute's observed groups plus every intersection's observed
    crossings, at most :data:`~governance.audit._counting.MAX_AUDIT_GROUPS`.

    Parameters
    ----------
    sensitive
        The sensitive attributes, one column each.
    intersections
        The intersections to audit, as lists of column names.

    Raises
    ------
    DataValidationError
        Naming the intersections, the groups they make, the cap and the fix.
    """
    names = list(sensitive.columns.astype(str))
    codes = [pd.factorize(sensitive[c], use_na_sentinel=False)[0] for c in sensitive.columns]
    sizes = [int(c.max()) + 1 if len(c) else 0 for c in codes]
    parts = np.unique(np.column_stack(codes), axis=0) if codes and len(sensitive) else np.zeros((0, len(names)))
    crossings = [tuple(names.index(n) for n in crossing) for crossing in intersections if len(crossing) > 1]
    _check_group_count(names, sizes, crossings, parts)


@dataclass(frozen=True)
class _Counted:
    """The rows counted once into occupied cells ``(fine group, label, decision, score bin)``."""

    values: Array  # occupied cell codes, ascending
    counts: Array  # rows per cell
    sums: Array | None  # score sum per cell (with scores)
    bins: int  # score bins used (1 without scores)
    group: Array  # fine group of each cell
    label: Array
    decision: Array
    bin: Array
    groups: int  # fine groups
    pure: Array | None  # per score bin: whether it holds one score
    edges: Array | None  # first row (in score order) of every score bin but the first
    cut: int | None  # first selected row in score order, for a threshold or top-k rule
    threshold: float | None  # the rule's threshold (for top-k, the k-th highest score)
    exact: tuple[_ExactScores | None, ...]  # per level, with scores


@dataclass(frozen=True)
class _Estimates:
    """Point estimates of one level's groups and what their intervals rest on."""

    point: dict[str, Array]
    evidence: _Evidence
    group: Array  # level group of each cell
    bins_table: Array | None  # (k, label, score bin) row counts, with scores
    exact: tuple[Array, Array] | None  # exact AUC and precision at k, for what the bins lose


def _run(inputs: _Inputs) -> AuditReport:
    """Count the rows once, then derive every estimate, interval and curve of the report."""
    fine, levels = _levels(inputs)
    counted, row_cells = _count(inputs, fine, levels)
    del fine
    estimates = [_estimate(level, counted, counted.exact[i]) for i, level in enumerate(levels)]
    use_rows = row_cells is not None
    replicates, binning_error = _replicates(inputs, levels, counted, estimates, row_cells)
    del row_cells
    return _report(inputs, levels, counted, estimates, replicates, binning_error, use_rows)


def _levels(inputs: _Inputs) -> tuple[Array, list[_Level]]:
    """Fine groups (the cross of all attributes, occupied only) and the reported levels, overall first."""
    problems: list[Problem] = []
    attributes = inputs.attributes
    fine, fine_parts = _fine_groups(attributes)
    names, sizes = [a.name for a in attributes], [len(a.groups) for a in attributes]
    _check_group_count(names, sizes, inputs.crossings, fine_parts)
    levels = [_Level("overall", (), np.zeros(len(fine_parts), dtype=np.int64), ("all",), (), 0, 0, None, None)]
    for j, attribute in enumerate(attributes):
        levels.append(
            _make_level(
                attribute.name,
                (j,),
                fine_parts,
                attributes,
                inputs.reference.get(attribute.name),
                problems,
                inputs.compare,
            )
        )
    for ix in inputs.crossings:
        name = " & ".join(attributes[j].name for j in ix)
        levels.append(
            _make_level(name, ix, fine_parts, attributes, inputs.reference.get(name), problems, inputs.compare)
        )
    if problems:
        raise DataValidationError(problems)
    return fine, levels


def _count(inputs: _Inputs, fine: Array, levels: Sequence[_Level]) -> tuple[_Counted, Array | None]:
    """One pass: order by score, decide, bin, and count rows into cells; and each row's cell, to draw rows."""
    n = len(inputs.y)
    groups = len(levels[0].of_fine)
    if inputs.s is not None:
        rows, exact, edges, pure, cut, threshold = _ranked_rows(inputs, fine, levels)
        bins = len(pure)
    else:
        assert inputs.d_given is not None
        rows = _Rows(fine, inputs.y, inputs.d_given, None, None, None)
        exact, edges, pure, cut, threshold, bins = [None] * len(levels), None, None, None, inputs.threshold, 1
    values, counts, sums = _count_cells(rows, groups, bins)
    use_rows = inputs.n_boot > 0 and len(values) * _ROWS_SCHEME_RATIO > n
    row_cells = np.searchsorted(values, rows.codes(0, n, bins)) if use_rows else None
    counted = _Counted(
        values=values,
        counts=counts,
        sums=sums,
        bins=bins,
        group=values // (bins * 4),
        label=(values // (bins * 2)) % 2,
        decision=(values // bins) % 2,
        bin=values % bins,
        groups=groups,
        pure=pure,
        edges=edges,
        cut=cut,
        threshold=threshold,
        exact=tuple(exact),
    )
    return counted, row_cells


def _ranked_rows(
    inputs: _Inputs, fine: Array, levels: Sequence[_Level]
) -> tuple[_Rows, list[_ExactScores | None], Array, Array, int | None, float | None]:
    """Rows in score order with the decision rule's cut, score bins and exact score statistics per level."""
    assert inputs.s is not None
    n = len(inputs.y)
    order, ranked = _rank_rows(inputs.s, inputs.y)
    g_sorted = fine[order]
    d_sorted = inputs.d_given[order] if inputs.d_given is not None else None
    del order
    threshold = inputs.threshold
    cut: int | None = None
    if d_sorted is None:
        if inputs.top_k is not None:
            threshold = float(ranked.s[n - int(_top_count(np.asarray(n), inputs.top_k))])
        assert threshold is not None
        cut = int(np.searchsorted(ranked.s, threshold, side="left"))
    edges, pure = _score_bins(ranked.s, inputs.score_bins, cut, inputs.share)
    exact: list[_ExactScores | None] = []
    for level in levels:
        k = len(level.groups)
        h = None if k == 1 else level.of_fine.astype(np.uint16 if k < 2**16 else np.int64)[g_sorted]
        exact.append(_exact_scores(h, k, ranked, inputs.share))
        del h
    return _Rows(g_sorted, ranked.y, d_sorted, cut, edges, ranked.s), exact, edges, pure, cut, threshold


def _estimate(level: _Level, counted: _Counted, ex: _ExactScores | None) -> _Estimates:
    """Point estimates of one level from the cell counts (threshold metrics) and exact score statistics."""
    k = len(level.groups)
    group = level.of_fine[counted.group]
    table = np.bincount(group * 4 + counted.label * 2 + counted.decision, weights=counted.counts, minlength=k * 4)
    m = _threshold_metrics(table.reshape(k, 2, 2))
    events = _threshold_events(table.reshape(k, 2, 2))
    auc_variance: Array | None = None
    bins_table: Array | None = None
    bins = counted.bins
    if ex is not None:
        events["precision_at_k"] = (ex.top_positive, ex.top_selected)
        bins_table = np.bincount(
            (group * 2 + counted.label) * bins + counted.bin, weights=counted.counts, minlength=k * 2 * bins
        ).reshape(k, 2, bins)
        _, auc_variance = delong_auc(bins_table[:, 0], bins_table[:, 1])
    exact: tuple[Array, Array] | None = None
    if ex is not None and bins_table is not None and counted.sums is not None and counted.pure is not None:
        mean = _rate(np.bincount(group, weights=counted.sums, minlength=k), m["count"])
        m["auc"] = ex.auc
        m["mean_score"] = mean
        m["calibration_gap"] = mean - m["base_rate"]
        m["precision_at_k"] = ex.precision_at_k
        exact = (ex.auc, ex.precision_at_k)
    else:
        nan = np.full(k, np.nan)
        m.update({"auc": nan, "mean_score": nan, "calibration_gap": nan, "precision_at_k": nan})
    return _Estimates(m, _Evidence(events, auc_variance), group, bins_table, exact)


def _replicates(
    inputs: _Inputs,
    levels: Sequence[_Level],
    counted: _Counted,
    estimates: Sequence[_Estimates],
    row_cells: Array | None,
) -> tuple[list[dict[str, Array] | None], dict[str, float]]:
    """Bootstrap: one draw of all cells per replicate feeds every level and metric; and what the bins lose."""
    replicates: list[dict[str, Array] | None] = [None] * len(levels)
    binning_error = {"auc": 0.0, "precision_at_k": 0.0}
    if inputs.n_boot == 0:
        return replicates, binning_error
    eligible = [e.point["count"] >= inputs.min_group_size for e in estimates]
    slots: list[Array | None] = []
    for i, level in enumerate(levels):
        ok = eligible[i]
        slot = np.full(len(level.groups), -1, dtype=np.int64)
        slot[ok] = np.arange(int(ok.sum()))
        slots.append(slot if ok.any() else None)
        shift = _binning_shift(estimates[i], ok, counted.pure, inputs.share)
        if shift is not None:
            binning_error["auc"] = max(binning_error["auc"], shift[0])
            binning_error["precision_at_k"] = max(binning_error["precision_at_k"], shift[1])
    dense = _dense_plan(inputs, levels, counted, slots)
    plan = _Plan(
        rows=len(inputs.y),
        cell_counts=counted.counts,
        cell_of_row=row_cells,
        pure=counted.pure,
        levels=len(levels),
        dense=dense,
        sparse=() if dense is not None else _sparse_plans(levels, counted, slots),
    )
    return _bootstrap(plan, inputs.n_boot, inputs.seed), binning_error


def _binning_shift(estimates: _Estimates, ok: Array, pure: Array | None, share: float) -> tuple[float, float] | None:
    """Largest ``|exact - binned|`` AUC and precision at k over one level's groups with intervals.

    What the bins lose: the DeLong variance of the AUC is computed from the bins.
    """
    if estimates.exact is None or estimates.bins_table is None or pure is None or not ok.any():
        return None
    table = estimates.bins_table[ok]
    shift_auc = np.nan_to_num(estimates.exact[0][ok] - auc_from_counts(table[:, 0], table[:, 1]))
    shift_pk = np.nan_to_num(estimates.exact[1][ok] - _precision_at_k_from_bins(table[:, 0], table[:, 1], pure, share))
    return float(np.abs(shift_auc).max()), float(np.abs(shift_pk).max())


def _cell_mean(counted: _Counted) -> Array | None:
    """Each cell's mean score (None without scores)."""
    return None if counted.sums is None else counted.sums / counted.counts


def _dense_plan(
    inputs: _Inputs, levels: Sequence[_Level], counted: _Counted, slots: Sequence[Array | None]
) -> _DensePlan | None:
    """Plan the dense bootstrap table, when the decision is a function of the bin and the table is small enough.

    For decisions alone, the decision is the bin. None: use the sparse plans.
    """
    has_scores = inputs.s is not None
    aligned = inputs.d_given is None or not has_scores
    width = counted.bins if has_scores else 2
    cells = len(counted.values)
    g_count = counted.groups
    if not (aligned and g_count * 2 * width <= _DENSE_RATIO * max(cells, 1024)):
        return None
    column = counted.bin if has_scores else counted.decision
    flat_slot = (counted.group * 2 + counted.label) * width + column
    if counted.edges is None or counted.cut is None:
        selected_from = 1  # decisions alone: the decision is the bin
    else:
        cut = counted.cut
        selected_from = width if cut >= len(inputs.y) else int(np.searchsorted(counted.edges, cut, side="right"))
    members: list[Array | None] = []
    for level, level_slot in zip(levels, slots, strict=True):
        if level_slot is None:
            members.append(None)
            continue
        member = np.zeros((g_count, int(level_slot.max()) + 1))
        fine_slot = level_slot[level.of_fine]
        member[np.flatnonzero(fine_slot >= 0), fine_slot[fine_slot >= 0]] = 1.0
        members.append(member)
    in_order = cells == g_count * 2 * width and bool(np.all(flat_slot == np.arange(cells)))
    return _DensePlan(
        groups=g_count,
        width=width,
        slots=None if in_order else flat_slot,
        selected_from=selected_from,
        group_starts=_segment_starts(counted.group),
        group_slots=counted.group[_segment_starts(counted.group)],
        weights=_cell_mean(counted),
        members=tuple(members),
    )


def _sparse_plans(
    levels: Sequence[_Level], counted: _Counted, slots: Sequence[Array | None]
) -> tuple[_LevelPlan | None, ...]:
    """One sparse bootstrap plan per level with groups to resample (None for the others)."""
    cell_mean = _cell_mean(counted)
    return tuple(
        None
        if level_slot is None
        else _LevelPlan.of(
            slot=level_slot[level.of_fine[counted.group]],
            cell_y=counted.label,
            cell_d=counted.decision,
            cell_bin=counted.bin,
            bins=counted.bins,
            cell_mean=cell_mean,
        )
        for level, level_slot in zip(levels, slots, strict=True)
    )


def _report(
    inputs: _Inputs,
    levels: Sequence[_Level],
    counted: _Counted,
    estimates: Sequence[_Estimates],
    replicates: Sequence[dict[str, Array] | None],
    binning_error: Mapping[str, float],
    use_rows: bool,
) -> AuditReport:
    """Build the report: every level's group values, disparities, fairness metrics and curves; how they were made."""
    builder = _Builder(
        confidence=inputs.confidence,
        n_boot=inputs.n_boot,
        min_group_size=inputs.min_group_size,
        min_events=inputs.min_events,
        has_scores=inputs.s is not None,
        probabilities=inputs.probabilities,
    )
    overall: dict[str, MetricValue] = {}
    groups: list[GroupMetrics] = []
    disparities: list[Disparity] = []
    fairness: list[FairnessMetric] = []
    summaries: list[AttributeSummary] = []
    curves: list[GroupCurves] = []
    for i, level in enumerate(levels):
        values = builder.group_values(estimates[i].point, estimates[i].evidence, replicates[i])
        if i == 0:
            overall = values[0]
            continue
        summaries.append(_summary(level, inputs.attributes))
        counts = estimates[i].point["count"]
        groups.extend(_group_metrics(level, values, counts, inputs.min_group_size))
        level_disparities, compared, cache = builder.disparities(level, values, counts)
        disparities.extend(level_disparities.values())
        fairness.extend(builder.fairness(level, level_disparities, compared, cache))
        if len(level.parts) == 1:
            curves.extend(_level_curves(level, counted, estimates[i]))
    return AuditReport(
        rows=len(inputs.y),
        min_group_size=inputs.min_group_size,
        min_events=inputs.min_events,
        scores_are_probabilities=inputs.probabilities,
        decision_rule=_decision_rule(inputs, counted),
        bootstrap=_bootstrap_info(inputs, counted, binning_error, use_rows),
        attributes=tuple(summaries),
        overall=overall,
        groups=tuple(groups),
        disparities=tuple(disparities),
        fairness=tuple(fairness),
        curves=tuple(curves),
    )


def _summary(level: _Level, attributes: Sequence[_Attribute]) -> AttributeSummary:
    """Summarize what was audited for one attribute or intersection."""
    return AttributeSummary(
        name=level.name,
        parts=tuple(attributes[j].name for j in level.parts),
        groups=len(level.groups),
        absent_groups=level.absent,
        absent_count=level.absent_count,
        missing_rows=level.missing_rows,
        reference=level.reference_name,
        compared_groups=level.compared,
    )


def _group_metrics(
    level: _Level, values: Sequence[dict[str, MetricValue]], counts: Array, min_group_size: int
) -> list[GroupMetrics]:
    """Every group of one level with its values, then its absent groups (declared categories, empty crossings)."""
    out: list[GroupMetrics] = []
    for gi, name in enumerate(level.groups):
        size = int(counts[gi])
        small = size < min_group_size
        out.append(
            GroupMetrics(
                attribute=level.name,
                group=name,
                n=size,
                status="insufficient_data" if small else "ok",
                reason=f"{size} rows, below min_group_size {min_group_size}" if small else None,
                metrics=values[gi],
            )
        )
    absent_reason = (
        "declared category absent from the data" if len(level.parts) == 1 else "no rows (empty intersection)"
    )
    empty = {m: MetricValue(0 if m == "count" else None, None, "insufficient_data", absent_reason) for m in METRICS}
    out.extend(GroupMetrics(level.name, name, 0, "insufficient_data", absent_reason, empty) for name in level.absent)
    return out


def _level_curves(level: _Level, counted: _Counted, estimates: _Estimates) -> tuple[GroupCurves, ...]:
    """ROC and calibration curves of one attribute's groups from its counts per score bin (none without scores)."""
    if estimates.bins_table is None or counted.sums is None or counted.edges is None:
        return ()
    k = len(level.groups)
    bins = counted.bins
    score_sums = np.bincount(estimates.group * bins + counted.bin, weights=counted.sums, minlength=k * bins)
    return group_curves(level.name, level.groups, estimates.bins_table, score_sums.reshape(k, bins), counted.edges)


def _decision_rule(inputs: _Inputs, counted: _Counted) -> DecisionRule:
    """How the decisions were made, and how many rows were selected."""
    has_decisions = inputs.d_given is not None
    return DecisionRule(
        kind="decisions" if has_decisions else ("top_k" if inputs.top_k is not None else "threshold"),
        threshold=counted.threshold if not has_decisions else None,
        top_k=inputs.top_k,
        selected=int(counted.counts[counted.decision == 1].sum()),
        precision_at_k_share=inputs.share if inputs.s is not None else None,
    )


def _bootstrap_info(
    inputs: _Inputs, counted: _Counted, binning_error: Mapping[str, float], use_rows: bool
) -> BootstrapInfo:
    """How the intervals were made."""
    has_scores = inputs.s is not None
    return BootstrapInfo(
        replicates=inputs.n_boot,
        confidence=inputs.confidence,
        seed=inputs.seed,
        score_bins=inputs.score_bins,
        bins_used=counted.bins if has_scores else 0,
        scheme="none" if inputs.n_boot == 0 else ("rows" if use_rows else "multinomial"),
        cells=len(counted.values),
        binning_error=binning_error if has_scores else {},
    )
