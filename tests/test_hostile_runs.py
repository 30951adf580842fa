"""Hostile runs: cancelled, killed and parallel ``governance run`` leave a consistent store.

A signal during any stage ends the run with 143 (SIGTERM) or 130 (SIGINT), moves
no alias and leaves no RUNNING run; a run killed with SIGKILL is reaped by the
next; two runs started together on one new SQLite store are serialized and agree.
The CLI runs as a real subprocess; its stage is read from its progress display
on stderr (rich draws it live when ``FORCE_COLOR`` is set, as in a terminal).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from governance.config import load_config, tracking_uri
from governance.datasets import generate_accounts
from governance.pipeline import train
from governance.registry.runs import PID_TAG, REAPED_TAG, process_tags, stale_reason
from tests.conftest import ROOT, TEST_KEY

STAGES = ("generate data", "train candidates", "audit candidates", "explain candidates", "cards and registry")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Longest a subprocess may take before the test gives up on it (a hang is a failure, not a wait).
_LIMIT = 240


@pytest.fixture(scope="module")
def accounts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unbiased accounts, so that the plain candidates pass an AUC-only policy and would be promoted."""
    path = tmp_path_factory.mktemp("data") / "accounts.parquet"
    generate_accounts(4000, seed=21, bias=0.0).to_parquet(path, index=False)
    return path


def _config(folder: Path, default_raw: dict[str, Any], data: Path, *, generate: bool = False) -> Path:
    """A small config whose candidates pass (an AUC of 0.6 only, no approvals): an uncancelled run promotes."""
    policy = yaml.safe_load(Path(default_raw["policy"]["file"]).read_text())
    policy["rules"] = [{**r, "bound": 0.6} for r in policy["rules"] if r["name"] == "overall AUC"]
    policy["required_approvals"] = 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    raw = copy.deepcopy(default_raw)
    if generate:
        raw["data"] = {"path": "generated.parquet", "generate": {"rows": 4000, "seed": 21, "bias": 0.0}}
    else:
        raw["data"]["path"] = str(data)
        raw["data"].pop("generate", None)
    raw["policy"] = {"file": "policy.yaml"}
    raw["mlflow"]["embedded_store"] = "mlruns"
    raw["output"] = {"reports": "reports", "models": "models"}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [base, {**copy.deepcopy(base), "name": "logreg_strong", "params": {"C": 0.01}}]
    raw["audit"]["bootstrap"] = 50
    raw["explain"].update(sample_per_group=50, bootstrap=0, proxy_rows=2000, minimization_rows=1000, background_size=20)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(GOVERNANCE_PSEUDONYM_KEY=TEST_KEY, PYTHONPATH=str(ROOT), FORCE_COLOR="1", COLUMNS="120")
    return env


class _Cli:
    """``governance <command> --config <path>`` as a subprocess, its stderr read as it comes."""

    def __init__(self, command: str, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "governance", command, "--config", str(config)],
            cwd=config.parent,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.err = ""
        self.out = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):  # type: ignore[attr-defined]
            with self._lock:
                self.err += _ANSI.sub("", chunk.decode("utf-8", "replace"))

    def wait_for(self, text: str) -> bool:
        """Wait until stderr shows ``text``; False when the process ended first."""
        deadline = time.monotonic() + _LIMIT
        while time.monotonic() < deadline:
            with self._lock:
                if text in self.err:
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared")

    def finish(self) -> int:
        """Wait for the process to end; its exit code."""
        assert self.proc.stdout is not None
        self.out = self.proc.stdout.read().decode("utf-8", "replace")
        code = self.proc.wait(timeout=_LIMIT)
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code


def _store(config: Path) -> tuple[MlflowClient, str]:
    """The store's client and the registered model's name."""
    loaded = load_config(config)
    uri = tracking_uri(loaded)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), loaded.mlflow.registered_model


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    if name not in {m.name for m in client.search_registered_models()}:
        return {}
    return {str(k): str(v) for k, v in client.get_registered_model(name).aliases.items()}


def _runs(client: MlflowClient) -> list[Any]:
    experiments = client.search_experiments(view_type=ViewType.ALL)
    if not experiments:
        return []
    return list(client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL))


def _signal_case(stage: str, signum: signal.Signals) -> Any:
    marks = [] if stage == "explain candidates" else [pytest.mark.slow]
    return pytest.param(stage, signum, marks=marks, id=f"{signum.name}-{stage.replace(' ', '-')}")


@pytest.mark.parametrize(
    ("stage", "signum"), [_signal_case(s, g) for s in STAGES for g in (signal.SIGTERM, signal.SIGINT)]
)
def test_a_signal_during_any_stage_ends_the_run_cancelled_with_no_alias_moved_and_no_run_left_running(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path, stage: str, signum: signal.Signals
) -> None:
    config = _config(tmp_path / "project", default_raw, accounts_file, generate=stage == "generate data")
    cli = _Cli("run", config)
    reached = cli.wait_for(stage)
    assert reached, f"the run ended before {stage!r}: {cli.err[-2000:]}"
    cli.proc.send_signal(signum)
    code = cli.finish()

    assert code == 128 + signum, (code, cli.err[-3000:])
    assert "Traceback" not in cli.err and "Exception ignored" not in cli.err, cli.err[-3000:]
    assert f"cancelled ({signum.name})" in cli.err
    client, name = _store(config)
    assert _aliases(client, name) == {}  # nothing was promoted or nominated (an uncancelled run promotes)
    assert [r.info.status for r in _runs(client) if r.info.status == "RUNNING"] == []
    summary = config.parent / "reports" / "summary.json"
    if summary.exists():  # cancelled between the summary written before promotion and the promotion
        assert json.loads(summary.read_text())["alias"] is None


@pytest.mark.slow
def test_a_run_killed_with_sigkill_leaves_running_runs_that_the_next_run_reaps(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path
) -> None:
    config = _config(tmp_path / "project", default_raw, accounts_file)
    cli = _Cli("train", config)
    assert cli.wait_for("train candidates"), cli.err[-2000:]
    time.sleep(0.5)  # into the first candidate's nested run
    cli.proc.kill()
    assert cli.finish() == -signal.SIGKILL
    client, _ = _store(config)
    left = {r.info.run_id for r in _runs(client) if r.info.status == "RUNNING"}
    assert left, "SIGKILL left no RUNNING run: nothing to reap"
    assert {r.data.tags[PID_TAG] for r in _runs(client) if r.info.run_id in left} == {str(cli.proc.pid)}

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(config.parent)
        outcome = train(load_config(config))
    runs = {r.info.run_id: r for r in _runs(client)}
    for run_id in left:
        assert runs[run_id].info.status == "KILLED"
        assert (
            "its process" in runs[run_id].data.tags[REAPED_TAG]
            and str(cli.proc.pid) in runs[run_id].data.tags[REAPED_TAG]
        )
    assert runs[outcome.run_id].info.status == "FINISHED"
    assert [r for r in runs.values() if r.info.status == "RUNNING"] == []


def test_a_running_run_is_stale_only_when_its_process_is_gone_or_it_is_too_old() -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = {**process_tags(), PID_TAG: gone.stdout.strip()}
    alive = {**process_tags(), PID_TAG: str(os.getppid())}  # a live process of this machine, not this one
    other_host = {PID_TAG: gone.stdout.strip(), "governance.process.host": "another-machine"}
    now = time.time()
    recent, old = int(now * 1000) - 60_000, int(now * 1000) - 25 * 3600 * 1000
    assert "its process" in stale_reason(dead, recent, now=now)
    assert stale_reason(alive, recent, now=now) == ""
    assert stale_reason(other_host, recent, now=now) == ""  # another machine's process cannot be probed: age decides
    assert "h after it started" in stale_reason(other_host, old, now=now)
    assert "h after it started" in stale_reason({}, old, now=now)
    assert stale_reason(process_tags(), recent, now=now) == ""  # this very process


@pytest.mark.slow
def test_two_runs_started_together_on_a_new_sqlite_store_are_serialized_and_agree(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path
) -> None:
    config = _config(tmp_path / "project", default_raw, accounts_file)
    first, second = _Cli("run", config), _Cli("run", config)
    codes = [first.finish(), second.finish()]

    assert codes == [0, 0], (first.err[-2000:], second.err[-2000:])
    assert any("waiting for another run on this store" in c.err for c in (first, second))
    for cli in (first, second):
        assert "Traceback" not in cli.err, cli.err[-3000:]
    client, name = _store(config)
    summary = json.loads((config.parent / "reports" / "summary.json").read_text())
    aliases = _aliases(client, name)
    assert summary["alias"] == "champion" and aliases["champion"] == str(summary["champion_version"])
    versions = client.search_model_versions(f"name = '{name}'")
    assert len(versions) == 2  # the second run matched the first's versions (same lineage): no duplicates
    for entry in summary["cards"]:
        card = json.loads(Path(entry["card_json"]).read_text())
        assert card["model"]["version"] == entry["version"]
    assert [r for r in _runs(client) if r.info.status != "FINISHED"] == []


def test_a_signal_only_sets_the_flag_the_next_check_stops_and_a_second_signal_stops_at_once() -> None:
    from governance import _cancel

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with _cancel.handling():
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this thread: the handler records it and returns
        assert _cancel.requested() == signal.SIGINT
        with pytest.raises(_cancel.Cancelled) as stopped:
            _cancel.check()
        assert stopped.value.code == 130 and str(stopped.value) == "cancelled by SIGINT"
        with pytest.raises(_cancel.Cancelled) as forced:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal while the first is pending: raise now
            time.sleep(1)
        assert forced.value.code == 130  # the first signal decides the exit code
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    _cancel.check()  # the cancel ended with its block: what runs next starts uncancelled


@pytest.mark.slow
def test_a_summary_that_cannot_be_written_stops_the_run_before_any_alias_moves(
    tmp_path: Path, default_raw: dict[str, Any], accounts_file: Path
) -> None:
    # a summary that cannot be replaced, as on a full disk: an immutable file (root only; a folder in its
    # place is refused up front, exit 2, before any work, so it cannot stand for a failure at the end)
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("an unwritable summary.json needs root and chattr (an immutable file)")
    config = _config(tmp_path / "project", default_raw, accounts_file)
    blocked = config.parent / "reports" / "summary.json"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("{}")
    subprocess.run(["chattr", "+i", str(blocked)], check=True)
    try:
        cli = _Cli("run", config)
        code = cli.finish()
    finally:
        subprocess.run(["chattr", "-i", str(blocked)], check=True)

    assert code == 3, cli.err[-3000:]
    assert "cannot write the run's summary" in cli.err and "no alias was moved" in cli.err
    assert "Traceback" not in cli.err
    client, name = _store(config)
    assert _aliases(client, name) == {}
    assert [r for r in _runs(client) if r.info.status == "RUNNING"] == []
