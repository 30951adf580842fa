"""``governance init``: write a commented config and its policy for a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import app, guard, out, printable, say

__all__ = ["init_command"]


@app.command("init")
def init_command(
    data: Annotated[Path, typer.Option("--data", help="The data file (.csv or .parquet).", show_default=False)],
    label: Annotated[
        str | None, typer.Option("--label", help="The outcome column, 0/1 or true/false.", show_default=False)
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id", help="The row identifier (default: an id-like column with unique values).", show_default=False
        ),
    ] = None,
    sensitive: Annotated[
        str | None,
        typer.Option("--sensitive", help="Audit-only attributes, comma-separated: age,sex.", show_default=False),
    ] = None,
    subject: Annotated[str, typer.Option("--subject", help="The word for one row: applicant, person...")] = "record",
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The config to write (default: <data stem>.yaml here).", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the config and policy files if they exist.")] = False,
) -> None:
    """Read a data file and write a commented config and its policy, with a TODO wherever only you can answer.

    Prints what was decided for every column (never a value of it). Exit 2 when the
    file cannot be scaffolded (no label, a label that is not 0/1, no identifier...) or
    when a file to write exists (use --force).
    """
    from rich.table import Table

    from governance.data import load_table
    from governance.scaffold import propose, write_scaffold

    with guard():
        target = config if config is not None else Path(f"{data.stem}.yaml")
        names = [n.strip() for n in (sensitive or "").split(",") if n.strip()]
        frame = load_table(data)
        scaffold = propose(
            frame,
            data_path=data,
            label=label,
            config_path=target,
            id_column=id_column,
            sensitive=names,
            subject=subject,
        )
        write_scaffold(scaffold, force=force)
        table = Table(title=f"{data.name}: {len(frame):,} rows, {len(frame.columns)} columns", title_justify="left")
        for heading in ("column", "role", "decided"):
            table.add_column(heading)
        for choice in scaffold.columns:
            table.add_row(printable(choice.name), choice.role, printable(choice.detail))
        out.print(table)
        say(f"wrote {scaffold.config_path} and {scaffold.policy_path}")
        say(
            f"next: replace the {scaffold.todos} TODO(s) in {scaffold.config_path} (grep -n TODO {scaffold.config_path}), then"
        )
        say(f"  governance config check {scaffold.config_path}")
        say(f"  governance run --config {scaffold.config_path}")
