"""The ledger's file format: its entries, the files beside it and their lock.

Every data-subject request (access, correction, erasure, consent withdrawal) and every piece
of stakeholder feedback is one line of a JSONL file, keyed by the account's keyed pseudonym and
never by its identifier. Four files live side by side (``config.subjects.ledger`` names the first):

``ledger.jsonl``
    The entries, one canonical JSON object a line::

        {"at": "2026-03-01T09:30:00.000Z", "commitment": "<sha256>" | null, "fields": ["intent_score"],
         "hash": "<sha256>", "key_id": "<16 hex>", "kind": "correct", "model_version": null,
         "prev": "<sha256 of the previous entry>", "pseudonym": "<32 hex>" | null,
         "schema": "governance.ledger/1", "seal": "<HMAC-SHA256>", "seq": 7}

    ``hash`` is the sha256 of the entry without ``hash`` and ``seal`` (canonical JSON: sorted
    keys, no spaces); ``prev`` is the previous entry's hash (64 zeros for the first), so an
    entry cannot be edited, removed or moved without breaking the chain after it. ``seal`` is
    HMAC-SHA256 of ``hash`` under the pseudonymization key, so the chain cannot be re-hashed
    after an edit by anyone who lacks the key; ``key_id`` says which key (a key change would
    silently stop erasures from matching, so it is refused). An entry is committed with its
    final newline: an unterminated last line is a write interrupted before that point, not an
    entry; :func:`verify` notes it and the next write removes it.
``ledger.vault.json``
    What an entry commits to but must be erasable: correction values, reasons and feedback
    texts, each with a random salt. ``commitment`` = sha256(salt, content), so the ledger
    proves the content without holding it, and a low-entropy value (an employee count)
    cannot be recovered from the commitment once its salt is gone. Erasing an account
    purges its records (except the erasure's own reason); the ledger keeps the pseudonym
    and the fact of each request, and stays verifiable, since past entries are never rewritten.
``ledger.head.json``
    The last entry's ``seq`` and ``hash``, sealed with the key: removing entries from the
    end of the file is detected too.
``ledger.lock``
    Writers hold an exclusive ``fcntl`` lock on it (readers a shared one), so two commands
    never fork the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from governance.errors import RegistryError

__all__ = ["ENTRY_SCHEMA", "KINDS", "Entry", "Kind", "LedgerFiles", "key_id", "stamp"]

ENTRY_SCHEMA: Final = "governance.ledger/1"
Kind: TypeAlias = Literal["access", "correct", "erase", "withdraw_consent", "feedback"]
KINDS: Final[tuple[Kind, ...]] = ("access", "correct", "erase", "withdraw_consent", "feedback")
_GENESIS: Final = "0" * 64
_KEYS: Final = frozenset(
    {
        "schema",
        "seq",
        "at",
        "kind",
        "pseudonym",
        "fields",
        "model_version",
        "commitment",
        "key_id",
        "prev",
        "hash",
        "seal",
    }
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")


def _compact(payload: Any) -> str:
    """Canonical one-line JSON: sorted keys, no spaces, finite numbers only."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_id(secret: bytes) -> str:
    """Compute a public fingerprint of the pseudonymization key (16 hex characters); the key cannot be recovered from it.

    Parameters
    ----------
    secret
        The pseudonymization key.

    Returns
    -------
    str
        16 hexadecimal characters.
    """
    return hmac.new(secret, b"governance-ledger/1 key id", hashlib.sha256).hexdigest()[:16]


def _seal(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def stamp(moment: datetime) -> str:
    """Write a time as UTC ISO 8601 with milliseconds, which sorts as text in time order.

    Parameters
    ----------
    moment
        A timezone-aware time.

    Returns
    -------
    str
        Such as ``2026-03-01T09:30:00.000Z``.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One ledger entry (see the module docstring for the format).

    Attributes
    ----------
    seq
        Position in the ledger, from 1.
    at
        When, UTC, ISO 8601 with milliseconds.
    kind
        ``access``, ``correct``, ``erase``, ``withdraw_consent`` or ``feedback``.
    pseudonym
        The account's keyed pseudonym; None for feedback about no particular account.
    fields
        Names of the fields a correction changed (never their values).
    model_version
        The registered model version feedback is about.
    commitment
        sha256 of the salted vault record (values, reason, text), or None.
    key_id, prev, hash, seal
        The key's public fingerprint, the previous entry's hash, this entry's hash and its keyed seal.
    """

    seq: int
    at: str
    kind: Kind
    pseudonym: str | None
    fields: tuple[str, ...]
    model_version: int | None
    commitment: str | None
    key_id: str
    prev: str
    hash: str
    seal: str

    def body(self) -> dict[str, Any]:
        """Return what ``hash`` covers: every field but ``hash`` and ``seal``.

        Returns
        -------
        dict
            The entry without ``hash`` and ``seal``.
        """
        return {
            "schema": ENTRY_SCHEMA,
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "pseudonym": self.pseudonym,
            "fields": list(self.fields),
            "model_version": self.model_version,
            "commitment": self.commitment,
            "key_id": self.key_id,
            "prev": self.prev,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as written: its body, ``hash`` and ``seal``.

        Returns
        -------
        dict
            The JSON object of the entry's line.
        """
        return {**self.body(), "hash": self.hash, "seal": self.seal}

    def summary(self) -> dict[str, Any]:
        """Return the public facts of the entry (for reports): no hash, seal or commitment.

        Returns
        -------
        dict
            ``seq``, ``at``, ``kind``, ``fields`` and ``model_version``.
        """
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "fields": list(self.fields),
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """Rebuild an entry from its JSON object; ValueError when it is not one.

        Parameters
        ----------
        data
            The JSON object of one line.

        Returns
        -------
        Entry
            The entry.
        """
        if set(data) != _KEYS or data.get("schema") != ENTRY_SCHEMA:
            raise ValueError("not a governance.ledger/1 entry")
        seq, kind, fields, version = data["seq"], data["kind"], data["fields"], data["model_version"]
        pseudonym, commitment = data["pseudonym"], data["commitment"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or kind not in KINDS:
            raise ValueError("bad seq or kind")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ValueError("bad fields")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ValueError("bad model_version")
        if pseudonym is not None and not (isinstance(pseudonym, str) and _PSEUDONYM.match(pseudonym)):
            raise ValueError("bad pseudonym")
        if commitment is not None and not (isinstance(commitment, str) and _HEX64.match(commitment)):
            raise ValueError("bad commitment")
        texts = (data["at"], data["key_id"], data["prev"], data["hash"], data["seal"])
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("bad text field")
        return cls(
            seq=seq,
            at=data["at"],
            kind=kind,
            pseudonym=pseudonym,
            fields=tuple(fields),
            model_version=version,
            commitment=commitment,
            key_id=data["key_id"],
            prev=data["prev"],
            hash=data["hash"],
            seal=data["seal"],
        )


@dataclass(frozen=True)
class LedgerFiles:
    """The ledger and the files beside it."""

    ledger: Path

    @property
    def vault(self) -> Path:
        """Salted private content the entries commit to (erasable)."""
        return self.ledger.with_name(self.ledger.name + ".vault.json")

    @property
    def head(self) -> Path:
        """The sealed last entry (detects removal at the end)."""
        return self.ledger.with_name(self.ledger.name + ".head.json")

    @property
    def lock(self) -> Path:
        """The lock file writers and readers hold."""
        return self.ledger.with_name(self.ledger.name + ".lock")


@contextmanager
def _locked(files: LedgerFiles, *, exclusive: bool) -> Iterator[None]:
    """Hold the ledger's lock: exclusive for writers, shared for readers."""
    try:
        files.ledger.parent.mkdir(parents=True, exist_ok=True)
        handle = open(files.lock, "a+")  # noqa: SIM115  # held for the block, closed in finally
    except OSError as exc:
        raise RegistryError(
            f"cannot open the ledger's lock file in {files.ledger.parent} ({exc.strerror}); check the folder of "
            "subjects.ledger"
        ) from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        handle.close()  # closing releases the lock
