"""governance: make account-scoring models fair, explainable and accountable before they are used.

The public entry points; each lives in the module named for its concept. Functions named like
their module (``governance.audit.audit``, ``governance.pipeline.train``) are not re-exported here,
so that ``governance.audit`` and ``governance.train`` stay the modules.

Every name is loaded on first access (PEP 562), so ``import governance`` costs nothing until
a name is used, and ``governance --version`` loads no computation library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.card import ModelCard, render_html
    from governance.config import GovernanceConfig, load_config, load_policy
    from governance.data import Dataset, prepare
    from governance.datasets import generate_accounts, write_accounts
    from governance.errors import (
        ConfigError,
        DataValidationError,
        GateFailure,
        GovernanceError,
        PrivacyError,
        Problem,
        RegistryError,
    )
    from governance.gate import GateReport, evaluate
    from governance.pipeline import Outcome, RunOutcome, run

__version__ = "0.1.0"

# each public name and the module it is loaded from
_SOURCES = {
    "AuditReport": "governance.audit",
    "ModelCard": "governance.card",
    "render_html": "governance.card",
    "GovernanceConfig": "governance.config",
    "load_config": "governance.config",
    "load_policy": "governance.config",
    "Dataset": "governance.data",
    "prepare": "governance.data",
    "generate_accounts": "governance.datasets",
    "write_accounts": "governance.datasets",
    "ConfigError": "governance.errors",
    "DataValidationError": "governance.errors",
    "GateFailure": "governance.errors",
    "GovernanceError": "governance.errors",
    "PrivacyError": "governance.errors",
    "Problem": "governance.errors",
    "RegistryError": "governance.errors",
    "GateReport": "governance.gate",
    "evaluate": "governance.gate",
    "Outcome": "governance.pipeline",
    "RunOutcome": "governance.pipeline",
    "run": "governance.pipeline",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first access, then keep it here.

    Parameters
    ----------
    name
        One of ``__all__``.

    Returns
    -------
    Any
        The class or function.

    Raises
    ------
    AttributeError
        ``name`` is not a public name of the package (nor one of its submodules).
    """
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'governance' has no attribute {name!r}")
    value = getattr(import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the module's names, the lazily loaded ones included.

    Returns
    -------
    list of str
        Every name ``dir(governance)`` shows.
    """
    return sorted(set(globals()) | set(__all__))
