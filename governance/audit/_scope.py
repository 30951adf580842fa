"""What the audit is asked besides its data: the groups to compare and refer to, whether the scores are probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from governance.audit._report import Array
from governance.errors import Problem, ProblemCode


def _check_reference_names(reference: Mapping[str, str] | None, levels: Sequence[str], problems: list[Problem]) -> None:
    """Record every reference given for something not audited (the groups are checked once counted)."""
    for key in reference or {}:
        if key not in levels:
            problems.append(
                Problem.for_parameter(
                    "reference",
                    "not an attribute or intersection being audited",
                    key=key,
                    code=ProblemCode.UNKNOWN_NAME,
                )
            )


def _compare_names(
    compare: object, attributes: Sequence[str], intersections: Sequence[str], problems: list[Problem]
) -> dict[str, tuple[str, ...]]:
    """Return the groups to compare per single attribute, checked for shape (not yet against the data)."""
    if compare is None:
        return {}
    if not isinstance(compare, Mapping):
        problems.append(
            Problem.for_parameter(
                "compare",
                f"expected a mapping of attribute name to a list of group names, found {type(compare).__name__}",
                code=ProblemCode.WRONG_TYPE,
            )
        )
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, groups in compare.items():
        name = str(key)
        if name not in attributes:
            in_crossing = name in intersections
            problems.append(
                Problem.for_parameter(
                    "compare",
                    "an intersection compares the crossings of the groups named for its attributes"
                    if in_crossing
                    else "not an attribute being audited",
                    "name single attributes of sensitive" if in_crossing else "",
                    key=name,
                    code=ProblemCode.INVALID_VALUE if in_crossing else ProblemCode.UNKNOWN_NAME,
                )
            )
            continue
        if isinstance(groups, str) or not isinstance(groups, Sequence) or not all(isinstance(g, str) for g in groups):
            problems.append(
                Problem.for_parameter(
                    "compare",
                    f"expected a list of group names (strings), found {type(groups).__name__}",
                    key=name,
                    code=ProblemCode.WRONG_TYPE,
                )
            )
            continue
        named = tuple(dict.fromkeys(groups))
        if len(named) < 2:
            problems.append(
                Problem.for_parameter(
                    "compare",
                    f"expected at least 2 different group names, found {len(named)}",
                    "a comparison needs two groups; drop the entry to compare every group",
                    key=name,
                    code=ProblemCode.INVALID_VALUE,
                )
            )
            continue
        out[name] = named
    return out


def _compare_in_data(
    compare: Mapping[str, tuple[str, ...]], groups: Mapping[str, Sequence[str]], problems: list[Problem]
) -> dict[str, frozenset[str]]:
    """Check that every group to compare is a group of its attribute (observed or declared).

    The message counts the groups and never names them: they are data values.
    """
    out: dict[str, frozenset[str]] = {}
    for name, named in compare.items():
        if name not in groups:
            continue  # the attribute itself could not be encoded: its problem is recorded
        known = set(groups[name])
        unknown = [g for g in named if g not in known]
        if unknown:
            problems.append(
                Problem.for_parameter(
                    "compare",
                    f"{len(unknown)} of the {len(named)} named groups are not groups of this attribute "
                    f"({len(known)} groups found)",
                    "name groups as they appear in the data (the report lists them)",
                    key=name,
                    code=ProblemCode.UNKNOWN_NAME,
                )
            )
            continue
        out[name] = frozenset(named)
    return out


def _read_as_probabilities(flag: object, s: Array | None, *, has_scores: bool, problems: list[Problem]) -> bool:
    """Whether the scores are probabilities: as said, else whether every score is in [0, 1].

    True without scores (nothing is read as a probability then). Saying True of scores
    outside [0, 1] is a problem, and so is saying anything without scores.
    """
    if flag is not None and not isinstance(flag, bool | np.bool_):
        problems.append(
            Problem.for_parameter(
                "scores_are_probabilities",
                f"expected True, False or None (decide from the scores), found {type(flag).__name__}",
                code=ProblemCode.WRONG_TYPE,
            )
        )
        return True
    if not has_scores:
        if flag is not None:
            problems.append(
                Problem.for_parameter(
                    "scores_are_probabilities",
                    "no scores are given (decisions only), so nothing is read as a probability",
                    "drop it",
                    code=ProblemCode.CONFLICT,
                )
            )
        return True
    if s is None:
        return True  # the scores themselves have a problem, recorded
    outside = int(np.count_nonzero((s < 0.0) | (s > 1.0)))
    if flag is None:
        return outside == 0
    if flag and outside:
        problems.append(
            Problem.for_parameter(
                "scores_are_probabilities",
                f"{outside} scores are outside [0, 1], so they are not probabilities",
                "omit it (or say False) to audit them as ranking scores",
                code=ProblemCode.INVALID_VALUE,
            )
        )
    return bool(flag)
