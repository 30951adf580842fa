"""Registration and promotion: candidates become versions, verified versions take ``champion``.

Every audited candidate becomes a version of the registered model with its
card (``card/<sha256>.json`` in the run) and the run's audit record (tags
``gate.verdict``, ``card.sha256``). The alias ``champion`` moves only to a
version re-verified from the store: READY, run kept and FINISHED, card checksums
equal to the run's audit record, the model's files and types as logged, gate verdict ``pass``, enough approvals and no
standing rejection (:mod:`governance.registry.rules`), under the advisory
lease, and the alias is re-verified after moving it (:mod:`governance.registry._lease`).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from governance import _cancel
from governance._files import canonical_json
from governance.errors import ConfigError, GateFailure, GovernanceError, PrivacyError, Problem, RegistryError
from governance.privacy import redact
from governance.registry._card import CARD_FOLDER, check_card, sha
from governance.registry._client import Registry, error_code, safe_uri
from governance.registry._evidence import (
    ABANDONED,
    REGISTRATION_TAG,
    aliases,
    evidence,
    holds,
    model_version,
    unfinished_refusal,
    version_record,
    write_version_record,
)
from governance.registry._lease import demote_if_champion, lease, settle
from governance.registry._matching import LINEAGE_TAG
from governance.registry._values import check_values
from governance.registry.records import CANDIDATE, CHAMPION, DEMOTED_TAG, PREVIOUS_CHAMPION, READY, ModelVersionRecord
from governance.registry.rules import Contender, choose_champion, refusal
from governance.registry.runs import process_tags

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "DemotionOutcome",
    "PromotionOutcome",
    "demote",
    "nominate",
    "promote",
    "promote_best",
    "register_candidate",
]

_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class PromotionOutcome:
    """The outcome of :func:`promote` or :func:`nominate`.

    Attributes
    ----------
    alias
        ``champion`` or ``candidate``: what this call gave the version.
    previous_champion
        The version that became ``previous_champion`` (None: none, or unchanged).
    champion
        The version holding ``champion`` after the final verification: another
        verified version when a concurrent promotion wrote after this one (last writer wins).
    changed
        Whether this call moved an alias.
    repairs
        Aliases moved because the champion failed verification.
    """

    registered_model: str
    version: int
    alias: Literal["champion", "candidate"]
    previous_champion: int | None
    champion: int | None
    changed: bool
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemotionOutcome:
    """What :func:`demote` did.

    Attributes
    ----------
    version
        The version demoted (tag ``monitor.demoted`` set: it can never be champion again).
    was_champion
        Whether it held ``champion`` when the demotion started.
    champion
        The version holding ``champion`` after the final verification (None: no champion).
    changed
        Whether an alias moved.
    repairs
        What happened to the aliases, in words.
    """

    registered_model: str
    version: int
    was_champion: bool
    champion: int | None
    changed: bool
    repairs: tuple[str, ...] = ()


# ---------------------------------------------------------------- registration


def _await_ready(client: MlflowClient, name: str, mv: Any, *, seconds: float) -> Any:
    """Return the version once READY; RegistryError when its creation failed or is still pending after ``seconds``."""
    deadline = time.monotonic() + seconds
    while str(mv.status) == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.5)
        mv = client.get_model_version(name, str(mv.version))
    if str(mv.status) != READY:
        raise RegistryError(
            f"{name!r} version {mv.version} is {mv.status}, not READY, after {seconds:.0f} s "
            f"({redact(str(mv.status_message or ''))[:200]}); register the candidate again"
        )
    return mv


def _candidate_run_tags(registry: Registry, run_id: str) -> dict[str, str]:
    """Return the run's tags; ConfigError for an unknown run, PrivacyError for a run without a checksummed model."""
    from mlflow.exceptions import MlflowException

    try:
        run = registry.client.get_run(run_id)
    except MlflowException as exc:
        if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise ConfigError([Problem("run_id", f"no run {run_id!r} at {safe_uri(registry.uri)}")]) from exc
    tags = dict(run.data.tags)
    if not tags.get("model.id") or not tags.get("model.sha256"):
        raise PrivacyError(
            f"refusing to register run {run_id}: it has no model.id / model.sha256 tags; "
            "governance registers only models it logged and checksummed"
        )
    return tags


def _version_of_run(client: MlflowClient, name: str, run_id: str, tags: Mapping[str, str]) -> Any:
    """Return the run's existing version (an interrupted registration is completed), or a new one."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="Account scoring, governed by governance.")
    except MlflowException as exc:
        if error_code(exc) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    existing = sorted(
        (v for v in client.search_model_versions(f"run_id = '{run_id}'") if v.name == name),
        key=lambda v: int(v.version),
    )
    if existing:
        mv = client.get_model_version(name, existing[0].version)
        if (mv.tags or {}).get(REGISTRATION_TAG) == ABANDONED:  # settled for good: never completed later
            unfinished = unfinished_refusal(name, int(mv.version), mv.tags)
            raise ConfigError(
                [
                    Problem(
                        "run_id", f"run {run_id} was registered once: {unfinished}", "audit a new run (governance run)"
                    )
                ]
            )
        return mv
    if tags.get("card.sha256"):
        raise ConfigError(
            [
                Problem(
                    "run_id",
                    f"run {run_id} already holds the audit record of a registration elsewhere (card.sha256 "
                    f"{tags['card.sha256'][:12]}...); a run is registered once and its audit record never rewritten",
                    f"audit a new run to register it under {name!r} (governance run)",
                )
            ]
        )
    model_id = tags["model.id"]
    logged = client.get_logged_model(model_id)
    _cancel.check()  # no version is registered after a cancel
    return client.create_model_version(
        name,
        source=logged.artifact_location,  # not models:/<id>: the SQL store resolves that with global state
        run_id=run_id,
        model_id=model_id,
        tags={
            "candidate.name": tags.get("candidate.name", ""),
            "model.id": model_id,
            "model.sha256": tags["model.sha256"],
            "data.sha256": tags.get("data.sha256", ""),
            LINEAGE_TAG: tags.get(LINEAGE_TAG, ""),  # what an identical re-run matches (see matching_version)
            **process_tags(),  # whose registration it is: a later run settles it when this process is gone
        },
        await_creation_for=0,  # waited for below, quietly and with our own message
    )


def _registered_card(plain: Mapping[str, Any], *, name: str, version: int, run_id: str) -> bytes:
    """Return the card as registered: completed with where it is registered, without reviews."""
    audited = copy.deepcopy(dict(plain))
    audited["model"] = {**(audited.get("model") or {}), "registered_model": name, "version": version, "run_id": run_id}
    audited["reviews"] = []
    return canonical_json(audited)  # feedback items are refused at registration: this is the audited part


def _write_audit_record(client: MlflowClient, name: str, version: int, run_id: str, data: bytes, verdict: str) -> None:
    """Store the card, the run's audit record, then the version's tags (``card.sha256`` last: the commit point)."""
    _cancel.check()
    digest = sha(data)
    client.log_text(run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{digest}.json")
    client.set_tag(run_id, "gate.verdict", verdict)
    client.set_tag(run_id, "card.sha256", digest)
    write_version_record(client, name, version, verdict=verdict, digest=digest)  # card.sha256 last: the commit point


def register_in(
    registry: Registry, *, run_id: str, card: Mapping[str, Any], await_seconds: float
) -> ModelVersionRecord:
    """:meth:`Registry.register`: see :func:`register_candidate`."""
    if not _RUN_ID.match(run_id):
        raise ConfigError([Problem("run_id", f"expected an MLflow run id, found {run_id!r}")])
    plain = check_card(card, run_id=run_id)
    verdict = str(plain["gate"]["verdict"])
    name = registry.name
    with registry.call("register the candidate"):
        client = registry.client
        tags = _candidate_run_tags(registry, run_id)
        mv = _await_ready(client, name, _version_of_run(client, name, run_id, tags), seconds=await_seconds)
        version = int(mv.version)
        data = _registered_card(plain, name=name, version=version, run_id=run_id)
        recorded = tags.get("card.sha256")
        if recorded and recorded != sha(data):
            raise ConfigError(
                [
                    Problem(
                        "card",
                        f"run {run_id} is already registered as {name!r} version {version} with another "
                        f"card (sha256 {recorded[:12]}..., this one {sha(data)[:12]}...); an audit record is never "
                        "rewritten",
                        "audit a new run instead (governance run)",
                    )
                ]
            )
        if mv.tags.get("card.sha256"):
            return version_record(name, mv)  # already complete: registering again changes nothing
        _write_audit_record(client, name, version, run_id, data, verdict)
        return version_record(name, client.get_model_version(name, str(version)))


def register_candidate(
    uri: str,
    *,
    registered_model: str,
    run_id: str,
    card: Mapping[str, Any],
    timeout: float = 10.0,
    retries: int = 2,
    await_seconds: float = 60.0,
) -> ModelVersionRecord:
    """Register an audited candidate as a version of the registered model, with its card attached.

    The version's source is the model the candidate run logged (run tags
    ``model.id`` and ``model.sha256``: only models governance logged and
    checksummed are registered). Its card, completed with
    ``model.registered_model``, ``model.version`` and ``model.run_id``, is
    stored in the run's artifacts as ``card/<sha256>.json``. The run gets the
    audit record (tags ``gate.verdict`` and ``card.sha256``, written once); the
    version gets tags ``candidate.name``, ``model.id``, ``model.sha256``,
    ``data.sha256``, ``lineage.sha256`` (the run's: what an identical re-run
    matches, see :meth:`Registry.matching_version`), ``gate.verdict``,
    ``review.count`` / ``.approvals`` / ``.rejections`` and, last,
    ``card.sha256`` (a version without it is an unfinished registration).

    Registering the same run again returns its existing version (completing an
    interrupted registration) instead of creating a duplicate, unless a later run
    tagged that registration abandoned (a ConfigError: audit a new run). The version
    also records the process registering it (``governance.process.pid`` / ``.host``):
    when that process is gone with the registration unfinished, the next run opened
    in the store settles it (completes it from the run's audit record, or tags it
    ``governance.registration = abandoned``). A wrapper of
    :meth:`Registry.register` for one call.

    Parameters
    ----------
    uri
        Tracking URI (the registry is the tracking store).
    registered_model
        Name of the registered model (``mlflow.registered_model``); created when missing.
    run_id
        The candidate's run, which logged the model.
    card
        The ``governance.card/1`` document, without reviews; ``gate.verdict`` is read from it.
    timeout, retries
        Bound on each HTTP request and on its retries.
    await_seconds
        Longest wait for the version to become ``READY``.

    Returns
    -------
    ModelVersionRecord

    Raises
    ------
    ConfigError
        (exit 2) The card breaks its contract, the run is unknown, the run is
        already registered with a different card (an audit record is never rewritten),
        or its registration was abandoned.
    PrivacyError
        (exit 4) The run has no checksummed model.
    RegistryError
        (exit 3) MLflow cannot be reached or written, or the version did not become READY in time.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.register(run_id, card=card, await_seconds=await_seconds)


# ---------------------------------------------------------------- promotion


def _with_note(exc: GovernanceError, note: str) -> GovernanceError:
    """Return the same refusal with a sentence added (what happened to the aliases)."""
    if isinstance(exc, GateFailure):
        return GateFailure(f"{exc}; {note}", report=exc.report)
    return type(exc)(f"{exc}; {note}")


def _move_aliases(client: MlflowClient, name: str, version: int, before: Mapping[str, int]) -> None:
    """previous_champion <- old champion, champion <- version, candidate dropped; all or nothing."""
    _cancel.check()  # no alias moves after a cancel
    old = before.get(CHAMPION)
    touched: list[str] = []
    try:
        if old is not None and old != version:
            touched.append(PREVIOUS_CHAMPION)
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(old))
        touched.append(CHAMPION)
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if before.get(CANDIDATE) == version:
            touched.append(CANDIDATE)
            client.delete_registered_model_alias(name, CANDIDATE)
    except BaseException:
        for alias in reversed(touched):  # a failed promotion leaves the registry as it was
            try:
                if before.get(alias) is None:
                    client.delete_registered_model_alias(name, alias)
                else:
                    client.set_registered_model_alias(name, alias, str(before[alias]))
            except Exception:
                pass  # the final verification of the next promotion repairs what could not be put back
        raise


def _refuse_unless_verified(registry: Registry, version: int, *, required: int) -> None:
    """Verify the version as a champion (model files re-hashed); a failing champion is demoted, then refused."""
    client, name = registry.client, registry.name
    try:
        found = evidence(client, name, version, uri=registry.uri, deep=True)
        refused = refusal(found, name=name, action="promote", required=required)
    except (GateFailure, PrivacyError) as exc:
        refused = exc
    if refused is None:
        return
    _, repairs = demote_if_champion(client, name, version, uri=registry.uri, required=required)
    if repairs:
        raise _with_note(refused, f"it was champion: {'; '.join(repairs)}") from refused
    raise refused


def promote_in(registry: Registry, *, version: int, required_approvals: int, lease_wait: float) -> PromotionOutcome:
    """:meth:`Registry.promote`: see :func:`promote`."""
    name = registry.name
    with registry.call("promote the model version"):
        client = registry.client
        model_version(client, name, version)
        with lease(client, name, purpose=f"promote version {version}", wait=lease_wait):
            _refuse_unless_verified(registry, version, required=required_approvals)
            before = aliases(client, name)
            old = before.get(CHAMPION)
            changed = old != version or before.get(CANDIDATE) == version
            if changed:
                _move_aliases(client, name, version, before)
            champion, repairs = settle(
                client, name, uri=registry.uri, ours=version, fallbacks=(old,), required=required_approvals
            )
            if champion != version and not holds(
                client, name, version, uri=registry.uri, required=required_approvals, deep=False
            ):
                raise GateFailure(
                    f"{name!r} version {version} stopped passing verification while it was promoted "
                    f"(a concurrent review?); champion is {champion if champion is not None else 'unset'}: "
                    + "; ".join(repairs),
                    report={"registered_model": name, "version": version, "reason": "changed"},
                )
    return PromotionOutcome(
        registered_model=name,
        version=version,
        alias="champion",
        previous_champion=old if changed and old != version else None,
        champion=champion,
        changed=changed,
        repairs=repairs,
    )


def promote(
    uri: str,
    *,
    registered_model: str,
    version: int,
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionOutcome:
    """Give a version the alias ``champion`` after re-checking all its evidence; the old champion becomes ``previous_champion``.

    The protocol, under the registered model's advisory lease:

    1. re-read the version and verify it: status ``READY``; its run kept (not
       deleted) and ``FINISHED``; its card file hashes to tag ``card.sha256``, the
       card's audited part to the run's audit record, and verdict, model id and
       model checksum agree between card (``lineage.model_sha256``), version and
       run; the model's files still hash to ``model.sha256`` and hold no type the
       loading path does not trust (``skops.io.get_untrusted_types`` against
       :data:`governance.train.MODEL_TYPES`: a model that would run code when
       loaded never takes an alias, whatever its checksums say); gate verdict ``pass``; at least ``required_approvals`` approving reviewers
       and no reviewer whose latest decision is a rejection. Any failure refuses
       before an alias moves (and demotes the version if it was champion);
    2. move ``previous_champion`` to the old champion, then ``champion`` to the
       version, then drop ``candidate`` from it; if a write fails, the aliases
       touched are put back as they were;
    3. re-read ``champion`` and verify whatever version it names; one that fails
       (a concurrent rejection, a write by another tool) is replaced by a verified
       version, or the alias is removed. Two verified promotions racing end
       with the later writer as champion, which is a verified version either way.

    A wrapper of :meth:`Registry.promote` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model
        Name of the registered model.
    version
        The version to promote.
    required_approvals
        Approving reviewers required (``policy.required_approvals``).
    timeout, retries
        Bound on each HTTP request and on its retries.
    lease_wait
        Longest wait for another promotion or review of the same model to finish.

    Returns
    -------
    PromotionOutcome

    Raises
    ------
    GateFailure
        (exit 1) Gate verdict not ``pass``, approvals missing, a standing
        rejection, an unfinished run; ``.report`` says which (``reason``). A registration
        that never completed, or was abandoned, is the subclass
        :class:`~governance.registry._evidence.UnfinishedRegistration` (exit 2: no gate
        was evaluated on it; ``reason`` ``unregistered`` or ``abandoned``).
    PrivacyError
        (exit 4) The card, the tags or the model changed after the audit, the model holds an
        untrusted type, the card's lineage names another model, or the version's run was deleted.
    ConfigError
        (exit 2) No such version.
    RegistryError
        (exit 3) MLflow unreachable or failing, version not READY, or the lease not obtained in time.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.promote(version, required_approvals=required_approvals, lease_wait=lease_wait)


def nominate_in(registry: Registry, *, version: int, lease_wait: float) -> PromotionOutcome:
    """:meth:`Registry.nominate`: see :func:`nominate`."""
    name = registry.name
    with registry.call("nominate the model version"):
        client = registry.client
        model_version(client, name, version)
        with lease(client, name, purpose=f"nominate version {version}", wait=lease_wait):
            found = evidence(client, name, version, uri=registry.uri, deep=True)
            refused = refusal(found, name=name, action="nominate", required=None)
            if refused is not None:
                raise refused
            before = aliases(client, name)
            changed = before.get(CANDIDATE) != version and before.get(CHAMPION) != version
            if changed:
                _cancel.check()
                client.set_registered_model_alias(name, CANDIDATE, str(version))
    return PromotionOutcome(
        registered_model=name,
        version=version,
        alias="candidate",
        previous_champion=None,
        champion=before.get(CHAMPION),
        changed=changed,
    )


def nominate(
    uri: str,
    *,
    registered_model: str,
    version: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionOutcome:
    """Give a version whose gate passed the alias ``candidate``: proposed for review, not yet approved.

    Verified as for :func:`promote` except the approval count; a version that
    is already champion keeps that alias and is not nominated. A wrapper of
    :meth:`Registry.nominate` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version to nominate.
    timeout, retries, lease_wait
        As :func:`promote`.

    Returns
    -------
    PromotionOutcome

    Raises
    ------
    GateFailure, PrivacyError, ConfigError, RegistryError
        As :func:`promote`.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.nominate(version, lease_wait=lease_wait)


def promote_best_in(
    registry: Registry, candidates: Sequence[Contender], *, required_approvals: int, lease_wait: float
) -> PromotionOutcome | None:
    """:meth:`Registry.promote_best`: see :func:`promote_best`."""
    best = choose_champion(candidates)
    if best is None:
        return None
    try:
        return registry.promote(best.version, required_approvals=required_approvals, lease_wait=lease_wait)
    except GateFailure as exc:
        if not isinstance(exc.report, Mapping) or exc.report.get("reason") != "approvals":
            raise
    return registry.nominate(best.version, lease_wait=lease_wait)


def promote_best(
    uri: str,
    *,
    registered_model: str,
    candidates: Sequence[Contender],
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionOutcome | None:
    """Promote the best passing candidate of a run: ``champion`` when its approvals are met, else ``candidate``.

    What ``governance run`` does with the versions it registered (see
    :func:`choose_champion`). A fresh version has no reviews, so it becomes
    ``champion`` only when the policy requires no approval. Returns None, and
    moves no alias, when no candidate passed. A wrapper of
    :meth:`Registry.promote_best` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model
        Name of the registered model.
    candidates
        Every registered candidate of the run.
    required_approvals
        Approving reviewers required for ``champion``.
    timeout, retries, lease_wait
        As :func:`promote`.

    Returns
    -------
    PromotionOutcome or None

    Raises
    ------
    GateFailure, PrivacyError, ConfigError, RegistryError
        As :func:`promote`, except that missing approvals give the ``candidate`` alias instead.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.promote_best(candidates, required_approvals=required_approvals, lease_wait=lease_wait)


# ---------------------------------------------------------------- demotion


def _hand_back(registry: Registry, version: int, before: Mapping[str, int], *, required: int) -> list[str]:
    """Take ``champion`` (or ``previous_champion``) from a demoted version; what happened, in words."""
    _cancel.check()
    client, name = registry.client, registry.name
    if before.get(CHAMPION) != version:
        if before.get(PREVIOUS_CHAMPION) == version:
            client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
            return [f"removed alias previous_champion from version {version}"]
        return []
    previous = before.get(PREVIOUS_CHAMPION)
    if (
        previous is not None
        and previous != version
        and holds(client, name, previous, uri=registry.uri, required=required, deep=True)
    ):
        client.set_registered_model_alias(name, CHAMPION, str(previous))
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
        return [f"moved alias champion from version {version} back to version {previous}"]
    client.delete_registered_model_alias(name, CHAMPION)
    why = (
        "no previous_champion"
        if previous is None or previous == version
        else f"previous_champion (version {previous}) fails verification"
    )
    return [f"removed alias champion from version {version}: {why}, so no version is champion"]


def demote_in(
    registry: Registry, *, version: int, monitoring_run: str, required_approvals: int, lease_wait: float
) -> DemotionOutcome:
    """:meth:`Registry.demote`: see :func:`demote`."""
    checked = check_values("version tag", {DEMOTED_TAG: monitoring_run})
    name = registry.name
    with registry.call("demote the model version"):
        client = registry.client
        model_version(client, name, version)
        with lease(client, name, purpose=f"demote version {version}", wait=lease_wait):
            client.set_model_version_tag(name, str(version), DEMOTED_TAG, checked[DEMOTED_TAG])
            before = aliases(client, name)
            repairs = _hand_back(registry, version, before, required=required_approvals)
            champion, settled = settle(
                client, name, uri=registry.uri, ours=None, fallbacks=(), required=required_approvals
            )
    return DemotionOutcome(
        registered_model=name,
        version=version,
        was_champion=before.get(CHAMPION) == version,
        champion=champion,
        changed=bool(repairs or settled),
        repairs=(*repairs, *settled),
    )


def demote(
    uri: str,
    *,
    registered_model: str,
    version: int,
    monitoring_run: str,
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> DemotionOutcome:
    """Take ``champion`` from a version that failed its re-evaluation, giving it back to ``previous_champion``.

    The protocol, under the registered model's lease (promotion's):

    1. tag the version ``monitor.demoted = <monitoring run>`` first, so that no promotion,
       review or repair running now or later can make it champion again (promotion
       verification refuses a demoted version);
    2. if it still holds ``champion``: verify ``previous_champion`` as a promotion would
       (READY, run FINISHED, card checksums equal to the audit record, model files
       re-hashed, verdict pass, approvals, no rejection, not demoted) and move ``champion``
       to it, dropping ``previous_champion`` (the demoted version is no rollback target);
       when it does not verify, remove ``champion``: no version is better than a failing one;
    3. re-read ``champion`` and verify whatever version it names, repairing it as
       :func:`promote` does (MLflow aliases are last-writer-wins).

    A wrapper of :meth:`Registry.demote` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version that failed.
    monitoring_run
        The MLflow run of the monitoring that found it failing (recorded in the tag).
    required_approvals
        The policy's count, to verify the replacement.
    timeout, retries, lease_wait
        As :func:`promote`.

    Returns
    -------
    DemotionOutcome

    Raises
    ------
    ConfigError
        (exit 2) No such version.
    RegistryError
        (exit 3) MLflow cannot be reached or written, or the lease not obtained in time.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.demote(
        version, monitoring_run=monitoring_run, required_approvals=required_approvals, lease_wait=lease_wait
    )
