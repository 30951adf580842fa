"""A run's candidates as registry versions: a new version, or the existing one an identical candidate matches.

A candidate whose lineage (data, config, policy, candidate and model content:
:func:`governance.registry.lineage_sha256`, run tag ``lineage.sha256``) is
already registered reuses that version: its card is the version's verified
card (reviews and feedback included), the run that trained it again is tagged
``registry.matches_version``, and no version is added. Anything else is
registered as a new version with its card.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from governance import _cancel
from governance.card import ModelCard

if TYPE_CHECKING:
    from governance.registry import MatchedVersion, ModelVersionRecord, Registry

__all__ = ["MATCH_TAG", "register_or_match"]

#: Run tag set on a candidate's run when an existing version has its lineage: that version's number.
MATCH_TAG = "registry.matches_version"


def register_or_match(
    registry: Registry, card: ModelCard, *, run_id: str, lineage: str
) -> tuple[ModelCard, ModelVersionRecord, MatchedVersion | None]:
    """Register a gated candidate, or reuse the version with its lineage.

    Parameters
    ----------
    registry
        The run's registry.
    card
        The candidate's gated card, not yet registered.
    run_id
        The candidate's run.
    lineage
        Its lineage (empty: always a new version).

    Returns
    -------
    tuple of (ModelCard, ModelVersionRecord, MatchedVersion or None)
        The card as registered, the version, and the match (None: a new version).
    """
    _cancel.check()  # no version is registered, and no run tagged, after a cancel
    matched = registry.matching_version(lineage)
    _cancel.check()
    if matched is None:
        registered, record = _register(registry, card, run_id)
        return registered, record, None
    registry.tag_run(run_id, tags={MATCH_TAG: matched.record.version})
    return ModelCard.from_dict(matched.card.card), matched.record, matched


def _register(registry: Registry, card: ModelCard, run_id: str) -> tuple[ModelCard, ModelVersionRecord]:
    """Register the candidate with its card; return the card as registered (version filled in) and the record."""
    from governance.errors import RegistryError

    record = registry.register(run_id, card=card.to_dict())
    registered = card.with_model(registered_model=record.registered_model, version=record.version, run_id=run_id)
    if registered.sha256 != record.card_sha256:
        raise RegistryError(
            f"the card registered for {card.model['candidate']} (sha256 {record.card_sha256[:12]}...) differs from "
            f"the card written here (sha256 {registered.sha256[:12]}...); run governance run again"
        )
    return registered, record
