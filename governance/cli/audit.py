"""``governance audit``: audit any model's predictions in a file, every group and intersection, with intervals.

The command checks its options and the file's columns, calls :func:`governance.audit.audit`,
and names its own options (``--label converted_90d``) in the problems the audit reports
about its arguments (``y_true``), using the ``parameter`` and ``key`` each problem carries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from governance.cli._app import app, guard, out, output_file, write_json

if TYPE_CHECKING:
    import pandas as pd

    from governance.audit import AuditReport
    from governance.errors import Problem

__all__ = ["audit_command"]

DataOption = Annotated[Path, typer.Option("--data", help="CSV or Parquet file of predictions.", show_default=False)]
LabelOption = Annotated[str, typer.Option("--label", help="Column of the true 0/1 outcome.", show_default=False)]
SensitiveOption = Annotated[
    str, typer.Option("--sensitive", help="Sensitive attribute column(s), comma-separated.", show_default=False)
]
ScoreOption = Annotated[str | None, typer.Option("--score", help="Column of continuous scores.")]
DecisionOption = Annotated[str | None, typer.Option("--decision", help="Column of 0/1 decisions made elsewhere.")]
IntersectionsOption = Annotated[
    bool, typer.Option("--intersections", help="Also audit the full cross of the sensitive attributes.")
]
ThresholdOption = Annotated[float | None, typer.Option("--threshold", help="Decision: score >= T.")]
TopKOption = Annotated[
    float | None, typer.Option("--top-k", help="Decision: the top SHARE of rows by score, in (0, 1].")
]
ReferenceOption = Annotated[
    list[str] | None, typer.Option("--reference", help="Reference group, ATTR=GROUP (repeatable).")
]
CompareOption = Annotated[
    list[str] | None,
    typer.Option(
        "--compare",
        help="Compare only these groups: ATTR=GROUP,GROUP[,...] (repeatable), or GROUP,GROUP with one --sensitive.",
    ),
]
ProbabilitiesOption = Annotated[
    bool | None,
    typer.Option(
        "--scores-are-probabilities/--scores-are-not-probabilities",
        help="Read the scores as probabilities or as ranking scores only (mean score and calibration gap "
        "undefined). Default: probabilities when every score is in [0, 1].",
        show_default=False,
    ),
]
MetricsOption = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        help="Columns of the group tables, comma-separated metric names or short names (fnr, npv...), or 'all'. "
        "Default: selection_rate,tpr,fpr,precision,auc.",
        show_default=False,
    ),
]
PublishMinOption = Annotated[
    int,
    typer.Option(
        "--publish-min-group-size",
        min=1,
        help="Groups with fewer rows are printed and written as 'fewer than K', without count or values.",
    ),
]
BootstrapOption = Annotated[
    int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates, for mean scores (0: none).")
]
ConfidenceOption = Annotated[float, typer.Option("--confidence", help="Interval level.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]
MinGroupSizeOption = Annotated[
    int, typer.Option("--min-group-size", min=1, help="Smaller groups get no verdict (insufficient data).")
]
MinEventsOption = Annotated[
    int,
    typer.Option(
        "--min-events",
        min=1,
        help="A rate is judged only when its denominator (positives, negatives, selected, rows) reaches this.",
    ),
]
PrecisionAtKOption = Annotated[
    float | None, typer.Option("--precision-at-k", help="Share for precision at k (default: --top-k, else 0.1).")
]
MissingOption = Annotated[
    str, typer.Option("--missing", help="Missing sensitive values: 'error' or 'group' (audited as 'unknown').")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write the governance.audit/1 JSON here.", callback=output_file)
]

_LISTED_GROUPS = 50  # an unknown --compare or --reference group: the groups found, listed up to this many

# the option that gives each argument of governance.audit.audit its value
_OPTIONS = {
    "threshold": "--threshold",
    "top_k": "--top-k",
    "precision_at_k_share": "--precision-at-k",
    "confidence": "--confidence",
    "missing": "--missing",
    "reference": "--reference",
    "sensitive": "--sensitive",
    "compare": "--compare",
    "scores_are_probabilities": "--scores-are-probabilities/--scores-are-not-probabilities",
}


@dataclass(frozen=True)
class _Request:
    """What the audit is asked, after the options are checked."""

    label: str
    score: str | None
    decision: str | None
    attributes: list[str]
    references: dict[str, str] = field(default_factory=dict)
    compare: dict[str, list[str]] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()  # the group tables' columns; empty: the default ones


def _split_list(value: str) -> list[str]:
    """Return the non-empty, stripped items of a comma-separated list."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _option(where: str, message: str, code: str) -> Problem:
    """Return a problem with one of the command's own options."""
    from governance.errors import Problem

    return Problem(where, message, code=code, parameter=where)


def _parse_options(
    *,
    label: str,
    score: str | None,
    decision: str | None,
    sensitive: str,
    threshold: float | None,
    top_k: float | None,
    reference: list[str] | None,
    missing: str,
    compare: list[str] | None = None,
    metrics: str | None = None,
) -> _Request:
    """Check the options against each other; raise one ConfigError listing every problem."""
    from governance.errors import ConfigError, ProblemCode

    problems: list[Problem] = []
    if (score is None) == (decision is None):
        problems.append(_option("--score/--decision", "expected exactly one of them", ProblemCode.CONFLICT))
    if decision is not None and (threshold is not None or top_k is not None):
        problems.append(
            _option(
                "--threshold/--top-k", "a decision column needs no decision rule; drop the rule", ProblemCode.CONFLICT
            )
        )
    if score is not None and (threshold is None) == (top_k is None):
        problems.append(_option("--threshold/--top-k", "scores need exactly one decision rule", ProblemCode.CONFLICT))
    if missing not in ("error", "group"):
        problems.append(
            _option("--missing", f"expected 'error' or 'group', found {missing!r}", ProblemCode.INVALID_VALUE)
        )
    references: dict[str, str] = {}
    for item in reference or []:
        attr, sep, group = item.partition("=")
        if not sep or not attr.strip() or not group.strip():
            problems.append(_option("--reference", f"expected ATTR=GROUP, found {item!r}", ProblemCode.INVALID_VALUE))
        else:
            references[attr.strip()] = group.strip()
    attributes = _split_list(sensitive)
    if not attributes:
        problems.append(_option("--sensitive", "expected at least one column name", ProblemCode.MISSING))
    compared = _parse_compare(compare or [], attributes, problems)
    columns = _parse_metrics(metrics, problems)
    if problems:
        raise ConfigError(problems)
    return _Request(label, score, decision, attributes, references, compared, columns)


def _parse_compare(items: list[str], attributes: list[str], problems: list[Problem]) -> dict[str, list[str]]:
    """Read ``--compare ATTR=A,B`` (repeatable), or ``--compare A,B`` when one attribute is audited."""
    from governance.errors import ProblemCode

    out: dict[str, list[str]] = {}
    for item in items:
        attr, sep, groups = item.partition("=")
        if not sep:
            if len(attributes) != 1:
                problems.append(
                    _option(
                        "--compare",
                        f"expected ATTR=GROUP,GROUP as --sensitive names {len(attributes)} attributes, found {item!r}",
                        ProblemCode.INVALID_VALUE,
                    )
                )
                continue
            attr, groups = attributes[0], item
        attr = attr.strip()
        named = list(dict.fromkeys(_split_list(groups)))
        if not attr or len(named) < 2:
            problems.append(
                _option(
                    "--compare",
                    f"expected at least 2 groups, as ATTR=GROUP,GROUP, found {item!r}",
                    ProblemCode.INVALID_VALUE,
                )
            )
        elif attr in out:
            problems.append(_option("--compare", f"{attr!r} is given twice; give it once", ProblemCode.CONFLICT))
        else:
            out[attr] = named
    return out


def _parse_metrics(value: str | None, problems: list[Problem]) -> tuple[str, ...]:
    """Read ``--metrics``: metric names or their short names, or ``all``; empty for the default columns."""
    from governance.cli._tables import AUDIT_COLUMNS, METRIC_SHORT_NAMES
    from governance.errors import ProblemCode

    if value is None:
        return ()
    names = [name.lower() for name in _split_list(value)]
    if names == ["all"]:
        return tuple(AUDIT_COLUMNS)
    chosen = [METRIC_SHORT_NAMES.get(name, name) for name in names]
    unknown = [name for name, metric in zip(names, chosen, strict=True) if metric not in AUDIT_COLUMNS]
    if unknown or not names:
        shorts = ", ".join(f"{short} ({metric})" for short, metric in METRIC_SHORT_NAMES.items())
        found = f"unknown {', '.join(map(repr, unknown))}" if unknown else "nothing"
        problems.append(
            _option(
                "--metrics",
                f"expected 'all' or a comma-separated list of {', '.join(AUDIT_COLUMNS)}, or short names "
                f"{shorts}; found {found}",
                ProblemCode.INVALID_VALUE,
            )
        )
        return ()
    return tuple(dict.fromkeys(chosen))


def _check_columns(frame: pd.DataFrame, request: _Request, *, data: Path, min_group_size: int) -> None:
    """Refuse columns the file does not have, personal data as audit groups, and identifier-like groupings.

    Checked before any group is named (an error listing groups, a table): an identifier
    or a name as sensitive attribute would publish every row's decision and outcome.
    """
    from governance.errors import DataValidationError, PrivacyError, Problem, ProblemCode
    from governance.privacy import identifier_like, looks_like_pii

    wanted = {
        "--label": [request.label],
        "--score": [request.score] if request.score else [],
        "--decision": [request.decision] if request.decision else [],
        "--sensitive": request.attributes,
    }
    unknown = [
        Problem(
            option,
            f"no column {column!r} in {data.name}; expected one of the file's {len(frame.columns)} columns",
            code=ProblemCode.UNKNOWN_NAME,
            parameter=option,
            key=column,
        )
        for option, columns in wanted.items()
        for column in columns
        if column not in frame.columns
    ]
    if unknown:
        raise DataValidationError(unknown)
    flagged = [
        f"--sensitive {name}: its values look like {kind}"
        for name in request.attributes
        if (kind := looks_like_pii(frame[name]))
    ]
    if flagged:
        raise PrivacyError(
            "refusing personal data as audit groups: " + "; ".join(flagged),
            code=ProblemCode.PERSONAL_DATA,
            parameter="--sensitive",
        )
    refused = [
        problem
        for name in request.attributes
        if (problem := identifier_like(name, int(frame[name].nunique()), len(frame), min_group_size)) is not None
    ]
    if refused:
        raise DataValidationError([_named_for_the_command(p, request) for p in refused])


def _check_publication(publish_min_group_size: int, min_group_size: int) -> None:
    """Refuse a publication threshold above the judged one: a withheld group would still shape the disparities."""
    from governance.errors import ConfigError, Problem, ProblemCode

    if publish_min_group_size > min_group_size:
        where = "--publish-min-group-size"
        raise ConfigError(
            [
                Problem(
                    where,
                    f"expected at most --min-group-size ({min_group_size}), found {publish_min_group_size}",
                    f"raise --min-group-size to at least {publish_min_group_size}: a group too small to publish "
                    "must be too small to judge, or its values could be read back from the disparities",
                    code=ProblemCode.CONFLICT,
                    parameter=where,
                )
            ]
        )


def _groups_found(values: pd.Series, missing: str) -> list[str]:
    """Return the groups of one column, named as the audit names them (blank and NaN are missing)."""
    import pandas as pd

    uniques = list(pd.unique(values))
    present = [v for v in uniques if not (pd.isna(v) or (isinstance(v, str) and not v.strip()))]
    try:
        present.sort()
    except TypeError:
        present.sort(key=str)
    names = [str(v) for v in present]
    if missing == "group" and len(present) < len(uniques):
        names.append("unknown")
    return names


def _check_groups(frame: pd.DataFrame, request: _Request, *, missing: str) -> None:
    """Refuse a --compare or --reference group the column does not have, listing the groups it has.

    Group names are not personal data (the columns were checked for it), and a table prints them anyway.
    """
    from governance.errors import ConfigError, ProblemCode

    wanted = [("--compare", attr, groups) for attr, groups in request.compare.items()]
    wanted += [("--reference", attr, [group]) for attr, group in request.references.items()]
    problems: list[Problem] = []
    for option, attr, groups in wanted:
        if attr not in request.attributes:
            continue  # an intersection, or not audited: the audit says so
        found = _groups_found(frame[attr], missing)
        unknown = [g for g in groups if g not in found]
        if unknown:
            listed = ", ".join(found[:_LISTED_GROUPS]) + (
                f" and {len(found) - _LISTED_GROUPS} more" if len(found) > _LISTED_GROUPS else ""
            )
            problem = _option(
                f"{option} {attr}",
                f"no group {', '.join(map(repr, unknown))} in {attr}; expected one of the {len(found)} groups "
                f"found: {listed}",
                ProblemCode.UNKNOWN_NAME,
            )
            problems.append(problem)
    if problems:
        raise ConfigError(problems)


def _check_threshold(scores: pd.Series, threshold: float, *, probabilities: bool | None) -> None:
    """Refuse a threshold outside the scores' range: it is almost always a typo (5 for 0.5)."""
    import numpy as np
    import pandas as pd

    from governance.errors import DataValidationError, ProblemCode

    values = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return  # the audit reports the scores themselves
    message = ""
    unit = values.min() >= 0.0 and values.max() <= 1.0
    if unit and probabilities is not False and not 0.0 <= threshold <= 1.0:
        message = f"expected a threshold in [0, 1] as the scores are probabilities, found {threshold:g}"
    elif threshold > values.max():
        message = f"{threshold:g} is above every score, so it selects no row"
    elif threshold <= values.min():
        message = f"{threshold:g} is at or below every score, so it selects every row"
    if message:
        raise DataValidationError([_option("--threshold", message, ProblemCode.INVALID_VALUE)])


def _named_for_the_command(problem: Problem, request: _Request) -> Problem:
    """Locate the problem at the command's option (``--label converted_90d``), not the audit's argument."""
    from governance.errors import Problem

    columns = {"y_true": f"--label {request.label}", "scores": f"--score {request.score}"}
    columns["decisions"] = f"--decision {request.decision}"
    parameter, key = problem.parameter, problem.key  # every problem of the audit's inputs names both
    if parameter in columns:
        where = columns[parameter]
    elif parameter in ("sensitive", "reference", "compare"):
        where = _OPTIONS[parameter] + (f" {key}" if key else "")
    else:
        where = _OPTIONS.get(parameter, problem.location)
    return Problem(where, problem.message, problem.fix, code=problem.code, parameter=parameter, key=key)


@contextmanager
def _problems_named_for_the_command(request: _Request) -> Iterator[None]:
    """Re-raise the audit's data problems located at the command's options."""
    from governance.errors import DataValidationError

    try:
        yield
    except DataValidationError as exc:
        raise DataValidationError([_named_for_the_command(p, request) for p in exc.problems]) from exc


def _audit_frame(
    frame: pd.DataFrame,
    request: _Request,
    *,
    threshold: float | None,
    top_k: float | None,
    precision_at_k: float | None,
    intersections: bool,
    bootstrap: int,
    confidence: float,
    seed: int,
    min_group_size: int,
    min_events: int,
    missing: str,
    probabilities: bool | None = None,
) -> AuditReport:
    """Audit the file's columns with the command's settings."""
    from governance.audit import audit

    return audit(
        frame[request.label].to_numpy(),
        None if request.score is None else frame[request.score].to_numpy(),
        decisions=None if request.decision is None else frame[request.decision].to_numpy(),
        sensitive={name: frame[name].to_numpy() for name in request.attributes},
        threshold=threshold,
        top_k=top_k,
        precision_at_k_share=precision_at_k,
        intersections="all" if intersections and len(request.attributes) > 1 else None,
        reference=request.references,
        compare=request.compare,
        scores_are_probabilities=probabilities,
        n_boot=bootstrap,
        confidence=confidence,
        seed=seed,
        min_group_size=min_group_size,
        min_events=min_events,
        missing="group" if missing == "group" else "error",
    )


@app.command("audit")
def audit_command(
    data: DataOption,
    label: LabelOption,
    sensitive: SensitiveOption,
    score: ScoreOption = None,
    decision: DecisionOption = None,
    intersections: IntersectionsOption = False,
    threshold: ThresholdOption = None,
    top_k: TopKOption = None,
    reference: ReferenceOption = None,
    compare: CompareOption = None,
    probabilities: ProbabilitiesOption = None,
    bootstrap: BootstrapOption = 1000,
    confidence: ConfidenceOption = 0.95,
    seed: SeedOption = 0,
    min_group_size: MinGroupSizeOption = 30,
    min_events: MinEventsOption = 10,
    precision_at_k: PrecisionAtKOption = None,
    missing: MissingOption = "error",
    metrics: MetricsOption = None,
    publish_min_group_size: PublishMinOption = 10,
    out_path: OutOption = None,
) -> None:
    """Audit any model's predictions in a file: every group and intersection, with intervals."""
    from governance.cli._tables import print_audit
    from governance.data import load_table

    with guard():
        request = _parse_options(
            label=label,
            score=score,
            decision=decision,
            sensitive=sensitive,
            threshold=threshold,
            top_k=top_k,
            reference=reference,
            missing=missing,
            compare=compare,
            metrics=metrics,
        )
        _check_publication(publish_min_group_size, min_group_size)
        frame = load_table(data)
        _check_columns(frame, request, data=data, min_group_size=min_group_size)
        _check_groups(frame, request, missing=missing)
        if score is not None and threshold is not None:
            _check_threshold(frame[score], threshold, probabilities=probabilities)
        with _problems_named_for_the_command(request):
            report = _audit_frame(
                frame,
                request,
                threshold=threshold,
                top_k=top_k,
                precision_at_k=precision_at_k,
                intersections=intersections,
                bootstrap=bootstrap,
                confidence=confidence,
                seed=seed,
                min_group_size=min_group_size,
                min_events=min_events,
                missing=missing,
                probabilities=probabilities,
            )
        print_audit(report, metrics=request.metrics or None, publish_min=publish_min_group_size)
        if out_path is not None:
            write_json(out_path, report.to_dict(publish_min_group_size=publish_min_group_size))
            out.print(f"wrote {out_path}")
