"""Cancellation: SIGTERM and Ctrl-C set a flag; the work checks it at safe points and stops there.

A signal handler that raises can be swallowed: inside a C callback (numba and
llvmlite call back into Python through ctypes, as shap does), Python prints
"Exception ignored" and carries on, so a cancelled run went on to move an alias.
Here the handler only records the signal. The flag is checked between the
steps of a run, in its progress loops and before every write to the registry
(:func:`check`), which raises :class:`Cancelled` from plain Python code, where
nothing can swallow it: open MLflow runs end KILLED, and nothing is written
after the check. A second signal while the first is pending stops at once (the
previous behaviour: raise from the handler), for a process stuck far from a check.

This module imports the standard library only: every layer may check the flag.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Cancelled", "check", "handling", "request", "requested", "reset", "signal_name"]

#: The signals that cancel a command, and the exit code each ends it with (128 + the signal's number).
SIGNALS = (signal.SIGTERM, signal.SIGINT)

_state: dict[str, int] = {"signal": 0}


class Cancelled(SystemExit):
    """The command was cancelled by a signal; its exit code is 128 + the signal (143 SIGTERM, 130 SIGINT).

    A :class:`SystemExit`, not an :class:`Exception`: no ``except Exception`` on the way
    up turns it into a failure, and MLflow runs it passes through end KILLED.

    Parameters
    ----------
    signum
        The signal received.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        """Say which signal cancelled the command."""
        return f"cancelled by {signal_name(self.signum)}"


def signal_name(signum: int) -> str:
    """Return a signal's name (``SIGTERM``), or its number when it has none.

    Parameters
    ----------
    signum
        The signal's number.

    Returns
    -------
    str
        The name.
    """
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def request(signum: int) -> None:
    """Record that the command is cancelled (what the signal handler does).

    Parameters
    ----------
    signum
        The signal received; the first one is kept.
    """
    if not _state["signal"]:
        _state["signal"] = int(signum)


def requested() -> int:
    """Return the signal that cancelled the command, or 0 when it is not cancelled.

    Returns
    -------
    int
        The signal's number, or 0.
    """
    return _state["signal"]


def reset() -> None:
    """Forget a cancellation (a new command starts uncancelled)."""
    _state["signal"] = 0


def check() -> None:
    """Stop here when the command was cancelled.

    Call it between steps, in loops and before every write that must not happen
    after a cancel (a registry version, a tag, an alias move).

    Raises
    ------
    Cancelled
        When a cancelling signal was received.
    """
    signum = _state["signal"]
    if signum:
        raise Cancelled(signum)


def _handler(signum: int, _frame: FrameType | None) -> None:
    """Record the first signal; on a second one while it is pending, raise at once."""
    if _state["signal"]:
        raise Cancelled(_state["signal"])
    request(signum)


@contextmanager
def handling() -> Iterator[None]:
    """Make SIGTERM and SIGINT set the cancellation flag for the block, then restore the previous handlers.

    Outside the main thread (where no handler can be installed) the block runs unchanged.

    Yields
    ------
    None
        The block, with the flag cleared on entry and on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()
    previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        reset()  # the cancel belonged to this block; whatever runs next in the process starts uncancelled
