"""Shared paths and helpers for the deployment validation suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY_TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(DEPLOY_TESTS))


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a command from the repository root, capturing text output."""
    kw.setdefault("cwd", REPO)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def require_tool(name: str) -> str:
    """Path of a tool that run.sh installs; fail (not skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not on PATH: run the suite through tests/deploy/run.sh")
    return path


@pytest.fixture(scope="session")
def contract():
    from metrics_contract import load_contract

    return load_contract()
