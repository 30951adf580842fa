"""What the registry holds of the data-subject ledger: its anchored head, and erasure deadlines.

The ledger's three files live in one folder: deleted together, or restored together from an
older backup, they verify on their own ("intact: 0 entries"), and the accounts they erased
would return to training. So every command that reads or writes the ledger anchors its
length and head in the MLflow experiment (tags ``governance.ledger.entries`` and
``governance.ledger.head``) and checks the local ledger still contains the anchored head:
a ledger that does not (deleted, rolled back, replaced, or no longer configured) is refused
with exit 4, and nothing it holds is used.

An erasure does not reach a model already trained with the account. :func:`mark_erasure`
tags each such version with ``erasure.expires_at``, the erasure's time plus the config's
grace period; past it the version is refused wherever it would be used or promoted
(:func:`governance.registry.rules.refusal`), until a retrained version replaces it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from governance.errors import PrivacyError
from governance.ledger import LedgerFiles, Verification, stamp, verify
from governance.registry._evidence import model_version
from governance.registry.records import EXPIRES_TAG

if TYPE_CHECKING:
    from governance.config import GovernanceConfig
    from governance.registry._client import Registry

__all__ = ["ENTRIES_TAG", "HEAD_TAG", "Anchor", "check_config_ledger", "check_ledger", "mark_erasure", "read_anchor"]

#: Experiment tags holding the ledger's anchored length and head hash.
ENTRIES_TAG = "governance.ledger.entries"
HEAD_TAG = "governance.ledger.head"


@dataclass(frozen=True)
class Anchor:
    """The ledger state anchored in the experiment: its number of entries and its last entry's hash."""

    entries: int
    head: str


def _anchor(tags: dict[str, str]) -> Anchor | None:
    """Read the anchor from experiment tags; None when none was set."""
    head = tags.get(HEAD_TAG, "")
    if not head:
        return None
    try:
        entries = int(tags.get(ENTRIES_TAG, "0"))
    except ValueError:
        entries = 0
    return Anchor(entries=entries, head=head)


def read_anchor(registry: Registry, experiment: str) -> Anchor | None:
    """Return the ledger anchor of the experiment, or None when it has none (or does not exist).

    Parameters
    ----------
    registry
        The registry of the config.
    experiment
        The config's experiment.

    Returns
    -------
    Anchor or None
    """
    with registry.call("read the ledger's anchor"):
        found = registry.client.get_experiment_by_name(experiment)
    return None if found is None else _anchor(dict(found.tags or {}))


def _refused(ledger: Path | None, experiment: str, anchor: Anchor, found: Verification | None) -> PrivacyError:
    """Build the refusal of a ledger that does not hold the head anchored in the experiment."""
    where = f"MLflow experiment {experiment!r} anchors the data-subject ledger at {anchor.entries} entries (head {anchor.head[:12]}...)"
    if ledger is None:
        state = "but the config names no ledger (subjects.ledger is null)"
    elif not ledger.exists():
        state = f"but {ledger.name} does not exist: it was deleted or moved"
    else:
        held = 0 if found is None else found.entries
        state = f"but {ledger.name} holds {held} entries without that head: it was rolled back, replaced or rewritten"
    return PrivacyError(
        f"{where}, {state}; the erasures and corrections it recorded cannot be trusted, so nothing is used: restore "
        "the ledger (its .jsonl, .vault.json and .head.json files) from a backup that holds that head"
    )


def check_ledger(
    registry: Registry, *, experiment: str, ledger: str | os.PathLike[str] | None, secret: bytes, update: bool = True
) -> Verification | None:
    """Verify the ledger, check it still holds the head anchored in the experiment, then anchor its head.

    Parameters
    ----------
    registry
        The registry of the config.
    experiment
        The config's experiment (created, as a run creates it, when the anchor is first set).
    ledger
        The config's ledger file (``subjects.ledger``); None when none is configured.
    secret
        The pseudonymization key (the ledger's seals).
    update
        Anchor the ledger's current head when it extends the anchored one.

    Returns
    -------
    Verification or None
        The ledger's verification; None when no ledger is configured and none was anchored.

    Raises
    ------
    PrivacyError
        (exit 4) The ledger fails verification, or does not hold the anchored head (deleted,
        rolled back, replaced, or no longer configured).
    RegistryError
        (exit 3) MLflow cannot be reached.
    """
    anchor = read_anchor(registry, experiment)
    path = None if ledger is None else Path(ledger)
    if path is None:
        if anchor is not None and anchor.entries > 0:
            raise _refused(None, experiment, anchor, None)
        return None
    files = LedgerFiles(path)
    if not any(p.exists() for p in (files.ledger, files.vault, files.head)):
        # no ledger yet (nothing to lock or read): empty, unless the experiment anchored one
        if anchor is not None and anchor.entries > 0:
            raise _refused(path, experiment, anchor, None)
        return Verification(entries=0, head=None, problems=(), first_bad=None)
    found = verify(path, secret=secret, expected_head=None if anchor is None else anchor.head)
    if not found.ok:
        alone = found if anchor is None else verify(path, secret=secret)
        if alone.ok and anchor is not None:  # intact on its own, but without the anchored head
            raise _refused(path, experiment, anchor, alone)
        raise PrivacyError(
            f"the data-subject ledger {path.name} fails verification: {found.problems[0]}; erasures and corrections "
            "cannot be trusted, so nothing is used: run `governance ledger verify` and restore the ledger from a backup"
        )
    if update and found.head is not None and found.entries > (0 if anchor is None else anchor.entries):
        _set_anchor(registry, experiment, Anchor(entries=found.entries, head=found.head))
    return found


def _set_anchor(registry: Registry, experiment: str, anchor: Anchor) -> None:
    """Tag the experiment with the anchor, unless a concurrent writer anchored a longer ledger meanwhile."""
    from governance.registry.runs import _experiment_id as experiment_id

    with registry.call("anchor the ledger's head"):
        client = registry.client
        found = client.get_experiment_by_name(experiment)
        current = None if found is None else _anchor(dict(found.tags or {}))
        if current is not None and current.entries >= anchor.entries:
            return
        ident = experiment_id(client, experiment, registry.uri)
        client.set_experiment_tag(ident, HEAD_TAG, anchor.head)
        client.set_experiment_tag(ident, ENTRIES_TAG, str(anchor.entries))


def mark_erasure(
    registry: Registry, versions: Iterable[int], *, erased_at: datetime, grace_days: int
) -> dict[int, str]:
    """Tag each version trained with an erased account with the end of its grace period.

    A version keeps the earliest deadline of all the erasures it was trained with; marking
    again (the same erasure re-run) changes nothing.

    Parameters
    ----------
    registry
        The registry of the config.
    versions
        Registered versions whose data held the account (in the split it learned or chose from).
    erased_at
        When the erasure was recorded.
    grace_days
        The config's ``subjects.erasure_grace_days``.

    Returns
    -------
    dict
        Each version and its deadline (``YYYY-MM-DDTHH:MM:SS.mmmZ``, as the ledger writes times).

    Raises
    ------
    RegistryError
        (exit 3) MLflow cannot be reached.
    """
    deadline = stamp(erased_at + timedelta(days=grace_days))
    name = registry.name
    marked: dict[int, str] = {}
    with registry.call("mark the versions trained with the erased account"):
        client = registry.client
        for version in sorted(set(versions)):
            current = str((model_version(client, name, version).tags or {}).get(EXPIRES_TAG, ""))
            if current and current <= deadline:
                marked[version] = current
                continue
            client.set_model_version_tag(name, str(version), EXPIRES_TAG, deadline)
            marked[version] = deadline
    return marked


def check_config_ledger(config: GovernanceConfig, *, registry: Registry | None = None) -> Verification | None:
    """:func:`check_ledger` for a config: its ledger, key, experiment and store.

    Parameters
    ----------
    config
        The validated config.
    registry
        The registry to use, when the caller holds one; by default one is built from the config.

    Returns
    -------
    Verification or None
        As :func:`check_ledger`.
    """
    from governance.config import pseudonym_key
    from governance.registry._client import Registry

    return check_ledger(
        registry or Registry.for_config(config),
        experiment=config.mlflow.experiment,
        ledger=config.subjects.ledger,
        secret=pseudonym_key(config).secret,
    )
