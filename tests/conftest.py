"""Shared fixtures: a real secret key, small generated data, configs written to temporary folders."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from governance.datasets import generate_accounts

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"
TEST_KEY = "test-key-0123456789abcdef-not-a-real-secret"


def numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the table with the identifiers ``ACC-00000001``, ... in row order, whatever seed made it.

    The split is a hash of the identifier, and generated identifiers depend on the seed: a test
    whose subject is not the identifiers (a mitigation, a feature selection) keeps with this the
    exact data and split it always had, whatever scheme the generator numbers its accounts by.
    """
    return frame.assign(account_id=[f"ACC-{i:08d}" for i in range(1, len(frame) + 1)])


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with a real (test) key unless it removes it; no test touches a real tracking server."""
    monkeypatch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.delenv("GOVERNANCE_STRICT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def accounts() -> pd.DataFrame:
    """4,000 biased synthetic accounts (read-only: copy before changing)."""
    return generate_accounts(4000, seed=7, bias=1.0)


@pytest.fixture(scope="session")
def default_raw() -> dict[str, Any]:
    """The demo config as plain data (its policy file made absolute, so copies elsewhere still find it)."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    policy = raw.get("policy")
    if isinstance(policy, dict) and "file" in policy:
        policy["file"] = str(DEFAULT_CONFIG.parent / policy["file"])
    raw["subjects"] = {"ledger": "ledger.jsonl"}  # beside each test's config, never the repository's data/
    return raw


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, default_raw: dict[str, Any], accounts: pd.DataFrame) -> WriteConfig:
    """Write a config (the demo one, edited) and its data into ``tmp_path``; return the config path.

    ``frame`` replaces the data (written as Parquet); ``edit`` changes the raw config in place.
    """

    def write(frame: pd.DataFrame | None = None, edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
        raw = copy.deepcopy(default_raw)
        data_path = tmp_path / "accounts.parquet"
        (accounts if frame is None else frame).to_parquet(data_path, index=False)
        raw["data"]["path"] = data_path.name
        raw["data"].pop("generate", None)
        raw["mlflow"]["embedded_store"] = "mlruns"
        raw["output"] = {"reports": "reports", "models": "models"}
        raw["audit"]["bootstrap"] = 50
        if edit is not None:
            edit(raw)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    return write


def headless_chrome() -> Any:
    """A headless Chromium driven by chromedriver (Debian's chromium and chromium-driver), or a skip."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (dev extra)")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed: the browser test of the card is skipped")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def open_in_chrome(page: Path) -> dict[str, Any]:
    """Open a local HTML file in headless Chromium: its images, console messages and every requested URL."""
    import json

    chrome = headless_chrome()
    try:
        chrome.get(page.resolve().as_uri())
        images = chrome.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt.length])"
        )
        console = chrome.get_log("browser")
        events = [json.loads(e["message"])["message"] for e in chrome.get_log("performance")]
    finally:
        chrome.quit()
    requested = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    return {"images": images, "console": console, "requested": requested}
