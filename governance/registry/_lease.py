"""The advisory lease of a registered model (tag ``governance.lease``), and the champion's settling.

MLflow aliases are last-writer-wins without compare-and-set, so promotions and
reviews take an advisory lease, and every promotion re-reads the alias after
moving it and repairs a champion that fails verification. Safety rests on
verify-before-set and verify-after-set, never on the lease alone.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from governance.errors import RegistryError
from governance.registry._evidence import aliases, holds
from governance.registry.records import CHAMPION, LEASE_TAG, LEASE_TTL_SECONDS, PREVIOUS_CHAMPION

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["SETTLE_SECONDS", "demote_if_champion", "lease", "settle"]

#: Between writing and reading back (the lease, a card), so a racing writer's tag lands first.
SETTLE_SECONDS = 0.2
_SETTLE_ROUNDS = 5


def _is_write_conflict(exc: BaseException) -> bool:
    """Tell whether a concurrent write lost a race in the store: another writer inserted the same key, or held the lock."""
    text = str(exc).lower()
    return any(marker in text for marker in ("unique constraint", "database is locked", "integrityerror", "duplicate"))


def _lease_holder(client: MlflowClient, name: str) -> tuple[str, float, str] | None:
    """Return the lease's ``(token, expiry, purpose)``, or None when nobody holds it."""
    value = client.get_registered_model(name).tags.get(LEASE_TAG, "")
    token, _, rest = str(value).partition(" ")
    expires, _, purpose = rest.partition(" ")
    try:
        return (token, float(expires), purpose) if token else None
    except ValueError:
        return (token, 0.0, purpose)  # unreadable: treat as expired


def _try_take(client: MlflowClient, name: str, token: str, purpose: str) -> tuple[bool, tuple[str, float, str] | None]:
    """One attempt: write our token when the lease is free, wait, read it back; whether we hold it, and its holder."""
    holder = _lease_holder(client, name)
    if holder is None or holder[1] < time.time() or holder[0] == token:
        expires = time.time() + LEASE_TTL_SECONDS
        try:
            client.set_registered_model_tag(name, LEASE_TAG, f"{token} {expires:.3f} {purpose}")
        except Exception as exc:  # two first writers collide in the store (SQLite: UNIQUE constraint)
            if not _is_write_conflict(exc):
                raise
        else:
            time.sleep(SETTLE_SECONDS)
            holder = _lease_holder(client, name)
            return holder is not None and holder[0] == token, holder
    return False, holder


@contextmanager
def lease(client: MlflowClient, name: str, *, purpose: str, wait: float) -> Iterator[None]:
    """Hold the advisory lease of a registered model (tag ``governance.lease``) for the block.

    Write our token, wait, read it back: we hold the lease when it is still ours.
    MLflow has no compare-and-set, so two writers can in rare timings both
    believe they hold it; nothing relies on it for safety (see :func:`governance.registry.promote`).
    It serializes the read-modify-write of cards and of ``previous_champion``.
    """
    token = f"{uuid.uuid4().hex}"
    deadline = time.monotonic() + wait
    while True:
        held, holder = _try_take(client, name, token, purpose)
        if held:
            break
        if time.monotonic() >= deadline:
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(holder[1])) if holder else "?"
            raise RegistryError(
                f"another process holds the promotion lease of {name!r} ({holder[2] if holder else '?'}, until "
                f"{until}); retry when it is done, or delete the registered-model tag {LEASE_TAG} if its holder crashed"
            )
        time.sleep(random.uniform(0.05, 0.25))  # jitter: two waiters do not retry in lockstep
    try:
        yield
    finally:
        try:
            holder = _lease_holder(client, name)
            if holder is not None and holder[0] == token:
                client.delete_registered_model_tag(name, LEASE_TAG)
        except Exception:  # the lease expires by itself; never mask the block's own outcome
            pass


def settle(
    client: MlflowClient, name: str, *, uri: str, ours: int | None, fallbacks: Sequence[int | None], required: int
) -> tuple[int | None, tuple[str, ...]]:
    """Re-read ``champion`` until it names a version that passes verification, repairing it when it does not.

    A failing champion is replaced by ``ours`` (when it still passes), else the
    first passing fallback, else ``previous_champion``, else the alias is removed:
    a failing version never stays champion. Returns the champion and the repairs made.
    """
    repairs: list[str] = []
    for _ in range(_SETTLE_ROUNDS):
        current_aliases = aliases(client, name)
        current = current_aliases.get(CHAMPION)
        if current is None or holds(client, name, current, uri=uri, required=required, deep=current != ours):
            return current, tuple(repairs)
        options = [
            v for v in (ours, *fallbacks, current_aliases.get(PREVIOUS_CHAMPION)) if v is not None and v != current
        ]
        replacement = next(
            (v for v in dict.fromkeys(options) if holds(client, name, v, uri=uri, required=required, deep=v != ours)),
            None,
        )
        if replacement is None:
            client.delete_registered_model_alias(name, CHAMPION)
            repairs.append(
                f"removed alias champion from version {current}: it fails verification, and no verified version could replace it"
            )
        else:
            client.set_registered_model_alias(name, CHAMPION, str(replacement))
            repairs.append(
                f"moved alias champion from version {current}, which fails verification, to version {replacement}"
            )
            if current_aliases.get(PREVIOUS_CHAMPION) == replacement:
                client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    raise RegistryError(
        f"the champion of {name!r} kept changing while it was verified ({_SETTLE_ROUNDS} rounds); "
        "run `governance promote` again"
    )


def demote_if_champion(
    client: MlflowClient, name: str, version: int, *, uri: str, required: int
) -> tuple[int | None, tuple[str, ...]]:
    """After a version was found failing: if it is champion, replace it (see :func:`settle`)."""
    current = aliases(client, name)
    if current.get(CHAMPION) != version:
        return current.get(CHAMPION), ()
    return settle(client, name, uri=uri, ours=None, fallbacks=(current.get(PREVIOUS_CHAMPION),), required=required)
