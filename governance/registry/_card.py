"""The card contract as the registry checks it, and the card files in a run's artifacts.

Kept in one file so that it can give way to the card validator of :mod:`governance.card`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.errors import ConfigError, Problem

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["CARD_FOLDER", "CARD_SCHEMA", "VERDICTS", "audited_part", "canonical_card", "check_card", "read_card", "sha"]

#: Schema of the card documents attached to model versions.
CARD_SCHEMA = "governance.card/1"
#: Folder, in a candidate run's artifacts, of its cards; each is stored as ``card/<sha256>.json``.
CARD_FOLDER = "card"
VERDICTS = ("pass", "fail", "inconclusive")


def canonical_card(card: Mapping[str, Any]) -> bytes:
    """Return the bytes a card is stored and hashed as: sorted keys, 2-space indent, UTF-8, finite numbers, final newline.

    The same bytes as :meth:`governance.card.ModelCard.to_json` for the same document.

    Parameters
    ----------
    card
        The card document.

    Returns
    -------
    bytes
        Its canonical JSON.

    Raises
    ------
    ValueError
        When the card holds NaN or infinity, or values JSON cannot represent.
    """
    from governance._files import canonical_json

    return canonical_json(card)


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


def _appended_problems(card: Mapping[str, Any]) -> list[Problem]:
    """Reviews or feedback items already on a card given for registration."""
    problems: list[Problem] = []
    if card.get("reviews") not in (None, [], ()):
        problems.append(
            Problem(
                "card.reviews",
                "a card is registered before any review; found reviews already on it",
                "record reviews with record_review (governance review) after registration",
            )
        )
    feedback = card.get("feedback")
    if isinstance(feedback, Mapping) and feedback.get("items") not in (None, [], ()):
        problems.append(
            Problem(
                "card.feedback.items",
                "a card is registered before any feedback; found feedback items already on it",
                "record feedback with record_feedback (governance feedback add) after registration",
            )
        )
    return problems


def check_card(card: Any, *, run_id: str) -> dict[str, Any]:
    """Every problem of a card given for registration, at once; returns a plain-data copy."""
    if not isinstance(card, Mapping):
        raise ConfigError([Problem("card", f"expected a JSON object, found {type(card).__name__}")])
    problems: list[Problem] = []
    if card.get("schema") != CARD_SCHEMA:
        problems.append(Problem("card.schema", f"expected {CARD_SCHEMA!r}, found {card.get('schema')!r}"))
    gate = card.get("gate")
    verdict = gate.get("verdict") if isinstance(gate, Mapping) else None
    if verdict not in VERDICTS:
        problems.append(Problem("card.gate.verdict", f"expected one of {', '.join(VERDICTS)}, found {verdict!r}"))
    problems.extend(_appended_problems(card))
    model = card.get("model", {})
    if not isinstance(model, Mapping):
        problems.append(Problem("card.model", f"expected an object, found {type(model).__name__}"))
    elif model.get("run_id") not in (None, run_id):
        problems.append(
            Problem("card.model.run_id", f"expected the registered run {run_id!r}, found {model.get('run_id')!r}")
        )
    try:
        plain: dict[str, Any] = json.loads(canonical_card(card)) if not problems else {}
    except (TypeError, ValueError) as exc:
        problems.append(Problem("card", f"expected plain JSON data with finite numbers: {exc}"))
        plain = {}
    if problems:
        raise ConfigError(problems)
    return plain


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
