"""The tree is formatted and linted as CI and the pre-commit hooks ask: ``ruff format --check`` and ``ruff check``
over the four packages and the tests (settings in pyproject.toml). A failure shows ruff's own report, so the fix is
``ruff format`` / ``ruff check --fix`` on the files it names. ``make lint`` runs the same commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TREE = ["rewardlab", "envs", "agents", "llm_reward", "tests"]


@pytest.mark.parametrize("command", [["format", "--check"], ["check"]], ids=["format", "check"])
def test_ruff_passes_on_the_tree(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *TREE], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.fail(
            f"ruff {' '.join(command)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False
        )
