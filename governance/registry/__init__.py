"""MLflow: the only package that talks to the tracking store and the model registry.

Every operation takes the tracking URI (see :func:`governance.config.tracking_uri`;
:meth:`Registry.for_config` builds one from a config), so tests run against temporary
stores and real local servers. The embedded
default is a SQLite file; its artifacts go to an ``artifacts`` folder beside it.
:class:`Registry` holds one client for one store and registered model; each
module-level function (``promote``, ``tracked_run``, ...) is a wrapper that
builds a Registry for one call.

Files
    ``_client.py``
        :class:`Registry` (one client, its request bounds, the reachability
        probe, the mapping of infrastructure failures to RegistryError), :func:`safe_uri`.
    ``runs.py``
        Runs that always end (:func:`tracked_run`, :class:`RunHandle`), dataset
        records, audit results, metric names, :func:`tree_sha256`.
    ``models.py``
        Model logging (skops, checksummed) and :func:`load_model`.
    ``records.py``
        What the registry holds: :class:`ModelVersionRecord`, :class:`Review`,
        alias and tag names.
    ``_matching.py``
        Lineage (:func:`lineage_sha256`) and the version an identical re-run
        matches (:class:`MatchedVersion`, :meth:`Registry.matching_version`).
    ``rules.py``
        The promotion rules as pure functions over the evidence: refusals,
        approvals, :func:`rank_candidates`, :func:`choose_champion`, :func:`champion_reason`.
    ``promotion.py``
        :func:`register_candidate`, :func:`promote`, :func:`nominate`,
        :func:`promote_best`, :func:`demote`.
    ``reviews.py``
        :func:`record_review`, :func:`record_feedback`, :func:`verified_card`,
        :func:`tag_version`, :func:`version_history`.
    ``resolve.py``
        :func:`resolve_model`: which logged model a command uses.
    ``_evidence.py``
        A version re-read from the store and verified against its run's audit record.
    ``_lease.py``
        The advisory lease, and the champion's re-verification after a move.
    ``_card.py``
        Card files in a run's artifacts, checked by the card contract's validator
        (:func:`governance.card.validate.check_card`).
    ``_values.py``
        Values refused before they reach MLflow when they look like personal data.
    ``_mlflow.py``
        Every private MLflow API used, isolated.
"""

from __future__ import annotations

from governance._files import canonical_json as canonical_card  # the bytes a card is stored and hashed as
from governance.registry._card import CARD_FOLDER, CARD_SCHEMA, VERDICTS
from governance.registry._client import PROBE_BUDGET_SECONDS, Registry, safe_uri
from governance.registry._matching import LINEAGE_TAG, MatchedVersion, lineage_sha256
from governance.registry.models import LoggedModel, content_sha256, load_model
from governance.registry.promotion import (
    DemotionOutcome,
    PromotionOutcome,
    demote,
    nominate,
    promote,
    promote_best,
    register_candidate,
)
from governance.registry.records import (
    CANDIDATE,
    CHAMPION,
    DEMOTED_TAG,
    LEASE_TAG,
    LEASE_TTL_SECONDS,
    MAX_NOTE_CHARS,
    MAX_REVIEWER_CHARS,
    PREVIOUS_CHAMPION,
    Decision,
    ModelVersionRecord,
    Review,
)
from governance.registry.resolve import ResolvedModel, resolve_model
from governance.registry.reviews import (
    ReviewOutcome,
    VerifiedCard,
    VersionFacts,
    record_feedback,
    record_review,
    tag_version,
    verified_card,
    version_history,
)
from governance.registry.rules import Contender, champion_reason, choose_champion, rank_candidates
from governance.registry.runs import (
    MAX_PARAM_CHARS,
    DatasetRecord,
    RunHandle,
    dataset_record,
    log_audit_results,
    metric_name,
    tracked_run,
    tree_sha256,
)

__all__ = [
    "CANDIDATE",
    "CARD_FOLDER",
    "CARD_SCHEMA",
    "CHAMPION",
    "DEMOTED_TAG",
    "LEASE_TAG",
    "LEASE_TTL_SECONDS",
    "LINEAGE_TAG",
    "MAX_NOTE_CHARS",
    "MAX_PARAM_CHARS",
    "MAX_REVIEWER_CHARS",
    "PREVIOUS_CHAMPION",
    "PROBE_BUDGET_SECONDS",
    "VERDICTS",
    "Contender",
    "DatasetRecord",
    "Decision",
    "DemotionOutcome",
    "LoggedModel",
    "MatchedVersion",
    "ModelVersionRecord",
    "PromotionOutcome",
    "Registry",
    "ResolvedModel",
    "Review",
    "ReviewOutcome",
    "RunHandle",
    "VerifiedCard",
    "VersionFacts",
    "canonical_card",
    "champion_reason",
    "choose_champion",
    "content_sha256",
    "dataset_record",
    "demote",
    "lineage_sha256",
    "load_model",
    "log_audit_results",
    "metric_name",
    "nominate",
    "promote",
    "promote_best",
    "rank_candidates",
    "record_feedback",
    "record_review",
    "register_candidate",
    "resolve_model",
    "safe_uri",
    "tag_version",
    "tracked_run",
    "tree_sha256",
    "verified_card",
    "version_history",
]

# The names these types had before results took the one suffix convention (``*Outcome`` for what an
# action did, ``*Report`` for what an analysis found); kept so that code written against them works.
PromotionResult = PromotionOutcome
DemotionResult = DemotionOutcome
