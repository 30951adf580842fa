r"""The typer root, its consoles, ``--version``, the error guard and the progress bars.

Everything every command shares, and nothing heavy: this module imports typer, rich's
console and the standard library only, so ``governance --version`` costs what they cost.

Terminal safety is the consoles' own: :data:`out` and :data:`err` are :class:`SafeConsole` s,
which never read rich markup or emoji codes in any string (a group named ``[/bold]`` is shown
as it is, it cannot be taken for a tag) and show every control and bidi character of every
string and every ``Text`` as an escape (``\x1b``, ``\u202e``, see :func:`printable`) before
it is laid out. Styles are given with ``Text`` objects only. Usage errors are printed through
:data:`err` too (see :func:`main`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from governance import __version__
from governance._files import UNSAFE_CHARACTERS, visible
from governance.errors import DevelopmentKeyWarning, GovernanceError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.style import Style

__all__ = [
    "INTERNAL_ERROR",
    "AccountArgument",
    "Bars",
    "ConfigOption",
    "ModelVersionOption",
    "SafeConsole",
    "app",
    "card_app",
    "config_app",
    "data_app",
    "err",
    "feedback_app",
    "guard",
    "ledger_app",
    "main",
    "out",
    "output_file",
    "printable",
    "progress_bars",
    "say",
    "sigterm_ends_runs",
    "styled",
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
card_app = typer.Typer(help="Model cards: export one where reviewers and CI look.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(subject_app, name="subject")
app.add_typer(feedback_app, name="feedback")
app.add_typer(ledger_app, name="ledger")
app.add_typer(card_app, name="card")


def _visible_text(text: Text) -> Text:
    """Return a ``Text`` with its control and bidi characters shown as escapes, its styles kept."""
    bounds = sorted({i for m in UNSAFE_CHARACTERS.finditer(text.plain) for i in (m.start(), m.end())})
    if not bounds:
        return text
    safe = text.blank_copy()
    for piece in text.divide(bounds):
        if UNSAFE_CHARACTERS.search(piece.plain):
            styles = [span.style for span in piece.spans]
            safe.append(visible(piece.plain), style=styles[-1] if styles else None)
        else:
            safe.append_text(piece)
    return safe


class SafeConsole(Console):
    """A rich console that never interprets a string, and never lets a control or bidi character out.

    Every string it prints, in a table cell, a title, a column or a progress description, is
    turned into text by :meth:`render_str`, which reads no markup and no emoji code and shows
    the unsafe characters as escapes; every ``Text`` has them shown as escapes before it is laid
    out; and any that a renderable would still yield is escaped on the way out (control
    segments, the console's own cursor moves, are left alone).
    """

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: Any = None,
        overflow: Any = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: Any = None,
    ) -> Text:
        """Return the string as plain text: no markup, no emoji code, no highlighting, unsafe characters escaped.

        Parameters
        ----------
        text
            The string, from anywhere.
        style
            The style of the whole text.
        justify
            Rich's justify method.
        overflow
            Rich's overflow method.
        emoji
            Ignored: emoji codes are never read.
        markup
            Ignored: markup is never read.
        highlight
            Ignored: nothing is highlighted.
        highlighter
            Ignored.

        Returns
        -------
        rich.text.Text
            The text, shown as it is.
        """
        del emoji, markup, highlight, highlighter
        return Text(visible(text), style=style, justify=justify, overflow=overflow)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        """Render like rich, a ``Text``'s unsafe characters escaped first, and any left escaped on the way out.

        Parameters
        ----------
        renderable
            What to render.
        options
            Rich's render options.

        Yields
        ------
        rich.segment.Segment
            The segments, none of them carrying a control or bidi character but control segments.
        """
        if isinstance(renderable, Text):
            renderable = _visible_text(renderable)
        for segment in super().render(renderable, options):
            if segment.control is None and UNSAFE_CHARACTERS.search(segment.text):
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


def _console(*, stderr: bool = False) -> SafeConsole:
    """Return a safe console without highlighting, markup or emoji, wide when it is not a terminal."""
    console = SafeConsole(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # logs and CI: wide enough that tables never truncate names
    return console


# Names, paths, groups, reasons and notes come from configs, files, cards and people: neither console
# reads markup in any string, and both show control and bidi characters as escapes. Styles go in Text.
out = _console()
err = _console(stderr=True)
_state = {"debug": False}


def styled(label: str, style: str, text: str = "") -> Text:
    """Return a styled label followed by plain text, for a console line (the text is never markup).

    Parameters
    ----------
    label
        The label, ``error:`` or ``warning:``.
    style
        Its rich style, ``bold red``.
    text
        What follows the label, from anywhere.

    Returns
    -------
    rich.text.Text
        The line.
    """
    return Text.assemble((label, style), " " + text if text else "")


def _outputs_writable(path: Path) -> Path:
    """Check, before the command runs, that the config's output folders can be folders (exit 2 when not).

    The config is read here only for ``output.reports`` and ``output.models``: a config that does not
    load is left to the command, which reports every problem of it.
    """
    from governance._files import output_problem

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from governance.config import load_config

            output = load_config(path).output
    except Exception:  # the command itself loads the config and reports why it does not load
        return path
    for where, folder in (("output.reports", output.reports), ("output.models", output.models)):
        problem = output_problem(folder, where=where, folder=True)
        if problem is not None:
            err.print(styled("error:", "bold red", f"1 config problem(s) in {path}:\n  - {problem}"))
            raise typer.Exit(2)
    return path


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Refuse, as the command line is read, an output file option given a folder (a typer ``callback``).

    Parameters
    ----------
    ctx
        Typer's context.
    param
        The option (its name is named in the error).
    value
        The path given, or ``None``.

    Returns
    -------
    pathlib.Path or None
        The path, when it can be written as a file.

    Raises
    ------
    typer.BadParameter
        When it is a folder, or a file stands where one of its folders should be (exit 2).
    """
    from governance._files import output_problem

    del ctx
    where = param.opts[0] if param.opts else str(param.name)
    problem = None if value is None else output_problem(value, where=where)
    if problem is not None:
        raise typer.BadParameter(f"{problem.message}; {problem.fix}")
    return value


ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The governance YAML config.", show_default=False, callback=_outputs_writable),
]
ModelVersionOption = Annotated[
    int, typer.Option("--model-version", min=1, help="Version of the registered model.", show_default=False)
]
AccountArgument = Annotated[
    str, typer.Argument(help="The account's identifier, as in the data's id column (never stored or printed).")
]


def printable(text: str) -> str:
    r"""Return the text with control characters and bidi overrides shown as escapes (``\x1b``, ``\u202e``).

    The consoles apply it to everything they print; it is here for text that goes elsewhere.

    Parameters
    ----------
    text
        Any text, possibly from the data or the config.

    Returns
    -------
    str
        The text, every unprintable character shown as an escape.
    """
    return visible(text)


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


#: Loggers whose records carry tracebacks and SQL (with its parameters) that the one-line error replaces.
_QUIET_LOGGERS = ("alembic", "sqlalchemy", "mlflow.store")

# SQLAlchemy's statement, its parameters (values) and its link, in an error from MLflow's store (maybe cut short)
_SQL_DETAIL = re.compile(r"^\s*(\[SQL: |\[parameters: |\(Backgr).*$\n?", re.MULTILINE)


def _message(exc: BaseException) -> str:
    """Return an error's message, personal data redacted and SQLAlchemy's statement and parameters left out."""
    return _SQL_DETAIL.sub("", _redact(str(exc))).strip()


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep MLflow's store, SQLAlchemy and alembic from logging tracebacks on the console (not with ``--debug``)."""
    if _state["debug"]:
        yield
        return
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _show_warning(seen: set[str]) -> Any:
    """Return a ``warnings.showwarning`` that prints each distinct warning once, redacted, on stderr."""

    def show(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        text = _redact(str(message))
        if text in seen:
            return
        seen.add(text)
        if issubclass(category, DevelopmentKeyWarning):
            err.print(Text.assemble((" WARNING ", "bold yellow on red"), " ", (text, "bold yellow")))
        else:
            err.print(styled("warning:", "yellow", f"{category.__name__}: {text[:300]}"))

    return show


def _fail(code: int, line: Text) -> typer.Exit:
    """Print the error's line (after its traceback with ``--debug``) and return the exit to raise."""
    if _state["debug"]:
        err.print(traceback.format_exc().rstrip())
    err.print(line)
    return typer.Exit(code)


@contextmanager
def guard() -> Iterator[None]:
    """Turn expected errors into short messages and exit codes; show the library's warnings as they come.

    :class:`~governance.errors.DevelopmentKeyWarning` (identifiers pseudonymized with the
    public key) is shown every time, in a banner. MLflow's store, SQLAlchemy and alembic log
    no traceback on the console: their failure is the one-line error.

    Yields
    ------
    None
        The command runs inside; a :class:`~governance.errors.GovernanceError` leaves as its
        ``exit_code``, Ctrl-C as 130, any other exception as 70 (a bug). ``--debug`` prints
        the traceback first and keeps the exit code.
    """
    with warnings.catch_warnings(), _quiet_libraries():
        warnings.simplefilter("always", DevelopmentKeyWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.showwarning = _show_warning(set())
        try:
            yield
        except GovernanceError as exc:
            raise _fail(exc.exit_code, styled("error:", "bold red", _message(exc))) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise _fail(130, Text("interrupted")) from None
        except Exception as exc:
            line = styled(
                "internal error",
                "bold red",
                f"(a bug, please report it): {type(exc).__name__}: {_message(exc)[:300]}"
                + ("" if _state["debug"] else "\nrerun with --debug for the traceback"),
            )
            raise _fail(INTERNAL_ERROR, line) from None


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
            self.tasks[stage] = self.progress.add_task(visible(stage), total=total)
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
        TextColumn("{task.description}", markup=False),  # a description is text, never markup
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
        err.print(f"cancelled ({signal_name(exc.signum)}): stopped at a safe point; nothing was written after it")
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


def _usage_error(exc: Exception) -> int:
    """Print a usage error (an unknown option, a value of the wrong type) through :data:`err`; return its exit code."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        err.print(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            err.print(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.")
    err.print(styled("error:", "bold red", exc.format_message()))  # type: ignore[attr-defined]
    return int(getattr(exc, "exit_code", 2))


def main() -> None:
    """Run the ``governance`` console script; usage errors are printed by the safe console too."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # the help, our own text
        if exc.format_message().strip():
            exc.show()
        code = exc.exit_code
    except ClickException as exc:
        code = _usage_error(exc)
    except typer.Abort:
        err.print("aborted")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
