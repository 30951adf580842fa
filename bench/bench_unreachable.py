"""Benchmark: how long a command takes to fail when the MLflow tracking server is unreachable.

``governance train`` against a closed port on 127.0.0.1, with the demo config's
``mlflow.timeout_seconds`` and ``mlflow.max_retries`` and then with the largest values the
config accepts: the probe in ``governance.registry`` gives up within its budget
(``PROBE_BUDGET_SECONDS``), so the issue's bound (a clear error within 30 s) holds.

The peer is MLflow's own client with its default retry policy
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 7, backoff factor 2, timeout 120 s), asked for its
experiments at the same closed port, in a subprocess stopped after ``PEER_CAP_SECONDS``;
the ratio is printed as a lower bound when the peer is stopped.

Then a server that answers ``/health`` but hangs on the API, the worst case the probe cannot
see: ``governance promote`` (a subprocess, as a user runs it) against a socket server that
accepts every API request and never answers it ("silent"), or answers its headers and then
one byte every 0.2 s forever, so that no per-request timeout fires ("trickle"); at the demo
settings and at the largest the config accepts, all four at once. Each ends with exit 3 within
the command's budget of server time (``governance.registry.server_budget``: 60 s and 600 s).

Run: ``python bench/bench_unreachable.py`` (about eleven minutes: the largest settings wait their 600 s).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from _common import ROOT, demo_raw

from governance.config import validate_config
from governance.errors import RegistryError
from governance.pipeline import train
from governance.registry import PROBE_BUDGET_SECONDS
from governance.registry._client import server_budget

BOUND_SECONDS = 30.0
PEER_CAP_SECONDS = 90.0
_PEER = "from mlflow.tracking import MlflowClient; MlflowClient(tracking_uri={uri!r}).search_experiments()"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ours(uri: str, folder: Path, *, timeout: float, retries: int) -> float:
    raw = demo_raw()
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"]["generate"]["rows"] = 2_000
    raw["mlflow"].update({"tracking_uri": uri, "timeout_seconds": timeout, "max_retries": retries})
    config = validate_config(raw, base_dir=Path(__file__).resolve().parents[1] / "configs")
    start = time.perf_counter()
    try:
        train(config)
    except RegistryError:
        return time.perf_counter() - start
    raise SystemExit(f"expected the unreachable server at {uri} to stop training")


def peer(uri: str) -> tuple[float, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST_")}
    start = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-c", _PEER.format(uri=uri)],
            env=env,
            capture_output=True,
            timeout=PEER_CAP_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, True
    return time.perf_counter() - start, False


class HangingServer:
    """``/health`` answers 200; every API request is accepted and never answered (or trickled, one byte at a time)."""

    def __init__(self, *, trickle: bool) -> None:
        self.trickle = trickle
        self.requests = 0
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.uri = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            if data.split(b" ", 2)[1].startswith(b"/health"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                return
            self.requests += 1
            if self.trickle:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
            while not self.stop.wait(0.2):
                if self.trickle:
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def hanging(folder: Path, *, trickle: bool, timeout: float, retries: int) -> tuple[float, int, int, str]:
    """Seconds until ``governance promote`` exits against a hanging server, its exit code, API requests, last line."""
    server = HangingServer(trickle=trickle)
    raw = demo_raw()
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["policy"]["file"] = str(ROOT / "configs" / raw["policy"]["file"])
    raw["mlflow"].update({"tracking_uri": server.uri, "timeout_seconds": timeout, "max_retries": retries})
    path = folder / f"hanging-{trickle}-{retries}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    command = [
        str(Path(sys.executable).parent / "governance"),
        "promote",
        "--config",
        str(path),
        "--model-version",
        "1",
    ]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    finally:
        server.close()
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return time.perf_counter() - start, done.returncode, server.requests, last


def main() -> None:
    os.environ.setdefault("GOVERNANCE_PSEUDONYM_KEY", "bench-key-0123456789abcdef-not-secret")
    uri = f"http://127.0.0.1:{closed_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        default = ours(uri, Path(tmp), timeout=10.0, retries=2)
        largest = ours(uri, Path(tmp), timeout=120.0, retries=10)
    seconds, stopped = peer(uri)
    print(f"unreachable server {uri} (probe budget {PROBE_BUDGET_SECONDS:.0f} s, bound {BOUND_SECONDS:.0f} s)")
    print(f"  governance train, demo settings (timeout 10 s, 2 retries):    {default:6.2f} s")
    print(f"  governance train, largest settings (timeout 120 s, 10 retries): {largest:6.2f} s")
    mark = ">" if stopped else ""
    print(
        f"  peer: MlflowClient with MLflow's default retries: {mark}{seconds:6.2f} s"
        + (" (stopped)" if stopped else "")
    )
    print(f"  ratio peer / governance (largest settings): {mark}{seconds / largest:.1f}x")
    for label, value in (("demo", default), ("largest", largest)):
        status = "within" if value < BOUND_SECONDS else "OVER"
        print(f"  {label}: {status} the {BOUND_SECONDS:.0f} s bound")
    cases = [(trickle, t, r) for t, r in ((10.0, 2), (120.0, 10)) for trickle in (False, True)]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(len(cases)) as pool:
        futures = [pool.submit(hanging, Path(tmp), trickle=c[0], timeout=c[1], retries=c[2]) for c in cases]
        results = [f.result() for f in futures]
    print("server that answers /health and hangs on the API: governance promote, time to exit 3")
    for (trickle, t, r), (seconds, code, requests, last) in zip(cases, results, strict=True):
        kind = "trickle" if trickle else "silent "
        budget = server_budget(t, r)
        status = "within" if code == 3 and seconds <= budget + PROBE_BUDGET_SECONDS + 15 else "OVER"
        print(
            f"  {kind} timeout {t:3.0f} s, {r:2d} retries: {seconds:7.2f} s, exit {code}, {requests} API request(s); "
            f"budget {budget:.0f} s: {status}"
        )
        print(f"    {last[:160]}")


if __name__ == "__main__":
    main()
