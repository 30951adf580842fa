"""An identical re-run of ``governance run`` reuses the version it matches; anything different gets a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.registry import content_sha256, demote, lineage_sha256
from tests.conftest import WriteConfig

#: One cheap candidate and a policy it passes, so that the champion alias is in play.
POLICY = {
    "decision": "interval",
    "required_approvals": 0,
    "selection_metric": "auc",
    "rules": [{"name": "overall AUC", "metric": "auc", "scope": "overall", "bound": 0.6, "side": "min"}],
}


def _small(raw: dict[str, Any]) -> None:
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["policy"] = dict(POLICY)
    raw["explain"].update(sample_per_group=50, bootstrap=0, proxy_rows=2000, minimization_rows=1000, background_size=20)


def _run(path: Path) -> tuple[str, dict[str, Any]]:
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads((path.parent / "reports" / "summary.json").read_text())


def test_an_identical_rerun_matches_its_version_and_a_changed_row_makes_a_new_one(
    write_config: WriteConfig, accounts: pd.DataFrame
) -> None:
    path = write_config(edit=_small)
    config = load_config(path)
    client = MlflowClient(tracking_uri(config), registry_uri=tracking_uri(config))
    name = config.mlflow.registered_model

    def versions() -> list[int]:
        return sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))

    stdout, first = _run(path)
    assert "matches version" not in stdout
    assert versions() == [1] and first["cards"][0]["matches_version"] is None
    assert first["alias"] == "champion" and first["champion_version"] == 1

    stdout, second = _run(path)  # same data, config, policy and model: version 1 again, nothing changes
    assert "registry: baseline_logreg matches version 1 " in stdout
    assert versions() == [1]
    (card,) = second["cards"]
    assert card["matches_version"] == 1 and card["version"] == 1
    assert second["champion_version"] == 1 and second["previous_champion"] is None
    assert set(client.get_registered_model(name).aliases) == {"champion"}
    rerun = second["candidates"][0]
    assert rerun["lineage_sha256"] == first["candidates"][0]["lineage_sha256"]
    assert rerun["model_sha256"] != first["candidates"][0]["model_sha256"]  # the files differ; the model does not
    assert client.get_run(rerun["run_id"]).data.tags["registry.matches_version"] == "1"
    written = json.loads(Path(card["card_json"]).read_text())  # the registered version's card, not a copy of it
    assert written["model"]["version"] == 1 and written["model"]["run_id"] == first["candidates"][0]["run_id"]

    client.delete_registered_model_alias(name, "champion")  # the matched version is not champion: promoted again
    _, third = _run(path)
    assert versions() == [1] and third["cards"][0]["matches_version"] == 1
    assert third["alias"] == "champion" and int(client.get_model_version_by_alias(name, "champion").version) == 1

    # demoted by monitoring: an identical re-run reuses it, and it takes no alias again
    demote(
        tracking_uri(config), registered_model=name, version=1, monitoring_run="a-monitoring-run", required_approvals=0
    )
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 1, result.output  # its gate passed, but a demoted version is no contender
    demoted = json.loads((path.parent / "reports" / "summary.json").read_text())
    assert demoted["cards"][0]["matches_version"] == 1 and demoted["chosen"] is None
    assert "may take no alias" in demoted["why"] and "demoted" in demoted["why"]
    assert versions() == [1] and not client.get_registered_model(name).aliases

    changed = accounts.copy()
    changed.loc[changed.index[0], "intent_score"] = changed["intent_score"].iloc[0] + 1
    stdout, fourth = _run(write_config(frame=changed, edit=_small))  # one row differs: another version
    assert "matches version" not in stdout
    assert versions() == [1, 2] and fourth["cards"][0]["matches_version"] is None
    assert fourth["candidates"][0]["lineage_sha256"] != first["candidates"][0]["lineage_sha256"]
    assert client.get_model_version(name, "2").tags["lineage.sha256"] == fourth["candidates"][0]["lineage_sha256"]
    assert fourth["champion_version"] == 2


def test_the_lineage_changes_with_each_of_its_inputs() -> None:
    facts = {
        "data_sha256": "d" * 64,
        "config_sha256": "c" * 64,
        "policy_sha256": "p" * 64,
        "candidate": "baseline_logreg",
        "model_content_sha256": "m" * 64,
    }
    base = lineage_sha256(**facts)
    assert lineage_sha256(**facts) == base
    for key in facts:
        assert lineage_sha256(**{**facts, key: facts[key][:-1] + "x"}) != base, key


def test_the_content_checksum_ignores_when_and_where_a_model_was_dumped(tmp_path: Path) -> None:
    import skops.io  # type: ignore[import-untyped]

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]})
    y = [0, 0, 1, 1, 1, 0]
    one, two = LogisticRegression().fit(frame, y), LogisticRegression().fit(frame, y)
    other = LogisticRegression(C=0.01).fit(frame, y)
    paths = [tmp_path / f"{i}.skops" for i in range(3)]
    for model, file in zip((one, two, other), paths, strict=True):
        skops.io.dump(model, file)
    assert paths[0].read_bytes() != paths[1].read_bytes()  # object addresses name the array files
    assert content_sha256(paths[0]) == content_sha256(paths[1])
    assert content_sha256(paths[2]) != content_sha256(paths[0])
