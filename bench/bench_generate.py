"""Benchmark: synthetic ABM account generation (``governance data generate``).

Measures rows per second and peak memory (RSS of a fresh child process) when
writing 1 million and 10 million accounts to Parquet (and 1 million to CSV).
Target (issue 2): 10 million rows in under 60 seconds on a 2-core machine.
The peer named here is that budget: the script prints the share of it used.

Run: ``python bench/bench_generate.py [--quick]`` (``--quick``: 100k and 1M rows).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BUDGET_SECONDS_10M = 60.0

CHILD = """
import json, resource, sys, time
from governance.datasets import write_accounts
rows, path = int(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
write_accounts(path, rows=rows, seed=42, bias=1.0)
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))
"""


def measure(rows: int, suffix: str, folder: Path) -> dict[str, float]:
    path = folder / f"accounts-{rows}{suffix}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["mb_on_disk"] = path.stat().st_size / 1e6
    path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k and 1M rows only")
    args = parser.parse_args()
    sizes = (
        [(100_000, ".parquet"), (1_000_000, ".parquet")]
        if args.quick
        else [
            (1_000_000, ".parquet"),
            (1_000_000, ".csv"),
            (10_000_000, ".parquet"),
        ]
    )
    print(f"{'rows':>12} {'format':>8} {'seconds':>9} {'rows/s':>12} {'peak RSS MB':>12} {'file MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for rows, suffix in sizes:
            r = measure(rows, suffix, Path(tmp))
            print(
                f"{rows:>12,} {suffix[1:]:>8} {r['seconds']:>9.2f} {rows / r['seconds']:>12,.0f} "
                f"{r['peak_mb']:>12,.0f} {r['mb_on_disk']:>9.1f}"
            )
            if rows == 10_000_000:
                share = r["seconds"] / BUDGET_SECONDS_10M
                verdict = "meets" if share < 1 else "MISSES"
                print(f"10M rows: {r['seconds']:.1f} s = {share:.2f} x the 60 s budget ({verdict} the target)")


if __name__ == "__main__":
    main()
