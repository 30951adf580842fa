"""One run at a time per store: a file lock beside the store, taken for the whole of ``run`` and ``train``.

Parallel ``governance run`` on one store all registered, promoted and wrote
their cards and ``summary.json`` in interleaved order, so the local files and
the champion disagreed; on a new SQLite store, parallel first runs failed in
MLflow's schema migration. A run now holds an exclusive lock on a file beside
its store from before MLflow is first touched until ``summary.json`` is
written: ``<folder of mlflow.db>/mlflow.db.governance.lock`` for a SQLite
store, ``<folder of the store>.governance.lock`` for a file store, and
``<output.reports>/../.governance-run.lock`` for a server (runs sharing a
server from other machines are kept consistent by the registry's lease and the
verified promotion instead). The lock is the operating system's (``flock``):
it is released when its holder ends, even by SIGKILL, so no stale lock
survives a crash. A waiting run says so on its progress display, checks for a
cancel while it waits, and gives up after :data:`LOCK_WAIT_SECONDS` (exit 3).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from governance import _cancel
from governance.errors import RegistryError

__all__ = ["LOCK_WAIT_SECONDS", "checked", "lock_path", "store_lock"]

#: Longest wait for another run on the same store to finish.
LOCK_WAIT_SECONDS = 1800.0
#: Pause between two attempts at the lock.
_POLL_SECONDS = 0.25

Progress = Callable[[str, int, int], None]

#: The progress stage shown while another run holds the store.
WAITING = "waiting for another run on this store"


def checked(progress: Progress | None) -> Progress:
    """Return a progress callback that first checks for a cancel: every progress loop is a safe point.

    Parameters
    ----------
    progress
        The caller's callback (None: report nothing, but still check).

    Returns
    -------
    Callable
        ``progress(stage, done, total)``, raising :class:`governance._cancel.Cancelled` after a signal.
    """

    def report(stage: str, done: int, total: int) -> None:
        _cancel.check()
        if progress is not None:
            progress(stage, done, total)

    return report


def lock_path(uri: str, reports: Path) -> Path:
    """Return the lock file of a store.

    Parameters
    ----------
    uri
        The tracking URI.
    reports
        The config's reports folder (the lock's place for a server store).

    Returns
    -------
    pathlib.Path
        The lock file (its folder may not exist yet).
    """
    if uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///") :])
        return database.with_name(database.name + ".governance.lock")
    if uri.startswith("file:") or "://" not in uri:
        folder = Path(uri.removeprefix("file://").removeprefix("file:"))
        return folder.with_name(folder.name + ".governance.lock")
    return reports.resolve().parent / ".governance-run.lock"


def _try_lock(handle: IO[str]) -> bool:
    """Try once to take the exclusive lock of an open file; whether we hold it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    """Describe who holds the lock, from what the holder wrote in it (pid, host, since)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"
    return text or "another process"


@contextmanager
def store_lock(path: Path, *, progress: Progress | None = None, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the store's run lock for the block, waiting at most ``wait`` seconds for it.

    Parameters
    ----------
    path
        The lock file (see :func:`lock_path`); created with its folder when missing.
    progress
        Told ``(WAITING, 0, 1)`` while another run holds the lock.
    wait
        Longest wait, in seconds.

    Yields
    ------
    None
        The block, run while no other run holds the store.

    Raises
    ------
    RegistryError
        (exit 3) When the lock could not be taken in time.
    governance._cancel.Cancelled
        When the command was cancelled while waiting.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            f"cannot create the run lock {path.name} in {path.parent}: {type(exc).__name__}; "
            "make the store's folder writable"
        ) from exc
    try:
        deadline = time.monotonic() + wait
        told = False
        while not _try_lock(handle):
            _cancel.check()
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"another governance run holds the store ({_holder(path)}) after {wait:.0f} s of waiting; "
                    f"retry when it has finished (the lock {path} is released when its holder ends)"
                )
            if not told and progress is not None:
                progress(WAITING, 0, 1)
                told = True
            time.sleep(_POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        handle.flush()
        if told and progress is not None:
            progress(WAITING, 1, 1)
        yield
    finally:
        handle.close()  # closing releases the lock
