"""The ``governance`` command line: a thin typer shell over the library.

Each command parses its options, calls the library, prints, and maps the
outcome to an exit code: 0 pass, 1 the gate failed, 2 bad input or config,
3 infrastructure (MLflow, storage), 4 security refusal, 70 internal error
(a bug: please report it with the output of ``--debug``). Expected errors
print one or two lines to stderr and no traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from governance import __version__
from governance.errors import GovernanceError
from governance.privacy import redact

if TYPE_CHECKING:
    from governance.audit import AuditReport, MetricValue
    from governance.gate import GateReport
    from governance.pipeline import AccountReasons, Outcome, RunOutcome
    from governance.subjects import Request

__all__ = ["app", "main"]

INTERNAL_ERROR = 70

app = typer.Typer(
    name="governance",
    help="Make account-scoring models fair, explainable and accountable before they are used.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
data_app = typer.Typer(help="Generate and check data.", no_args_is_help=True)
subject_app = typer.Typer(
    help="Data-subject rights: access, correction, erasure, consent withdrawal (recorded in the ledger).",
    no_args_is_help=True,
)
feedback_app = typer.Typer(help="Stakeholder feedback on a model version, shown on its card.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident ledger of data-subject requests.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(subject_app, name="subject")
app.add_typer(feedback_app, name="feedback")
app.add_typer(ledger_app, name="ledger")


def _console(*, stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # logs and CI: wide enough that tables never truncate names
    return console


out = _console()
err = _console(stderr=True)
_state = {"debug": False}

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The governance YAML config.", show_default=False)]


# control characters and bidi overrides: a name from the data or the config must not rewrite the terminal
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """Text with control characters and bidi overrides replaced by U+FFFD, safe to print."""
    return _UNPRINTABLE.sub("\ufffd", text)


def _version(value: bool) -> None:
    if value:
        out.print(f"governance {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    _state["debug"] = debug


@contextmanager
def _guard() -> Iterator[None]:
    """Turn expected errors into short messages and exit codes; show our warnings as they come."""
    from governance.data import DevelopmentKeyWarning

    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        text = redact(str(message))
        if text in seen:
            return
        seen.add(text)
        if issubclass(category, DevelopmentKeyWarning):
            err.print(f"[bold yellow on red] WARNING [/] [bold yellow]{escape(text)}[/]")
        else:
            err.print(f"[yellow]warning:[/] {escape(category.__name__)}: {escape(text[:300])}")

    with warnings.catch_warnings():
        warnings.simplefilter("always", DevelopmentKeyWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.showwarning = show
        try:
            yield
        except GovernanceError as exc:
            if _state["debug"]:
                raise
            err.print(f"[bold red]error:[/] {escape(redact(str(exc)))}")
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            err.print(
                f"[bold red]internal error[/] (a bug, please report it): {type(exc).__name__}: {redact(str(exc))[:300]}\n"
                "rerun with --debug for the traceback"
            )
            raise typer.Exit(INTERNAL_ERROR) from None


class _Bars:
    """A rich progress bar per pipeline stage, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


# ---------------------------------------------------------------- config


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="The YAML config to check.")]) -> None:
    """Validate a config: print every problem (exit 2) or a summary (exit 0)."""
    from governance.config import load_config

    with _guard():
        config = load_config(path)
        table = Table(title=f"{path}: valid", show_header=False, title_justify="left")
        table.add_row("purpose", config.purpose.intended_use)
        table.add_row("data", str(config.data.path) + (" (generated when missing)" if config.data.generate else ""))
        table.add_row("features", f"{len(config.features)}: {', '.join(config.feature_names)}")
        table.add_row("sensitive (audit only)", ", ".join(config.sensitive.names))
        table.add_row("intersections", ", ".join(" & ".join(i) for i in config.sensitive.intersections) or "none")
        table.add_row(
            "candidates",
            ", ".join(
                f"{c.name} ({c.kind}{' + ' + c.mitigation.kind if c.mitigation else ''})" for c in config.candidates
            ),
        )
        rule = (
            f"top {config.audit.top_k:.0%} of accounts"
            if config.audit.top_k is not None
            else f"score >= {config.audit.threshold}"
        )
        table.add_row("decision rule", rule)
        table.add_row("policy", f"{len(config.policy.rules)} rule(s), decision by {config.policy.decision}")
        table.add_row("mlflow", config.mlflow.tracking_uri or "$MLFLOW_TRACKING_URI or the embedded store")
        out.print(table)


# ---------------------------------------------------------------- data


@data_app.command("generate")
def data_generate(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Target .csv or .parquet file.", show_default=False)],
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Number of accounts.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random draw.")] = 0,
    bias: Annotated[
        float, typer.Option("--bias", min=0.0, help="Historical attention bias (0 = none, 1 = strong).")
    ] = 0.0,
) -> None:
    """Generate synthetic ABM accounts with a known, tunable bias."""
    from governance.datasets import write_accounts
    from governance.errors import ConfigError, Problem

    with _guard():
        if out_path.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(
                [Problem("--out", f"expected a path ending in .csv or .parquet, found {out_path.name!r}")]
            )
        start = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task("generate accounts", total=rows)
            write_accounts(
                out_path,
                rows=rows,
                seed=seed,
                bias=bias,
                progress=lambda done, _t: progress.update(task, completed=done),
            )
        seconds = time.perf_counter() - start
        out.print(f"wrote {rows:,} accounts to {out_path} in {seconds:.1f} s (seed {seed}, bias {bias})")


@data_app.command("check")
def data_check(config_path: ConfigOption) -> None:
    """Load and validate the configured data; print what a run would use.

    Per sensitive attribute and configured intersection, one table of every
    group's rows, positives and negatives on each side of the split, then the
    groups too small to be judged on the test split (the audited one).
    """
    from governance.config import load_config
    from governance.data import prepare, split_group_counts

    with _guard():
        config = load_config(config_path)
        dataset = prepare(config)
        out.print(Text(_printable(dataset.source), style="bold"))
        out.print(f"rows in file: {dataset.rows_in:,}; used: {dataset.rows_used:,}")
        if dataset.excluded:
            out.print(
                "excluded before use (consent): " + ", ".join(f"{k} {v:,}" for k, v in dataset.excluded.items()),
                markup=False,
            )
        if dataset.dropped_columns:
            dropped = ", ".join(f"{k} ({v})" for k, v in dataset.dropped_columns.items())
            out.print(_printable(f"dropped columns (minimization): {dropped}"), markup=False)
        out.print(_printable(f"features ({len(dataset.features)}): {', '.join(dataset.features)}"), markup=False)
        counts = [int((dataset.split == code).sum()) for code in (0, 1, 2)]
        out.print(f"split: train {counts[0]:,}, validation {counts[1]:,}, test {counts[2]:,}")
        out.print(f"fingerprint: sha256 {dataset.fingerprint}")
        sensitive = config.sensitive
        out.print(
            f"groups (audit only): rows / positives / negatives per split; judged on test when a group has at "
            f"least {sensitive.min_group_size:,} rows (min_group_size) and a rate's denominator at least "
            f"{sensitive.min_events:,} events (min_events)",
            markup=False,
        )
        for scope in split_group_counts(dataset, sensitive=sensitive):
            kind = "sensitive attribute" if len(scope.parts) == 1 else "intersection"
            table = Table(title=Text(_printable(f"{kind} {scope.name}")), title_justify="left")
            table.add_column("group", overflow="fold")
            for side in ("train", "validation", "test"):
                table.add_column(f"{side} rows / pos / neg", justify="right", no_wrap=True)
            table.add_column("on test")
            for g in scope.groups:
                if g.declared_absent:
                    status = Text("declared, absent from the data", style="yellow")
                elif g.insufficient:
                    short = ", ".join(f.what for f in g.shortfalls)
                    status = Text(f"insufficient: too few {short}", style="bold yellow")
                else:
                    status = Text("ok")
                table.add_row(
                    Text(_printable(g.group)),
                    *(f"{c.rows:,} / {c.positives:,} / {c.negatives:,}" for c in (g.train, g.validation, g.test)),
                    status,
                )
            out.print(table)
            for g in scope.groups:
                if g.insufficient and not g.declared_absent:
                    reasons = "; ".join(s.message for s in g.shortfalls)
                    out.print(_printable(f"  {scope.name} = {g.group}: insufficient on test: {reasons}"), markup=False)


# ---------------------------------------------------------------- run


@contextmanager
def _sigterm_ends_runs() -> Iterator[None]:
    """SIGTERM raises SystemExit(143), so open MLflow runs end KILLED instead of staying RUNNING."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live on the main thread
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_outcome(outcome: Outcome, *, data_path: Path, start: float | None) -> None:
    from governance.registry import safe_uri

    if outcome.data_generated:
        out.print(f"generated {data_path}")
    reasons = ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in sorted(outcome.excluded.items()))
    out.print(
        f"data: {outcome.rows_used:,} of {outcome.rows_in:,} accounts used; excluded "
        f"{sum(outcome.excluded.values()):,}" + (f" ({reasons})" if reasons else ""),
        markup=False,
    )
    table = Table(title="candidates", title_justify="left")
    table.add_column("candidate", no_wrap=True)
    for column in ("estimator", "mitigation", "reads sensitive"):
        table.add_column(column, overflow="fold")
    for column in ("validation AUC", "test AUC"):
        table.add_column(column, justify="right", no_wrap=True)
    for c in outcome.candidates:
        table.add_row(
            c.name,
            c.kind,
            (c.mitigation or "none") + (f" ({c.constraint})" if c.constraint else ""),
            "yes" if c.uses_sensitive_at_inference else "no",
            f"{c.validation_auc:.3f}",
            f"{c.test_auc:.3f}",
        )
    out.print(table)
    for c in outcome.candidates:
        if c.uses_sensitive_at_inference:
            out.print(
                f"note: {c.name} reads {c.attribute} when it scores ({c.mitigation}); "
                "using a sensitive attribute at decision time is disparate treatment in many jurisdictions"
            )
    out.print(f"MLflow run {outcome.run_id} at {safe_uri(outcome.tracking_uri)}")
    for c in outcome.candidates:
        out.print(f"test AUC {c.name}: {c.test_auc:.4f}")
    if start is not None:
        out.print(f"done in {time.perf_counter() - start:.1f} s")


@app.command("run")
def run_command(config_path: ConfigOption) -> None:
    """Run the whole governance loop: data, candidates, audit, explanations, cards, gate, registry, promotion.

    Exit 0 when a candidate passed the gate (it becomes champion, or candidate
    while approvals are missing), 1 when none passed.
    """
    from governance.config import load_config
    from governance.pipeline import run

    with _guard(), _sigterm_ends_runs():
        config = load_config(config_path)
        start = time.perf_counter()
        with _progress() as progress:
            result = run(config, progress=_Bars(progress))
        _print_outcome(result.training, data_path=config.data.path, start=None)
        _print_cards(result, reports=config.output.reports)
        out.print(f"done in {time.perf_counter() - start:.1f} s")
        if not result.passed:
            err.print("[bold red]gate:[/] no candidate passed; no champion was chosen (see the cards for why)")
            raise typer.Exit(1)


def _print_cards(result: RunOutcome, *, reports: Path) -> None:
    table = Table(title="audit and gate (test split)", title_justify="left")
    table.add_column("candidate", no_wrap=True)
    table.add_column("version", justify="right")
    table.add_column("test AUC", justify="right")
    table.add_column("largest demographic parity difference", justify="right")
    table.add_column("verdict")
    colour = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for c in result.cards:
        verdict = Text(c.verdict, style=f"bold {colour.get(c.verdict, '')}".strip())
        marker = f" ({result.alias})" if c.name == result.chosen and result.alias else ""
        table.add_row(
            Text(c.name + marker),
            str(c.version),
            "n/a" if c.test_auc is None else f"{c.test_auc:.3f}",
            "n/a" if c.worst_disparity is None else f"{c.worst_disparity:.3f}",
            verdict,
        )
    out.print(table)
    if result.chosen is not None:
        chosen = next(c for c in result.cards if c.name == result.chosen)
        out.print(f"{result.alias}: {chosen.name} (version {chosen.version}); card: {chosen.card_html}", markup=False)
        if result.previous_champion is not None:
            out.print(f"previous_champion: version {result.previous_champion}")
    if result.why:
        out.print(_printable(f"why: {result.why}"), markup=False)  # rule names come from the policy file: never markup
    out.print(f"cards: {reports / 'cards'}; summary: {reports / 'summary.json'}", markup=False)


@app.command("train")
def train_command(config_path: ConfigOption) -> None:
    """Train every candidate of the config and track each in MLflow (one parent run, one nested run each)."""
    from governance.config import load_config
    from governance.pipeline import train

    with _guard(), _sigterm_ends_runs():
        config = load_config(config_path)
        start = time.perf_counter()
        with _progress() as progress:
            outcome = train(config, progress=_Bars(progress))
        _print_outcome(outcome, data_path=config.data.path, start=start)


# ---------------------------------------------------------------- audit


def _mv(value: MetricValue, *, ci: bool = True) -> str:
    """One metric for a terminal table: value and interval, or its status."""
    if value.value is None:
        return value.status.replace("_", " ")
    text = f"{value.value:.3f}"
    if ci and value.ci is not None:
        text += f" [{value.ci[0]:.3f}, {value.ci[1]:.3f}]"
    if value.status != "ok":
        text += " *"
    return text


_GROUP_COLUMNS = (
    ("selection_rate", "selection rate"),
    ("true_positive_rate", "TPR"),
    ("false_positive_rate", "FPR"),
    ("precision", "precision"),
    ("auc", "AUC"),
)


def _print_audit(report: AuditReport) -> None:
    rule = report.decision_rule
    if rule.kind == "top_k":
        how = f"top {rule.top_k:.1%} of accounts (score >= {rule.threshold:.4g}; {rule.selected:,} selected)"
    elif rule.kind == "threshold":
        how = f"score >= {rule.threshold:.4g} ({rule.selected:,} selected)"
    else:
        how = f"given decisions ({rule.selected:,} positive)"
    boot = report.bootstrap
    means = f"{boot.replicates:,} bootstrap replicates for mean scores" if boot.replicates else "no bootstrap"
    intervals = (
        f"{boot.confidence:.0%} intervals (Wilson for rates, DeLong for AUCs, disparities simultaneous "
        f"over their pairs); {means}"
    )
    out.print(Text(f"audit of {report.rows:,} rows", style="bold"), f"; decision: {how}; {intervals}", sep="")

    table = Table(title="overall", title_justify="left")
    table.add_column("metric")
    table.add_column("value [interval]", justify="right")
    for name, value in report.overall.items():
        table.add_row(name, _mv(value))
    out.print(table)

    for attribute in report.attributes:
        table = Table(title=f"by {attribute.name}", title_justify="left")
        table.add_column("group")
        table.add_column("n", justify="right")
        for _, label in _GROUP_COLUMNS:
            table.add_column(label, justify="right")
        for group in (g for g in report.groups if g.attribute == attribute.name):
            row = [
                group.group + ("" if group.status == "ok" else f" ({group.status.replace('_', ' ')})"),
                f"{group.n:,}",
            ]
            row += [_mv(group.metrics[metric]) for metric, _ in _GROUP_COLUMNS]
            table.add_row(*row)
        out.print(table)
        if attribute.absent_groups:
            out.print(f"  declared but absent from the data: {', '.join(attribute.absent_groups)}")

    table = Table(title="fairness metrics", title_justify="left")
    for column in ("attribute", "metric", "value [interval]", "excluded groups"):
        table.add_column(column, justify="right" if column.startswith("value") else "left")
    for item in report.fairness:
        note = item.value.reason if item.value.status != "ok" and item.value.reason else ""
        table.add_row(
            item.attribute,
            item.metric,
            _mv(item.value) + (f" ({note})" if note else ""),
            ", ".join(item.excluded_groups),
        )
    out.print(table)
    out.print(
        "* = insufficient data: below min_group_size, fewer than min_events in the denominator, or not estimable; no verdict rests on it"
    )


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@app.command("audit")
def audit_command(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file of predictions.", show_default=False)],
    label: Annotated[str, typer.Option("--label", help="Column of the true 0/1 outcome.", show_default=False)],
    sensitive: Annotated[
        str, typer.Option("--sensitive", help="Sensitive attribute column(s), comma-separated.", show_default=False)
    ],
    score: Annotated[str | None, typer.Option("--score", help="Column of continuous scores.")] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="Column of 0/1 decisions made elsewhere.")] = None,
    intersections: Annotated[
        bool, typer.Option("--intersections", help="Also audit the full cross of the sensitive attributes.")
    ] = False,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Decision: score >= T.")] = None,
    top_k: Annotated[
        float | None, typer.Option("--top-k", help="Decision: the top SHARE of accounts by score, in (0, 1].")
    ] = None,
    reference: Annotated[
        list[str] | None, typer.Option("--reference", help="Reference group, ATTR=GROUP (repeatable).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates, for mean scores (0: none).")
    ] = 1000,
    confidence: Annotated[float, typer.Option("--confidence", help="Interval level.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    min_group_size: Annotated[
        int, typer.Option("--min-group-size", min=1, help="Smaller groups get no verdict (insufficient data).")
    ] = 30,
    min_events: Annotated[
        int,
        typer.Option(
            "--min-events",
            min=1,
            help="A rate is judged only when its denominator (positives, negatives, selected, rows) reaches this.",
        ),
    ] = 10,
    precision_at_k: Annotated[
        float | None, typer.Option("--precision-at-k", help="Share for precision at k (default: --top-k, else 0.1).")
    ] = None,
    missing: Annotated[
        str, typer.Option("--missing", help="Missing sensitive values: 'error' or 'group' (audited as 'unknown').")
    ] = "error",
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the governance.audit/1 JSON here.")] = None,
) -> None:
    """Audit any model's predictions in a file: every group and intersection, with intervals."""
    from governance.data import load_table
    from governance.errors import ConfigError, DataValidationError, PrivacyError, Problem
    from governance.pipeline import write_json
    from governance.privacy import looks_like_pii

    with _guard():
        problems: list[Problem] = []
        if (score is None) == (decision is None):
            problems.append(Problem("--score/--decision", "expected exactly one of them"))
        if decision is not None and (threshold is not None or top_k is not None):
            problems.append(Problem("--threshold/--top-k", "a decision column needs no decision rule; drop the rule"))
        if score is not None and (threshold is None) == (top_k is None):
            problems.append(Problem("--threshold/--top-k", "scores need exactly one decision rule"))
        if missing not in ("error", "group"):
            problems.append(Problem("--missing", f"expected 'error' or 'group', found {missing!r}"))
        references: dict[str, str] = {}
        for item in reference or []:
            attr, sep, group = item.partition("=")
            if not sep or not attr.strip() or not group.strip():
                problems.append(Problem("--reference", f"expected ATTR=GROUP, found {item!r}"))
            else:
                references[attr.strip()] = group.strip()
        attributes = _split_list(sensitive)
        if not attributes:
            problems.append(Problem("--sensitive", "expected at least one column name"))
        if problems:
            raise ConfigError(problems)

        frame = load_table(data)
        wanted = {"--label": [label], "--score": [score] if score else [], "--decision": [decision] if decision else []}
        wanted["--sensitive"] = attributes
        unknown = [
            Problem(
                option, f"no column {column!r} in {data.name}; expected one of the file's {len(frame.columns)} columns"
            )
            for option, columns in wanted.items()
            for column in columns
            if column not in frame.columns
        ]
        if unknown:
            raise DataValidationError(unknown)
        flagged = [
            f"--sensitive {name}: its values look like {kind}"
            for name in attributes
            if (kind := looks_like_pii(frame[name]))
        ]
        if flagged:
            raise PrivacyError("refusing personal data as audit groups: " + "; ".join(flagged))

        if score is not None and threshold is not None:
            _check_threshold(frame[score], threshold)
        try:
            report = _audit_frame(
                frame,
                label=label,
                score=score,
                decision=decision,
                attributes=attributes,
                threshold=threshold,
                top_k=top_k,
                precision_at_k=precision_at_k,
                intersections=intersections,
                references=references,
                bootstrap=bootstrap,
                confidence=confidence,
                seed=seed,
                min_group_size=min_group_size,
                min_events=min_events,
                missing=missing,
            )
        except DataValidationError as exc:  # name the CLI options, not the library's arguments
            options = {
                "y_true": f"--label {label}",
                "scores": f"--score {score}",
                "decisions": f"--decision {decision}",
                "threshold": "--threshold",
                "top_k": "--top-k",
                "precision_at_k_share": "--precision-at-k",
                "confidence": "--confidence",
                "missing": "--missing",
                "reference": "--reference",
            }
            renamed = []
            for p in exc.problems:
                head, _, rest = p.location.partition("[")
                where = options.get(head, p.location)
                if head == "sensitive":
                    where = "--sensitive" + (f" {rest.rstrip(']').strip(chr(39))}" if rest else "")
                elif head == "reference" and rest:
                    where = f"--reference {rest.rstrip(']').strip(chr(39))}"
                renamed.append(Problem(where, p.message, p.fix))
            raise DataValidationError(renamed) from exc
        _print_audit(report)
        if out_path is not None:
            write_json(out_path, report.to_dict())
            out.print(f"wrote {out_path}")


def _check_threshold(scores: pd.Series, threshold: float) -> None:
    """A threshold outside the scores' range is almost always a typo (5 for 0.5): refuse it."""
    from governance.errors import DataValidationError, Problem

    values = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return  # the audit reports the scores themselves
    if values.min() >= 0.0 and values.max() <= 1.0 and not 0.0 <= threshold <= 1.0:
        raise DataValidationError(
            [
                Problem(
                    "--threshold",
                    f"expected a threshold in [0, 1] as the scores are probabilities, found {threshold:g}",
                )
            ]
        )
    if threshold > values.max():
        raise DataValidationError(
            [Problem("--threshold", f"{threshold:g} is above every score, so it selects no account")]
        )
    if threshold <= values.min():
        raise DataValidationError(
            [Problem("--threshold", f"{threshold:g} is at or below every score, so it selects every account")]
        )


def _audit_frame(
    frame: pd.DataFrame,
    *,
    label: str,
    score: str | None,
    decision: str | None,
    attributes: list[str],
    threshold: float | None,
    top_k: float | None,
    precision_at_k: float | None,
    intersections: bool,
    references: dict[str, str],
    bootstrap: int,
    confidence: float,
    seed: int,
    min_group_size: int,
    min_events: int,
    missing: str,
) -> AuditReport:
    from governance.audit import audit

    return audit(
        frame[label].to_numpy(),
        None if score is None else frame[score].to_numpy(),
        decisions=None if decision is None else frame[decision].to_numpy(),
        sensitive={name: frame[name].to_numpy() for name in attributes},
        threshold=threshold,
        top_k=top_k,
        precision_at_k_share=precision_at_k,
        intersections="all" if intersections and len(attributes) > 1 else None,
        reference=references,
        n_boot=bootstrap,
        confidence=confidence,
        seed=seed,
        min_group_size=min_group_size,
        min_events=min_events,
        missing="group" if missing == "group" else "error",
    )


# ---------------------------------------------------------------- review and promote

ModelVersionOption = Annotated[
    int, typer.Option("--model-version", min=1, help="Version of the registered model.", show_default=False)
]


@app.command("review")
def review_command(
    config_path: ConfigOption,
    model_version: ModelVersionOption,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decides (no e-mail or phone).", show_default=False)],
    note: Annotated[str, typer.Option("--note", help="Why; published on the card.", show_default=False)],
    approve: Annotated[bool, typer.Option("--approve", help="Approve the version.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the version.")] = False,
) -> None:
    """Record a review of a model version: on its card and in its tags (a rejected champion is demoted)."""
    from governance.config import load_config, tracking_uri
    from governance.errors import ConfigError, Problem
    from governance.registry import record_review

    with _guard():
        if approve == reject:
            raise ConfigError([Problem("--approve/--reject", "expected exactly one of them")])
        config = load_config(config_path)
        name = config.mlflow.registered_model
        outcome = record_review(
            tracking_uri(config),
            registered_model=name,
            version=model_version,
            decision="approve" if approve else "reject",
            reviewer=reviewer,
            note=note,
            required_approvals=config.policy.required_approvals,
            timeout=config.mlflow.timeout_seconds,
            retries=config.mlflow.max_retries,
        )
        required = config.policy.required_approvals
        out.print(
            f"recorded {'an approval' if approve else 'a rejection'} of {name} version {model_version} "
            f"by {outcome.review.reviewer} at {outcome.review.at}"
        )
        out.print(
            f"approvals: {len(outcome.approvals)} of {required} required"
            + (f" ({', '.join(outcome.approvals)})" if outcome.approvals else "")
            + (f"; standing rejections: {', '.join(outcome.rejections)}" if outcome.rejections else "")
        )
        out.print(f"card sha256 {outcome.card_sha256}")
        for repair in outcome.repairs:
            out.print(f"demoted: {repair}")


@app.command("promote")
def promote_command(config_path: ConfigOption, model_version: ModelVersionOption) -> None:
    """Make a model version champion after re-checking its gate verdict, card checksums and approvals."""
    from governance.config import load_config, tracking_uri
    from governance.registry import promote

    with _guard():
        config = load_config(config_path)
        name = config.mlflow.registered_model
        result = promote(
            tracking_uri(config),
            registered_model=name,
            version=model_version,
            required_approvals=config.policy.required_approvals,
            timeout=config.mlflow.timeout_seconds,
            retries=config.mlflow.max_retries,
        )
        for repair in result.repairs:
            out.print(f"repaired: {repair}")
        if result.champion != model_version:
            holder = f"version {result.champion}" if result.champion is not None else "no version"
            out.print(
                f"{name} version {model_version} passed every check and was made champion, but a concurrent "
                f"promotion wrote after it: champion is now {holder} (last writer wins)"
            )
        elif not result.changed:
            out.print(f"{name} version {model_version} is already champion; every check passed again")
        else:
            previous = f"version {result.previous_champion}" if result.previous_champion is not None else "none"
            out.print(f"{name} version {model_version} is now champion (previous_champion: {previous})")


# ---------------------------------------------------------------- gate


def _gate_number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _print_gate(report: GateReport, *, policy_source: str) -> None:
    from rich.text import Text

    out.print(
        Text(f"policy: {policy_source}; decision by {report.decided_by}; validity judged on {report.as_of.isoformat()}")
    )
    scopes = [
        r.scope + (f": {r.at}" if r.at else "") + (f" ({r.statistic})" if r.statistic else "") for r in report.rules
    ]
    table = Table(title="gate", title_justify="left")
    # names and scopes stay whole up to a point; the reason takes the rest of the width and wraps
    table.add_column("rule", overflow="fold", min_width=min(48, max(len(r.name) for r in report.rules)))
    table.add_column("scope", overflow="fold", min_width=min(40, max(map(len, scopes))))
    table.add_column("observed", justify="right", no_wrap=True)
    table.add_column("interval", justify="right", no_wrap=True)
    table.add_column("bound", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("reason", overflow="fold", min_width=30)
    colours = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "insufficient_data": "yellow"}
    for rule, scope in zip(report.rules, scopes, strict=True):
        interval = "" if rule.ci is None else f"[{rule.ci[0]:.4g}, {rule.ci[1]:.4g}]"
        verdict = rule.verdict.replace("_", " ")
        if rule.verdict != "pass" and not rule.blocks:
            verdict += " (warn)"
        table.add_row(
            Text(rule.name),  # names and reasons come from the card: never rich markup
            Text(scope),
            _gate_number(rule.observed),
            interval,
            ("<= " if rule.side == "max" else ">= ") + f"{rule.bound:.4g}",
            Text(verdict, style=colours[rule.verdict]),
            Text(rule.reason),
        )
    out.print(table)
    for warning in report.warnings:
        err.print(Text.assemble(("warning: ", "yellow"), warning))
    style = "bold green" if report.passed else "bold red"
    out.print(Text.assemble(("gate ", "bold"), (report.summary(), style)))


def _write_text(path: Path, text: str) -> None:
    """Write a file atomically: a reader sees the old file or the new one, never half of one."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("gate")
def gate_command(
    card: Annotated[Path, typer.Option("--card", help="The card.json to gate.", show_default=False)],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="A policy YAML file (default: the policy the card carries).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write the verdicts as JUnit XML here.")] = None,
    today: Annotated[
        str | None,
        typer.Option("--today", help="Judge the card's validity on this date, YYYY-MM-DD (default: today, UTC)."),
    ] = None,
) -> None:
    """Re-evaluate a card's evidence against a policy, offline: exit 0 pass, 1 fail or inconclusive, 2 bad input."""
    from datetime import date

    from rich.text import Text

    from governance.config import load_policy
    from governance.errors import ConfigError, Problem
    from governance.gate import card_policy, evaluate, junit_xml, read_card, require_pass

    with _guard():
        as_of: date | None = None
        if today is not None:
            try:
                as_of = date.fromisoformat(today)
            except ValueError:
                raise ConfigError([Problem("--today", f"expected a date YYYY-MM-DD, found {today[:40]!r}")]) from None
        document = read_card(card)
        spec = load_policy(policy) if policy is not None else card_policy(document)
        report = evaluate(document, spec, today=as_of)
        _print_gate(report, policy_source=str(policy) if policy is not None else "the card's own")
        if junit is not None:
            _write_text(junit, junit_xml(report))
            out.print(Text(f"wrote {junit}"))
        require_pass(report)


# ---------------------------------------------------------------- explain (issue #5)


def _print_reasons(result: AccountReasons) -> None:
    """One account's score and reasons; its pseudonym only, never its identifier."""
    from governance.explain import ADDITIVITY_TOLERANCE

    explanation, model = result.explanation, result.model
    lines = [
        f"account {explanation.pseudonym} (keyed pseudonym; the identifier is neither stored nor shown)",
        f"model: {model.candidate} ({model.source}); explained by {explanation.method} SHAP in log-odds",
        explanation.score_text,
        "reasons, largest first (contribution to the log-odds of the score):",
    ]
    lines += [
        f"  {i}. {reason.text} ({reason.contribution:+.2f})" for i, reason in enumerate(explanation.reasons, start=1)
    ]
    if not explanation.reasons:
        lines.append("  none: every feature contributes nothing to this account's score")
    if explanation.held_fixed is not None:
        lines.append(
            f"note: this model also reads {explanation.held_fixed} when it scores; it is held fixed at the "
            "account's own value and is never a reason"
        )
    if explanation.additivity_error > ADDITIVITY_TOLERANCE:
        lines.append(
            f"warning: degraded explanation: the contributions miss the model's log-odds by up to "
            f"{explanation.additivity_error:.2g}"
        )
    if not result.data_matches_training:
        lines.append(
            "note: the data is not the data this model was trained on (another fingerprint); "
            "the account is compared with the accounts of the current data"
        )
    for line in lines:
        out.print(line, markup=False, highlight=False)


@app.command("explain")
def explain_command(
    config_path: ConfigOption,
    account: Annotated[
        str, typer.Option("--account", help="The account's identifier, as in the data's id column.", show_default=False)
    ],
    model_version: Annotated[
        int | None, typer.Option("--model-version", min=1, help="A registered model version (default: the champion).")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="A candidate of the latest finished run, instead of a version.")
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the JSON here (default: <output.reports>/explanations/<pseudonym>.json)."),
    ] = None,
) -> None:
    """Why one account got its score: score, percentile and its top reasons in plain words."""
    from governance.config import load_config
    from governance.errors import ConfigError, Problem
    from governance.pipeline import account_reasons, write_json

    with _guard():
        if model_version is not None and candidate is not None:
            raise ConfigError([Problem("--model-version/--candidate", "expected at most one of them, found both")])
        config = load_config(config_path)
        result = account_reasons(config, account, model_version=model_version, candidate=candidate)
        _print_reasons(result)
        target = out_path or config.output.reports / "explanations" / f"{result.explanation.pseudonym}.json"
        write_json(target, result.to_dict())
        out.print(f"wrote {target}", markup=False, highlight=False)


# ---------------------------------------------------------------- data-subject rights (issue #7)

AccountArgument = Annotated[
    str, typer.Argument(help="The account's identifier, as in the data's id column (never stored or printed).")
]


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False)


@subject_app.command("access")
def subject_access(
    account: AccountArgument,
    config_path: ConfigOption,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as an HTML page here.")] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the JSON here (default: <output.reports>/subjects/<pseudonym>/access.json)."),
    ] = None,
) -> None:
    """What is held on an account, its consent, the models trained with it, its score and reasons."""
    from governance.card import render_access_html
    from governance.config import load_config
    from governance.pipeline import write_json
    from governance.subjects import access

    with _guard():
        config = load_config(config_path)
        report = access(config, account)
        document = report.to_dict()
        _say(f"account {report.pseudonym} (keyed pseudonym; the identifier is neither stored nor shown)")
        _say(f"status: {document['status'].replace('_', ' ')}: {document['status_text']}")
        consent = document.get("consent")
        if consent:
            _say(
                f"consent: {'valid' if consent['valid'] else 'not valid'}; lawful basis: "
                f"{consent['lawful_basis'] or 'not recorded'}; recorded at {consent['recorded_at'] or 'unknown'}"
            )
        if document["held"]:
            table = Table(title="held (declared fields only)", title_justify="left")
            for column in ("field", "value", "used for"):
                table.add_column(column, overflow="fold")
            for item in document["held"]:
                value = "unknown" if item["value"] is None else str(item["value"])
                table.add_row(
                    Text(item["field"]),
                    Text(value + (" (corrected)" if item["corrected"] else "")),
                    Text(item["used_for"]),
                )
            out.print(table)
        for use in document["training"]:
            _say(f"model version {use['model_version']} ({use['candidate']}, {use['trained_at']}): {use['used']}")
        score = document.get("score")
        if score:
            _say(f"{score['text']} (model version {score['model_version']})")
            for i, reason in enumerate(score["reasons"], start=1):
                _say(f"  {i}. {reason['text']}")
        else:
            _say(f"score: none ({document['score_note']})")
        target = out_path or config.output.reports / "subjects" / report.pseudonym / "access.json"
        write_json(target, document)
        _say(f"wrote {target}")
        if html is not None:
            _write_text(html, render_access_html(document))
            _say(f"wrote {html}")
        _say(f"recorded as ledger entry {report.entry.seq} (head {report.entry.hash})")


@subject_app.command("correct")
def subject_correct(
    account: AccountArgument,
    config_path: ConfigOption,
    assignments: Annotated[
        list[str],
        typer.Option(
            "--set", help="FIELD=VALUE, repeatable; an empty VALUE records the value as unknown.", show_default=False
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded; never name the account).", show_default=False)
    ],
) -> None:
    """Correct an account's values: validated, recorded in the ledger, used from now on; shows the score change."""
    from governance.config import load_config
    from governance.subjects import correct, parse_assignments

    with _guard():
        wanted = parse_assignments(assignments)
        config = load_config(config_path)
        result = correct(config, account, wanted, reason=reason)
        _say(f"account {result.pseudonym}: corrected {', '.join(result.fields)}")
        _say(f"recorded as ledger entry {result.entry.seq} (head {result.entry.hash})")
        if result.before is not None and result.after is not None:
            _say(f"before: {result.before.text}")
            _say(f"after:  {result.after.text}")
            _say(f"change: {result.after.score - result.before.score:+.4f}")
        else:
            _say(f"score: not shown ({result.note or 'no champion, or the account is not scored'})")


@subject_app.command("erase")
def subject_erase(
    account: AccountArgument,
    config_path: ConfigOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded; never name the account).", show_default=False)
    ],
) -> None:
    """Erase an account: excluded from all later training, scoring and reports; its ledger records purged."""
    from governance.config import load_config
    from governance.subjects import erase

    with _guard():
        config = load_config(config_path)
        result = erase(config, account, reason=reason)
        _print_request(result, what="erased")


@subject_app.command("withdraw-consent")
def subject_withdraw(
    account: AccountArgument,
    config_path: ConfigOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (optional; never name the account).")] = "",
) -> None:
    """Record that an account withdrew its consent: excluded from all later training, scoring and reports."""
    from governance.config import load_config
    from governance.subjects import withdraw_consent

    with _guard():
        config = load_config(config_path)
        result = withdraw_consent(config, account, reason=reason)
        _print_request(result, what="consent withdrawn")


def _print_request(result: Request, *, what: str) -> None:
    _say(f"account {result.pseudonym}: {what}")
    if result.entry is None:
        _say(f"already recorded on {result.earlier}; nothing new recorded")
    else:
        _say(f"recorded as ledger entry {result.entry.seq} (head {result.entry.hash})")
    for removed in result.removed:
        _say(f"deleted report {removed}")
    for version in result.feedback_updated:
        _say(f"removed its feedback from the card of version {version}")
    _say(
        "from now on the account is excluded from training, scoring and reports (counted on the next card); "
        "models trained before keep what they learned until the next `governance run`; delete the row in the "
        "source system of record too"
    )


@feedback_app.command("add")
def feedback_add(
    config_path: ConfigOption,
    model_version: ModelVersionOption,
    text: Annotated[str, typer.Option("--text", help="The feedback (published on the card).", show_default=False)],
    account: Annotated[
        str | None, typer.Option("--account", help="The account it is about (its identifier; never shown).")
    ] = None,
) -> None:
    """Record feedback on a model version; its card lists it from now on."""
    from governance.config import load_config
    from governance.subjects import add_feedback

    with _guard():
        config = load_config(config_path)
        result = add_feedback(config, model_version=model_version, text=text, account_id=account)
        _say(f"recorded feedback F{result.entry.seq} on version {result.version} (ledger head {result.entry.hash})")
        _say(
            f"the card of version {result.version} now lists {result.items} open feedback item(s); card sha256 {result.card_sha256}"
        )
        for path in result.card_files:
            _say(f"wrote {path}")


@ledger_app.command("verify")
def ledger_verify(
    config_path: ConfigOption,
    head: Annotated[
        str | None,
        typer.Option(
            "--head", help="A head hash printed earlier: the ledger must still contain it (detects rollback)."
        ),
    ] = None,
) -> None:
    """Check every entry's hash, seal and link: exit 0 intact, 4 tampered (naming the first bad entry)."""
    from governance.config import load_config
    from governance.errors import PrivacyError
    from governance.subjects import verify_ledger

    with _guard():
        config = load_config(config_path)
        result = verify_ledger(config, expected_head=head)
        for note in result.notes:
            _say(f"note: {note}")
        if not result.ok:
            for problem in result.problems:
                err.print(Text(f"  {problem}"))
            raise PrivacyError(
                f"the ledger fails verification: {len(result.problems)} problem(s); the first bad entry is "
                f"{result.first_bad} ({result.problems[0]})"
            )
        _say(f"ledger intact: {result.entries} entries; head {result.head or '(empty)'}")


# ---------------------------------------------------------------- monitor (issue #7)


def _print_monitoring(document: dict[str, object]) -> None:
    comparison = document["comparison"]
    assert isinstance(comparison, dict)

    def cell(value: dict[str, object]) -> str:
        number = value.get("value")
        ci = value.get("ci")
        text = "undefined" if number is None else f"{float(number):.3f}"  # type: ignore[arg-type]
        if isinstance(ci, list) and len(ci) == 2:
            text += f" [{float(ci[0]):.3f}, {float(ci[1]):.3f}]"
        return text

    table = Table(title="champion card vs new batch", title_justify="left")
    for column in ("metric", "card", "new batch", "change"):
        table.add_column(column, overflow="fold")
    rows = [(r["metric"], r) for r in comparison["performance"]]
    rows += [(f"{r['attribute']}: {r['metric']}", r) for r in comparison["fairness"]]
    for name, row in rows:
        change = row["change"]
        flag = " (outside the new interval)" if row.get("card_value_outside_new_interval") else ""
        table.add_row(
            Text(str(name)), cell(row["card"]), cell(row["new"]), ("n/a" if change is None else f"{change:+.3f}") + flag
        )
    out.print(table)
    drift = document["drift"]
    assert isinstance(drift, dict)
    _say(
        f"drift (PSI): {drift['significant_count']} significant, {drift['moderate_count']} moderate "
        f"(of features and the score, overall and within each group)"
    )
    for d in drift["worst"]:
        where = "overall" if d["attribute"] is None else f"{d['attribute']}={d['group']}"
        noise = f"; chance alone reaches {d['noise']:.3f}" if d.get("noise") else ""
        _say(f"  {d['feature']} ({where}): PSI {d['psi']:.3f}, {d['status']}{noise}")


@app.command("monitor")
def monitor_command(
    config_path: ConfigOption,
    data: Annotated[
        Path, typer.Option("--data", help="The new labelled batch (.csv or .parquet).", show_default=False)
    ],
    demote: Annotated[
        bool, typer.Option("--demote", help="When the champion fails, move champion back to previous_champion.")
    ] = False,
) -> None:
    """Re-audit the champion on a new labelled batch: exit 0 pass, 1 fail or inconclusive."""
    from governance.config import load_config
    from governance.gate import require_pass
    from governance.monitor import monitor

    with _guard(), _sigterm_ends_runs():
        config = load_config(config_path)
        with _progress() as progress:
            outcome = monitor(config, data, demote=demote, progress=_Bars(progress))
        _say(f"champion: version {outcome.version} ({outcome.candidate}); monitoring run {outcome.run_id}")
        _print_monitoring(dict(outcome.document))
        _print_gate(outcome.gate, policy_source="the champion card's own")
        if outcome.document.get("champion_card_expired"):
            err.print("[yellow]warning:[/] the champion's card is past its valid-until date: audit a new version")
        if outcome.demotion is not None:
            for repair in outcome.demotion.repairs:
                _say(f"demoted: {repair}")
        elif outcome.verdict == "fail" and not demote:
            _say("the champion keeps its alias: rerun with --demote to move champion back to previous_champion")
        _say(f"monitoring card: {outcome.folder / 'card.html'}")
        require_pass(outcome.gate)


def main() -> None:
    """Entry point of the ``governance`` console script."""
    app()
