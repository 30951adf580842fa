"""The ``governance`` command line: a thin typer shell over the library.

Each command parses its options, calls the library, prints, and maps the
outcome to an exit code: 0 pass, 1 the gate failed, 2 bad input or config,
3 infrastructure (MLflow, storage), 4 security refusal, 70 internal error
(a bug: please report it with the output of ``--debug``). Expected errors
print one or two lines to stderr and no traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from governance import __version__
from governance.errors import GovernanceError
from governance.privacy import redact

__all__ = ["app", "main"]

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
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state = {"debug": False}

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The governance YAML config.", show_default=False)]


def _version(value: bool) -> None:
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
    _state["debug"] = debug


@contextmanager
def _guard() -> Iterator[None]:
    """Turn expected errors into short messages and exit codes; show our warnings as they come."""
    from governance.data import DevelopmentKeyWarning

    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
        text = redact(str(message))
        if text in seen:
            return
        seen.add(text)
        if issubclass(category, DevelopmentKeyWarning):
            err.print(f"[bold yellow on red] WARNING [/] [bold yellow]{text}[/]")
        else:
            err.print(f"[yellow]warning:[/] {category.__name__}: {text[:300]}")

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
            err.print(f"[bold red]error:[/] {redact(str(exc))}")
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
                f"[bold red]internal error[/] (a bug, please report it): {type(exc).__name__}: {redact(str(exc))[:300]}\n"
                "rerun with --debug for the traceback"
            )
            raise typer.Exit(INTERNAL_ERROR) from None


class _Bars:
    """A rich progress bar per pipeline stage, on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


# ---------------------------------------------------------------- config


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="The YAML config to check.")]) -> None:
    """Validate a config: print every problem (exit 2) or a summary (exit 0)."""
    from governance.config import load_config

    with _guard():
        config = load_config(path)
        table = Table(title=f"{path}: valid", show_header=False, title_justify="left")
        table.add_row("purpose", config.purpose.intended_use)
        table.add_row("data", str(config.data.path) + (" (generated when missing)" if config.data.generate else ""))
        table.add_row("features", f"{len(config.features)}: {', '.join(config.feature_names)}")
        table.add_row("sensitive (audit only)", ", ".join(config.sensitive.names))
        table.add_row("intersections", ", ".join(" & ".join(i) for i in config.sensitive.intersections) or "none")
        table.add_row(
            "candidates",
            ", ".join(
                f"{c.name} ({c.kind}{' + ' + c.mitigation.kind if c.mitigation else ''})" for c in config.candidates
            ),
        )
        rule = (
            f"top {config.audit.top_k:.0%} of accounts"
            if config.audit.top_k is not None
            else f"score >= {config.audit.threshold}"
        )
        table.add_row("decision rule", rule)
        table.add_row("policy", f"{len(config.policy.rules)} rule(s), decision by {config.policy.decision}")
        table.add_row("mlflow", config.mlflow.tracking_uri or "$MLFLOW_TRACKING_URI or the embedded store")
        out.print(table)


# ---------------------------------------------------------------- data


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
    from governance.datasets import write_accounts
    from governance.errors import ConfigError, Problem

    with _guard():
        if out_path.suffix.lower() not in (".csv", ".parquet"):
            raise ConfigError(
                [Problem("--out", f"expected a path ending in .csv or .parquet, found {out_path.name!r}")]
            )
        start = time.perf_counter()
        with _progress() as progress:
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
    """Load and validate the configured data; print what a run would use."""
    from governance.config import load_config
    from governance.data import prepare

    with _guard():
        config = load_config(config_path)
        dataset = prepare(config)
        out.print(f"[bold]{dataset.source}[/]")
        out.print(f"rows in file: {dataset.rows_in:,}; used: {dataset.rows_used:,}")
        if dataset.excluded:
            out.print("excluded before use (consent): " + ", ".join(f"{k} {v:,}" for k, v in dataset.excluded.items()))
        if dataset.dropped_columns:
            out.print(
                "dropped columns (minimization): " + ", ".join(f"{k} ({v})" for k, v in dataset.dropped_columns.items())
            )
        out.print(f"features ({len(dataset.features)}): {', '.join(dataset.features)}")
        counts = [int((dataset.split == code).sum()) for code in (0, 1, 2)]
        out.print(f"split: train {counts[0]:,}, validation {counts[1]:,}, test {counts[2]:,}")
        out.print(f"fingerprint: sha256 {dataset.fingerprint}")
        declared = {a.name: a.categories for a in config.sensitive.attributes}
        for attribute, sizes in dataset.group_sizes.items():
            table = Table(title=f"sensitive attribute {attribute} (audit only)", title_justify="left")
            table.add_column("group")
            table.add_column("accounts", justify="right")
            for group, n in sizes.items():
                flag = "  (below min_group_size)" if n < config.sensitive.min_group_size else ""
                table.add_row(group, f"{n:,}{flag}")
            for absent in [c for c in declared.get(attribute) or () if c not in sizes]:
                table.add_row(absent, "0  (declared, absent)")
            out.print(table)


# ---------------------------------------------------------------- run


@app.command("run")
def run_command(config_path: ConfigOption) -> None:
    """Run the governance pipeline: data, candidates, MLflow tracking."""
    from governance.config import load_config
    from governance.pipeline import run
    from governance.registry import safe_uri

    with _guard():
        config = load_config(config_path)
        start = time.perf_counter()
        with _progress() as progress:
            outcome = run(config, progress=_Bars(progress))
        if outcome.data_generated:
            out.print(f"generated {config.data.path}")
        out.print(
            f"data: {outcome.rows_used:,} of {outcome.rows_in:,} accounts used; excluded {sum(outcome.excluded.values()):,} without valid consent"
        )
        table = Table(title="candidates", title_justify="left")
        for column in ("candidate", "kind", "validation AUC", "test AUC"):
            table.add_column(column, justify="right" if "AUC" in column else "left")
        for c in outcome.candidates:
            table.add_row(
                c.name,
                c.kind + (f" + {c.mitigation}" if c.mitigation else ""),
                f"{c.validation_auc:.3f}",
                f"{c.test_auc:.3f}",
            )
        out.print(table)
        out.print(f"MLflow run {outcome.run_id} at {safe_uri(outcome.tracking_uri)}")
        for c in outcome.candidates:
            out.print(f"test AUC {c.name}: {c.test_auc:.4f}")
        out.print(f"done in {time.perf_counter() - start:.1f} s")


def main() -> None:
    """Entry point of the ``governance`` console script."""
    app()
