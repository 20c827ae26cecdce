"""Shared fixtures: the repository's data sets and the CLI binary the Python numbers are
compared with (built by `cargo build`/`cargo test` before the Python tests run)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "datasets" / "demo"
OBD = ROOT / "datasets" / "obd"


def cli_path():
    explicit = os.environ.get("BANDIT_ENGINE_BIN")
    if explicit:
        return Path(explicit)
    for profile in ("debug", "release"):
        p = ROOT / "target" / profile / "bandit-engine"
        if p.exists():
            return p
    found = shutil.which("bandit-engine")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI and returns its standard output; skips when no binary is built."""
    path = cli_path()
    if path is None or not path.exists():
        why = "no bandit-engine binary (run cargo build first, or set BANDIT_ENGINE_BIN)"
        # CI sets BANDIT_ENGINE_REQUIRED: there a comparison that cannot run fails.
        if os.environ.get("BANDIT_ENGINE_REQUIRED"):
            pytest.fail(why)
        pytest.skip(why)

    def run(*args):
        out = subprocess.run(
            [str(path), "--quiet", *map(str, args)], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run


@pytest.fixture
def demo():
    return {
        "config": DEMO / ".traffical" / "config.yaml",
        "bundle": DEMO / "bundle.json",
        "events": DEMO / "events.ndjson",
    }
