"""The texts ``governance init`` writes: the commented config, and the policy for any data.

Nothing here reads data: :mod:`governance.scaffold` decides what every column is, and these
functions write those decisions as YAML, every section commented (in the style of
``configs/default.yaml``). :data:`DEFAULT_POLICY` is also shipped as ``configs/policies/default.yaml``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from governance._config_base import bin_labels, plural

#: What a feature is justified by until a person writes why the score may use it (refused by config checks).
TODO_JUSTIFICATION = "TODO: why may the score use this column?"
#: What a dataset-wide lawful basis is explained by until a person writes it (refused by config checks).
TODO_REASON = "TODO: where does the data come from, and why may it be used for this score?"

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})
#: The policy for any data: its rules name no attribute, so they apply to every attribute and intersection.
DEFAULT_POLICY = """# governance: the promotion policy for any data (what `governance gate` checks).
# Its rules name no attribute: a rule without `attribute:` applies to EVERY
# sensitive attribute AND every intersection the config audits, so this file
# fits any config unchanged. `governance init` writes this same text beside the
# config it writes (`<config>.policy.yaml`); edit that copy for your domain.
#
# A config reads it with `policy: {file: PATH}` (relative to the config);
# `governance gate --card card.json --policy FILE` applies it to any card.
# Every key is validated (unknown keys, unknown metrics, a statistic that does
# not fit the scope are errors, reported with their line).
#
# How a rule is judged: the metric must stay at or below `bound` (side: max) or
# at or above it (side: min). With `decision: interval` a rule PASSES only when
# the whole confidence interval of the card's audit is on the good side, FAILS
# when it is wholly on the bad side, and is INCONCLUSIVE when it straddles the
# bound (the data cannot tell; the card then says about how many more test rows
# of which group would decide it). Groups below `sensitive.min_group_size`, or
# with fewer than `sensitive.min_events` events in a rate's denominator, are
# listed, never judged: small intersections are listed on the card, not judged.
# An undefined value (a ratio of zero selection rates, say) never passes.

# interval: the whole confidence interval decides (the burden of proof is on the
# model). point: the point estimate alone decides; use it only with far more
# data per group than a first model usually has.
decision: interval

# The level of every interval the gate judges. A rule fails a compliant model (or
# passes a breaching one) with probability at most (1 - confidence) / 2 = 2.5 %,
# simultaneously over the groups and pairs of groups it compares.
confidence: 0.95

# per_rule: each rule holds that 2.5 % on its own (the card states the bound over
# all rules). bonferroni: each rule is judged at 1 - 0.05 / R over the R
# statistical rules, so the whole gate fails a compliant model at most 2.5 % of the time.
error_control: per_rule

# What an inconclusive rule does, unless the rule says otherwise:
# fail = the gate does not pass (exit 1); warn = it passes with a warning.
on_inconclusive: fail

# Reviewers' sign-offs needed before a version becomes `champion` (checked at
# promotion, not by the gate). Raise it before the score is used for real.
required_approvals: 0

# Promotion ranks the candidates that pass by this metric (higher is better:
# auc or average_precision), on the validation split; never the test split,
# which is the one audited.
selection_metric: auc

# A card is valid for this many days after it was created; past that the gate
# fails the card, and the model must be audited again on current data.
valid_for_days: 90

# true: fail when the explanations find a feature the model could drop at a
# cost below explain.minimization_tolerance (data minimization). Off: the
# finding is printed as a warning on every gate run and shown on the card.
require_minimal_features: false

# true: fail when a model feature is flagged as a proxy of a sensitive
# attribute (explain.proxy_nmi_threshold / proxy_auc_threshold). Off: printed
# as a warning; whether a justified proxy may stay is a reviewer's call.
fail_on_proxies: false

# false: a model that reads a sensitive attribute when it scores (the threshold
# optimizer's group thresholds, the correlation remover's group offsets) fails
# the gate: using a protected attribute at decision time is disparate treatment
# in many jurisdictions. Set true only after legal review; the card still says so.
allow_sensitive_at_inference: false

rules:
  # The four-fifths rule (US EEOC Uniform Guidelines, 29 CFR 1607.4(D)): in
  # every attribute and intersection, the lowest selection rate of a group is
  # at least 80 % of the highest. Selection = being selected by the config's
  # decision rule (audit.top_k or audit.threshold). Fail-closed: the model must
  # show compliance (the lower end of the interval at least 0.8).
  - name: four-fifths rule on selection rate
    metric: selection_rate
    scope: disparity
    statistic: ratio          # min / max over the groups (or reference_ratio: against the reference group)
    bound: 0.8
    side: min

  # Equalized odds: positives (true positive rate) and negatives (false
  # positive rate) of every group are selected at similar rates; the larger of
  # the two max - min gaps is at most 10 percentage points. It blocks only on
  # evidence of a breach (the whole interval above 0.1) and warns when the data
  # cannot tell: small groups give intervals far wider than 0.1. Set
  # `on_inconclusive: fail` when your data allow it.
  - name: equalized odds difference
    metric: equalized_odds_difference
    scope: disparity
    bound: 0.1
    side: max
    on_inconclusive: warn

  # The score must rank well overall: 0.5 is chance. 0.7 is a placeholder:
  # set the bound from your domain (what a useful score reaches on this task).
  - name: overall AUC
    metric: auc
    scope: overall
    bound: 0.7
    side: min

  # ... and in every group of every attribute and intersection, so that no
  # group is ranked close to chance while the overall figure looks fine. Set
  # the bound from your domain too.
  - name: AUC in every group
    metric: auc
    scope: groups
    bound: 0.65
    side: min
"""


@dataclass(frozen=True)
class ColumnChoice:
    """What :func:`propose` decided for one column of the file.

    Parameters
    ----------
    name
        The column.
    role
        ``id``, ``label``, ``pii``, ``sensitive``, ``consent``, ``feature`` or ``left out``.
    detail
        Why, in a few words (types and counts, never a cell value).
    """

    name: str
    role: str
    detail: str


@dataclass(frozen=True)
class _Attribute:
    """A proposed sensitive attribute: categories or bands, the reference group, missing values."""

    name: str
    categories: tuple[str, ...] | None
    bins: tuple[float, ...] | None
    reference: str
    missing_label: str | None
    groups: int


@dataclass(frozen=True)
class _Consent:
    """The per-row consent columns found (the flag, and optionally its timestamp and lawful basis)."""

    column: str
    timestamp_column: str | None
    lawful_basis_column: str | None


def policy_path_of(config_path: Path) -> Path:
    """Return where the policy of a config goes: ``<config stem>.policy.yaml`` beside it.

    Parameters
    ----------
    config_path
        The config file.

    Returns
    -------
    pathlib.Path
        The policy file.
    """
    return config_path.with_name(f"{config_path.stem}.policy.yaml")


# ---------------------------------------------------------------- the config's text


def _q(value: str) -> str:
    """Write a string as YAML: plain when it cannot be read as anything else, else double-quoted."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _q_or_null(value: str | None) -> str:
    """Write a column name, or YAML's null when there is none."""
    return _q(value) if value else "null"


def _number(value: float) -> str:
    """Write a bin edge as YAML: an integer when it is one."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _names(values: Sequence[str]) -> str:
    """Write a flow list of names."""
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _slug(stem: str) -> str:
    """Return an MLflow-safe name from a file stem."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "scoring"


def _config_text(
    rows: int,
    *,
    data_path: Path,
    config_path: Path,
    stem: str,
    label: str,
    id_column: str,
    subject: str,
    attributes: Sequence[_Attribute],
    consent: _Consent | None,
    pii_columns: Sequence[str],
    features: Sequence[tuple[str, str, str]],
    left_out: Sequence[ColumnChoice],
) -> str:
    """Assemble the commented config, section by section."""
    folder = config_path.resolve().parent
    try:
        data = os.path.relpath(data_path.resolve(), folder)
    except ValueError:  # another drive
        data = str(data_path.resolve())
    slug = _slug(stem)
    parts = [
        _header(config_path.name, data_path.name, rows),
        _purpose(subject, plural(subject), label),
        _data(data, id_column, label, consent, pii_columns),
        _features(features, left_out),
        _sensitive(attributes),
        _candidates(attributes[0].name),
        _rest(policy_path_of(config_path).name, slug, plural(subject)),
    ]
    return "\n".join(parts)


def _header(name: str, data_name: str, rows: int) -> str:
    """Write the file's opening comment: where it comes from and what is left to do."""
    return f"""# governance: the configuration for {data_name} ({rows:,} rows), written by `governance init`.
#
# Replace every TODO (`grep -n TODO {name}`): only you can say why the score may use
# each column and on what basis the data may be used. `governance config check {name}`
# refuses a TODO, names every other problem with its line, and checks that every column
# named here is in the file. Then `governance run --config {name}` trains, audits,
# explains and gates the candidates and writes a model card per candidate.
# Relative paths are resolved against THIS file's folder.

# Version of this config format.
version: 1
# Default seed; every random step below also takes its own explicit seed.
seed: 42
"""


def _purpose(subject: str, subjects: str, label: str) -> str:
    """Write the purpose section: a factual intended use built from the label, to be rewritten."""
    use = json.dumps(f"Rank {subjects} by their predicted probability of {label} = 1.", ensure_ascii=False)
    return f"""# What the score is for, and what it must not be used for. Printed on every card.
purpose:
  # A factual sentence built from the label: rewrite it in your domain's words (what the
  # ranking is used for, by whom).
  intended_use: {use}
  # Uses the score must not have, one line each, e.g. "Fully automated decisions about one {subject}."
  out_of_scope: []
  # owner: the team accountable for the model
  # contact: where a {subject} can contest a score (shown on cards and access reports)
  # What one row of the data is: cards, plots and reports count and describe rows with this word.
  subject: {_q(subject)}
  # Printed on every card as written: what a reader must know about this data (its period, its source...).
  caveats: []
"""


def _data(data: str, id_column: str, label: str, consent: _Consent | None, pii: Sequence[str]) -> str:
    """Write the data section: file, id, label, consent, personal data, split."""
    if consent is None:
        consent_text = f"""  # No consent column was found, so the basis of the whole dataset is declared instead:
  # one of consent | contract | legal_obligation | vital_interests | public_task |
  # legitimate_interest | research | synthetic, with the reason it applies (printed on every
  # card in place of a per-row check). With per-row consent columns, replace this with
  # `column:` (a true/false flag), `timestamp_column:` and `lawful_basis_column:`.
  consent:
    lawful_basis: research
    reason: {json.dumps(TODO_REASON)}"""
    else:
        consent_text = f"""  # Only rows with valid consent are used; the rest are excluded first and counted by reason.
  consent:
    column: {_q(consent.column)}              # must be true
    timestamp_column: {_q_or_null(consent.timestamp_column)}    # must be present (null: not checked)
    lawful_basis_column: {_q_or_null(consent.lawful_basis_column)}  # must be one of the accepted bases (null: not checked)
    accepted_lawful_bases: [consent, legitimate_interest]
    # max_age_days: 1095                   # optional: consent older than this (before as_of) is expired
    # as_of: 2026-06-30                    # required with max_age_days, for reproducible runs"""
    return f"""# Where the data is and what its columns mean.
data:
  # The data file (.csv or .parquet), relative to this file.
  path: {_q(data)}
  # The row identifier: pseudonymized before anything else sees it, never a feature.
  id_column: {_q(id_column)}
  # The outcome to predict: 0/1 (1: the outcome the score ranks by).
  label: {_q(label)}
{consent_text}
  # Personal data (found by name, or by values that look like e-mail addresses or phone
  # numbers): never a feature, never logged, dropped right after loading. Add any other.
  pii_columns: {_names(pii)}
  # Train / validation / test shares, stratified by label and sensitive group.
  # The test split is the one audited: it is the largest share, for narrow intervals.
  split:
    validation: 0.2
    test: 0.3
    seed: 42
  # true: refuse to run without GOVERNANCE_PSEUDONYM_KEY (set it for real data).
  require_pseudonym_key: false
"""


def _features(features: Sequence[tuple[str, str, str]], left_out: Sequence[ColumnChoice]) -> str:
    """Write the features section: every remaining column, each with a TODO justification."""
    lines = [
        "# The only columns a model may use, each with the reason it may (data minimization).",
        "# Write each justification (one line: why may the score use it?), or delete the feature.",
        '# `describe: "{value} ..."` says how a value reads in reason codes (`governance explain`).',
    ]
    if left_out:
        lines.append("# Left out by init (add them back as features if the score needs them):")
        lines += [f"#   {_q(c.name)}: {c.detail}" for c in left_out]
    lines.append("features:")
    for name, kind, note in features:
        lines.append(f"  - name: {_q(name)}")
        if kind == "categorical":
            lines.append("    type: categorical")
        elif note.endswith("are they codes?"):
            lines.append(f"    # {note} then declare `type: categorical`")
        lines.append(f"    justification: {json.dumps(TODO_JUSTIFICATION)}")
    return "\n".join(lines) + "\n"


def _sensitive(attributes: Sequence[_Attribute]) -> str:
    """Write the sensitive section: categories or bands, reference groups, pairwise intersections."""
    lines = [
        "# Audit-only attributes: never model inputs; every group and intersection is audited.",
        "# `reference` is the largest group (disparities are also measured against it); a number with",
        "# many values is audited in bands (`bins`: each band from its edge, included, to the next).",
        "sensitive:",
        "  attributes:",
    ]
    for attr in attributes:
        lines.append(f"    - name: {_q(attr.name)}")
        if attr.bins is not None:
            lines.append(
                f"      bins: [{', '.join(_number(b) for b in attr.bins)}]   # bands {', '.join(bin_labels(attr.bins))}"
            )
        else:
            lines.append(f"      categories: {_names(attr.categories or ())}")
        lines.append(f"      reference: {_q(attr.reference)}")
        if attr.missing_label is not None:
            lines.append(
                f"      missing: group            # rows without a value are audited as {_q(attr.missing_label)}"
            )
            if attr.missing_label != "unknown":
                lines.append(f"      missing_label: {_q(attr.missing_label)}")
        else:
            lines.append("      missing: error            # or `group`, to audit missing values as a group")
    pairs = list(itertools.combinations([a.name for a in attributes], 2))
    if pairs:
        lines.append('  # Every pair of attributes, named "a & b" in reports. Small intersections are listed on')
        lines.append("  # the card (with their size), not judged: below min_group_size there is no verdict.")
        lines.append("  intersections:")
        lines += [f"    - {_names(list(p))}" for p in pairs]
    lines += [
        '  # Groups smaller than this get no verdict ("insufficient data").',
        "  min_group_size: 30",
        "  # A rate is judged only when its denominator (positives, negatives, selected rows...) has this many events.",
        "  min_events: 10",
        '  # Groups smaller than this are published as "fewer than k", never with exact counts.',
        "  publish_min_group_size: 10",
    ]
    return "\n".join(lines) + "\n"


def _candidates(attribute: str) -> str:
    """Write three cheap candidates: a logistic regression, a LightGBM, and a reweighed logistic regression."""
    return f"""# Candidate scoring models, all trained by `governance run`. Each is a scikit-learn Pipeline
# (median/constant imputation, signed log1p + scaling, one-hot encoding) around one estimator
# `kind`: logistic_regression, hist_gradient_boosting or lightgbm, with its `params`.
# An optional fairlearn `mitigation` wraps a candidate, on one sensitive attribute:
#   reweighing              Kamiran-Calders sample weights; no options.
#   exponentiated_gradient  needs `constraint` (demographic_parity, equalized_odds,
#                           true_positive_rate_parity); slower: one fit per iteration.
#   threshold_optimizer     needs `constraint`. READS THE SENSITIVE ATTRIBUTE AT INFERENCE.
#   correlation_remover     option alpha. READS THE SENSITIVE ATTRIBUTE AT INFERENCE.
# Kept small so that a first run takes minutes; add candidates once the card reads well.
candidates:
  # Plain models: what the data teaches without any fairness constraint.
  - name: logistic_regression
    kind: logistic_regression
    params:
      C: 1.0
      max_iter: 1000
  - name: lightgbm
    kind: lightgbm
    params:
      n_estimators: 200
      learning_rate: 0.05
      num_leaves: 31
      n_jobs: 1              # one thread: deterministic and fair to a shared machine
  # A mitigated model: rows reweighed so that label and {_q(attribute)} are independent in training.
  - name: logistic_regression_reweighed
    kind: logistic_regression
    params:
      C: 1.0
      max_iter: 1000
    mitigation:
      kind: reweighing
      attribute: {_q(attribute)}
"""


def _rest(policy: str, slug: str, subjects: str) -> str:
    """Write the audit, explain, policy, mlflow, output, subjects and monitor sections, with their defaults."""
    return f"""# How {subjects} are selected, and how uncertain the audit may be.
audit:
  top_k: 0.2             # the top 20 % of {subjects} are selected (or set `threshold:` on the score)
  precision_at_k: 0.1    # precision among each group's top 10 %
  # Rates get Wilson score intervals, AUCs DeLong intervals, disparities simultaneous pairwise
  # intervals; the bootstrap gives the standard errors of mean scores and calibration gaps.
  bootstrap: 1000
  seed: 42

# Explanations (SHAP on a group-stratified sample of the test split), proxies and minimization.
explain:
  sample_per_group: 500        # rows of each group explained (all of a smaller group)
  background_size: 50          # reference rows of the linear and model-agnostic explainers
  reason_codes: 3              # reasons given per row by `governance explain`
  bootstrap: 1000              # replicates of the importance intervals (0: no intervals)
  confidence: 0.95
  # A feature is flagged as a proxy of a sensitive attribute when it alone reveals it this well:
  # normalized mutual information, or one-vs-rest AUC.
  proxy_nmi_threshold: 0.05
  proxy_auc_threshold: 0.65
  proxy_rows: 20000
  # A feature can be dropped when refitting without it keeps the validation AUC within this tolerance.
  minimization_tolerance: 0.005
  minimization_rows: 10000
  seed: 42

# The promotion gate, in its own commented file beside this one (rules on every sensitive
# attribute and intersection: the four-fifths rule, equalized odds, AUC overall and per group).
# Set its AUC bounds from your domain.
policy:
  file: {_q(policy)}

# MLflow: tracking_uri null = $MLFLOW_TRACKING_URI, else the embedded SQLite store in
# `embedded_store` beside this file (created on first use).
mlflow:
  tracking_uri: null
  embedded_store: mlruns
  experiment: {_q(slug)}
  registered_model: {_q(slug)}
  timeout_seconds: 10
  max_retries: 2

# Where cards and exported models are written.
output:
  reports: reports
  models: models

# Data-subject rights (`governance subject`, `governance feedback`, `governance ledger`): every
# request is an entry of this append-only, hash-chained ledger (created on first use), applied
# by every command that reads the data. It is sealed with GOVERNANCE_PSEUDONYM_KEY.
subjects:
  ledger: {_q(slug + ".ledger.jsonl")}

# Re-evaluation on a new labelled batch (`governance monitor`): population stability index.
monitor:
  psi_bins: 10
  psi_moderate: 0.1
  psi_significant: 0.25
"""
