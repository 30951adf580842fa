"""Keyed pseudonymization, detection of personal data, and redaction.

Identifiers leave the data layer only as keyed pseudonyms: HMAC-SHA256 of the
identifier under a secret key, hex-encoded and truncated to 128 bits. A plain
hash would be reversible by hashing every plausible identifier; the key makes
that impossible without the secret, and different keys give unrelated
pseudonyms. The key itself is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "PSEUDONYM_METHOD",
    "looks_like_pii",
    "pseudonymize",
    "pseudonymize_one",
    "redact",
]

#: Recorded on the card so a reader knows how identifiers were protected.
PSEUDONYM_METHOD = "HMAC-SHA256, 128-bit hex"
_HEX_CHARS = 32

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_EMAIL_ANYWHERE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_ANYWHERE = re.compile(r"(\+\d[\d\s().-]{5,18}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b)")
_PII_SHARE = 0.5
_SAMPLE = 2000


def pseudonymize_one(identifier: object, key: bytes) -> str:
    """Compute the pseudonym of one identifier under ``key``.

    Parameters
    ----------
    identifier
        An account identifier (any value; its text is hashed).
    key
        The pseudonymization key.

    Returns
    -------
    str
        32 hexadecimal characters.
    """
    return hmac.new(key, str(identifier).encode("utf-8"), hashlib.sha256).hexdigest()[:_HEX_CHARS]


def pseudonymize(identifiers: Iterable[object], key: bytes) -> np.ndarray:
    """Pseudonyms of many identifiers under ``key``, as a numpy array of ``str``.

    Parameters
    ----------
    identifiers
        Raw identifiers; each is converted with ``str`` first.
    key
        The secret HMAC key.

    Returns
    -------
    numpy.ndarray
        One 32-character hex pseudonym per identifier, in order.
    """
    import numpy as np

    base = hmac.new(key, digestmod=hashlib.sha256)
    out = []
    for identifier in identifiers:
        h = base.copy()
        h.update(str(identifier).encode("utf-8"))
        out.append(h.hexdigest()[:_HEX_CHARS])
    return np.asarray(out, dtype=object)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def looks_like_pii(values: pd.Series | Sequence[object]) -> str | None:
    """Say whether a column's values look like personal data, whatever its name.

    Looks at up to 2,000 non-missing values (a deterministic sample) and
    flags the column when more than half of them are e-mail addresses or
    phone numbers (7 to 15 digits, formatted as phone numbers usually are).

    Parameters
    ----------
    values
        A column's values.

    Returns
    -------
    str or None
        ``"e-mail addresses"`` or ``"phone numbers"``, or ``None``.
    """
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    present = series.dropna()
    if present.empty:
        return None
    if len(present) > _SAMPLE:
        present = present.iloc[np.linspace(0, len(present) - 1, _SAMPLE).astype(np.int64)]
    texts = [str(v).strip() for v in present]
    emails = sum(bool(_EMAIL.match(t)) for t in texts)
    phones = sum(bool(_PHONE.match(t)) and 7 <= _digits(t) <= 15 and not _is_plain_number(t) for t in texts)
    if emails > _PII_SHARE * len(texts):
        return "e-mail addresses"
    if phones > _PII_SHARE * len(texts):
        return "phone numbers"
    return None


def _is_plain_number(text: str) -> bool:
    """Tell whether the text is a bare number ("1234567.5"): a measurement, not a phone number."""
    try:
        float(text)
    except ValueError:
        return False
    return not text.startswith("+") and not text.startswith("0")


def redact(text: str) -> str:
    """Replace anything that looks like an e-mail address or a phone number in ``text``.

    Parameters
    ----------
    text
        Any text.

    Returns
    -------
    str
        The text with each e-mail address and phone number replaced by a placeholder.
    """
    text = _EMAIL_ANYWHERE.sub("<redacted e-mail>", text)
    return _PHONE_ANYWHERE.sub(lambda m: "<redacted phone>" if 7 <= _digits(m.group()) <= 15 else m.group(), text)
