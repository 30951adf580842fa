"""governance: make account-scoring models fair, explainable and accountable before they are used.

The public entry points; each lives in the module named for its concept.
"""

from governance.config import GovernanceConfig, load_config
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
from governance.pipeline import Outcome, run

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataValidationError",
    "Dataset",
    "GateFailure",
    "GovernanceConfig",
    "GovernanceError",
    "Outcome",
    "PrivacyError",
    "Problem",
    "RegistryError",
    "__version__",
    "generate_accounts",
    "load_config",
    "prepare",
    "run",
    "write_accounts",
]
