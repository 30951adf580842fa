"""Reading a version back from the store and verifying it against its run's audit record.

Tampering (a card, a tag or the model's files changed after the audit, a model
holding a type the loading path does not trust, a card whose lineage names another
model than its run logged, a run deleted) raises PrivacyError; an unfinished
registration raises GateFailure. What the verified evidence allows is decided by
:mod:`governance.registry.rules`.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance._files import canonical_json
from governance.errors import ConfigError, GateFailure, GovernanceError, PrivacyError, Problem
from governance.registry._card import CARD_FOLDER, audited_part, read_card, sha
from governance.registry._client import error_code, quoted
from governance.registry.records import DEMOTED_TAG, EXPIRES_TAG, ModelVersionRecord, Review
from governance.registry.rules import Evidence, refusal

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["aliases", "evidence", "holds", "model_version", "untrusted_types", "version_record"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def model_version(client: MlflowClient, name: str, version: int) -> Any:
    """Return the version, or a ConfigError naming the versions that exist."""
    try:
        return client.get_model_version(name, str(version))
    except Exception as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        found = sorted(int(v.version) for v in client.search_model_versions(f"name = '{quoted(name)}'"))
    except Exception:
        found = []
    expected = f"one of {found[0]}..{found[-1]}" if found else "none: nothing is registered under that name yet"
    raise ConfigError(
        [Problem("model version", f"{name!r} has no version {version}; expected {expected}", "check --model-version")]
    )


def aliases(client: MlflowClient, name: str) -> dict[str, int]:
    """Return the registered model's aliases and the versions they name."""
    return {str(alias): int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def version_record(name: str, mv: Any) -> ModelVersionRecord:
    """Return a ModelVersionRecord of an MLflow model version."""
    tags = mv.tags or {}
    return ModelVersionRecord(
        registered_model=name,
        version=int(mv.version),
        run_id=str(mv.run_id or ""),
        candidate=tags.get("candidate.name", ""),
        verdict=tags.get("gate.verdict", ""),
        card_sha256=tags.get("card.sha256", ""),
        model_id=tags.get("model.id", ""),
        status=str(mv.status),
        aliases=tuple(sorted(mv.aliases or ())),
    )


def _audit_run(client: MlflowClient, label: str, run_id: str) -> Any:
    """Return the version's run, the audit record; PrivacyError when it is gone."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        raise PrivacyError(f"refusing {label}: it names no run, so it has no audit record")
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise PrivacyError(f"refusing {label}: its run {run_id}, the audit record, no longer exists") from exc
    if str(run.info.lifecycle_stage) != "active":  # deleted (MLflow keeps it until garbage collection)
        raise PrivacyError(
            f"refusing {label}: its run {run_id}, the audit record, was deleted; a governed version keeps its run "
            "(restore it with `mlflow runs restore`, or audit a new version with governance run)"
        )
    return run


def _check_tags(client: MlflowClient, label: str, mv: Any, record: Mapping[str, str]) -> None:
    """Check that the version's tags and source agree with its run's audit record and logged model."""
    tags = mv.tags or {}
    problems = [
        f"tag {key} of the version ({str(tags.get(key))[:16]!r}) differs from its run's audit record "
        f"({str(record.get(key))[:16]!r})"
        for key in ("model.id", "model.sha256", "gate.verdict")
        if not tags.get(key) or tags.get(key) != record.get(key)
    ]
    if not _SHA256.match(tags.get("card.sha256", "")) or not _SHA256.match(record.get("card.sha256", "")):
        problems.append("its card.sha256 tags are not sha256 digests")
    if problems:
        raise PrivacyError(f"refusing {label}: " + "; ".join(problems) + "; it was changed after the audit")
    run_id = str(mv.run_id or "")
    logged = client.get_logged_model(tags["model.id"])
    if str(logged.source_run_id) != run_id or str(mv.source) != str(logged.artifact_location):
        raise PrivacyError(
            f"refusing {label}: its source is not the model its run {run_id} logged ({tags['model.id']}); "
            "it was changed after registration"
        )


def _stored_card(client: MlflowClient, label: str, run_id: str, digest: str) -> bytes:
    """Return the card file the version's tag names, hashing to that tag."""
    data = read_card(client, run_id, digest)
    if data is None:
        raise PrivacyError(
            f"refusing {label}: its card {CARD_FOLDER}/{digest[:12]}....json is missing from run {run_id}"
        )
    if sha(data) != digest:
        raise PrivacyError(
            f"refusing {label}: its card hashes to sha256 {sha(data)[:12]}..., not the {digest[:12]}... recorded in "
            "tag card.sha256; the card was changed after it was recorded"
        )
    return data


def _parsed_card(label: str, data: bytes) -> tuple[dict[str, Any], str, str, dict[str, Any], tuple[Review, ...]]:
    """Return the card, the sha256 of its audited part, its verdict, its model section and its reviews."""
    try:
        card = json.loads(data)
        audited_now = sha(canonical_json(audited_part(card)))
        verdict = str(card["gate"]["verdict"])
        model = card["model"]
        reviews = tuple(
            Review(reviewer=str(r["reviewer"]), decision=r["decision"], note=str(r["note"]), at=str(r["at"]))
            for r in card["reviews"]
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise PrivacyError(f"refusing {label}: its card is not a governance card ({type(exc).__name__})") from exc
    return card, audited_now, verdict, model, reviews


def untrusted_types(folder: Path, trusted: Sequence[str]) -> list[str]:
    """Return the types a downloaded model would deserialize beyond skops' defaults and ``trusted``.

    Parameters
    ----------
    folder
        The model's folder (its ``MLmodel`` and skops file).
    trusted
        The types the loading path trusts (:data:`governance.train.MODEL_TYPES`).

    Returns
    -------
    list of str
        The untrusted types, sorted; empty when the model loads with trusted types only.

    Raises
    ------
    PrivacyError
        When the model is not in the skops format (a pickle runs code when it is loaded).
    """
    import skops.io  # type: ignore[import-untyped]
    import yaml

    meta = folder / "MLmodel"
    flavors = (yaml.safe_load(meta.read_text()) or {}).get("flavors", {}) if meta.is_file() else {}
    flavor = flavors.get("sklearn", {}) if isinstance(flavors, Mapping) else {}
    if not isinstance(flavor, Mapping) or flavor.get("serialization_format") != "skops":
        found = flavor.get("serialization_format") if isinstance(flavor, Mapping) else None
        raise PrivacyError(f"expected a model in the skops format, found {found!r}; a pickle runs code when loaded")
    file = folder / str(flavor.get("pickled_model", "model.skops"))
    try:
        found_types = skops.io.get_untrusted_types(file=file)
    except Exception as exc:  # not a skops file at all: nothing in it can be trusted
        raise PrivacyError(f"the model file is not a readable skops file ({type(exc).__name__})") from exc
    return sorted(set(found_types) - set(trusted))


def _check_model_files(client: MlflowClient, label: str, model_id: str, expected: str, *, uri: str) -> None:
    """Check that the model's files still hash to the checksum recorded when logged, and hold only trusted types."""
    from governance.registry.models import download_model
    from governance.registry.runs import tree_sha256
    from governance.train import MODEL_TYPES

    with tempfile.TemporaryDirectory(prefix="governance-model-") as tmp:
        local = download_model(client, model_id, tmp, uri=uri)
        actual = tree_sha256(local)
        if actual != expected:
            raise PrivacyError(
                f"refusing {label}: its model files hash to sha256 {actual[:12]}..., not the "
                f"{expected[:12]}... recorded when they were logged; they changed after the audit"
            )
        try:
            untrusted = untrusted_types(local, MODEL_TYPES)
        except PrivacyError as exc:
            raise PrivacyError(f"refusing {label}: {exc}") from exc
    if untrusted:
        shown = ", ".join(untrusted[:10]) + (f" and {len(untrusted) - 10} more" if len(untrusted) > 10 else "")
        raise PrivacyError(
            f"refusing {label}: its model holds types the loading path does not trust ({shown}); loading it "
            "could run code, so it takes no alias (governance.train.MODEL_TYPES lists the trusted types)"
        )


def _check_lineage(label: str, card: Mapping[str, Any], record: Mapping[str, str]) -> None:
    """Check that the card's lineage names the model its run logged (``lineage.model_sha256`` = tag ``model.sha256``)."""
    lineage = card.get("lineage")
    named = lineage.get("model_sha256") if isinstance(lineage, Mapping) else None
    if named != record.get("model.sha256"):
        raise PrivacyError(
            f"refusing {label}: its card's lineage.model_sha256 ({str(named)[:12]}...) is not the model its run "
            f"logged ({str(record.get('model.sha256'))[:12]}...); the card describes another model"
        )


def evidence(client: MlflowClient, name: str, version: int, *, uri: str, deep: bool) -> Evidence:
    """Re-read a version and check it against its run's audit record; tampering raises PrivacyError.

    ``deep`` also re-hashes the model's files against ``model.sha256`` and refuses a model holding a type
    the loading path does not trust (:func:`untrusted_types`).
    """
    label = f"{name!r} version {version}"
    mv = model_version(client, name, version)
    run_id = str(mv.run_id or "")
    tags = mv.tags or {}
    digest = tags.get("card.sha256", "")
    if not digest:
        raise GateFailure(
            f"{label} has no card: its registration did not complete, so there is no audit to rely on; "
            "register the candidate again",
            report={"registered_model": name, "version": version, "reason": "unregistered"},
        )
    run = _audit_run(client, label, run_id)
    record = run.data.tags
    _check_tags(client, label, mv, record)
    card, audited_now, verdict, model, reviews = _parsed_card(label, _stored_card(client, label, run_id, digest))
    if audited_now != record.get("card.sha256", ""):
        raise PrivacyError(
            f"refusing {label}: the audited part of its card (everything but the reviews) differs from the audit "
            f"record of run {run_id} (card.sha256 {record.get('card.sha256', '')[:12]}...); it was changed after the audit"
        )
    if (
        verdict != tags.get("gate.verdict")
        or str(model.get("version")) != str(version)
        or model.get("run_id") != run_id
    ):
        raise PrivacyError(f"refusing {label}: its card describes another verdict, version or run than its tags")
    if any(r.decision not in ("approve", "reject") for r in reviews):
        raise PrivacyError(f"refusing {label}: its card holds a review that is neither an approval nor a rejection")
    _check_lineage(label, card, record)
    if deep:
        _check_model_files(client, label, tags["model.id"], str(record.get("model.sha256")), uri=uri)
    return Evidence(
        version=version,
        run_id=run_id,
        status=str(mv.status),
        run_status=str(run.info.status),
        verdict=verdict,
        card=card,
        card_sha256=digest,
        reviews=reviews,
        demoted=str(tags.get(DEMOTED_TAG, "")),
        expires_at=str(tags.get(EXPIRES_TAG, "")),
    )


def holds(client: MlflowClient, name: str, version: int, *, uri: str, required: int, deep: bool) -> bool:
    """Whether a version passes every check a champion must pass, now."""
    try:
        found = evidence(client, name, version, uri=uri, deep=deep)
    except GovernanceError:  # a refusal, tampering, or no such version; store failures propagate
        return False
    return refusal(found, name=name, action="keep", required=required) is None
