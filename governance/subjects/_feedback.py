"""Stakeholder feedback on a registered model version, recorded in the data-subject ledger.

:func:`add_feedback` records the text in the ledger's vault (the entry commits to it) and
lists it on the version's card, in the registry and in the local card files. Feedback texts
of an erased account are purged from the vault, and the cards listing them are updated
(:func:`governance.subjects.erase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from governance._screen import text_screen
from governance.config import GovernanceConfig
from governance.ledger import Entry, SubjectState, append, check_text, read_state
from governance.privacy import screen_text
from governance.subjects._account import _anchor_entry, _find, _guard_ledger, _ledger_path, _secret

if TYPE_CHECKING:
    import pandas as pd

    from governance.registry import VerifiedCard

__all__ = ["MAX_FEEDBACK_CHARS", "FeedbackOutcome", "add_feedback"]

MAX_FEEDBACK_CHARS: Final = 2000


@dataclass(frozen=True)
class FeedbackOutcome:
    """What :func:`add_feedback` recorded and where the card shows it."""

    entry: Entry
    version: int
    items: int
    card_sha256: str
    card_files: tuple[str, ...]


def _items(state: SubjectState, version: int) -> list[dict[str, Any]]:
    """List the registry card's ``feedback.items`` for one version, oldest first.

    The text of feedback about one account is left out (None): MLflow keeps every card a
    version ever had, so a text stored there would outlive the account's erasure. It is kept
    in the ledger's vault alone, which erasure purges, and shown on the local card files
    (:func:`_texts`).
    """
    return [
        {
            "id": f"F{entry.seq}",
            "text": None if entry.pseudonym is not None else text,
            "at": entry.at,
            "about_account": entry.pseudonym is not None,
            "status": "open",
        }
        for entry, text in state.feedback
        if entry.model_version == version
    ]


def _texts(state: SubjectState, version: int) -> dict[str, str]:
    """Return the texts of the feedback on a version about one account, by item id (erased accounts' purged)."""
    return {
        f"F{entry.seq}": text for entry, text in state.feedback if entry.model_version == version and entry.pseudonym
    }


def _sync_feedback(config: GovernanceConfig, versions: Sequence[int], *, secret: bytes) -> tuple[int, ...]:
    """Make each version's card list exactly the ledger's feedback on it; re-render the local card files."""
    from governance.pipeline import rerender_card, sync_champion
    from governance.registry import Registry

    state = read_state(_ledger_path(config), secret=secret)
    registry = Registry.for_config(config)
    done = []
    for version in versions:
        verified = registry.record_feedback(version, items=_items(state, version))
        rerender_card(config, verified, texts=_texts(state, version))
        done.append(version)
    sync_champion(config, registry)  # the exported champion's card.json follows its card in the registry
    return tuple(done)


def add_feedback(
    config: GovernanceConfig,
    *,
    model_version: int,
    text: str,
    account_id: str | None = None,
    now: datetime | None = None,
) -> FeedbackOutcome:
    """Record stakeholder feedback on a model version; the version's card lists it from now on.

    The text is recorded in the ledger's vault (the entry commits to it) and the version's
    card in the registry is updated (tag ``card.sha256`` moves to the new card; the audited
    part is unchanged), then the local card files of the version are rendered again.

    Parameters
    ----------
    config
        The validated config.
    model_version
        The registered model version the feedback is about.
    text
        The feedback (recorded in the ledger's vault; must not hold contact details).
    account_id
        The account the feedback is about, if any; pseudonymized at once, never stored.
    now
        When (default: now).

    Returns
    -------
    FeedbackOutcome
        The entry recorded, the number of items on the card, its new sha256 and files.

    Raises
    ------
    ConfigError
        (exit 2) No ledger configured; no such version; an empty or too long text.
    DataValidationError
        (exit 2) ``account_id`` given and no account has it.
    PrivacyError
        (exit 4) The text holds an identifier, a name or contact details of any row in the data (see
        :func:`governance.privacy.screen_text`); the ledger or the card fails verification.
    RegistryError
        (exit 3) MLflow cannot be reached.
    """
    from governance.pipeline import rerender_card, sync_champion
    from governance.registry import Registry

    ledger = _ledger_path(config)
    secret = _secret(config)
    pseudonym, frame = _about(config, account_id, secret)
    cleaned = _screened(config, text, what="--text", limit=MAX_FEEDBACK_CHARS, frame=frame)
    registry = Registry.for_config(config)
    registry.verified_card(model_version)  # the version exists and its card verifies, before anything is recorded
    _guard_ledger(config)
    entry = append(
        ledger,
        secret=secret,
        kind="feedback",
        pseudonym=pseudonym,
        model_version=model_version,
        content={"text": cleaned},
        at=now,
    )
    _anchor_entry(config, entry)
    state = read_state(ledger, secret=secret)
    items = _items(state, model_version)
    card: VerifiedCard = registry.record_feedback(model_version, items=items)
    written = rerender_card(config, card, texts=_texts(state, model_version))
    sync_champion(config, registry)  # the exported champion's card.json follows its card in the registry
    return FeedbackOutcome(
        entry=entry,
        version=model_version,
        items=len(items),
        card_sha256=card.card_sha256,
        card_files=() if written is None else tuple(str(p) for p in written),
    )


def _about(config: GovernanceConfig, account_id: str | None, secret: bytes) -> tuple[str | None, pd.DataFrame | None]:
    """Find the account feedback is about: its pseudonym and the source table already loaded to find it."""
    if account_id is None:
        return None, None
    account = _find(config, account_id, secret)
    return account.pseudonym, account.frame


def _screened(
    config: GovernanceConfig,
    text: str,
    *,
    what: str,
    limit: int,
    required: bool = True,
    frame: pd.DataFrame | None = None,
) -> str:
    """Return a free text as it may be recorded: bounded plain text naming no row of the data.

    Every reason and feedback text passes here: :func:`governance.privacy.screen_text` against
    every row's identifier, names and contact details (``frame`` when the command already loaded
    the table, else only those columns are read), and :func:`governance.ledger.check_text`
    (empty, too long, control characters).
    """
    from governance.pipeline import ensure_data

    stripped = text.strip()
    if stripped and len(stripped) <= limit:  # bounded before it is screened; check_text names the other faults
        if frame is None:
            ensure_data(config)
        screen_text(stripped, what=what, screen=text_screen(config, frame))
    return check_text(text, what=what, limit=limit, required=required)
