"""Lineage: what makes two registrations the same, and finding the version a re-run matches.

A candidate's lineage is the sha256 of the data fingerprint, the config file's
sha256, the policy's sha256, the candidate's name and the model's content
(:func:`governance.registry.models.content_sha256`). It is run tag and version
tag ``lineage.sha256``. An identical re-run of ``governance run`` has the same
lineage, so it reuses the registered version instead of adding a duplicate; a
different config, policy, data or model has another lineage and gets a new version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.errors import GateFailure, PrivacyError
from governance.registry._client import Registry, quoted
from governance.registry._evidence import evidence, version_record
from governance.registry.records import ModelVersionRecord
from governance.registry.rules import refusal

if TYPE_CHECKING:
    from governance.registry.reviews import VerifiedCard

__all__ = ["LINEAGE_TAG", "MatchedVersion", "lineage_sha256", "matching_version_in"]

#: Run tag and version tag holding a candidate's lineage.
LINEAGE_TAG = "lineage.sha256"
#: Refusal reasons that keep a matched version from taking any alias (the others are the ranking's business).
_BLOCKING = ("demoted", "rejected", "run")


def lineage_sha256(
    *, data_sha256: str, config_sha256: str, policy_sha256: str, candidate: str, model_content_sha256: str
) -> str:
    """sha256 of what a registered version is made of: data, config, policy, candidate and model content.

    Parameters
    ----------
    data_sha256
        Fingerprint of the prepared data.
    config_sha256
        sha256 of the config file's bytes.
    policy_sha256
        sha256 of the policy's canonical JSON.
    candidate
        The candidate's name.
    model_content_sha256
        sha256 of the model's content (equal for identical trainings).

    Returns
    -------
    str
        64 hex characters.
    """
    facts = {
        "schema": "governance.lineage/1",
        "data_sha256": data_sha256,
        "config_sha256": config_sha256,
        "policy_sha256": policy_sha256,
        "candidate": candidate,
        "model_content_sha256": model_content_sha256,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MatchedVersion:
    """The registered version a candidate is identical to.

    Attributes
    ----------
    record
        The version, as the registry holds it.
    card
        Its current card, verified against its run's audit record (reviews and feedback included).
    blocked
        Why it may take no alias (demoted by monitoring, a standing rejection), in words; empty when it may.
    """

    record: ModelVersionRecord
    card: VerifiedCard
    blocked: str = ""


def _candidates(registry: Registry, lineage: str) -> list[Any]:
    """Complete registrations (tag ``card.sha256`` set) with this lineage, oldest first."""
    from mlflow.exceptions import MlflowException

    name = registry.name
    try:
        found = registry.client.search_model_versions(
            f"name = '{quoted(name)}' and tags.`{LINEAGE_TAG}` = '{quoted(lineage)}'"
        )
    except MlflowException:
        return []  # no registered model yet
    complete = [v for v in found if v.name == name and (v.tags or {}).get("card.sha256")]
    return sorted(complete, key=lambda v: int(v.version))


def matching_version_in(registry: Registry, lineage: str) -> MatchedVersion | None:
    """:meth:`Registry.matching_version`: the oldest verified version with this lineage, or None.

    A version whose card or run no longer verifies is no match (a new version is
    registered instead; the tampered one stays as it is, refused by every promotion).
    """
    if not lineage:
        return None
    name = registry.name
    with registry.call("look for a version with the same lineage"):
        client = registry.client
        for mv in _candidates(registry, lineage):
            version = int(mv.version)
            try:
                found = evidence(client, name, version, uri=registry.uri, deep=False)
            except (PrivacyError, GateFailure):
                continue
            refused = refusal(found, name=name, action="promote", required=None)
            blocked = ""
            if isinstance(refused, GateFailure) and isinstance(refused.report, Mapping):
                blocked = str(refused) if refused.report.get("reason") in _BLOCKING else ""
            record = version_record(name, client.get_model_version(name, str(version)))
            break
        else:
            return None
    return MatchedVersion(record=record, card=registry.verified_card(version), blocked=blocked)
