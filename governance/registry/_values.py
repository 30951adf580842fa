"""Values on their way to MLflow: stringified, and refused when they look like personal data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governance.errors import PrivacyError
from governance.privacy import redact

__all__ = ["check_values"]


def check_values(kind: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Stringify and refuse anything that looks like an e-mail address or a phone number."""
    out = {}
    for key, value in values.items():
        text = str(value)
        if redact(str(key)) != str(key) or redact(text) != text:
            raise PrivacyError(
                f"refusing to log MLflow {kind} {redact(str(key))!r}: its value looks like personal data"
            )
        out[str(key)] = text
    return out
