r"""What leaves the process: canonical JSON bytes, atomic file writes, output paths checked, text made visible.

Atomic writes mean a reader sees the old file or the new one, never half of one; an output path
that is a folder where a file is expected (or a file where a folder is) is refused before
anything is written, naming the option; :func:`visible` shows the characters that would rewrite a
terminal or a page (controls, escape sequences, bidi overrides) as escapes, ``\u202e``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from governance.errors import ConfigError, Problem, ProblemCode

__all__ = ["atomic_path", "atomic_write", "canonical_json", "check_output", "output_problem", "visible"]

#: C0 controls but tab and newline, DEL, C1 controls (ESC starts every terminal escape sequence), the
#: bidi marks, embeddings, overrides and isolates, and the line and paragraph separators.
UNSAFE_CHARACTERS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    r"""Return one unsafe character as a visible escape: ``\x1b``, ``\u202e``."""
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    r"""Return the text with every control and bidi character shown as an escape, safe to print or render.

    Parameters
    ----------
    text
        Any text, possibly from the data, a config, a path, a card or a person.

    Returns
    -------
    str
        The text; tabs and newlines kept, every character of :data:`UNSAFE_CHARACTERS` written as
        ``\xNN`` or ``\uNNNN`` (an escape sequence cannot run, an override cannot reverse a line).
    """
    return UNSAFE_CHARACTERS.sub(_escape, text)


def output_problem(path: Path, *, where: str, folder: bool = False) -> Problem | None:
    """Say why ``path`` cannot be written as a file (or, with ``folder``, created as a folder), or ``None``.

    Parameters
    ----------
    path
        The output path.
    where
        The option or config key that gave it (``--out``, ``output.reports``), named in the problem.
    folder
        Whether a folder is expected there (else a file).

    Returns
    -------
    Problem or None
        A folder where a file is expected, a file where a folder is expected, or a file on the way to it.
    """
    shown = visible(str(path))
    if folder and path.exists() and not path.is_dir():
        message = f"expected a folder, found a file: {shown}"
        return Problem(where, message, "remove the file or name another folder", ProblemCode.INVALID_VALUE, where)
    if not folder and path.is_dir():
        message = f"expected a file, found a folder: {shown}"
        return Problem(
            where, message, "name a file, inside that folder if it is meant", ProblemCode.INVALID_VALUE, where
        )
    for parent in path.parents:
        if parent.exists():
            if parent.is_dir():
                return None
            message = f"expected a folder on the way to {shown}, found a file: {visible(str(parent))}"
            return Problem(where, message, "remove the file or write elsewhere", ProblemCode.INVALID_VALUE, where)
    return None


def check_output(path: Path, *, where: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be written (see :func:`output_problem`), before anything is done.

    Parameters
    ----------
    path
        The output path.
    where
        The option or config key that gave it.
    folder
        Whether a folder is expected there (else a file).

    Raises
    ------
    ConfigError
        When the path cannot be written: exit 2, naming ``where`` and the fix.
    """
    problem = output_problem(path, where=where, folder=folder)
    if problem is not None:
        raise ConfigError([problem])


def canonical_json(payload: Any) -> bytes:
    """Encode ``payload`` in the one JSON form everything is written and hashed in.

    Sorted keys, 2-space indent, UTF-8, finite numbers only (NaN is an error), a final
    newline. Cards, policies and reports share it, so a checksum taken anywhere matches a
    checksum taken anywhere else.

    Parameters
    ----------
    payload
        Plain JSON data (dicts, lists, strings, finite numbers, booleans, None).

    Returns
    -------
    bytes
        The canonical UTF-8 bytes.
    """
    return (json.dumps(payload, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it over ``target`` when the block succeeds.

    On any failure the temporary file is removed and ``target`` is left as it was.
    The file gets the usual permissions (0644 under the default umask), not mkstemp's 0600.

    Parameters
    ----------
    target
        The file to replace; its folder is created if missing.

    Yields
    ------
    pathlib.Path
        The temporary path to write.
    """
    check_output(target, where="output file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` atomically.

    Parameters
    ----------
    target
        The file to replace; its folder is created if missing.
    payload
        The bytes to write.
    """
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)
