"""The promotion policy: its rules, their loading and checks, and its fingerprint.

A policy is the gate's contract: :class:`PolicyRule` (one metric, scope and
bound) and :class:`PolicySpec` (the rules, how intervals decide, approvals,
validity). It lives in a config's ``policy`` section, in a policy file
(``policy: {file: PATH}`` or ``governance gate --policy FILE``, read by
:func:`load_policy`) or in a card (checked by :func:`validate_policy`).
:func:`policy_sha256` is the fingerprint a card records as
``lineage.policy_sha256``.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from governance._config_base import (
    Name,
    YamlRefused,
    _Found,
    _items,
    _pydantic_problem,
    _Section,
    _short,
    _unique,
    _with_line,
    _yaml_error,
    read_yaml,
)
from governance.errors import ConfigError, Problem
from governance.metrics import FAIRNESS_METRICS, METRICS

__all__ = [
    "PolicyRule",
    "PolicySpec",
    "load_policy",
    "policy_sha256",
    "validate_policy",
]


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

    Parameters
    ----------
    raw
        The policy, as plain data (a mapping of policy keys).
    source
        What the policy comes from, named by the error.

    Returns
    -------
    PolicySpec
        The validated policy.

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
            problems.append(_pydantic_problem(err, under, root=PolicySpec, prefix=("policy",)))
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
    """Read the policy file's mapping and line index, or say why it cannot be read."""
    import yaml

    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return {}, {}, f"policy file {str(file)!r} not found; check the path (relative to the config's folder)"
    except OSError as exc:
        return {}, {}, f"cannot read the policy file {str(file)!r} ({exc.strerror})"
    try:
        raw, lines = read_yaml(data)
    except YamlRefused as exc:
        at = f" at {exc.where}" if exc.where else ""
        return {}, {}, f"the policy file {str(file)!r} is refused{at}: {exc.message}; {exc.fix}"
    except yaml.YAMLError as exc:
        where, problem = _yaml_error(exc)
        at = f" at {where}" if where else ""
        return {}, {}, f"the policy file {str(file)!r} is not valid YAML{at}: {problem}"
    if not isinstance(raw, dict):
        found = "an empty file" if raw is None else f"a {type(raw).__name__}"
        return {}, {}, f"the policy file {str(file)!r} must hold a mapping of policy keys, found {found}"
    return raw, lines, None


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
    metrics = set(METRICS) | set(FAIRNESS_METRICS)
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
        if scope == "disparity" and statistic is None and metric in METRICS:
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


def policy_sha256(policy: PolicySpec) -> str:
    """Compute the sha256 of the policy's canonical JSON, what a card records as ``lineage.policy_sha256``.

    Canonical JSON is the card's: sorted keys, indent 2, UTF-8, no NaN, a trailing newline.

    Parameters
    ----------
    policy
        A validated policy.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    from governance._files import canonical_json

    return hashlib.sha256(canonical_json(policy.model_dump(mode="json"))).hexdigest()
