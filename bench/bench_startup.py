"""Benchmark: how long the command line takes to start and finish, against ``python -c pass``.

Usage: ``python bench/bench_startup.py [--runs N]``

Whole-process wall time (the median of ``--runs`` runs, default 7; the CPU time beside it is
steadier on a busy machine) and peak memory (the child's maximum resident set size, from
``os.wait4``) of:

1. ``governance --version``;
2. ``governance gate --card card.json``, on a card built as ``tests/test_cli_gate.py`` builds
   one (an audit of 6,000 seeded rows with the four-fifths rule as its policy), judged on a
   fixed date so that it passes;
3. ``governance audit`` of a 1,000-row CSV of labels, scores and two sensitive attributes
   (top 20% selected, the default 1,000 bootstrap replicates);

each against ``python -c pass`` measured in the same run, with the ratio to it. Targets:
``--version`` and ``gate --card`` under 0.35 s, the audit of 1,000 rows under 1 s. Every
input is written to a temporary folder from fixed seeds; nothing touches the network. The
benchmark prints; it does not judge the times (a command that exits with another status
than expected is reported).

Bytecode is cached in the temporary folder (``PYTHONPYCACHEPREFIX``), and each command runs
once untimed first, so the times are those of an installed package, not of compiling it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = "2026-01-15"
FOUR_FIFTHS = {
    "name": "four-fifths rule",
    "metric": "selection_rate",
    "scope": "disparity",
    "attribute": "ownership",
    "statistic": "ratio",
    "bound": 0.8,
    "side": "min",
}


def write_card(folder: Path) -> Path:
    """Write a passing card.json as the gate tests build one: a seeded audit and the four-fifths rule."""
    import numpy as np

    from governance.audit import audit
    from governance.gate import CARD_SCHEMA

    rng = np.random.default_rng(1)
    size = 3000
    groups = np.repeat(["a", "b"], size)
    y = (rng.random(2 * size) < 0.3).astype(int)
    scores = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, 2 * size))))
    report = audit(y, scores, sensitive={"ownership": groups}, top_k=0.3, n_boot=200)
    card = {
        "schema": CARD_SCHEMA,
        "model": {"name": "account-scoring", "candidate": "c", "version": "3", "valid_until": "2026-03-01"},
        "fairness": report.to_dict(),
        "policy": {"rules": [FOUR_FIFTHS]},
    }
    path = folder / "card.json"
    path.write_text(json.dumps(card, allow_nan=False))
    return path


def write_predictions(folder: Path, rows: int = 1000) -> Path:
    """Write ``rows`` seeded predictions: label, score and two sensitive attributes, as CSV."""
    import numpy as np

    rng = np.random.default_rng(0)
    ownership = rng.choice(["none", "minority_owned", "women_owned"], rows)
    size = rng.choice(["small", "mid", "enterprise"], rows)
    y = (rng.random(rows) < 0.25).astype(int)
    score = 1 / (1 + np.exp(-(1.5 * y - 1 + rng.normal(0, 1, rows))))
    path = folder / "predictions.csv"
    lines = ["label,score,ownership,size_band"]
    lines += [f"{a},{b:.6f},{c},{d}" for a, b, c, d in zip(y, score, ownership, size, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def governance_command() -> list[str]:
    """Return the ``governance`` console script of this interpreter, or ``python -m governance`` without one."""
    script = Path(sys.executable).with_name("governance")
    return [str(script)] if script.exists() else [sys.executable, "-m", "governance"]


def measure(argv: list[str], *, runs: int, env: dict[str, str]) -> tuple[float, float, float, int]:
    """Run ``argv`` ``runs`` times: median wall and CPU seconds, the largest peak RSS (MiB), the last exit status."""
    subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, check=False)  # untimed: caches the bytecode
    seconds: list[float] = []
    cpu: list[float] = []
    peak = 0.0
    status = 0
    for _ in range(runs):
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        _, raw, usage = os.wait4(child.pid, 0)
        seconds.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        child.returncode = os.waitstatus_to_exitcode(raw)  # reaped here, so Popen must not wait again
        status = child.returncode
        peak = max(peak, usage.ru_maxrss / 1024)  # KiB on Linux
    return statistics.median(seconds), statistics.median(cpu), peak, status


def main() -> None:
    """Measure each command and the baseline in the same run, and print the table.

    This process imports the standard library only: a child starts as a copy of it, and its peak
    memory would count the benchmark's own. The inputs are written by a child of their own.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (the median is shown)")
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)  # the child that writes the inputs
    args = parser.parse_args()
    if args.inputs is not None:
        sys.path.insert(0, str(ROOT))
        write_card(args.inputs)
        write_predictions(args.inputs)
        return
    governance = governance_command()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(folder / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, __file__, "--inputs", str(folder)], check=True, env=env, cwd=ROOT)
        card, predictions = folder / "card.json", folder / "predictions.csv"
        audit_args = ["--label", "label", "--score", "score", "--sensitive", "ownership,size_band", "--top-k", "0.2"]
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None, 0),
            ("governance --version", [*governance, "--version"], 0.35, 0),
            ("governance gate --card", [*governance, "gate", "--card", str(card), "--today", TODAY], 0.35, 0),
            ("governance audit (1,000 rows)", [*governance, "audit", "--data", str(predictions), *audit_args], 1.0, 0),
        ]
        print(f"command: {' '.join(governance)}; {args.runs} runs each: median wall and CPU time, largest peak RSS")
        print(f"{'':32} {'seconds':>8} {'x pass':>7} {'CPU s':>7} {'peak MiB':>9} {'target':>8}")
        baseline = 0.0
        for name, argv, target, expected in cases:
            seconds, cpu, peak, status = measure(argv, runs=args.runs, env=env)
            baseline = baseline or seconds
            goal = "" if target is None else f"< {target:g} s" + ("" if seconds < target else " MISSED")
            note = "" if status == expected else f"  (exit {status}, expected {expected})"
            print(f"{name:32} {seconds:8.3f} {seconds / baseline:6.1f}x {cpu:7.3f} {peak:9.1f} {goal:>8}{note}")


if __name__ == "__main__":
    main()
