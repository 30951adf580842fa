"""Benchmark: the full ``governance run`` (data, candidates, audit, explanations, cards, gate, registry).

Runs the demo config with its seven candidates on 50,000 accounts, on the demo's own 100,000, and on
1,000,000, each in a fresh temporary folder (embedded MLflow store included), and prints the time of
every stage. Targets (issue 6): under 3 minutes for the demo and under 10 minutes for 1,000,000
accounts on a 2-core machine; the script prints the share of each budget used.

Run: ``python bench/bench_run.py [--quick]`` (``--quick``: 50,000 accounts only).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import ROOT, demo_raw

BUDGETS = {100_000: ("the demo", 180.0), 1_000_000: ("1,000,000 accounts", 600.0)}


def _config(folder: Path, rows: int) -> Path:
    raw = demo_raw()
    raw["subjects"] = {"ledger": str(folder / "ledger.jsonl")}  # never the repository's data/ledger.jsonl
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"]["generate"]["rows"] = rows
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    raw["policy"]["file"] = str(ROOT / "configs" / "policies" / "default.yaml")
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def measure(rows: int) -> tuple[dict[str, float], float, Any]:
    from governance.config import load_config
    from governance.pipeline import run

    marks: dict[str, list[float]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        first, _ = marks.get(stage, [now, now])
        marks[stage] = [first, now]

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(_config(Path(tmp), rows))
        start = time.perf_counter()
        outcome = run(config, progress=progress)
        total = time.perf_counter() - start
    ordered = sorted(marks.items(), key=lambda item: item[1][0])
    stages: dict[str, float] = {}
    previous = start
    for stage, (_, end) in ordered:
        stages[stage] = end - previous  # from the end of the previous stage: includes the stage's set-up
        previous = end
    stages["registry, promotion, summary"] = start + total - previous
    return stages, total, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 accounts only")
    args = parser.parse_args()
    os.environ.setdefault("GOVERNANCE_PSEUDONYM_KEY", "bench-key-not-secret-0123456789")
    for rows in [50_000] if args.quick else [50_000, 100_000, 1_000_000]:
        stages, total, outcome = measure(rows)
        print(f"== {rows:,} accounts: {total:.1f} s in all")
        for stage, seconds in stages.items():
            print(f"   {stage:<32} {seconds:>8.1f} s")
        verdicts = ", ".join(f"{c.name} {c.verdict}" for c in outcome.cards)
        print(f"   verdicts: {verdicts}; champion: {outcome.chosen}")
        if rows in BUDGETS:
            label, budget = BUDGETS[rows]
            share = total / budget
            print(
                f"   {label}: {total:.0f} s = {share:.2f} x the {budget:.0f} s budget ({'meets' if share < 1 else 'MISSES'} the target)"
            )


if __name__ == "__main__":
    main()
