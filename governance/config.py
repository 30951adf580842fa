"""Typed configuration: one YAML file, validated once, every problem reported together.

:func:`load_config` is the only place that reads YAML or the environment.
Everything downstream receives a frozen :class:`GovernanceConfig` and trusts it:
the environment variables below are resolved into its :attr:`~GovernanceConfig.environment`
once (by :func:`load_config`; for a config built in code, at its first use), and later
changes to the environment change nothing.

Relative paths in a config file are resolved against the folder that holds
the file, so a run gives the same result whatever the working directory.
The policy section (its rules, files and fingerprint) is :mod:`governance.policy`.

Environment variables read here:

``GOVERNANCE_PSEUDONYM_KEY``
    Secret key of the HMAC-SHA256 pseudonyms. When unset a public development
    key is used, a loud warning is given and the card says so.
``GOVERNANCE_STRICT``
    When ``1``, a missing pseudonymization key is refused (exit 4) instead.
``MLFLOW_TRACKING_URI``
    Used when the config names no tracking URI.
"""

from __future__ import annotations

import hashlib
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from governance._config_base import (
    Name,
    YamlRefused,
    _check_bins,
    _code,
    _has_password,
    _pydantic_problem,
    _Section,
    _unique,
    _with_line,
    _yaml_error,
    bin_labels,
    plural,
    read_yaml,
)
from governance._config_rules import _cross_field_problems
from governance.errors import ConfigError, PrivacyError, Problem, ProblemCode
from governance.metrics import FAIRNESS_METRICS, METRICS
from governance.policy import (
    PolicyRule,
    PolicySpec,
    _in_policy_file,
    _policy_file,
    load_policy,
    policy_sha256,
    validate_policy,
)

__all__ = [
    "AUDIT_METRICS",
    "DEVELOPMENT_KEY",
    "FAIRNESS_METRICS",
    "AuditSpec",
    "Candidate",
    "ConsentSpec",
    "DataSpec",
    "DatasetBasis",
    "Environment",
    "ExplainSpec",
    "Feature",
    "GenerateSpec",
    "GovernanceConfig",
    "Mitigation",
    "MlflowSpec",
    "MonitorSpec",
    "OutputSpec",
    "PolicyRule",
    "PolicySpec",
    "PseudonymKey",
    "Purpose",
    "RiskSpec",
    "SensitiveAttribute",
    "SensitiveSpec",
    "SplitSpec",
    "SubjectsSpec",
    "bin_labels",
    "load_config",
    "load_policy",
    "plural",
    "policy_sha256",
    "pseudonym_key",
    "tracking_uri",
    "validate_config",
    "validate_policy",
]

#: Per-group metrics of the audit engine (in the order the card shows them) and the named fairness
#: metrics per sensitive attribute: the audit engine's own lists, so that policies accept exactly
#: what the engine computes.
AUDIT_METRICS: tuple[str, ...] = METRICS

#: Public development key; its use is recorded on every card.
DEVELOPMENT_KEY = b"governance-development-key-NOT-SECRET-do-not-use-in-production"

EstimatorKind = Literal["logistic_regression", "hist_gradient_boosting", "lightgbm"]
MitigationKind = Literal["exponentiated_gradient", "threshold_optimizer", "correlation_remover", "reweighing"]
ConstraintKind = Literal["demographic_parity", "equalized_odds", "true_positive_rate_parity"]


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the config file's folder."""
    base = (info.context or {}).get("base_dir")
    if value.is_absolute() or base is None:
        return value
    return (Path(base) / value).resolve()


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]


#: Risk tiers of the EU AI Act a card can record (an unacceptable, prohibited practice gets no card).
RiskRating = Literal["minimal", "limited", "high"]
#: Lifecycle statuses a config may declare: only the ones that hold a card back (approval is earned, not declared).
DeclaredStatus = Literal["draft", "archived"]


class RiskSpec(_Section):
    """The provider's risk classification of the system, and why (``purpose.risk``, printed on every card).

    ``rating`` is a tier of the EU AI Act: ``minimal``, ``limited`` (transparency duties) or
    ``high`` (Annex III uses, such as creditworthiness of natural persons: Annex IV documentation
    is due). ``rationale`` says why, in the provider's words; ``TODO`` is refused.
    """

    rating: RiskRating
    rationale: Annotated[str, Field(min_length=1)]


class Purpose(_Section):
    """What the score is for, what it must not be used for, and what one row of the data is.

    ``subject`` is the word for one row (``account``, ``applicant``, ``person``,
    ``company``...): cards, plots and reports count and describe rows with it.
    ``caveats`` are printed on every card as they are written, and nothing
    domain-specific is added to them. ``risk`` is the provider's risk rating with
    its rationale; ``status`` may declare a card ``draft`` or ``archived`` whatever
    its gate and reviews say (left out, the status follows from them).
    """

    intended_use: Annotated[str, Field(min_length=1)]
    out_of_scope: tuple[str, ...] = ()
    owner: str | None = None
    contact: str | None = None
    subject: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z][A-Za-z -]*$")] = "account"
    subject_plural: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    caveats: tuple[str, ...] = ()
    risk: RiskSpec | None = None
    status: DeclaredStatus | None = None

    @property
    def subjects(self) -> str:
        """The plural of :attr:`subject` (``subject_plural`` when declared)."""
        return self.subject_plural or plural(self.subject)


class GenerateSpec(_Section):
    """Generate the synthetic ABM accounts at ``data.path`` when the file is missing."""

    rows: Annotated[int, Field(gt=0)] = 50_000
    seed: Annotated[int, Field(ge=0)] = 0
    bias: Annotated[float, Field(ge=0.0)] = 0.0


#: Lawful bases a whole dataset can be used on (GDPR Art. 6(1), and Art. 89 research; ``synthetic``: no real person).
DatasetBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interest",
    "research",
    "synthetic",
]

_CONSENT_COLUMN_KEYS = ("column", "timestamp_column", "lawful_basis_column")


class ConsentSpec(_Section):
    """Which records may be used: per row (consent columns) or for the whole dataset (a lawful basis).

    Per row (the default): the ``column`` flag must be true, ``timestamp_column``
    present (and current with ``max_age_days``), ``lawful_basis_column`` one of
    ``accepted_lawful_bases``; ``timestamp_column`` and ``lawful_basis_column``
    can be null to skip that check (the card says it was not checked).

    For the whole dataset: ``lawful_basis`` (``research``, ``contract``, ...) with
    a required ``reason``; no column is read, no row is excluded for consent, and
    the card says that no per-row check was made and why.
    """

    column: Name | None = "consent_marketing"
    timestamp_column: Name | None = "consent_timestamp"
    lawful_basis_column: Name | None = "lawful_basis"
    accepted_lawful_bases: tuple[str, ...] = ("consent", "legitimate_interest")
    max_age_days: Annotated[int, Field(gt=0)] | None = None
    as_of: date | None = None
    lawful_basis: DatasetBasis | None = None
    reason: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_columns_for_a_dataset_basis(cls, data: Any) -> Any:
        """With a dataset-wide ``lawful_basis``, the consent columns default to none."""
        if isinstance(data, Mapping) and data.get("lawful_basis") is not None:
            data = {**dict.fromkeys(_CONSENT_COLUMN_KEYS), **data}
        return data

    @property
    def per_row(self) -> bool:
        """True when consent is checked row by row (a consent column), not declared for the dataset."""
        return self.lawful_basis is None

    @property
    def columns(self) -> tuple[str, ...]:
        """The consent columns read from the data (none with a dataset-wide basis)."""
        return tuple(c for c in (self.column, self.timestamp_column, self.lawful_basis_column) if c)


class SplitSpec(_Section):
    """Train / validation / test shares of the split, stratified by label and sensitive group."""

    validation: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    test: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    seed: int = 0


class DataSpec(_Section):
    """Where the data is and what its columns mean."""

    path: ConfigPath
    generate: GenerateSpec | None = None
    id_column: Name = "account_id"
    label: Name = "converted_90d"
    consent: ConsentSpec = ConsentSpec()
    pii_columns: tuple[str, ...] = ()
    split: SplitSpec = SplitSpec()
    require_pseudonym_key: bool = False


def _check_describe(value: str | None) -> str | None:
    """Check that a reason-code phrase names ``{value}`` and no other placeholder."""
    if value is None:
        return value
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(
            f"expected a phrase with the placeholder {{value}}, found an unbalanced brace ({exc})"
        ) from None
    if not fields or any(field != ("value", "", None) for field in fields):
        raise ValueError(
            "expected a phrase with the placeholder {value} and no other, "
            "such as '{value} website visits in the last 30 days'"
        )
    return value


class Feature(_Section):
    """A declared model feature and why it is needed (data minimization).

    ``describe`` is how a row's value reads in its reason codes, with the
    placeholder ``{value}`` (``"{value} website visits in the last 30 days"``);
    ``describe_values`` gives a categorical feature's codes in words
    (``{"A11": "checking balance below 0"}``), used in reason codes and access reports.
    """

    name: Name
    justification: str | None = None
    type: Literal["numeric", "categorical"] = "numeric"
    describe: Annotated[str, AfterValidator(_check_describe)] | None = None
    # categorical codes in words ({A11: "checking balance below 0"}), used by reason codes and access reports
    describe_values: dict[Annotated[str, BeforeValidator(_code)], Annotated[str, Field(min_length=1)]] | None = None

    def value_words(self, value: Any) -> str:
        """Return how one value of this feature reads: its ``describe_values`` words, else the value."""
        text = str(value)
        if self.describe_values and text in self.describe_values:
            return self.describe_values[text]
        return text


class SensitiveAttribute(_Section):
    """An attribute used for auditing only, never as a model input."""

    name: Name
    categories: tuple[str, ...] | None = None
    reference: str | None = None
    missing: Literal["error", "group"] = "error"
    missing_label: str = "unknown"
    # model features the attribute is defined from (size_band from employee_count): the model sees the
    # attribute by construction, so proxy checks report features that predict it but do not flag them;
    # `source` is always among them
    derived_from: tuple[str, ...] = ()
    # the numeric model feature the attribute is computed from, with `bins` (size_band from employee_count):
    # computed when the data is prepared, after the ledger's corrections, so a corrected source moves the
    # attribute with it; a column of the attribute's own name in the data is never read. Default: the
    # attribute is the data's column of its own name
    source: Name | None = None
    # a numeric attribute (an age) audited in bands: increasing edges, each band from its edge (included)
    # to the next (excluded); the groups are named by :func:`bin_labels` unless `labels` names them
    bins: (
        Annotated[
            tuple[Annotated[float, Field(allow_inf_nan=False)], ...], Field(min_length=1), AfterValidator(_check_bins)
        ]
        | None
    ) = None
    labels: tuple[Name, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _source_is_derived_from(cls, data: Any) -> Any:
        """Add ``source`` to ``derived_from``: an attribute computed from a feature is derived from it."""
        if isinstance(data, Mapping) and isinstance(data.get("source"), str):
            derived = data.get("derived_from")
            listed = list(derived) if isinstance(derived, list | tuple) else []
            if data["source"] not in listed:
                return {**data, "derived_from": [*listed, data["source"]]}
        return data

    @property
    def column(self) -> str:
        """The data column the attribute's values come from: its ``source``, else its own name."""
        return self.source or self.name

    @property
    def groups(self) -> tuple[str, ...] | None:
        """The attribute's groups: its bands' labels when binned, else its declared categories."""
        if self.bins is not None:
            return self.labels or bin_labels(self.bins)
        return self.categories


class SensitiveSpec(_Section):
    """The audit-only attributes, their intersections and the small-group rules."""

    attributes: Annotated[tuple[SensitiveAttribute, ...], Field(min_length=1)]
    intersections: tuple[tuple[str, ...], ...] = ()
    min_group_size: Annotated[int, Field(gt=0)] = 30
    # a group is judged on a rate only when the rate's denominator (positives for TPR/FNR, negatives for
    # FPR/TNR, selected accounts for precision, rows for selection rate) reaches this many events
    min_events: Annotated[int, Field(gt=0)] = 10
    publish_min_group_size: Annotated[int, Field(gt=0)] = 10

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the sensitive attributes, in config order."""
        return tuple(a.name for a in self.attributes)


class Mitigation(_Section):
    """A fairlearn mitigation wrapped around a candidate's estimator."""

    kind: MitigationKind
    constraint: ConstraintKind | None = None
    attribute: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Candidate(_Section):
    """A candidate scoring model: an estimator, its hyper-parameters, an optional mitigation."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    kind: EstimatorKind
    params: dict[str, Any] = Field(default_factory=dict)
    mitigation: Mitigation | None = None


class AuditSpec(_Section):
    """The decision rule and the uncertainty of the audit."""

    top_k: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    threshold: float | None = None
    precision_at_k: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    bootstrap: Annotated[int, Field(ge=0)] = 1000
    # level of the audit's printed intervals; null: the policy's confidence (so the card's intervals and the
    # gate's verdicts come from the same method at the same level)
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None
    seed: int = 0


class ExplainSpec(_Section):
    """SHAP sample, reason codes, proxy and minimization thresholds."""

    sample_per_group: Annotated[int, Field(gt=0)] = 500
    background_size: Annotated[int, Field(gt=0)] = 50
    reason_codes: Annotated[int, Field(gt=0, le=20)] = 3
    proxy_nmi_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.05
    proxy_auc_threshold: Annotated[float, Field(gt=0.5, le=1.0)] = 0.65
    minimization_tolerance: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.005
    seed: int = 0
    # intervals of the SHAP importances (bootstrap replicates, 0: none) and their level
    bootstrap: Annotated[int, Field(ge=0)] = 1000
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.95
    # training (and validation) rows of each drop-column refit, and rows of the joint proxy classifier
    minimization_rows: Annotated[int, Field(ge=100)] = 10_000
    proxy_rows: Annotated[int, Field(ge=100)] = 20_000


class MlflowSpec(_Section):
    """Where runs are tracked; ``tracking_uri: null`` falls back to the env, then the embedded store."""

    tracking_uri: str | None = None
    embedded_store: ConfigPath = Path("mlruns")

    @field_validator("tracking_uri")
    @classmethod
    def _resolve_sqlite(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Resolve a relative SQLite store (``sqlite:///mlruns/mlflow.db``) against the config's folder."""
        base = (info.context or {}).get("base_dir")
        prefix = "sqlite:///"
        if value is None or base is None or not value.startswith(prefix):
            return value
        rest = value[len(prefix) :]
        if not rest or rest.startswith("/") or rest.startswith(":memory:") or Path(rest).is_absolute():
            return value
        path, sep, query = rest.partition("?")
        return f"{prefix}{(Path(base) / path).resolve()}{sep}{query}"

    experiment: Name = "governance"
    registered_model: Name = "scoring-model"
    timeout_seconds: Annotated[float, Field(gt=0.0, le=120.0)] = 10.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 2


class OutputSpec(_Section):
    """Folders the run writes to."""

    reports: ConfigPath = Path("reports")
    models: ConfigPath = Path("models")


class SubjectsSpec(_Section):
    """Data-subject rights: where the hash-chained ledger of requests and changes is kept.

    ``ledger: null`` (the default) means no ledger: the ``governance subject`` and
    ``governance feedback`` commands refuse, and the data is used as the file holds it.
    The ledger's private values (corrections, reasons, feedback texts) are kept beside
    it in ``<ledger>.vault.json``, its sealed head in ``<ledger>.head.json``; the head is also
    anchored in the MLflow experiment, so a deleted or rolled-back ledger is refused (exit 4).
    """

    ledger: ConfigPath | None = None
    # a registered version trained with an account erased later may be used this many days after the
    # erasure, the time to retrain without it; then it is refused wherever it would be used or promoted
    erasure_grace_days: Annotated[int, Field(ge=0, le=365)] = 30


class MonitorSpec(_Section):
    """Re-evaluation of the champion on new data: population stability index (PSI) settings.

    PSI = sum over bins of (new share - reference share) x ln(new share / reference share);
    below ``psi_moderate`` the distribution is stable, from ``psi_significant`` on it has shifted.
    """

    psi_bins: Annotated[int, Field(ge=2, le=100)] = 10
    psi_moderate: Annotated[float, Field(gt=0.0)] = 0.1
    psi_significant: Annotated[float, Field(gt=0.0)] = 0.25


class GovernanceConfig(_Section):
    """The whole, validated configuration of a governance run."""

    version: Literal[1] = 1
    seed: int = 0
    purpose: Purpose
    data: DataSpec
    features: Annotated[tuple[Feature, ...], Field(min_length=1)]
    sensitive: SensitiveSpec
    candidates: Annotated[tuple[Candidate, ...], Field(min_length=1)]
    audit: AuditSpec = AuditSpec(top_k=0.2)
    explain: ExplainSpec = ExplainSpec()
    policy: PolicySpec = PolicySpec()
    mlflow: MlflowSpec = MlflowSpec()
    output: OutputSpec = OutputSpec()
    subjects: SubjectsSpec = SubjectsSpec()
    monitor: MonitorSpec = MonitorSpec()

    _path: Path | None = PrivateAttr(default=None)
    _sha256: str = PrivateAttr(default="")
    _environment: Environment | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """Resolve the environment given as ``context["environ"]``, if any (else at first use)."""
        environ = context.get("environ") if isinstance(context, Mapping) else None
        if environ is not None:
            self._environment = Environment.read(environ)

    @property
    def environment(self) -> Environment:
        """The environment variables as :func:`load_config` found them (built in code: as at first use)."""
        if self._environment is None:
            self._environment = Environment.read()
        return self._environment

    @property
    def path(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._path

    @property
    def sha256(self) -> str:
        """sha256 of the config file's bytes (empty for configs built in code)."""
        return self._sha256

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the declared model features, in config order."""
        return tuple(f.name for f in self.features)

    @property
    def audit_confidence(self) -> float:
        """The level of the audit's intervals: ``audit.confidence``, else the policy's."""
        return self.audit.confidence if self.audit.confidence is not None else self.policy.confidence


# ---------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> GovernanceConfig:
    """Load, validate and freeze a governance config, and resolve the environment into it.

    Parameters
    ----------
    path
        A YAML file.
    environ
        The environment variables to resolve (default: ``os.environ``, read now and never again).

    Returns
    -------
    GovernanceConfig
        The validated config; relative paths resolved against the file's folder.

    Raises
    ------
    ConfigError
        With every problem found (shape, types and cross-field rules), each
        naming its YAML path and line, the expected and the found value.
    """
    file = Path(path)
    try:
        raw_bytes = file.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError([Problem(str(file), "config file not found", "check the path")]) from exc
    except OSError as exc:
        raise ConfigError([Problem(str(file), f"cannot read the config file ({exc.strerror})")]) from exc
    try:
        raw, lines = read_yaml(raw_bytes)
    except YamlRefused as exc:
        raise ConfigError(
            [Problem(exc.where or "(file)", f"refused: {exc.message}", exc.fix)], source=str(file)
        ) from exc
    except yaml.YAMLError as exc:
        where, problem = _yaml_error(exc)
        raise ConfigError([Problem(where or "?", f"not valid YAML: {problem}")], source=str(file)) from exc
    if not isinstance(raw, dict):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError([Problem("(top level)", f"expected a mapping of sections, found {found}")], source=str(file))
    environ = os.environ if environ is None else environ
    config = validate_config(raw, base_dir=file.resolve().parent, lines=lines, source=str(file), environ=environ)
    config._path = file.resolve()
    config._sha256 = hashlib.sha256(raw_bytes).hexdigest()
    return config


def validate_config(
    raw: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    lines: Mapping[tuple[str | int, ...], int] | None = None,
    source: str = "",
    environ: Mapping[str, str] | None = None,
) -> GovernanceConfig:
    """Validate a config given as plain data (what YAML parses to).

    Shape and type problems (pydantic) and cross-field rules are collected
    together and raised once as a :class:`ConfigError`.

    Parameters
    ----------
    raw
        The config's sections, as YAML parses them.
    base_dir
        The folder relative paths are resolved against (default: left relative).
    lines
        The line of every YAML path, for the problems' locations.
    source
        The file the config comes from, named by the error.
    environ
        The environment variables to resolve now (default: ``os.environ``, read when the config
        is first used, so that code may build a config before it sets the environment).

    Returns
    -------
    GovernanceConfig
        The validated config.

    Raises
    ------
    ConfigError
        With every problem found.
    """
    raw, line_of, policy_file, file_problems = _policy_file(raw, base_dir=base_dir, lines=lines or {})
    problems: list[Problem] = []
    model: GovernanceConfig | None = None
    try:
        model = GovernanceConfig.model_validate(dict(raw), context={"base_dir": base_dir, "environ": environ})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # a container error (too short, ...) caused by a failing item says nothing the item's error does not
        locs = [tuple(e["loc"]) for e in errors]
        errors = [
            e for e in errors if not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in locs)
        ]
        problems += [_pydantic_problem(err, line_of, root=GovernanceConfig) for err in errors]
    problems += [Problem(_with_line(loc, line_of), message, fix) for loc, message, fix in _cross_field_problems(raw)]
    if policy_file:
        problems = [_in_policy_file(p, policy_file) for p in problems]
    problems = file_problems + problems
    if problems:
        raise ConfigError(_unique(problems), source=source)
    assert model is not None
    return model


# ---------------------------------------------------------------- environment


@dataclass(frozen=True)
class Environment:
    """The environment variables governance reads, resolved once into a config.

    Parameters
    ----------
    tracking_uri
        ``MLFLOW_TRACKING_URI`` (None when unset or empty).
    strict
        ``GOVERNANCE_STRICT=1``: a missing pseudonymization key is refused.
    pseudonym_secret
        ``GOVERNANCE_PSEUDONYM_KEY`` (empty when unset); never shown by ``repr``.
    """

    tracking_uri: str | None = None
    strict: bool = False
    pseudonym_secret: str = field(default="", repr=False)

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        """Read the variables from ``environ`` (default: ``os.environ``).

        Parameters
        ----------
        environ
            A mapping of environment variables.

        Returns
        -------
        Environment
            The resolved values.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        return cls(
            tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            strict=env.get("GOVERNANCE_STRICT") == "1",
            pseudonym_secret=env.get("GOVERNANCE_PSEUDONYM_KEY", ""),
        )

    def __repr__(self) -> str:
        """Show the values without the key, or a tracking URI's password."""
        uri = (
            "<hidden: carries a password>"
            if self.tracking_uri and _has_password(self.tracking_uri)
            else self.tracking_uri
        )
        key = "<hidden>" if self.pseudonym_secret else "<unset>"
        return f"Environment(tracking_uri={uri!r}, strict={self.strict}, pseudonym_secret={key})"


@dataclass(frozen=True)
class PseudonymKey:
    """The pseudonymization key and whether it is the public development key."""

    secret: bytes
    development_key: bool

    def __repr__(self) -> str:
        """Show the kind of key, never the key: it must not reach a log or a traceback."""
        return f"PseudonymKey(secret=<hidden>, development_key={self.development_key})"


def pseudonym_key(config: GovernanceConfig | None = None, *, require: bool | None = None) -> PseudonymKey:
    """Return the HMAC key from ``GOVERNANCE_PSEUDONYM_KEY``, or the development key.

    Parameters
    ----------
    config
        The config whose resolved environment holds the key. Without one, the
        environment is read now (for code that has no config).
    require
        Refuse the development key (default: the config's ``data.require_pseudonym_key``,
        False without a config). ``GOVERNANCE_STRICT=1`` refuses it too.

    Returns
    -------
    PseudonymKey
        The key, hidden from ``repr``.

    Raises
    ------
    PrivacyError
        When the key is shorter than 16 characters, or when no key is set and one is required.
    """
    environment = config.environment if config is not None else Environment.read()
    if require is None:
        require = config is not None and config.data.require_pseudonym_key
    value = environment.pseudonym_secret
    if value:
        if len(value) < 16:
            raise PrivacyError(
                "GOVERNANCE_PSEUDONYM_KEY is too short: expected at least 16 characters of secret; "
                "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return PseudonymKey(value.encode("utf-8"), development_key=False)
    if require or environment.strict:
        raise PrivacyError(
            "GOVERNANCE_PSEUDONYM_KEY is not set and this environment requires a real pseudonymization key; "
            "set it to a secret of at least 16 characters"
        )
    return PseudonymKey(DEVELOPMENT_KEY, development_key=True)


def tracking_uri(config: GovernanceConfig) -> str:
    """Return the MLflow tracking URI: the config's, then ``MLFLOW_TRACKING_URI``, then the embedded store.

    Parameters
    ----------
    config
        The config; ``MLFLOW_TRACKING_URI`` is the value resolved when it was built.

    Returns
    -------
    str
        The URI.

    Raises
    ------
    ConfigError
        When the URI carries a password (exit 2, as the same password in the config's
        ``mlflow.tracking_uri`` is: a credential in the wrong place, found before anything runs).
    """
    uri = config.mlflow.tracking_uri or config.environment.tracking_uri or ""
    if uri and _has_password(uri):
        where = "mlflow.tracking_uri" if config.mlflow.tracking_uri else "MLFLOW_TRACKING_URI"
        problem = Problem(
            where,
            "the URI carries a password; credentials must never be logged or stored",
            "use MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead",
            code=ProblemCode.INVALID_VALUE,
            parameter="tracking_uri",
        )
        raise ConfigError([problem])
    if not uri:
        store = config.mlflow.embedded_store
        uri = f"sqlite:///{store / 'mlflow.db'}"
    return uri
