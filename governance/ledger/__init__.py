"""The data-subject ledger: an append-only, hash-chained record of requests and changes.

Every data-subject request (access, correction, erasure, consent withdrawal) and every piece
of stakeholder feedback is one line of a JSONL file, keyed by the account's keyed pseudonym and
never by its identifier. Four files live side by side (``config.subjects.ledger`` names the first):
``ledger.jsonl`` holds the entries, ``ledger.vault.json`` the erasable content they commit to,
``ledger.head.json`` the sealed last entry and ``ledger.lock`` the writers' lock.

:func:`verify` names the first bad entry; :func:`read_state` (what
:func:`governance.data.prepare` applies) refuses a ledger that fails verification.

Files
-----
``_chain.py``
    ``append``, ``read_state``, ``verify`` and ``check_text``: writing, replaying and verifying.
``_format.py``
    The entry format (``Entry``, ``ENTRY_SCHEMA``, ``KINDS``), the four files (``LedgerFiles``),
    the writers' lock, the key id and the seal.
"""

from __future__ import annotations

from governance.ledger._chain import SubjectState, Verification, append, check_text, read_state, verify
from governance.ledger._format import ENTRY_SCHEMA, KINDS, Entry, Kind, LedgerFiles, key_id, stamp

__all__ = [
    "ENTRY_SCHEMA",
    "KINDS",
    "Entry",
    "Kind",
    "LedgerFiles",
    "SubjectState",
    "Verification",
    "append",
    "check_text",
    "key_id",
    "read_state",
    "stamp",
    "verify",
]
