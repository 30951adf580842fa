"""The :class:`Registry`: one MLflow client built once, with its bounds, its probe and its error mapping.

Reachability
    MLflow's HTTP client retries for minutes by default, and it takes its retry
    count, per-request timeout and backoff only from environment variables
    (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``_TIMEOUT``, ``_BACKOFF_FACTOR``,
    ``_BACKOFF_JITTER``), read at every request. :meth:`Registry.call` sets them
    for the duration of one operation and restores them afterwards, so nothing
    is left changed in the process (the environment is process-wide, so calls
    from several threads take turns). An HTTP server is probed at ``/health``
    within a fixed budget before the first request, so an unreachable server
    gives a :class:`~governance.errors.RegistryError` (exit 3) in seconds.
Deadline
    A server that answers ``/health`` but stalls (or trickles) on the API is
    bounded by one budget per Registry, that is per command,
    :func:`server_budget` (twice ``timeout_seconds`` x (``max_retries`` + 1),
    at most :data:`MAX_SERVER_SECONDS`): every operation (one
    :meth:`Registry.call` with an HTTP server) may run for what remains of it,
    and the time of every operation that fails is taken from it, so the
    clean-up a failure triggers (ending runs, releasing a lease) is refused at
    once when it is spent. An operation that succeeds gives its time back: a
    long run is never cut by its number of calls, nor by the training and
    auditing between them. Each request's timeout is cut to what remains; on
    the main thread a timer (``SIGALRM``) interrupts an operation still waiting
    when the budget runs out, and keeps interrupting its clean-up requests until
    it has ended, so the command ends with RegistryError (exit 3) and one line.
    Elsewhere (another thread) the per-request bounds hold and an operation is
    refused once the budget is spent.
Errors
    MLflow and storage failures become RegistryError, never with credentials
    in the message (:func:`safe_uri`, :func:`governance.privacy.redact`).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.errors import GovernanceError, RegistryError
from governance.privacy import redact

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from governance.config import GovernanceConfig
    from governance.privacy import TextScreen
    from governance.registry._matching import MatchedVersion
    from governance.registry.promotion import DemotionOutcome, PromotionOutcome
    from governance.registry.records import Decision, ModelVersionRecord
    from governance.registry.resolve import ResolvedModel
    from governance.registry.reviews import ReviewOutcome, VerifiedCard, VersionFacts
    from governance.registry.rules import Contender
    from governance.registry.runs import RunHandle

__all__ = ["MAX_SERVER_SECONDS", "PROBE_BUDGET_SECONDS", "Registry", "safe_uri", "scoped_env", "server_budget"]

#: Total time the reachability probe of an HTTP server may take, retries included.
PROBE_BUDGET_SECONDS = 20.0
#: The longest one command may spend waiting on an HTTP tracking server, in all, whatever its settings.
MAX_SERVER_SECONDS = 600.0
#: After the budget ran out, how often the timer interrupts what the operation still waits for (its clean-up).
_REPEAT_SECONDS = 0.5
#: Quiet defaults while MLflow works: no schema-migration chatter on first use (read when mlflow is
#: first imported), no artifact progress bars (the CLI draws its own progress). A user's value wins.
QUIET = {"MLFLOW_LOGGING_LEVEL": "WARNING", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
#: Held while the environment is changed: two threads restoring in turn could otherwise leave one's values set.
_ENV_LOCK = threading.RLock()


def safe_uri(uri: str) -> str:
    """Return the URI as it may be shown: never with credentials.

    Parameters
    ----------
    uri
        A tracking URI, possibly with ``user:password@``.

    Returns
    -------
    str
        The URI without user name and password.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()
    return uri


@contextmanager
def scoped_env(
    values: Mapping[str, str] = {}, *, defaults: Mapping[str, str] = QUIET, keep: Sequence[str] = ()
) -> Iterator[None]:
    """Set ``values`` (and ``defaults`` where unset) in ``os.environ`` for the block, then restore them.

    Parameters
    ----------
    values
        Variables set whatever their current value.
    defaults
        Variables set only when the user has not set them.
    keep
        Variables not set here but restored afterwards, whatever the block did to them.
    """
    with _ENV_LOCK:
        keys = {*values, *defaults, *keep}
        saved = {key: os.environ.get(key) for key in keys}
        for key, value in defaults.items():
            os.environ.setdefault(key, value)
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


@contextmanager
def infrastructure(action: str, uri: str) -> Iterator[None]:
    """Turn MLflow and storage failures into RegistryError (exit 3), without credentials in the message."""
    try:
        yield
    except GovernanceError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"MLflow could not {action} at {safe_uri(uri)}: {type(exc).__name__}: {redact(str(exc))[:300]}"
        ) from exc


def probe(uri: str, *, timeout: float, retries: int) -> None:
    """Fail fast, with a clear message, when an HTTP tracking server does not answer at all."""
    import requests

    start = time.monotonic()
    deadline = start + PROBE_BUDGET_SECONDS
    problem = "no attempt"
    attempts = 0
    for attempt in range(retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        try:
            # any HTTP answer (even 401 or 404 behind a proxy) shows the server is reachable
            requests.get(uri.rstrip("/") + "/health", timeout=min(timeout, remaining), allow_redirects=False)
            return
        except requests.exceptions.SSLError:
            return  # something answered the TLS handshake; MLflow checks certificates with its own settings
        except requests.RequestException as exc:
            problem = type(exc).__name__
        pause = min(0.5 * 2**attempt, deadline - time.monotonic())
        if attempt < retries and pause > 0:
            time.sleep(pause)
    raise RegistryError(
        f"the MLflow tracking server at {safe_uri(uri)} did not answer ({problem}) after {attempts} attempt(s) "
        f"in {time.monotonic() - start:.1f} s; start it, or point mlflow.tracking_uri / MLFLOW_TRACKING_URI "
        "at a running server (mlflow.max_retries and mlflow.timeout_seconds bound the wait)"
    )


def server_budget(timeout: float, retries: int) -> float:
    """Return one command's budget of time waiting on an HTTP tracking server, in seconds.

    Twice what one request may take with all its retries (``timeout`` x (``retries`` + 1)):
    one stalled request with every retry, and as much again for the rest of its operation
    (other requests, the lease wait); at most :data:`MAX_SERVER_SECONDS`. It bounds every
    operation, and all the failing operations of a command together.

    Parameters
    ----------
    timeout, retries
        ``mlflow.timeout_seconds`` and ``mlflow.max_retries``.

    Returns
    -------
    float
        60 s at the defaults (10 s, 2 retries), 600 s at the largest settings (120 s, 10 retries).
    """
    return min(MAX_SERVER_SECONDS, 2.0 * timeout * (retries + 1))


class _Expired(BaseException):
    """Raised by the timer when the budget ran out; a BaseException, so no ``except Exception`` swallows it."""


class _Deadline:
    """The budget of one Registry's HTTP operations: failing operations spend it, a timer enforces what remains."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.spent = self.started = 0.0
        self.depth = 0
        self.armed = False

    def _expire(self, signum: int, frame: Any) -> None:
        """Interrupt, as the SIGALRM handler, whatever the operation waits for (nothing once it has ended)."""
        if self.armed:
            raise _Expired

    def remaining(self) -> float:
        """Seconds left of the budget for the operation under way (or the next one)."""
        return self.budget - self.spent - (time.monotonic() - self.started if self.depth else 0.0)

    def refusal(self, uri: str, action: str) -> RegistryError:
        """Return the one-line error of an operation the budget does not allow."""
        return RegistryError(
            f"MLflow could not {action} at {safe_uri(uri)} within this command's budget of {self.budget:.0f} s "
            "for a server that does not answer (2 x mlflow.timeout_seconds x (mlflow.max_retries + 1), at most "
            f"{MAX_SERVER_SECONDS:.0f} s): the server accepts connections but does not answer in time; check it, "
            "or raise mlflow.timeout_seconds for a slow one"
        )

    @contextmanager
    def running(self, uri: str, action: str) -> Iterator[None]:
        """Run the block within what remains of the budget, and take its time from the budget when it fails."""
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        left = self.budget - self.spent
        if left <= 0:
            raise self.refusal(uri, action)
        self.started = time.monotonic()
        self.depth = 1
        previous = self._arm(left)
        try:
            yield
        except _Expired:
            self.armed = False
            self.spent = self.budget
            raise self.refusal(uri, action) from None
        except BaseException:
            self.armed = False
            self.spent += time.monotonic() - self.started
            raise
        finally:
            self.armed = False
            self._disarm(previous)
            self.depth = 0

    def _arm(self, seconds: float) -> Any:
        """Start the timer (main thread, no other SIGALRM handler); return the handler to restore, or None."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            return None
        if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            return None  # someone else's timer: leave it alone, the per-request bounds still hold
        previous = signal.signal(signal.SIGALRM, self._expire)
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_SECONDS)
        return previous

    @staticmethod
    def _disarm(previous: Any) -> None:
        """Stop the timer and put the previous handler back."""
        if previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def error_code(exc: BaseException) -> str:
    """MLflow's error code of an exception (``RESOURCE_DOES_NOT_EXIST``, ...), or an empty string."""
    return str(getattr(exc, "error_code", ""))


def quoted(text: str) -> str:
    """``text`` escaped for a single-quoted MLflow search filter."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


class Registry:
    """One MLflow tracking store and model registry, reached through one client built once.

    Every module-level function of :mod:`governance.registry` (``promote``,
    ``tracked_run``, ...) builds a Registry and calls the method of the same
    name; workflows that make several calls should build one and reuse it.

    Parameters
    ----------
    uri
        Tracking URI (``sqlite:///...``, ``http://...``, ``file:...``); the
        registry is the tracking store itself, whatever ``MLFLOW_REGISTRY_URI`` says.
    model_name
        The registered model (``mlflow.registered_model``) the version methods act on.
    timeout, retries
        Bound on each HTTP request and on its retries (``mlflow.timeout_seconds``,
        ``mlflow.max_retries``).
    client
        An ``MlflowClient`` to use instead of building one (the injectable
        transport: tests pass a client of their own); no probe is made then.
    """

    def __init__(
        self,
        uri: str,
        *,
        model_name: str = "",
        timeout: float = 10.0,
        retries: int = 2,
        client: MlflowClient | None = None,
    ) -> None:
        self.uri = uri
        self.model_name = model_name
        self.timeout = timeout
        self.retries = retries
        self._client = client
        self._deadline = _Deadline(server_budget(timeout, retries))

    @classmethod
    def for_config(cls, config: GovernanceConfig) -> Registry:
        """Build the registry a config names: its tracking URI, registered model, timeout and retries.

        Parameters
        ----------
        config
            A validated config; its environment was resolved by :func:`~governance.config.load_config`.

        Returns
        -------
        Registry
            One registry for every call a workflow makes.
        """
        from governance.config import tracking_uri

        return cls(
            tracking_uri(config),
            model_name=config.mlflow.registered_model,
            timeout=config.mlflow.timeout_seconds,
            retries=config.mlflow.max_retries,
        )

    def __repr__(self) -> str:
        """Return the registry's URI (without credentials) and model name."""
        return f"Registry({safe_uri(self.uri)!r}, model_name={self.model_name!r})"

    def request_env(self) -> dict[str, str]:
        """Return the environment that bounds MLflow's HTTP requests (retries, per-request timeout cut to the budget)."""
        timeout = self.timeout
        if self.uri.startswith(("http://", "https://")):
            timeout = min(timeout, max(self._deadline.remaining(), 0.0))
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(1, math.ceil(timeout)))),
        }

    @contextmanager
    def call(self, action: str) -> Iterator[None]:
        """Bound MLflow's requests for one operation and map its failures to RegistryError.

        Parameters
        ----------
        action
            What the operation does, for the error message (``"promote the model version"``).
        """
        defaults = {**QUIET, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5"}
        if not self.uri.startswith(("http://", "https://")):
            with scoped_env(self.request_env(), defaults=defaults), infrastructure(action, self.uri):
                yield
            return
        if self._client is None:
            import mlflow.tracking  # noqa: F401  (importing is local work: not on the server's budget)
        with (
            scoped_env(self.request_env(), defaults=defaults),
            infrastructure(action, self.uri),
            self._deadline.running(self.uri, action),
        ):
            yield

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, built (and an HTTP server probed) on first use; use it inside :meth:`call`."""
        if self._client is None:
            if self.uri.startswith("sqlite:///"):
                Path(self.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            if self.uri.startswith(("http://", "https://")):
                probe(self.uri, timeout=self.timeout, retries=self.retries)
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    @property
    def name(self) -> str:
        """The registered model's name; ValueError when the Registry was built without one."""
        if not self.model_name:
            raise ValueError("this Registry has no model_name; build it with Registry(uri, model_name=...)")
        return self.model_name

    # ---------------------------------------------------------------- runs and models

    def run(
        self, *, experiment: str, run_name: str, tags: Mapping[str, Any] | None = None
    ) -> AbstractContextManager[RunHandle]:
        """Open an MLflow run that always ends with a terminal status (see :func:`~governance.registry.tracked_run`).

        Parameters
        ----------
        experiment
            Experiment name; created when missing.
        run_name
            Display name of the run.
        tags
            Tags set at creation.

        Returns
        -------
        contextlib.AbstractContextManager of RunHandle
            The open run, ended when the block ends.
        """
        from governance.registry.runs import open_run

        return open_run(self, experiment=experiment, run_name=run_name, tags=tags)

    def log_audit_results(
        self, run_id: str, *, metrics: Mapping[str, float], files: Sequence[Path], artifact_path: str = "report"
    ) -> None:
        """Log an audited candidate's metrics and report files (see :func:`~governance.registry.log_audit_results`).

        Parameters
        ----------
        run_id
            The candidate's run (it may be finished).
        metrics
            Metric names and values; non-finite values are skipped.
        files
            Report files to log as artifacts.
        artifact_path
            Folder of the files in the run's artifacts.
        """
        from governance.registry.runs import log_audit_results_to

        log_audit_results_to(self, run_id, metrics=metrics, files=files, artifact_path=artifact_path)

    def load_model(self, run_id: str, *, trusted_types: Sequence[str]) -> Any:
        """Load the model a governance run logged, checksum verified (see :func:`~governance.registry.load_model`).

        Parameters
        ----------
        run_id
            The run that logged the model.
        trusted_types
            The only types, beyond skops' defaults, that may be deserialized.

        Returns
        -------
        Any
            The fitted scikit-learn model.
        """
        from governance.registry.models import load_model_from

        return load_model_from(self, run_id, trusted_types=trusted_types)

    def resolve_model(
        self, *, experiment: str, version: int | None = None, candidate: str | None = None, alias: str = "champion"
    ) -> ResolvedModel:
        """Find the run whose model to load (see :func:`~governance.registry.resolve_model`).

        Parameters
        ----------
        experiment
            The config's experiment (for ``candidate``).
        version, candidate, alias
            A registered version, a candidate of the latest run, or the alias to follow.

        Returns
        -------
        ResolvedModel
        """
        from governance.registry.resolve import resolve_in

        return resolve_in(self, experiment=experiment, version=version, candidate=candidate, alias=alias)

    def tag_run(self, run_id: str, *, tags: Mapping[str, Any]) -> None:
        """Set tags on a run, finished or not (refused when they look like personal data).

        Parameters
        ----------
        run_id
            The run.
        tags
            Tag names and values.
        """
        from governance.registry.runs import tag_run_in

        tag_run_in(self, run_id, tags=tags)

    # ---------------------------------------------------------------- registration and promotion

    def matching_version(self, lineage: str) -> MatchedVersion | None:
        """Return the registered version with this lineage (tag ``lineage.sha256``), or None.

        An identical re-run of ``governance run`` (same data, config, policy and
        model content: see :func:`~governance.registry.lineage_sha256`) reuses it
        instead of registering a duplicate. The oldest version that still verifies
        against its run's audit record is returned, with its card and whether it may
        take an alias at all.

        Parameters
        ----------
        lineage
            The candidate's lineage (empty: no match).

        Returns
        -------
        MatchedVersion or None
        """
        from governance.registry._matching import matching_version_in

        return matching_version_in(self, lineage)

    def register(self, run_id: str, *, card: Mapping[str, Any], await_seconds: float = 60.0) -> ModelVersionRecord:
        """Register an audited candidate with its card (see :func:`~governance.registry.register_candidate`).

        Parameters
        ----------
        run_id
            The candidate's run, which logged the model.
        card
            The ``governance.card/1`` document, without reviews.
        await_seconds
            Longest wait for the version to become ``READY``.

        Returns
        -------
        ModelVersionRecord
        """
        from governance.registry.promotion import register_in

        return register_in(self, run_id=run_id, card=card, await_seconds=await_seconds)

    def promote(self, version: int, *, required_approvals: int, lease_wait: float = 60.0) -> PromotionOutcome:
        """Give a verified version the alias ``champion`` (see :func:`~governance.registry.promote`).

        Parameters
        ----------
        version
            The version to promote.
        required_approvals
            Approving reviewers required.
        lease_wait
            Longest wait for another promotion or review of the same model to finish.

        Returns
        -------
        PromotionOutcome
        """
        from governance.registry.promotion import promote_in

        return promote_in(self, version=version, required_approvals=required_approvals, lease_wait=lease_wait)

    def nominate(self, version: int, *, lease_wait: float = 60.0) -> PromotionOutcome:
        """Give a version whose gate passed the alias ``candidate`` (see :func:`~governance.registry.nominate`).

        Parameters
        ----------
        version
            The version to nominate.
        lease_wait
            Longest wait for the lease.

        Returns
        -------
        PromotionOutcome
        """
        from governance.registry.promotion import nominate_in

        return nominate_in(self, version=version, lease_wait=lease_wait)

    def promote_best(
        self, candidates: Sequence[Contender], *, required_approvals: int, lease_wait: float = 60.0
    ) -> PromotionOutcome | None:
        """Promote the best passing candidate of a run (see :func:`~governance.registry.promote_best`).

        Parameters
        ----------
        candidates
            Every registered candidate of the run.
        required_approvals
            Approving reviewers required for ``champion``.
        lease_wait
            Longest wait for the lease.

        Returns
        -------
        PromotionOutcome or None
            None when no candidate passed.
        """
        from governance.registry.promotion import promote_best_in

        return promote_best_in(self, candidates, required_approvals=required_approvals, lease_wait=lease_wait)

    def demote(
        self, version: int, *, monitoring_run: str, required_approvals: int, lease_wait: float = 60.0
    ) -> DemotionOutcome:
        """Take ``champion`` from a version that failed its re-evaluation (see :func:`~governance.registry.demote`).

        Parameters
        ----------
        version
            The version that failed.
        monitoring_run
            The monitoring run that found it failing.
        required_approvals
            The policy's count, to verify the replacement.
        lease_wait
            Longest wait for the lease.

        Returns
        -------
        DemotionOutcome
        """
        from governance.registry.promotion import demote_in

        return demote_in(
            self,
            version=version,
            monitoring_run=monitoring_run,
            required_approvals=required_approvals,
            lease_wait=lease_wait,
        )

    # ---------------------------------------------------------------- reviews, feedback, history

    def record_review(
        self,
        version: int,
        *,
        decision: Decision,
        reviewer: str,
        note: str,
        at: datetime | None = None,
        required_approvals: int = 0,
        lease_wait: float = 60.0,
        screen: TextScreen | None = None,
    ) -> ReviewOutcome:
        """Record a reviewer's approval or rejection of a version (see :func:`~governance.registry.record_review`).

        Parameters
        ----------
        version
            The version reviewed.
        decision, reviewer, note, at
            The review.
        required_approvals
            The policy's count, used to verify a replacement champion after a demotion.
        lease_wait
            Longest wait for the lease.
        screen
            The data's identifiers, names and contact details (:func:`governance._screen.text_screen`):
            a review naming any of them is refused before MLflow is contacted.

        Returns
        -------
        ReviewOutcome
        """
        from governance.registry.reviews import _screen_review, record_review_in

        if screen is not None:
            _screen_review(reviewer, note, screen)
        return record_review_in(
            self,
            version=version,
            decision=decision,
            reviewer=reviewer,
            note=note,
            at=at,
            required_approvals=required_approvals,
            lease_wait=lease_wait,
        )

    def record_feedback(
        self, version: int, *, items: Sequence[Mapping[str, Any]], lease_wait: float = 60.0
    ) -> VerifiedCard:
        """Make a version's card list exactly these feedback items (see :func:`~governance.registry.record_feedback`).

        Parameters
        ----------
        version
            The version the feedback is about.
        items
            The card's ``feedback.items``.
        lease_wait
            Longest wait for the lease.

        Returns
        -------
        VerifiedCard
        """
        from governance.registry.reviews import record_feedback_in

        return record_feedback_in(self, version=version, items=items, lease_wait=lease_wait)

    def verified_card(self, version: int | None = None, *, alias: str = "champion") -> VerifiedCard:
        """Return the current card of a version or of an alias, verified (see :func:`~governance.registry.verified_card`).

        Parameters
        ----------
        version
            The version; None follows ``alias``.
        alias
            The alias to follow when ``version`` is None.

        Returns
        -------
        VerifiedCard
        """
        from governance.registry.reviews import verified_card_in

        return verified_card_in(self, version=version, alias=alias)

    def tag_version(self, version: int, *, tags: Mapping[str, Any]) -> None:
        """Set informational tags on a model version (see :func:`~governance.registry.tag_version`).

        Parameters
        ----------
        version
            The version.
        tags
            Tags to set (refused when they look like personal data).
        """
        from governance.registry.reviews import tag_version_in

        tag_version_in(self, version=version, tags=tags)

    def version_history(self) -> tuple[VersionFacts, ...]:
        """Every version of the registered model, oldest first (see :func:`~governance.registry.version_history`).

        Returns
        -------
        tuple of VersionFacts
        """
        from governance.registry.reviews import version_history_in

        return version_history_in(self)
