"""``governance explain``: why one account got its score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import ConfigOption, app, guard, say, write_json

__all__ = ["explain_command"]


@app.command("explain")
def explain_command(
    config_path: ConfigOption,
    account: Annotated[
        str, typer.Option("--account", help="The account's identifier, as in the data's id column.", show_default=False)
    ],
    model_version: Annotated[
        int | None, typer.Option("--model-version", min=1, help="A registered model version (default: the champion).")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="A candidate of the latest finished run, instead of a version.")
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the JSON here (default: <output.reports>/explanations/explanation-<pseudonym>-v<version>.json).",
        ),
    ] = None,
) -> None:
    """Why one account got its score: score, percentile and its top reasons in plain words."""
    from governance._files import check_output
    from governance.cli._tables import print_reasons
    from governance.config import load_config
    from governance.errors import ConfigError, Problem, ProblemCode
    from governance.explain import ADDITIVITY_TOLERANCE
    from governance.pipeline import account_reasons

    with guard():
        if model_version is not None and candidate is not None:
            where = "--model-version/--candidate"
            raise ConfigError(
                [Problem(where, "expected at most one of them, found both", code=ProblemCode.CONFLICT, parameter=where)]
            )
        if out_path is not None:
            check_output(out_path, where="--out")
        config = load_config(config_path)
        result = account_reasons(config, account, model_version=model_version, candidate=candidate)
        print_reasons(result, additivity_tolerance=ADDITIVITY_TOLERANCE)
        target = out_path or config.output.reports / "explanations" / result.file_name(".json")
        write_json(target, result.to_dict())
        say(f"wrote {target}")
