"""Hostile servers: a registration cut short is settled by the next run, never left half-eligible.

A real ``mlflow server`` is killed in the middle of ``governance run`` (while a candidate trains, after
its version is created, after its card is stored): the run ends with exit 3 and one line, no alias
moves, and after the server restarts on the same backend store the next run reaps the RUNNING runs
and completes the version from its run's audit record, or tags it abandoned; the champion afterwards
always has a card, and ``promote`` of the unfinished version is refused with exit 2. The kill is
placed on an exact request by a relay between the CLI and the server (it forwards bytes and counts
requests), so every case is deterministic. The same relay delivers SIGTERM / SIGINT while the run
promotes, the one stage no progress line announces: exit 143 / 130, no alias moved.

The settling itself (:func:`governance.registry._evidence.settle_registrations`) is also tested
in-process against a SQLite store, with the states a killed process leaves.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
import yaml
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from governance.config import validate_config
from governance.datasets import generate_accounts
from governance.errors import ConfigError, GateFailure
from governance.pipeline import CandidateOutcome, train
from governance.registry import Registry, promote, register_candidate
from governance.registry._card import CARD_FOLDER, check_card, sha
from governance.registry._evidence import (
    ABANDONED,
    COMPLETED,
    REGISTRATION_TAG,
    UnfinishedRegistration,
    settle_registrations,
)
from governance.registry.promotion import _registered_card, _version_of_run
from governance.registry.runs import PID_TAG, REAPED_TAG
from tests.conftest import ROOT, TEST_KEY
from tests.registry.test_promotion import _card

MLFLOW = Path(sys.executable).parent / "mlflow"
#: Longest a subprocess or a server start may take before the test gives up (a hang is a failure).
_LIMIT = 300


# ---------------------------------------------------------------- a real server, and a relay that times its death


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """A real ``mlflow server`` on 127.0.0.1 over ``folder`` (SQLite backend, proxied artifacts)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        command = [
            str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
        ]  # fmt: skip
        self.log = folder / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + _LIMIT
        while True:
            try:
                if requests.get(f"{self.uri}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not become healthy"
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash or an OOM kill would; wait until they are gone."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


#: A trigger sees each request (its line, ``POST /api/2.0/mlflow/runs/create HTTP/1.1``, its headers and its
#: body), in order, before it is forwarded; True: act now.
Trigger = Callable[[str], bool]


def _on(pattern: str) -> Trigger:
    """Act on the first request that holds ``pattern``."""
    return lambda request: pattern in request


def _after(pattern: str, count: int) -> Trigger:
    """Act on the first request after the ``count``-th request that holds ``pattern`` (that one answered)."""
    seen = [0]

    def trigger(request: str) -> bool:
        if seen[0] >= count:
            return True
        seen[0] += pattern in request
        return False

    return trigger


class _Relay:
    """A TCP relay to a server that reads the HTTP requests passing through, and acts on one of them.

    ``cut=True``: the request the trigger picks is never forwarded; ``action`` runs (it kills the
    server), and from then on every connection is accepted and closed at once, as a dead server's
    port refuses it (``refused`` counts them: the client's attempts after the kill).
    ``cut=False``: ``action`` runs (it signals the client) and the request is forwarded as usual.
    """

    def __init__(self, port: int, *, trigger: Trigger, action: Callable[[], None], cut: bool) -> None:
        self.target, self.trigger, self.action, self.cut = port, trigger, action, cut
        self.lines: list[str] = []
        self.fired_at: str | None = None
        self.refused = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut and self.fired_at is not None:
                self.refused += 1
                conn.close()
                continue
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=30)
        except OSError:
            self.refused += 1
            conn.close()
            return
        with self._lock:
            self._open += [conn, upstream]
        threading.Thread(target=_pump, args=(upstream, conn), daemon=True).start()
        try:
            for line, raw in _requests(conn):
                with self._lock:
                    self.lines.append(line)
                    act = self.fired_at is None and self.trigger(raw.decode("latin-1"))
                    if act:
                        self.fired_at = line
                if act:
                    self.action()
                    if self.cut:
                        self._close_all()
                        return
                upstream.sendall(raw)
        except OSError:
            pass
        finally:
            conn.close()
            upstream.close()

    def _close_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()
        self._close_all()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from ``source`` to ``sink`` until either closes."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _requests(conn: socket.socket) -> Iterator[tuple[str, bytes]]:
    """Each HTTP/1.1 request a client sends on a connection: its request line and its bytes, whole."""
    buffer = b""

    def more() -> bool:
        nonlocal buffer
        chunk = conn.recv(65536)
        buffer += chunk
        return bool(chunk)

    while True:
        while b"\r\n\r\n" not in buffer:
            if not more():
                return
        head, _, rest = buffer.partition(b"\r\n\r\n")
        fields = {
            k.strip().lower(): v.strip()
            for k, _, v in (h.partition(":") for h in head.decode("latin-1").split("\r\n")[1:])
        }
        buffer = rest
        if "chunked" in fields.get("transfer-encoding", "").lower():
            while b"0\r\n\r\n" not in buffer:
                if not more():
                    return
            end = buffer.index(b"0\r\n\r\n") + 5
        else:
            end = int(fields.get("content-length", "0"))
            while len(buffer) < end:
                if not more():
                    return
        body, buffer = buffer[:end], buffer[end:]
        yield head.split(b"\r\n", 1)[0].decode("latin-1"), head + b"\r\n\r\n" + body


# ---------------------------------------------------------------- the project and the CLI


@pytest.fixture(scope="module")
def accounts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unbiased accounts, so that the candidate passes an AUC-only policy and an uninterrupted run promotes it."""
    path = tmp_path_factory.mktemp("data") / "accounts.parquet"
    generate_accounts(4000, seed=21, bias=0.0).to_parquet(path, index=False)
    return path


def _project(folder: Path, default_raw: dict[str, Any], data: Path) -> Path:
    """The smallest config of a whole run: one logistic regression, an AUC rule of 0.6, no approvals."""
    policy = yaml.safe_load(Path(default_raw["policy"]["file"]).read_text())
    policy["rules"] = [{**r, "bound": 0.6} for r in policy["rules"] if r["name"] == "overall AUC"]
    policy["required_approvals"] = 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(data)
    raw["data"].pop("generate", None)
    raw["policy"] = {"file": "policy.yaml"}
    raw["mlflow"].update(tracking_uri=None, timeout_seconds=5, max_retries=1)  # the server comes from the env
    raw["output"] = {"reports": "reports", "models": "models"}
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["audit"]["bootstrap"] = 50
    raw["explain"].update(sample_per_group=50, bootstrap=0, proxy_rows=2000, minimization_rows=1000, background_size=20)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@dataclass
class _Done:
    code: int
    pid: int
    out: str
    err: str


def _governance(config: Path, uri: str, *args: str) -> _Done:
    """``governance <args> --config <config>`` against ``uri`` as a subprocess, to its end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(GOVERNANCE_PSEUDONYM_KEY=TEST_KEY, PYTHONPATH=str(ROOT), MLFLOW_TRACKING_URI=uri, COLUMNS="400")
    proc = subprocess.Popen(
        [sys.executable, "-m", "governance", *args, "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=_LIMIT)
    return _Done(proc.returncode, proc.pid, out, err)


def _one_error_line(done: _Done) -> str:
    """The command's one ``error:`` line; no traceback."""
    assert "Traceback" not in done.err and "Exception ignored" not in done.err, done.err[-3000:]
    errors = [line for line in done.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.err[-3000:]
    return errors[0]


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    if name not in {m.name for m in client.search_registered_models()}:
        return {}
    return {str(k): str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _runs(client: MlflowClient) -> list[Any]:
    experiments = client.search_experiments(view_type=ViewType.ALL)
    return list(client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL))


def _versions(client: MlflowClient, name: str) -> dict[int, Any]:
    return {int(v.version): v for v in client.search_model_versions(f"name = '{name}'")}


NAME = "account-scoring"  # the demo config's registered model


@dataclass(frozen=True)
class _Cut:
    """Where the server dies: the trigger, and what the store holds afterwards."""

    trigger: Trigger
    versions: int  # versions left by the interrupted run
    settled: str  # what the next run makes of version 1: abandoned, completed, or "" (no version)


_CUTS = {
    # the candidate's nested run is open (the parent's create, then the child's): both stay RUNNING
    "training": lambda: _Cut(_after("POST /api/2.0/mlflow/runs/create ", 2), versions=0, settled=""),
    # the version exists, READY, but its card was never stored: nothing to complete it from
    "after-the-version": lambda: _Cut(
        _after("POST /api/2.0/mlflow/model-versions/create ", 1), versions=1, settled=ABANDONED
    ),
    # the card and the run's audit record are stored, the version's tags are not
    "after-the-card": lambda: _Cut(_on("POST /api/2.0/mlflow/model-versions/set-tag "), versions=1, settled=COMPLETED),
}


@pytest.mark.slow
@pytest.mark.parametrize("cut", list(_CUTS))
def test_a_server_killed_mid_run_is_exit_3_and_the_next_run_settles_what_it_left(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path, cut: str
) -> None:
    case = _CUTS[cut]()
    config = _project(tmp_path / "project", default_raw, accounts_file)
    store = tmp_path / "server"
    server = _Server(store)
    relay = _Relay(server.port, trigger=case.trigger, action=server.kill, cut=True)
    try:
        first = _governance(config, relay.uri, "run")
    finally:
        relay.close()
        server.stop()

    assert relay.fired_at is not None, f"the run ended before the request the server dies at: {relay.lines[-5:]}"
    assert first.code == 3, first.err[-3000:]
    line = _one_error_line(first)
    assert f"127.0.0.1:{relay.uri.rsplit(':', 1)[1]}" in line
    # bounded: after the kill each operation is tried max_retries + 1 = 2 times at most, and there are
    # few: the failing write, then (killed while training) the ends of the nested and the parent run
    operations = 3 if cut == "training" else 1
    assert 1 <= relay.refused <= operations * 2, relay.refused

    restarted = _Server(store)  # the same backend store and artifacts, another process and port
    try:
        client = MlflowClient(tracking_uri=restarted.uri, registry_uri=restarted.uri)
        assert _aliases(client, NAME) == {}  # no alias moved
        left = _versions(client, NAME) if case.versions else {}
        assert len(left) == case.versions
        for mv in left.values():  # unfinished, and never eligible until settled
            assert mv.status == "READY" and "card.sha256" not in mv.tags and mv.tags[PID_TAG] == str(first.pid)
            refused = _governance(config, restarted.uri, "promote", "--model-version", str(mv.version))
            assert refused.code == 2 and "registration did not complete" in _one_error_line(refused)
        running = {r.info.run_id for r in _runs(client) if r.info.status == "RUNNING"}
        assert len(running) == (2 if cut == "training" else 0)

        second = _governance(config, restarted.uri, "run")
        assert second.code == 0, second.err[-3000:]
        assert "Traceback" not in second.err

        runs = {r.info.run_id: r for r in _runs(client)}
        assert [r for r in runs.values() if r.info.status == "RUNNING"] == []
        for run_id in running:  # reaped by the second run, naming the first's process
            assert runs[run_id].info.status == "KILLED"
            assert f"pid {first.pid}" in runs[run_id].data.tags[REAPED_TAG]
        versions = _versions(client, NAME)
        champion = int(_aliases(client, NAME)["champion"])
        assert versions[champion].tags["card.sha256"]  # the champion is a complete registration
        if case.settled:
            settled = versions[1].tags
            assert settled[REGISTRATION_TAG] == case.settled
            assert f"pid {first.pid}" in settled["governance.registration.reason"]
            assert f"version 1: registration {case.settled}" in second.err  # the run says what it settled
        if case.settled == ABANDONED:
            assert "card.sha256" not in versions[1].tags and champion == 2 and len(versions) == 2
            refused = _governance(config, restarted.uri, "promote", "--model-version", "1")
            assert refused.code == 2, refused.err
            assert "version 1: registration abandoned (interrupted" in _one_error_line(refused)
            assert "run governance run again" in refused.err
        if case.settled == COMPLETED:
            # completed from its run's record; the identical re-run matched it instead of adding a version
            run_record = client.get_run(versions[1].run_id).data.tags
            assert versions[1].tags["card.sha256"] == run_record["card.sha256"] and champion == 1
            assert len(versions) == 1
        assert _aliases(client, NAME).get("champion") == str(champion)
    finally:
        restarted.stop()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_run_promotes_ends_it_cancelled_with_no_alias_moved(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path, signum: signal.Signals
) -> None:
    config = _project(tmp_path / "project", default_raw, accounts_file)
    server = _Server(tmp_path / "server")
    sent: list[int] = []
    procs: list[subprocess.Popen[str]] = []

    def deliver() -> None:  # the promotion takes its lease (registered-model tag governance.lease)
        (proc,) = procs
        proc.send_signal(signum)
        sent.append(signum)

    def take_lease(request: str) -> bool:
        return "/registered-models/set-tag " in request and "governance.lease" in request

    relay = _Relay(server.port, trigger=take_lease, action=deliver, cut=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(GOVERNANCE_PSEUDONYM_KEY=TEST_KEY, PYTHONPATH=str(ROOT), MLFLOW_TRACKING_URI=relay.uri)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "governance", "run", "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        _, err = proc.communicate(timeout=_LIMIT)
        client = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
        assert sent == [signum], f"the run never reached its promotion: {err[-2000:]}"
        assert proc.returncode == 128 + signum, err[-3000:]
        assert f"cancelled ({signum.name})" in err and "Traceback" not in err
        assert _aliases(client, NAME) == {}  # an uncancelled run would have made version 1 champion
        assert [r for r in _runs(client) if r.info.status == "RUNNING"] == []
        tags = client.get_registered_model(NAME).tags
        assert "governance.lease" not in tags  # the lease was handed back on the way out
    finally:
        relay.close()
        server.stop()


# ---------------------------------------------------------------- settling, in-process


@dataclass
class _Trained:
    uri: str
    outcomes: list[CandidateOutcome]

    def take(self) -> CandidateOutcome:
        return self.outcomes.pop(0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, accounts: pd.DataFrame, default_raw: dict[str, Any]) -> _Trained:
    folder = tmp_path_factory.mktemp("settle")
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["mlflow"]["tracking_uri"] = f"sqlite:///{folder / 'mlflow.db'}"
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [{**copy.deepcopy(base), "name": f"logreg_{i}"} for i in range(8)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        outcome = train(validate_config(raw))
    return _Trained(uri=raw["mlflow"]["tracking_uri"], outcomes=list(outcome.candidates))


@pytest.fixture
def dead_pid() -> str:
    """The pid of a process of this machine that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return done.stdout.strip()


def _cut_short(uri: str, name: str, outcome: CandidateOutcome, *, pid: str, card_stored: bool) -> int:
    """Leave a registration as a process killed at that point leaves it: the version, maybe the card and record."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_tags = client.get_run(outcome.run_id).data.tags
    version = int(_version_of_run(client, name, outcome.run_id, run_tags).version)
    client.set_model_version_tag(name, str(version), PID_TAG, pid)  # registered by that process
    if card_stored:
        plain = check_card(_card(outcome, "pass"), run_id=outcome.run_id)
        data = _registered_card(plain, name=name, version=version, run_id=outcome.run_id)
        client.log_text(outcome.run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{sha(data)}.json")
        client.set_tag(outcome.run_id, "gate.verdict", "pass")
        client.set_tag(outcome.run_id, "card.sha256", sha(data))
    return version


def test_settling_completes_what_its_run_records_abandons_the_rest_and_leaves_live_ones_alone(
    trained: _Trained, dead_pid: str
) -> None:
    name = "settle-a"
    client = MlflowClient(tracking_uri=trained.uri, registry_uri=trained.uri)
    bare = _cut_short(trained.uri, name, trained.take(), pid=dead_pid, card_stored=False)
    carded = _cut_short(trained.uri, name, trained.take(), pid=dead_pid, card_stored=True)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            live = _cut_short(trained.uri, name, trained.take(), pid=str(alive.pid), card_stored=False)
            with pytest.warns(UserWarning, match="registration") as shown:
                done = settle_registrations(client, name)
            tags = {v: client.get_model_version(name, str(v)).tags for v in (bare, carded, live)}
            assert settle_registrations(client, name) == []  # settled once; a second pass changes nothing
        finally:
            alive.kill()

    assert len(done) == len(shown) == 2
    assert tags[bare][REGISTRATION_TAG] == ABANDONED and "card.sha256" not in tags[bare]
    assert f"pid {dead_pid}" in tags[bare]["governance.registration.reason"]
    assert "holds no audit record" in tags[bare]["governance.registration.reason"]
    assert tags[carded][REGISTRATION_TAG] == COMPLETED and tags[carded]["review.count"] == "0"
    carded_run = client.get_model_version(name, str(carded)).run_id
    assert tags[carded]["card.sha256"] == client.get_run(carded_run).data.tags["card.sha256"]
    assert REGISTRATION_TAG not in tags[live] and "card.sha256" not in tags[live]  # its process may finish it

    with pytest.raises(UnfinishedRegistration, match="registration abandoned") as refused:
        promote(trained.uri, registered_model=name, version=bare, required_approvals=0)
    assert refused.value.exit_code == 2 and isinstance(refused.value, GateFailure)
    assert refused.value.report["reason"] == "abandoned"
    with pytest.raises(UnfinishedRegistration, match="registration did not complete") as pending:
        promote(trained.uri, registered_model=name, version=live, required_approvals=0)
    assert pending.value.report["reason"] == "unregistered"
    assert promote(trained.uri, registered_model=name, version=carded, required_approvals=0).champion == carded


def test_an_abandoned_registration_is_never_completed_later(trained: _Trained, dead_pid: str) -> None:
    name = "settle-b"
    outcome = trained.take()
    client = MlflowClient(tracking_uri=trained.uri, registry_uri=trained.uri)
    version = _cut_short(trained.uri, name, outcome, pid=dead_pid, card_stored=False)
    with pytest.warns(UserWarning, match="registration abandoned"):
        settle_registrations(client, name)
    with pytest.raises(ConfigError, match="registration abandoned"):
        register_candidate(trained.uri, registered_model=name, run_id=outcome.run_id, card=_card(outcome, "pass"))
    assert "card.sha256" not in client.get_model_version(name, str(version)).tags
    assert len(client.search_model_versions(f"name = '{name}'")) == 1  # nothing added, nothing deleted


def test_opening_a_run_settles_the_registrations_of_its_registered_model(trained: _Trained, dead_pid: str) -> None:
    name = "settle-c"
    client = MlflowClient(tracking_uri=trained.uri, registry_uri=trained.uri)
    version = _cut_short(trained.uri, name, trained.take(), pid=dead_pid, card_stored=True)
    opened = Registry(trained.uri, model_name=name).run(experiment="settle-c", run_name="next")
    with pytest.warns(UserWarning, match=f"version {version}: registration completed"), opened:
        pass
    assert client.get_model_version(name, str(version)).tags[REGISTRATION_TAG] == COMPLETED
    with Registry(trained.uri, model_name="another-model").run(experiment="settle-c", run_name="other"):
        pass  # another registered model's registry settles only its own versions: nothing to warn about


def test_a_record_that_does_not_verify_is_abandoned_not_completed(trained: _Trained, dead_pid: str) -> None:
    name = "settle-d"
    outcome = trained.take()
    client = MlflowClient(tracking_uri=trained.uri, registry_uri=trained.uri)
    version = _cut_short(trained.uri, name, outcome, pid=dead_pid, card_stored=True)
    client.set_tag(outcome.run_id, "gate.verdict", "fail")  # the record no longer agrees with the stored card
    with pytest.warns(UserWarning, match="registration abandoned"):
        done = settle_registrations(client, name)
    tags = client.get_model_version(name, str(version)).tags
    assert tags[REGISTRATION_TAG] == ABANDONED and "card.sha256" not in tags
    assert "describes another version, run or verdict" in tags["governance.registration.reason"]
    assert len(done) == 1
