"""The audit: validated inputs counted once, then every group, disparity and interval derived from the counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from governance.audit._bootstrap import _bootstrap, _DensePlan, _LevelPlan, _Plan
from governance.audit._counting import (
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
from governance.audit._inputs import (
    _Attribute,
    _binary,
    _check_options,
    _encode_attribute,
    _intersections,
    _Level,
    _numeric,
)
from governance.audit._report import (
    Array,
    AttributeSummary,
    AuditReport,
    BootstrapInfo,
    DecisionRule,
    Disparity,
    FairnessMetric,
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
    categories: Mapping[str, Sequence[object]] | None = None,
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
        Finite real scores, higher meaning more likely positive. Needed for the
        score metrics and for the ``threshold`` and ``top_k`` rules.
    decisions : array-like of shape (n,), optional
        Binary decisions made elsewhere; then ``threshold`` and ``top_k`` must
        be None. Without ``scores`` the score metrics are ``undefined`` ("no scores").
    sensitive : mapping of str to array-like of shape (n,), or DataFrame
        Sensitive attributes, audit only. Values are categories (strings,
        integers, booleans, pandas Categoricals; a Categorical's categories
        are its declared categories). Floats with more than 20 distinct values
        are refused as continuous; bin them first.
    threshold : float, optional
        Score threshold; a decision is positive when ``score >= threshold``.
    top_k : float, optional
        Share in (0, 1] of accounts to select by score (ties at the cut are
        all selected; see the module docstring). Exactly one of ``threshold``
        and ``top_k`` with scores.
    precision_at_k_share : float, optional
        Share for ``precision_at_k``; default ``top_k``, else 0.1.
    intersections : list of lists of attribute names, or "all", optional
        Intersections to audit besides each single attribute; "all" is every
        combination of two or more attributes. Names join with ``" & "`` in
        the order given.
    reference : mapping of attribute or intersection name to group name, optional
        Reference group per attribute, for the reference difference and ratio.
    categories : mapping of attribute name to categories, optional
        Declared categories; absent ones are reported, undeclared values are an error.
    n_boot : int, default 1000
        Bootstrap replicates, for the intervals of mean scores and calibration
        gaps (0: none); rates and AUCs get their intervals without it.
    confidence : float, default 0.95
        Level of every interval (disparities: simultaneous over their pairs).
    seed : int, default 0
        Seed; the same inputs and seed give the same report.
    min_group_size : int, default 30
        Groups with fewer rows get ``insufficient_data``, no interval, and
        are left out of disparities.
    min_events : int, default 10
        A group's rate is judged only when the rate's denominator (rows,
        positives, negatives, selected or unselected accounts) reaches this;
        an AUC needs this many positives and negatives. Otherwise the value is
        ``insufficient_data`` with the count in its reason, and the group is
        left out of that metric's disparities.
    missing : {"error", "group"} or mapping of attribute name to it, default "error"
        Missing sensitive values (None, NaN, empty or blank strings): an error
        naming the column and the count, or a group of their own named
        ``missing_label``. A mapping sets it per attribute ("error" for the others).
    missing_label : str or mapping of attribute name to str, default "unknown"
        Name of the group of missing values (a mapping: per attribute, "unknown" for the others).
    score_bins : int, default 200
        Score bins for the bootstrap of the score metrics (point estimates are exact).

    Returns
    -------
    AuditReport
        Frozen result; ``to_dict()`` is the ``governance.audit/1`` JSON document.

    Raises
    ------
    DataValidationError
        Every problem with the inputs at once: labels not binary, lengths
        differing, non-finite scores, a bad threshold or top_k, zero rows,
        one group only, missing or continuous sensitive values, unknown
        intersection or reference names. Messages name arguments, counts
        and types, never data values.

    Examples
    --------
    >>> report = audit([0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4], sensitive={"region": ["a", "a", "b", "b"]},
    ...                threshold=0.5, min_group_size=1, n_boot=0)
    >>> report.group("region", "a").metrics["selection_rate"].value
    0.5
    """
    problems: list[Problem] = []
    _check_options(
        threshold=threshold,
        top_k=top_k,
        precision_at_k_share=precision_at_k_share,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        min_group_size=min_group_size,
        min_events=min_events,
        missing=missing,
        missing_label=missing_label,
        score_bins=score_bins,
        has_scores=scores is not None,
        has_decisions=decisions is not None,
        problems=problems,
    )
    y_raw = _numeric("y_true", y_true, None, problems)
    n_rows = len(y_raw) if y_raw is not None else None
    if n_rows == 0:
        problems.append(
            Problem("y_true", "0 rows; the audit needs at least 1 row", "check the filters upstream (consent, split)")
        )
    y = _binary("y_true", y_raw, problems, "labels") if y_raw is not None and n_rows else None
    s: Array | None = None
    if scores is not None and n_rows is not None:
        s_raw = _numeric("scores", scores, n_rows, problems)
        if s_raw is not None:
            s = s_raw.astype(np.float64) if s_raw.dtype.kind != "f" else s_raw
            nonfinite = int(np.count_nonzero(~np.isfinite(s)))
            if nonfinite:
                problems.append(
                    Problem(
                        "scores", f"{nonfinite} non-finite values (NaN or infinite); expected a finite score per row"
                    )
                )
                s = None
    d_given: Array | None = None
    if decisions is not None and n_rows is not None:
        d_raw = _numeric("decisions", decisions, n_rows, problems)
        d_given = _binary("decisions", d_raw, problems, "decisions") if d_raw is not None else None
    items = list(sensitive.items()) if isinstance(sensitive, Mapping | pd.DataFrame) else []
    if not isinstance(sensitive, Mapping | pd.DataFrame):
        problems.append(
            Problem("sensitive", f"expected a mapping of attribute name to values, found {type(sensitive).__name__}")
        )
    elif not items:
        problems.append(Problem("sensitive", "expected at least one attribute"))
    attributes: list[_Attribute] = []
    names = [str(k) for k, _ in items]
    for key, values in items:
        if not isinstance(key, str) or not key.strip() or " & " in key:
            problems.append(Problem("sensitive", "attribute names must be non-empty strings without ' & '"))
            continue
        if categories is not None and key in categories and isinstance(categories[key], str):
            problems.append(Problem(f"categories[{key!r}]", "expected a list of categories, found a string"))
            continue
        if n_rows:
            encoded = _encode_attribute(
                key,
                values,
                n_rows,
                declared=None if categories is None else categories.get(key),
                missing=missing.get(key, "error") if isinstance(missing, Mapping) else missing,
                missing_label=missing_label.get(key, "unknown")
                if isinstance(missing_label, Mapping)
                else missing_label,
                problems=problems,
            )
            if encoded is not None:
                attributes.append(encoded)
    for option, per_attribute in (("categories", categories), ("missing", missing), ("missing_label", missing_label)):
        for key in per_attribute if isinstance(per_attribute, Mapping) else ():
            if key not in names:
                problems.append(Problem(f"{option}[{key!r}]", "not a key of sensitive"))
    crossings = _intersections(intersections, names, problems)
    level_names = names + [" & ".join(names[j] for j in ix) for ix in crossings]
    for key in reference or {}:
        if key not in level_names:
            problems.append(Problem(f"reference[{key!r}]", "not an attribute or intersection being audited"))
    if problems:
        raise DataValidationError(problems)
    assert y is not None and n_rows is not None
    return _run(
        y=y,
        s=s,
        d_given=d_given,
        attributes=attributes,
        crossings=crossings,
        reference=reference or {},
        threshold=None if threshold is None else float(threshold),
        top_k=None if top_k is None else float(top_k),
        share=float(precision_at_k_share) if precision_at_k_share is not None else float(top_k or 0.1),
        n_boot=int(n_boot),
        confidence=float(confidence),
        seed=int(seed),
        min_group_size=int(min_group_size),
        min_events=int(min_events),
        score_bins=int(score_bins),
    )


def _run(
    *,
    y: Array,
    s: Array | None,
    d_given: Array | None,
    attributes: list[_Attribute],
    crossings: list[tuple[int, ...]],
    reference: Mapping[str, str],
    threshold: float | None,
    top_k: float | None,
    share: float,
    n_boot: int,
    confidence: float,
    seed: int,
    min_group_size: int,
    min_events: int,
    score_bins: int,
) -> AuditReport:
    """The audit on validated inputs."""
    n = len(y)
    problems: list[Problem] = []
    fine, fine_parts = _fine_groups(attributes)
    g_count = len(fine_parts)
    levels = [_Level("overall", (), np.zeros(g_count, dtype=np.int64), ("all",), (), 0, 0, None, None)]
    for j, attribute in enumerate(attributes):
        levels.append(
            _make_level(attribute.name, (j,), fine_parts, attributes, reference.get(attribute.name), problems)
        )
    for ix in crossings:
        name = " & ".join(attributes[j].name for j in ix)
        levels.append(_make_level(name, ix, fine_parts, attributes, reference.get(name), problems))
    if problems:
        raise DataValidationError(problems)

    # One pass: order by score, decide, bin, and count rows into cells (group, label, decision, bin).
    exact: list[_ExactScores | None] = [None] * len(levels)
    pure: Array | None = None
    bins_used = 1
    rule_threshold: float | None = threshold
    edges: Array | None = None
    cut: int | None = None
    if s is not None:
        order, ranked = _rank_rows(s, y)
        g_sorted = fine[order]
        d_sorted = d_given[order] if d_given is not None else None
        del order
        if d_sorted is None:
            if top_k is not None:
                rule_threshold = float(ranked.s[n - int(_top_count(np.asarray(n), top_k))])
            assert rule_threshold is not None
            cut = int(np.searchsorted(ranked.s, rule_threshold, side="left"))
        edges, pure = _score_bins(ranked.s, score_bins, cut, share)
        bins_used = len(pure)
        for i, level in enumerate(levels):
            k = len(level.groups)
            h = None if k == 1 else level.of_fine.astype(np.uint16 if k < 2**16 else np.int64)[g_sorted]
            exact[i] = _exact_scores(h, k, ranked, share)
            del h
        rows = _Rows(g_sorted, ranked.y, d_sorted, cut, edges, ranked.s)
        del ranked, g_sorted, d_sorted
    else:
        assert d_given is not None
        rows = _Rows(fine, y, d_given, None, None, None)
    cell_values, cell_counts, cell_sums = _count_cells(rows, g_count, bins_used)
    cell_bin = cell_values % bins_used
    cell_d = (cell_values // bins_used) % 2
    cell_y = (cell_values // (bins_used * 2)) % 2
    cell_g = cell_values // (bins_used * 4)
    cells = len(cell_values)
    selected = int(cell_counts[cell_d == 1].sum())
    use_rows = n_boot > 0 and cells * _ROWS_SCHEME_RATIO > n
    row_cells = np.searchsorted(cell_values, rows.codes(0, n, bins_used)) if use_rows else None
    del rows

    # Point estimates per level, from the cell counts (threshold metrics) and exact score statistics.
    points: list[dict[str, Array]] = []
    binned: list[tuple[Array, Array, Array] | None] = []  # exact auc, precision at k and bin table, for the shifts
    evidence: list[_Evidence] = []
    for i, level in enumerate(levels):
        k = len(level.groups)
        group = level.of_fine[cell_g]
        table = np.bincount(group * 4 + cell_y * 2 + cell_d, weights=cell_counts, minlength=k * 4)
        m = _threshold_metrics(table.reshape(k, 2, 2))
        events = _threshold_events(table.reshape(k, 2, 2))
        ex = exact[i]
        auc_variance: Array | None = None
        bins_table: Array | None = None
        if ex is not None:
            events["precision_at_k"] = (ex.top_positive, ex.top_selected)
            bins_table = np.bincount(
                (group * 2 + cell_y) * bins_used + cell_bin, weights=cell_counts, minlength=k * 2 * bins_used
            ).reshape(k, 2, bins_used)
            _, auc_variance = delong_auc(bins_table[:, 0], bins_table[:, 1])
        evidence.append(_Evidence(events, auc_variance))
        if ex is not None and bins_table is not None and cell_sums is not None and pure is not None:
            mean = _rate(np.bincount(group, weights=cell_sums, minlength=k), m["count"])
            m["auc"] = ex.auc
            m["mean_score"] = mean
            m["calibration_gap"] = mean - m["base_rate"]
            m["precision_at_k"] = ex.precision_at_k
            binned.append((ex.auc, ex.precision_at_k, bins_table))
        else:
            nan = np.full(k, np.nan)
            m.update({"auc": nan, "mean_score": nan, "calibration_gap": nan, "precision_at_k": nan})
            binned.append(None)
        points.append(m)

    # Bootstrap: one draw of all cells per replicate feeds every level and metric.
    eligible = [points[i]["count"] >= min_group_size for i in range(len(levels))]
    replicates: list[dict[str, Array] | None] = [None] * len(levels)
    binning_error = {"auc": 0.0, "precision_at_k": 0.0}
    if n_boot > 0:
        cell_mean = None if cell_sums is None else cell_sums / cell_counts
        slots: list[Array | None] = []
        for i, level in enumerate(levels):
            ok = eligible[i]
            slot = np.full(len(level.groups), -1, dtype=np.int64)
            slot[ok] = np.arange(int(ok.sum()))
            slots.append(slot if ok.any() else None)
            level_exact = binned[i]
            if level_exact is None or pure is None or not ok.any():
                continue
            # exact - binned point estimates of the groups with intervals: what the bins lose (the DeLong
            # variance of the AUC is computed from the bins)
            table = level_exact[2][ok]
            shift_auc = np.nan_to_num(level_exact[0][ok] - auc_from_counts(table[:, 0], table[:, 1]))
            shift_pk = np.nan_to_num(
                level_exact[1][ok] - _precision_at_k_from_bins(table[:, 0], table[:, 1], pure, share)
            )
            binning_error["auc"] = max(binning_error["auc"], float(np.abs(shift_auc).max()))
            binning_error["precision_at_k"] = max(binning_error["precision_at_k"], float(np.abs(shift_pk).max()))
        # Dense plan when the decision is a function of the bin (for decisions alone, the decision is the bin).
        aligned = d_given is None or s is None
        width = bins_used if s is not None else 2
        column = cell_bin if s is not None else cell_d
        dense: _DensePlan | None = None
        sparse: list[_LevelPlan | None] = []
        if aligned and g_count * 2 * width <= _DENSE_RATIO * max(cells, 1024):
            flat_slot = (cell_g * 2 + cell_y) * width + column
            if edges is None or cut is None:
                selected_from = 1  # decisions alone: the decision is the bin
            else:
                selected_from = width if cut >= n else int(np.searchsorted(edges, cut, side="right"))
            members: list[Array | None] = []
            for i, level in enumerate(levels):
                level_slot = slots[i]
                if level_slot is None:
                    members.append(None)
                    continue
                member = np.zeros((g_count, int(level_slot.max()) + 1))
                fine_slot = level_slot[level.of_fine]
                member[np.flatnonzero(fine_slot >= 0), fine_slot[fine_slot >= 0]] = 1.0
                members.append(member)
            in_order = cells == g_count * 2 * width and bool(np.all(flat_slot == np.arange(cells)))
            dense = _DensePlan(
                groups=g_count,
                width=width,
                slots=None if in_order else flat_slot,
                selected_from=selected_from,
                group_starts=_segment_starts(cell_g),
                group_slots=cell_g[_segment_starts(cell_g)],
                weights=cell_mean,
                members=tuple(members),
            )
        else:
            for i, level in enumerate(levels):
                level_slot = slots[i]
                sparse.append(
                    None
                    if level_slot is None
                    else _LevelPlan.of(
                        slot=level_slot[level.of_fine[cell_g]],
                        cell_y=cell_y,
                        cell_d=cell_d,
                        cell_bin=cell_bin,
                        bins=bins_used,
                        cell_mean=cell_mean,
                    )
                )
        plan = _Plan(
            rows=n,
            cell_counts=cell_counts,
            cell_of_row=row_cells,
            pure=pure,
            levels=len(levels),
            dense=dense,
            sparse=tuple(sparse),
        )
        replicates = _bootstrap(plan, n_boot, seed)
    del row_cells

    builder = _Builder(
        confidence=confidence,
        n_boot=n_boot,
        min_group_size=min_group_size,
        min_events=min_events,
        has_scores=s is not None,
    )
    overall: dict[str, MetricValue] = {}
    groups: list[GroupMetrics] = []
    disparities: list[Disparity] = []
    fairness: list[FairnessMetric] = []
    summaries: list[AttributeSummary] = []
    for i, level in enumerate(levels):
        values = builder.group_values(points[i], evidence[i], replicates[i])
        if i == 0:
            overall = values[0]
            continue
        summaries.append(
            AttributeSummary(
                name=level.name,
                parts=tuple(attributes[j].name for j in level.parts),
                groups=len(level.groups),
                absent_groups=level.absent,
                absent_count=level.absent_count,
                missing_rows=level.missing_rows,
                reference=level.reference_name,
            )
        )
        counts = points[i]["count"]
        for gi, name in enumerate(level.groups):
            size = int(counts[gi])
            small = size < min_group_size
            groups.append(
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
        groups.extend(
            GroupMetrics(level.name, name, 0, "insufficient_data", absent_reason, empty) for name in level.absent
        )
        level_disparities, estimates, cache = builder.disparities(level, values, points[i]["count"])
        disparities.extend(level_disparities.values())
        fairness.extend(builder.fairness(level, level_disparities, estimates, cache))

    rule = DecisionRule(
        kind="decisions" if d_given is not None else ("top_k" if top_k is not None else "threshold"),
        threshold=rule_threshold if d_given is None else None,
        top_k=top_k,
        selected=selected,
        precision_at_k_share=share if s is not None else None,
    )
    info = BootstrapInfo(
        replicates=n_boot,
        confidence=confidence,
        seed=seed,
        score_bins=score_bins,
        bins_used=bins_used if s is not None else 0,
        scheme="none" if n_boot == 0 else ("rows" if use_rows else "multinomial"),
        cells=cells,
        binning_error=binning_error if s is not None else {},
    )
    return AuditReport(
        rows=n,
        min_group_size=min_group_size,
        min_events=min_events,
        decision_rule=rule,
        bootstrap=info,
        attributes=tuple(summaries),
        overall=overall,
        groups=tuple(groups),
        disparities=tuple(disparities),
        fairness=tuple(fairness),
    )
