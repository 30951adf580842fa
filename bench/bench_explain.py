"""Benchmark: every explanation output of the default candidates (``governance.explain``).

For 50,000 and 1,000,000 synthetic accounts (bias 1.0), trains the candidates of
``configs/default.yaml`` (training is not timed here; see ``bench_train.py``,
whose 200,000-row training cap this reuses) and times, per candidate:

* SHAP on the group-stratified sample of the test split, with the bootstrap
  statistics (global and per-group importance, group differences);
* the minimization audit (drop-column retraining), computed once per distinct
  estimator and shared by the candidates with the same one;
* the proxy checks, computed once per dataset and shared by every candidate
  (shown amortized over the candidates).

It prints the interval widths the sample achieves (median width of the 95 %
intervals of the global and per-group mean |SHAP|, and of the simultaneous
group-difference intervals, in log-odds) and the peer ratio: shap's
``TreeExplainer`` on *every* account with the ``lightgbm`` candidate (the
approach whose 100 s per 100,000 rows motivated the sample) against our
stratified sample for the same model, measured in the same run. Explaining
every row takes tens of minutes at 1,000,000 accounts, so the peer is timed on
``PEER_ROWS`` accounts and extrapolated linearly (TreeSHAP's cost is linear in
the rows); the output says so. Target: under 60 s per candidate at 1,000,000
accounts.

Run: ``python bench/bench_explain.py [--quick]`` (``--quick``: 20,000 and 100,000 rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import TRAIN_CAP, capped, demo_data

from governance.data import Dataset
from governance.explain import Explanation, Minimization, _shap, explain, minimize_features
from governance.pipeline import config_proxies
from governance.train import TrainedCandidate, train_candidate

PEER_ROWS = 20_000
TARGET_SECONDS = 60.0


def estimator_key(trained: TrainedCandidate) -> str:
    model = trained.model
    params = {k: repr(v) for k, v in sorted(model.base_estimator().get_params(deep=False).items())}
    return json.dumps([model.kind, params], sort_keys=True)


def widths(explanation: Explanation) -> tuple[float, float, float]:
    """Median interval widths: global mean |SHAP|, per-group mean |SHAP|, group differences (log-odds)."""

    def median(pairs: list[tuple[float, float] | None]) -> float:
        spans = [hi - lo for pair in pairs if pair is not None for lo, hi in [pair]]
        return float(np.median(spans)) if spans else float("nan")

    return (
        median([g.ci for g in explanation.global_importance]),
        median([g.ci for g in explanation.by_group]),
        median([d.ci for d in explanation.group_differences]),
    )


def peer(trained: TrainedCandidate, dataset: Dataset) -> tuple[float, int]:
    """Seconds for shap.TreeExplainer on every account (measured on PEER_ROWS, extrapolated), and rows measured."""
    shap = _shap()
    pipeline = trained.model.model_
    rows = min(PEER_ROWS, dataset.rows_used)
    matrix = pipeline.named_steps["prepare"].transform(dataset.X.iloc[:rows])
    explainer = shap.TreeExplainer(pipeline.named_steps["model"])
    start = time.perf_counter()
    explainer(matrix, check_additivity=False)
    seconds = time.perf_counter() - start
    return seconds * dataset.rows_used / rows, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 and 100,000 rows")
    args = parser.parse_args()
    sizes = [20_000, 100_000] if args.quick else [50_000, 1_000_000]
    os.environ.setdefault("GOVERNANCE_PSEUDONYM_KEY", "bench-key-0123456789abcdef-not-secret")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            config, dataset = demo_data(rows, Path(tmp))
            spec = config.explain
            training, _ = capped(dataset, TRAIN_CAP, config.seed)
            trained = [train_candidate(c, training, seed=config.seed, attribute="ownership") for c in config.candidates]
            print(
                f"\n{dataset.rows_used:,} accounts; test split {len(dataset.test):,}; sample_per_group "
                f"{spec.sample_per_group}, background {spec.background_size}, bootstrap {spec.bootstrap}"
            )
            start = time.perf_counter()
            proxies = config_proxies(config, dataset)
            proxy_seconds = time.perf_counter() - start
            shared_proxies = proxy_seconds / len(trained)
            flagged = ", ".join(f"{c.feature} ({c.attribute})" for c in proxies.flagged) or "none"
            print(
                f"proxies: {proxy_seconds:.1f} s for the dataset ({shared_proxies:.1f} s per candidate); "
                f"flagged: {flagged}"
            )
            print(
                f"{'candidate':<26} {'method':<12} {'sample':>6} {'shap s':>7} {'stats s':>7} {'minim. s':>8} "
                f"{'total s':>7} {'<60s':>4} {'global ci':>9} {'group ci':>9} {'diff ci':>8}  removable"
            )
            minimizations: dict[str, tuple[Minimization, float, str]] = {}
            lightgbm: tuple[TrainedCandidate, Explanation] | None = None
            for candidate in trained:
                key = estimator_key(candidate)
                if key not in minimizations:
                    start = time.perf_counter()
                    result = minimize_features(
                        candidate.model,
                        training,
                        tolerance=spec.minimization_tolerance,
                        rows=spec.minimization_rows,
                        seed=spec.seed,
                        confidence=spec.confidence,
                    )
                    minimizations[key] = (result, time.perf_counter() - start, candidate.name)
                    minimization_seconds, note = minimizations[key][1], ""
                else:
                    minimization_seconds, note = 0.0, f" (shared with {minimizations[key][2]})"
                explanation = explain(candidate.model, dataset, config=config, name=candidate.name)
                shap_seconds, stats_seconds = explanation.seconds["shap"], explanation.seconds["statistics"]
                total = shap_seconds + stats_seconds + minimization_seconds + shared_proxies
                wide = widths(explanation)
                removable = minimizations[key][0].removable
                print(
                    f"{candidate.name:<26} {explanation.method:<12} {explanation.sample_rows:>6,} "
                    f"{shap_seconds:>7.1f} {stats_seconds:>7.1f} {minimization_seconds:>8.1f} {total:>7.1f} "
                    f"{'yes' if total < TARGET_SECONDS else 'NO':>4} {wide[0]:>9.3f} {wide[1]:>9.3f} {wide[2]:>8.3f}  "
                    f"{len(removable)} of {len(dataset.features)}{note}"
                )
                if candidate.kind == "lightgbm" and candidate.mitigation is None:
                    lightgbm = (candidate, explanation)
            assert lightgbm is not None, "the default config has no plain lightgbm candidate for the peer"
            every, measured = peer(lightgbm[0], dataset)
            ours = lightgbm[1].seconds["shap"]
            how = "measured" if measured == dataset.rows_used else f"measured on {measured:,} rows, extrapolated"
            print(
                f"peer: shap.TreeExplainer on every account with the lightgbm candidate: {every:,.1f} s ({how}); "
                f"our stratified sample of {lightgbm[1].sample_rows:,} accounts: {ours:.1f} s "
                f"= {every / ours:,.0f}x faster"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the process: {peak:,.0f} MB (data, candidates and explanations)")


if __name__ == "__main__":
    main()
