"""Cross-field rules of a config: the checks that relate one section to another.

They run on the raw mapping, beside pydantic's checks of each section, so that
every problem is reported at once even when a section failed its own validation.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from governance._config_base import _Found, _has_password, _items, _section, bin_labels
from governance.policy import _policy_rule_problems

_NEEDS_CONSTRAINT = frozenset({"exponentiated_gradient", "threshold_optimizer"})


def _cross_field_problems(raw: Mapping[str, Any]) -> list[_Found]:
    """Apply the rules that relate sections; robust to sections that failed their own validation."""
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
    found += _source_problems(raw, attrs=attr_set)

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

    found += _data_problems(data)
    found += _risk_problems(_section(_section(raw, "purpose"), "risk"))

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


def _data_problems(data: Mapping[str, Any]) -> list[_Found]:
    """Check the data section's relations: split shares that leave training rows, and consent."""
    found: list[_Found] = []
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
    found += _consent_problems(consent)
    if consent.get("max_age_days") is not None and consent.get("as_of") is None:
        found.append(
            (
                ("data", "consent", "as_of"),
                "`max_age_days` needs a fixed `as_of` date so that runs are reproducible",
                "add `as_of: 2026-01-01`, for example",
            )
        )
    return found


def _feature_problems(
    raw: Mapping[str, Any], *, id_col: Any, label: Any, pii: set[str], attrs: set[Any]
) -> list[_Found]:
    """Check that features are neither sensitive, PII, the id nor the label, are unique and justified."""
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
        elif justification.strip().upper().startswith("TODO"):
            found.append(
                (
                    (*loc, "justification"),
                    f"feature {name!r} is still justified by {justification.strip()!r}; every feature needs one line "
                    "saying why the score may use it (data minimization)",
                    "write the reason, or remove the feature if the score does not need it",
                )
            )
        if feat.get("describe_values") is not None and feat.get("type", "numeric") != "categorical":
            found.append(
                (
                    (*loc, "describe_values"),
                    f"feature {name!r} is numeric; only a categorical feature's codes can be described in words",
                    "add `type: categorical`, or use `describe: '{value} ...'` for a number",
                )
            )
    return found


def _sensitive_problems(sensitive: Mapping[str, Any], *, id_col: Any, label: Any, pii: set[str]) -> list[_Found]:
    """Check the sensitive attributes (unique, declared references) and their intersections."""
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
        found += _groups_problems(attr, loc[:-1])
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


def _groups_problems(attr: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[_Found]:
    """Check an attribute's groups: declared categories, or bins (with labels), and the reference among them."""
    found: list[_Found] = []
    categories, bins, labels = attr.get("categories"), attr.get("bins"), attr.get("labels")
    groups = categories if isinstance(categories, list) else None
    if bins is not None and categories is not None:
        found.append(
            (
                (*loc, "categories"),
                "an attribute has either `categories` or `bins`, not both: the bins define its groups",
                "remove `categories` (name the bands with `labels:` if you like)",
            )
        )
    if labels is not None and bins is None:
        found.append(((*loc, "labels"), "`labels` name the bands of `bins`, and no `bins` are given", "add `bins:`"))
    if isinstance(bins, list) and bins and all(isinstance(b, int | float) for b in bins):
        groups = [str(g) for g in labels] if isinstance(labels, list) else list(bin_labels(tuple(bins)))
        if isinstance(labels, list) and len(labels) != len(bins) + 1:
            found.append(
                (
                    (*loc, "labels"),
                    f"{len(bins)} bin edge(s) make {len(bins) + 1} bands, found {len(labels)} label(s)",
                    "give one label per band, lowest first",
                )
            )
    reference = attr.get("reference")
    if groups is not None and reference is not None and reference not in groups:
        what = "bands" if bins is not None else "declared categories"
        found.append(((*loc, "reference"), f"reference group {reference!r} is not one of the {what} {groups}", ""))
    return found


def _risk_problems(risk: Mapping[str, Any]) -> list[_Found]:
    """Check ``purpose.risk``: a rationale that is still a TODO, and a prohibited practice, are refused."""
    found: list[_Found] = []
    loc: tuple[str | int, ...] = ("purpose", "risk")
    rationale = risk.get("rationale")
    if isinstance(rationale, str) and rationale.strip().upper().startswith("TODO"):
        found.append(
            (
                (*loc, "rationale"),
                f"the risk rating is still explained by {rationale.strip()[:60]!r}",
                "say why the system has this rating (its use, who it affects, the EU AI Act tier it falls in)",
            )
        )
    if risk.get("rating") == "unacceptable":
        found.append(
            (
                (*loc, "rating"),
                "'unacceptable' is a prohibited practice under the EU AI Act (Article 5): no card can approve it",
                "do not build this system; or rate it minimal, limited or high if it is not prohibited",
            )
        )
    return found


def _consent_problems(consent: Mapping[str, Any]) -> list[_Found]:
    """Check the consent section: per-row columns, or a dataset-wide lawful basis with its reason."""
    found: list[_Found] = []
    loc: tuple[str | int, ...] = ("data", "consent")
    if consent.get("lawful_basis") is None:
        if "reason" in consent:
            found.append(((*loc, "reason"), "`reason` explains a dataset-wide `lawful_basis`, and none is given", ""))
        if "column" in consent and consent.get("column") is None:
            found.append(
                (
                    (*loc, "column"),
                    "no consent column and no dataset-wide lawful basis: nothing would say the rows may be used",
                    "name the consent column, or declare `lawful_basis:` (research, contract, ...) with a `reason:`",
                )
            )
        return found
    reason = consent.get("reason")
    if isinstance(reason, str) and reason.strip().upper().startswith("TODO"):
        found.append(
            (
                (*loc, "reason"),
                f"the lawful basis is still explained by {reason.strip()[:60]!r}",
                "say where the data comes from and why it may be used for this score",
            )
        )
    elif not isinstance(reason, str) or not reason.strip():
        found.append(
            (
                (*loc,),
                "a dataset-wide `lawful_basis` needs a `reason`: the card prints it in place of a per-row check",
                "add `reason: ...` (where the data comes from and why it may be used for this score)",
            )
        )
    for key in ("column", "timestamp_column", "lawful_basis_column", "max_age_days"):
        if consent.get(key) is not None:
            found.append(
                (
                    (*loc, key),
                    f"`{key}` is a per-row consent check, and `lawful_basis` declares the basis of the whole dataset",
                    f"remove `{key}`, or remove `lawful_basis` to check consent row by row",
                )
            )
    return found


def _derived_from_problems(raw: Mapping[str, Any]) -> list[_Found]:
    """Check that ``sensitive.attributes[i].derived_from`` names declared model features."""
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
    """Check candidate names are unique and mitigations have the constraint and attribute they need."""
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


def _source_problems(raw: Mapping[str, Any], *, attrs: set[str]) -> list[_Found]:
    """Check ``sensitive.attributes[i].source``: a declared numeric model feature, with ``bins`` to band it."""
    found: list[_Found] = []
    kinds = {f.get("name"): f.get("type", "numeric") for _, f in _items(raw, "features")}
    numeric = sorted(str(n) for n, kind in kinds.items() if isinstance(n, str) and kind == "numeric")
    for i, attr in _items(_section(raw, "sensitive"), "attributes"):
        source, loc = attr.get("source"), ("sensitive", "attributes", i, "source")
        if not isinstance(source, str):
            continue
        if source in attrs:
            found.append(
                (
                    loc,
                    f"expected a model feature, found {source!r}, itself a sensitive attribute: "
                    "an attribute is computed from a feature, never from another attribute",
                    "name the numeric feature it is computed from",
                )
            )
        elif source not in kinds:
            close = difflib.get_close_matches(source, numeric, n=1)
            found.append(
                (
                    loc,
                    f"expected a declared numeric model feature, found {source!r}, which is not declared in `features`",
                    f"did you mean `{close[0]}`?" if close else f"name one of {numeric}",
                )
            )
        elif kinds[source] != "numeric":
            found.append(
                (
                    loc,
                    f"expected a numeric feature to band, found {source!r}, a {kinds[source]} feature",
                    f"name one of {numeric}, or declare the attribute's own column with `categories`",
                )
            )
        if attr.get("bins") is None:
            found.append(
                (
                    (*loc[:-1], "bins"),
                    f"an attribute computed from {source!r} needs `bins`: the edges of its bands",
                    "add `bins: [...]` (increasing edges; each band runs from its edge, included, to the next)",
                )
            )
    return found
