"""The bootstrap on counts: one multinomial draw of the cells per replicate feeds every level and metric."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, cast

import numpy as np

from governance.audit._counting import (
    _rate,
    _segment_starts,
    _threshold_metrics,
)
from governance.audit._report import _SCORE_METRICS, Array

_CHUNK_ENTRIES: Final = 1 << 20  # replicate x cell entries per bootstrap chunk (bounds memory)


@dataclass(frozen=True)
class _Aggregation:
    """How to sum replicate cell counts into a dense table: columns, segment starts, targets."""

    columns: Array
    starts: Array
    targets: Array
    size: int

    @classmethod
    def of(cls, target: Array, size: int) -> _Aggregation:
        keep = np.flatnonzero(target >= 0)
        order = keep[np.argsort(target[keep], kind="stable")]
        t = target[order]
        starts = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1]))) if len(t) else np.zeros(0, np.int64)
        return cls(order, starts, t[starts], size)

    def apply(self, x: Array, weights: Array | None = None) -> Array:
        out = np.zeros((x.shape[0], self.size), dtype=np.float64)
        if len(self.columns):
            taken = x[:, self.columns]
            if weights is not None:
                taken = taken * weights[self.columns]
            out[:, self.targets] = np.add.reduceat(taken, self.starts, axis=1)
        return out


@dataclass(frozen=True)
class _LevelPlan:
    """Sparse bootstrap plan of one level, for its groups with enough rows (``k`` of them).

    The replicate cell counts are gathered once in ``(group, label, decision, bin)`` order and
    summed by segments: into ``(group, label, decision, bin)`` (``fine``), from there into the
    confusion table, and, weighted by each cell's mean score, into score sums per group.
    """

    k: int
    columns: Array | None  # cells in aggregation order; None: every cell, already in order
    fine_starts: Array
    fine_bins: Array | None  # (group, label, bin) slot of each fine segment, when that is one-to-one
    confusion_starts: Array  # over fine segments
    confusion_slots: Array
    group_starts: Array
    group_slots: Array
    weights: Array | None
    bins_fallback: _Aggregation | None  # when decisions are not a function of the score bin

    @classmethod
    def of(
        cls, *, slot: Array, cell_y: Array, cell_d: Array, cell_bin: Array, bins: int, cell_mean: Array | None
    ) -> _LevelPlan:
        """Plan for the cells whose group ``slot`` is >= 0."""
        k = int(slot.max()) + 1
        keep = np.flatnonzero(slot >= 0)
        order = keep[np.lexsort((cell_bin[keep], cell_d[keep], cell_y[keep], slot[keep]))]
        e, yy, dd, bb = slot[order], cell_y[order], cell_d[order], cell_bin[order]
        fine_key = ((e * 2 + yy) * 2 + dd) * bins + bb
        fine_starts = _segment_starts(fine_key)
        confusion_key = fine_key[fine_starts] // bins
        confusion_starts = _segment_starts(confusion_key)
        group_starts = _segment_starts(e)
        bin_key = (e[fine_starts] * 2 + yy[fine_starts]) * bins + bb[fine_starts]
        one_to_one = bool(np.all(np.diff(bin_key) > 0))
        fallback = None
        if cell_mean is not None and not one_to_one:
            fallback = _Aggregation.of(np.where(slot >= 0, (slot * 2 + cell_y) * bins + cell_bin, -1), k * 2 * bins)
        identity = len(order) == len(slot) and bool(np.all(order == np.arange(len(order))))
        return cls(
            k=k,
            columns=None if identity else order,
            fine_starts=fine_starts,
            fine_bins=bin_key if cell_mean is not None and one_to_one else None,
            confusion_starts=confusion_starts,
            confusion_slots=confusion_key[confusion_starts],
            group_starts=group_starts,
            group_slots=e[group_starts],
            weights=None if cell_mean is None else cell_mean[order],
            bins_fallback=fallback,
        )

    def tables(self, x: Array, bins: int) -> tuple[Array, Array | None, Array | None]:
        """Confusion ``(b, k, 2, 2)``, bin ``(b, k, 2, bins)`` and score-sum ``(b, k)`` tables."""
        b, k = x.shape[0], self.k
        taken = x if self.columns is None else x[:, self.columns]
        fine = np.add.reduceat(taken, self.fine_starts, axis=1)
        confusion = np.zeros((b, k * 4))
        confusion[:, self.confusion_slots] = np.add.reduceat(fine, self.confusion_starts, axis=1)
        if self.weights is None:
            return confusion.reshape(b, k, 2, 2), None, None
        if self.fine_bins is not None:
            flat: Array = np.zeros((b, k * 2 * bins))
            flat[:, self.fine_bins] = fine
        else:
            assert self.bins_fallback is not None
            flat = self.bins_fallback.apply(x)
        sums = np.zeros((b, k))
        sums[:, self.group_slots] = np.add.reduceat(taken * self.weights, self.group_starts, axis=1)
        return confusion.reshape(b, k, 2, 2), flat.reshape(b, k, 2, bins), sums


@dataclass(frozen=True)
class _DensePlan:
    """Dense bootstrap plan: replicate counts go into one ``(fine group, label, bin)`` table.

    Used when the decision is a function of the bin (a threshold or top-k rule, or decisions
    without scores, where the decision itself is the "bin") and the table is not much larger
    than the occupied cells. Every level is then a matrix product with its membership matrix.
    """

    groups: int
    width: int  # bins per label
    slots: Array | None  # flat slot of each cell; None: the cells fill every slot, in order
    selected_from: int  # first bin with a positive decision
    group_starts: Array
    group_slots: Array
    weights: Array | None
    members: tuple[Array | None, ...]  # per level: (groups, k) 0/1 matrix of eligible groups

    def tables(self, x: Array) -> list[tuple[Array, Array | None, Array | None] | None]:
        """Per level: confusion ``(b, k, 2, 2)``, bin ``(b, k, 2, width)``, score sums ``(b, k)``."""
        b, g, w = x.shape[0], self.groups, self.width
        counts = x.astype(np.float64)
        if self.slots is None:
            table = counts.reshape(b, g, 2 * w)
        else:
            table = np.zeros((b, g * 2 * w))
            table[:, self.slots] = counts
            table = table.reshape(b, g, 2 * w)
        sums = None
        if self.weights is not None:
            sums = np.zeros((b, g))
            sums[:, self.group_slots] = np.add.reduceat(counts * self.weights, self.group_starts, axis=1)
        out: list[tuple[Array, Array | None, Array | None] | None] = []
        for member in self.members:
            if member is None:
                out.append(None)
                continue
            k = member.shape[1]
            level = np.matmul(member.T, table).reshape(b, k, 2, w)
            cut = self.selected_from
            confusion = np.stack([level[..., :cut].sum(axis=-1), level[..., cut:].sum(axis=-1)], axis=-1)
            if self.weights is None or sums is None:
                out.append((confusion, None, None))
            else:
                out.append((confusion, level, sums @ member))
        return out


@dataclass(frozen=True)
class _Plan:
    """Everything a bootstrap chunk needs."""

    rows: int
    cell_counts: Array
    cell_of_row: Array | None
    pure: Array | None
    levels: int
    dense: _DensePlan | None
    sparse: tuple[_LevelPlan | None, ...]


def _draw(plan: _Plan, rng: np.random.Generator, size: int) -> Array:
    """Replicate cell counts ``(size, cells)``, distributed exactly as the row bootstrap."""
    cells = len(plan.cell_counts)
    if plan.cell_of_row is None:
        return rng.multinomial(plan.rows, plan.cell_counts / plan.rows, size=size)
    out = np.empty((size, cells), dtype=np.int64)
    for r in range(size):
        rows = rng.integers(0, plan.rows, size=plan.rows)
        out[r] = np.bincount(plan.cell_of_row[rows], minlength=cells)
    return out


def _replicate_metrics(plan: _Plan, x: Array) -> list[dict[str, Array] | None]:
    """Compute the metrics of every level's eligible groups for replicate cell counts ``x`` (name -> (b, k)).

    Only the threshold metrics and the means: AUCs and precision at k get their intervals
    from their own counts (DeLong, Wilson), so their replicates would go unread.
    """
    if plan.dense is not None:
        tables = plan.dense.tables(x)
    else:
        bins = 1 if plan.pure is None else len(plan.pure)
        tables = [None if lp is None else lp.tables(x, bins) for lp in plan.sparse]
    out: list[dict[str, Array] | None] = []
    for level_tables in tables:
        if level_tables is None:
            out.append(None)
            continue
        confusion, _, sums = level_tables
        metrics = _threshold_metrics(confusion)
        nan = np.full_like(metrics["count"], np.nan)
        metrics.update(dict.fromkeys(_SCORE_METRICS, nan))
        if sums is not None:
            mean = _rate(sums, metrics["count"])
            metrics["mean_score"] = mean
            metrics["calibration_gap"] = mean - metrics["base_rate"]
        out.append(metrics)
    return out


def _bootstrap(plan: _Plan, n_boot: int, seed: int) -> list[dict[str, Array] | None]:
    """Replicate metrics per level (name -> (n_boot, K)), chunked and seeded per chunk."""
    cells = max(len(plan.cell_counts), 1)
    chunk = max(1, min(n_boot, _CHUNK_ENTRIES // cells))
    sizes = [min(chunk, n_boot - start) for start in range(0, n_boot, chunk)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))

    def run(i: int) -> list[dict[str, Array] | None]:
        return _replicate_metrics(plan, _draw(plan, np.random.default_rng(seeds[i]), sizes[i]))

    workers = min(2, os.cpu_count() or 1, len(sizes))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, range(len(sizes))))
    else:
        parts = [run(i) for i in range(len(sizes))]
    merged: list[dict[str, Array] | None] = []
    for j in range(plan.levels):
        if parts[0][j] is None:
            merged.append(None)
            continue
        chunks = [cast(dict[str, Array], p[j]) for p in parts]
        merged.append({m: np.concatenate([c[m] for c in chunks]) for m in chunks[0]})
    return merged
