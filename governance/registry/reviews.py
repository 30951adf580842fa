"""Reviews, feedback and history of model versions: appended to the verified card, never re-signing a changed one.

A review or a feedback update rewrites the version's card (``card/<sha256>.json``)
and switches tag ``card.sha256`` to it (the commit point), under the lease; the
audited part of the card, and so the run's audit record, never changes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from governance._files import canonical_json
from governance.errors import ConfigError, Problem, RegistryError
from governance.privacy import NAME, TextScreen, screen_text
from governance.registry._card import CARD_FOLDER, sha
from governance.registry._client import Registry, error_code, quoted
from governance.registry._evidence import aliases, evidence, model_version
from governance.registry._lease import SETTLE_SECONDS, demote_if_champion, lease
from governance.registry._values import check_values
from governance.registry.records import CHAMPION, MAX_NOTE_CHARS, MAX_REVIEWER_CHARS, Decision, Review
from governance.registry.rules import Evidence, latest_decisions

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "ReviewOutcome",
    "VerifiedCard",
    "VersionFacts",
    "record_feedback",
    "record_review",
    "tag_version",
    "verified_card",
    "version_history",
]

_REVIEW_WRITES = 3
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class ReviewOutcome:
    """What :func:`record_review` recorded, and where the version stands afterwards.

    ``approvals`` and ``rejections`` name the reviewers whose latest decision is
    an approval or a rejection. ``repairs`` says how aliases moved when a
    rejected champion was demoted.
    """

    registered_model: str
    version: int
    review: Review
    approvals: tuple[str, ...]
    rejections: tuple[str, ...]
    card_sha256: str
    champion: int | None
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifiedCard:
    """A version's current card, re-read from the store and verified against its run's audit record.

    Attributes
    ----------
    registered_model, version, run_id, candidate
        Which version.
    card
        The card document as stored (reviews and feedback included).
    card_sha256
        Its checksum (version tag ``card.sha256``).
    aliases
        Aliases pointing at the version when it was read.
    """

    registered_model: str
    version: int
    run_id: str
    candidate: str
    card: Mapping[str, Any]
    card_sha256: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionFacts:
    """What the registry says about one version, for an access report: which data trained it, and when."""

    version: int
    run_id: str
    candidate: str
    data_sha256: str
    trained_at: datetime | None
    aliases: tuple[str, ...]
    verdict: str


# ---------------------------------------------------------------- reviews


def _review_problems(decision: str, reviewer: str, note: str, at: datetime | None) -> list[Problem]:
    """Every problem of a review (reviewer and note already stripped)."""
    problems: list[Problem] = []
    if decision not in ("approve", "reject"):
        problems.append(Problem("decision", f"expected 'approve' or 'reject', found {decision!r}"))
    if not reviewer:
        problems.append(Problem("reviewer", "expected the reviewer's name, found nothing"))
    elif len(reviewer) > MAX_REVIEWER_CHARS or _CONTROL.search(reviewer) or "\n" in reviewer:
        problems.append(
            Problem("reviewer", f"expected one line of at most {MAX_REVIEWER_CHARS} characters, found {len(reviewer)}")
        )
    if not note:
        problems.append(Problem("note", "expected a note saying why, found nothing", "every review states its reason"))
    elif len(note) > MAX_NOTE_CHARS:
        problems.append(Problem("note", f"expected at most {MAX_NOTE_CHARS} characters, found {len(note)}"))
    elif _CONTROL.search(note):
        problems.append(Problem("note", "expected text, found control characters"))
    if at is not None and at.tzinfo is None:
        problems.append(Problem("at", "expected a timezone-aware time, found a naive one"))
    return problems


def _checked_review(decision: str, reviewer: str, note: str, at: datetime | None) -> Review:
    """Every problem of a review at once (ConfigError); personal data in it is refused (PrivacyError)."""
    reviewer, note = reviewer.strip(), note.strip()
    problems = _review_problems(decision, reviewer, note, at)
    if problems:
        raise ConfigError(problems)
    # the reviewer is staff and may be named; neither field may hold contact details
    screen_text(reviewer, what="the review", it="its reviewer")
    screen_text(note, what="the review", it="its note")
    moment = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    checked: Decision = "approve" if decision == "approve" else "reject"
    return Review(reviewer=reviewer, decision=checked, note=note, at=moment)


def _screen_review(reviewer: str, note: str, screen: TextScreen) -> None:
    """Refuse a note holding any row's identifier, name or contact details, and a reviewer holding an identifier.

    The reviewer is staff, not a data subject, and may be named (even as a contact of the data is).
    Texts that break the limits are left to :func:`_checked_review`, which names every problem.
    """
    if 0 < len(reviewer.strip()) <= MAX_REVIEWER_CHARS:
        screen_text(reviewer.strip(), what="the review", it="its reviewer", screen=screen, allow=(NAME,))
    if 0 < len(note.strip()) <= MAX_NOTE_CHARS:
        screen_text(note.strip(), what="the review", it="its note", screen=screen)


def _review_tags(client: MlflowClient, name: str, version: int, reviews: Sequence[Review]) -> None:
    """Return the reviews of the committed card as version tags, writing only those that differ."""
    current = client.get_model_version(name, str(version)).tags or {}
    wanted = {
        "review.count": str(len(reviews)),
        "review.approvals": str(len(latest_decisions(reviews, "approve"))),
        "review.rejections": str(len(latest_decisions(reviews, "reject"))),
    }
    for i, review in enumerate(reviews, start=1):
        wanted |= {f"review.{i}.{key}": value for key, value in review.to_dict().items()}
    for key, value in wanted.items():
        if current.get(key) != value:
            client.set_model_version_tag(name, str(version), key, value)


def _rewrite_card(
    registry: Registry,
    version: int,
    *,
    done: Callable[[Evidence], bool],
    change: Callable[[Evidence], dict[str, Any]],
    failure: str,
) -> Evidence:
    """Store ``change(card)`` as the version's card until ``done`` holds of what is read back; the final evidence.

    Each write stores ``card/<sha256>.json`` and switches tag ``card.sha256`` (the
    commit point), then reads back: a concurrent writer holding the lease by
    mistake may have overwritten it. RegistryError(``failure``) when it kept being overwritten.
    """
    client, name = registry.client, registry.name
    found = evidence(client, name, version, uri=registry.uri, deep=False)
    for _ in range(_REVIEW_WRITES):
        if done(found):
            break
        data = canonical_json(change(found))
        digest = sha(data)
        client.log_text(found.run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{digest}.json")
        client.set_model_version_tag(name, str(version), "card.sha256", digest)  # the commit point
        time.sleep(SETTLE_SECONDS)
        found = evidence(client, name, version, uri=registry.uri, deep=False)
    if not done(found):
        raise RegistryError(failure)
    return found


def record_review_in(
    registry: Registry,
    *,
    version: int,
    decision: Decision,
    reviewer: str,
    note: str,
    at: datetime | None,
    required_approvals: int,
    lease_wait: float,
) -> ReviewOutcome:
    """:meth:`Registry.record_review`: see :func:`record_review`."""
    review = _checked_review(decision, reviewer, note, at)
    name = registry.name
    with registry.call("record the review"):
        client = registry.client
        model_version(client, name, version)
        with lease(client, name, purpose=f"review version {version}", wait=lease_wait):
            found = _rewrite_card(
                registry,
                version,
                done=lambda e: review in e.reviews,
                change=lambda e: {**e.card, "reviews": [r.to_dict() for r in (*e.reviews, review)]},
                failure=f"concurrent reviews of {name!r} version {version} kept overwriting this one; "
                "run the command again",
            )
            _review_tags(client, name, version, found.reviews)
            champion, repairs = (
                demote_if_champion(client, name, version, uri=registry.uri, required=required_approvals)
                if found.rejections
                else (aliases(client, name).get(CHAMPION), ())
            )
    return ReviewOutcome(
        registered_model=name,
        version=version,
        review=review,
        approvals=found.approvals,
        rejections=found.rejections,
        card_sha256=found.card_sha256,
        champion=champion,
        repairs=repairs,
    )


def record_review(
    uri: str,
    *,
    registered_model: str,
    version: int,
    decision: Decision,
    reviewer: str,
    note: str,
    at: datetime | None = None,
    required_approvals: int = 0,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
    screen: TextScreen | None = None,
) -> ReviewOutcome:
    """Record a reviewer's approval or rejection of a version: on its card and in its tags.

    Under the registered model's lease, the current card is verified (as for
    :func:`~governance.registry.promote`: a tampered card is never re-signed by a review), the review
    is appended to its ``reviews``, the new card is stored as
    ``card/<sha256>.json`` and tag ``card.sha256`` is switched to it (one write:
    the commit point); then the summary tags ``review.count``,
    ``review.approvals``, ``review.rejections`` and ``review.<n>.reviewer`` /
    ``.decision`` / ``.note`` / ``.at`` are written. A rejection of the current
    champion demotes it: ``previous_champion`` takes its place when it still
    passes verification, otherwise the alias is removed.

    Each reviewer counts once: their latest decision stands. A wrapper of
    :meth:`Registry.record_review` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version reviewed.
    decision
        ``approve`` or ``reject``.
    reviewer
        Who decides (one line, at most 100 characters; no e-mail address or phone number).
    note
        Why (at most 2,000 characters; no e-mail address or phone number, and nothing ``screen`` holds).
    at
        When (timezone-aware); now by default.
    required_approvals
        The policy's count, used to verify a replacement champion after a demotion.
    timeout, retries, lease_wait
        As :func:`~governance.registry.promote`.
    screen
        The data's identifiers, names and contact details (:func:`governance._screen.text_screen`):
        the note may hold none of them, the reviewer no identifier (a reviewer is staff, and may be
        named). Checked before MLflow is contacted.

    Returns
    -------
    ReviewOutcome

    Raises
    ------
    ConfigError
        (exit 2) An empty or too long reviewer or note, an unknown decision, no such version.
    PrivacyError
        (exit 4) Contact details in the review, an identifier or a name of the data in its note, or the card
        was changed after it was recorded.
    RegistryError
        (exit 3) MLflow unreachable or failing, or the lease not obtained in time.
    """
    if screen is not None:  # before MLflow is contacted
        _screen_review(reviewer, note, screen)
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.record_review(
        version,
        decision=decision,
        reviewer=reviewer,
        note=note,
        at=at,
        required_approvals=required_approvals,
        lease_wait=lease_wait,
    )


# ---------------------------------------------------------------- cards and feedback


def _verified(client: MlflowClient, name: str, version: int, found: Evidence) -> VerifiedCard:
    """Return the VerifiedCard of verified evidence, with the version's candidate and aliases."""
    mv = client.get_model_version(name, str(version))
    return VerifiedCard(
        registered_model=name,
        version=version,
        run_id=found.run_id,
        candidate=str((mv.tags or {}).get("candidate.name", "")),
        card=found.card,
        card_sha256=found.card_sha256,
        aliases=tuple(sorted(mv.aliases or ())),
    )


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> int:
    """Return the version an alias names; ConfigError when none does."""
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except Exception as exc:
        if error_code(exc) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise ConfigError(
            [
                Problem(
                    "model",
                    f"registered model {name!r} has no version with the alias {alias!r}",
                    "promote a version first (governance run, or governance promote)",
                )
            ]
        ) from None


def verified_card_in(registry: Registry, *, version: int | None, alias: str) -> VerifiedCard:
    """:meth:`Registry.verified_card`: see :func:`verified_card`."""
    name = registry.name
    with registry.call("read the model version's card"):
        client = registry.client
        number = _version_by_alias(client, name, alias) if version is None else version
        found = evidence(client, name, number, uri=registry.uri, deep=False)
        return _verified(client, name, number, found)


def verified_card(
    uri: str,
    *,
    registered_model: str,
    version: int | None = None,
    alias: str = CHAMPION,
    timeout: float = 10.0,
    retries: int = 2,
) -> VerifiedCard:
    """Return the current card of a version (or of the version an alias names), verified as promotion verifies it.

    A wrapper of :meth:`Registry.verified_card` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model
        Name of the registered model.
    version
        The version; None follows ``alias``.
    alias
        The alias to follow when ``version`` is None.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Returns
    -------
    VerifiedCard

    Raises
    ------
    ConfigError
        (exit 2) No such version, or no version holds the alias.
    PrivacyError
        (exit 4) The card, its tags or its run changed after the audit.
    GateFailure
        (exit 1) The version's registration did not complete.
    RegistryError
        (exit 3) MLflow cannot be reached or read.
    """
    return Registry(uri, model_name=registered_model, timeout=timeout, retries=retries).verified_card(
        version, alias=alias
    )


def record_feedback_in(
    registry: Registry, *, version: int, items: Sequence[Mapping[str, Any]], lease_wait: float
) -> VerifiedCard:
    """:meth:`Registry.record_feedback`: see :func:`record_feedback`."""
    wanted = [dict(item) for item in items]
    for item in wanted:
        check_values("feedback", {str(item.get("id")): item.get("text") or ""})

    def change(found: Evidence) -> dict[str, Any]:
        feedback = dict(found.card.get("feedback") or {})
        return {**found.card, "feedback": {**feedback, "contact": feedback.get("contact"), "items": wanted}}

    name = registry.name
    with registry.call("record the feedback"):
        client = registry.client
        model_version(client, name, version)
        with lease(client, name, purpose=f"feedback on version {version}", wait=lease_wait):
            found = _rewrite_card(
                registry,
                version,
                done=lambda e: (e.card.get("feedback") or {}).get("items") == wanted,
                change=change,
                failure=f"concurrent writes to the card of {name!r} version {version} kept overwriting the "
                "feedback; run the command again",
            )
            client.set_model_version_tag(name, str(version), "feedback.count", str(len(wanted)))
            return _verified(client, name, version, found)


def record_feedback(
    uri: str,
    *,
    registered_model: str,
    version: int,
    items: Sequence[Mapping[str, Any]],
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> VerifiedCard:
    """Make a version's card list exactly these feedback items (``feedback.items``), as reviews are recorded.

    Under the registered model's lease the current card is verified (a changed card is
    never re-signed), the new card is stored as ``card/<sha256>.json`` and tag
    ``card.sha256`` is switched to it (the commit point), then tag ``feedback.count``.
    Feedback is not part of the audited card, so the audit record is unchanged. The
    items come from the ledger (:mod:`governance.ledger`): recording them all each time
    makes a failed update complete at the next one. A wrapper of
    :meth:`Registry.record_feedback` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version the feedback is about.
    items
        The card's ``feedback.items``: ``id``, ``text``, ``at``, ``about_account``, ``status``.
    timeout, retries, lease_wait
        As :func:`~governance.registry.promote`.

    Returns
    -------
    VerifiedCard
        The card as now stored.

    Raises
    ------
    ConfigError, PrivacyError, GateFailure, RegistryError
        As :func:`verified_card`; RegistryError also when the lease is not obtained in time.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.record_feedback(version, items=items, lease_wait=lease_wait)


# ---------------------------------------------------------------- tags and history


def tag_version_in(registry: Registry, *, version: int, tags: Mapping[str, Any]) -> None:
    """:meth:`Registry.tag_version`: see :func:`tag_version`."""
    checked = check_values("version tag", tags)
    name = registry.name
    with registry.call("tag the model version"):
        client = registry.client
        model_version(client, name, version)
        for key, value in checked.items():
            client.set_model_version_tag(name, str(version), key, value)


def tag_version(
    uri: str,
    *,
    registered_model: str,
    version: int,
    tags: Mapping[str, Any],
    timeout: float = 10.0,
    retries: int = 2,
) -> None:
    """Set informational tags on a model version (``monitor.verdict``, ``monitor.run_id``, ...).

    A wrapper of :meth:`Registry.tag_version` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version.
    tags
        Tag names and values.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Raises
    ------
    PrivacyError
        (exit 4) A value that looks like personal data.
    RegistryError
        (exit 3) MLflow cannot be reached or written.
    """
    Registry(uri, model_name=registered_model, timeout=timeout, retries=retries).tag_version(version, tags=tags)


def _trained_at(client: MlflowClient, run_id: str) -> datetime | None:
    """When the version's run started (None: no run, or the run is gone)."""
    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None
    return datetime.fromtimestamp(run.info.start_time / 1000.0, tz=UTC)


def version_history_in(registry: Registry) -> tuple[VersionFacts, ...]:
    """:meth:`Registry.version_history`: see :func:`version_history`."""
    name = registry.name
    with registry.call("list the model versions"):
        client = registry.client
        try:
            versions = list(client.search_model_versions(f"name = '{quoted(name)}'"))
        except Exception as exc:
            if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return ()
            raise
        out = []
        for mv in sorted(versions, key=lambda v: int(v.version)):
            run_id = str(mv.run_id or "")
            tags = mv.tags or {}
            out.append(
                VersionFacts(
                    version=int(mv.version),
                    run_id=run_id,
                    candidate=tags.get("candidate.name", ""),
                    data_sha256=tags.get("data.sha256", ""),
                    trained_at=_trained_at(client, run_id),
                    aliases=tuple(sorted(mv.aliases or ())),
                    verdict=tags.get("gate.verdict", ""),
                )
            )
    return tuple(out)


def version_history(
    uri: str, *, registered_model: str, timeout: float = 10.0, retries: int = 2
) -> tuple[VersionFacts, ...]:
    """Every version of the registered model, oldest first, with its training data's fingerprint and time.

    A registered model that does not exist yet has no versions (an empty tuple).
    A wrapper of :meth:`Registry.version_history` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model
        Name of the registered model.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Returns
    -------
    tuple of VersionFacts

    Raises
    ------
    RegistryError
        (exit 3) MLflow cannot be reached or read.
    """
    return Registry(uri, model_name=registered_model, timeout=timeout, retries=retries).version_history()
