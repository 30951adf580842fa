"""The card files in a run's artifacts, checked by the card contract's one validator (:mod:`governance.card`)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.card import SCHEMA as CARD_SCHEMA
from governance.card import validate
from governance.card.validate import VERDICTS
from governance.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["CARD_FOLDER", "CARD_SCHEMA", "VERDICTS", "audited_part", "check_card", "read_card", "sha"]

#: Folder, in a candidate run's artifacts, of its cards; each is stored as ``card/<sha256>.json``.
CARD_FOLDER = "card"


def sha(data: bytes) -> str:
    """sha256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def audited_part(card: Mapping[str, Any]) -> dict[str, Any]:
    """Return the card as audited: without its reviews and its feedback items, which are appended after registration."""
    audited = {**card, "reviews": []}
    feedback = card.get("feedback")
    if isinstance(feedback, Mapping) and "items" in feedback:
        audited["feedback"] = {**feedback, "items": []}
    return audited


def check_card(card: Any, *, run_id: str) -> dict[str, Any]:
    """Check a card given for registration with the card contract's validator; return a plain-data copy."""
    try:
        return validate.check_card(card, registration_of=run_id, root="card")
    except DataValidationError as exc:  # a card handed to the registry is the caller's input
        raise ConfigError(list(exc.problems)) from exc


def read_card(client: MlflowClient, run_id: str, digest: str) -> bytes | None:
    """Return the bytes of ``card/<digest>.json`` in the run's artifacts, or None when it is not there."""
    from governance.registry._client import error_code

    with tempfile.TemporaryDirectory(prefix="governance-card-") as tmp:
        try:
            path = client.download_artifacts(run_id, f"{CARD_FOLDER}/{digest}.json", tmp)
        except Exception as exc:
            if error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or isinstance(exc, OSError):
                return None
            raise
        file = Path(path)
        return file.read_bytes() if file.is_file() else None
