"""The type checker on the core: ``python -m mypy`` (``[tool.mypy]`` in pyproject.toml: ``rewardlab`` and ``envs``)
passes. A failure shows mypy's own report. ``make typecheck`` runs the same command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_mypy_passes_on_rewardlab_and_envs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"],  # files, version and overrides from pyproject.toml
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"mypy failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False)
