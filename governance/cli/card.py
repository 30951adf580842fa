"""``governance card export``: a card as Markdown (CI summaries), a Hugging Face README or an Annex IV outline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from governance.cli._app import card_app, err, guard, output_file, write_text

__all__ = ["card_export"]


@card_app.command("export")
def card_export(
    card: Annotated[Path, typer.Option("--card", help="The card.json to export.", show_default=False)],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="markdown (a pull-request or job summary), hf (a Hugging Face README) or annex-iv."
        ),
    ] = "markdown",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write here, atomically (default: stdout).", callback=output_file),
    ] = None,
) -> None:
    """Export a card: exit 0 written, 2 a bad card or an unknown format (nothing is written then)."""
    from governance.card.export import FORMATS, export_card
    from governance.card.validate import read_card
    from governance.errors import ConfigError, Problem, ProblemCode

    with guard():
        if fmt not in FORMATS:
            problem = Problem(
                "--format",
                f"expected one of {', '.join(FORMATS)}, found {fmt[:40]!r}",
                code=ProblemCode.INVALID_VALUE,
                parameter="--format",
            )
            raise ConfigError([problem])
        text = export_card(read_card(card), fmt)
        if out is None:
            typer.echo(text, nl=False)
            return
        write_text(out, text)
        err.print(Text(f"wrote {out}"))
