"""Typed configuration: one YAML file, validated once, every problem reported together.

:func:`load_config` is the only place that reads YAML or the environment.
Everything downstream receives a frozen :class:`GovernanceConfig` and trusts it.

Relative paths in a config file are resolved against the folder that holds
the file, so a run gives the same result whatever the working directory.

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

import difflib
import hashlib
import os
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
)

from governance.errors import ConfigError, PrivacyError, Problem
from governance.metrics import FAIRNESS_METRICS, METRICS

__all__ = [
    "AUDIT_METRICS",
    "DEVELOPMENT_KEY",
    "FAIRNESS_METRICS",
    "AuditSpec",
    "Candidate",
    "ConsentSpec",
    "DataSpec",
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
    "SensitiveAttribute",
    "SensitiveSpec",
    "SplitSpec",
    "SubjectsSpec",
    "load_config",
    "load_policy",
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
_NEEDS_CONSTRAINT = frozenset({"exponentiated_gradient", "threshold_optimizer"})


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the config file's folder."""
    base = (info.context or {}).get("base_dir")
    if value.is_absolute() or base is None:
        return value
    return (Path(base) / value).resolve()


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Purpose(_Section):
    """What the score is for, and what it must not be used for."""

    intended_use: Annotated[str, Field(min_length=1)]
    out_of_scope: tuple[str, ...] = ()
    owner: str | None = None
    contact: str | None = None


class GenerateSpec(_Section):
    """Generate the synthetic ABM accounts at ``data.path`` when the file is missing."""

    rows: Annotated[int, Field(gt=0)] = 50_000
    seed: int = 0
    bias: Annotated[float, Field(ge=0.0)] = 0.0


class ConsentSpec(_Section):
    """Which records may be used: consent given, recorded, current, with an accepted lawful basis."""

    column: Name = "consent_marketing"
    timestamp_column: Name | None = "consent_timestamp"
    lawful_basis_column: Name | None = "lawful_basis"
    accepted_lawful_bases: tuple[str, ...] = ("consent", "legitimate_interest")
    max_age_days: Annotated[int, Field(gt=0)] | None = None
    as_of: date | None = None


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
    """A reason-code phrase must name ``{value}`` and no other placeholder (explanations, issue #5)."""
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

    ``describe`` is how an account's value reads in its reason codes, with the
    placeholder ``{value}`` (``"{value} website visits in the last 30 days"``).
    """

    name: Name
    justification: str | None = None
    type: Literal["numeric", "categorical"] = "numeric"
    describe: Annotated[str, AfterValidator(_check_describe)] | None = None


class SensitiveAttribute(_Section):
    """An attribute used for auditing only, never as a model input."""

    name: Name
    categories: tuple[str, ...] | None = None
    reference: str | None = None
    missing: Literal["error", "group"] = "error"
    missing_label: str = "unknown"
    # model features the attribute is defined from (size_band from employee_count): the model sees the
    # attribute by construction, so proxy checks report features that predict it but do not flag them
    derived_from: tuple[str, ...] = ()


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


class PolicyRule(_Section):
    """One gate rule: ``metric`` in ``scope`` must stay on the ``side`` of ``bound``.

    ``side: max`` means the bound is a maximum (observed <= bound passes);
    ``side: min`` means it is a minimum (observed >= bound passes).
    ``scope``: ``overall`` (all rows), ``groups`` (every group of ``attribute``),
    or ``disparity`` (``statistic`` of a per-group metric across the groups of
    ``attribute``, or a named fairness metric). ``attribute: null`` means every
    attribute and intersection of the audit. ``on_inconclusive`` overrides the
    policy's for this rule (``warn``: the rule blocks only on evidence of a breach).
    """

    name: Name
    metric: Name
    scope: Literal["overall", "groups", "disparity"]
    attribute: str | None = None
    statistic: Literal["difference", "ratio", "reference_difference", "reference_ratio"] | None = None
    bound: Annotated[float, Field(allow_inf_nan=False)]
    side: Literal["max", "min"]
    on_inconclusive: Literal["fail", "warn"] | None = None


class PolicySpec(_Section):
    """The promotion policy: rules, how intervals decide, approvals, validity.

    In a config, ``policy: {file: PATH}`` reads the whole policy from a YAML
    file (relative to the config's folder); see :func:`load_policy`.
    """

    decision: Literal["interval", "point"] = "interval"
    # the level of every interval the gate judges: a rule fails a compliant model, or passes a breaching one,
    # with probability at most (1 - confidence) / 2 each, simultaneously over the comparisons it makes
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    # per_rule: each rule holds that error on its own (the card states the family-wise bound over the rules);
    # bonferroni: each rule is judged at 1 - (1 - confidence) / R over the R statistical rules, so the whole
    # gate fails a compliant model with probability at most (1 - confidence) / 2
    error_control: Literal["per_rule", "bonferroni"] = "per_rule"
    on_inconclusive: Literal["fail", "warn"] = "fail"
    required_approvals: Annotated[int, Field(ge=0)] = 0
    valid_for_days: Annotated[int, Field(gt=0)] = 90
    require_minimal_features: bool = False
    fail_on_proxies: bool = False
    allow_sensitive_at_inference: bool = False
    rules: tuple[PolicyRule, ...] = ()
    # promotion: the metric (higher is better) that ranks passing candidates, on the validation split;
    # never the test split, which is the one audited
    selection_metric: Literal["auc", "average_precision"] = "auc"


class MlflowSpec(_Section):
    """Where runs are tracked; ``tracking_uri: null`` falls back to the env, then the embedded store."""

    tracking_uri: str | None = None
    embedded_store: ConfigPath = Path("mlruns")
    experiment: Name = "governance"
    registered_model: Name = "account-scoring"
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
    it in ``<ledger>.vault.json``, its sealed head in ``<ledger>.head.json``.
    """

    ledger: ConfigPath | None = None


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


def load_config(path: str | os.PathLike[str]) -> GovernanceConfig:
    """Load, validate and freeze a governance config.

    Parameters
    ----------
    path
        A YAML file.

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
    text = raw_bytes.decode("utf-8", errors="replace")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([Problem(where, f"not valid YAML: {problem}")], source=str(file)) from exc
    if not isinstance(raw, dict):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError([Problem("(top level)", f"expected a mapping of sections, found {found}")], source=str(file))
    lines = _line_index(text)
    config = validate_config(raw, base_dir=file.resolve().parent, lines=lines, source=str(file))
    config._path = file.resolve()
    config._sha256 = hashlib.sha256(raw_bytes).hexdigest()
    return config


def validate_config(
    raw: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    lines: Mapping[tuple[str | int, ...], int] | None = None,
    source: str = "",
) -> GovernanceConfig:
    """Validate a config given as plain data (what YAML parses to).

    Shape and type problems (pydantic) and cross-field rules are collected
    together and raised once as a :class:`ConfigError`.
    """
    raw, line_of, policy_file, file_problems = _policy_file(raw, base_dir=base_dir, lines=lines or {})
    problems: list[Problem] = []
    model: GovernanceConfig | None = None
    try:
        model = GovernanceConfig.model_validate(dict(raw), context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # a container error (too short, ...) caused by a failing item says nothing the item's error does not
        locs = [tuple(e["loc"]) for e in errors]
        errors = [
            e for e in errors if not any(len(o) > len(e["loc"]) and o[: len(e["loc"])] == tuple(e["loc"]) for o in locs)
        ]
        problems += [_pydantic_problem(err, raw, line_of) for err in errors]
    problems += [Problem(_with_line(loc, line_of), message, fix) for loc, message, fix in _cross_field_problems(raw)]
    if policy_file:
        problems = [_in_policy_file(p, policy_file) for p in problems]
    problems = file_problems + problems
    if problems:
        raise ConfigError(_unique(problems), source=source)
    assert model is not None
    return model


def _unique(problems: Sequence[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _format_loc(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def _with_line(loc: Sequence[str | int], lines: Mapping[tuple[str | int, ...], int]) -> str:
    key = tuple(loc)
    if key in lines:
        return f"{_format_loc(loc)} (line {lines[key]})"
    while key and key not in lines:
        key = key[:-1]
    line = lines.get(key) if key else None
    return _format_loc(loc) + (f" (in the mapping at line {line})" if line else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pydantic_problem(
    err: Mapping[str, Any], raw: Mapping[str, Any], lines: Mapping[tuple[str | int, ...], int]
) -> Problem:
    # pydantic puts union / tagged members and function validators in the loc; keep the YAML path only
    loc = [p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p))]
    kind = err["type"]
    where = _with_line(loc, lines)
    if kind == "missing":
        return Problem(where, "required key is missing", f"add `{loc[-1]}:`" if loc else "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"expected one of: {', '.join(allowed)}"
        return Problem(where, f"unknown key `{loc[-1]}`", hint)
    message = str(err["msg"])
    if message.startswith("Input should be "):
        message = "expected " + message[len("Input should be ") :]
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    else:
        message = message[0].lower() + message[1:]
    return Problem(where, f"{message}, found {_short(err.get('input'))}")


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    model: type[BaseModel] = GovernanceConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        inner = _model_in(field.annotation)
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map every YAML path to the 1-based line where its value starts."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                walk(value, sub)
                index[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


# ---------------------------------------------------------------- cross-field rules


def _items(raw: Any, key: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    seq = raw.get(key) if isinstance(raw, Mapping) else None
    if isinstance(seq, list):
        for i, item in enumerate(seq):
            if isinstance(item, Mapping):
                yield i, item


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


_Found = tuple[tuple[str | int, ...], str, str]


def _cross_field_problems(raw: Mapping[str, Any]) -> list[_Found]:
    """Rules that relate sections; robust to sections that failed their own validation."""
    found: list[_Found] = []
    data = _section(raw, "data")
    sensitive = _section(raw, "sensitive")
    id_col = data.get("id_column", "account_id")
    label = data.get("label", "converted_90d")
    pii = {str(c) for c in data.get("pii_columns") or [] if isinstance(c, str)}
    attrs = [a.get("name") for _, a in _items(sensitive, "attributes")]
    attr_set = {a for a in attrs if isinstance(a, str)}

    found += _feature_problems(raw, id_col=id_col, label=label, pii=pii, attrs=attr_set)
    found += _sensitive_problems(sensitive, id_col=id_col, label=label, pii=pii)
    found += _candidate_problems(raw, attrs=attr_set)
    found += _derived_from_problems(raw)

    audit = _section(raw, "audit")
    if audit.get("top_k") is not None and audit.get("threshold") is not None:
        found.append(
            (
                ("audit",),
                "both `top_k` and `threshold` are set; expected exactly one decision rule",
                "remove one of them",
            )
        )
    if "audit" in raw and audit.get("top_k") is None and audit.get("threshold") is None:
        found.append(
            (
                ("audit",),
                "no decision rule; expected `top_k` (share of accounts) or `threshold` (score)",
                "add `top_k: 0.2`, for example",
            )
        )

    split = _section(data, "split")
    val, test = split.get("validation", 0.2), split.get("test", 0.2)
    if isinstance(val, int | float) and isinstance(test, int | float) and val + test >= 1.0:
        found.append(
            (
                ("data", "split"),
                f"validation + test must be below 1 to leave training rows, found {val} + {test}",
                "lower them",
            )
        )
    consent = _section(data, "consent")
    if consent.get("max_age_days") is not None and consent.get("as_of") is None:
        found.append(
            (
                ("data", "consent", "as_of"),
                "`max_age_days` needs a fixed `as_of` date so that runs are reproducible",
                "add `as_of: 2026-01-01`, for example",
            )
        )

    known_groups = attr_set | {
        " & ".join(map(str, inter)) for inter in sensitive.get("intersections") or [] if isinstance(inter, list)
    }
    found += _policy_rule_problems(_section(raw, "policy"), known_groups=known_groups, prefix=("policy",))

    monitor = _section(raw, "monitor")
    moderate, significant = monitor.get("psi_moderate", 0.1), monitor.get("psi_significant", 0.25)
    if isinstance(moderate, int | float) and isinstance(significant, int | float) and moderate >= significant:
        found.append(
            (
                ("monitor", "psi_moderate"),
                f"expected psi_moderate below psi_significant, found {moderate} >= {significant}",
                "the usual bounds are 0.1 and 0.25",
            )
        )

    uri = _section(raw, "mlflow").get("tracking_uri")
    if isinstance(uri, str) and _has_password(uri):
        found.append(
            (
                ("mlflow", "tracking_uri"),
                "the URI carries a password; credentials must never be stored in a config",
                "use MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD instead",
            )
        )
    return found


def _feature_problems(
    raw: Mapping[str, Any], *, id_col: Any, label: Any, pii: set[str], attrs: set[Any]
) -> list[_Found]:
    found: list[_Found] = []
    seen: dict[str, int] = {}
    for i, feat in _items(raw, "features"):
        name = feat.get("name")
        loc: tuple[str | int, ...] = ("features", i)
        if not isinstance(name, str):
            continue
        if name in attrs:
            found.append(
                (
                    (*loc, "name"),
                    f"{name!r} is a sensitive attribute and cannot be a model feature",
                    "remove it from features or from sensitive.attributes",
                )
            )
        if name in pii:
            found.append(
                (
                    (*loc, "name"),
                    f"{name!r} is a PII column and can never be a model feature",
                    "remove it from features",
                )
            )
        if name == id_col:
            found.append(
                ((*loc, "name"), f"{name!r} is the id column and cannot be a model feature", "remove it from features")
            )
        if name == label:
            found.append(
                ((*loc, "name"), f"{name!r} is the label and cannot be a model feature", "remove it from features")
            )
        if name in seen:
            found.append(
                ((*loc, "name"), f"feature {name!r} is declared twice (also features[{seen[name]}])", "keep one")
            )
        seen.setdefault(name, i)
        justification = feat.get("justification")
        if not isinstance(justification, str) or not justification.strip():
            found.append(
                (
                    (*loc,),
                    f"feature {name!r} has no justification; every feature needs one line saying why the score may use it (data minimization)",
                    "add `justification: ...`",
                )
            )
    return found


def _sensitive_problems(sensitive: Mapping[str, Any], *, id_col: Any, label: Any, pii: set[str]) -> list[_Found]:
    found: list[_Found] = []
    names: list[str] = []
    for i, attr in _items(sensitive, "attributes"):
        name = attr.get("name")
        if not isinstance(name, str):
            continue
        loc: tuple[str | int, ...] = ("sensitive", "attributes", i, "name")
        if name in (id_col, label):
            found.append((loc, f"{name!r} is the id or the label and cannot be a sensitive attribute", ""))
        if name in names:
            found.append((loc, f"sensitive attribute {name!r} is declared twice", "keep one"))
        names.append(name)
        categories = attr.get("categories")
        reference = attr.get("reference")
        if isinstance(categories, list) and reference is not None and reference not in categories:
            found.append(
                (
                    (*loc[:-1], "reference"),
                    f"reference group {reference!r} is not one of the declared categories {categories}",
                    "",
                )
            )
    for j, inter in enumerate(sensitive.get("intersections") or []):
        loc = ("sensitive", "intersections", j)
        if not isinstance(inter, list):
            continue
        if len(inter) < 2:
            found.append((loc, f"an intersection crosses at least 2 attributes, found {len(inter)}", ""))
        for part in inter:
            if part not in names:
                found.append((loc, f"{part!r} is not a declared sensitive attribute; expected one of {names}", ""))
        if len(set(map(str, inter))) != len(inter):
            found.append((loc, "an intersection lists the same attribute twice", ""))
    return found


def _derived_from_problems(raw: Mapping[str, Any]) -> list[_Found]:
    """``sensitive.attributes[i].derived_from`` names declared model features (explanations, issue #5)."""
    found: list[_Found] = []
    features = [f.get("name") for _, f in _items(raw, "features")]
    for i, attr in _items(_section(raw, "sensitive"), "attributes"):
        derived = attr.get("derived_from")
        if not isinstance(derived, list):
            continue
        for j, name in enumerate(derived):
            if isinstance(name, str) and name not in features:
                close = difflib.get_close_matches(name, [f for f in features if isinstance(f, str)], n=1)
                hint = f"did you mean `{close[0]}`?" if close else "list only declared features"
                found.append(
                    (
                        ("sensitive", "attributes", i, "derived_from", j),
                        f"{name!r} is not a declared model feature; an attribute can only be derived from features",
                        hint,
                    )
                )
    return found


def _candidate_problems(raw: Mapping[str, Any], *, attrs: set[Any]) -> list[_Found]:
    found: list[_Found] = []
    seen: set[str] = set()
    for i, cand in _items(raw, "candidates"):
        loc: tuple[str | int, ...] = ("candidates", i)
        name = cand.get("name")
        if isinstance(name, str):
            if name in seen:
                found.append(((*loc, "name"), f"candidate name {name!r} is used twice; names must be unique", ""))
            seen.add(name)
        mitigation = cand.get("mitigation")
        if not isinstance(mitigation, Mapping):
            continue
        kind = mitigation.get("kind")
        if kind in _NEEDS_CONSTRAINT and mitigation.get("constraint") is None:
            found.append(
                (
                    (*loc, "mitigation", "constraint"),
                    f"{kind} needs a constraint: demographic_parity, equalized_odds or true_positive_rate_parity",
                    "",
                )
            )
        if kind in ("reweighing", "correlation_remover") and mitigation.get("constraint") is not None:
            found.append(
                (
                    (*loc, "mitigation", "constraint"),
                    f"{kind} takes no constraint (only exponentiated_gradient and threshold_optimizer do), "
                    f"found {mitigation.get('constraint')!r}",
                    "remove `constraint`",
                )
            )
        attribute = mitigation.get("attribute")
        if attribute is not None and attribute not in attrs:
            found.append(
                (
                    (*loc, "mitigation", "attribute"),
                    f"{attribute!r} is not a declared sensitive attribute; expected one of {sorted(a for a in attrs if isinstance(a, str))}",
                    "",
                )
            )
    return found


def _has_password(uri: str) -> bool:
    try:
        return urlsplit(uri).password is not None
    except ValueError:
        return False


# ---------------------------------------------------------------- policy files and rules


def load_policy(path: str | os.PathLike[str]) -> PolicySpec:
    """Load and validate a gate policy from a YAML file (``governance gate --policy FILE``).

    The file holds the keys of a config's ``policy`` section (``decision``,
    ``on_inconclusive``, ``rules``, ...) at its top level.

    Parameters
    ----------
    path
        A YAML file.

    Returns
    -------
    PolicySpec
        The validated policy.

    Raises
    ------
    ConfigError
        With every problem found, each naming its YAML path and line. Rule
        attributes are checked against the card when the gate runs.
    """
    file = Path(path)
    raw, lines, message = _read_policy_yaml(file)
    if message is not None:
        raise ConfigError([Problem(str(file), message)])
    return _validate_policy(raw, lines=lines, source=str(file), shown_prefix=False)


def validate_policy(raw: Any, *, source: str = "") -> PolicySpec:
    """Validate a policy given as plain data, such as the ``policy`` field of a card.

    Problems are located as ``policy.rules[0].metric``, the card's JSON path.

    Raises
    ------
    ConfigError
        With every problem found.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(
            [Problem("policy", f"expected a mapping of policy keys, found {type(raw).__name__}")], source=source
        )
    return _validate_policy(raw, lines={}, source=source, shown_prefix=True)


def _validate_policy(
    raw: Mapping[str, Any], *, lines: Mapping[tuple[str | int, ...], int], source: str, shown_prefix: bool
) -> PolicySpec:
    """Shape, types and rule checks of a policy; problems located under ``policy`` (prefix shown or not)."""
    # validated under a `policy` key so that errors and "did you mean" hints use the config's paths
    under = {("policy", *loc): line for loc, line in lines.items()}
    problems: list[Problem] = []
    model: PolicySpec | None = None
    try:
        model = PolicySpec.model_validate(dict(raw))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            problems.append(_pydantic_problem({**err, "loc": ("policy", *err["loc"])}, raw, under))
    problems += [
        Problem(_with_line(loc, under), message, fix)
        for loc, message, fix in _policy_rule_problems(raw, known_groups=None, prefix=("policy",))
    ]
    if not shown_prefix:
        problems = [Problem(p.location.removeprefix("policy."), p.message, p.fix) for p in problems]
    if problems:
        raise ConfigError(_unique(problems), source=source)
    assert model is not None
    return model


def _read_policy_yaml(file: Path) -> tuple[Mapping[str, Any], dict[tuple[str | int, ...], int], str | None]:
    """The policy file's mapping and line index, or why it cannot be read."""
    try:
        text = file.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return {}, {}, f"policy file {str(file)!r} not found; check the path (relative to the config's folder)"
    except OSError as exc:
        return {}, {}, f"cannot read the policy file {str(file)!r} ({exc.strerror})"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return {}, {}, f"the policy file {str(file)!r} is not valid YAML{where}: {problem}"
    if not isinstance(raw, dict):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        return {}, {}, f"the policy file {str(file)!r} must hold a mapping of policy keys, found {found}"
    return raw, _line_index(text), None


def _policy_file(
    raw: Mapping[str, Any], *, base_dir: Path | None, lines: Mapping[tuple[str | int, ...], int]
) -> tuple[Mapping[str, Any], Mapping[tuple[str | int, ...], int], str, list[Problem]]:
    """Replace ``policy: {file: PATH}`` by the file's policy, with its lines keyed under ``policy``.

    Returns the config to validate, its line index, the policy file as written
    (empty when the policy is inline) and the problems of the reference itself.
    """
    policy = raw.get("policy")
    if not isinstance(policy, Mapping) or "file" not in policy:
        return raw, lines, "", []
    problems: list[Problem] = []
    others = sorted(str(key) for key in policy if key != "file")
    if others:
        problems.append(
            Problem(
                _with_line(("policy",), lines),
                f"`file` cannot be combined with inline policy keys ({', '.join(others)}): the policy file is the whole policy",
                "move them into the policy file, or remove `file`",
            )
        )
    rest = {key: value for key, value in raw.items() if key != "policy"}
    name = policy["file"]
    where = _with_line(("policy", "file"), lines)
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(where, f"expected the path of a policy YAML file, found {_short(name)}"))
        return rest, lines, "", problems
    file = Path(name)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    policy_raw, policy_lines, message = _read_policy_yaml(file)
    if message is not None:
        problems.append(Problem(where, message))
        return rest, lines, "", problems
    merged = {**lines, **{("policy", *loc): line for loc, line in policy_lines.items()}}
    return {**rest, "policy": policy_raw}, merged, name, problems


def _in_policy_file(problem: Problem, name: str) -> Problem:
    """Point a problem found in the policy file at that file and its line."""
    location = problem.location
    if not (location == "policy" or location.startswith(("policy.", "policy "))):
        return problem
    if "(line " in location:
        location = location.replace("(line ", f"({name}, line ", 1)
    elif "(in the mapping at line " in location:
        location = location.replace("(in the mapping at line ", f"(in the mapping at {name}, line ", 1)
    else:
        location += f" (in {name})"
    return Problem(location, problem.message, problem.fix)


def _policy_rule_problems(
    policy: Mapping[str, Any], *, known_groups: set[str] | None, prefix: tuple[str | int, ...]
) -> list[_Found]:
    """Rules about rules: known metrics, statistics that fit the scope, attributes that exist, unique names."""
    found: list[_Found] = []
    metrics = set(AUDIT_METRICS) | set(FAIRNESS_METRICS)
    names: dict[str, int] = {}
    for i, rule in _items(policy, "rules"):
        loc: tuple[str | int, ...] = (*prefix, "rules", i)
        name, metric, scope = rule.get("name"), rule.get("metric"), rule.get("scope")
        statistic, attribute = rule.get("statistic"), rule.get("attribute")
        if isinstance(name, str):
            if name in names:
                found.append(
                    (
                        (*loc, "name"),
                        f"rule name {name!r} is used twice (also rules[{names[name]}]); names identify rules on the card and in JUnit",
                        "rename one",
                    )
                )
            names.setdefault(name, i)
        if isinstance(metric, str) and metric not in metrics:
            close = difflib.get_close_matches(metric, sorted(metrics), n=1)
            hint = f"did you mean `{close[0]}`?" if close else "see the README's metric list"
            found.append(((*loc, "metric"), f"unknown audit metric {metric!r}", hint))
        fairness = metric in FAIRNESS_METRICS
        if scope == "disparity" and statistic is None and metric in AUDIT_METRICS:
            found.append(
                (
                    (*loc, "statistic"),
                    "a disparity rule on a per-group metric needs `statistic`: difference, ratio, reference_difference or reference_ratio",
                    "",
                )
            )
        if fairness and scope in ("overall", "groups"):
            found.append(
                (
                    (*loc, "scope"),
                    f"{metric!r} compares the groups of an attribute; expected scope 'disparity', found {scope!r}",
                    "set `scope: disparity`",
                )
            )
        if statistic is not None and (fairness or scope in ("overall", "groups")):
            what = f"{metric!r} is already a disparity" if fairness else f"scope {scope!r} compares no groups"
            found.append(
                ((*loc, "statistic"), f"{what}, so it takes no `statistic`, found {statistic!r}", "remove `statistic`")
            )
        if scope == "overall" and attribute is not None:
            found.append(
                (
                    (*loc, "attribute"),
                    f"scope 'overall' covers all rows and takes no `attribute`, found {attribute!r}",
                    "remove `attribute`, or use scope 'groups' or 'disparity'",
                )
            )
        if scope == "disparity" and metric == "count":
            found.append(((*loc, "metric"), "'count' has no disparity; expected a rate or a score metric", ""))
        if known_groups is not None and attribute is not None and attribute not in known_groups:
            found.append(
                (
                    (*loc, "attribute"),
                    f"{attribute!r} is not a sensitive attribute or a configured intersection; expected one of {sorted(known_groups)}",
                    "",
                )
            )
    return found


# ---------------------------------------------------------------- environment


@dataclass(frozen=True)
class PseudonymKey:
    """The pseudonymization key and whether it is the public development key."""

    secret: bytes
    development_key: bool

    def __repr__(self) -> str:  # the key never reaches a log or a traceback
        return f"PseudonymKey(secret=<hidden>, development_key={self.development_key})"


def pseudonym_key(*, require: bool = False) -> PseudonymKey:
    """The HMAC key from ``GOVERNANCE_PSEUDONYM_KEY``, or the development key.

    Raises
    ------
    PrivacyError
        When no key is set and one is required (``require`` or ``GOVERNANCE_STRICT=1``).
    """
    value = os.environ.get("GOVERNANCE_PSEUDONYM_KEY", "")
    if value:
        if len(value) < 16:
            raise PrivacyError(
                "GOVERNANCE_PSEUDONYM_KEY is too short: expected at least 16 characters of secret; "
                "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return PseudonymKey(value.encode("utf-8"), development_key=False)
    if require or os.environ.get("GOVERNANCE_STRICT") == "1":
        raise PrivacyError(
            "GOVERNANCE_PSEUDONYM_KEY is not set and this environment requires a real pseudonymization key; "
            "set it to a secret of at least 16 characters"
        )
    return PseudonymKey(DEVELOPMENT_KEY, development_key=True)


def tracking_uri(config: GovernanceConfig) -> str:
    """The MLflow tracking URI: the config's, then ``MLFLOW_TRACKING_URI``, then the embedded store.

    Raises
    ------
    PrivacyError
        When the URI carries a password.
    """
    uri = config.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if uri and _has_password(uri):
        raise PrivacyError(
            "the MLflow tracking URI carries a password; credentials must never be logged or stored: "
            "use MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
        )
    if not uri:
        store = config.mlflow.embedded_store
        uri = f"sqlite:///{store / 'mlflow.db'}"
    return uri
