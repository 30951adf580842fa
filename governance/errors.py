"""The one exception tree of governance.

Every expected failure is one of these; the CLI prints its message in one or
two lines and exits with its ``exit_code``; anything else is a bug and shows a
traceback.

::

    GovernanceError (Exception)                 exit 2 unless overridden
    ├── ConfigError (ValueError)                exit 2  the YAML config is wrong
    ├── DataValidationError (ValueError)        exit 2  the data breaks the contract
    ├── PrivacyError (PermissionError)          exit 4  a security / privacy refusal
    ├── GateFailure                             exit 1  the gate failed on evidence (.report)
    └── RegistryError (RuntimeError)            exit 3  MLflow / storage infrastructure

Errors that collect several problems (``ConfigError``, ``DataValidationError``)
carry them as ``.problems``, a tuple of :class:`Problem`, so a caller can act
on each one and the message lists them all. Messages never contain cell
values from the data: they name columns, counts and types only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "DataValidationError",
    "GateFailure",
    "GovernanceError",
    "PrivacyError",
    "Problem",
    "RegistryError",
]


@dataclass(frozen=True)
class Problem:
    """One problem found in a config or a dataset.

    Parameters
    ----------
    location
        Where: a YAML path (``features.hq_postcode_cluster``) or a column name.
    message
        What is wrong, with the expected and the found value.
    fix
        How to fix it; empty when the message says it already.
    """

    location: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.fix:
            text += f"; {self.fix}"
        return text


class GovernanceError(Exception):
    """Root of every expected governance error."""

    exit_code: int = 2


class _ProblemsError(GovernanceError):
    """An error that lists every problem found, not only the first."""

    headline: str = "problems found"

    def __init__(self, problems: Iterable[Problem | str], *, source: str = "") -> None:
        items = tuple(p if isinstance(p, Problem) else Problem("", p) for p in problems)
        self.problems: tuple[Problem, ...] = items
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(items)} {self.headline}{where}:"]
        lines += [f"  - {_problem_text(p)}" for p in items]
        super().__init__("\n".join(lines))


def _problem_text(problem: Problem) -> str:
    return str(problem) if problem.location else (problem.message + (f"; {problem.fix}" if problem.fix else ""))


class ConfigError(_ProblemsError, ValueError):
    """The configuration is invalid; ``.problems`` lists every problem with its YAML path."""

    headline = "config problem(s)"


class DataValidationError(_ProblemsError, ValueError):
    """The data breaks its contract; ``.problems`` lists every problem by column.

    Messages name columns, counts and types, never cell values.
    """

    headline = "data problem(s)"


class PrivacyError(GovernanceError, PermissionError):
    """A refusal to protect personal data (PII in features, a secret in a URI)."""

    exit_code = 4


class GateFailure(GovernanceError):
    """The promotion gate did not pass; ``.report`` holds the rule-by-rule evidence."""

    exit_code = 1

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class RegistryError(GovernanceError, RuntimeError):
    """MLflow or storage failed (unreachable server, failed write)."""

    exit_code = 3
