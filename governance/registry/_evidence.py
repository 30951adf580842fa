"""Reading a version back from the store and verifying it against its run's audit record.

Tampering (a card, a tag or the model's files changed after the audit, a model
holding a type the loading path does not trust, a card whose lineage names another
model than its run logged, a run deleted) raises PrivacyError; an unfinished
registration raises :class:`UnfinishedRegistration`. What the verified evidence
allows is decided by :mod:`governance.registry.rules`.

A registration is complete when its version has the tag ``card.sha256``, written
last (:func:`write_version_record`). One a lost process left unfinished (a killed
server, SIGKILL, a full disk) is settled by the next run that opens in the store
(:func:`settle_registrations`): completed when its run's audit record and card
are all there and verify, else tagged ``governance.registration = abandoned`` with
the reason and the time. Nothing is deleted, and an abandoned version is never eligible.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance import _cancel
from governance._files import canonical_json
from governance.errors import ConfigError, GateFailure, GovernanceError, PrivacyError, Problem
from governance.registry._card import CARD_FOLDER, audited_part, read_card, sha
from governance.registry._client import error_code, quoted
from governance.registry.records import DEMOTED_TAG, EXPIRES_TAG, ModelVersionRecord, Review
from governance.registry.rules import Evidence, refusal
from governance.registry.runs import HOST_TAG, PID_TAG, STALE_RUN_SECONDS, stale_reason

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "ABANDONED",
    "REGISTRATION_TAG",
    "UnfinishedRegistration",
    "aliases",
    "evidence",
    "holds",
    "model_version",
    "settle_registrations",
    "unfinished_refusal",
    "untrusted_types",
    "version_record",
    "write_version_record",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Version tag of a registration settled by a later run: ``abandoned`` or ``completed``.
REGISTRATION_TAG = "governance.registration"
#: Why, and when (UTC, ISO 8601), a later run settled it.
REGISTRATION_REASON_TAG, REGISTRATION_AT_TAG = "governance.registration.reason", "governance.registration.at"
ABANDONED, COMPLETED = "abandoned", "completed"
#: At most this many versions are looked at when settling registrations.
_SETTLE_LIMIT = 10_000


class UnfinishedRegistration(GateFailure):
    """A version whose registration never completed (no ``card.sha256``), or was abandoned: never eligible.

    Exit 2, not 1: no gate was evaluated on it, it is not a version governance can act on
    (like an unknown version), and the fix is to name another version or run ``governance run``
    again. It stays a :class:`GateFailure` so that callers refusing on evidence refuse it too;
    ``.report["reason"]`` is ``unregistered`` or ``abandoned``.
    """

    exit_code = 2


def unfinished_refusal(name: str, version: int, tags: Mapping[str, str]) -> UnfinishedRegistration | None:
    """Why a version is not a complete registration, or None when it is (tag ``card.sha256`` and not abandoned).

    Parameters
    ----------
    name, version
        The version.
    tags
        Its tags.

    Returns
    -------
    UnfinishedRegistration or None
    """
    label = f"{name!r} version {version}"
    report = {"registered_model": name, "version": version}
    if tags.get(REGISTRATION_TAG) == ABANDONED:
        reason = str(tags.get(REGISTRATION_REASON_TAG, ""))[:300] or "no reason recorded"
        return UnfinishedRegistration(
            f"{label}: registration abandoned (interrupted: {reason}; marked {tags.get(REGISTRATION_AT_TAG, '?')}); "
            "it has no audited card and is never promoted or used; run governance run again to register a new version",
            report={**report, "reason": "abandoned"},
        )
    if not tags.get("card.sha256"):
        return UnfinishedRegistration(
            f"{label} has no card: its registration did not complete (interrupted, or still running in another "
            "process), so there is no audit to rely on; the next governance run completes it or marks it "
            "abandoned: run governance run again",
            report={**report, "reason": "unregistered"},
        )
    return None


def write_version_record(client: MlflowClient, name: str, version: int, *, verdict: str, digest: str) -> None:
    """Write the version's part of the audit record, ``card.sha256`` last: its presence marks a complete registration.

    Parameters
    ----------
    client
        The registry's client (inside :meth:`Registry.call`).
    name, version
        The version.
    verdict, digest
        The gate verdict and the card's sha256, as the run's audit record holds them.
    """
    for key, value in (
        ("gate.verdict", verdict),
        ("review.count", "0"),
        ("review.approvals", "0"),
        ("review.rejections", "0"),
        ("card.sha256", digest),  # last: the commit point
    ):
        _cancel.check()
        client.set_model_version_tag(name, str(version), key, value)


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
    unfinished = unfinished_refusal(name, version, tags)
    if unfinished is not None:
        raise unfinished
    digest = tags["card.sha256"]
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


def _version_run(client: MlflowClient, run_id: str) -> Any:
    """Return the version's run, or None when it is gone or deleted."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None
    return run if str(run.info.lifecycle_stage) == "active" else None


def _completion_problem(client: MlflowClient, name: str, mv: Any, run: Any) -> str:
    """Why an unfinished registration cannot be completed from its run's audit record and card; ``""`` when it can."""
    from mlflow.exceptions import MlflowException

    version, run_id, tags = int(mv.version), str(mv.run_id or ""), mv.tags or {}
    label = f"{name!r} version {version}"
    if run is None:
        return f"its run {run_id or '(none)'}, which would hold the audit record, is gone or deleted"
    record = run.data.tags
    digest, verdict = record.get("card.sha256", ""), record.get("gate.verdict", "")
    if not _SHA256.match(digest) or not verdict:
        return f"its run {run_id} holds no audit record (card.sha256, gate.verdict): stopped before its card was stored"
    differ = [k for k in ("model.id", "model.sha256") if not tags.get(k) or tags.get(k) != record.get(k)]
    if differ:
        return f"its tags {', '.join(differ)} differ from those of its run {run_id}"
    try:
        card, audited_now, card_verdict, model, reviews = _parsed_card(
            label, _stored_card(client, label, run_id, digest)
        )
        _check_lineage(label, card, record)
    except PrivacyError as exc:
        return str(exc).removeprefix(f"refusing {label}: ")
    model = model if isinstance(model, Mapping) else {}
    described = (str(model.get("version")), model.get("run_id"), model.get("registered_model"))
    if audited_now != digest or card_verdict != verdict or reviews or described != (str(version), run_id, name):
        return f"the card of run {run_id} describes another version, run or verdict, or holds reviews"
    try:
        logged = client.get_logged_model(tags["model.id"])
    except MlflowException as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        return f"the model its run {run_id} logged is gone"
    if str(logged.source_run_id) != run_id or str(mv.source) != str(logged.artifact_location):
        return f"its source is not the model its run {run_id} logged"
    return ""


def _interrupted(client: MlflowClient, mv: Any, run: Any, *, now: float, max_age: float) -> str:
    """Why no process will finish this registration (its process is gone, or it is too old); ``""`` when one may."""
    if run is not None and str(run.info.status) == "RUNNING":
        return ""  # its run is open: its process is alive (a dead one's run was reaped just before)
    tags = mv.tags or {}
    owner = tags if tags.get(PID_TAG) else (run.data.tags if run is not None else {})
    return stale_reason(
        {PID_TAG: owner.get(PID_TAG, ""), HOST_TAG: owner.get(HOST_TAG, "")},
        int(mv.creation_timestamp or 0),
        now=now,
        max_age=max_age,
        what="its registration",
        state="unregistered",
    )


def settle_registrations(client: MlflowClient, name: str, *, max_age: float = STALE_RUN_SECONDS) -> list[str]:
    """Complete, or tag abandoned, the versions whose registration a lost process left unfinished.

    A version without ``card.sha256`` (and not yet settled) is unfinished; it is
    settled only when no process will finish it: the process that registered it
    (version tags ``governance.process.pid`` / ``.host``, else its run's) is gone
    from this machine, or it was created more than ``max_age`` seconds ago, and
    its run is not RUNNING. It is completed (tag ``governance.registration =
    completed``, then its version tags, ``card.sha256`` last) when its run's audit
    record and card are all there and verify; otherwise it is tagged
    ``governance.registration = abandoned`` with ``.reason`` and ``.at``, and is
    never eligible. Nothing is deleted. Each outcome is also a warning, shown by
    the command line.

    Parameters
    ----------
    client
        The registry's client (inside :meth:`Registry.call`).
    name
        The registered model.
    max_age
        Age in seconds past which an unfinished registration is settled whatever its process.

    Returns
    -------
    list of str
        What was done, one sentence per version settled.
    """
    versions = client.search_model_versions(f"name = '{quoted(name)}'", max_results=_SETTLE_LIMIT)
    now, done = time.time(), []
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = mv.tags or {}
        if mv.name != name or tags.get("card.sha256") or tags.get(REGISTRATION_TAG) == ABANDONED:
            continue  # complete, or settled for good (a completion cut short is tried again)
        run = _version_run(client, str(mv.run_id or ""))
        why = _interrupted(client, mv, run, now=now, max_age=max_age)
        if not why:
            continue
        _cancel.check()
        version, at = int(mv.version), datetime.now(UTC).replace(microsecond=0).isoformat()
        problem = _completion_problem(client, name, mv, run)
        state = ABANDONED if problem else COMPLETED
        reason = f"{why}; " + (problem or "its run's audit record and card verify")
        for key, value in (
            (REGISTRATION_REASON_TAG, reason[:500]),
            (REGISTRATION_AT_TAG, at),
            (REGISTRATION_TAG, state),
        ):
            client.set_model_version_tag(name, str(version), key, value)  # the state last: it settles the version
        if not problem:
            record = run.data.tags
            write_version_record(client, name, version, verdict=record["gate.verdict"], digest=record["card.sha256"])
        done.append(f"{name!r} version {version}: registration {state} ({(problem or 'completed from its run')[:160]})")
        warnings.warn(done[-1], UserWarning, stacklevel=2)
    return done
