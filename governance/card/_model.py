"""The card's data: :class:`ModelCard`, the schema ids, the policy hash a card records, and writing ``card.json``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from governance._files import atomic_write, canonical_json
from governance.policy import policy_sha256

__all__ = ["MONITORING_SCHEMA", "SCHEMA", "ModelCard", "policy_sha256", "write_card"]

#: The card contract's version: ``schema`` of every card, ``$id`` of ``schema.json``.
SCHEMA: Final = "governance.card/1"
#: The version of a monitoring card's ``monitoring`` block.
MONITORING_SCHEMA: Final = "governance.monitoring/1"


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
        """Return the ``governance.card/1`` document (with a ``monitoring`` block on a monitoring card only)."""
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
        """Return the deterministic JSON bytes of :meth:`to_dict`."""
        return canonical_json(self.to_dict())

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`to_json`: what registry tags and promotion checks compare."""
        return hashlib.sha256(self.to_json()).hexdigest()

    def with_gate(self, gate: Mapping[str, Any]) -> ModelCard:
        """Return the same card with the gate's verdict, rule by rule."""
        return replace(self, gate=dict(gate))

    def with_model(self, **fields: Any) -> ModelCard:
        """Return the same card with fields of the ``model`` section set (version, run id, ...)."""
        return replace(self, model={**self.model, **fields})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Rebuild a card from its JSON document, checked by :func:`governance.card.validate.check_card`.

        Raises
        ------
        DataValidationError
            When the schema is not ``governance.card/1`` or a section is missing, every problem by JSON path.
        """
        from governance.card.validate import check_card

        check_card(data)
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


def write_card(card: ModelCard, folder: Path, *, html: str | None = None) -> tuple[Path, Path | None]:
    """Write ``card.json`` (and ``card.html``) into ``folder``, atomically.

    Parameters
    ----------
    card
        The card.
    folder
        Where to write; created when missing.
    html
        The rendered page (:func:`governance.card.render_html`), or None for the JSON alone.

    Returns
    -------
    tuple of (Path, Path or None)
        The JSON file and the HTML file (None without ``html``).
    """
    json_path = folder / "card.json"
    atomic_write(json_path, card.to_json())
    html_path = None
    if html is not None:
        html_path = folder / "card.html"
        atomic_write(html_path, html.encode("utf-8"))
    return json_path, html_path
