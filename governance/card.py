"""The model card: every fact a reviewer needs, as JSON (``card.json``) and as one HTML page.

:func:`build_card` assembles a frozen :class:`ModelCard` from a run's results;
:meth:`ModelCard.to_json` gives the schema-versioned JSON that CI, reviewers'
tools and ``governance gate`` read; :func:`render_html` renders the
self-contained HTML page (inline CSS, plots embedded as PNG data, no network
request, no JavaScript) with jinja2 autoescaping, so every group, feature,
model name and note is escaped.

Publication rule: a group with fewer accounts than
``sensitive.publish_min_group_size`` is published as "fewer than k": its
count and its metric values are removed from the card (a rate over three
accounts reveals them), and the plots leave it out. Such groups are below
``min_group_size`` too, so no verdict rests on them either way.

The JSON is deterministic: the same config and data give the same bytes
except for timestamps (``model.created``, ``model.valid_until``, review
times) and the identifiers MLflow assigns (run id, model version, the model
artifact checksum).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance._files import atomic_write, canonical_json
from governance.errors import DataValidationError, Problem
from governance.metrics import PERFORMANCE_METRICS

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.config import GovernanceConfig
    from governance.data import Dataset
    from governance.plots import Figure

__all__ = [
    "PERFORMANCE_METRICS",
    "SCHEMA",
    "CardSummary",
    "ModelCard",
    "build_card",
    "canonical_json",
    "load_figures",
    "publishable_fairness",
    "render_access_html",
    "render_html",
    "save_figures",
    "summarize",
    "write_card",
]

SCHEMA = "governance.card/1"
#: Overall metrics shown as the card's performance, with their intervals.


@dataclass(frozen=True)
class ModelCard:
    """The card's facts, section by section, as plain JSON data (see DESIGN.md's card contract)."""

    model: Mapping[str, Any]
    lineage: Mapping[str, Any]
    purpose: Mapping[str, Any]
    data: Mapping[str, Any]
    performance: Mapping[str, Any]
    fairness: Mapping[str, Any]
    explanations: Mapping[str, Any] | None
    candidates: tuple[Mapping[str, Any], ...]
    gate: Mapping[str, Any] | None
    policy: Mapping[str, Any]
    reviews: tuple[Mapping[str, Any], ...] = ()
    feedback: Mapping[str, Any] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    schema: str = SCHEMA
    monitoring: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``governance.card/1`` document (with a ``monitoring`` block on a monitoring card only)."""
        document = {
            "schema": self.schema,
            "model": dict(self.model),
            "lineage": dict(self.lineage),
            "purpose": dict(self.purpose),
            "data": dict(self.data),
            "performance": dict(self.performance),
            "fairness": dict(self.fairness),
            "explanations": None if self.explanations is None else dict(self.explanations),
            "candidates": [dict(c) for c in self.candidates],
            "gate": None if self.gate is None else dict(self.gate),
            "policy": dict(self.policy),
            "reviews": [dict(r) for r in self.reviews],
            "feedback": dict(self.feedback),
            "caveats": list(self.caveats),
        }
        if self.monitoring is not None:
            document["monitoring"] = dict(self.monitoring)
        return document

    def to_json(self) -> bytes:
        """Deterministic JSON bytes of :meth:`to_dict`."""
        return canonical_json(self.to_dict())

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`to_json`: what registry tags and promotion checks compare."""
        return hashlib.sha256(self.to_json()).hexdigest()

    def with_gate(self, gate: Mapping[str, Any]) -> ModelCard:
        """The same card with the gate's verdict, rule by rule."""
        return replace(self, gate=dict(gate))

    def with_model(self, **fields: Any) -> ModelCard:
        """The same card with fields of the ``model`` section set (version, run id, ...)."""
        return replace(self, model={**self.model, **fields})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Rebuild a card from its JSON document.

        Raises
        ------
        DataValidationError
            When the schema is not ``governance.card/1`` or a section is missing.
        """
        if data.get("schema") != SCHEMA:
            raise DataValidationError(
                [Problem("schema", f"expected {SCHEMA!r}, found {str(data.get('schema'))[:40]!r}")]
            )
        required = ("model", "lineage", "purpose", "data", "performance", "fairness", "candidates", "policy")
        missing = [Problem(key, "missing section of the card") for key in required if key not in data]
        if missing:
            raise DataValidationError(missing)
        return cls(
            model=data["model"],
            lineage=data["lineage"],
            purpose=data["purpose"],
            data=data["data"],
            performance=data["performance"],
            fairness=data["fairness"],
            explanations=data.get("explanations"),
            candidates=tuple(data["candidates"]),
            gate=data.get("gate"),
            policy=data["policy"],
            reviews=tuple(data.get("reviews") or ()),
            feedback=data.get("feedback") or {},
            caveats=tuple(data.get("caveats") or ()),
            monitoring=data.get("monitoring"),
        )


# ---------------------------------------------------------------- building


def publishable_fairness(document: Mapping[str, Any], *, publish_min: int) -> dict[str, Any]:
    """An audit document with groups below the publication minimum reduced to "fewer than k".

    Their ``n`` becomes ``null`` with ``"n_published": "fewer than k"`` and every metric
    value and interval is removed (status ``insufficient_data``, reason "not published").
    """
    out = json.loads(json.dumps(document))
    note = f"fewer than {publish_min} accounts; not published"
    for group in out.get("groups", []):
        n = group.get("n")
        if isinstance(n, int) and n < publish_min:
            group["n"] = None
            group["n_published"] = f"fewer than {publish_min}"
            group["status"] = "insufficient_data"
            group["reason"] = note
            group["metrics"] = {
                name: {"value": None, "ci": None, "status": "insufficient_data", "reason": note}
                for name in group.get("metrics", {})
            }
    return dict(out)


def _worst_disparity(document: Mapping[str, Any], attributes: Sequence[str]) -> tuple[float | None, str]:
    """The largest demographic parity difference over the single sensitive attributes."""
    worst: tuple[float | None, str] = (None, "")
    for item in document.get("fairness", []):
        if item.get("metric") != "demographic_parity_difference" or item.get("attribute") not in attributes:
            continue
        value = item.get("value")
        if value is not None and (worst[0] is None or value > worst[0]):
            worst = (float(value), f"demographic_parity_difference ({item['attribute']})")
    return worst


def candidate_entry(
    *,
    name: str,
    kind: str,
    mitigation: str | None,
    uses_sensitive_at_inference: bool,
    audit: AuditReport,
    attributes: Sequence[str],
    verdict: str | None,
) -> dict[str, Any]:
    """One row of the card's candidate comparison."""
    document = audit.to_dict()
    worst, label = _worst_disparity(document, attributes)
    auc = audit.overall["auc"].value
    return {
        "name": name,
        "kind": kind,
        "mitigation": mitigation,
        "uses_sensitive_at_inference": uses_sensitive_at_inference,
        "auc": auc,
        "worst_disparity": worst,
        "worst_disparity_metric": label,
        "verdict": verdict,
    }


def _policy_dict(config: GovernanceConfig) -> dict[str, Any]:
    policy: dict[str, Any] = config.policy.model_dump(mode="json")
    return policy


def build_card(
    *,
    config: GovernanceConfig,
    dataset: Dataset,
    candidate: Mapping[str, Any],
    audit: AuditReport,
    explanations: Mapping[str, Any] | None,
    candidates: Sequence[Mapping[str, Any]],
    run_id: str,
    created: datetime,
    git_commit: str,
    model_sha256: str = "",
    version: str | None = None,
    validation: Mapping[str, float] | None = None,
    reviews: Sequence[Mapping[str, Any]] = (),
    feedback: Sequence[Mapping[str, Any]] = (),
) -> ModelCard:
    """Assemble the card of one audited candidate (the gate is added with :meth:`ModelCard.with_gate`).

    Parameters
    ----------
    config, dataset
        The run's config and prepared data.
    candidate
        ``name``, ``kind``, ``mitigation``, ``constraint``, ``attribute``,
        ``uses_sensitive_at_inference``, ``score_method`` of the candidate.
    audit
        The audit of the candidate on the test split.
    explanations
        The explanations block (DESIGN's contract), or None when not computed.
    candidates
        The comparison rows of every candidate of the run (:func:`candidate_entry`).
    run_id, created, git_commit, model_sha256, version
        Lineage.
    validation
        Validation metrics of the candidate (no intervals), shown beside the test audit.
    reviews, feedback
        Reviews and open feedback items recorded so far.
    """
    publish_min = config.sensitive.publish_min_group_size
    from governance.gate import policy_sha256

    policy = _policy_dict(config)
    policy_sha = policy_sha256(config.policy)
    performance: dict[str, Any] = {name: audit.overall[name].to_dict() for name in PERFORMANCE_METRICS}
    if validation:
        performance["validation"] = {k: float(v) for k, v in sorted(validation.items())}
    split_sizes = {
        name: int((dataset.split == code).sum()) for code, name in enumerate(("train", "validation", "test"))
    }
    uses_sensitive = bool(candidate.get("uses_sensitive_at_inference"))
    card_data = {
        "source": Path(dataset.source).name,
        "rows_in": dataset.rows_in,
        "rows_used": dataset.rows_used,
        "excluded": dict(dataset.excluded),
        "split": split_sizes,
        "features": [{"name": f.name, "justification": f.justification, "type": f.type} for f in config.features],
        "dropped_columns": [{"name": k, "reason": v} for k, v in dataset.dropped_columns.items()],
        "sensitive": [
            {
                "name": a.name,
                "use": "audit only"
                if not uses_sensitive or a.name != candidate.get("attribute")
                else "audit and inference",
                "reference": a.reference,
            }
            for a in config.sensitive.attributes
        ],
        "pseudonymization": {
            "method": dataset.pseudonymization.method,
            "development_key": dataset.pseudonymization.development_key,
        },
        "publish_min_group_size": publish_min,
        "corrections_applied": dataset.corrected,
    }
    if explanations is not None and "minimization" in explanations:
        card_data["minimization"] = explanations["minimization"]
    valid_until = (created + timedelta(days=config.policy.valid_for_days)).date().isoformat()
    return ModelCard(
        model={
            "name": config.mlflow.registered_model,
            "candidate": candidate["name"],
            "kind": candidate.get("kind"),
            "mitigation": candidate.get("mitigation"),
            "constraint": candidate.get("constraint"),
            "attribute": candidate.get("attribute"),
            "uses_sensitive_at_inference": uses_sensitive,
            "score_method": candidate.get("score_method", ""),
            "version": version,
            "run_id": run_id,
            "created": created.isoformat(timespec="seconds"),
            "valid_until": valid_until,
        },
        lineage={
            "git_commit": git_commit,
            "config_sha256": config.sha256,
            "data_sha256": dataset.fingerprint,
            "model_sha256": model_sha256,
            "policy_sha256": policy_sha,
        },
        purpose={
            "intended_use": config.purpose.intended_use,
            "out_of_scope": list(config.purpose.out_of_scope),
            "owner": config.purpose.owner,
        },
        data=card_data,
        performance=performance,
        fairness=publishable_fairness(audit.to_dict(), publish_min=publish_min),
        explanations=None if explanations is None else dict(explanations),
        candidates=tuple(dict(c) for c in candidates),
        gate=None,
        policy=policy,
        reviews=tuple(dict(r) for r in reviews),
        feedback={"contact": config.purpose.contact, "items": [dict(i) for i in feedback]},
        caveats=tuple(_caveats(config, dataset, audit, candidate, explanations)),
    )


def _caveats(
    config: GovernanceConfig,
    dataset: Dataset,
    audit: AuditReport,
    candidate: Mapping[str, Any],
    explanations: Mapping[str, Any] | None,
) -> list[str]:
    notes = []
    if dataset.pseudonymization.development_key:
        notes.append(
            "Identifiers were pseudonymized with the public development key, which anyone can reverse: "
            "do not use this card's lineage with real data."
        )
    if candidate.get("uses_sensitive_at_inference"):
        notes.append(
            f"This model reads the sensitive attribute {candidate.get('attribute')!r} when it scores "
            f"({candidate.get('mitigation')}). Using a sensitive attribute at decision time is disparate "
            "treatment in many jurisdictions: obtain legal review before use."
        )
    small = sorted({f"{g.attribute}: {g.group}" for g in audit.groups if g.status != "ok"})
    if small:
        notes.append(
            f"{len(small)} group(s) have too few accounts for a verdict (below {audit.min_group_size}); "
            "their fairness is unknown, not established."
        )
    notes.append(
        f"Intervals of the test split are at {audit.bootstrap.confidence:.0%}: rates by the continuity-corrected "
        "Wilson interval, AUCs by DeLong, and each disparity pair by pair, simultaneously over the pairs it "
        f"compares. A rate is judged only from {audit.min_events} events in its denominator (positives, "
        "negatives, selected accounts); groups with fewer are listed, their fairness unknown, not established."
    )
    if explanations is not None:
        flagged = sorted({p["feature"] for p in explanations.get("proxies", []) if p.get("flagged")})
        if flagged:
            notes.append(f"Proxy features for a sensitive attribute: {', '.join(flagged)}.")
    notes.append("Scores rank accounts for sales attention; they are not a judgement of any company or person.")
    return notes


# ---------------------------------------------------------------- summary and HTML


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
    """The 30-second summary of a card document."""
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


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("governance", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{float(v):.{digits}f}"
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * float(v):.1f}%"
    return env


def render_html(card: ModelCard, figures: Sequence[Figure] = ()) -> str:
    """Render the self-contained HTML card (autoescaped; plots inlined as PNG data URIs)."""
    document = card.to_dict()
    images = [
        {
            "key": f.key,
            "title": f.title,
            "alt": f.alt,
            "src": "data:image/png;base64," + base64.b64encode(f.png).decode("ascii"),
        }
        for f in figures
    ]
    template = _environment().get_template("model_card.html.j2")
    html: str = template.render(card=document, summary=summarize(document), figures=images)
    return html


def render_access_html(report: Mapping[str, Any]) -> str:
    """Render a data-subject access report (``governance.access/1``) as one self-contained, autoescaped page."""
    template = _environment().get_template("subject_report.html.j2")
    html: str = template.render(report=report)
    return html


_FIGURES = "figures"


def save_figures(folder: Path, figures: Sequence[Figure]) -> None:
    """Keep a card's figures beside it (``figures/<n>.png`` and ``figures/figures.json``) for later renders."""
    target = folder / _FIGURES
    index = []
    for i, figure in enumerate(figures):
        name = f"{i:02d}.png"
        atomic_write(target / name, figure.png)
        index.append(
            {
                "key": figure.key,
                "title": figure.title,
                "alt": figure.alt,
                "file": name,
                "sha256": hashlib.sha256(figure.png).hexdigest(),
            }
        )
    atomic_write(target / "figures.json", canonical_json({"schema": "governance.figures/1", "figures": index}))


def load_figures(folder: Path) -> list[Figure]:
    """The figures :func:`save_figures` kept, in order; none when they are missing or do not match their checksums."""
    from governance.plots import Figure

    try:
        index = json.loads((folder / _FIGURES / "figures.json").read_text(encoding="utf-8"))
        figures = []
        for item in index["figures"]:
            png = (folder / _FIGURES / Path(str(item["file"])).name).read_bytes()
            if hashlib.sha256(png).hexdigest() != item["sha256"]:
                return []
            figures.append(Figure(key=str(item["key"]), title=str(item["title"]), alt=str(item["alt"]), png=png))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return figures


def write_card(card: ModelCard, folder: Path, *, html: str | None = None) -> tuple[Path, Path | None]:
    """Write ``card.json`` (and ``card.html``) into ``folder``, atomically."""
    json_path = folder / "card.json"
    atomic_write(json_path, card.to_json())
    html_path = None
    if html is not None:
        html_path = folder / "card.html"
        atomic_write(html_path, html.encode("utf-8"))
    return json_path, html_path
