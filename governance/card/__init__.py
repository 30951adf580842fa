"""The model card: every fact a reviewer needs, as JSON (``card.json``) and as one HTML page.

The card contract in one place, one concept per file:

``_model.py``
    :class:`ModelCard` (the frozen document, :meth:`ModelCard.to_json` its
    deterministic bytes), the schema id ``governance.card/1`` (:data:`SCHEMA`),
    :func:`policy_sha256` (the policy hash a card records) and :func:`write_card`.
``_data.py``
    What a card says about its rows: the word for one row (``purpose.subject``,
    ``account(s)`` on a card without it), ``data.consent`` (each consent check run
    or skipped, with its exclusions; or the dataset-wide lawful basis and its
    reason) and the bins and groups of each sensitive attribute.
``schema.json``
    The JSON Schema of ``card.json``, for reviewers' tools.
``validate.py``
    The one validator, with JSON paths in its errors: :func:`check_card` (the
    structure, used by :meth:`ModelCard.from_dict` and the registry),
    :func:`read_evidence` (what the gate judges), :func:`read_card` (a file),
    :func:`card_policy` (the policy a card carries).
``build.py``
    :func:`build_card` (the run card of one audited candidate),
    :func:`candidate_entry`, :func:`publishable_fairness` (the publication rule) and
    :func:`monitoring_card` (the champion's card re-issued on a new batch).
``figures.py``
    :func:`card_figures` (the one list of figures, for a run and for a monitoring
    batch), :func:`save_figures` and :func:`load_figures`.
``render.py``
    :func:`render_html` and :func:`summarize` (the HTML page), :func:`render_access_html`
    (data-subject access reports) and :func:`junit_xml` (a gate report for CI).
``export.py``
    :func:`export_card` (``governance card export``: Markdown for a pull request, a Hugging
    Face model card README, an EU AI Act Annex IV outline) and :func:`card_status`.
``templates/``
    The Jinja templates of the card page and of the access report.

The card imports neither the gate nor the audit engine: the gate reads cards.
"""

from governance._files import canonical_json
from governance.card._model import MONITORING_SCHEMA, SCHEMA, ModelCard, policy_sha256, write_card
from governance.card.build import build_card, candidate_entry, monitoring_card, publishable_fairness
from governance.card.export import CardStatus, card_status, export_card
from governance.card.figures import card_figures, load_figures, save_figures
from governance.card.render import CardSummary, junit_xml, render_access_html, render_html, summarize
from governance.card.validate import CardEvidence, CardExplanations, card_policy, check_card, read_card, read_evidence
from governance.metrics import PERFORMANCE_METRICS

__all__ = [
    "MONITORING_SCHEMA",
    "PERFORMANCE_METRICS",
    "SCHEMA",
    "CardEvidence",
    "CardExplanations",
    "CardStatus",
    "CardSummary",
    "ModelCard",
    "build_card",
    "candidate_entry",
    "canonical_json",
    "card_figures",
    "card_policy",
    "card_status",
    "check_card",
    "export_card",
    "junit_xml",
    "load_figures",
    "monitoring_card",
    "policy_sha256",
    "publishable_fairness",
    "read_card",
    "read_evidence",
    "render_access_html",
    "render_html",
    "save_figures",
    "summarize",
    "write_card",
]
