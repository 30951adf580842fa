"""Hostile inputs that cost without bound: bounded YAML, a cap on audited groups, one deadline per server command.

Every refusal is a one-line error with its exit code (2: bad input, 3: infrastructure), never a traceback;
bounded failure is asserted by outcomes and attempt counts, never by seconds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from governance._config_base import MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_DEPTH
from governance.audit import audit
from governance.audit._counting import MAX_AUDIT_GROUPS
from governance.audit._engine import check_audit_size
from governance.config import load_config
from governance.errors import ConfigError, DataValidationError, RegistryError
from governance.registry import Registry
from governance.registry._client import server_budget
from tests.conftest import WriteConfig

GOVERNANCE = str(Path(sys.executable).parent / "governance")
#: The issue's 307-byte file: nine levels of nine aliases stand for 9**9 strings.
LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
)


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOVERNANCE, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text and "refused" in text
    return text


# ---------------------------------------------------------------- bounded YAML


def test_a_billion_laughs_is_a_config_error_naming_the_line_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS + "\n")
    assert len(path.read_bytes()) < 400
    result = _cli("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert str(path) in result.stderr
    assert "more than 100,000 values" in result.stderr and "line " in result.stderr


def test_a_self_referencing_alias_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text("seed: &s [*s]\n")
    result = _cli("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "RecursionError" not in result.stderr and "Traceback" not in result.stderr
    assert "line 1, column 11" in result.stderr and "recursive" in result.stderr
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("data:\n  path: &p\n    inner: *p\n")
    assert "line 3, column 12" in _refused(mapping)


def test_deep_nesting_is_refused_at_the_limit_before_python_recurses(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert f"deeper than {MAX_YAML_DEPTH} levels" in _refused(deep)
    # aliases count their target's depth: a chain of nested anchors cannot build what nesting may not
    lines = [f"l0: &l0 {'[' * 30}1{']' * 30}"] + [f"l{i}: &l{i} {'[' * 30}*l{i - 1}{']' * 30}" for i in range(1, 4)]
    chained = tmp_path / "chained.yaml"
    chained.write_text("\n".join(lines) + "\n")
    assert "line 2" in _refused(chained)


def test_too_many_aliases_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text("x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_YAML_ALIASES + 1)) + "]\n")
    assert f"more than {MAX_YAML_ALIASES} aliases" in _refused(many)
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    text = _refused(big)
    assert "1 MiB" in text and "(file)" in text


def test_a_policy_file_of_aliases_is_refused_in_the_config_that_names_it(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["policy"] = {"file": "hostile_policy.yaml"}

    path = write_config(edit=edit)
    (path.parent / "hostile_policy.yaml").write_text(LAUGHS + "\n")
    result = _cli("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "hostile_policy.yaml" in result.stderr and "is refused at line" in result.stderr
    assert "more than 100,000 values" in result.stderr


def test_modest_aliases_still_load(write_config: WriteConfig) -> None:
    path = write_config()
    raw = yaml.safe_load(path.read_text())
    text = yaml.safe_dump(raw, sort_keys=False)
    experiment = raw["mlflow"]["experiment"]
    text = text.replace(f"experiment: {experiment}", f"experiment: &e {experiment}", 1)
    text += "labels:\n  experiment_again: *e\n"  # an unknown key: the alias resolves, the key is reported
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "unknown key `labels`" in str(caught.value) and "refused" not in str(caught.value)


# ---------------------------------------------------------------- a cap on audited groups


def _crossed(n: int, attributes: int, values: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({f"attr{j}": rng.integers(0, values, n).astype(str) for j in range(attributes)})
    frame["y"] = (rng.random(n) < 0.2).astype(int)
    frame["score"] = rng.random(n)
    return frame


def test_an_audit_over_the_group_cap_is_refused_up_front_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "predictions.parquet"
    _crossed(50_000, 4, 30).to_parquet(data)
    out = tmp_path / "reports" / "audit.json"
    result = _cli(
        "audit", "--data", str(data), "--label", "y", "--score", "score", "--threshold", "0.5",
        "--sensitive", "attr0,attr1,attr2,attr3", "--intersections", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"more than the {MAX_AUDIT_GROUPS:,} an audit may report" in result.stderr
    assert "'attr0 & attr1 & attr2 & attr3'" in result.stderr and "--intersections" in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["predictions.parquet"]


def test_the_cap_counts_observed_groups_of_every_attribute_and_intersection() -> None:
    frame = _crossed(20_000, 3, 30)
    sensitive = frame[["attr0", "attr1", "attr2"]]
    pairs = [["attr0", "attr1"], ["attr0", "attr2"], ["attr1", "attr2"]]
    with pytest.raises(DataValidationError) as caught:
        audit(frame["y"], frame["score"], sensitive=sensitive, threshold=0.5, intersections="all", n_boot=0)
    (problem,) = caught.value.problems
    assert problem.parameter == "intersections" and "bins" in problem.fix
    # the same check, for a caller that can make it before costlier work (a run, before training)
    with pytest.raises(DataValidationError) as early:
        check_audit_size(sensitive, [*pairs, ["attr0", "attr1", "attr2"]])
    assert early.value.problems == caught.value.problems
    # pairs alone make 3 x 900 + 90 groups: under the cap, audited
    check_audit_size(sensitive, pairs)
    report = audit(frame["y"], frame["score"], sensitive=sensitive, threshold=0.5, intersections=pairs, n_boot=0)
    assert sum(g.n for g in report.groups if g.attribute == "attr0 & attr1") == len(frame)


# ---------------------------------------------------------------- one deadline per server command


class _HangingServer:
    """A real HTTP socket server: ``/health`` answers 200; every API request is accepted and never answered.

    ``trickle``: the API answers its headers, then one body byte at a time, forever, so that no
    per-request timeout ever fires; only an overall deadline ends the client's wait.
    """

    def __init__(self, *, trickle: bool = False) -> None:
        self.trickle = trickle
        self.api_requests: list[str] = []
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            if path.startswith("/health"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                return
            self.api_requests.append(path)
            if self.trickle:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            while not self.stop.wait(0.2):
                if self.trickle:
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        return


@pytest.fixture(params=[False, True], ids=["silent", "trickle"])
def hanging_server(request: pytest.FixtureRequest) -> Iterator[_HangingServer]:
    server = _HangingServer(trickle=request.param)
    server.thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.thread.join(timeout=5)
        server.sock.close()


def test_promote_against_a_server_that_never_answers_ends_with_exit_3(
    write_config: WriteConfig, hanging_server: _HangingServer
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"].update({"tracking_uri": hanging_server.uri, "timeout_seconds": 2, "max_retries": 1})

    path = write_config(edit=edit)
    result = _cli("promote", "--config", str(path), "--model-version", "1", timeout=300)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert "127.0.0.1" in result.stderr
    # each request is tried max_retries + 1 = 2 times at most; a trickled answer never ends, one request
    if hanging_server.trickle:
        assert "budget of 8 s" in result.stderr
        assert len(hanging_server.api_requests) == 1
    else:
        assert 1 <= len(hanging_server.api_requests) <= 2


def test_the_budget_is_one_for_all_of_a_commands_operations() -> None:
    server = _HangingServer(trickle=True)
    server.thread.start()
    try:
        registry = Registry(server.uri, model_name="m", timeout=2, retries=0)
        with pytest.raises(RegistryError) as first, registry.call("read the model"):
            registry.client.get_registered_model("m")
        assert "budget of 4 s" in str(first.value)
        with pytest.raises(RegistryError) as second, registry.call("read it again"):
            registry.client.get_registered_model("m")
        assert "could not read it again" in str(second.value)  # refused at once: the budget is spent
        assert len(server.api_requests) == 1
    finally:
        server.stop.set()
        server.thread.join(timeout=5)
        server.sock.close()


def test_the_budget_follows_the_settings_and_is_capped() -> None:
    assert server_budget(10, 2) == 60
    assert server_budget(1, 1) == 4
    assert server_budget(120, 10) == 600
