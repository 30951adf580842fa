from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from governance.privacy import looks_like_pii, pseudonymize, pseudonymize_one, redact


def test_pseudonyms_are_stable_for_a_key_and_differ_across_keys() -> None:
    ids = ["ACC-1", "ACC-2", "ACC-3"]
    a = pseudonymize(ids, b"key-one-0123456789")
    b = pseudonymize(ids, b"key-one-0123456789")
    c = pseudonymize(ids, b"key-two-0123456789")
    assert list(a) == list(b)
    assert not set(a) & set(c)
    assert len(set(a)) == 3
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in a)


def test_pseudonym_is_keyed_hmac_not_a_plain_hash() -> None:
    key = b"key-one-0123456789"
    expected = hmac.new(key, b"ACC-1", hashlib.sha256).hexdigest()[:32]
    assert pseudonymize_one("ACC-1", key) == expected
    assert pseudonymize_one("ACC-1", key) != hashlib.sha256(b"ACC-1").hexdigest()[:32]
    assert pseudonymize(["ACC-1"], key)[0] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["ana.diaz@bluebridge.com", "x.y@z.co.uk", None], "e-mail addresses"),
        (["+1 415 555 0101", "(212) 555-0199", "+44 20 7946 0958"], "phone numbers"),
        (["PC-01", "PC-02", "PC-03"], None),
        (["1234567.5", "7654321", "9999999"], None),
        (["software", "retail", "energy"], None),
        ([None, None], None),
    ],
)
def test_looks_like_pii_judges_values_not_names(values: list[object], expected: str | None) -> None:
    assert looks_like_pii(pd.Series(values, dtype=object)) == expected


def test_numeric_columns_are_never_pii() -> None:
    assert looks_like_pii(pd.Series([4155550101, 2125550199])) is None


def test_redact_removes_emails_and_phones_but_keeps_dates_and_counts() -> None:
    text = "ana@x.com called +1 415 555 0101 and 212-555-0199 on 2026-11-29 12:00:01 about 1000000 rows"
    clean = redact(text)
    assert "ana@x.com" not in clean and "415 555" not in clean and "212-555" not in clean
    assert "2026-11-29 12:00:01" in clean and "1000000 rows" in clean
