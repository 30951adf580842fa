"""Data-subject rights: access, rectification, erasure, consent withdrawal and feedback.

Each right is one function here and one ``governance`` command; every request is an
entry of the hash-chained ledger (:mod:`governance.ledger`), keyed by the account's
keyed pseudonym, never by its identifier. The identifier the requester gives is
pseudonymized at once with the configured key and never stored, logged or printed.

``access``
    What is held on the account (the declared fields only: model features, audit-only
    sensitive attributes, the recorded outcome), its consent status and lawful basis,
    which registered model versions were trained with it and on which side of the split,
    its current score, percentile and reason codes from the champion, the purpose of the
    scoring, and the ledger's history of the account. No other account's data: the
    percentile is the only figure that involves other accounts.
``correct``
    Validates the new values against the data contract, records them (values in the
    ledger's vault, field names in the entry) and shows the score before and after:
    from then on every command reads the corrected values (corrections overlay the
    source file; :func:`governance.data.prepare`).
``erase`` / ``withdraw_consent``
    The account is excluded from every later training, scoring and report (counted on
    the next card as ``erased`` / ``consent_withdrawn``); the reports already written
    about it alone (its reason codes, its access report) are deleted; an erasure also
    purges what the ledger's vault held about it (its corrections and feedback texts),
    keeping only the pseudonym and the fact of each request. The source system of
    record must delete the row itself: this tool never rewrites the user's data file.
``feedback``
    Stakeholder feedback on a registered model version, recorded in the ledger and
    listed on that version's card (in the registry and the local card files).

Models trained before a request still embody the account's data: the next
``governance run`` trains without it. The access report says which versions those are.

Files
-----
``_rights.py``
    ``correct``, ``erase``, ``withdraw_consent`` and ``verify_ledger``.
``_access.py``
    ``access``: the access report of one account.
``_feedback.py``
    ``add_feedback``: feedback on a registered version, on its card.
``_account.py``
    Finding an account by its identifier (pseudonymized at once) and the ledger it is recorded in.
"""

from __future__ import annotations

from governance.subjects._access import ACCESS_SCHEMA, AccessReport, Score, access
from governance.subjects._feedback import MAX_FEEDBACK_CHARS, FeedbackOutcome, add_feedback
from governance.subjects._rights import (
    MAX_REASON_CHARS,
    Correction,
    Request,
    correct,
    erase,
    parse_assignments,
    verify_ledger,
    withdraw_consent,
)

__all__ = [
    "ACCESS_SCHEMA",
    "MAX_FEEDBACK_CHARS",
    "MAX_REASON_CHARS",
    "AccessReport",
    "Correction",
    "FeedbackOutcome",
    "Request",
    "Score",
    "access",
    "add_feedback",
    "correct",
    "erase",
    "parse_assignments",
    "verify_ledger",
    "withdraw_consent",
]
