"""What a card says about its rows: the word for one row, the consent checks made, the sensitive attributes' groups.

The word for a row (``purpose.subject``: ``{singular, plural}``) comes from
``config.purpose.subject`` / ``subjects``; a card without it is an account
card (every card was, before the word was configurable), so
:func:`subject_words` reads ``account`` / ``accounts`` then.

``data.consent`` (:func:`consent_block`) says exactly what was checked and
what was not: in per-row mode every check of :func:`governance.data.consent_mask`
in its order, each checked or skipped because its config key is null, with
the rows it excluded (``data.excluded``); in dataset mode the lawful basis of
the whole dataset and its reason, in place of any per-row check.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from governance._config_base import bin_labels

if TYPE_CHECKING:
    from governance.config import ConsentSpec, GovernanceConfig, SensitiveAttribute

__all__ = [
    "CONSENT_REASONS",
    "DEFAULT_SUBJECT",
    "consent_block",
    "ledger_block",
    "sensitive_entry",
    "subject_entry",
    "subject_words",
]

#: The words of a card that does not record them: every such card was an account card.
DEFAULT_SUBJECT: Final = ("account", "accounts")
#: The exclusion reasons of the per-row consent checks, by check, in the order they are applied.
CONSENT_REASONS: Final[Mapping[str, tuple[str, ...]]] = {
    "consent_flag": ("consent_missing", "consent_not_given"),
    "timestamp_present": ("consent_timestamp_missing",),
    "timestamp_not_in_future": ("consent_timestamp_in_future",),
    "not_expired": ("consent_expired",),
    "lawful_basis": ("lawful_basis_not_accepted",),
}


def subject_entry(config: GovernanceConfig) -> dict[str, str]:
    """Return the card's ``purpose.subject``: the config's word for one row, singular and plural.

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    dict
        ``{"singular": ..., "plural": ...}``.
    """
    return {"singular": config.purpose.subject, "plural": config.purpose.subjects}


def subject_words(card: Mapping[str, Any]) -> tuple[str, str]:
    """Return the word for one row of a card document, singular and plural (``account(s)`` when absent).

    Parameters
    ----------
    card
        A card document (or its ``purpose`` section).

    Returns
    -------
    tuple of (str, str)
        The singular and the plural.
    """
    purpose = card.get("purpose", card)
    entry = purpose.get("subject") if isinstance(purpose, Mapping) else None
    if isinstance(entry, Mapping):
        singular, many = entry.get("singular"), entry.get("plural")
        if isinstance(singular, str) and singular and isinstance(many, str) and many:
            return singular, many
    return DEFAULT_SUBJECT


def _count(n: int, singular: str, plural: str) -> str:
    """Return ``1 applicant`` or ``3 applicants``."""
    return f"{n:,} {singular if n == 1 else plural}"


def _check(
    name: str,
    *,
    what: str,
    column: str | None,
    rule: str | None,
    skipped: str | None,
    excluded: Mapping[str, int],
    words: tuple[str, str],
) -> dict[str, Any]:
    """One consent check as the card records it: checked (its rule and exclusions) or skipped (why)."""
    counts = {reason: int(excluded.get(reason, 0)) for reason in CONSENT_REASONS[name]}
    if skipped is not None:
        return {
            "check": name,
            "checked": False,
            "column": column,
            "excluded": {},
            "text": f"{what}: not checked ({skipped})",
        }
    total = sum(counts.values())
    detail = ""
    if total and len(counts) > 1:
        detail = " (" + ", ".join(f"{r.replace('_', ' ')} {c:,}" for r, c in counts.items() if c) + ")"
    return {
        "check": name,
        "checked": True,
        "column": column,
        "excluded": counts,
        "text": f"{what}: checked, {rule}; {_count(total, *words)} excluded{detail}",
    }


def _per_row_checks(consent: ConsentSpec, excluded: Mapping[str, int], words: tuple[str, str]) -> list[dict[str, Any]]:
    """List the five per-row checks in the order :func:`governance.data.consent_mask` applies them."""
    stamps = consent.timestamp_column
    no_stamps = "no consent timestamps are read: data.consent.timestamp_column is null"
    as_of = None if consent.as_of is None else consent.as_of.isoformat()
    flag_rule = f"column {consent.column} must be true (a missing or unreadable flag excludes as well)"
    expiry_rule = f"a consent given more than {consent.max_age_days} days before {as_of} excludes"
    accepted = ", ".join(b.replace("_", " ") for b in consent.accepted_lawful_bases)
    future_skip = no_stamps if not stamps else "data.consent.as_of is null" if as_of is None else None
    expiry_skip = future_skip or ("data.consent.max_age_days is null" if consent.max_age_days is None else None)
    check = functools.partial(_check, excluded=excluded, words=words)
    return [
        check(
            "consent_flag",
            what="consent flag",
            column=consent.column,
            rule=flag_rule,
            skipped=None if consent.column else "data.consent.column is null",
        ),
        check(
            "timestamp_present",
            what="consent timestamps",
            column=stamps,
            rule=f"column {stamps} must hold a date",
            skipped=None if stamps else "data.consent.timestamp_column is null",
        ),
        check(
            "timestamp_not_in_future",
            what="consent timestamps in the future",
            column=stamps,
            rule=f"a consent dated after {as_of} (data.consent.as_of) excludes",
            skipped=future_skip,
        ),
        check("not_expired", what="expired consent", column=stamps, rule=expiry_rule, skipped=expiry_skip),
        check(
            "lawful_basis",
            what="lawful basis",
            column=consent.lawful_basis_column,
            rule=f"column {consent.lawful_basis_column} must be one of: {accepted}",
            skipped=None if consent.lawful_basis_column else "data.consent.lawful_basis_column is null",
        ),
    ]


def consent_block(consent: ConsentSpec, excluded: Mapping[str, int], *, subject: str, subjects: str) -> dict[str, Any]:
    """Return the card's ``data.consent``: what was checked, what was not, and the rows each check excluded.

    Parameters
    ----------
    consent
        ``config.data.consent``.
    excluded
        ``data.excluded``: the rows excluded before use, by reason.
    subject, subjects
        The word for one row, singular and plural.

    Returns
    -------
    dict
        ``per_row``, ``lawful_basis`` and ``reason`` (dataset mode), ``checks`` (per-row
        mode: ``check``, ``checked``, ``column``, ``excluded`` by reason, ``text``),
        ``excluded`` (the rows every consent check excluded) and ``text``.
    """
    words = (subject, subjects)
    withdrawn = int(excluded.get("consent_withdrawn", 0))
    ledger = (
        f" {_count(withdrawn, *words)} withdrew consent through the data-subject ledger and "
        f"{'was' if withdrawn == 1 else 'were'} excluded."
        if withdrawn
        else ""
    )
    if not consent.per_row:
        basis = str(consent.lawful_basis).replace("_", " ")
        reason = (consent.reason or "").strip().rstrip(".")
        text = (
            f"no per-row consent check: the whole dataset is used on the lawful basis {basis}: {reason}. "
            f"No {subject} was excluded by a consent check." + ledger
        )
        return {
            "per_row": False,
            "lawful_basis": consent.lawful_basis,
            "reason": consent.reason,
            "checks": [],
            "excluded": 0,
            "text": text,
        }
    checks = _per_row_checks(consent, excluded, words)
    total = sum(sum(c["excluded"].values()) for c in checks)
    skipped = [c["text"].split(":")[0] for c in checks if not c["checked"]]
    text = f"consent checked row by row before any use: {_count(total, *words)} excluded in all"
    text += f"; not checked: {', '.join(skipped)}." if skipped else "; every check ran."
    return {
        "per_row": True,
        "lawful_basis": None,
        "reason": None,
        "checks": checks,
        "excluded": total,
        "text": text + ledger,
    }


def _bands(bins: Sequence[float], groups: Sequence[str]) -> str:
    """Name the bands of a binned attribute, each label with its range when the labels are not the ranges."""
    ranges = bin_labels(tuple(bins))
    if tuple(groups) == ranges:
        return ", ".join(ranges)
    return ", ".join(f"{label} ({band})" for label, band in zip(groups, ranges, strict=True))


def sensitive_entry(attribute: SensitiveAttribute, *, use: str) -> dict[str, Any]:
    """Return one ``data.sensitive`` item: the attribute, its use, its reference, its bins and groups.

    Parameters
    ----------
    attribute
        The declared sensitive attribute.
    use
        ``audit only`` or ``audit and inference``.

    Returns
    -------
    dict
        ``name``, ``use``, ``reference``, ``bins`` (edges, or None), ``groups`` (the band labels
        or the declared categories, or None: the values found in the data) and, when binned,
        ``bands`` (the sentence the card prints).
    """
    groups = attribute.groups
    entry: dict[str, Any] = {
        "name": attribute.name,
        "use": use,
        "reference": attribute.reference,
        "bins": None if attribute.bins is None else [float(b) for b in attribute.bins],
        "groups": None if groups is None else list(groups),
    }
    if attribute.bins is not None and groups is not None:
        entry["bands"] = (
            f"{attribute.name}, audited in bands: {_bands(attribute.bins, groups)} "
            "(each band from its lower edge, included, to the next)"
        )
    return entry


def ledger_block(entries: int, head: str | None) -> dict[str, Any]:
    """Return the card's ``data.ledger``: the data-subject ledger entries the data was prepared with.

    The same head is anchored in the MLflow experiment: a ledger that no longer holds it was
    deleted or rolled back, and is refused.

    Parameters
    ----------
    entries
        Entries applied (erasures, withdrawals, corrections, ...).
    head
        The last one's hash; None when none was.

    Returns
    -------
    dict
        ``entries``, ``head`` and a sentence for the reviewer.
    """
    text = (
        "no data-subject ledger entry applied"
        if not entries
        else f"prepared with the data-subject ledger's first {entries:,} entries (head {str(head)[:12]}...)"
    )
    return {"entries": int(entries), "head": head, "text": text}
