"""``governance config check``: validate a config file, and the columns it names against the data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import config_app, guard

__all__ = ["config_check"]


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="The YAML config to check.")],
    no_data: Annotated[
        bool, typer.Option("--no-data", help="Do not read the data file's header to check the columns.")
    ] = False,
) -> None:
    """Validate a config without training: print every problem (exit 2) or a summary (exit 0).

    Also checks that the data file is .csv or .parquet and, reading only its header (or
    Parquet schema), that every column the config names is in it; --no-data skips the reading.
    """
    from governance.cli._tables import print_config
    from governance.config import load_config
    from governance.data import column_problems
    from governance.errors import ConfigError

    with guard():
        config = load_config(path)
        problems = column_problems(config, read_data=not no_data)
        if problems:
            raise ConfigError(problems, source=str(path))
        print_config(config, path=path)
