"""Which logged model a command uses: a registered version, a candidate of the latest run, or an alias.

A version reached through an alias (``champion`` by default) is verified before it is used, as
promotion verified it: its card and tags equal its run's audit record, its run is kept and
FINISHED, its gate verdict is ``pass``, and it is neither demoted nor rejected. Governance moves
an alias only onto such a version, so one that fails was moved outside governance (by hand,
another tool): it is refused (exit 4), never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.errors import ConfigError, GateFailure, PrivacyError, Problem
from governance.registry._client import Registry, error_code
from governance.registry._evidence import evidence
from governance.registry.rules import refusal

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["ResolvedModel", "resolve_model", "verify_alias"]


@dataclass(frozen=True)
class ResolvedModel:
    """The logged model a command uses, and how it was chosen.

    Attributes
    ----------
    run_id
        The candidate's (nested) run, which logged and checksummed the model (see :func:`~governance.registry.load_model`).
    candidate
        The candidate's name (tag ``candidate.name``).
    source
        How it was chosen, in words (``alias 'champion' of 'account-scoring' (version 3)``).
    version
        The registered model version, when chosen through the registry.
    data_sha256
        Fingerprint of the data the candidate was trained on (tag ``data.sha256``).
    """

    run_id: str
    candidate: str
    source: str
    version: int | None = None
    data_sha256: str = ""


def _latest_parent(client: MlflowClient, experiment: str) -> Any:
    """Return the latest finished ``governance-run`` of the experiment, or None."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="attributes.status = 'FINISHED' and attributes.run_name = 'governance-run'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    return next((r for r in runs if "mlflow.parentRunId" not in r.data.tags), None)


def _children(client: MlflowClient, parent: Any) -> list[Any]:
    """Return the nested runs of a run."""
    return list(
        client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
            max_results=1000,
        )
    )


def _latest_candidates(client: MlflowClient, experiment: str) -> list[str]:
    """Return the candidates' names of the latest finished run."""
    parent = _latest_parent(client, experiment)
    if parent is None:
        return []
    return sorted({c.data.tags.get("candidate.name", "") for c in _children(client, parent)} - {""})


def _candidate_run(client: MlflowClient, *, experiment: str, candidate: str) -> ResolvedModel:
    """Return a finished candidate of the latest run; ConfigError naming those there are."""
    parent = _latest_parent(client, experiment)
    if parent is None:
        raise ConfigError(
            [
                Problem(
                    "--candidate",
                    f"experiment {experiment!r} has no finished governance run",
                    "train the candidates first (governance train --config PATH)",
                )
            ]
        )
    children = _children(client, parent)
    for child in children:
        if child.data.tags.get("candidate.name") == candidate and child.info.status == "FINISHED":
            return ResolvedModel(
                run_id=str(child.info.run_id),
                candidate=candidate,
                source=f"candidate {candidate!r} of run {parent.info.run_id}",
                data_sha256=child.data.tags.get("data.sha256", ""),
            )
    names = sorted({c.data.tags.get("candidate.name", "") for c in children} - {""})
    raise ConfigError(
        [
            Problem(
                "--candidate",
                f"the latest run of {experiment!r} has no finished candidate {candidate!r}; "
                f"expected one of {', '.join(names) or 'none'}",
            )
        ]
    )


def _registered_version(
    client: MlflowClient, name: str, *, experiment: str, version: int | None, alias: str
) -> tuple[Any, str]:
    """Return the model version (by number or alias) and how it was chosen; ConfigError saying what exists."""
    try:
        if version is not None:
            return client.get_model_version(name, str(version)), f"version {version} of {name!r}"
        mv = client.get_model_version_by_alias(name, alias)
        return mv, f"alias {alias!r} of {name!r} (version {mv.version})"
    except Exception as exc:
        if error_code(exc) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        names = _latest_candidates(client, experiment)
        hint = f"candidates of the latest run: {', '.join(names)}" if names else "no finished run yet"
        what = f"no version {version}" if version is not None else f"no version with the alias {alias!r}"
        raise ConfigError(
            [
                Problem(
                    "--model-version" if version is not None else "model",
                    f"registered model {name!r} has {what}",
                    f"name a registered version with --model-version N, or a candidate with --candidate NAME ({hint})",
                )
            ]
        ) from None


def verify_alias(registry: Registry, alias: str, version: int) -> None:
    """Refuse a version an alias names that governance would never have given it (exit 4).

    Governance moves an alias only onto a version that verifies (card and tags as audited,
    run kept and FINISHED, gate verdict ``pass``, not demoted or rejected); one that does
    not was moved outside governance, and is never used.

    Parameters
    ----------
    registry
        The registry, inside :meth:`Registry.call`.
    alias
        The alias followed (``champion``).
    version
        The version it names.

    Raises
    ------
    PrivacyError
        (exit 4) The version has no card, fails verification, or its gate did not pass.
    RegistryError
        (exit 3) The version is not READY, or the store cannot be read.
    """
    name = registry.name
    fix = (
        f"promote a passing version (governance promote --model-version N), or delete the alias {alias!r}; "
        "name a version explicitly with --model-version to use it anyway"
    )
    try:
        found = evidence(registry.client, name, version, uri=registry.uri, deep=False)
    except GateFailure as exc:  # no card: its registration never completed
        raise PrivacyError(
            f"{alias} alias points at version {version}, which has no card (its registration never completed); "
            f"moved outside governance? {fix}"
        ) from exc
    except PrivacyError as exc:
        raise PrivacyError(f"{alias} alias points at version {version}, which fails verification: {exc}") from exc
    if found.verdict != "pass":
        raise PrivacyError(
            f"{alias} alias points at version {version} whose gate verdict is {found.verdict}; "
            f"moved outside governance? {fix}"
        )
    refused = refusal(found, name=name, action=f"use the {alias} alias of", required=0)
    if isinstance(refused, GateFailure) and (refused.report or {}).get("reason") == "expired":
        # governance gave it the alias; an erasure since ended its use (exit 4), until a retrained version replaces it
        raise PrivacyError(f"{alias} alias points at version {version}: {refused}", code="expired")
    if isinstance(refused, GateFailure):
        raise PrivacyError(f"{alias} alias points at version {version}: {refused}; moved outside governance? {fix}")
    if refused is not None:
        raise refused


def resolve_in(
    registry: Registry, *, experiment: str, version: int | None, candidate: str | None, alias: str
) -> ResolvedModel:
    """:meth:`Registry.resolve_model`: see :func:`resolve_model`."""
    if version is not None and candidate is not None:
        raise ConfigError([Problem("--model-version/--candidate", "expected at most one of them, found both")])
    with registry.call("resolve the model"):
        client = registry.client
        if candidate is not None:
            return _candidate_run(client, experiment=experiment, candidate=candidate)
        mv, source = _registered_version(client, registry.name, experiment=experiment, version=version, alias=alias)
        if version is None:
            verify_alias(registry, alias, int(mv.version))
        run_id = str(mv.run_id or "")
        if not run_id:
            raise ConfigError([Problem("model", f"{source} names no run, so its checksum cannot be verified")])
        tags = client.get_run(run_id).data.tags
        return ResolvedModel(
            run_id=run_id,
            candidate=tags.get("candidate.name", ""),
            source=source,
            version=int(mv.version),
            data_sha256=tags.get("data.sha256", ""),
        )


def resolve_model(
    uri: str,
    *,
    experiment: str,
    registered_model: str,
    version: int | None = None,
    candidate: str | None = None,
    alias: str = "champion",
    timeout: float = 10.0,
    retries: int = 2,
) -> ResolvedModel:
    """Find the run whose model to load: a registered version, a named candidate, or the alias (``champion``).

    A wrapper of :meth:`Registry.resolve_model` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    experiment
        The config's experiment (for ``candidate``).
    registered_model
        The registered model's name (for ``version`` and ``alias``).
    version
        A registered model version.
    candidate
        A candidate of the latest finished ``governance-run`` of the experiment.
    alias
        The alias to follow when neither ``version`` nor ``candidate`` is given.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Returns
    -------
    ResolvedModel

    Raises
    ------
    ConfigError
        (exit 2) The version, candidate or alias does not exist; the message says what does.
    PrivacyError
        (exit 4) The alias names a version governance would not have given it (its gate did not
        pass, it has no card, it was demoted or rejected, its run was deleted, or it was tampered with).
    RegistryError
        (exit 3) The store cannot be reached or read.
    """
    registry = Registry(uri, model_name=registered_model, timeout=timeout, retries=retries)
    return registry.resolve_model(experiment=experiment, version=version, candidate=candidate, alias=alias)
