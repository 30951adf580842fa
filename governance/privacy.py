"""Keyed pseudonymization, detection of personal data, redaction, and the screen of free texts.

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
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from governance.errors import PrivacyError, Problem, ProblemCode

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "EMAIL",
    "IDENTIFIER",
    "MAX_AUDIT_GROUPS",
    "NAME",
    "PHONE",
    "PSEUDONYM_METHOD",
    "TextScreen",
    "identifier_like",
    "looks_like_pii",
    "pseudonymize",
    "pseudonymize_one",
    "redact",
    "screen_text",
    "withhold_groups",
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


# ---------------------------------------------------------------- groupings that publish rows

MAX_AUDIT_GROUPS = 1000  # more groups than this is an identifier or a free text, not a grouping
_FEW_GROUPS = 20  # up to this many groups is never refused for its cardinality (small hand-made data)
_ID_SHARE = 0.5  # more distinct values than this share of the rows: (almost) one per row


def identifier_like(name: str, groups: int, rows: int, min_group_size: int) -> Problem | None:
    """Refuse an attribute whose groups are (almost) rows: an identifier, a name, a continuous value.

    An audit publishes each group's decisions and outcomes; grouping by an identifier
    publishes every row's. Refused: more than 20 groups and more than half as many groups as
    rows; more than :data:`MAX_AUDIT_GROUPS` groups; more than 20 groups and more groups than
    ``rows / min_group_size`` (then most groups could not be judged anyway).

    Parameters
    ----------
    name
        The attribute.
    groups
        Its distinct present values.
    rows
        The rows audited.
    min_group_size
        The smallest group judged.

    Returns
    -------
    Problem or None
        The problem (naming the counts, never a value), or ``None`` when the attribute may be audited.
    """
    judged = rows / max(min_group_size, 1)
    if groups > _FEW_GROUPS and groups > _ID_SHARE * rows:
        found = f"{groups} distinct values in {rows} rows (almost one per row: an identifier or a name)"
    elif groups > MAX_AUDIT_GROUPS:
        found = f"{groups} distinct values (at most {MAX_AUDIT_GROUPS} groups are audited)"
    elif groups > _FEW_GROUPS and groups > judged:
        found = (
            f"{groups} distinct values in {rows} rows, more than rows / min_group_size = {judged:.0f} "
            "(most groups too small to judge)"
        )
    else:
        return None
    return Problem.for_parameter(
        "sensitive",
        f"expected a grouping shared by many rows, found {found}",
        "audit an attribute such as a region, an industry or a banded age (bin a numeric column first: "
        "sensitive.attributes[].bins in a config); grouping by an identifier or a name would publish every "
        "row's decision and outcome",
        key=name,
        code=ProblemCode.INVALID_VALUE,
    )


# ---------------------------------------------------------------- screening free text

_WORD = re.compile(r"[^\W_]+")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]*\d")
_LEGAL_FORMS = frozenset({"llc", "gmbh", "ltd", "bv", "co", "inc", "plc", "sa", "ag", "corp", "llp", "nv", "srl"})
_MIN_CHARS = 3  # shorter values ("AB") cannot be told from ordinary words
_MIN_NUMBER_DIGITS = 5  # shorter numbers are counts and versions, not identifiers
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 7, 15
_MAX_WORDS = 8  # longest value compared word by word (longer ones are compared by their first words)
_PHONE_TAIL = 10  # national numbers: "+1 (555) 010-1234" is also given as its last ten digits

#: The kinds a refusal names (never the matched text).
IDENTIFIER, NAME, EMAIL, PHONE = "an identifier", "a name", "an e-mail address", "a phone number"


def _words(text: str) -> list[str]:
    """Split ``text`` into case-folded words (letters and digits; every separator dropped)."""
    return _WORD.findall(text.casefold())


class TextScreen:
    """The identifiers, names and contact details of every row, normalized once, to screen free texts against.

    A text is refused when a run of its words equals a value's words (case and separators
    ignored: ``acc 00000001`` and ``ACC-00000001`` are one value), when one of its
    whitespace-separated chunks equals a value with the separators removed
    (``ACC00000001``), or when a run of its digits holds a phone number of the data
    (digits only: ``5550101234`` matches ``+1 (555) 010-1234``). Building costs one pass
    over the columns; checking a text costs a few set look-ups per word, whatever the
    number of rows.
    """

    def __init__(self) -> None:
        """Start with nothing to screen against (only the e-mail and phone patterns apply)."""
        self._forms: dict[str, str] = {}
        self._phones: set[str] = set()
        self._longest = 1

    def _add(self, words: Sequence[str], kind: str) -> None:
        """Add one value, given as its words, under ``kind``."""
        compact = "".join(words)
        if len(compact) < _MIN_CHARS or (compact.isdigit() and len(compact) < _MIN_NUMBER_DIGITS):
            return
        spaced = " ".join(words[:_MAX_WORDS])
        self._forms.setdefault(spaced, kind)
        self._forms.setdefault(compact, kind)
        self._longest = max(self._longest, min(len(words), _MAX_WORDS))

    def add_identifiers(self, values: Iterable[object]) -> TextScreen:
        """Add identifiers (the config's id column).

        Parameters
        ----------
        values
            The identifiers; missing values (None, NaN) are skipped.

        Returns
        -------
        TextScreen
            This screen.
        """
        for value in dict.fromkeys(_present(values)):
            self._add(_words(value), IDENTIFIER)
        return self

    def add_personal(self, values: Iterable[object]) -> TextScreen:
        """Add a personal data column: names, e-mail addresses or phone numbers (told apart by their values).

        A name is also added without its legal form ("River Health" for "River Health
        LLC", when two words remain); an e-mail address also adds the person's name its
        local part spells ("ana.adams" adds "ana adams").

        Parameters
        ----------
        values
            The column's values; missing values are skipped.

        Returns
        -------
        TextScreen
            This screen.
        """
        texts = list(dict.fromkeys(_present(values)))  # each distinct value once (names repeat)
        kind = looks_like_pii(texts)
        for text in texts:
            if kind == "phone numbers":
                digits = "".join(ch for ch in text if ch.isdigit())
                if len(digits) >= _MIN_PHONE_DIGITS:
                    self._phones.add(digits)
                    self._phones.add(digits[-_PHONE_TAIL:])
                continue
            if kind == "e-mail addresses":  # every e-mail address is refused by its pattern; its person by name
                local = _words(text.partition("@")[0])
                if len(local) >= 2:
                    self._add(local, NAME)
                continue
            words = _words(text)
            self._add(words, NAME)
            if len(words) >= 3 and words[-1] in _LEGAL_FORMS:
                self._add(words[:-1], NAME)
        return self

    def found(self, text: str, *, allow: Iterable[str] = ()) -> str | None:
        """Say what kind of personal data ``text`` holds, if any (never what was matched).

        Parameters
        ----------
        text
            A free text a person typed.
        allow
            Kinds not refused (:data:`NAME` for a reviewer: staff names may equal a contact's).

        Returns
        -------
        str or None
            :data:`IDENTIFIER`, :data:`NAME`, :data:`EMAIL` or :data:`PHONE`, or ``None``.
        """
        allowed = frozenset(allow)
        return next((kind for kind in self._kinds(text) if kind not in allowed), None)

    def _kinds(self, text: str) -> Iterator[str]:
        """Yield the kind of each piece of personal data found in ``text``, cheapest checks first."""
        if _EMAIL_ANYWHERE.search(text):
            yield EMAIL
        if redact(text) != text or self._holds_phone(text):
            yield PHONE
        words = _words(text)
        for start in range(len(words)):
            for n in range(1, min(self._longest, len(words) - start) + 1):
                kind = self._forms.get(" ".join(words[start : start + n]))
                if kind is not None:
                    yield kind
        for chunk in text.split():
            kind = self._forms.get("".join(_words(chunk)))
            if kind is not None:
                yield kind

    def _holds_phone(self, text: str) -> bool:
        """Tell whether a run of the text's digits holds one of the data's phone numbers."""
        if not self._phones:
            return False
        for run in _DIGIT_RUN.findall(text):
            digits = "".join(ch for ch in run if ch.isdigit())
            for start in range(len(digits) - _MIN_PHONE_DIGITS + 1):
                for end in range(start + _MIN_PHONE_DIGITS, min(start + _MAX_PHONE_DIGITS, len(digits)) + 1):
                    if digits[start:end] in self._phones:
                        return True
        return False

    def __len__(self) -> int:
        """Count the normalized forms held (values, their compact forms and phone numbers)."""
        return len(self._forms) + len(self._phones)


def _present(values: Iterable[object]) -> Iterator[str]:
    """Yield the stripped text of each present value (None, NaN and empty texts skipped)."""
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            continue
        text = str(value).strip()
        if text:
            yield text


def screen_text(
    text: str, *, what: str, screen: TextScreen | None = None, it: str = "it", allow: Iterable[str] = ()
) -> None:
    """Refuse a free text a person typed when it holds personal data: the one check every such text passes.

    Reasons (correction, erasure, consent withdrawal), review notes and feedback are
    recorded and published; they must name no row of the data.

    Parameters
    ----------
    text
        The text as it will be recorded.
    what
        What is refused, in the message (``--reason``, ``the review``).
    screen
        The data's identifiers, names and contact details; ``None``: the e-mail and phone patterns only.
    it
        The text in the message (``its note``, when ``what`` names the record it belongs to).
    allow
        Kinds not refused (:data:`NAME` for a reviewer, who is staff, not a data subject).

    Raises
    ------
    PrivacyError
        (exit 4) Naming the kind found (an identifier, a name, an e-mail address, a phone
        number), never the text or the match.
    """
    kind = (screen or TextScreen()).found(text, allow=allow)
    if kind is None:
        return
    detail = f"{kind} of a row in the data" if kind in (IDENTIFIER, NAME) else f"{kind}, contact details"
    raise PrivacyError(
        f"refusing {what}: {it} looks like it holds personal data ({detail}); it would be recorded and "
        "published (cards, the ledger, the registry), so describe the matter without naming anyone or giving "
        "contact details; a pseudonym may be quoted (the text is not repeated here)"
    )


def withhold_groups(groups: Iterable[dict[str, Any]], publish_min: int, *, note: str, empty: bool) -> None:
    """Publish the groups of a document's ``groups`` below ``publish_min`` rows as "fewer than k", in place.

    Parameters
    ----------
    groups
        The document's group entries (``governance.audit/1``).
    publish_min
        The publication minimum: a group with fewer rows loses its count and every metric value.
    note
        The reason written on the group and each of its metrics.
    empty
        Also withhold groups with no rows (the card does; an audit document keeps them: they reveal no one).
    """
    for group in groups:
        n = group.get("n")
        if isinstance(n, int) and n < publish_min and (empty or n > 0):
            group["n"] = None
            group["n_published"] = f"fewer than {publish_min}"
            group["status"] = "insufficient_data"
            group["reason"] = note
            group["metrics"] = {
                name: {"value": None, "ci": None, "status": "insufficient_data", "reason": note}
                for name in group.get("metrics", {})
            }
