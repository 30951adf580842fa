"""The data-subject ledger: an append-only, hash-chained record of requests and changes.

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

:func:`verify` names the first bad entry; :func:`read_state` (what
:func:`governance.data.prepare` applies) refuses a ledger that fails verification.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypeAlias

from governance._files import atomic_write, canonical_json
from governance.errors import ConfigError, PrivacyError, Problem, RegistryError
from governance.privacy import redact

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
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _compact(payload: Any) -> str:
    """Canonical one-line JSON: sorted keys, no spaces, finite numbers only."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_id(secret: bytes) -> str:
    """A public fingerprint of the pseudonymization key (16 hex characters); the key cannot be recovered from it."""
    return hmac.new(secret, b"governance-ledger/1 key id", hashlib.sha256).hexdigest()[:16]


def _seal(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def stamp(moment: datetime) -> str:
    """UTC, ISO 8601 with milliseconds: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_text(text: str, *, what: str, limit: int, required: bool = True, forbidden: Sequence[str] = ()) -> str:
    """A reason or feedback text as it may be recorded: stripped, bounded, free of personal data.

    Parameters
    ----------
    text
        The text as given.
    what
        Its name in messages (``--reason``).
    limit
        Most characters allowed.
    required
        Whether an empty text is refused.
    forbidden
        Values the text must not contain (the account's identifier, company name, e-mail, phone):
        the ledger is keyed by pseudonym, and a reason that names the account would undo that.

    Raises
    ------
    ConfigError
        (exit 2) Empty when required, too long, or with control characters.
    PrivacyError
        (exit 4) An e-mail address, a phone number or a forbidden value in the text.
    """
    cleaned = text.strip()
    if not cleaned:
        if required:
            raise ConfigError([Problem(what, "expected a few words saying why, found nothing")])
        return ""
    if len(cleaned) > limit:
        raise ConfigError([Problem(what, f"expected at most {limit} characters, found {len(cleaned)}", "shorten it")])
    if _CONTROL.search(cleaned):
        raise ConfigError([Problem(what, "expected plain text, found control characters")])
    if redact(cleaned) != cleaned:
        raise PrivacyError(
            f"refusing {what}: it looks like it holds an e-mail address or a phone number; it is recorded and may "
            "be published, so leave contact details out"
        )
    folded = cleaned.casefold()
    if any(value and str(value).strip().casefold() in folded for value in forbidden if len(str(value).strip()) >= 3):
        raise PrivacyError(
            f"refusing {what}: it names the account (its identifier or its personal data); the ledger keys "
            "accounts by pseudonym only, so describe the request without naming the account"
        )
    return cleaned


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
        """What ``hash`` covers: every field but ``hash`` and ``seal``."""
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
        """The entry as written: its body, ``hash`` and ``seal``."""
        return {**self.body(), "hash": self.hash, "seal": self.seal}

    def summary(self) -> dict[str, Any]:
        """The public facts of the entry (for reports): no hash, seal or commitment."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "fields": list(self.fields),
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """Rebuild an entry from its JSON object; ValueError when it is not one."""
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


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    entries
        Entries read (lines of the file).
    head
        The last entry's hash, or None for an empty ledger.
    problems
        Every problem found, in file order; the first names the first bad entry.
    first_bad
        Line (= expected seq) of the first bad entry; None when none is bad.
    notes
        Conditions that are not tampering (an interrupted write the next write completes).
    """

    entries: int
    head: str | None
    problems: tuple[str, ...]
    first_bad: int | None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the ledger verifies."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "first_bad": self.first_bad,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@dataclass
class _Read:
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    vault: dict[str, Any] = field(default_factory=dict)
    head_lags: bool = False
    torn: int | None = None  # byte offset of an unterminated last line (an uncommitted write), if any


def _read_lines(files: LedgerFiles) -> tuple[list[str], int | None]:
    """The complete (newline-terminated) lines, and the byte offset of an unterminated last line or None."""
    try:
        data = files.ledger.read_bytes()
    except FileNotFoundError:
        return [], None
    except OSError as exc:
        raise RegistryError(f"cannot read the ledger {files.ledger.name} ({exc.strerror})") from exc
    end = data.rfind(b"\n") + 1  # an entry is committed with its newline: what follows the last one is not
    lines = data[:end].decode("utf-8", errors="replace").split("\n")[:-1]
    return lines, (end if end < len(data) else None)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return ValueError(f"the {what} {path.name} cannot be read ({type(exc).__name__})")


def _scan(files: LedgerFiles, secret: bytes) -> _Read:
    """Read and check everything: chain, seals, head, vault. Problems are (line, text), in file order."""
    read = _Read()
    current = key_id(secret)
    previous = _GENESIS
    lines, read.torn = _read_lines(files)
    if read.torn is not None:
        read.notes.append(
            f"line {len(lines) + 1} is incomplete (no end of line): a write was interrupted before its entry was "
            "committed; it is not part of the ledger, and the next write removes it"
        )
    for line_no, line in enumerate(lines, start=1):
        try:
            entry = Entry.from_dict(json.loads(line))
        except (ValueError, TypeError, KeyError) as exc:
            read.problems.append(
                (line_no, f"line {line_no}: it is not a ledger entry ({type(exc).__name__}); it was edited or damaged")
            )
            previous = ""
            continue
        where = f"line {line_no} (entry {entry.seq})"
        if entry.key_id != current:
            read.problems.append(
                (
                    line_no,
                    f"{where}: written under another pseudonymization key (key id {entry.key_id}, current "
                    f"{current}); with another key no pseudonym matches, so erasures would silently stop applying",
                )
            )
            read.entries.append(entry)
            previous = entry.hash
            continue
        if _sha(_compact(entry.body())) != entry.hash:
            read.problems.append(
                (line_no, f"{where}: edited: its content does not hash to its recorded hash {entry.hash[:12]}...")
            )
        elif not hmac.compare_digest(_seal(secret, entry.hash), entry.seal):
            read.problems.append(
                (
                    line_no,
                    f"{where}: forged: its seal does not match (re-hashed after an edit, or written without the key)",
                )
            )
        elif entry.seq != line_no:
            what = "entries before it were removed or reordered" if entry.seq > line_no else "entries were reordered"
            read.problems.append(
                (line_no, f"{where}: expected entry {line_no} at this line, found entry {entry.seq}; {what}")
            )
        elif previous and entry.prev != previous:
            read.problems.append(
                (
                    line_no,
                    f"{where}: its prev hash does not match the entry before it; an entry before it was removed, "
                    "reordered or replaced",
                )
            )
        read.entries.append(entry)
        previous = entry.hash
    _check_head(files, secret, read, lines=len(lines))
    _check_vault(files, read)
    return read


def _check_head(files: LedgerFiles, secret: bytes, read: _Read, *, lines: int) -> None:
    head = _read_json(files.head, "ledger head")
    if isinstance(head, ValueError):
        read.problems.append((lines + 1, f"head: {head}; it was edited or damaged"))
        return
    if head is None:
        if lines:
            read.problems.append((lines + 1, "head: the sealed head file is missing; it was removed"))
        return
    try:
        seq, last, seal = int(head["seq"]), str(head["hash"]), str(head["seal"])
    except (KeyError, TypeError, ValueError):
        read.problems.append((lines + 1, "head: not a ledger head; it was edited or damaged"))
        return
    if not hmac.compare_digest(_seal(secret, f"{seq}:{last}"), seal):
        read.problems.append((lines + 1, "head: its seal does not match; it was edited, or written under another key"))
        return
    by_seq = {e.seq: e for e in read.entries}
    newest = max(by_seq, default=0)
    if seq not in by_seq:
        if seq > newest:
            read.problems.append(
                (
                    lines + 1,
                    f"entries {newest + 1}..{seq} were removed from the end: the sealed head records entry {seq}, "
                    f"the file ends at entry {newest}",
                )
            )
        else:
            read.problems.append((seq, f"entry {seq}, which the sealed head records, is missing; it was removed"))
    elif by_seq[seq].hash != last:
        read.problems.append((seq, f"entry {seq}: it differs from the entry the sealed head records; it was replaced"))
    elif seq == newest - 1 and lines == newest:
        read.head_lags = True
        read.notes.append(
            f"the head records entry {seq} but the ledger ends at entry {newest}: a write was interrupted after "
            "its entry was sealed; the next write completes it"
        )
    elif seq < newest:
        read.problems.append(
            (
                seq + 1,
                f"entries {seq + 1}..{newest} are not covered by the sealed head; they were appended without the key",
            )
        )


def _check_vault(files: LedgerFiles, read: _Read) -> None:
    vault = _read_json(files.vault, "ledger vault")
    if isinstance(vault, ValueError):
        read.problems.append((len(read.entries) + 1, f"vault: {vault}"))
        return
    records: dict[str, Any] = {}
    if isinstance(vault, Mapping) and isinstance(vault.get("records"), Mapping):
        records = dict(vault["records"])
    elif vault is not None:
        read.problems.append((len(read.entries) + 1, "vault: not a governance vault; it was edited or damaged"))
        return
    read.vault = records
    erased = {e.pseudonym for e in read.entries if e.kind == "erase" and e.pseudonym}
    seqs = {str(e.seq) for e in read.entries}
    for entry in read.entries:
        record = records.get(str(entry.seq))
        if entry.commitment is None:
            if record is not None:
                read.problems.append((entry.seq, f"entry {entry.seq}: the vault holds a record it does not commit to"))
            continue
        if record is None:
            if entry.pseudonym in erased and entry.kind != "erase":
                continue  # purged by the erasure of its account
            read.problems.append(
                (entry.seq, f"entry {entry.seq}: its vault record (values, reason or text) is missing; it was removed")
            )
            continue
        if not isinstance(record, Mapping) or _commitment(record) != entry.commitment:
            read.problems.append(
                (entry.seq, f"entry {entry.seq}: its vault record does not match its commitment; it was edited")
            )
        elif entry.pseudonym in erased and entry.kind != "erase":
            read.notes.append(f"entry {entry.seq}: its account was erased; its record is purged at the next write")
    uncommitted = sorted(set(records) - seqs, key=lambda s: (len(s), s))
    if uncommitted:
        read.notes.append(
            f"{len(uncommitted)} vault record(s) without an entry (an interrupted write); removed at the next write"
        )


def _commitment(record: Mapping[str, Any]) -> str | None:
    try:
        return _sha(str(record["salt"]) + "\n" + _compact(record["content"]))
    except (KeyError, TypeError, ValueError):
        return None


def verify(ledger: str | os.PathLike[str], *, secret: bytes, expected_head: str | None = None) -> Verification:
    """Check the whole ledger: every entry's hash, seal, position and link, the sealed head, the vault.

    Parameters
    ----------
    ledger
        The ledger file (``config.subjects.ledger``); a missing file is an empty ledger.
    secret
        The pseudonymization key (seals are HMACs under it).
    expected_head
        A head hash recorded earlier (every write prints it): the ledger must still contain it.
        This detects a rollback of the ledger and its head together to an older state, which
        the files alone cannot show.

    Returns
    -------
    Verification
        ``ok``, the problems in file order (the first names the first bad entry), and notes.

    Raises
    ------
    RegistryError
        (exit 3) When the files cannot be read.
    """
    files = LedgerFiles(Path(ledger))
    with _locked(files, exclusive=False):
        read = _scan(files, secret)
    if expected_head is not None and expected_head not in {e.hash for e in read.entries}:
        read.problems.append(
            (
                len(read.entries) + 1,
                f"the ledger does not contain the head {expected_head[:12]}... recorded earlier: it was rolled back "
                "or rewritten",
            )
        )
    problems = sorted(read.problems, key=lambda p: p[0])
    return Verification(
        entries=len(read.entries),
        head=read.entries[-1].hash if read.entries else None,
        problems=tuple(text for _, text in problems),
        first_bad=problems[0][0] if problems else None,
        notes=tuple(read.notes),
    )


def _refuse_tampered(files: LedgerFiles, read: _Read) -> None:
    if read.problems:
        first = min(read.problems, key=lambda p: p[0])[1]
        more = f" (and {len(read.problems) - 1} more problem(s))" if len(read.problems) > 1 else ""
        raise PrivacyError(
            f"the data-subject ledger {files.ledger.name} fails verification: {first}{more}; erasures and "
            "corrections cannot be trusted, so nothing is used: run `governance ledger verify` and restore the "
            "ledger from a backup"
        )


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class SubjectState:
    """What the ledger asks of the data: accounts to exclude and values to correct.

    Attributes
    ----------
    erased, withdrawn
        Pseudonyms of erased accounts and of accounts that withdrew consent, each with the time of its request.
    corrections
        Latest corrected value of each corrected field, per pseudonym (values from the vault, checked
        against their commitments), and the entry that set it.
    entries
        Every entry considered, in order.
    feedback
        Feedback entries with their texts (purged texts left out): ``(entry, text)``.
    """

    erased: Mapping[str, str] = field(default_factory=dict)
    withdrawn: Mapping[str, str] = field(default_factory=dict)
    corrections: Mapping[str, Mapping[str, tuple[Any, int]]] = field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    feedback: tuple[tuple[Entry, str], ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the ledger asks nothing of the data."""
        return not (self.erased or self.withdrawn or self.corrections)

    def history(self, pseudonym: str) -> tuple[Entry, ...]:
        """The entries about one account."""
        return tuple(e for e in self.entries if e.pseudonym == pseudonym)


def read_state(ledger: str | os.PathLike[str] | None, *, secret: bytes, as_of: datetime | None = None) -> SubjectState:
    """The exclusions and corrections the ledger asks for, after verifying it.

    Parameters
    ----------
    ledger
        The ledger file; None or a missing file: nothing.
    secret
        The pseudonymization key.
    as_of
        Only entries recorded at or before this time (to replay the data a past run used).

    Raises
    ------
    PrivacyError
        (exit 4) The ledger fails verification: nothing it asks can be trusted, so nothing is used.
    RegistryError
        (exit 3) The files cannot be read.
    """
    if ledger is None or not Path(ledger).exists():
        return SubjectState()
    files = LedgerFiles(Path(ledger))
    with _locked(files, exclusive=False):
        read = _scan(files, secret)
    _refuse_tampered(files, read)
    limit = None if as_of is None else stamp(as_of)
    entries = [e for e in read.entries if limit is None or e.at <= limit]
    erased: dict[str, str] = {}
    withdrawn: dict[str, str] = {}
    corrections: dict[str, dict[str, tuple[Any, int]]] = {}
    feedback: list[tuple[Entry, str]] = []
    for entry in entries:
        record = read.vault.get(str(entry.seq))
        content = record.get("content") if isinstance(record, Mapping) else None
        if entry.kind == "erase" and entry.pseudonym:
            erased.setdefault(entry.pseudonym, entry.at)
        elif entry.kind == "withdraw_consent" and entry.pseudonym:
            withdrawn.setdefault(entry.pseudonym, entry.at)
        elif entry.kind == "correct" and entry.pseudonym and isinstance(content, Mapping):
            values = content.get("values")
            if isinstance(values, Mapping):
                target = corrections.setdefault(entry.pseudonym, {})
                for name, value in values.items():
                    target[str(name)] = (value, entry.seq)
        elif entry.kind == "feedback" and isinstance(content, Mapping) and isinstance(content.get("text"), str):
            feedback.append((entry, content["text"]))
    for pseudonym in erased:
        corrections.pop(pseudonym, None)  # an erased account's values are never applied, even before the purge
    return SubjectState(
        erased=MappingProxyType(erased),
        withdrawn=MappingProxyType(withdrawn),
        corrections=MappingProxyType({p: MappingProxyType(v) for p, v in corrections.items()}),
        entries=tuple(entries),
        feedback=tuple((e, t) for e, t in feedback if e.pseudonym not in erased),
    )


# ---------------------------------------------------------------- writing


def _write_vault(files: LedgerFiles, records: Mapping[str, Any]) -> None:
    ordered = dict(sorted(records.items(), key=lambda kv: int(kv[0])))
    atomic_write(files.vault, canonical_json({"schema": "governance.vault/1", "records": ordered}))


def _write_head(files: LedgerFiles, secret: bytes, entry: Entry) -> None:
    head = {
        "schema": "governance.ledger-head/1",
        "seq": entry.seq,
        "hash": entry.hash,
        "seal": _seal(secret, f"{entry.seq}:{entry.hash}"),
    }
    atomic_write(files.head, canonical_json(head))


def _purged(records: Mapping[str, Any], entries: Sequence[Entry]) -> dict[str, Any]:
    """The vault without uncommitted records and without the records of erased accounts (but their erasure's)."""
    by_seq = {str(e.seq): e for e in entries}
    erased = {e.pseudonym for e in entries if e.kind == "erase" and e.pseudonym}
    kept = {}
    for seq, record in records.items():
        entry = by_seq.get(seq)
        if entry is None:
            continue
        if entry.pseudonym in erased and entry.kind != "erase":
            continue
        kept[seq] = record
    return kept


def append(
    ledger: str | os.PathLike[str],
    *,
    secret: bytes,
    kind: Kind,
    pseudonym: str | None = None,
    fields: Sequence[str] = (),
    model_version: int | None = None,
    content: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Entry:
    """Append one entry under the ledger's exclusive lock, after verifying the whole ledger.

    The vault record is written first (a record without an entry is an interrupted write,
    dropped by the next one), then the entry is appended and synced (the commit point), then
    the sealed head; an erasure then purges the vault records of its account.

    Parameters
    ----------
    ledger
        The ledger file; created with its folder when missing.
    secret
        The pseudonymization key (seals and key id).
    kind, pseudonym, fields, model_version
        The entry's public facts; the pseudonym is a keyed pseudonym, never an identifier.
    content
        The private content the entry commits to (JSON data: values, reason, text), kept in the vault.
    at
        When (timezone-aware); now by default.

    Returns
    -------
    Entry
        The entry as written.

    Raises
    ------
    PrivacyError
        (exit 4) The ledger fails verification (an append would hide it), or the pseudonym is malformed.
    RegistryError
        (exit 3) The files cannot be written.
    """
    if pseudonym is not None and not _PSEUDONYM.match(pseudonym):
        raise PrivacyError("refusing a ledger entry keyed by something other than a 32-hex pseudonym")
    files = LedgerFiles(Path(ledger))
    moment = stamp(at or datetime.now(UTC))
    with _locked(files, exclusive=True):
        read = _scan(files, secret)
        _refuse_tampered(files, read)
        entries = read.entries
        seq = len(entries) + 1
        records = _purged(read.vault, entries)
        commitment = None
        if content is not None:
            salt = secrets.token_hex(16)
            record = {"salt": salt, "content": json.loads(_compact(dict(content)))}
            commitment = _commitment(record)
            records[str(seq)] = record
        try:
            if records != read.vault:
                _write_vault(files, records)
            body = Entry(
                seq=seq,
                at=moment,
                kind=kind,
                pseudonym=pseudonym,
                fields=tuple(fields),
                model_version=model_version,
                commitment=commitment,
                key_id=key_id(secret),
                prev=entries[-1].hash if entries else _GENESIS,
                hash="",
                seal="",
            )
            digest = _sha(_compact(body.body()))
            entry = replace(body, hash=digest, seal=_seal(secret, digest))
            line = (_compact(entry.to_dict()) + "\n").encode("utf-8")
            if read.torn is not None:
                os.truncate(files.ledger, read.torn)  # drop the uncommitted tail of an interrupted write
            fd = os.open(files.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(line)
                while view:  # os.write may write less than asked (a full disk, a signal)
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            _write_head(files, secret, entry)
            if kind == "erase":
                after = _purged(records, [*entries, entry])
                if after != records:
                    _write_vault(files, after)
        except OSError as exc:
            raise RegistryError(f"cannot write the ledger in {files.ledger.parent} ({exc.strerror})") from exc
    return entry
