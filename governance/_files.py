"""Canonical JSON bytes, and atomic file writes (a reader sees the old file or the new one, never half of one)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_write", "canonical_json"]


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
