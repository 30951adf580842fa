"""Every table and printout of the command line: results in, terminal text out.

The printers take the library's results and compute nothing. They print to the stdout
console, which reads no rich markup, so names and values from the data, the config or a card
are always shown as they are; styles are given with ``Text``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.table import Table
from rich.text import Text

from governance.cli._app import err, out, printable, say

if TYPE_CHECKING:
    from governance.audit import AttributeSummary, AuditReport, MetricValue
    from governance.config import GovernanceConfig, SensitiveSpec
    from governance.data import Dataset, ScopeCounts
    from governance.gate import GateReport
    from governance.pipeline import AccountReasons, Outcome, RunOutcome
    from governance.subjects import Request

__all__ = [
    "print_access",
    "print_audit",
    "print_cards",
    "print_config",
    "print_dataset",
    "print_gate",
    "print_monitoring",
    "print_outcome",
    "print_reasons",
    "print_request",
]


# ---------------------------------------------------------------- config and data


def print_config(config: GovernanceConfig, *, path: Path) -> None:
    """Print the summary of a valid config: purpose, data, features, candidates, rule, policy.

    Parameters
    ----------
    config
        The validated config.
    path
        The file it was read from (the table's title).
    """
    table = Table(title=f"{path}: valid", show_header=False, title_justify="left")
    table.add_row("purpose", config.purpose.intended_use)
    table.add_row("data", str(config.data.path) + (" (generated when missing)" if config.data.generate else ""))
    table.add_row("features", f"{len(config.features)}: {', '.join(config.feature_names)}")
    table.add_row("sensitive (audit only)", ", ".join(config.sensitive.names))
    table.add_row("intersections", ", ".join(" & ".join(i) for i in config.sensitive.intersections) or "none")
    table.add_row(
        "candidates",
        ", ".join(f"{c.name} ({c.kind}{' + ' + c.mitigation.kind if c.mitigation else ''})" for c in config.candidates),
    )
    rule = (
        f"top {config.audit.top_k:.0%} of {config.purpose.subjects}"
        if config.audit.top_k is not None
        else f"score >= {config.audit.threshold}"
    )
    table.add_row("decision rule", rule)
    table.add_row("policy", f"{len(config.policy.rules)} rule(s), decision by {config.policy.decision}")
    table.add_row("mlflow", config.mlflow.tracking_uri or "$MLFLOW_TRACKING_URI or the embedded store")
    out.print(table)


def print_dataset(dataset: Dataset, *, sensitive: SensitiveSpec, scopes: tuple[ScopeCounts, ...]) -> None:
    """Print what a run would use: rows, exclusions, features, split, fingerprint, then the groups.

    Parameters
    ----------
    dataset
        The prepared data.
    sensitive
        The config's sensitive attributes (for the thresholds named in the header).
    scopes
        Rows, positives and negatives per group and split, one entry per attribute or intersection.
    """
    out.print(Text(printable(dataset.source), style="bold"))
    out.print(f"rows in file: {dataset.rows_in:,}; used: {dataset.rows_used:,}")
    if dataset.excluded:
        out.print(
            "excluded before use (consent): " + ", ".join(f"{k} {v:,}" for k, v in dataset.excluded.items()),
        )
    if dataset.dropped_columns:
        dropped = ", ".join(f"{k} ({v})" for k, v in dataset.dropped_columns.items())
        out.print(printable(f"dropped columns (minimization): {dropped}"))
    out.print(printable(f"features ({len(dataset.features)}): {', '.join(dataset.features)}"))
    counts = [int((dataset.split == code).sum()) for code in (0, 1, 2)]
    out.print(f"split: train {counts[0]:,}, validation {counts[1]:,}, test {counts[2]:,}")
    out.print(f"fingerprint: sha256 {dataset.fingerprint}")
    out.print(
        f"groups (audit only): rows / positives / negatives per split; judged on test when a group has at "
        f"least {sensitive.min_group_size:,} rows (min_group_size) and a rate's denominator at least "
        f"{sensitive.min_events:,} events (min_events)",
    )
    for scope in scopes:
        _print_scope(scope)


def _print_scope(scope: ScopeCounts) -> None:
    """Print one attribute's or intersection's groups: counts per split, and why a group cannot be judged."""
    kind = "sensitive attribute" if len(scope.parts) == 1 else "intersection"
    table = Table(title=Text(printable(f"{kind} {scope.name}")), title_justify="left")
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
            Text(printable(g.group)),
            *(f"{c.rows:,} / {c.positives:,} / {c.negatives:,}" for c in (g.train, g.validation, g.test)),
            status,
        )
    out.print(table)
    for g in scope.groups:
        if g.insufficient and not g.declared_absent:
            reasons = "; ".join(s.message for s in g.shortfalls)
            out.print(printable(f"  {scope.name} = {g.group}: insufficient on test: {reasons}"))


# ---------------------------------------------------------------- run and train


def print_outcome(outcome: Outcome, *, data_path: Path, start: float | None) -> None:
    """Print a training's data, its candidates' AUCs, the run and its tracking store.

    Parameters
    ----------
    outcome
        What the training returned.
    data_path
        The data file (named when it was generated).
    start
        ``time.perf_counter()`` at the start, to print the duration; ``None`` prints none.
    """
    from governance.registry import safe_uri

    if outcome.data_generated:
        out.print(f"generated {data_path}")
    reasons = ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in sorted(outcome.excluded.items()))
    out.print(
        f"data: {outcome.rows_used:,} of {outcome.rows_in:,} rows used; excluded "
        f"{sum(outcome.excluded.values()):,}" + (f" ({reasons})" if reasons else ""),
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


def print_cards(result: RunOutcome, *, reports: Path) -> None:
    """Print each candidate's card (test AUC, largest disparity, verdict) and the champion chosen.

    Parameters
    ----------
    result
        What the run returned.
    reports
        The reports folder (where the cards and the summary are).
    """
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
        out.print(f"{result.alias}: {chosen.name} (version {chosen.version}); card: {chosen.card_html}")
        if result.previous_champion is not None:
            out.print(f"previous_champion: version {result.previous_champion}")
    if result.why:
        out.print(printable(f"why: {result.why}"))
    out.print(f"cards: {reports / 'cards'}; summary: {reports / 'summary.json'}")


# ---------------------------------------------------------------- audit


def _mv(value: MetricValue, *, ci: bool = True) -> str:
    """Format one metric for a terminal table: value and interval, or its status."""
    if value.value is None:
        return value.status.replace("_", " ")
    text = f"{value.value:.3f}"
    if ci and value.ci is not None:
        text += f" [{value.ci[0]:.3f}, {value.ci[1]:.3f}]"
    if value.status != "ok":
        text += " *"
    return text


#: Every per-group metric a group table can show (all of :data:`governance.metrics.METRICS` but the
#: count, which is the ``n`` column), with its column label, in the order of the document.
AUDIT_COLUMNS: Final[Mapping[str, str]] = {
    "base_rate": "base rate",
    "selection_rate": "selection rate",
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
    "true_negative_rate": "TNR",
    "precision": "precision",
    "negative_predictive_value": "NPV",
    "accuracy": "accuracy",
    "auc": "AUC",
    "mean_score": "mean score",
    "calibration_gap": "calibration gap",
    "precision_at_k": "precision at k",
}
#: The short names ``--metrics`` accepts besides the metric names.
METRIC_SHORT_NAMES: Final[Mapping[str, str]] = {
    "tpr": "true_positive_rate",
    "fpr": "false_positive_rate",
    "fnr": "false_negative_rate",
    "tnr": "true_negative_rate",
    "npv": "negative_predictive_value",
}
DEFAULT_AUDIT_COLUMNS: Final = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "auc")


def _audit_header(report: AuditReport) -> None:
    """Print the audit's size, decision rule and interval methods, in one line."""
    rule = report.decision_rule
    if rule.kind == "top_k":
        how = f"top {rule.top_k:.1%} of rows (score >= {rule.threshold:.4g}; {rule.selected:,} selected)"
    elif rule.kind == "threshold":
        how = f"score >= {rule.threshold:.4g} ({rule.selected:,} selected)"
    else:
        how = f"given decisions ({rule.selected:,} positive)"
    if not report.scores_are_probabilities:
        how += "; scores rank only (not probabilities: mean score and calibration gap undefined)"
    boot = report.bootstrap
    means = f"{boot.replicates:,} bootstrap replicates for mean scores" if boot.replicates else "no bootstrap"
    intervals = (
        f"{boot.confidence:.0%} intervals (Wilson for rates, DeLong for AUCs, disparities simultaneous "
        f"over their pairs); {means}"
    )
    out.print(Text(f"audit of {report.rows:,} rows", style="bold"), f"; decision: {how}; {intervals}", sep="")


def _group_table(
    report: AuditReport, attribute: AttributeSummary, metrics: Sequence[str], publish_min: int
) -> tuple[Table, int]:
    """One attribute's table, a group per row; and how many groups it withholds (fewer than ``publish_min`` rows)."""
    table = Table(title=f"by {attribute.name}", title_justify="left")
    table.add_column("group", overflow="fold")  # names and values wrap, never cut, when the columns are many
    table.add_column("n", justify="right")
    for metric in metrics:
        table.add_column(AUDIT_COLUMNS[metric], justify="right", overflow="fold", min_width=len("undefined"))
    compared = None if attribute.compared_groups is None else set(attribute.compared_groups)
    withheld = 0
    for group in (g for g in report.groups if g.attribute == attribute.name):
        if 0 < group.n < publish_min:
            withheld += 1
            table.add_row(group.group, f"fewer than {publish_min}", *([""] * len(metrics)))
            continue
        notes = [] if group.status == "ok" else [group.status.replace("_", " ")]
        if compared is not None and group.group not in compared:
            notes.append("not compared")
        label = group.group + (f" ({'; '.join(notes)})" if notes else "")
        table.add_row(label, f"{group.n:,}", *(_mv(group.metrics[metric]) for metric in metrics))
    return table, withheld


def print_audit(report: AuditReport, *, metrics: Sequence[str] | None = None, publish_min: int = 10) -> None:
    """Print an audit: overall metrics, one table per attribute, then the fairness metrics.

    Parameters
    ----------
    report
        The audit's result.
    metrics
        The metrics of the group tables, names from :data:`AUDIT_COLUMNS`; default
        :data:`DEFAULT_AUDIT_COLUMNS`.
    publish_min
        A group with at least one row and fewer than this many is printed as "fewer than k",
        without its count or values (``sensitive.publish_min_group_size``).
    """
    _audit_header(report)
    table = Table(title="overall", title_justify="left")
    table.add_column("metric")
    table.add_column("value [interval]", justify="right")
    for name, value in report.overall.items():
        table.add_row(name, _mv(value))
    out.print(table)

    withheld = 0
    for attribute in report.attributes:
        table, hidden = _group_table(report, attribute, metrics or DEFAULT_AUDIT_COLUMNS, publish_min)
        withheld += hidden
        out.print(table)
        if attribute.absent_groups:
            out.print(f"  declared but absent from the data: {', '.join(attribute.absent_groups)}")
        if attribute.compared_groups is not None:
            out.print(
                f"  disparities and fairness metrics compare {len(attribute.compared_groups)} groups only: "
                + ", ".join(attribute.compared_groups)
            )

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
    if withheld:
        out.print(
            f"fewer than {publish_min} = {withheld} group(s) of fewer than {publish_min} rows, shown without "
            "count or values (publish_min_group_size)"
        )


# ---------------------------------------------------------------- gate


def _gate_number(value: float | None) -> str:
    """Format a rule's observed value, or ``undefined``."""
    return "undefined" if value is None else f"{value:.4g}"


def print_gate(report: GateReport, *, policy_source: str) -> None:
    """Print the gate's rule-by-rule table, its warnings (stderr) and its verdict.

    Parameters
    ----------
    report
        The gate's result.
    policy_source
        Where the policy came from (a file, or the card's own), named in the header.
    """
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


# ---------------------------------------------------------------- explain


def print_reasons(result: AccountReasons, *, additivity_tolerance: float) -> None:
    """Print one account's score and reasons; its pseudonym only, never its identifier.

    Parameters
    ----------
    result
        The account's explanation and the model it explains.
    additivity_tolerance
        Above this gap between the contributions and the model's log-odds, the explanation is degraded.
    """
    explanation, model = result.explanation, result.model
    lines = [
        f"{explanation.subject} {explanation.pseudonym} (keyed pseudonym; the identifier is neither stored nor shown)",
        f"model: {model.candidate} ({model.source}); explained by {explanation.method} SHAP in log-odds",
        explanation.score_text,
        "reasons, largest first (contribution to the log-odds of the score):",
    ]
    lines += [
        f"  {i}. {reason.text} ({reason.contribution:+.2f})" for i, reason in enumerate(explanation.reasons, start=1)
    ]
    if not explanation.reasons:
        lines.append(f"  none: every feature contributes nothing to this {explanation.subject}'s score")
    if explanation.held_fixed is not None:
        lines.append(
            f"note: this model also reads {explanation.held_fixed} when it scores; it is held fixed at the "
            f"{explanation.subject}'s own value and is never a reason"
        )
    if explanation.additivity_error > additivity_tolerance:
        lines.append(
            f"warning: degraded explanation: the contributions miss the model's log-odds by up to "
            f"{explanation.additivity_error:.2g}"
        )
    if not result.data_matches_training:
        lines.append(
            "note: the data is not the data this model was trained on (another fingerprint); "
            f"the {explanation.subject} is compared with the {explanation.subjects} of the current data"
        )
    for line in lines:
        say(line)


# ---------------------------------------------------------------- data-subject rights


def print_access(pseudonym: str, document: Mapping[str, Any]) -> None:
    """Print an access report: status, consent, the fields held, training uses, score and reasons.

    Parameters
    ----------
    pseudonym
        The account's keyed pseudonym.
    document
        The access report as plain data (its ``to_dict()``).
    """
    words = document.get("words") or {}
    say(f"{words.get('subject', 'account')} {pseudonym} (keyed pseudonym; the identifier is neither stored nor shown)")
    say(f"status: {document['status'].replace('_', ' ')}: {document['status_text']}")
    consent = document.get("consent")
    if consent:
        say(
            f"consent: {'valid' if consent['valid'] else 'not valid'}; lawful basis: "
            f"{consent['lawful_basis'] or 'not recorded'}; recorded at {consent['recorded_at'] or 'unknown'}"
        )
    if document["held"]:
        table = Table(title="held (declared fields only)", title_justify="left")
        for column in ("field", "value", "used for"):
            table.add_column(column, overflow="fold")
        for item in document["held"]:
            value = "unknown" if item["value"] is None else str(item.get("value_text") or item["value"])
            table.add_row(
                Text(item["field"]),
                Text(value + (" (corrected)" if item["corrected"] else "")),
                Text(item["used_for"]),
            )
        out.print(table)
    for use in document["training"]:
        say(f"model version {use['model_version']} ({use['candidate']}, {use['trained_at']}): {use['used']}")
    score = document.get("score")
    if score:
        say(f"{score['text']} (model version {score['model_version']})")
        for i, reason in enumerate(score["reasons"], start=1):
            say(f"  {i}. {reason['text']}")
    else:
        say(f"score: none ({document['score_note']})")


def print_request(result: Request, *, what: str, subject: str = "account") -> None:
    """Print a recorded erasure or consent withdrawal and what it changed.

    Parameters
    ----------
    result
        The recorded request.
    what
        What was done (``"erased"``, ``"consent withdrawn"``).
    subject
        The config's word for one row (``purpose.subject``).
    """
    say(f"{subject} {result.pseudonym}: {what}")
    if result.entry is None:
        say(f"already recorded on {result.earlier}; nothing new recorded")
    else:
        say(f"recorded as ledger entry {result.entry.seq} (head {result.entry.hash})")
    for removed in result.removed:
        say(f"deleted report {removed}")
    for version in result.feedback_updated:
        say(f"removed its feedback from the card of version {version}")
    for version, deadline in sorted(result.expiring.items()):
        say(
            f"model version {version} learned from this {subject}: it may be used or promoted until {deadline}, "
            "then it is refused; train and promote a version without it before then (`governance run`)"
        )
    say(
        f"from now on the {subject} is excluded from training, scoring and reports (counted on the next card); "
        "delete the row in the source system of record too"
    )


# ---------------------------------------------------------------- monitor


def _monitoring_cell(value: dict[str, object]) -> str:
    """Format a value and its interval, or ``undefined``."""
    number = value.get("value")
    ci = value.get("ci")
    text = "undefined" if number is None else f"{float(number):.3f}"  # type: ignore[arg-type]
    if isinstance(ci, list) and len(ci) == 2:
        text += f" [{float(ci[0]):.3f}, {float(ci[1]):.3f}]"
    return text


def print_monitoring(document: dict[str, object]) -> None:
    """Print the champion card against the new batch, metric by metric, then the drift.

    Parameters
    ----------
    document
        The monitoring card's document (its ``comparison`` and ``drift`` parts).
    """
    comparison = document["comparison"]
    assert isinstance(comparison, dict)
    table = Table(title="champion card vs new batch", title_justify="left")
    for column in ("metric", "card", "new batch", "change"):
        table.add_column(column, overflow="fold")
    rows = [(r["metric"], r) for r in comparison["performance"]]
    rows += [(f"{r['attribute']}: {r['metric']}", r) for r in comparison["fairness"]]
    for name, row in rows:
        change = row["change"]
        flag = " (outside the new interval)" if row.get("card_value_outside_new_interval") else ""
        table.add_row(
            Text(str(name)),
            _monitoring_cell(row["card"]),
            _monitoring_cell(row["new"]),
            ("n/a" if change is None else f"{change:+.3f}") + flag,
        )
    out.print(table)
    drift = document["drift"]
    assert isinstance(drift, dict)
    say(
        f"drift (PSI): {drift['significant_count']} significant, {drift['moderate_count']} moderate "
        f"(of features and the score, overall and within each group)"
    )
    for d in drift["worst"]:
        where = "overall" if d["attribute"] is None else f"{d['attribute']}={d['group']}"
        noise = f"; chance alone reaches {d['noise']:.3f}" if d.get("noise") else ""
        say(f"  {d['feature']} ({where}): PSI {d['psi']:.3f}, {d['status']}{noise}")
