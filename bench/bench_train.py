"""Benchmark: training and scoring time of every default candidate (``governance train``).

For 50,000 and 1,000,000 synthetic accounts (bias 1.0), trains each candidate of
``configs/default.yaml`` and scores every account, then prints fit seconds,
score seconds and scoring throughput (rows per second). Training and scoring run
on one thread (see ``governance.train``), so throughput is per core.

The peer is LightGBM's own scorer: ``Booster.predict`` of the ``lightgbm``
candidate's booster on its already prepared matrix, on one thread, measured in
the same run (the reference figure here is about 100,000 rows per second per
core). Each candidate's throughput is printed as a ratio to it; a candidate's
time includes its preprocessing (imputation, log, scaling, one-hot encoding).

Training on 1,000,000 rows is capped: each candidate is fitted on a seeded
sample of ``TRAIN_CAP`` training rows (the output says so); scoring always
covers every account.

Run: ``python bench/bench_train.py [--quick]`` (``--quick``: 20,000 and 100,000 rows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import TRAIN_CAP, capped, demo_data

from governance.data import Dataset
from governance.train import TrainedCandidate, train_candidate

PEER_ROWS_PER_SECOND = 100_000.0


def raw_lightgbm(trained: TrainedCandidate, dataset: Dataset) -> tuple[float, float]:
    """Seconds to prepare the matrix, and rows/s of Booster.predict on it, one thread."""
    pipeline = trained.model.model_
    frame = trained.model.model_input(dataset.X, dataset.sensitive)
    start = time.perf_counter()
    matrix = pipeline.named_steps["prepare"].transform(frame)
    prepare_seconds = time.perf_counter() - start
    booster = pipeline.named_steps["model"].booster_
    start = time.perf_counter()
    booster.predict(matrix, num_threads=1)
    return prepare_seconds, len(frame) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 and 100,000 rows")
    args = parser.parse_args()
    sizes = [20_000, 100_000] if args.quick else [50_000, 1_000_000]
    os.environ.setdefault("GOVERNANCE_PSEUDONYM_KEY", "bench-key-0123456789abcdef-not-secret")
    print(
        f"{'rows':>10} {'candidate':<26} {'train rows':>10} {'fit s':>7} {'score s':>8} {'rows/s':>11} {'vs LightGBM':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            config, dataset = demo_data(rows, Path(tmp))
            candidates, seed = list(config.candidates), config.seed
            training, train_rows = capped(dataset, TRAIN_CAP, seed)
            results = []
            peer: tuple[float, float] | None = None
            for candidate in candidates:
                trained = train_candidate(candidate, training, seed=seed)
                trained.model.scores(dataset.X.head(1000), dataset.sensitive.head(1000))  # warm caches first
                start = time.perf_counter()
                scores = trained.model.scores(dataset.X, dataset.sensitive)
                seconds = time.perf_counter() - start
                assert len(scores) == dataset.rows_used
                results.append((trained, seconds))
                if candidate.kind == "lightgbm" and candidate.mitigation is None:
                    peer = raw_lightgbm(trained, dataset)
            assert peer is not None, "the default config has no plain lightgbm candidate to measure the peer on"
            prepare_seconds, peer_rate = peer
            for trained, seconds in results:
                rate = dataset.rows_used / seconds
                print(
                    f"{dataset.rows_used:>10,} {trained.name:<26} {train_rows:>10,} {trained.fit_seconds:>7.2f} "
                    f"{seconds:>8.2f} {rate:>11,.0f} {rate / peer_rate:>10.2f}x"
                )
            print(
                f"{'':>10} peer: raw LightGBM Booster.predict, one thread: {peer_rate:,.0f} rows/s "
                f"= {peer_rate / PEER_ROWS_PER_SECOND:.2f} x the ~{PEER_ROWS_PER_SECOND:,.0f} rows/s/core figure "
                f"(its matrix took {prepare_seconds:.2f} s to prepare, not counted)"
            )
            if train_rows < int((dataset.split == 0).sum()):
                print(f"{'':>10} training capped: each candidate fitted on a seeded sample of {train_rows:,} rows")


if __name__ == "__main__":
    main()
