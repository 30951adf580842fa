r"""Exporting a card where reviewers and CI already look: Markdown, a Hugging Face README, an Annex IV outline.

:func:`export_card` turns a ``card.json`` document into text in one of :data:`FORMATS`:

``markdown``
    The pull-request summary (``governance card export --format markdown >> "$GITHUB_STEP_SUMMARY"``):
    the verdict and the card's status first, the gate table (rule, target, actual, interval,
    met / not met / cannot tell), approvals and registry state, performance, the worst group gaps,
    caveats. No link and no image: nothing is loaded from anywhere.
``hf``
    A Hugging Face model card ``README.md``: YAML front matter (``license``, ``tags``,
    ``model-index`` with the test metrics) and the sections of the Hub's template.
``annex-iv``
    An outline of the technical documentation of the EU AI Act (Regulation (EU) 2024/1689,
    Annex IV, its nine points), each point filled from the card where the card holds the facts and
    marked :data:`PROVIDER` where only the provider can write it.

Every value from the card (a group, a feature, a model name, a note) goes through one escaping
function, :func:`md`: control and bidi characters are shown as escapes, line breaks become spaces,
and every ASCII punctuation character Markdown can read as syntax is backslash-escaped, so a value is always plain text. It can
open no table cell, emphasis, link, image, HTML tag, code span or math. The YAML front matter is
written by ``yaml.safe_dump``. The same card gives the same bytes.

:func:`card_status` derives the card's status from its facts (a status declared in the config,
``purpose.status``, holds it back): it is computed when the card is shown, because the reviews that
make a card approved are added to it in the registry after it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from governance._files import visible
from governance.card._data import subject_words
from governance.card.validate import VERDICTS, check_card
from governance.errors import DataValidationError, Problem

__all__ = [
    "FORMATS",
    "PROVIDER",
    "RISK_RATINGS",
    "STATUSES",
    "CardStatus",
    "card_status",
    "export_card",
    "md",
]

#: The export formats of :func:`export_card`.
FORMATS: Final = ("markdown", "hf", "annex-iv")
#: The lifecycle statuses of a card, in order.
STATUSES: Final = ("draft", "pending_review", "approved", "archived")
#: Statuses a config may declare (``purpose.status``): those that hold a card back.
DECLARED_STATUSES: Final = ("draft", "archived")
#: The risk tiers of the EU AI Act a card can record (``purpose.risk.rating``).
RISK_RATINGS: Final = ("minimal", "limited", "high")
#: The mark of an Annex IV point (or part of one) the card cannot fill.
PROVIDER: Final = "[TO BE WRITTEN BY THE PROVIDER]"

#: The ASCII punctuation that Markdown (CommonMark, GitHub's tables, emoji, math, autolinks) can read as syntax.
_PUNCTUATION: Final = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~$:@=^])")
_BREAKS: Final = re.compile(r"[\r\n\t\f\v\u2028\u2029\x85]+")
_WORDS: Final = {"pass": "met", "fail": "not met", "inconclusive": "cannot tell", "insufficient_data": "cannot tell"}
_PERFORMANCE: Final = ("auc", "precision_at_k", "precision", "true_positive_rate", "accuracy", "calibration_gap")
_GAP_METRICS: Final = ("demographic_parity_ratio", "demographic_parity_difference", "equalized_odds_difference")
_GROUP_METRICS: Final = ("selection_rate", "true_positive_rate", "base_rate", "auc")


def md(value: Any) -> str:
    r"""Return a value as Markdown plain text: it can open no cell, emphasis, link, tag, code or math.

    Control and bidi characters are shown as escapes (``\u202e``), line breaks and tabs become one
    space, and every ASCII punctuation character Markdown could read as syntax is backslash-escaped
    (CommonMark renders an escaped punctuation character as itself, GitHub's tables do not split at
    ``\|``, and ``\<`` opens no tag); commas, quotes, slashes and the like are left as they are.

    Parameters
    ----------
    value
        Any value from a card; None is ``n/a``.

    Returns
    -------
    str
        The escaped text, on one line.
    """
    if value is None:
        return "n/a"
    text = _BREAKS.sub(" ", visible(str(value)))
    return _PUNCTUATION.sub(r"\\\1", text).strip()


@dataclass(frozen=True)
class CardStatus:
    """A card's lifecycle status and the facts it follows from.

    Parameters
    ----------
    status
        One of :data:`STATUSES`.
    reason
        Why, in a sentence.
    approvals
        Reviewers whose latest decision approves, in order of first review.
    rejections
        Reviewers whose latest decision rejects.
    required
        ``policy.required_approvals``.
    """

    status: str
    reason: str
    approvals: tuple[str, ...]
    rejections: tuple[str, ...]
    required: int

    @property
    def words(self) -> str:
        """The status in words: ``pending review``."""
        return self.status.replace("_", " ")


def _latest(reviews: Sequence[Any], decision: str) -> tuple[str, ...]:
    """Reviewers whose latest decision is ``decision`` (one person counts once, as the registry counts)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for review in reviews:
        if isinstance(review, Mapping) and isinstance(review.get("reviewer"), str):
            latest[review["reviewer"].strip().casefold()] = review
    return tuple(str(r["reviewer"]) for r in latest.values() if r.get("decision") == decision)


def card_status(card: Mapping[str, Any]) -> CardStatus:
    """Derive a card's status: draft, pending review, approved or archived.

    ``purpose.status`` (declared in the config: ``draft`` or ``archived``) wins; a monitoring card
    that demoted its champion is ``archived``. Otherwise a card
    that is not registered (no ``model.version``), not gated, not passed, or rejected by a
    reviewer is a ``draft``; a registered card that passed is ``pending_review`` until
    ``policy.required_approvals`` reviewers approve it, then ``approved``.

    Parameters
    ----------
    card
        The card document.

    Returns
    -------
    CardStatus
        The status and why.
    """
    reviews = card.get("reviews") or []
    approvals, rejections = _latest(reviews, "approve"), _latest(reviews, "reject")
    policy = card.get("policy") or {}
    required = int(policy.get("required_approvals") or 0)
    declared = (card.get("purpose") or {}).get("status")
    verdict = (card.get("gate") or {}).get("verdict")
    tally = f"{len(approvals)} of {required} required approval(s)"

    def status(value: str, reason: str) -> CardStatus:
        return CardStatus(value, reason, approvals, rejections, required)

    if declared in DECLARED_STATUSES:
        return status(str(declared), f"declared {declared} in the config (purpose.status)")
    demotion = (card.get("monitoring") or {}).get("demotion")
    if isinstance(demotion, Mapping) and demotion.get("was_champion"):
        return status(
            "archived", f"demoted by monitoring (run {demotion.get('monitoring_run')}): no longer the champion"
        )
    if (card.get("model") or {}).get("version") is None:
        return status("draft", "not registered: the card of a run, before any registry holds it")
    if verdict != "pass":
        return status("draft", f"the gate did not pass ({verdict or 'not gated'}): it cannot be approved")
    if rejections:
        return status("draft", f"rejected by {len(rejections)} reviewer(s); {tally}")
    if len(approvals) < required:
        return status("pending_review", f"passed the gate; {tally}")
    if required == 0:
        return status("approved", "passed the gate; the policy requires no approval (required_approvals: 0)")
    return status("approved", f"passed the gate; {tally}")


def _export_problems(card: Mapping[str, Any]) -> list[Problem]:
    """Check what the exports read beyond the card contract: ``purpose.risk``, ``purpose.status``, the gate."""
    problems: list[Problem] = []
    purpose = card.get("purpose")
    purpose = purpose if isinstance(purpose, Mapping) else {}
    risk = purpose.get("risk")
    if risk is not None:
        if not isinstance(risk, Mapping):
            problems.append(Problem("purpose.risk", "expected {rating, rationale}", "rebuild the card"))
        else:
            if risk.get("rating") not in RISK_RATINGS:
                found = repr(risk.get("rating"))[:40]
                problems.append(
                    Problem("purpose.risk.rating", f"expected one of {', '.join(RISK_RATINGS)}, found {found}")
                )
            rationale = risk.get("rationale")
            if not (isinstance(rationale, str) and rationale.strip()):
                problems.append(Problem("purpose.risk.rationale", "expected the rating's rationale, a non-empty text"))
    if "status" in purpose and purpose["status"] not in DECLARED_STATUSES:
        found = repr(purpose["status"])[:40]
        problems.append(Problem("purpose.status", f"expected one of {', '.join(DECLARED_STATUSES)}, found {found}"))
    gate = card.get("gate")
    if gate is not None and not (isinstance(gate, Mapping) and isinstance(gate.get("rules"), list)):
        problems.append(Problem("gate", "expected {verdict, rules: [...]} or null", "gate the card again"))
    elif gate is not None and gate.get("verdict") not in VERDICTS:
        problems.append(
            Problem("gate.verdict", f"expected one of {', '.join(VERDICTS)}, found {gate.get('verdict')!r}"[:160])
        )
    for i, rule in enumerate(gate.get("rules", []) if isinstance(gate, Mapping) else []):
        if not isinstance(rule, Mapping):
            problems.append(Problem(f"gate.rules[{i}]", "expected a rule object"))
    return problems


def export_card(card: Any, fmt: str) -> str:
    """Export a card document as Markdown, a Hugging Face README or an Annex IV outline.

    Parameters
    ----------
    card
        The card document (``json.load`` of ``card.json``), checked against the card contract first.
    fmt
        One of :data:`FORMATS`.

    Returns
    -------
    str
        The text, ending with one newline; the same card gives the same text.

    Raises
    ------
    DataValidationError
        When the card breaks the contract, or a field the export reads is malformed (named by its path).
    ValueError
        When ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    document = check_card(card)
    problems = _export_problems(document)
    if problems:
        raise DataValidationError(problems, source="the card")
    render = {"markdown": render_markdown, "hf": render_hf, "annex-iv": render_annex_iv}[fmt]
    return render(document).rstrip("\n") + "\n"


# ------------------------------------------------------------------ pieces


def _num(value: Any, digits: int = 3) -> str:
    """Format a number (``n/a`` for None or a non-number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{float(value):.{digits}f}"


def _interval(ci: Any) -> str:
    """Format an interval ``[low, high]`` (``n/a`` when there is none)."""
    if isinstance(ci, list | tuple) and len(ci) == 2:
        return f"[{_num(ci[0])}, {_num(ci[1])}]"
    return "n/a"


def _row(cells: Sequence[str]) -> str:
    """Return one Markdown table row of already escaped cells."""
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return a Markdown table: our header, escaped cells."""
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _target(rule: Mapping[str, Any]) -> str:
    """Return a rule's target in words: ``selection_rate ratio >= 0.8``."""
    sign = ">=" if rule.get("side") == "min" else "<="
    what = " ".join(str(x) for x in (rule.get("metric"), rule.get("statistic")) if x)
    return f"{md(what)} {sign} {_num(rule.get('bound'))}" if rule.get("bound") is not None else md(what)


def _met(rule: Mapping[str, Any]) -> str:
    """Return met / not met / cannot tell, and whether the rule blocks or is allowed as a warning."""
    verdict = str(rule.get("verdict"))
    word = _WORDS.get(verdict, md(verdict))
    if word == "cannot tell":
        word += " (allowed as a warning)" if rule.get("on_inconclusive") == "warn" else " (blocks)"
    elif verdict == "fail":
        word += " (blocks)"
    return word


def _gate_table(card: Mapping[str, Any]) -> list[str]:
    """Return the gate table, rule by rule: rule, target, actual, interval, met / not met / cannot tell."""
    gate = card.get("gate")
    if not gate:
        return ["The card was not gated."]
    rows = [
        [md(r.get("name")), _target(r), _num(r.get("observed")), _interval(r.get("ci")), _met(r)]
        for r in gate.get("rules", [])
    ]
    return _table(["Rule", "Target", "Actual", "Interval", "Met"], rows) if rows else ["The policy has no rule."]


def _verdict_line(card: Mapping[str, Any]) -> str:
    """Return the verdict in one sentence: how many rules pass, how many cannot tell, how many fail."""
    gate = card.get("gate") or {}
    rules = gate.get("rules", [])
    words = [_WORDS.get(str(r.get("verdict")), "") for r in rules]
    tally = f"{words.count('met')} of {len(rules)} rules met"
    if words.count("cannot tell"):
        tally += f", {words.count('cannot tell')} cannot be decided from the data"
    if words.count("not met"):
        tally += f", {words.count('not met')} not met"
    return f"**Verdict: {md(str(gate.get('verdict', 'not gated')).upper())}**: {tally}."


def _risk_line(card: Mapping[str, Any]) -> str:
    """Return the risk rating and its rationale, or that the card is not rated."""
    risk = (card.get("purpose") or {}).get("risk")
    if not risk:
        return "**Risk:** not rated (set `purpose.risk` in the config)."
    return f"**Risk:** {md(risk['rating'])}: {md(risk['rationale'])}"


def _registry_lines(card: Mapping[str, Any], status: CardStatus) -> list[str]:
    """Return the registry state, the approvals against the policy and who approved or rejected, and when."""
    model = card.get("model") or {}
    version = model.get("version")
    where = (
        f"registered as {md(model.get('registered_model') or model.get('name'))} version {md(version)}"
        if version is not None
        else "not registered"
    )
    lines = [f"- Registry: {where}.", f"- Approvals: {len(status.approvals)} of {status.required} required."]
    if status.required == 0:
        lines.append("- Warning: the policy requires no approval (`required_approvals: 0`).")
    for review in card.get("reviews") or []:
        lines.append(
            f"- {md(review.get('decision'))} by {md(review.get('reviewer'))} at {md(review.get('at'))}: "
            f"{md(review.get('note'))}"
        )
    valid = model.get("valid_until")
    if valid:
        lines.append(f"- Valid until {md(valid)}.")
    return lines


def _performance_table(card: Mapping[str, Any]) -> list[str]:
    """Return the test-split performance table: metric, value, interval."""
    performance = card.get("performance") or {}
    rows = [
        [md(name), _num(performance[name].get("value")), _interval(performance[name].get("ci"))]
        for name in _PERFORMANCE
        if isinstance(performance.get(name), Mapping)
    ]
    return _table(["Metric", "Value", "Interval"], rows) if rows else ["No performance metric on the card."]


def _gaps(card: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return the card's group-gap metrics, worst first (a ratio's badness is 1 - ratio)."""
    items = [
        item
        for item in (card.get("fairness") or {}).get("fairness", [])
        if item.get("metric") in _GAP_METRICS and isinstance(item.get("value"), int | float)
    ]

    def badness(item: Mapping[str, Any]) -> tuple[float, str, str]:
        value = float(item["value"])
        return (-(1.0 - value if str(item["metric"]).endswith("_ratio") else value), item["metric"], item["attribute"])

    return sorted(items, key=badness)


def _gaps_table(card: Mapping[str, Any], limit: int = 5) -> list[str]:
    """Return the worst group gaps: attribute, metric, value, interval, whether a gate rule bounds it."""
    rules = [r for r in (card.get("gate") or {}).get("rules", []) if r.get("scope") == "disparity"]
    rows = []
    for item in _gaps(card)[:limit]:
        metric, attribute = str(item["metric"]), item["attribute"]
        statistic = "ratio" if metric.endswith("_ratio") else "difference"
        bounded = any(
            r.get("attribute") == attribute
            and (
                r.get("metric") == metric
                or (
                    metric.startswith("demographic_parity")
                    and r.get("metric") == "selection_rate"
                    and r.get("statistic") == statistic
                )
            )
            for r in rules
        )
        cells = [md(attribute), md(metric), _num(item["value"]), _interval(item.get("ci")), "yes" if bounded else "no"]
        rows.append(cells)
    return _table(["Attribute", "Gap", "Value", "Interval", "Gated"], rows) if rows else ["No group gap computed."]


def _groups_table(card: Mapping[str, Any]) -> list[str]:
    """Return the per-group results: attribute, group, rows, selection rate, TPR, base rate, AUC (withheld shown)."""
    rows = []
    for group in (card.get("fairness") or {}).get("groups", []):
        metrics = group.get("metrics") or {}
        n = group.get("n")
        count = md(group.get("n_published") or "withheld") if n is None else str(n)
        cells = [md(group.get("attribute")), md(group.get("group")), count]
        cells += [_num((metrics.get(m) or {}).get("value")) for m in _GROUP_METRICS]
        cells.append(md(str(group.get("status", "")).replace("_", " ")))
        rows.append(cells)
    header = ["Attribute", "Group", "Rows", "Selection rate", "TPR", "Base rate", "AUC", "Data"]
    return _table(header, rows) if rows else ["No group results on the card."]


def _bullets(items: Sequence[Any], empty: str) -> list[str]:
    """Return escaped bullet lines, or one line saying there are none."""
    return [f"- {md(item)}" for item in items] if items else [empty]


def _next_step(card: Mapping[str, Any], status: CardStatus) -> str:
    """Return what the reviewer does next, as a command (a version that is not a number reads ``V``)."""
    version = (card.get("model") or {}).get("version")
    number = str(version) if isinstance(version, int) and not isinstance(version, bool) else "V"
    if status.status == "pending_review":
        return (
            f"Review it: `governance review --model-version {number} --approve` (or `--reject`) "
            "`--reviewer NAME --note TEXT --config PATH`."
        )
    if status.status == "archived":
        return "Nothing: the card is archived."
    if status.status == "approved":
        return "Nothing: check the card before it expires (`governance gate --card card.json`)."
    if (card.get("gate") or {}).get("verdict") != "pass":
        return "Fix what blocks the gate, then `governance run --config PATH` again."
    if status.rejections:
        return f"Answer the rejection, then review again: `governance review --model-version {number} ...`."
    return "Run `governance run --config PATH` to register and gate it."


# ------------------------------------------------------------------ markdown


def render_markdown(card: Mapping[str, Any]) -> str:
    """Render the pull-request summary: verdict and status first, then the gate table and the evidence.

    Parameters
    ----------
    card
        The checked card document.

    Returns
    -------
    str
        GitHub-flavoured Markdown, link-free and image-free.
    """
    from governance.card.render import summarize

    model = card.get("model") or {}
    status = card_status(card)
    gate = card.get("gate") or {}
    lines = [
        f"## Model card: {md(model.get('name'))} / {md(model.get('candidate'))}",
        "",
        _verdict_line(card),
        "",
        f"**Status:** {status.words} ({md(status.reason)}).",
        "",
        _risk_line(card),
        "",
        "### Gate",
        "",
        *_gate_table(card),
        "",
        *_bullets([f"warning: {w}" for w in gate.get("warnings", [])], "No warning."),
        "",
        "### Approvals and registry",
        "",
        *_registry_lines(card, status),
        "",
        f"Next step: {_next_step(card, status)}",
        "",
        "### Performance (test split)",
        "",
        *_performance_table(card),
        "",
        "### Worst group gaps",
        "",
        *_gaps_table(card),
        "",
        "### Needs attention",
        "",
        *_bullets(summarize(card).attention, "Nothing."),
        "",
        "### Caveats",
        "",
        *_bullets(card.get("caveats") or [], "None."),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ hugging face


def _front_matter(card: Mapping[str, Any]) -> str:
    """Return the Hugging Face YAML front matter: license, tags, model-index with the test metrics."""
    import yaml

    model = card.get("model") or {}
    performance = card.get("performance") or {}
    risk = (card.get("purpose") or {}).get("risk") or {}
    tags = ["tabular-classification", "mlflow", "governance", "model-card", f"status-{card_status(card).status}"]
    tags += [f"risk-{risk['rating']}"] if risk.get("rating") else []
    tags += [str(model["kind"])] if isinstance(model.get("kind"), str) else []
    metrics = [
        {"type": name, "name": name.replace("_", " "), "value": round(float(performance[name]["value"]), 6)}
        for name in _PERFORMANCE
        if isinstance(performance.get(name), Mapping) and isinstance(performance[name].get("value"), int | float)
    ]
    data = card.get("data") or {}
    meta = {
        "license": "other",
        "license_name": "unspecified",
        "pipeline_tag": "tabular-classification",
        "tags": tags,
        "model-index": [
            {
                "name": visible(f"{model.get('name')}/{model.get('candidate')}"),
                "results": [
                    {
                        "task": {"type": "tabular-classification", "name": "Scoring"},
                        "dataset": {
                            "type": "tabular",
                            "name": visible(str(data.get("source") or "test split")),
                            "split": "test",
                        },
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=False, width=1000) + "---\n"


def _data_lines(card: Mapping[str, Any]) -> list[str]:
    """Return the training data in bullets: source, rows, split, exclusions, consent, features with reasons."""
    data = card.get("data") or {}
    _, subjects = subject_words(card.get("purpose") or {})
    split = data.get("split") or {}
    lines = [
        f"- Source: {md(data.get('source'))}; {md(data.get('rows_in'))} {md(subjects)} in, {md(data.get('rows_used'))} used.",
        "- Split: " + ", ".join(f"{md(k)} {md(v)}" for k, v in sorted(split.items())) + ".",
    ]
    excluded = data.get("excluded") or {}
    if excluded:
        lines.append("- Excluded: " + ", ".join(f"{md(k)} {md(v)}" for k, v in sorted(excluded.items())) + ".")
    consent = data.get("consent") or {}
    if consent.get("text"):
        lines.append(f"- Consent: {md(consent['text'])}")
    lines.append(f"- Pseudonymization: {md((data.get('pseudonymization') or {}).get('method'))}.")
    for feature in data.get("features") or []:
        if isinstance(feature, Mapping):
            lines.append(f"- Feature {md(feature.get('name'))}: {md(feature.get('justification'))}")
    for attribute in data.get("sensitive") or []:
        if isinstance(attribute, Mapping):
            lines.append(f"- Sensitive attribute {md(attribute.get('name'))}: {md(attribute.get('use'))}.")
    return lines


def render_hf(card: Mapping[str, Any]) -> str:
    """Render a Hugging Face model card README: YAML front matter, then the Hub template's sections.

    Parameters
    ----------
    card
        The checked card document.

    Returns
    -------
    str
        The README.md text.
    """
    model = card.get("model") or {}
    purpose = card.get("purpose") or {}
    status = card_status(card)
    lines = [
        f"# {md(model.get('name'))} / {md(model.get('candidate'))}",
        "",
        "## Model details",
        "",
        f"- Kind: {md(model.get('kind'))}; mitigation: {md(model.get('mitigation') or 'none')}.",
        f"- Version: {md(model.get('version') or 'not registered')}; run {md(model.get('run_id'))}; "
        f"created {md(model.get('created'))}; valid until {md(model.get('valid_until'))}.",
        f"- Owner: {md(purpose.get('owner') or 'not named')}.",
        f"- License: not on the card (the front matter says `other`, `unspecified`): {PROVIDER}",
        f"- Status: {status.words} ({md(status.reason)}).",
        f"- {_risk_line(card)}",
        f"- Gate: {_verdict_line(card)}",
        "",
        "## Intended use",
        "",
        md(purpose.get("intended_use")),
        "",
        "## Out-of-scope use",
        "",
        *_bullets(purpose.get("out_of_scope") or [], "None declared."),
        "",
        "## Training data",
        "",
        *_data_lines(card),
        "",
        "## Evaluation",
        "",
        *_performance_table(card),
        "",
        *_gate_table(card),
        "",
        "## Bias, risks and limitations",
        "",
        *_gaps_table(card, limit=10),
        "",
        *_groups_table(card),
        "",
        *_bullets(card.get("caveats") or [], "No caveat."),
        "",
        "## How to get started",
        "",
        "Re-check this card offline, export it, and review the registered version:",
        "",
        "```text",
        "governance gate --card card.json",
        "governance card export --card card.json --format markdown",
        "governance review --model-version V --approve --reviewer NAME --note TEXT --config PATH",
        "```",
    ]
    return _front_matter(card) + "\n" + "\n".join(lines)


# ------------------------------------------------------------------ annex iv


def _annex_general(card: Mapping[str, Any]) -> list[str]:
    """Point 1 of Annex IV: a general description of the system."""
    model = card.get("model") or {}
    purpose = card.get("purpose") or {}
    return [
        "## 1. General description of the AI system",
        "",
        f"(a) Intended purpose: {md(purpose.get('intended_use'))}",
        f"Out of scope: {'; '.join(md(x) for x in purpose.get('out_of_scope') or []) or 'none declared'}",
        f"Provider: {md(purpose.get('owner')) if purpose.get('owner') else PROVIDER}. "
        f"Version: {md(model.get('name'))} version {md(model.get('version') or 'not registered')} "
        f"(candidate {md(model.get('candidate'))}, run {md(model.get('run_id'))}, created {md(model.get('created'))}).",
        f"Relation to previous versions: {PROVIDER}",
        f"(b) Interaction with hardware, software and other AI systems: {PROVIDER}",
        f"(c) Versions of relevant software and update requirements: git commit "
        f"{md((card.get('lineage') or {}).get('git_commit'))}; other software versions: {PROVIDER}",
        "(d) Forms placed on the market: an MLflow model (the registry's champion, exported with its card "
        f"and checksums); other forms: {PROVIDER}",
        f"(e) Hardware it is intended to run on: {PROVIDER}",
        "(f) Photographs or illustrations of products it is a component of: not applicable unless it is "
        f"embedded in a product; {PROVIDER}",
        f"(g) User interface provided to the deployer: {PROVIDER}",
        f"(h) Instructions for use for the deployer: {PROVIDER}",
    ]


def _annex_development(card: Mapping[str, Any]) -> list[str]:
    """Point 2 of Annex IV: the elements of the system and the process of its development."""
    model = card.get("model") or {}
    explanations = card.get("explanations") or {}
    candidates = card.get("candidates") or []
    names = ", ".join(md(c.get("name")) for c in candidates if isinstance(c, Mapping)) or "none"
    return [
        "## 2. Elements of the AI system and the process of its development",
        "",
        f"(a) Methods and steps: candidates {names} trained, audited on a held-out test split with intervals, "
        f"and gated against the policy; this one is {md(model.get('kind'))} with mitigation "
        f"{md(model.get('mitigation') or 'none')}. Third-party pre-trained systems or tools: {PROVIDER}",
        f"(b) Design specifications: scores with {md(model.get('score_method'))}; reads sensitive attributes "
        f"when it scores: {'yes' if model.get('uses_sensitive_at_inference') else 'no'}. "
        f"Rationale, assumptions and trade-offs: {PROVIDER}",
        f"(c) System architecture and computational resources: {PROVIDER}",
        "(d) Data requirements, provenance, selection and cleaning:",
        "",
        *_data_lines(card),
        "",
        f"Labelling procedures: {PROVIDER}",
        f"(e) Human oversight measures (Article 14): policy.required_approvals = "
        f"{md((card.get('policy') or {}).get('required_approvals'))} approving reviewer(s) before promotion; "
        f"other measures: {PROVIDER}",
        f"(f) Pre-determined changes: the card is valid until {md(model.get('valid_until'))}, then re-gated; {PROVIDER}",
        "(g) Validation and testing: the gate below, dated "
        f"{md((card.get('gate') or {}).get('as_of') or 'n/a')}; explanations: "
        f"{md(explanations.get('method') or 'not computed')}.",
        "",
        *_gate_table(card),
        "",
        f"(h) Cybersecurity measures: checksums of the model, the data and the card in the lineage; {PROVIDER}",
    ]


def _annex_functioning(card: Mapping[str, Any]) -> list[str]:
    """Point 3 of Annex IV: monitoring, functioning and control, with accuracy for groups of persons."""
    return [
        "## 3. Monitoring, functioning and control of the AI system",
        "",
        "Capabilities and limitations in performance, overall:",
        "",
        *_performance_table(card),
        "",
        "Degrees of accuracy for specific groups:",
        "",
        *_groups_table(card),
        "",
        *_gaps_table(card, limit=10),
        "",
        "Foreseeable unintended outcomes and sources of risk, including discrimination:",
        "",
        *_bullets(card.get("caveats") or [], "None recorded."),
        f"- Risks to health, safety and fundamental rights beyond these: {PROVIDER}",
        "",
        f"Human oversight measures and input data specifications: see point 2; {PROVIDER}",
    ]


def render_annex_iv(card: Mapping[str, Any]) -> str:
    """Render the EU AI Act Annex IV outline: nine points, filled from the card or marked for the provider.

    Parameters
    ----------
    card
        The checked card document.

    Returns
    -------
    str
        Markdown; every part the card cannot fill reads :data:`PROVIDER`.
    """
    status = card_status(card)
    risk = (card.get("purpose") or {}).get("risk") or {}
    rating = risk.get("rating")
    scope = (
        "The provider rates this system high-risk: this documentation is required (Article 11)."
        if rating == "high"
        else f"The provider rates this system {md(rating) if rating else 'not at all'}: Annex IV applies to "
        "high-risk systems; this outline documents it on the same plan."
    )
    lines = [
        "# Technical documentation (EU AI Act, Annex IV): outline",
        "",
        f"Drawn from the model card; status {status.words} ({md(status.reason)}). {scope}",
        f"Parts marked {PROVIDER} are not in the card: only the provider can write them.",
        "",
        _risk_line(card),
        "",
        *_annex_general(card),
        "",
        *_annex_development(card),
        "",
        *_annex_functioning(card),
        "",
        "## 4. Appropriateness of the performance metrics",
        "",
        "The gate bounds the metrics above, each judged by its confidence interval (a rule whose interval "
        f"straddles its bound cannot tell). Why these metrics and bounds fit this system: {PROVIDER}",
        "",
        "## 5. Risk management system (Article 9)",
        "",
        f"The policy (sha256 {md((card.get('lineage') or {}).get('policy_sha256'))}) and the gate are the "
        f"evidence of this card; the risk management system itself: {PROVIDER}",
        "",
        "## 6. Relevant changes through the lifecycle",
        "",
        f"Each run writes a new card with its lineage (config, data, model and policy hashes); the changes "
        f"made and why: {PROVIDER}",
        "",
        "## 7. Harmonised standards applied",
        "",
        PROVIDER,
        "",
        "## 8. EU declaration of conformity (Article 47)",
        "",
        PROVIDER,
        "",
        "## 9. Post-market monitoring (Article 72)",
        "",
        "`governance monitor --data FILE --config PATH` re-audits the champion on each new batch (drift and "
        f"fairness, with demotion). The post-market monitoring plan (Article 72(3)): {PROVIDER}",
    ]
    return "\n".join(lines)
