"""Cell counting: rows ranked by score, exact score statistics, score bins, and counts per cell."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from governance.audit._inputs import _Attribute, _Level
from governance.audit._report import Array
from governance.errors import DataValidationError, Problem, ProblemCode

_MAX_LISTED_ABSENT: Final = 1000  # empty intersection groups listed by name, beyond this only counted


def _segment_starts(key: Array) -> Array:
    """Start of each run of equal values in ``key``."""
    return np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1]))) if len(key) else np.zeros(0, np.int64)


def _densify(code: Array, size: int) -> tuple[Array, Array]:
    """Dense codes of the occupied values of ``code`` (in [0, size)) and those values, ascending."""
    small = np.int32 if size < 2**31 else np.int64
    if size <= max(4 * len(code), 1 << 20):
        counts = np.bincount(code, minlength=size)
        occupied = np.flatnonzero(counts)
        lut = np.zeros(size, dtype=small)
        lut[occupied] = np.arange(len(occupied))
        return lut[code], occupied
    first_seen, uniques = pd.factorize(code)
    order = np.argsort(uniques)
    rank = np.empty(len(order), dtype=small)
    rank[order] = np.arange(len(order))
    return rank[first_seen], np.asarray(uniques)[order]


def _fine_groups(attributes: Sequence[_Attribute]) -> tuple[Array, Array]:
    """Cross of all attributes, occupied combinations only: row codes (N,) and parts (G, A)."""
    codes = attributes[0].codes
    parts = np.arange(len(attributes[0].groups), dtype=np.int64)[:, None]
    for attribute in attributes[1:]:
        k = len(attribute.groups)
        size = len(parts) * k
        combined: Array = codes.astype(np.int32 if size < 2**31 else np.int64)
        combined *= k
        combined += attribute.codes
        codes, occupied = _densify(combined, size)
        del combined
        parts = np.column_stack([parts[occupied // k], occupied % k])
    if len(parts) < 2**15:
        codes = codes.astype(np.int16, copy=False)
    return codes, parts


#: The most groups one audit reports (every attribute's groups plus every intersection's observed crossings).
MAX_AUDIT_GROUPS: Final = 10_000


def _check_group_count(
    names: Sequence[str], sizes: Sequence[int], crossings: Sequence[tuple[int, ...]], parts: Array
) -> None:
    """Refuse, before any counting, an audit that would report more than :data:`MAX_AUDIT_GROUPS` groups.

    Each attribute makes its observed groups (``sizes``) and each intersection its observed
    crossings (the distinct rows of ``parts``, the occupied combinations of attribute codes, in
    its columns); the cost of the audit (its cells, bootstrap and report) grows with their sum.
    """
    made = [(name, size, False) for name, size in zip(names, sizes, strict=True)]
    for ix in crossings:
        observed = len(np.unique(parts[:, list(ix)], axis=0))
        made.append((" & ".join(names[j] for j in ix), observed, True))
    total = sum(count for _, count, _ in made)
    if total <= MAX_AUDIT_GROUPS:
        return
    largest = sorted(made, key=lambda item: -item[1])[:3]
    listed = ", ".join(f"{name!r} {count:,}" for name, count, _ in largest)
    crossed = any(is_crossing for _, _, is_crossing in largest)
    fix = (
        "audit fewer attributes together in `intersections` (--intersections), or band the attributes "
        "with many values (bins: a few ranges) before crossing them"
        if crossed
        else "band the attributes with many values (bins: a few ranges), or audit fewer sensitive attributes"
    )
    raise DataValidationError(
        [
            Problem.for_parameter(
                "intersections" if crossed else "sensitive",
                f"the audit would report {total:,} groups, more than the {MAX_AUDIT_GROUPS:,} an audit may report "
                f"(most groups: {listed}); nothing was computed",
                fix,
                code=ProblemCode.INVALID_VALUE,
            )
        ]
    )


def _make_level(
    name: str,
    index: tuple[int, ...],
    fine_parts: Array,
    attributes: Sequence[_Attribute],
    reference: str | None,
    problems: list[Problem],
    compare: Mapping[str, frozenset[str]] | None = None,
) -> _Level:
    """Map fine groups to the groups of one attribute or intersection, and name them.

    ``compare`` restricts the comparisons of an attribute to some of its groups; an
    intersection then compares the crossings whose every restricted part is among them.
    """
    sub = fine_parts[:, list(index)]
    sizes = [len(attributes[j].groups) for j in index]
    if math.prod(sizes) < 2**62:
        combined = np.zeros(len(sub), dtype=np.int64)
        for col, size in enumerate(sizes):
            combined = combined * size + sub[:, col]
        _, first, of_fine = np.unique(combined, return_index=True, return_inverse=True)
        level_parts = sub[first]
    else:
        level_parts, of_fine = np.unique(sub, axis=0, return_inverse=True)
    tuples = [tuple(attributes[j].groups[c] for j, c in zip(index, row, strict=True)) for row in level_parts.tolist()]
    groups = tuple(" & ".join(t) for t in tuples)
    absent_parts: list[tuple[str, ...]] = []
    if len(index) == 1:
        absent_parts = [(a,) for a in attributes[index[0]].absent]
        absent_count = len(absent_parts)
    else:
        full = [list(attributes[j].groups) + list(attributes[j].absent) for j in index]
        absent_count = math.prod(len(f) for f in full) - len(groups)
        if absent_count <= _MAX_LISTED_ABSENT:
            present = set(tuples)
            absent_parts = [t for t in itertools.product(*full) if t not in present]
    absent = [" & ".join(t) for t in absent_parts]
    compared = _compared(index, [*tuples, *absent_parts], attributes, compare or {})
    ref_index: int | None = None
    if reference is not None:
        if reference not in groups:
            problems.append(
                Problem.for_parameter(
                    "reference",
                    f"the reference group does not occur in the data ({len(groups)} groups observed)",
                    key=name,
                    code=ProblemCode.UNKNOWN_NAME,
                )
            )
        elif compared is not None and reference not in compared:
            problems.append(
                Problem.for_parameter(
                    "reference",
                    f"the reference group is not among the {len(compared)} groups compared",
                    "add it to compare, or choose one of them",
                    key=name,
                    code=ProblemCode.CONFLICT,
                )
            )
        else:
            ref_index = groups.index(reference)
    missing_rows = attributes[index[0]].missing_rows if len(index) == 1 else 0
    return _Level(
        name,
        index,
        np.asarray(of_fine, dtype=np.int64).reshape(-1),
        groups,
        tuple(absent),
        absent_count,
        missing_rows,
        ref_index,
        reference if ref_index is not None else None,
        compared,
    )


def _compared(
    index: tuple[int, ...],
    parts: Sequence[tuple[str, ...]],
    attributes: Sequence[_Attribute],
    compare: Mapping[str, frozenset[str]],
) -> tuple[str, ...] | None:
    """Return the groups of a level, given by their parts, whose every restricted part is compared; None: all."""
    restricted = [(i, compare[attributes[j].name]) for i, j in enumerate(index) if attributes[j].name in compare]
    if not restricted:
        return None
    return tuple(" & ".join(t) for t in parts if all(t[i] in allowed for i, allowed in restricted))


def _top_count(n: Array, share: float) -> Array:
    """``ceil(share * n)`` clipped to [1, n], robust to float noise such as 0.1 * 1000."""
    k = np.ceil(np.round(share * n, 9))
    return np.clip(k, 1, np.maximum(n, 1))


def _rate(num: Array, den: Array) -> Array:
    """Divide num by den, NaN where den is 0 (an undefined metric)."""
    out = np.full(np.broadcast_shapes(np.shape(num), np.shape(den)), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _threshold_metrics(table: Array) -> dict[str, Array]:
    """Threshold metrics from confusion counts ``(..., K, label, decision)``."""
    tn, fp, fn, tp = table[..., 0, 0], table[..., 0, 1], table[..., 1, 0], table[..., 1, 1]
    n = tn + fp + fn + tp
    pos = tp + fn
    neg = tn + fp
    return {
        "count": n.astype(np.float64),
        "base_rate": _rate(pos, n),
        "selection_rate": _rate(tp + fp, n),
        "true_positive_rate": _rate(tp, pos),
        "false_positive_rate": _rate(fp, neg),
        "false_negative_rate": _rate(fn, pos),
        "true_negative_rate": _rate(tn, neg),
        "precision": _rate(tp, tp + fp),
        "negative_predictive_value": _rate(tn, tn + fn),
        "accuracy": _rate(tp + tn, n),
    }


#: Per threshold metric: what it counts over what it divides by, as (numerator, denominator) of the
#: confusion counts, and the events named in a reason when the denominator is too small.
_PROPORTIONS: Final[Mapping[str, tuple[str, str, str]]] = {
    "base_rate": ("pos", "n", "rows"),
    "selection_rate": ("sel", "n", "rows"),
    "true_positive_rate": ("tp", "pos", "positives"),
    "false_positive_rate": ("fp", "neg", "negatives"),
    "false_negative_rate": ("fn", "pos", "positives"),
    "true_negative_rate": ("tn", "neg", "negatives"),
    "precision": ("tp", "sel", "selected rows"),
    "negative_predictive_value": ("tn", "unsel", "rows not selected"),
    "accuracy": ("correct", "n", "rows"),
}


def _threshold_events(table: Array) -> dict[str, tuple[Array, Array]]:
    """(successes, trials) of every proportion from confusion counts ``(K, label, decision)``."""
    tn, fp, fn, tp = table[..., 0, 0], table[..., 0, 1], table[..., 1, 0], table[..., 1, 1]
    parts = {
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "n": tn + fp + fn + tp,
        "pos": tp + fn,
        "neg": tn + fp,
        "sel": tp + fp,
        "unsel": tn + fn,
        "correct": tp + tn,
    }
    return {
        metric: (parts[num].astype(np.int64), parts[den].astype(np.int64))
        for metric, (num, den, _) in _PROPORTIONS.items()
    }


def _precision_at_k_from_bins(neg: Array, pos: Array, pure: Array, share: float) -> Array:
    """Precision among the top ``share`` from counts per ascending bin; the cut bin is taken pro rata unless pure."""
    count = (neg + pos)[..., ::-1]
    pos_desc = pos[..., ::-1]
    pure_desc = pure[::-1]
    n = count.sum(axis=-1)
    k = _top_count(n, share)
    cum = np.cumsum(count, axis=-1)
    cut = np.argmax(cum >= k[..., None], axis=-1)[..., None]
    c_cut = np.take_along_axis(count, cut, axis=-1)[..., 0]
    p_cut = np.take_along_axis(pos_desc, cut, axis=-1)[..., 0]
    above = np.take_along_axis(cum, cut, axis=-1)[..., 0] - c_cut
    pos_above = np.take_along_axis(np.cumsum(pos_desc, axis=-1), cut, axis=-1)[..., 0] - p_cut
    whole = pure_desc[cut[..., 0]]
    taken = np.where(whole, c_cut, k - above)
    tp = pos_above + p_cut * _rate(taken, c_cut)
    return _rate(tp, np.where(n > 0, above + taken, 0))


@dataclass(frozen=True)
class _ExactScores:
    """Exact score statistics of the groups of one level."""

    auc: Array
    precision_at_k: Array
    top_positive: Array  # positive labels among each group's top-k selection
    top_selected: Array  # rows in each group's top-k selection (ties at the cut included)


@dataclass(frozen=True)
class _Ranked:
    """Rows in score order (ties: negative labels first), with what the exact score metrics need."""

    y: Array  # (N,) bool labels in that order
    s: Array  # (N,) scores in that order
    tied: Array  # positions of the rows whose score is shared with another row
    tied_run: Array  # which run of tied scores each of them is in (non-decreasing)
    tied_y: Array  # their label


def _exact_scores(h: Array | None, k: int, ranked: _Ranked, share: float) -> _ExactScores:
    """Exact AUC (ties 1/2, as roc_auc_score) and precision at k for each group of one level.

    ``h`` is the group of each row in score order (None: one group). A stable radix sort by
    group keeps each group in score order with tied negatives first, so the negatives
    counted below a positive include its tied negatives; half of those pairs, found among
    the tied rows only, are then taken back.
    """
    y = ranked.y
    n = len(y)
    if h is None:
        perm: Array | None = None
        yy = y
        size = np.asarray([n], dtype=np.int64)
    else:
        perm = np.argsort(h, kind="stable")
        yy = y[perm]
        size = np.bincount(h, minlength=k).astype(np.int64)
    seg_end = np.cumsum(size)
    seg_start = seg_end - size
    small = np.int32 if n < 2**31 else np.int64
    neg_cum = np.zeros(n + 1, dtype=small)  # neg_cum[i]: negatives among the first i rows (group order)
    np.cumsum(~yy, out=neg_cum[1:])
    positions = np.flatnonzero(yy)
    del yy
    group = np.searchsorted(seg_end, positions, side="right") if k > 1 else np.zeros(len(positions), np.int64)
    below = neg_cum[positions + 1] - neg_cum[seg_start][group]
    num = np.bincount(group, weights=below, minlength=k)  # integer sums, exact in float64 below 2**53
    positives = np.bincount(group, minlength=k).astype(np.float64)
    del positions, group, below
    if len(ranked.tied):
        th = h[ranked.tied] if h is not None else np.zeros(len(ranked.tied), dtype=np.int64)
        order = np.argsort(th, kind="stable")
        hs, rs, ys = th[order], ranked.tied_run[order], ranked.tied_y[order]
        cut = _segment_starts(hs.astype(np.int64) * (int(rs.max()) + 1) + rs)
        run_pos = np.add.reduceat(ys.astype(np.int64), cut)
        run_len = np.diff(np.append(cut, len(hs)))
        num = num - 0.5 * np.bincount(hs[cut].astype(np.int64), weights=run_pos * (run_len - run_pos), minlength=k)
    auc = _rate(num, positives * (size - positives))

    # precision at k: the group's rows whose score is at least its k-th highest
    def score_at(index: Array) -> Array:
        return ranked.s[index if perm is None else perm[index]]

    kth = seg_end - _top_count(size.astype(np.float64), share).astype(np.int64)
    target = score_at(kth)
    lo, hi = seg_start.copy(), kth.copy()
    while np.any(lo < hi):  # first row of each group with score >= target: one binary search for all groups
        mid = (lo + hi) // 2
        right = score_at(mid) < target
        lo = np.where(right & (lo < hi), mid + 1, lo)
        hi = np.where(~right & (lo < hi), mid, hi)
    selected = seg_end - lo
    true_positive = selected - (neg_cum[seg_end] - neg_cum[lo])
    return _ExactScores(
        auc,
        _rate(true_positive.astype(np.float64), selected.astype(np.float64)),
        true_positive.astype(np.int64),
        selected.astype(np.int64),
    )


def _argsort_scores(s: Array) -> Array:
    """Row order by score (float64), faster than ``np.argsort`` for large inputs.

    Sorts one integer array: the order-preserving bits of each score with the row index in
    the low ``log2(N)`` bits. Rows whose kept score bits collide with a neighbour's and whose
    scores differ are then put in exact order by a second, small sort.
    """
    n = len(s)
    bits = max(1, (n - 1).bit_length())
    if bits > 40 or n < 1 << 16:
        return np.argsort(s)
    key = np.add(s, 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    flip = key >> np.uint64(63)  # negative scores: flip every bit; others: flip the sign bit
    flip *= np.uint64(0x7FFFFFFFFFFFFFFF)
    flip |= np.uint64(0x8000000000000000)
    key ^= flip
    del flip
    low = np.uint64((1 << bits) - 1)
    key &= ~low
    key |= np.arange(n, dtype=np.uint64)
    key.sort()
    order = (key & low).astype(np.int64)
    key >>= np.uint64(bits)
    same = key[1:] == key[:-1]
    del key
    ambiguous = np.zeros(n, dtype=bool)
    ambiguous[:-1] = same
    ambiguous[1:] |= same
    pos = np.flatnonzero(ambiguous)
    del ambiguous
    if len(pos):
        rows = order[pos]
        values = s[rows]
        link = (pos[1:] == pos[:-1] + 1) & same[pos[:-1]]
        group = np.concatenate(([0], np.cumsum(~link)))
        mixed = np.zeros(int(group[-1]) + 1, dtype=bool)
        mixed[group[1:][link & (values[1:] != values[:-1])]] = True
        pick = np.flatnonzero(mixed[group])
        if len(pick):  # groups hold disjoint, ordered score ranges, so one sort orders them all
            rows[pick] = rows[pick][np.argsort(values[pick], kind="stable")]
            order[pos] = rows
    return order


def _rank_rows(s: Array, y: Array) -> tuple[Array, _Ranked]:
    """Order rows by score with negatives first among ties; return the order and the ranked rows."""
    n = len(s)
    order = _argsort_scores(s) if s.dtype == np.float64 else np.argsort(s)
    s_sorted = s[order]
    new_value = np.empty(n + 1, dtype=bool)
    new_value[0] = new_value[n] = True
    np.not_equal(s_sorted[1:], s_sorted[:-1], out=new_value[1:n])
    tied = np.flatnonzero(~(new_value[:n] & new_value[1:]))
    tied_run = np.cumsum(new_value[tied], dtype=np.int64)
    del new_value
    tied_y = y[order[tied]]
    if len(tied):
        fix = np.argsort(tied_run * 2 + tied_y, kind="stable")
        order[tied] = order[tied][fix]
        tied_y = tied_y[fix]
    return order, _Ranked(y[order], s_sorted, tied, tied_run, tied_y)


def _score_bins(s_sorted: Array, bins: int, cut: int | None, share: float) -> tuple[Array, Array]:
    """Score bins for the bootstrap: half equal-frequency over all rows, half over the top ``2 * share``.

    The finer top half is where precision-at-k cuts fall. Bins never split tied scores, and
    ``cut`` (the first selected row) is an edge, so the decision is a function of the bin.
    Returns the first row of every bin but the first, and per bin whether it holds one score.
    """
    n = len(s_sorted)
    coarse = bins // 2
    top = max(1, int(n * min(1.0, 2 * share)))
    targets = np.concatenate(
        (
            (np.arange(1, coarse, dtype=np.int64) * n) // max(coarse, 1),
            n - top + (np.arange(0, bins - coarse, dtype=np.int64) * top) // (bins - coarse),
        )
    )
    targets = targets[(targets > 0) & (targets < n)]
    # snap each target down to the first row of its run of tied scores
    edges = np.searchsorted(s_sorted, s_sorted[targets], side="left")
    if cut is not None:
        edges = np.append(edges, cut)
    edges = np.unique(edges[(edges > 0) & (edges < n)])
    lo = np.concatenate(([0], edges))
    hi = np.concatenate((edges, [n])) - 1
    return edges, s_sorted[lo] == s_sorted[hi]


@dataclass(frozen=True)
class _Rows:
    """Per-row cell coordinates: group, label, decision (given, or position >= cut), score bin."""

    g: Array
    y: Array
    d: Array | None
    cut: int | None
    edges: Array | None
    weights: Array | None

    def codes(self, start: int, stop: int, bins: int) -> Array:
        """Cell code ``((g * 2 + y) * 2 + d) * bins + bin`` of rows ``start:stop``."""
        code = self.g[start:stop].astype(np.int64)
        code *= 2
        code += self.y[start:stop]
        code *= 2
        position = np.arange(start, stop) if self.d is None else None
        if self.d is not None:
            code += self.d[start:stop]
        elif self.cut is not None:
            assert position is not None
            code += position >= self.cut
        code *= bins
        if self.edges is not None:
            code += np.searchsorted(self.edges, np.arange(start, stop) if position is None else position, side="right")
        return code


def _count_cells(rows: _Rows, groups: int, bins: int) -> tuple[Array, Array, Array | None]:
    """Occupied cell codes (ascending), their row counts and score sums, in one pass over the rows.

    With few possible cells the rows are coded and counted in blocks (no per-row code array).
    """
    n = len(rows.y)
    size = groups * 4 * bins
    block = 1 << 20
    if size <= block:
        counts = np.zeros(size, dtype=np.int64)
        sums = np.zeros(size) if rows.weights is not None else None
        for start in range(0, n, block):
            stop = min(n, start + block)
            code = rows.codes(start, stop, bins)
            counts += np.bincount(code, minlength=size)
            if sums is not None and rows.weights is not None:
                sums += np.bincount(code, weights=rows.weights[start:stop], minlength=size)
        values = np.flatnonzero(counts)
        return values, counts[values], None if sums is None else sums[values]
    code = rows.codes(0, n, bins)
    dense, values = _densify(code, size)
    del code
    weighted = None if rows.weights is None else np.bincount(dense, weights=rows.weights, minlength=len(values))
    return values, np.bincount(dense, minlength=len(values)), weighted
