r"""Rendering a card: the HTML page, the data-subject access report and the gate's JUnit XML.

:func:`render_html` renders the self-contained HTML page (inline CSS, plots
embedded as PNG data, no network request, no JavaScript) with jinja2
autoescaping, so every group, feature, model name and note is escaped, and
every value shows its control and bidi characters as escapes (``\u202e``), so
that no group name can reverse the text of the page;
:func:`summarize` is what a reviewer reads first. :func:`junit_xml` gives a
gate report to CI as one test case per rule.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree

from governance._files import UNSAFE_CHARACTERS, visible
from governance.card._data import subject_words

if TYPE_CHECKING:
    from governance.card._model import ModelCard
    from governance.gate import GateReport, RuleOutcome
    from governance.plots import Figure

__all__ = ["CardSummary", "junit_xml", "render_access_html", "render_html", "summarize"]


@dataclass(frozen=True)
class CardSummary:
    """What a reviewer reads first: the verdict, why, the worst gaps, and what needs attention."""

    verdict: str
    why: tuple[str, ...]
    worst_gaps: tuple[str, ...]
    attention: tuple[str, ...]


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def summarize(card: Mapping[str, Any]) -> CardSummary:
    """Summarize a card document for a 30-second read.

    Parameters
    ----------
    card
        The card document (:meth:`ModelCard.to_dict`).

    Returns
    -------
    CardSummary
        The verdict, why, the worst gaps and what needs attention.
    """
    gate = card.get("gate") or {}
    verdict = str(gate.get("verdict", "not gated"))
    rules = gate.get("rules", [])
    why = tuple(
        f"{r.get('name')}: {r.get('verdict')} (observed {_fmt(r.get('observed'))}, bound {r.get('side')} {r.get('bound')})"
        + (f"; {r.get('reason')}" if r.get("reason") else "")
        for r in rules
        if r.get("verdict") != "pass"
    ) or (("every rule passed",) if rules else ("no gate was evaluated",))
    gaps = []
    for item in card.get("fairness", {}).get("fairness", []):
        metric, value = item.get("metric"), item.get("value")
        if metric not in ("demographic_parity_ratio", "equalized_odds_difference") or value is None:
            continue
        ci = item.get("ci")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        badness = 1.0 - value if metric.endswith("_ratio") else value
        gaps.append((-badness, f"{metric} by {item['attribute']}: {value:.3f}{interval}"))
    worst = tuple(text for _, text in sorted(gaps)[:5])
    attention: list[str] = []
    if verdict != "pass":
        attention.append(f"The gate did not pass ({verdict}): this model must not become champion.")
    model = card.get("model", {})
    if model.get("uses_sensitive_at_inference"):
        attention.append(f"The model reads {model.get('attribute')} when it scores: legal review needed.")
    if card.get("data", {}).get("pseudonymization", {}).get("development_key"):
        attention.append("Pseudonyms use the public development key.")
    explanations = card.get("explanations") or {}
    flagged = sorted({p["feature"] for p in explanations.get("proxies", []) if p.get("flagged")})
    if flagged:
        attention.append(f"Proxy features: {', '.join(flagged)}.")
    removable = (explanations.get("minimization") or {}).get("removable") or []
    if removable:
        attention.append(
            f"Features the model does not need (candidates for removal): {', '.join(map(str, removable))}."
        )
    insufficient = [g for g in card.get("fairness", {}).get("groups", []) if g.get("status") != "ok"]
    if insufficient:
        attention.append(f"{len(insufficient)} group(s) with insufficient data: no verdict on them.")
    approvals = sum(1 for r in card.get("reviews", []) if r.get("decision") == "approve")
    required = card.get("policy", {}).get("required_approvals", 0)
    if approvals < required:
        attention.append(f"{required - approvals} more approval(s) needed before promotion.")
    return CardSummary(verdict=verdict, why=why, worst_gaps=worst, attention=tuple(attention))


def _shown(value: Any) -> Any:
    """Show a value's control and bidi characters as escapes before jinja escapes it (its ``finalize``)."""
    from markupsafe import Markup

    if isinstance(value, str) and UNSAFE_CHARACTERS.search(value):
        # an escape adds a backslash and letters only: escaped markup stays escaped
        return Markup(visible(str(value))) if isinstance(value, Markup) else visible(value)
    return value


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        finalize=_shown,
        loader=PackageLoader("governance.card", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{float(v):.{digits}f}"
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * float(v):.1f}%"
    env.filters["cap"] = lambda v: str(v)[:1].upper() + str(v)[1:]
    return env


def render_html(card: ModelCard, figures: Sequence[Figure] = ()) -> str:
    """Render the self-contained HTML card (autoescaped; plots inlined as PNG data URIs).

    Rows are counted with the card's ``purpose.subject`` words (``account(s)`` on a card
    from before they were recorded).

    Parameters
    ----------
    card
        The card.
    figures
        The figures to embed (:func:`governance.card.card_figures`).

    Returns
    -------
    str
        One self-contained HTML page.
    """
    document = card.to_dict()
    images = [
        {
            "key": f.key,
            "title": f.title,
            "alt": f.alt,
            "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii"),
            "width": f.width,
            "height": f.height,
        }
        for f in figures
    ]
    from governance.card.export import card_status

    template = _environment().get_template("model_card.html.j2")
    subject, subjects = subject_words(document)
    html: str = template.render(
        card=document,
        summary=summarize(document),
        figures=images,
        subject=subject,
        subjects=subjects,
        status=card_status(document).words,
    )
    return html


def render_access_html(report: Mapping[str, Any]) -> str:
    """Render a data-subject access report (``governance.access/1``) as one self-contained, autoescaped page.

    Parameters
    ----------
    report
        The ``governance.access/1`` document.

    Returns
    -------
    str
        One self-contained HTML page.
    """
    template = _environment().get_template("subject_report.html.j2")
    html: str = template.render(report=report)
    return html


# characters XML 1.0 cannot hold at all, even escaped
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    """Replace the characters XML cannot hold by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(value))


def _num(value: float) -> str:
    """Print a number as the gate's reasons do."""
    return f"{value:.4g}"


def junit_xml(report: GateReport, *, suite: str = "governance gate") -> str:
    """Write a gate report as JUnit XML: one testsuite, one testcase per rule.

    A failed rule is a ``<failure type="fail">``; an inconclusive rule (or one
    with insufficient data) is a ``<failure type="inconclusive">`` when it
    blocks the gate and ``<skipped>`` when ``on_inconclusive: warn`` lets it
    pass. Messages carry the observed value, the interval and the bound. Every
    name and message is escaped by ElementTree; characters XML cannot hold are
    replaced by U+FFFD.

    Parameters
    ----------
    report
        The gate's report.
    suite
        The test suite's name.

    Returns
    -------
    str
        The XML document, with its declaration.
    """
    failures = sum(r.blocks for r in report.rules)
    skipped = sum(not r.blocks and r.verdict != "pass" for r in report.rules)
    counts = {"tests": str(len(report.rules)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ElementTree.Element("testsuites", {"name": _xml_text(suite), **counts})
    element = ElementTree.SubElement(root, "testsuite", {"name": _xml_text(suite), **counts})
    properties = ElementTree.SubElement(element, "properties")
    for key, value in (
        ("verdict", report.verdict),
        ("decided_by", report.decided_by),
        ("as_of", report.as_of.isoformat()),
        ("policy_sha256", report.policy_sha256),
    ):
        ElementTree.SubElement(properties, "property", {"name": key, "value": value})
    for rule in report.rules:
        case = ElementTree.SubElement(
            element, "testcase", {"classname": _xml_text(f"governance.gate.{rule.scope}"), "name": _xml_text(rule.name)}
        )
        message = _xml_text(_evidence(rule))
        if rule.verdict == "fail":
            ElementTree.SubElement(case, "failure", {"type": "fail", "message": message}).text = _xml_text(rule.reason)
        elif rule.verdict != "pass" and rule.blocks:
            failure = ElementTree.SubElement(case, "failure", {"type": rule.verdict, "message": message})
            failure.text = _xml_text(rule.reason)
        elif rule.verdict != "pass":
            ElementTree.SubElement(case, "skipped", {"message": message}).text = _xml_text(rule.reason)
        else:
            ElementTree.SubElement(case, "system-out").text = message
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _evidence(rule: RuleOutcome) -> str:
    observed = "undefined" if rule.observed is None else _num(rule.observed)
    interval = "none" if rule.ci is None else f"[{_num(rule.ci[0])}, {_num(rule.ci[1])}]"
    bound = ("<= " if rule.side == "max" else ">= ") + _num(rule.bound)
    where = f" at {rule.at}" if rule.at else ""
    return f"{rule.verdict}: {rule.metric}{where} observed {observed}, interval {interval}, bound {bound}"
