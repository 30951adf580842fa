"""Benchmark: how long a command takes to fail when the MLflow tracking server is unreachable.

``governance train`` against a closed port on 127.0.0.1, with the demo config's
``mlflow.timeout_seconds`` and ``mlflow.max_retries`` and then with the largest values the
config accepts: the probe in ``governance.registry`` gives up within its budget
(``PROBE_BUDGET_SECONDS``), so the issue's bound (a clear error within 30 s) holds.

The peer is MLflow's own client with its default retry policy
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 7, backoff factor 2, timeout 120 s), asked for its
experiments at the same closed port, in a subprocess stopped after ``PEER_CAP_SECONDS``;
the ratio is printed as a lower bound when the peer is stopped.

Run: ``python bench/bench_unreachable.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import demo_raw

from governance.config import validate_config
from governance.errors import RegistryError
from governance.pipeline import train
from governance.registry import PROBE_BUDGET_SECONDS

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


if __name__ == "__main__":
    main()
