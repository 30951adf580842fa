"""governance: make account-scoring models fair, explainable and accountable before they are used.

The public entry points; each lives in the module named for its concept. Functions named like
their module (``governance.audit.audit``, ``governance.pipeline.train``) are not re-exported here,
so that ``governance.audit`` and ``governance.train`` stay the modules.
"""

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
