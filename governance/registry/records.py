"""What the model registry holds: registered versions, reviews, and the names of its aliases and tags.

Every audited candidate becomes a version of the registered model; the alias
``champion`` moves only to a version re-verified from the store (see
:mod:`governance.registry.promotion` and :mod:`governance.registry.rules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CANDIDATE",
    "CHAMPION",
    "DEMOTED_TAG",
    "EXPIRES_TAG",
    "LEASE_TAG",
    "LEASE_TTL_SECONDS",
    "MAX_NOTE_CHARS",
    "MAX_REVIEWER_CHARS",
    "PREVIOUS_CHAMPION",
    "READY",
    "Decision",
    "ModelVersionRecord",
    "Review",
]

#: Alias of the promoted version.
CHAMPION = "champion"
#: Alias of the version that was champion before the current one.
PREVIOUS_CHAMPION = "previous_champion"
#: Alias of the best passing version that still awaits approvals.
CANDIDATE = "candidate"
#: Registered-model tag of the advisory lease: ``<token> <expiry, epoch seconds> <purpose>``.
LEASE_TAG = "governance.lease"
#: A lease left by a crashed process stops blocking others after this long.
LEASE_TTL_SECONDS = 120.0
#: Version tag set when monitoring demoted the version (the monitoring run id): it cannot be champion again.
DEMOTED_TAG = "monitor.demoted"
#: Version tag: when the version's grace period ends, as it was trained with an account erased since.
EXPIRES_TAG = "erasure.expires_at"
#: Longest reviewer name and review note accepted.
MAX_REVIEWER_CHARS = 100
MAX_NOTE_CHARS = 2000
#: MLflow's status of a version whose creation completed.
READY = "READY"

Decision = Literal["approve", "reject"]


@dataclass(frozen=True)
class ModelVersionRecord:
    """A registered candidate: one version of the registered model, as the registry holds it.

    Attributes
    ----------
    registered_model, version
        Where it is registered.
    run_id
        The candidate's (nested) run: its tags ``gate.verdict`` and ``card.sha256`` are the audit record.
    candidate
        The candidate's name.
    verdict
        The gate verdict on its card: ``pass``, ``fail`` or ``inconclusive``.
    card_sha256
        sha256 of its current card (``card/<sha256>.json`` in the run's artifacts).
    model_id
        The MLflow logged model (``models:/<model_id>``).
    status
        MLflow's status of the version (``READY`` once created).
    aliases
        Aliases pointing at it when it was read.
    """

    registered_model: str
    version: int
    run_id: str
    candidate: str
    verdict: str
    card_sha256: str
    model_id: str
    status: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Review:
    """One reviewer's decision on a model version, as it appears on the card."""

    reviewer: str
    decision: Decision
    note: str
    at: str

    def to_dict(self) -> dict[str, str]:
        """Return the card's ``reviews[]`` item.

        Returns
        -------
        dict
            ``reviewer``, ``decision``, ``note`` and ``at``.
        """
        return {"reviewer": self.reviewer, "decision": self.decision, "note": self.note, "at": self.at}
