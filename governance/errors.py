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

Each problem, and each error, may also say what kind of problem it is (a
:class:`ProblemCode`, as pandera's ``SchemaErrorReason``) and which parameter
it concerns (``parameter``, with ``key`` naming one entry of a mapping
parameter), so that a caller such as the command line can name its own
option for the parameter without reading the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ConfigError",
    "DataValidationError",
    "DevelopmentKeyWarning",
    "GateFailure",
    "GovernanceError",
    "PrivacyError",
    "Problem",
    "ProblemCode",
    "RegistryError",
]


class ProblemCode(StrEnum):
    """What kind of problem a :class:`Problem` or an error reports."""

    INVALID_VALUE = "invalid_value"
    """A value of the right kind outside what is allowed (a share above 1, a date that is not one)."""
    WRONG_TYPE = "wrong_type"
    """A value of the wrong type or shape (a string for a number, 2-D for 1-D, another length)."""
    MISSING = "missing"
    """Something required is absent (a key, an option, values in some rows)."""
    CONFLICT = "conflict"
    """Options or values that exclude each other (scores and decisions, approve and reject)."""
    UNKNOWN_NAME = "unknown_name"
    """A name that refers to nothing (a column not in the file, a group not in the data)."""
    PERSONAL_DATA = "personal_data"
    """Values that look like personal data where none may be."""


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
    code
        What kind of problem it is, a :class:`ProblemCode` value; empty when not said.
    parameter
        The argument or option it concerns (``"sensitive"``, ``"threshold"``); empty when not said.
    key
        The entry of a mapping parameter it concerns (the attribute ``"region"`` of
        ``sensitive``); empty for the parameter as a whole.
    """

    location: str
    message: str
    fix: str = ""
    code: str = ""
    parameter: str = ""
    key: str = ""

    @staticmethod
    def location_of(parameter: str, key: str = "") -> str:
        """Return the location of a parameter, or of one entry of it, as problems write it.

        Parameters
        ----------
        parameter
            The argument's name.
        key
            One entry of a mapping argument; empty for the argument as a whole.

        Returns
        -------
        str
            ``parameter``, or ``parameter['key']``.
        """
        return f"{parameter}[{key!r}]" if key else parameter

    @classmethod
    def for_parameter(cls, parameter: str, message: str, fix: str = "", *, key: str = "", code: str = "") -> Problem:
        """Build a problem with one parameter (or one entry of it), located where :meth:`location_of` says.

        Parameters
        ----------
        parameter
            The argument's name.
        message
            What is wrong, with the expected and the found value.
        fix
            How to fix it.
        key
            One entry of a mapping argument; empty for the argument as a whole.
        code
            A :class:`ProblemCode` value.

        Returns
        -------
        Problem
            The problem, with ``parameter``, ``key`` and ``code`` set.
        """
        return cls(cls.location_of(parameter, key), message, fix, code=code, parameter=parameter, key=key)

    def __str__(self) -> str:
        """Return the location, the message and the fix, as one line."""
        text = f"{self.location}: {self.message}"
        if self.fix:
            text += f"; {self.fix}"
        return text


class GovernanceError(Exception):
    """Root of every expected governance error.

    Parameters
    ----------
    *args
        The message (and anything else ``Exception`` takes).
    code
        What kind of error it is, a :class:`ProblemCode` value; empty when not said.
    parameter
        The argument or option it concerns; empty when not said.
    """

    exit_code: int = 2

    def __init__(self, *args: object, code: str = "", parameter: str = "") -> None:
        super().__init__(*args)
        self.code = code
        self.parameter = parameter


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
    """A refusal to protect personal data or evidence (PII in features, no real key in strict mode, tampering).

    A password in a tracking URI is a :class:`ConfigError` (exit 2), whether it is in the config
    or in ``MLFLOW_TRACKING_URI``: a credential in the wrong place, found before anything runs.
    """

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


class DevelopmentKeyWarning(UserWarning):
    """Identifiers were pseudonymized with the public development key (the command line shows it in a banner)."""
