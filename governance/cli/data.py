"""``governance data generate`` and ``governance data check``: synthetic accounts, and what a run would use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import ConfigOption, data_app, guard, out, progress_bars

__all__ = ["data_check", "data_generate"]


@data_app.command("generate")
def data_generate(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Target .csv or .parquet file.", show_default=False)],
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Number of accounts.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of every random draw.")] = 0,
    bias: Annotated[
        float, typer.Option("--bias", min=0.0, help="Historical attention bias (0 = none, 1 = strong).")
    ] = 0.0,
) -> None:
    """Generate synthetic ABM accounts with a known, tunable bias."""
    from governance._files import check_output
    from governance.datasets import write_accounts
    from governance.errors import ConfigError, Problem, ProblemCode

    with guard():
        if out_path.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(
                [
                    Problem(
                        "--out",
                        f"expected a path ending in .csv or .parquet, found {out_path.name!r}",
                        code=ProblemCode.INVALID_VALUE,
                        parameter="--out",
                    )
                ]
            )
        check_output(out_path, where="--out")
        start = time.perf_counter()
        with progress_bars() as progress:
            task = progress.add_task("generate accounts", total=rows)
            write_accounts(
                out_path,
                rows=rows,
                seed=seed,
                bias=bias,
                progress=lambda done, _t: progress.update(task, completed=done),
            )
        seconds = time.perf_counter() - start
        out.print(f"wrote {rows:,} accounts to {out_path} in {seconds:.1f} s (seed {seed}, bias {bias})")


@data_app.command("check")
def data_check(config_path: ConfigOption) -> None:
    """Load and validate the configured data; print what a run would use.

    Per sensitive attribute and configured intersection, one table of every
    group's rows, positives and negatives on each side of the split, then the
    groups too small to be judged on the test split (the audited one).
    """
    from governance.cli._tables import print_dataset
    from governance.config import load_config
    from governance.data import prepare, split_group_counts

    with guard():
        config = load_config(config_path)
        dataset = prepare(config)
        scopes = split_group_counts(dataset, sensitive=config.sensitive)
        print_dataset(dataset, sensitive=config.sensitive, scopes=scopes)
