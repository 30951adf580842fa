"""The typer root, its consoles, ``--version``, the error guard and the progress bars.

Everything every command shares, and nothing heavy: this module imports typer, rich's
console and the standard library only, so ``governance --version`` costs what they cost.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from governance import __version__
from governance.errors import DevelopmentKeyWarning, GovernanceError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "INTERNAL_ERROR",
    "AccountArgument",
    "Bars",
    "ConfigOption",
    "ModelVersionOption",
    "app",
    "config_app",
    "data_app",
    "err",
    "feedback_app",
    "guard",
    "ledger_app",
    "main",
    "out",
    "printable",
    "progress_bars",
    "say",
    "sigterm_ends_runs",
    "subject_app",
    "write_json",
    "write_text",
]

INTERNAL_ERROR = 70

app = typer.Typer(
    name="governance",
    help="Make account-scoring models fair, explainable and accountable before they are used.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
data_app = typer.Typer(help="Generate and check data.", no_args_is_help=True)
subject_app = typer.Typer(
    help="Data-subject rights: access, correction, erasure, consent withdrawal (recorded in the ledger).",
    no_args_is_help=True,
)
feedback_app = typer.Typer(help="Stakeholder feedback on a model version, shown on its card.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident ledger of data-subject requests.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(subject_app, name="subject")
app.add_typer(feedback_app, name="feedback")
app.add_typer(ledger_app, name="ledger")


def _console(*, stderr: bool = False, markup: bool = True) -> Console:
    """Return a console without highlighting, wide when it is not a terminal."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True, markup=markup)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # logs and CI: wide enough that tables never truncate names
    return console


# What reaches stdout is data (names, paths, groups, reasons from configs, files and cards): that
# console never reads rich markup, so no value can be taken for it. Styles go in Text objects.
# stderr's messages are written here, with every value escaped.
out = _console(markup=False)
err = _console(stderr=True)
_state = {"debug": False}

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The governance YAML config.", show_default=False)]
ModelVersionOption = Annotated[
    int, typer.Option("--model-version", min=1, help="Version of the registered model.", show_default=False)
]
AccountArgument = Annotated[
    str, typer.Argument(help="The account's identifier, as in the data's id column (never stored or printed).")
]

# control characters and bidi overrides: a name from the data or the config must not rewrite the terminal
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Return the text with control characters and bidi overrides replaced by U+FFFD, safe to print.

    Parameters
    ----------
    text
        Any text, possibly from the data or the config.

    Returns
    -------
    str
        The text, every unprintable character replaced.
    """
    return _UNPRINTABLE.sub("\ufffd", text)


def say(text: str) -> None:
    """Print one line to stdout as plain text (never markup, never highlighted).

    Parameters
    ----------
    text
        The line.
    """
    out.print(text)


def _version(value: bool) -> None:
    """Print the version and stop, when ``--version`` is given."""
    if value:
        out.print(f"governance {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Set the global options."""
    _state["debug"] = debug


def _redact(text: str) -> str:
    """Redact personal data from a message (the privacy module is loaded only when there is one)."""
    from governance.privacy import redact

    return redact(text)


@contextmanager
def guard() -> Iterator[None]:
    """Turn expected errors into short messages and exit codes; show the library's warnings as they come.

    :class:`~governance.errors.DevelopmentKeyWarning` (identifiers pseudonymized with the
    public key) is shown every time, in a banner.

    Yields
    ------
    None
        The command runs inside; a :class:`~governance.errors.GovernanceError` leaves as its
        ``exit_code``, Ctrl-C as 130, any other exception as 70 (a bug), unless ``--debug``.
    """
    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        text = _redact(str(message))
        if text in seen:
            return
        seen.add(text)
        if issubclass(category, DevelopmentKeyWarning):
            err.print(f"[bold yellow on red] WARNING [/] [bold yellow]{escape(text)}[/]")
        else:
            err.print(f"[yellow]warning:[/] {escape(category.__name__)}: {escape(text[:300])}")

    with warnings.catch_warnings():
        warnings.simplefilter("always", DevelopmentKeyWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.showwarning = show
        try:
            yield
        except GovernanceError as exc:
            if _state["debug"]:
                raise
            err.print(f"[bold red]error:[/] {escape(_redact(str(exc)))}")
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            err.print(
                f"[bold red]internal error[/] (a bug, please report it): {escape(type(exc).__name__)}: "
                f"{escape(_redact(str(exc))[:300])}\nrerun with --debug for the traceback"
            )
            raise typer.Exit(INTERNAL_ERROR) from None


class Bars:
    """A rich progress bar per pipeline stage, on stderr.

    Parameters
    ----------
    progress
        The rich progress display the bars are added to.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Show that ``done`` of ``total`` steps of ``stage`` are done (a safe point: stops here after a cancel)."""
        from governance import _cancel

        _cancel.check()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def progress_bars() -> Progress:
    """Return a rich progress display on stderr: description, bar, count and elapsed time.

    Returns
    -------
    rich.progress.Progress
        The display, to be used as a context manager.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


@contextmanager
def sigterm_ends_runs() -> Iterator[None]:
    """Make SIGTERM and Ctrl-C cancel the command at its next safe point: exit 143 / 130, runs KILLED.

    The signal only sets a flag (:mod:`governance._cancel`); the work checks it between
    steps, in its loops and before every registry write, and stops there, so a cancel is
    never swallowed and nothing is registered or promoted after it. Open MLflow runs end
    KILLED, never RUNNING. A second signal stops at once.

    Yields
    ------
    None
        The handlers are installed for the block (on the main thread only) and restored after it.
    """
    from governance import _cancel
    from governance._cancel import signal_name

    try:
        with _cancel.handling():
            yield
            _cancel.check()  # a signal after the last check still ends the command as cancelled
    except _cancel.Cancelled as exc:  # a SystemExit: the process ends with 128 + the signal
        err.print(
            f"cancelled ({escape(signal_name(exc.signum))}): stopped at a safe point; nothing was written after it"
        )
        raise


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically: a reader sees the old file or the new one, never half of one.

    Parameters
    ----------
    path
        The target; its folder is created when missing.
    text
        The content, written as UTF-8.
    """
    from governance._files import atomic_write

    atomic_write(path, text.encode("utf-8"))


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write a document atomically, in the canonical JSON form every report and card is written in.

    Parameters
    ----------
    path
        The target; its folder is created when missing.
    payload
        The document (finite numbers only).
    """
    from governance._files import atomic_write, canonical_json

    atomic_write(path, canonical_json(payload))


def main() -> None:
    """Run the ``governance`` console script."""
    app()
