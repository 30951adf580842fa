"""Writing and reading the ledger: append an entry, replay the state, verify the chain, check a text."""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from governance._files import atomic_write, canonical_json
from governance.errors import ConfigError, PrivacyError, Problem, RegistryError
from governance.ledger._format import (
    _GENESIS,
    _PSEUDONYM,
    Entry,
    Kind,
    LedgerFiles,
    _compact,
    _locked,
    _seal,
    _sha,
    key_id,
    stamp,
)
from governance.privacy import redact

__all__ = ["SubjectState", "Verification", "append", "check_text", "read_state", "verify"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_text(text: str, *, what: str, limit: int, required: bool = True, forbidden: Sequence[str] = ()) -> str:
    """Return a reason or feedback text as it may be recorded: stripped, bounded, free of personal data.

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

    Returns
    -------
    str
        The stripped text (empty when not required and none was given).

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
        """Return the verification as plain data.

        Returns
        -------
        dict
            The verification as JSON-ready data.
        """
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
    """Read the complete (newline-terminated) lines, and the byte offset of an unterminated last line or None."""
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
        """Return the entries about one account.

        Parameters
        ----------
        pseudonym
            The account's keyed pseudonym.

        Returns
        -------
        tuple of Entry
            Its entries, in ledger order.
        """
        return tuple(e for e in self.entries if e.pseudonym == pseudonym)


def read_state(ledger: str | os.PathLike[str] | None, *, secret: bytes, as_of: datetime | None = None) -> SubjectState:
    """Read the exclusions and corrections the ledger asks for, after verifying it.

    Parameters
    ----------
    ledger
        The ledger file; None or a missing file: nothing.
    secret
        The pseudonymization key.
    as_of
        Only entries recorded at or before this time (to replay the data a past run used).

    Returns
    -------
    SubjectState
        The erased and withdrawn accounts, the latest corrections and the feedback texts.

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
    """Write the vault's records, in entry order, atomically."""
    ordered = dict(sorted(records.items(), key=lambda kv: int(kv[0])))
    atomic_write(files.vault, canonical_json({"schema": "governance.vault/1", "records": ordered}))


def _write_head(files: LedgerFiles, secret: bytes, entry: Entry) -> None:
    """Write the sealed head (the last entry's seq and hash), atomically."""
    head = {
        "schema": "governance.ledger-head/1",
        "seq": entry.seq,
        "hash": entry.hash,
        "seal": _seal(secret, f"{entry.seq}:{entry.hash}"),
    }
    atomic_write(files.head, canonical_json(head))


def _purged(records: Mapping[str, Any], entries: Sequence[Entry]) -> dict[str, Any]:
    """Keep the vault without uncommitted records and without the records of erased accounts (but their erasure's)."""
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
        if content is not None:
            records[str(seq)] = _vault_record(content)
        commitment = _commitment(records[str(seq)]) if content is not None else None
        body = Entry(
            seq=seq,
            at=moment,
            kind=kind,
            pseudonym=pseudonym,
            fields=tuple(fields),
            model_version=model_version,
            commitment=commitment,
            key_id="",  # key_id, prev, hash and seal: filled in by _sealed
            prev="",
            hash="",
            seal="",
        )
        entry = _sealed(body, secret, prev=entries[-1].hash if entries else _GENESIS)
        try:
            if records != read.vault:
                _write_vault(files, records)
            _append_line(files, entry, torn=read.torn)
            _write_head(files, secret, entry)
            if kind == "erase":
                _purge_erased(files, records, [*entries, entry])
        except OSError as exc:
            raise RegistryError(f"cannot write the ledger in {files.ledger.parent} ({exc.strerror})") from exc
    return entry


def _vault_record(content: Mapping[str, Any]) -> dict[str, Any]:
    """Salt the private content of an entry, as the vault keeps it."""
    return {"salt": secrets.token_hex(16), "content": json.loads(_compact(dict(content)))}


def _purge_erased(files: LedgerFiles, records: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    """Drop from the vault the records of the accounts an erasure among ``entries`` erased."""
    after = _purged(records, entries)
    if after != records:
        _write_vault(files, after)


def _sealed(body: Entry, secret: bytes, *, prev: str) -> Entry:
    """Fill in an entry's key id, ``prev``, ``hash`` (of its body) and ``seal`` (of the hash, under the key)."""
    chained = replace(body, key_id=key_id(secret), prev=prev)
    digest = _sha(_compact(chained.body()))
    return replace(chained, hash=digest, seal=_seal(secret, digest))


def _append_line(files: LedgerFiles, entry: Entry, *, torn: int | None) -> None:
    """Append the entry's line and sync it (the commit point), after dropping a torn last line."""
    line = (_compact(entry.to_dict()) + "\n").encode("utf-8")
    if torn is not None:
        os.truncate(files.ledger, torn)  # drop the uncommitted tail of an interrupted write
    fd = os.open(files.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(line)
        while view:  # os.write may write less than asked (a full disk, a signal)
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
