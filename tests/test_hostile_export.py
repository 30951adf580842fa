"""Hostile export: output.models always holds the champion, computed attributes follow their source, seeds own their ids.

The champion's export is what a deployment picks up: an MLflow model folder whose bytes are those
the registry checksummed, its card, ``SHA256SUMS`` and a manifest; it follows every move of the
alias (a run's promotion, ``governance promote``, ``governance review --reject``, a demotion) and
is replaced in one rename. ``size_band`` is computed from ``employee_count`` after the ledger's
corrections. Generated identifiers depend on the seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from governance import _cancel
from governance.config import load_config
from governance.data import prepare
from governance.datasets import generate_accounts
from governance.errors import ConfigError
from governance.pipeline import run
from governance.pipeline._export import export_folder, sync_champion
from governance.privacy import pseudonymize
from governance.registry import Registry
from governance.subjects import correct
from governance.train import MODEL_TYPES
from tests.conftest import ROOT, TEST_KEY, WriteConfig

_ACCOUNT = re.compile(rb"ACC-\d{8}")


def _config(folder: Path, default_raw: dict[str, Any], data: Path) -> Path:
    """A small config whose two candidates both pass (an AUC of 0.6 only, no approvals)."""
    policy = yaml.safe_load(Path(default_raw["policy"]["file"]).read_text())
    policy["rules"] = [{**r, "bound": 0.6} for r in policy["rules"] if r["name"] == "overall AUC"]
    policy["required_approvals"] = 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(data)
    raw["data"].pop("generate", None)
    raw["policy"] = {"file": "policy.yaml"}
    raw["mlflow"]["embedded_store"] = "mlruns"
    raw["output"] = {"reports": "reports", "models": "models"}
    raw["subjects"] = {"ledger": None}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [base, {**copy.deepcopy(base), "name": "logreg_strong", "params": {"C": 0.01}}]
    raw["audit"]["bootstrap"] = 50
    raw["explain"].update(sample_per_group=50, bootstrap=0, proxy_rows=2000, minimization_rows=1000, background_size=20)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(GOVERNANCE_PSEUDONYM_KEY=TEST_KEY, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "governance", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any]) -> dict[str, Any]:
    """One run on a fresh store: two passing versions, the better one champion and exported."""
    folder = tmp_path_factory.mktemp("export")
    data = folder / "accounts.parquet"
    generate_accounts(4000, seed=21, bias=0.0).to_parquet(data, index=False)
    path = _config(folder / "cfg", default_raw, data)
    os.environ["GOVERNANCE_PSEUDONYM_KEY"] = TEST_KEY
    config = load_config(path)
    outcome = run(config)
    assert outcome.alias == "champion" and outcome.champion_version is not None
    versions = sorted(c.version for c in outcome.cards)
    return {"path": path, "config": config, "outcome": outcome, "versions": versions, "data": data}


def _manifest(export: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((export / "manifest.json").read_text())
    return loaded


def _recomputed(export: Path) -> str:
    """SHA256SUMS as ``sha256sum`` would write it for every other file of the export."""
    lines = []
    for path in sorted(p for p in export.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(export).as_posix()}\n")
    return "".join(lines)


def test_a_run_exports_its_champion_loadable_scoring_like_the_registry(store: dict[str, Any]) -> None:
    import mlflow.pyfunc

    config, outcome = store["config"], store["outcome"]
    export = export_folder(config)
    assert export == config.output.models / "account-scoring" / "champion"
    manifest = _manifest(export)
    assert manifest["version"] == outcome.champion_version
    assert manifest["registered_model"] == "account-scoring" and manifest["schema"] == "governance.export/1"
    card = (export / "card.json").read_bytes()
    assert hashlib.sha256(card).hexdigest() == manifest["card_sha256"]
    assert json.loads(card)["model"]["version"] == outcome.champion_version
    assert (export / "card.html").read_text().startswith("<!")
    # the checksum file is sha256sum -c's format, over every other file, and the model is the registry's bytes
    assert (export / "SHA256SUMS").read_text() == _recomputed(export)
    if shutil.which("sha256sum"):
        checked = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=export, capture_output=True)
        assert checked.returncode == 0, checked.stdout
    registry = Registry.for_config(config)
    run_tags = registry.client.get_run(manifest["run_id"]).data.tags
    from governance.registry import tree_sha256

    assert tree_sha256(export / "model") == run_tags["model.sha256"] == manifest["model_sha256"]
    # loadable as MLflow model, scoring as the model the registry loads after its checksum
    dataset = prepare(config)
    model = registry.load_model(manifest["run_id"], trusted_types=MODEL_TYPES)
    rows = model.model_input(dataset.test.X.head(200), dataset.test.sensitive.head(200))
    served = np.asarray(mlflow.pyfunc.load_model(str(export / "model")).predict(rows))
    assert np.allclose(served, model.predict_proba(rows))
    # no identifier of any account in anything exported; no temporary folder beside it
    for path in export.rglob("*"):
        if path.is_file():
            assert not _ACCOUNT.search(path.read_bytes()), path
    assert sorted(p.name for p in export.parent.iterdir()) == sorted(["champion", os.readlink(export)])


def test_promoting_another_version_replaces_the_export(store: dict[str, Any]) -> None:
    config = store["config"]
    export = export_folder(config)
    before = os.readlink(export)
    other = next(v for v in store["versions"] if v != _manifest(export)["version"])
    done = _cli("promote", "--model-version", str(other), "--config", str(store["path"]), cwd=store["path"].parent)
    assert done.returncode == 0, done.stderr
    assert f"exported version {other}" in done.stdout
    assert _manifest(export)["version"] == other
    assert (export / "SHA256SUMS").read_text() == _recomputed(export)
    assert not (export.parent / before).exists()  # the replaced export's folder is gone
    assert sorted(p.name for p in export.parent.iterdir()) == sorted(["champion", os.readlink(export)])
    store["previous"] = next(v for v in store["versions"] if v != other)


def test_a_cancelled_command_exports_nothing_and_keeps_the_champions_export(store: dict[str, Any]) -> None:
    config = store["config"]
    export = export_folder(config)
    kept = os.readlink(export)
    _cancel.request(signal.SIGTERM)
    try:
        with pytest.raises(_cancel.Cancelled):
            sync_champion(config)
    finally:
        _cancel.reset()
    assert os.readlink(export) == kept  # it names the champion: kept as it was
    shutil.rmtree(export.parent)  # no export at all: a cancelled sync does not write one
    _cancel.request(signal.SIGTERM)
    try:
        with pytest.raises(_cancel.Cancelled):
            sync_champion(config)
    finally:
        _cancel.reset()
    assert not export.exists() and not export.is_symlink()
    assert sync_champion(config).changed and (export / "manifest.json").exists()


def test_what_a_crashed_export_left_never_replaces_the_export_and_the_next_one_removes_it(
    store: dict[str, Any],
) -> None:
    config = store["config"]
    export = export_folder(config)
    kept, manifest = os.readlink(export), _manifest(export)
    half = export.parent / ".champion-v99-deadbeef"  # a build killed before its rename
    (half / "model").mkdir(parents=True)
    (half / "model" / "MLmodel").write_text("half")
    os.symlink(half.name, export.parent / ".champion-link-cafebabe")  # a link killed before its rename
    assert os.readlink(export) == kept and _manifest(export) == manifest  # readers still see the whole export
    outcome = sync_champion(config)
    assert not outcome.changed and outcome.version == manifest["version"]
    assert sorted(p.name for p in export.parent.iterdir()) == sorted(["champion", kept])


def test_model_files_that_changed_in_the_store_are_never_exported(store: dict[str, Any]) -> None:
    from governance.errors import PrivacyError

    config = store["config"]
    export = export_folder(config)
    version = _manifest(export)["version"]
    run_id = _manifest(export)["run_id"]
    model_id = Registry.for_config(config).client.get_run(run_id).data.tags["model.id"]
    (skops,) = (config.mlflow.embedded_store / "artifacts" / "models" / model_id).rglob("model.skops")
    original = skops.read_bytes()
    shutil.rmtree(export.parent)  # so that the export is built again from the store
    skops.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        with pytest.raises(PrivacyError, match="model files hash to sha256") as info:
            sync_champion(config)
        assert info.value.exit_code == 4
        assert not export.exists() and not export.is_symlink() and list(export.parent.iterdir()) == []
    finally:
        skops.write_bytes(original)
    assert sync_champion(config).version == version


def test_rejecting_the_champion_hands_the_export_back(store: dict[str, Any]) -> None:
    config, cwd = store["config"], store["path"].parent
    export = export_folder(config)
    champion, previous = _manifest(export)["version"], store["previous"]
    args = ("--reviewer", "Risk Board", "--note", "fails the review", "--config", str(store["path"]))
    done = _cli("review", "--model-version", str(champion), "--reject", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert f"exported version {previous}" in done.stdout
    assert _manifest(export)["version"] == previous  # the alias went back to previous_champion: so did the export
    assert sorted(p.name for p in export.parent.iterdir()) == sorted(["champion", os.readlink(export)])


def test_a_demoted_champion_with_no_successor_leaves_no_export(store: dict[str, Any], tmp_path: Path) -> None:
    from governance.monitor import monitor

    config = store["config"]
    export = export_folder(config)
    batch = generate_accounts(3000, seed=22, bias=0.0)
    batch["converted_90d"] = np.random.default_rng(0).permutation(batch["converted_90d"].to_numpy())
    batch.to_parquet(tmp_path / "batch.parquet", index=False)  # labels unrelated to the accounts: the AUC rule fails
    outcome = monitor(config, tmp_path / "batch.parquet", demote=True)
    assert outcome.verdict == "fail" and outcome.demotion is not None and outcome.demotion.champion is None
    assert not export.exists() and not export.is_symlink()
    assert list(export.parent.iterdir()) == []  # nothing left beside it


def test_a_run_cancelled_before_its_promotion_exports_nothing(
    tmp_path: Path, default_raw: dict[str, Any], store: dict[str, Any]
) -> None:
    from tests.test_hostile_runs import _Cli

    path = _config(tmp_path / "cfg", default_raw, store["data"])
    cli = _Cli("run", path)
    assert cli.wait_for("cards and registry"), cli.err[-2000:]
    cli.proc.send_signal(signal.SIGTERM)
    assert cli.finish() == 128 + signal.SIGTERM, cli.err[-3000:]
    assert not (tmp_path / "cfg" / "models" / "account-scoring" / "champion").exists()


def test_an_export_folder_that_is_a_file_is_refused_before_training(
    tmp_path: Path, default_raw: dict[str, Any], store: dict[str, Any]
) -> None:
    path = _config(tmp_path / "cfg", default_raw, store["data"])
    models = tmp_path / "cfg" / "models"
    models.mkdir()
    (models / "account-scoring").write_text("not a folder")
    done = _cli("run", "--config", str(path), cwd=path.parent)
    assert done.returncode == 2, done.stderr
    assert "output.models" in done.stderr and "expected a folder" in done.stderr
    assert not (tmp_path / "cfg" / "mlruns").exists()  # refused before MLflow was touched: nothing trained
    (models / "account-scoring").unlink()
    models.rmdir()
    (tmp_path / "cfg" / "models").write_text("a file")  # output.models itself: refused by every command
    done = _cli("promote", "--model-version", "1", "--config", str(path), cwd=path.parent)
    assert done.returncode == 2 and "output.models" in done.stderr


def test_an_export_folder_spoiled_after_the_check_is_exit_3_naming_the_fix(
    store: dict[str, Any], tmp_path: Path
) -> None:
    from governance.errors import RegistryError

    config = store["config"].model_copy(
        update={"output": store["config"].output.model_copy(update={"models": tmp_path / "m"})}
    )
    (tmp_path / "m").write_text("a file where the folder was")  # after every up-front check: the alias may have moved
    with pytest.raises(RegistryError) as info:
        sync_champion(config)
    assert info.value.exit_code == 3
    assert "output.models expected a folder, found a file" in str(info.value) and "remove the file" in str(info.value)


# ---------------------------------------------------------------- size_band computed from employee_count


def _with_ledger(tmp_path: Path) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw["subjects"] = {"ledger": str(tmp_path / "ledger.jsonl")}

    return edit


def test_correcting_employee_count_moves_size_band(
    write_config: WriteConfig, accounts: pd.DataFrame, tmp_path: Path
) -> None:
    config = load_config(write_config(edit=_with_ledger(tmp_path)))
    before = prepare(config)
    row = int(np.flatnonzero(before.sensitive["size_band"].to_numpy() == "micro")[0])
    pseudonym = before.pseudonyms[row]
    ids = accounts["account_id"].to_numpy()
    account = str(ids[np.flatnonzero(pseudonymize(list(ids), TEST_KEY.encode()) == pseudonym)[0]])
    correct(config, account, {"employee_count": "1200"}, reason="the register lists 1200 staff")
    after = prepare(config)
    moved = int(np.flatnonzero(after.pseudonyms == pseudonym)[0])
    assert after.sensitive["size_band"].iloc[moved] == "enterprise"  # >= 1000: each band includes its lower edge
    assert after.X["employee_count"].iloc[moved] == 1200
    correct(config, account, {"employee_count": "1000"}, reason="the register lists 1000 staff")
    assert prepare(config).sensitive["size_band"].iloc[moved] == "enterprise"
    correct(config, account, {"employee_count": "999"}, reason="the register lists 999 staff")
    assert prepare(config).sensitive["size_band"].iloc[moved] == "large"
    with pytest.raises(ConfigError) as refused:
        correct(config, account, {"size_band": "large"}, reason="it is a large company")
    (problem,) = refused.value.problems
    assert (
        problem.location == "--set size_band"
        and "employee_count" in problem.message
        and "employee_count" in problem.fix
    )


def test_a_size_band_column_in_the_file_is_not_read(write_config: WriteConfig, accounts: pd.DataFrame) -> None:
    config = load_config(write_config())
    derived = prepare(config)
    stale = prepare(config, frame=accounts.assign(size_band="micro"))  # a stale copy in the file
    assert stale.sensitive["size_band"].equals(derived.sensitive["size_band"])
    assert stale.fingerprint == derived.fingerprint
    assert "size_band" not in derived.dropped_columns
    assert load_config(write_config()).sensitive.attributes[1].derived_from == ("employee_count",)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("employee_cont", "not declared in `features`"),
        ("industry", "a categorical feature"),
        ("ownership", "itself a sensitive attribute"),
    ],
)
def test_a_bad_source_is_a_config_error(write_config: WriteConfig, source: str, expected: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][1]["source"] = source

    with pytest.raises(ConfigError) as info:
        load_config(write_config(edit=edit))
    (problem,) = info.value.problems
    assert problem.location.startswith("sensitive.attributes[1].source") and expected in problem.message
    if source == "employee_cont":
        assert "employee_count" in problem.fix


def test_a_source_needs_bins(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][1].pop("bins")
        raw["sensitive"]["attributes"][1].pop("labels")

    with pytest.raises(ConfigError, match=r"sensitive.attributes\[1\].bins.*needs `bins`"):
        load_config(write_config(edit=edit))


# ---------------------------------------------------------------- identifiers depend on the seed


def test_identifiers_depend_on_the_seed_and_only_on_it() -> None:
    tables = {seed: generate_accounts(3000, seed=seed)["account_id"] for seed in (0, 1, 12, 42)}
    assert all(ids.is_unique for ids in tables.values())
    seeds = list(tables)
    for i, a in enumerate(seeds):
        for b in seeds[i + 1 :]:
            assert not set(tables[a]) & set(tables[b]), (a, b)
    assert generate_accounts(3000, seed=42)["account_id"].equals(tables[42])
    assert tables[0].iloc[0] == "ACC-00000001" and tables[42].iloc[0] == "ACC-42000000001"
    assert all(re.fullmatch(r"ACC-\d{8,}", i) for i in tables[42])


def test_a_table_too_large_for_its_seeds_block_or_a_seed_too_large_is_bad_input(tmp_path: Path) -> None:
    from governance.datasets import ID_BLOCK, MAX_SEED, write_accounts

    with pytest.raises(ConfigError, match="expected fewer than 1,000,000,000"):
        write_accounts(tmp_path / "a.parquet", rows=ID_BLOCK, seed=1)
    with pytest.raises(ValueError, match="identifiers are 64-bit account numbers"):  # a ConfigError is a ValueError
        generate_accounts(10, seed=MAX_SEED + 1)
    assert generate_accounts(2, seed=MAX_SEED)["account_id"].is_unique
    done = _cli("data", "generate", "--rows", "10", "--seed", str(MAX_SEED + 1), "--out", "a.parquet", cwd=tmp_path)
    assert done.returncode == 2 and "seed: expected at most" in done.stderr
    assert not (tmp_path / "a.parquet").exists()
