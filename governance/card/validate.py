"""One validator of the card contract: every problem of a card by its JSON path, collected then raised once.

:func:`check_card` checks a document's structure (schema id, sections, and for a registration the
facts a registry requires); :func:`read_evidence` reads and checks what the gate judges (the
``governance.audit/1`` fairness block, the performance metrics a rule needs, the model's dates,
the explanations); :func:`read_card` reads a ``card.json`` file; :func:`card_policy` gives the
policy a card carries, checked against its hash. Problems name their path, as in
``fairness.groups[3].metrics.selection_rate.ci`` or ``explanations.proxies[0].flagged``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from governance._files import canonical_json
from governance.audit import SCHEMA as AUDIT_SCHEMA
from governance.audit import AuditReport, MetricValue
from governance.card._data import CONSENT_REASONS
from governance.card._model import SCHEMA, policy_sha256
from governance.errors import ConfigError, DataValidationError, Problem

if TYPE_CHECKING:
    from governance.policy import PolicySpec

__all__ = [
    "VERDICTS",
    "CardEvidence",
    "CardExplanations",
    "card_policy",
    "check_card",
    "read_card",
    "read_evidence",
]

#: The gate's verdicts a card's ``gate.verdict`` may hold.
VERDICTS: Final = ("pass", "fail", "inconclusive")
#: Sections every card has (``explanations``, ``gate``, ``reviews``, ``feedback``, ``caveats`` may be absent).
SECTIONS: Final = ("model", "lineage", "purpose", "data", "performance", "fairness", "candidates", "policy")
_STATUSES: Final = ("ok", "insufficient_data", "undefined")
_MAX_PROBLEMS: Final = 25  # a malformed card with thousands of groups is reported, not dumped


def read_card(path: str | Path) -> dict[str, Any]:
    """Read a ``card.json`` file: a JSON object, without NaN or infinities.

    Parameters
    ----------
    path
        The ``card.json`` file.

    Returns
    -------
    dict
        The card document.

    Raises
    ------
    DataValidationError
        When the file cannot be read, is not JSON, holds NaN or Infinity, or is not an object.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataValidationError([Problem(str(file), "card file not found", "check the path")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError([Problem(str(file), f"cannot read the card ({exc})")]) from exc

    def refuse(constant: str) -> float:
        raise ValueError(f"{constant} is not a number JSON allows; the card must hold finite numbers or null")

    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            [Problem(str(file), f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
        ) from exc
    except ValueError as exc:
        raise DataValidationError([Problem(str(file), str(exc))]) from exc
    if not isinstance(data, dict):
        raise DataValidationError([Problem(str(file), f"expected a JSON object (a card), found {_kind(data)}")])
    return data


def card_policy(card: Mapping[str, Any]) -> PolicySpec:
    """Return the policy a card carries (its ``policy`` field), checked against ``lineage.policy_sha256``.

    Parameters
    ----------
    card
        The card document.

    Returns
    -------
    PolicySpec
        The validated policy.

    Raises
    ------
    ConfigError
        When the card carries no policy, or an invalid one.
    DataValidationError
        When the policy does not match the card's ``lineage.policy_sha256``.
    """
    if "policy" not in card or card["policy"] is None:
        raise ConfigError(
            [
                Problem(
                    "policy",
                    "the card carries no policy and none was given",
                    "give one (`governance gate --policy FILE`)",
                )
            ]
        )
    from governance.policy import validate_policy

    policy = validate_policy(card["policy"], source="the card's policy")
    lineage = card.get("lineage")
    recorded = lineage.get("policy_sha256") if isinstance(lineage, Mapping) else None
    if recorded is not None and recorded != policy_sha256(policy):
        raise DataValidationError(
            [
                Problem(
                    "lineage.policy_sha256",
                    "does not match the card's policy: the card was altered, or assembled from another policy",
                    "regenerate the card, or gate it with `--policy FILE`",
                )
            ]
        )
    return policy


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "an infinity"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    """Collects every problem of a card with its JSON path, then raises once."""

    def __init__(self, root: str = "") -> None:
        self.problems: list[Problem] = []
        self.root = root

    def add(self, path: str, message: str, fix: str = "") -> None:
        where = f"{self.root}.{path}" if self.root and path else self.root or path
        self.problems.append(Problem(where, message, fix))

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.add(path, f"expected an object, found {_kind(value)}")
        return None

    def listing(self, value: Any, path: str) -> list[Any] | None:
        if isinstance(value, list | tuple):
            return list(value)
        self.add(path, f"expected a list, found {_kind(value)}")
        return None

    def text(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"expected a string, found {_kind(value)}")

    def metric_value(self, value: Any, path: str) -> None:
        """Check a ``{value, ci, status, reason?}`` object."""
        item = self.mapping(value, path)
        if item is None:
            return
        at = path + "." if path else ""
        number = item.get("value")
        if number is not None and not _is_number(number):
            self.add(f"{at}value", f"expected a finite number or null, found {_kind(number)}")
        ci = item.get("ci")
        if ci is not None:
            if not (isinstance(ci, list | tuple) and len(ci) == 2 and all(_is_number(x) for x in ci)):
                self.add(f"{at}ci", f"expected [low, high] of finite numbers, or null; found {_kind(ci)}")
            elif ci[0] > ci[1]:
                self.add(f"{at}ci", "the low end is above the high end")
        status = item.get("status")
        if status not in _STATUSES:
            found = repr(status)[:40] if isinstance(status, str) else _kind(status)
            self.add(f"{at}status", f"expected 'ok', 'insufficient_data' or 'undefined', found {found}")
        reason = item.get("reason")
        if reason is not None and not isinstance(reason, str):
            self.add(f"{at}reason", f"expected a string, found {_kind(reason)}")

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        problems = self.problems[:_MAX_PROBLEMS]
        if len(self.problems) > _MAX_PROBLEMS:
            problems.append(Problem("", f"... and {len(self.problems) - _MAX_PROBLEMS} more problems"))
        raise DataValidationError(problems, source="the card")


def _check_audit(doc: Any, check: _Checker) -> None:
    """Check the parts of a governance.audit/1 document the gate reads, with their JSON paths."""
    root = check.mapping(doc, "fairness")
    if root is None:
        return
    if root.get("schema") != AUDIT_SCHEMA:
        found = repr(root.get("schema"))[:60]
        check.add("fairness.schema", f"expected {AUDIT_SCHEMA!r}, found {found}")
        return
    overall = check.mapping(root.get("overall"), "fairness.overall")
    for name, value in (overall or {}).items():
        check.metric_value(value, f"fairness.overall.{name}")
    for i, group in enumerate(check.listing(root.get("groups"), "fairness.groups") or []):
        at = f"fairness.groups[{i}]"
        item = check.mapping(group, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("group"), f"{at}.group")
        if item.get("status") not in _STATUSES:
            check.add(f"{at}.status", "expected 'ok', 'insufficient_data' or 'undefined'")
        for name, value in (check.mapping(item.get("metrics"), f"{at}.metrics") or {}).items():
            check.metric_value(value, f"{at}.metrics.{name}")
    for i, disparity in enumerate(check.listing(root.get("disparities"), "fairness.disparities") or []):
        at = f"fairness.disparities[{i}]"
        item = check.mapping(disparity, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("metric"), f"{at}.metric")
        check.metric_value(item.get("difference"), f"{at}.difference")
        check.metric_value(item.get("ratio"), f"{at}.ratio")
        reference = item.get("reference")
        if reference is not None:
            ref = check.mapping(reference, f"{at}.reference")
            if ref is not None:
                check.text(ref.get("group"), f"{at}.reference.group")
                check.metric_value(ref.get("difference"), f"{at}.reference.difference")
                check.metric_value(ref.get("ratio"), f"{at}.reference.ratio")
        for j, name in enumerate(check.listing(item.get("excluded_groups"), f"{at}.excluded_groups") or []):
            check.text(name, f"{at}.excluded_groups[{j}]")
    for i, fairness in enumerate(check.listing(root.get("fairness"), "fairness.fairness") or []):
        at = f"fairness.fairness[{i}]"
        item = check.mapping(fairness, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("metric"), f"{at}.metric")
        check.metric_value(item, at)
        for j, name in enumerate(check.listing(item.get("excluded_groups"), f"{at}.excluded_groups") or []):
            check.text(name, f"{at}.excluded_groups[{j}]")


def _read_audit(card: Mapping[str, Any], check: _Checker) -> AuditReport | None:
    if "fairness" not in card:
        check.add("fairness", "missing: the card has no fairness block (the governance.audit/1 document)")
        return None
    before = len(check.problems)
    _check_audit(card["fairness"], check)
    if len(check.problems) > before:
        return None
    try:
        return AuditReport.from_dict(card["fairness"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        check.add("fairness", f"not a {AUDIT_SCHEMA} document ({detail[:200]})")
        return None


def _read_performance(card: Mapping[str, Any], wanted: set[str], check: _Checker) -> dict[str, MetricValue]:
    """Read the ``performance`` entries an overall rule needs (the audit lacks them); others are not the gate's."""
    performance = card.get("performance")
    if performance is None or not wanted:
        return {}
    block = check.mapping(performance, "performance")
    out: dict[str, MetricValue] = {}
    for name, value in (block or {}).items():
        if name not in wanted:
            continue
        before = len(check.problems)
        check.metric_value(value, f"performance.{name}")
        if len(check.problems) == before:
            out[str(name)] = MetricValue.from_dict(value)
    return out


def _parse_date(value: Any, path: str, check: _Checker) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value).date()
            except ValueError:
                pass
    check.add(path, f"expected an ISO date (YYYY-MM-DD) or date-time, found {_kind(value)}")
    return None


def _model_features(card: Mapping[str, Any], check: _Checker) -> set[str] | None:
    """Read the model's features from ``data.features``, when the card lists them."""
    data = card.get("data")
    if not isinstance(data, Mapping) or "features" not in data:
        return None
    names: set[str] = set()
    for i, item in enumerate(check.listing(data["features"], "data.features") or []):
        name = item.get("name") if isinstance(item, Mapping) else item
        if isinstance(name, str):
            names.add(name)
        else:
            check.add(f"data.features[{i}]", f"expected {{name, justification}} or a name, found {_kind(item)}")
    return names


def _read_proxies(explanations: Mapping[str, Any], check: _Checker) -> tuple[Mapping[str, Any], ...] | None:
    """Read the ``explanations.proxies`` entries, each checked; None when the block has none."""
    if "proxies" not in explanations:
        return None
    items = []
    for i, item in enumerate(check.listing(explanations["proxies"], "explanations.proxies") or []):
        at = f"explanations.proxies[{i}]"
        proxy = check.mapping(item, at)
        if proxy is None:
            continue
        check.text(proxy.get("feature"), f"{at}.feature")
        check.text(proxy.get("attribute"), f"{at}.attribute")
        if not isinstance(proxy.get("flagged"), bool):
            check.add(f"{at}.flagged", f"expected true or false, found {_kind(proxy.get('flagged'))}")
        for key in ("nmi", "auc"):
            if proxy.get(key) is not None and not _is_number(proxy.get(key)):
                check.add(f"{at}.{key}", f"expected a finite number or null, found {_kind(proxy.get(key))}")
        items.append(proxy)
    return tuple(items)


@dataclass(frozen=True)
class CardExplanations:
    """What the gate reads from a card's ``explanations`` block.

    Parameters
    ----------
    present
        Whether the card has an ``explanations`` block.
    proxies
        Every ``explanations.proxies`` entry; None when the block has none.
    flagged
        The proxies flagged on a model feature (``data.features``, when the card lists them).
    removable
        ``explanations.minimization.removable``; None when the block has no minimization.
    method, tolerance
        How the minimization was decided.
    """

    present: bool
    proxies: tuple[Mapping[str, Any], ...] | None
    flagged: tuple[Mapping[str, Any], ...]
    removable: tuple[str, ...] | None
    method: str
    tolerance: float | None

    @classmethod
    def read(cls, card: Mapping[str, Any], check: _Checker) -> CardExplanations:
        """Read and check the block, adding its problems to ``check``."""
        block = card.get("explanations")
        if block is None:
            return cls(False, None, (), None, "", None)
        explanations = check.mapping(block, "explanations") or {}
        features = _model_features(card, check)
        proxies = _read_proxies(explanations, check)
        flagged = tuple(
            p for p in proxies or () if p.get("flagged") is True and (features is None or p.get("feature") in features)
        )
        removable: tuple[str, ...] | None = None
        method, tolerance = "", None
        if "minimization" in explanations:
            minimization = check.mapping(explanations["minimization"], "explanations.minimization") or {}
            names = check.listing(minimization.get("removable"), "explanations.minimization.removable") or []
            for i, name in enumerate(names):
                check.text(name, f"explanations.minimization.removable[{i}]")
            removable = tuple(str(n) for n in names)
            method = str(minimization.get("method") or "")
            raw_tolerance = minimization.get("tolerance")
            tolerance = (
                float(raw_tolerance) if isinstance(raw_tolerance, int | float) and _is_number(raw_tolerance) else None
            )
        return cls(True, proxies, flagged, removable, method, tolerance)


@dataclass(frozen=True)
class CardEvidence:
    """The evidence of a card the gate judges, read and checked by :func:`read_evidence`.

    Parameters
    ----------
    audit
        The ``fairness`` block as an audit report; None when it was not asked for.
    performance
        The ``performance`` metrics asked for that the audit lacks.
    model
        The ``model`` section (empty when absent).
    valid_until, created
        ``model.valid_until`` and ``model.created`` as dates, when present.
    explanations
        What the ``explanations`` block says.
    """

    audit: AuditReport | None
    performance: Mapping[str, MetricValue]
    model: Mapping[str, Any]
    valid_until: date | None
    created: date | None
    explanations: CardExplanations


def _check_schema(card: Mapping[str, Any], check: _Checker) -> None:
    if card.get("schema") != SCHEMA:
        found = repr(card.get("schema"))[:60] if "schema" in card else "none"
        check.add("schema", f"expected {SCHEMA!r}, found {found}")


def read_evidence(card: Any, *, audit: bool = True, performance: Collection[str] = ()) -> CardEvidence:
    """Read and check the evidence of a card: every problem by its JSON path, raised once.

    Parameters
    ----------
    card
        The card as plain data (``json.load`` of ``card.json``).
    audit
        Whether to read the ``fairness`` block (a ``governance.audit/1`` document).
    performance
        Overall metrics wanted; those the audit lacks are read from ``performance``.

    Returns
    -------
    CardEvidence
        The checked evidence.

    Raises
    ------
    DataValidationError
        When the card is not an object, or any part read is malformed.
    """
    if not isinstance(card, Mapping):
        raise DataValidationError([Problem("(card)", f"expected a JSON object, found {_kind(card)}")])
    check = _Checker()
    _check_schema(card, check)
    report = _read_audit(card, check) if audit else None
    overall = set(report.overall) if report is not None else set()
    extra = _read_performance(card, {m for m in performance if m not in overall}, check)
    model = (check.mapping(card["model"], "model") if card.get("model") is not None else None) or {}
    valid_until = _parse_date(model.get("valid_until"), "model.valid_until", check)
    created = _parse_date(model.get("created"), "model.created", check)
    explanations = CardExplanations.read(card, check)
    check.raise_if_any()
    return CardEvidence(report, extra, model, valid_until, created, explanations)


def _check_registration(card: Mapping[str, Any], run_id: str, check: _Checker) -> None:
    """Check what a registry requires of a card it registers: a verdict, no reviews or feedback yet, its run."""
    gate = card.get("gate")
    verdict = gate.get("verdict") if isinstance(gate, Mapping) else None
    if verdict not in VERDICTS:
        check.add("gate.verdict", f"expected one of {', '.join(VERDICTS)}, found {verdict!r}")
    if card.get("reviews") not in (None, [], ()):
        check.add(
            "reviews",
            "a card is registered before any review; found reviews already on it",
            "record reviews with record_review (governance review) after registration",
        )
    feedback = card.get("feedback")
    if isinstance(feedback, Mapping) and feedback.get("items") not in (None, [], ()):
        check.add(
            "feedback.items",
            "a card is registered before any feedback; found feedback items already on it",
            "record feedback with record_feedback (governance feedback add) after registration",
        )
    model = card.get("model", {})
    if not isinstance(model, Mapping):
        check.add("model", f"expected an object, found {_kind(model)}")
    elif model.get("run_id") not in (None, run_id):
        check.add("model.run_id", f"expected the registered run {run_id!r}, found {model.get('run_id')!r}")


_REBUILD: Final = "rebuild the card with governance run (it writes these fields from the config)"


def _check_subject(card: Mapping[str, Any], check: _Checker) -> None:
    """Check ``purpose.subject`` when present: ``{singular, plural}``, two non-empty words."""
    purpose = card.get("purpose")
    if not isinstance(purpose, Mapping) or "subject" not in purpose:
        return
    entry = check.mapping(purpose["subject"], "purpose.subject")
    for key in ("singular", "plural") if entry is not None else ():
        value = entry.get(key) if entry is not None else None
        if not (isinstance(value, str) and value.strip()):
            check.add(f"purpose.subject.{key}", f"expected a non-empty word, found {_kind(value)}", _REBUILD)


def _check_consent(data: Mapping[str, Any], check: _Checker) -> None:
    """Check ``data.consent`` when present: the mode, the checks (each checked or not, its text), the counts."""
    consent = check.mapping(data["consent"], "data.consent")
    if consent is None:
        return
    per_row = consent.get("per_row")
    if not isinstance(per_row, bool):
        check.add("data.consent.per_row", f"expected true or false, found {_kind(per_row)}", _REBUILD)
    check.text(consent.get("text"), "data.consent.text")
    if not (isinstance(consent.get("excluded"), int) and not isinstance(consent.get("excluded"), bool)):
        check.add("data.consent.excluded", f"expected a count, found {_kind(consent.get('excluded'))}", _REBUILD)
    checks = check.listing(consent.get("checks"), "data.consent.checks") or []
    if per_row is False:
        for key in ("lawful_basis", "reason"):
            if not (isinstance(consent.get(key), str) and consent[key].strip()):
                check.add(
                    f"data.consent.{key}", f"a dataset-wide basis needs its {key}, found {_kind(consent.get(key))}"
                )
        if checks:
            check.add("data.consent.checks", f"a dataset-wide basis makes no per-row check, found {len(checks)}")
    for i, item in enumerate(checks):
        at = f"data.consent.checks[{i}]"
        entry = check.mapping(item, at)
        if entry is None:
            continue
        if entry.get("check") not in CONSENT_REASONS:
            found = repr(entry.get("check"))[:40]
            check.add(f"{at}.check", f"expected one of {', '.join(CONSENT_REASONS)}, found {found}")
        if not isinstance(entry.get("checked"), bool):
            check.add(f"{at}.checked", f"expected true or false, found {_kind(entry.get('checked'))}")
        check.text(entry.get("text"), f"{at}.text")
        for reason, count in (check.mapping(entry.get("excluded"), f"{at}.excluded") or {}).items():
            if not (isinstance(count, int) and not isinstance(count, bool) and count >= 0):
                check.add(f"{at}.excluded.{reason}", f"expected a count, found {_kind(count)}")


def _check_bins(item: Mapping[str, Any], at: str, check: _Checker) -> None:
    """Check a ``data.sensitive`` item's ``bins`` (increasing edges) and ``groups`` (one label per band)."""
    bins, groups = item.get("bins"), item.get("groups")
    if bins is not None:
        edges = check.listing(bins, f"{at}.bins")
        if edges is not None and not (edges and all(_is_number(b) for b in edges)):
            check.add(f"{at}.bins", "expected a list of finite numbers (the band edges)")
        elif edges is not None and any(hi <= lo for lo, hi in itertools.pairwise(edges)):
            check.add(f"{at}.bins", "expected strictly increasing edges")
    if groups is not None:
        labels = check.listing(groups, f"{at}.groups") or []
        for j, label in enumerate(labels):
            check.text(label, f"{at}.groups[{j}]")
        if isinstance(bins, list | tuple) and len(labels) != len(bins) + 1:
            check.add(f"{at}.groups", f"{len(bins)} edge(s) make {len(bins) + 1} bands, found {len(labels)} label(s)")
    if "bands" in item:
        check.text(item["bands"], f"{at}.bands")


def _check_data_words(card: Mapping[str, Any], check: _Checker) -> None:
    """Check what the card says about its rows, when it says it: the word, the consent checks, the bins."""
    _check_subject(card, check)
    data = card.get("data")
    if not isinstance(data, Mapping):
        return
    if "consent" in data:
        _check_consent(data, check)
    sensitive = data.get("sensitive")
    for i, item in enumerate(sensitive if isinstance(sensitive, list | tuple) else ()):
        if isinstance(item, Mapping):
            _check_bins(item, f"data.sensitive[{i}]", check)


def check_card(card: Any, *, registration_of: str | None = None, root: str = "") -> dict[str, Any]:
    """Check a card document's structure: every problem by its JSON path, raised once.

    Parameters
    ----------
    card
        The document.
    registration_of
        The run a registry registers the card for: then the card must also carry a
        gate verdict, no reviews or feedback items yet, and that run id (or none).
    root
        A prefix of every path (``card`` gives ``card.gate.verdict``).

    Returns
    -------
    dict
        A plain-data copy of the document (through its canonical JSON).

    Raises
    ------
    DataValidationError
        When the schema is not ``governance.card/1``, a section is missing, ``purpose.subject``,
        ``data.consent`` or a sensitive attribute's ``bins`` / ``groups`` is malformed, a
        registration fact is wrong, or the document is not plain JSON data with finite numbers.
    """
    check = _Checker(root)
    if not isinstance(card, Mapping):
        check.add("", f"expected a JSON object, found {_kind(card)}")
        check.raise_if_any()
    _check_schema(card, check)
    for key in SECTIONS:
        if key not in card:
            check.add(key, "missing section of the card")
    _check_data_words(card, check)
    if registration_of is not None:
        _check_registration(card, registration_of, check)
    check.raise_if_any()
    try:
        plain: dict[str, Any] = json.loads(canonical_json(card))
    except (TypeError, ValueError) as exc:
        check.add("", f"expected plain JSON data with finite numbers: {exc}")
        check.raise_if_any()
    return plain
