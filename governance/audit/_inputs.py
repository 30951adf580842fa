"""Input validation and encoding: labels, scores, decisions and sensitive attributes as dense codes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from governance.audit._report import Array
from governance.audit._scope import (
    _check_reference_names,
    _compare_in_data,
    _compare_names,
    _read_as_probabilities,
)
from governance.errors import DataValidationError, Problem, ProblemCode
from governance.privacy import identifier_like

_MAX_FLOAT_LEVELS: Final = 20  # a float attribute with more distinct values is continuous


@dataclass(frozen=True)
class _Attribute:
    """One sensitive attribute as dense integer codes."""

    name: str
    codes: Array  # (N,) int, values in [0, len(groups))
    groups: tuple[str, ...]
    absent: tuple[str, ...]
    missing_rows: int


@dataclass(frozen=True)
class _Level:
    """One reported scope family: overall, a single attribute or an intersection."""

    name: str
    parts: tuple[int, ...]
    of_fine: Array  # (G,) level group of each fine group
    groups: tuple[str, ...]
    absent: tuple[str, ...]
    absent_count: int
    missing_rows: int
    reference: int | None
    reference_name: str | None
    compared: tuple[str, ...] | None = None  # the groups (and absent ones) its comparisons cover; None: all


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _numeric(name: str, values: object, n_rows: int | None, problems: list[Problem]) -> Array | None:
    """Return a 1-D numeric (bool, int or float) array, or None after recording why not."""
    if isinstance(values, pd.Series | pd.Index):
        dtype = values.dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan) if values.hasnans else values.to_numpy()
        else:
            arr = values.to_numpy()
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        problems.append(
            Problem.for_parameter(
                name, f"expected a 1-D array, found {arr.ndim} dimensions", code=ProblemCode.WRONG_TYPE
            )
        )
        return None
    if n_rows is not None and len(arr) != n_rows:
        problems.append(
            Problem.for_parameter(
                name, f"expected {n_rows} rows (the length of y_true), found {len(arr)}", code=ProblemCode.WRONG_TYPE
            )
        )
        return None
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.kind == "O":
        missing = pd.isna(arr)
        converted = pd.to_numeric(pd.Series(arr, copy=False), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        bad = int(np.count_nonzero(np.isnan(converted) & ~missing))
        if bad == 0:
            return converted
        problems.append(
            Problem.for_parameter(
                name, f"expected numbers, found {bad} non-numeric entries (dtype object)", code=ProblemCode.WRONG_TYPE
            )
        )
        return None
    problems.append(
        Problem.for_parameter(name, f"expected numbers, found dtype {arr.dtype.name}", code=ProblemCode.WRONG_TYPE)
    )
    return None


def _binary(name: str, arr: Array, problems: list[Problem], what: str) -> Array | None:
    """Return a bool array from 0/1 or bool values, or None after recording the problem."""
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind == "f":
        nonfinite = int(np.count_nonzero(~np.isfinite(arr)))
        if nonfinite:
            problems.append(
                Problem.for_parameter(
                    name,
                    f"{nonfinite} missing or non-finite {what}; expected binary {what} (0/1 or bool)",
                    code=ProblemCode.MISSING,
                )
            )
            return None
    is_one = arr == 1
    other = int(len(arr) - np.count_nonzero(is_one) - np.count_nonzero(arr == 0))
    if other:
        distinct = len(np.unique(arr))
        problems.append(
            Problem.for_parameter(
                name,
                f"expected binary {what} (0/1 or bool), found {distinct} distinct values "
                f"({other} rows neither 0 nor 1)",
                code=ProblemCode.INVALID_VALUE,
            )
        )
        return None
    return cast(Array, is_one)


def _factorize_strings(arr: Array) -> tuple[Array, list[str]] | None:
    """Factorize a numpy unicode array without a Python string per row; None when it cannot.

    Short ASCII strings (up to 8 characters) pack exactly into one integer; other strings are
    hashed (64-bit FNV-1a) and every row is checked against its code's first row, so a hash
    collision falls back to the slow path instead of merging groups.
    """
    n = len(arr)
    width = arr.dtype.itemsize // 4
    if width == 0:
        return np.zeros(n, dtype=np.int64), [""]
    chars = np.ascontiguousarray(arr).view(np.uint32).reshape(n, width)
    key = np.zeros(n, dtype=np.uint64)
    part = np.empty(n, dtype=np.uint64)
    if width <= 8 and int(chars.max()) < 256:
        for j in range(width):
            np.left_shift(chars[:, j], np.uint64(8 * j), out=part)
            np.bitwise_or(key, part, out=key)
        del part
        codes, uniques = pd.factorize(key)
        names = [int(u).to_bytes(8, "little")[:width].decode("latin-1").rstrip("\x00") for u in uniques]
        return np.asarray(codes, dtype=np.int64), names
    del part
    key += np.uint64(0xCBF29CE484222325)
    prime = np.uint64(0x100000001B3)
    for j in range(width):
        np.bitwise_xor(key, chars[:, j], out=key, casting="unsafe")
        np.multiply(key, prime, out=key)
    codes, _ = pd.factorize(key)
    del key
    codes = np.asarray(codes, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.concatenate(([True], running[1:] != running[:-1])))
    del running
    firsts = chars[first]
    for j in range(width):
        if not np.array_equal(firsts[:, j][codes], chars[:, j]):
            return None
    return codes, [str(u) for u in arr[first]]


def _encode_attribute(
    name: str,
    values: object,
    n_rows: int,
    *,
    declared: Sequence[object] | None,
    missing: str,
    missing_label: str,
    problems: list[Problem],
) -> _Attribute | None:
    """Dense codes for one sensitive attribute, or None after recording every problem found."""
    raw = _raw_codes(name, values, n_rows, problems)
    if raw is None:
        return None
    categorical_declared = raw.declared
    codes, ordered, missing_rows = _ordered_codes(raw)
    del raw  # the raw codes: one integer per row
    if len(set(ordered)) != len(ordered):
        problems.append(
            Problem.for_parameter(
                "sensitive",
                f"{len(ordered) - len(set(ordered))} distinct values have the same text as another",
                "convert the column to strings first",
                key=name,
                code=ProblemCode.INVALID_VALUE,
            )
        )
        return None
    ok = True
    if missing_rows:
        placed = _place_missing(name, codes, ordered, missing_rows, missing=missing, missing_label=missing_label)
        if isinstance(placed, Problem):
            problems.append(placed)
            ok = False
        else:
            codes, ordered = placed
    declared_names = [str(v) for v in declared] if declared is not None else categorical_declared
    absent: list[str] = []
    if declared_names is not None:
        declared_set = set(declared_names)
        outside = [
            i for i, g in enumerate(ordered) if g not in declared_set and not (missing_rows and g == missing_label)
        ]
        if outside and declared is not None:
            rows = int(np.isin(codes, np.asarray(outside)).sum())
            problems.append(
                Problem.for_parameter(
                    "sensitive",
                    f"{rows} rows have values outside the declared categories",
                    "declare every category in categories, or fix the data",
                    key=name,
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            ok = False
        present = set(ordered)
        absent = [g for g in dict.fromkeys(declared_names) if g not in present]
    if len(ordered) < 2 and ok:
        problems.append(
            Problem.for_parameter(
                "sensitive",
                f"{len(ordered)} group found; an audit compares at least 2 groups "
                "(a single group is not evidence of fairness)",
                key=name,
                code=ProblemCode.INVALID_VALUE,
            )
        )
        ok = False
    if not ok:
        return None
    small = np.int16 if len(ordered) < 2**15 else np.int64
    return _Attribute(
        name, codes.astype(small, copy=False), tuple(ordered), tuple(absent), missing_rows if missing == "group" else 0
    )


@dataclass(frozen=True)
class _RawCodes:
    """Codes of one attribute as found (``-1``: missing), before blanks are dropped and groups sorted."""

    codes: Array
    uniques: list[object]
    declared: list[str] | None  # the categories of a pandas Categorical
    sortable: bool  # False: keep the declared category order


def _raw_codes(name: str, values: object, n_rows: int, problems: list[Problem]) -> _RawCodes | None:
    """Factorize one attribute's values, or None after recording why they cannot define groups."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        values = values.array
    if isinstance(values, pd.Categorical):
        if len(values) != n_rows:
            problems.append(
                Problem.for_parameter(
                    "sensitive",
                    f"expected {n_rows} rows (the length of y_true), found {len(values)}",
                    key=name,
                    code=ProblemCode.WRONG_TYPE,
                )
            )
            return None
        uniques = list(values.categories)
        return _RawCodes(np.asarray(values.codes, dtype=np.int64), uniques, [str(u) for u in uniques], False)
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim != 1:
        problems.append(
            Problem.for_parameter(
                "sensitive", f"expected a 1-D array, found {arr.ndim} dimensions", key=name, code=ProblemCode.WRONG_TYPE
            )
        )
        return None
    if len(arr) != n_rows:
        problems.append(
            Problem.for_parameter(
                "sensitive",
                f"expected {n_rows} rows (the length of y_true), found {len(arr)}",
                key=name,
                code=ProblemCode.WRONG_TYPE,
            )
        )
        return None
    if arr.dtype.kind == "f":
        distinct = len(pd.unique(arr[~np.isnan(arr)]))
        if distinct > _MAX_FLOAT_LEVELS:
            problems.append(
                Problem.for_parameter(
                    "sensitive",
                    f"a continuous attribute (float with {distinct} distinct values) cannot define groups",
                    "bin it first (for example with pandas.cut) and pass the bins",
                    key=name,
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            return None
    fast = _factorize_strings(arr) if arr.dtype.kind == "U" else None
    if fast is not None:
        return _RawCodes(fast[0], list(fast[1]), None, True)
    raw_codes, uniq = pd.factorize(arr, use_na_sentinel=True)
    return _RawCodes(np.asarray(raw_codes, dtype=np.int64), list(uniq), None, True)


def _ordered_codes(raw: _RawCodes) -> tuple[Array, list[str], int]:
    """Codes of the observed groups in their order (sorted values, or the declared order), names, missing rows.

    Empty or blank strings are missing values, like None and NaN (code ``-1``).
    """
    uniques = raw.uniques
    names = [str(u) for u in uniques]
    k = len(names)
    blank = {i for i, u in enumerate(uniques) if isinstance(u, str) and not u.strip()}
    keep = [i for i in range(k) if i not in blank]
    if raw.sortable:
        try:
            keep.sort(key=lambda i: cast(Any, uniques[i]))
        except TypeError:
            keep.sort(key=lambda i: names[i])
    lut = np.full(k + 1, -1, dtype=np.int16 if k < 2**15 else np.int64)  # index k: the NA sentinel -1
    lut[np.asarray(keep, dtype=np.int64)] = np.arange(len(keep))
    codes: Array = lut[raw.codes]
    ordered = [names[i] for i in keep]
    counts = np.bincount(codes + 1, minlength=len(ordered) + 1)
    missing_rows = int(counts[0])
    observed = counts[1:] > 0
    unused = [ordered[i] for i in np.flatnonzero(~observed)]
    if unused:  # unused categories of a pandas Categorical: drop from the codes, report as absent
        remap = np.full(len(ordered) + 1, -1, dtype=np.int64)
        remap[1:][observed] = np.arange(int(observed.sum()))
        codes = remap[codes + 1]
        ordered = [ordered[i] for i in np.flatnonzero(observed)]
    return codes, ordered, missing_rows


def _place_missing(
    name: str, codes: Array, ordered: list[str], missing_rows: int, *, missing: str, missing_label: str
) -> tuple[Array, list[str]] | Problem:
    """Give the missing rows a group of their own named ``missing_label``, or return the problem that forbids it."""
    if missing == "error":
        return Problem.for_parameter(
            "sensitive",
            f"{missing_rows} missing values (None, NaN or empty); expected a value in every row",
            "fill them upstream, or report them as a group with missing='group'",
            key=name,
            code=ProblemCode.MISSING,
        )
    if missing_label in ordered:
        return Problem.for_parameter(
            "sensitive",
            "missing_label is also a value of this attribute",
            "choose a missing_label that does not occur in the data",
            key=name,
            code=ProblemCode.CONFLICT,
        )
    return np.where(codes < 0, len(ordered), codes), [*ordered, missing_label]


def _intersections(
    spec: Sequence[Sequence[str]] | Literal["all"] | None, names: Sequence[str], problems: list[Problem]
) -> list[tuple[int, ...]]:
    """Attribute index tuples of the requested intersections, in the given order."""
    if spec is None:
        return []
    if isinstance(spec, str):
        if spec != "all":
            problems.append(
                Problem.for_parameter(
                    "intersections",
                    "expected 'all', None or a list of lists of attribute names",
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            return []
        return [c for r in range(2, len(names) + 1) for c in itertools.combinations(range(len(names)), r)]
    out: list[tuple[int, ...]] = []
    seen: set[frozenset[int]] = set()
    for i, item in enumerate(spec):
        where = f"intersections[{i}]"
        if isinstance(item, str) or not isinstance(item, Sequence):
            problems.append(
                Problem(
                    where,
                    "expected a list of attribute names",
                    parameter="intersections",
                    key=str(i),
                    code=ProblemCode.WRONG_TYPE,
                )
            )
            continue
        unknown = [p for p in item if p not in names]
        if unknown:
            problems.append(
                Problem(
                    where,
                    f"{len(unknown)} names are not keys of sensitive",
                    parameter="intersections",
                    key=str(i),
                    code=ProblemCode.UNKNOWN_NAME,
                )
            )
            continue
        index = tuple(names.index(p) for p in item)
        if len(index) < 2 or len(set(index)) != len(index):
            problems.append(
                Problem(
                    where,
                    "expected at least 2 different attribute names",
                    parameter="intersections",
                    key=str(i),
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            continue
        if frozenset(index) in seen:
            problems.append(
                Problem(
                    where,
                    "repeats an earlier intersection",
                    parameter="intersections",
                    key=str(i),
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            continue
        seen.add(frozenset(index))
        out.append(index)
    return out


def _kind(value: object) -> str:
    """Name the type of a value, for a message."""
    return type(value).__name__


def _check_options(
    *,
    threshold: object,
    top_k: object,
    precision_at_k_share: object,
    n_boot: object,
    confidence: object,
    seed: object,
    min_group_size: object,
    min_events: object,
    missing: object,
    missing_label: object,
    score_bins: object,
    has_scores: bool,
    has_decisions: bool,
    problems: list[Problem],
) -> None:
    """Record every problem with the keyword arguments (names, expectations, what was found)."""
    _check_decision_rule(threshold, top_k, has_scores=has_scores, has_decisions=has_decisions, problems=problems)
    for name, share in (("top_k", top_k), ("precision_at_k_share", precision_at_k_share)):
        if share is not None and not (_is_real(share) and 0 < cast(float, share) <= 1):
            found = "a number outside it" if _is_real(share) else _kind(share)
            problems.append(
                Problem.for_parameter(
                    name, f"expected a share of rows in (0, 1], found {found}", code=ProblemCode.INVALID_VALUE
                )
            )
    if not (_is_real(confidence) and 0 < cast(float, confidence) < 1):
        found = "a number outside it" if _is_real(confidence) else _kind(confidence)
        problems.append(
            Problem.for_parameter(
                "confidence", f"expected a level in (0, 1), found {found}", code=ProblemCode.INVALID_VALUE
            )
        )
    for name, value, least in (
        ("n_boot", n_boot, 0),
        ("seed", seed, 0),
        ("min_group_size", min_group_size, 1),
        ("min_events", min_events, 1),
        ("score_bins", score_bins, 2),
    ):
        if not (_is_int(value) and cast(int, value) >= least):
            problems.append(
                Problem.for_parameter(
                    name, f"expected an integer >= {least}, found {_kind(value)}", code=ProblemCode.WRONG_TYPE
                )
            )
    _check_missing_options(missing, missing_label, problems)


def _check_decision_rule(
    threshold: object, top_k: object, *, has_scores: bool, has_decisions: bool, problems: list[Problem]
) -> None:
    """Record the problems of the decision rule: scores with a threshold or a top-k share, or decisions."""
    if not has_scores and not has_decisions:
        problems.append(
            Problem.for_parameter(
                "scores", "give scores (with threshold or top_k) or decisions", code=ProblemCode.CONFLICT
            )
        )
    if has_decisions:
        if threshold is not None or top_k is not None:
            problems.append(
                Problem.for_parameter(
                    "threshold", "decisions are given, so threshold and top_k must be None", code=ProblemCode.CONFLICT
                )
            )
    elif has_scores and (threshold is None) == (top_k is None):
        problems.append(
            Problem.for_parameter("threshold", "expected exactly one of threshold and top_k", code=ProblemCode.CONFLICT)
        )
    if threshold is not None and not _is_real(threshold):
        problems.append(
            Problem.for_parameter(
                "threshold", f"expected a finite real number, found {_kind(threshold)}", code=ProblemCode.WRONG_TYPE
            )
        )
    elif threshold is not None and not math.isfinite(cast(float, threshold)):
        problems.append(
            Problem.for_parameter(
                "threshold",
                "expected a finite real number, found a non-finite one (NaN or infinite)",
                code=ProblemCode.INVALID_VALUE,
            )
        )


def _check_missing_options(missing: object, missing_label: object, problems: list[Problem]) -> None:
    """Record the problems of ``missing`` and ``missing_label``, for all attributes or per attribute."""
    for key, policy in missing.items() if isinstance(missing, Mapping) else [(None, missing)]:
        if policy not in ("error", "group"):
            where = "missing" if key is None else f"missing[{key!r}]"
            problems.append(
                Problem(
                    where,
                    "expected 'error' or 'group'",
                    parameter="missing",
                    key=key or "",
                    code=ProblemCode.INVALID_VALUE,
                )
            )
    for key, label in missing_label.items() if isinstance(missing_label, Mapping) else [(None, missing_label)]:
        if not (isinstance(label, str) and label.strip()):
            where = "missing_label" if key is None else f"missing_label[{key!r}]"
            problems.append(
                Problem(
                    where,
                    "expected a non-empty string",
                    parameter="missing_label",
                    key=key or "",
                    code=ProblemCode.INVALID_VALUE,
                )
            )


@dataclass(frozen=True)
class _Inputs:
    """The audit's arguments, validated and converted: arrays, encoded attributes, plain options."""

    y: Array  # (N,) bool labels
    s: Array | None  # (N,) float64 scores
    d_given: Array | None  # (N,) bool decisions made elsewhere
    attributes: list[_Attribute]
    crossings: list[tuple[int, ...]]
    reference: Mapping[str, str]
    compare: Mapping[str, frozenset[str]]  # per single attribute: the groups its comparisons are restricted to
    probabilities: bool  # whether the scores are read as probabilities (True without scores)
    threshold: float | None
    top_k: float | None
    share: float  # of precision at k
    n_boot: int
    confidence: float
    seed: int
    min_group_size: int
    min_events: int
    score_bins: int


def _validate(
    *,
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike | None,
    decisions: npt.ArrayLike | None,
    sensitive: Mapping[str, npt.ArrayLike] | pd.DataFrame,
    threshold: float | None,
    top_k: float | None,
    precision_at_k_share: float | None,
    intersections: Sequence[Sequence[str]] | Literal["all"] | None,
    reference: Mapping[str, str] | None,
    compare: Mapping[str, Sequence[str]] | None,
    categories: Mapping[str, Sequence[object]] | None,
    scores_are_probabilities: bool | None,
    n_boot: int,
    confidence: float,
    seed: int,
    min_group_size: int,
    min_events: int,
    missing: Literal["error", "group"] | Mapping[str, Literal["error", "group"]],
    missing_label: str | Mapping[str, str],
    score_bins: int,
) -> _Inputs:
    """Check every argument of :func:`audit` at once and convert them; one error with every problem found."""
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
    n_rows, y, s, d_given = _arrays(y_true, scores, decisions, problems)
    attributes, names = _attributes(sensitive, n_rows, categories, missing, missing_label, problems)
    attributes = _groupings(attributes, n_rows, min_group_size, problems)
    crossings = _intersections(intersections, names, problems)
    crossing_names = [" & ".join(names[j] for j in ix) for ix in crossings]
    _check_reference_names(reference, names + crossing_names, problems)
    compared = _compare_in_data(
        _compare_names(compare, names, crossing_names, problems),
        {a.name: a.groups + a.absent for a in attributes},
        problems,
    )
    probabilities = _read_as_probabilities(
        scores_are_probabilities, s, has_scores=scores is not None, problems=problems
    )
    if problems:
        raise DataValidationError(problems)
    assert y is not None and n_rows is not None
    return _Inputs(
        y=y,
        s=s,
        d_given=d_given,
        attributes=attributes,
        crossings=crossings,
        reference=reference or {},
        compare=compared,
        probabilities=probabilities,
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


def _groupings(
    attributes: list[_Attribute], n_rows: int | None, min_group_size: object, problems: list[Problem]
) -> list[_Attribute]:
    """Keep the attributes that group rows; record a problem for each identifier-like one (its values unnamed)."""
    if not n_rows or not _is_int(min_group_size):
        return attributes
    kept = []
    for attribute in attributes:
        problem = identifier_like(attribute.name, len(attribute.groups), n_rows, int(cast(int, min_group_size)))
        if problem is None:
            kept.append(attribute)
        else:
            problems.append(problem)
    return kept


def _arrays(
    y_true: object, scores: object, decisions: object, problems: list[Problem]
) -> tuple[int | None, Array | None, Array | None, Array | None]:
    """Return the rows, and labels, scores and decisions as bool, float64 and bool arrays (None: a problem)."""
    y_raw = _numeric("y_true", y_true, None, problems)
    n_rows = len(y_raw) if y_raw is not None else None
    if n_rows == 0:
        problems.append(
            Problem.for_parameter(
                "y_true",
                "0 rows; the audit needs at least 1 row",
                "check the filters upstream (consent, split)",
                code=ProblemCode.MISSING,
            )
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
                    Problem.for_parameter(
                        "scores",
                        f"{nonfinite} non-finite values (NaN or infinite); expected a finite score per row",
                        code=ProblemCode.INVALID_VALUE,
                    )
                )
                s = None
    d_given: Array | None = None
    if decisions is not None and n_rows is not None:
        d_raw = _numeric("decisions", decisions, n_rows, problems)
        d_given = _binary("decisions", d_raw, problems, "decisions") if d_raw is not None else None
    return n_rows, y, s, d_given


def _attributes(
    sensitive: object,
    n_rows: int | None,
    categories: Mapping[str, Sequence[object]] | None,
    missing: Literal["error", "group"] | Mapping[str, Literal["error", "group"]],
    missing_label: str | Mapping[str, str],
    problems: list[Problem],
) -> tuple[list[_Attribute], list[str]]:
    """Encode the sensitive attributes and list every attribute name given, after recording every problem."""
    items = list(sensitive.items()) if isinstance(sensitive, Mapping | pd.DataFrame) else []
    if not isinstance(sensitive, Mapping | pd.DataFrame):
        problems.append(
            Problem.for_parameter(
                "sensitive",
                f"expected a mapping of attribute name to values, found {type(sensitive).__name__}",
                code=ProblemCode.WRONG_TYPE,
            )
        )
    elif not items:
        problems.append(Problem.for_parameter("sensitive", "expected at least one attribute", code=ProblemCode.MISSING))
    attributes: list[_Attribute] = []
    names = [str(k) for k, _ in items]
    for key, values in items:
        if not isinstance(key, str) or not key.strip() or " & " in key:
            problems.append(
                Problem.for_parameter(
                    "sensitive",
                    "attribute names must be non-empty strings without ' & '",
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            continue
        if categories is not None and key in categories and isinstance(categories[key], str):
            problems.append(
                Problem.for_parameter(
                    "categories", "expected a list of categories, found a string", key=key, code=ProblemCode.WRONG_TYPE
                )
            )
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
                problems.append(
                    Problem.for_parameter(option, "not a key of sensitive", key=key, code=ProblemCode.UNKNOWN_NAME)
                )
    return attributes, names
