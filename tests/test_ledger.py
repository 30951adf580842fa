"""The data-subject ledger: hash chain, seals, sealed head and vault; every kind of tampering is named.

Each test builds a real ledger in ``tmp_path`` with :func:`governance.ledger.append`, then edits,
removes or reorders its files the way someone without the key could, and checks that
:func:`governance.ledger.verify` names the first bad entry and that :func:`read_state` refuses it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from governance.errors import ConfigError, PrivacyError
from governance.ledger import LedgerFiles, append, check_text, key_id, read_state, verify
from governance.privacy import pseudonymize_one
from tests.conftest import ROOT, TEST_KEY

SECRET = TEST_KEY.encode("utf-8")
OTHER_SECRET = b"another-key-fedcba9876543210-not-real"
START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RAW = {"a": "ACC-0000417", "b": "ACC-0000923", "c": "ACC-0001288"}
PSEUDONYM = {name: pseudonymize_one(raw, SECRET) for name, raw in RAW.items()}


def _at(hours: int) -> datetime:
    return START + timedelta(hours=hours)


def _build(ledger: Path) -> Path:
    """Six entries of every kind but erasure, one hour apart (entry i at hour i)."""
    a, b, c = PSEUDONYM["a"], PSEUDONYM["b"], PSEUDONYM["c"]
    append(ledger, secret=SECRET, kind="access", pseudonym=a, at=_at(1))
    append(
        ledger,
        secret=SECRET,
        kind="correct",
        pseudonym=a,
        fields=["employee_count"],
        content={"values": {"employee_count": 120}, "reason": "headcount was out of date"},
        at=_at(2),
    )
    append(
        ledger,
        secret=SECRET,
        kind="feedback",
        model_version=3,
        content={"text": "the score ignores recent website activity"},
        at=_at(3),
    )
    append(ledger, secret=SECRET, kind="withdraw_consent", pseudonym=b, content={"reason": "no contact"}, at=_at(4))
    for hour, value in ((5, 40), (6, 55)):
        append(
            ledger,
            secret=SECRET,
            kind="correct",
            pseudonym=c,
            fields=["intent_score"],
            content={"values": {"intent_score": value}, "reason": "the provider re-scored the account"},
            at=_at(hour),
        )
    return ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return _build(tmp_path / "ledger.jsonl")


def _lines(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def _write_lines(ledger: Path, entries: list[dict[str, Any]]) -> None:
    ledger.write_text("".join(_compact(e) + "\n" for e in entries))


def _compact(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _rehash(entry: dict[str, Any]) -> dict[str, Any]:
    """What someone without the key can do: recompute the entry's sha256 (its seal stays as it was)."""
    body = {k: v for k, v in entry.items() if k not in ("hash", "seal")}
    return {**entry, "hash": hashlib.sha256(_compact(body).encode("utf-8")).hexdigest()}


def _vault(ledger: Path) -> dict[str, Any]:
    records: dict[str, Any] = json.loads(LedgerFiles(ledger).vault.read_text())["records"]
    return records


def _write_vault(ledger: Path, records: dict[str, Any]) -> None:
    LedgerFiles(ledger).vault.write_text(json.dumps({"schema": "governance.vault/1", "records": records}))


# ---------------------------------------------------------------- a clean ledger


def test_a_fresh_ledger_of_several_entries_verifies(ledger: Path) -> None:
    result = verify(ledger, secret=SECRET)
    entries = _lines(ledger)
    assert result.ok, result.problems
    assert (result.entries, result.first_bad, result.problems, result.notes) == (6, None, (), ())
    assert result.head == entries[-1]["hash"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0]["prev"] == "0" * 64
    assert all(later["prev"] == earlier["hash"] for earlier, later in itertools.pairwise(entries))
    assert all(e["key_id"] == key_id(SECRET) for e in entries)
    assert verify(ledger, secret=SECRET, expected_head=entries[2]["hash"]).ok


def test_a_missing_ledger_is_empty_and_asks_nothing(tmp_path: Path) -> None:
    result = verify(tmp_path / "none.jsonl", secret=SECRET)
    assert result.ok and result.entries == 0 and result.head is None
    assert read_state(tmp_path / "none.jsonl", secret=SECRET).empty
    assert read_state(None, secret=SECRET).empty


def test_key_id_is_a_public_fingerprint_that_differs_between_keys() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", key_id(SECRET))
    assert key_id(SECRET) != key_id(OTHER_SECRET)
    assert key_id(SECRET) == key_id(SECRET)
    assert TEST_KEY not in key_id(SECRET)


# ---------------------------------------------------------------- tampering with entries


@pytest.mark.parametrize(
    "edit",
    [
        {"kind": "erase"},
        {"fields": ["annual_revenue"]},
        {"pseudonym": "f" * 32},
        {"at": "2026-01-01T00:00:00.000Z"},
    ],
    ids=["kind", "fields", "pseudonym", "at"],
)
def test_editing_an_entry_without_rehashing_names_that_entry(ledger: Path, edit: dict[str, Any]) -> None:
    entries = _lines(ledger)
    entries[2] = {**entries[2], **edit}
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert not result.ok
    assert result.first_bad == 3
    assert "line 3 (entry 3): edited" in result.problems[0]


def test_editing_an_entry_and_rehashing_it_without_the_key_is_caught_by_its_seal(ledger: Path) -> None:
    entries = _lines(ledger)
    entries[2] = _rehash({**entries[2], "kind": "erase"})
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 3
    assert "line 3 (entry 3): forged" in result.problems[0]
    assert any("line 4 (entry 4): its prev hash does not match" in p for p in result.problems)


def test_rehashing_the_whole_chain_after_an_edit_without_the_key_is_still_caught(ledger: Path) -> None:
    entries = _lines(ledger)
    entries[1] = {**entries[1], "fields": ["annual_revenue"]}
    for i in range(1, len(entries)):
        entries[i] = _rehash({**entries[i], "prev": entries[i - 1]["hash"]})
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 2
    assert "forged" in result.problems[0]
    assert any("sealed head" in p for p in result.problems)


def test_deleting_a_middle_entry_names_the_line_where_the_chain_breaks(ledger: Path) -> None:
    entries = _lines(ledger)
    del entries[2]
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 3
    assert "expected entry 3 at this line, found entry 4; entries before it were removed" in result.problems[0]


def test_deleting_a_middle_entry_and_renumbering_the_rest_is_still_caught(ledger: Path) -> None:
    entries = _lines(ledger)
    del entries[2]
    for i in range(2, len(entries)):
        entries[i] = _rehash({**entries[i], "seq": i + 1, "prev": entries[i - 1]["hash"]})
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 3
    assert "forged" in result.problems[0]


def test_reordering_two_entries_is_detected_at_the_first_moved_line(ledger: Path) -> None:
    entries = _lines(ledger)
    entries[2], entries[3] = entries[3], entries[2]
    _write_lines(ledger, entries)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 3
    assert "line 3 (entry 4): expected entry 3 at this line" in result.problems[0]
    assert any("line 4 (entry 3)" in p and "reordered" in p for p in result.problems)


@pytest.mark.parametrize("removed", [1, 2])
def test_removing_entries_from_the_end_is_detected_by_the_sealed_head(ledger: Path, removed: int) -> None:
    entries = _lines(ledger)
    _write_lines(ledger, entries[:-removed])
    result = verify(ledger, secret=SECRET)
    assert not result.ok
    assert result.first_bad == 7 - removed
    assert f"entries {7 - removed}..6 were removed from the end" in result.problems[0]


def test_removing_every_entry_is_detected_by_the_sealed_head(ledger: Path) -> None:
    ledger.write_text("")
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 1
    assert "entries 1..6 were removed from the end" in result.problems[0]


def test_a_removed_or_edited_head_is_detected(ledger: Path) -> None:
    head = LedgerFiles(ledger).head
    original = head.read_text()
    head.write_text(json.dumps({**json.loads(original), "seq": 5}))
    edited = verify(ledger, secret=SECRET)
    assert edited.first_bad == 7 and "head: its seal does not match" in edited.problems[0]
    head.unlink()
    removed = verify(ledger, secret=SECRET)
    assert removed.first_bad == 7 and "the sealed head file is missing" in removed.problems[0]
    head.write_text(original)
    assert verify(ledger, secret=SECRET).ok


def test_a_rollback_of_the_ledger_and_its_head_together_is_caught_by_the_expected_head(
    ledger: Path, tmp_path: Path
) -> None:
    files = LedgerFiles(ledger)
    backup = tmp_path / "backup"
    backup.mkdir()
    for path in (files.ledger, files.head, files.vault):
        shutil.copy2(path, backup / path.name)
    later = append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["b"], at=_at(7))
    for path in (files.ledger, files.head, files.vault):
        shutil.copy2(backup / path.name, path)
    assert verify(ledger, secret=SECRET).ok  # the files alone cannot show it
    result = verify(ledger, secret=SECRET, expected_head=later.hash)
    assert not result.ok
    assert "rolled back" in result.problems[0]


# ---------------------------------------------------------------- the vault


def test_editing_a_correction_value_in_the_vault_is_detected(ledger: Path) -> None:
    records = _vault(ledger)
    records["2"]["content"]["values"]["employee_count"] = 121
    _write_vault(ledger, records)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 2
    assert "entry 2: its vault record does not match its commitment" in result.problems[0]
    with pytest.raises(PrivacyError, match="fails verification"):
        read_state(ledger, secret=SECRET)


def test_a_removed_vault_record_is_detected(ledger: Path) -> None:
    records = _vault(ledger)
    del records["5"]
    _write_vault(ledger, records)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 5
    assert "entry 5: its vault record (values, reason or text) is missing" in result.problems[0]


def test_a_vault_record_for_an_entry_that_commits_to_nothing_is_detected(ledger: Path) -> None:
    records = _vault(ledger)
    records["1"] = {"salt": "00", "content": {"values": {"employee_count": 7}}}
    _write_vault(ledger, records)
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 1
    assert "the vault holds a record it does not commit to" in result.problems[0]


# ---------------------------------------------------------------- interrupted writes


def test_a_vault_record_without_an_entry_is_an_interrupted_write_the_next_write_drops(ledger: Path) -> None:
    records = _vault(ledger)
    records["7"] = {"salt": "ab" * 16, "content": {"values": {"employee_count": 9}}}
    _write_vault(ledger, records)
    result = verify(ledger, secret=SECRET)
    assert result.ok, result.problems
    assert any("without an entry (an interrupted write)" in note for note in result.notes)
    assert read_state(ledger, secret=SECRET).corrections[PSEUDONYM["a"]] == {"employee_count": (120, 2)}
    append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["a"], at=_at(7))
    assert "7" not in _vault(ledger)
    after = verify(ledger, secret=SECRET)
    assert after.ok and after.entries == 7 and after.notes == ()


def test_an_entry_written_before_its_head_is_an_interrupted_write_the_next_write_completes(ledger: Path) -> None:
    head = LedgerFiles(ledger).head
    before = head.read_text()
    append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["c"], at=_at(7))
    head.write_text(before)  # the process died after appending entry 7 and before sealing the head
    result = verify(ledger, secret=SECRET)
    assert result.ok, result.problems
    assert result.entries == 7
    assert any("a write was interrupted" in note for note in result.notes)
    append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["c"], at=_at(8))
    after = verify(ledger, secret=SECRET)
    assert after.ok and after.entries == 8 and after.notes == ()


def test_an_incomplete_last_line_is_an_interrupted_write_the_next_write_replaces(ledger: Path) -> None:
    complete = ledger.read_bytes()
    files = LedgerFiles(ledger)
    head, vault = files.head.read_bytes(), files.vault.read_bytes()
    append(
        ledger,
        secret=SECRET,
        kind="correct",
        pseudonym=PSEUDONYM["b"],
        fields=["employee_count"],
        content={"values": {"employee_count": 30}},
        at=_at(7),
    )
    torn = ledger.read_bytes()[len(complete) :]
    # the process died while writing entry 7: half its line is on disk, its vault record too, its head not
    ledger.write_bytes(complete + torn[: len(torn) // 2])
    files.head.write_bytes(head)
    result = verify(ledger, secret=SECRET)
    assert result.ok, result.problems
    assert result.entries == 6
    assert any("line 7" in note and "interrupted" in note for note in result.notes)
    state = read_state(ledger, secret=SECRET)
    assert PSEUDONYM["b"] not in state.corrections  # an entry that was never committed asks nothing
    entry = append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["a"], at=_at(8))
    assert entry.seq == 7
    after = verify(ledger, secret=SECRET)
    assert after.ok and after.entries == 7 and after.notes == (), (after.problems, after.notes)
    assert ledger.read_bytes().startswith(complete) and ledger.read_bytes().endswith(b"\n")
    assert "7" not in _vault(ledger)  # the uncommitted entry's record went with it
    assert files.vault.read_bytes() == vault  # exactly as before the interrupted write


def test_an_incomplete_line_that_is_not_the_last_one_is_tampering(ledger: Path) -> None:
    lines = ledger.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]
    ledger.write_text("\n".join(lines) + "\n")
    result = verify(ledger, secret=SECRET)
    assert result.first_bad == 4
    assert "line 4: it is not a ledger entry" in result.problems[0]


def test_a_last_entry_cut_short_is_not_mistaken_for_an_interrupted_write(ledger: Path) -> None:
    text = ledger.read_text()
    ledger.write_text(text[: len(text) - 40])  # the sealed head records entry 6, which is no longer whole
    result = verify(ledger, secret=SECRET)
    assert not result.ok
    assert result.first_bad == 6
    with pytest.raises(PrivacyError):
        append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["a"], at=_at(7))


# ---------------------------------------------------------------- keys and refusals


def test_a_ledger_written_under_another_key_is_refused(ledger: Path) -> None:
    result = verify(ledger, secret=OTHER_SECRET)
    assert not result.ok
    assert result.first_bad == 1
    assert "written under another pseudonymization key" in result.problems[0]
    with pytest.raises(PrivacyError, match="fails verification") as refused:
        read_state(ledger, secret=OTHER_SECRET)
    assert refused.value.exit_code == 4
    with pytest.raises(PrivacyError, match="another pseudonymization key"):
        append(ledger, secret=OTHER_SECRET, kind="access", pseudonym=PSEUDONYM["a"])
    assert verify(ledger, secret=SECRET).entries == 6


@pytest.mark.parametrize(
    "tamper",
    [
        lambda entries: entries.__setitem__(1, {**entries[1], "kind": "erase"}),
        lambda entries: entries.__delitem__(3),
        lambda entries: entries.reverse(),
    ],
    ids=["edit", "delete", "reorder"],
)
def test_read_state_and_append_refuse_a_tampered_ledger_with_exit_code_4(
    ledger: Path, tamper: Callable[[list[dict[str, Any]]], None]
) -> None:
    entries = _lines(ledger)
    tamper(entries)
    _write_lines(ledger, entries)
    size = ledger.stat().st_size
    with pytest.raises(PrivacyError, match=r"ledger\.jsonl fails verification") as refused:
        read_state(ledger, secret=SECRET)
    assert refused.value.exit_code == 4
    with pytest.raises(PrivacyError, match="fails verification"):
        append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["a"])
    assert ledger.stat().st_size == size  # nothing was appended to hide the damage


def test_an_entry_keyed_by_anything_but_a_pseudonym_is_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(PrivacyError, match="32-hex pseudonym"):
        append(ledger, secret=SECRET, kind="access", pseudonym=RAW["a"])
    assert not ledger.exists()


# ---------------------------------------------------------------- the state the data layer applies


def test_read_state_returns_erasures_withdrawals_latest_corrections_and_feedback(ledger: Path) -> None:
    append(ledger, secret=SECRET, kind="erase", pseudonym=PSEUDONYM["b"], content={"reason": "asked"}, at=_at(7))
    state = read_state(ledger, secret=SECRET)
    assert dict(state.erased) == {PSEUDONYM["b"]: "2026-03-01T16:30:00.000Z"}
    assert dict(state.withdrawn) == {PSEUDONYM["b"]: "2026-03-01T13:30:00.000Z"}
    assert {p: dict(v) for p, v in state.corrections.items()} == {
        PSEUDONYM["a"]: {"employee_count": (120, 2)},
        PSEUDONYM["c"]: {"intent_score": (55, 6)},  # the latest of its two corrections
    }
    assert [(e.seq, text) for e, text in state.feedback] == [(3, "the score ignores recent website activity")]
    assert state.feedback[0][0].model_version == 3
    assert [e.seq for e in state.entries] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.kind for e in state.history(PSEUDONYM["a"])] == ["access", "correct"]
    assert not state.empty


def test_erasure_purges_the_accounts_vault_records_but_keeps_the_pseudonym_and_the_request(ledger: Path) -> None:
    a = PSEUDONYM["a"]
    before = _vault(ledger)
    assert "2" in before and before["2"]["content"]["values"] == {"employee_count": 120}
    append(ledger, secret=SECRET, kind="erase", pseudonym=a, content={"reason": "asked to be forgotten"}, at=_at(7))
    records = _vault(ledger)
    assert "2" not in records  # the corrected value is gone, salt and all
    assert records["7"]["content"] == {"reason": "asked to be forgotten"}  # the erasure's own reason stays
    assert {"3", "4", "5", "6"} <= set(records)  # other accounts' records stay
    result = verify(ledger, secret=SECRET)
    assert result.ok and result.entries == 7, result.problems
    entries = _lines(ledger)
    assert entries[1]["pseudonym"] == a and entries[1]["kind"] == "correct"
    assert entries[1]["fields"] == ["employee_count"] and entries[1]["commitment"]
    # the value survives in no record (the salts are random hex and may hold any digits: left out of the search)
    kept = json.dumps([{k: v for k, v in r.items() if k != "salt"} for r in _vault(ledger).values()])
    assert "120" not in kept.replace(" ", "")
    state = read_state(ledger, secret=SECRET)
    assert a in state.erased and a not in state.corrections
    assert [e.kind for e in state.history(a)] == ["access", "correct", "erase"]
    append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["c"], at=_at(8))
    assert verify(ledger, secret=SECRET).ok


def test_an_erasure_interrupted_before_its_purge_is_completed_by_the_next_write(ledger: Path) -> None:
    original = _vault(ledger)["2"]
    append(ledger, secret=SECRET, kind="erase", pseudonym=PSEUDONYM["a"], content={"reason": "asked"}, at=_at(7))
    _write_vault(ledger, {**_vault(ledger), "2": original})  # the process died before purging the vault
    result = verify(ledger, secret=SECRET)
    assert result.ok, result.problems
    assert any("entry 2: its account was erased; its record is purged at the next write" in n for n in result.notes)
    assert PSEUDONYM["a"] not in read_state(ledger, secret=SECRET).corrections  # never applied, even now
    append(ledger, secret=SECRET, kind="access", pseudonym=PSEUDONYM["c"], at=_at(8))
    assert "2" not in _vault(ledger)
    assert verify(ledger, secret=SECRET).notes == ()


def test_as_of_replays_only_the_entries_recorded_by_then(ledger: Path) -> None:
    early = read_state(ledger, secret=SECRET, as_of=_at(5))
    assert [e.seq for e in early.entries] == [1, 2, 3, 4, 5]
    assert early.corrections[PSEUDONYM["c"]] == {"intent_score": (40, 5)}
    assert read_state(ledger, secret=SECRET).corrections[PSEUDONYM["c"]] == {"intent_score": (55, 6)}
    before_withdrawal = read_state(ledger, secret=SECRET, as_of=_at(4) - timedelta(milliseconds=1))
    assert PSEUDONYM["b"] not in before_withdrawal.withdrawn
    assert PSEUDONYM["b"] in read_state(ledger, secret=SECRET, as_of=_at(4)).withdrawn
    assert read_state(ledger, secret=SECRET, as_of=_at(0)).empty


def test_a_replay_from_before_an_erasure_does_not_bring_the_erased_values_back(ledger: Path) -> None:
    append(ledger, secret=SECRET, kind="erase", pseudonym=PSEUDONYM["c"], content={"reason": "asked"}, at=_at(7))
    early = read_state(ledger, secret=SECRET, as_of=_at(6))
    assert [e.seq for e in early.entries] == [1, 2, 3, 4, 5, 6]
    assert PSEUDONYM["c"] not in early.erased
    assert PSEUDONYM["c"] not in early.corrections  # purged from the vault: gone for every replay
    assert early.corrections[PSEUDONYM["a"]] == {"employee_count": (120, 2)}
    now = read_state(ledger, secret=SECRET)
    assert PSEUDONYM["c"] in now.erased and PSEUDONYM["c"] not in now.corrections


# ---------------------------------------------------------------- texts


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("please write to jane.doe@example.com instead", PrivacyError, "e-mail address or a phone number"),
        ("call me on +1 415 555 0142 about it", PrivacyError, "e-mail address or a phone number"),
        ("call 415-555-0142", PrivacyError, "e-mail address or a phone number"),
        ("account acc-0000417 asked us", PrivacyError, "names the account"),
        ("Silver Works GmbH asked to be removed", PrivacyError, "names the account"),
        ("line one\x07bell", ConfigError, "control characters"),
        ("   ", ConfigError, "found nothing"),
        ("x" * 201, ConfigError, "at most 200 characters, found 201"),
    ],
    ids=["e-mail", "phone", "us-phone", "own-identifier", "company-name", "control", "empty", "too-long"],
)
def test_check_text_refuses_personal_data_control_characters_and_bad_lengths(
    text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        check_text(text, what="--reason", limit=200, forbidden=[RAW["a"], "Silver Works GmbH", "ab"])


def test_check_text_returns_the_stripped_text_and_allows_an_optional_empty_one() -> None:
    assert check_text("  headcount was out of date \n", what="--reason", limit=200) == "headcount was out of date"
    assert check_text("", what="--reason", limit=200, required=False) == ""
    assert (
        check_text("tab\tand newline\nare plain text", what="--text", limit=200) == "tab\tand newline\nare plain text"
    )
    # values shorter than three characters are not matched: they would refuse every text
    assert check_text("a fair reason", what="--reason", limit=200, forbidden=["ab", "a"]) == "a fair reason"


# ---------------------------------------------------------------- concurrency and privacy

_WRITER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    from governance.ledger import append
    from governance.privacy import pseudonymize_one

    ledger, secret, name = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    folder = Path(ledger).parent
    (folder / f"{name}.ready").touch()
    while len(list(folder.glob("*.ready"))) < 2:  # start together, so that the appends interleave
        time.sleep(0.001)
    for i in range(20):
        pseudonym = pseudonymize_one(f"{name}-{i}", secret)
        content = {"values": {"intent_score": i}} if i % 2 else None
        append(ledger, secret=secret, kind="correct" if content else "access", pseudonym=pseudonym,
               fields=["intent_score"] if content else [], content=content)
    """
)


@pytest.mark.slow
def test_two_processes_appending_concurrently_leave_one_verifying_chain(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(ledger), TEST_KEY, name],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("left", "right")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    result = verify(ledger, secret=SECRET)
    assert result.ok, result.problems
    assert result.entries == 40 and result.notes == ()
    entries = _lines(ledger)
    assert [e["seq"] for e in entries] == list(range(1, 41))
    pseudonyms = {e["pseudonym"] for e in entries}
    expected = {pseudonymize_one(f"{name}-{i}", SECRET) for name in ("left", "right") for i in range(20)}
    assert pseudonyms == expected
    assert len(_vault(ledger)) == 20
    assert len(read_state(ledger, secret=SECRET).corrections) == 20


def test_no_raw_identifier_appears_in_any_ledger_file(ledger: Path) -> None:
    append(ledger, secret=SECRET, kind="erase", pseudonym=PSEUDONYM["c"], content={"reason": "asked"}, at=_at(7))
    files = LedgerFiles(ledger)
    for path in (files.ledger, files.vault, files.head):
        text = path.read_text()
        for raw in RAW.values():
            assert raw not in text, (path.name, raw)
            assert raw.casefold() not in text.casefold(), (path.name, raw)
    assert PSEUDONYM["a"] in files.ledger.read_text()
