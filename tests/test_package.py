"""The package's promises about itself: its public names, and what its computation modules import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import governance
from tests.conftest import ROOT

PRESENTATION = ("matplotlib", "jinja2", "typer", "rich", "mlflow")
HEAVY = ("sklearn", "shap", "mlflow", "matplotlib")


def test_public_names_are_the_intended_ones() -> None:
    assert sorted(governance.__all__) == sorted(
        [
            "AuditReport",
            "ConfigError",
            "DataValidationError",
            "Dataset",
            "GateFailure",
            "GateReport",
            "GovernanceConfig",
            "GovernanceError",
            "ModelCard",
            "Outcome",
            "PrivacyError",
            "Problem",
            "RegistryError",
            "RunOutcome",
            "__version__",
            "evaluate",
            "generate_accounts",
            "load_config",
            "load_policy",
            "prepare",
            "render_html",
            "run",
            "write_accounts",
        ]
    )
    for name in governance.__all__:
        assert hasattr(governance, name), name


def test_public_names_are_loaded_from_their_modules_on_first_access() -> None:
    from governance.audit import AuditReport
    from governance.errors import Problem

    assert governance.AuditReport is AuditReport and governance.Problem is Problem
    assert set(governance.__all__) <= set(dir(governance))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = governance.nope  # type: ignore[attr-defined]


def _modules(*args: str) -> set[str]:
    """The modules a fresh interpreter imports to run ``python ARGS``, from ``-X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def _imported(*args: str) -> set[str]:
    """The top-level packages a fresh interpreter imports to run ``python ARGS``."""
    return {name.split(".")[0] for name in _modules(*args)}


@pytest.mark.parametrize("module", ["governance", "governance.audit"])
def test_importing_the_package_or_the_audit_loads_no_heavy_library(module: str) -> None:
    assert _imported("-c", f"import {module}") & set(HEAVY) == set()


def test_the_version_command_loads_no_heavy_library_nor_pandas() -> None:
    assert _imported("-m", "governance", "--version") & {*HEAVY, "pandas"} == set()


@pytest.mark.parametrize(
    "module",
    [
        "governance.audit",
        "governance.data",
        "governance.train",
        "governance.config",
        "governance.datasets",
        "governance.gate",
        "governance.explain",
    ],
)
def test_computation_modules_import_no_presentation_or_tracking_library(module: str) -> None:
    # Blocked outright, the module must still import: it does not need them. (scikit-learn itself
    # imports rich when it is installed, which is why presence alone cannot be the test for rich.)
    blocked = f"import sys; sys.modules.update(dict.fromkeys({PRESENTATION!r})); import {module}"
    subprocess.run([sys.executable, "-c", blocked], cwd=ROOT, check=True, capture_output=True)
    checked = tuple(m for m in PRESENTATION if m != "rich")
    present = f"import sys, {module}; print(','.join(m for m in {checked!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", present], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "", f"{module} imported {proc.stdout.strip()}"


def test_error_tree_maps_to_exit_codes() -> None:
    assert governance.ConfigError([]).exit_code == 2
    assert governance.DataValidationError([]).exit_code == 2
    assert governance.PrivacyError("x").exit_code == 4
    assert governance.RegistryError("x").exit_code == 3
    assert governance.GateFailure("x", report={"verdict": "fail"}).exit_code == 1
    assert issubclass(governance.ConfigError, ValueError)
    assert issubclass(governance.PrivacyError, PermissionError)


def test_errors_and_problems_carry_a_code_and_the_parameter_they_concern() -> None:
    from governance.errors import ProblemCode

    plain = governance.Problem("features.x", "unknown")
    assert (plain.code, plain.parameter, plain.key) == ("", "", "")
    problem = governance.Problem.for_parameter("reference", "absent", key="region", code=ProblemCode.UNKNOWN_NAME)
    assert (problem.location, problem.parameter, problem.key) == ("reference['region']", "reference", "region")
    assert str(problem) == "reference['region']: absent" and problem.code == "unknown_name"
    assert governance.PrivacyError("x").code == "" and governance.PrivacyError("x").parameter == ""
    refused = governance.PrivacyError("refused", code=ProblemCode.PERSONAL_DATA, parameter="--sensitive")
    assert (str(refused), refused.code, refused.parameter, refused.exit_code) == (
        "refused",
        "personal_data",
        "--sensitive",
        4,
    )
