"""``governance config check``: validate a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import config_app, guard

__all__ = ["config_check"]


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="The YAML config to check.")]) -> None:
    """Validate a config: print every problem (exit 2) or a summary (exit 0)."""
    from governance.cli._tables import print_config
    from governance.config import load_config

    with guard():
        print_config(load_config(path), path=path)
