"""The run directory: the single source of truth for one training run.

Layout of ``<runs_root>/<experiment>/<run_id>/``::

    config.json         resolved run config (task, reward and its settings, agent preset, seeds, versions;
                        rewardlab.experiment.config.resolved_config)
    reward.json         reward spec, description, component names (+ reward_source.py for file rewards)
    metrics.jsonl       one row per logging window ("train") or evaluation ("eval")
    tb/                 TensorBoard events (fitness, env return, shaped return, every component)
    policy.zip          final policy (+ vecnormalize.pkl when observations are normalised)
    checkpoint/         latest resumable state (model, normaliser, reward state, step count)
    summary.json        final fitness over deterministic evaluation episodes, success rate, steps/s
    status.json         running / interrupted / failed (with traceback) / done

Every JSON file is written atomically (temp file + rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

RUNS_ENV = "REWARDLAB_RUNS"
STATES = ("running", "interrupted", "failed", "done")


class RunExistsError(RuntimeError):
    """The run directory already holds a finished run."""


class RunStoreError(RuntimeError):
    """A run directory file is missing or corrupted."""


def runs_root(runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """``runs_dir`` if given, else ``$REWARDLAB_RUNS``, else ``./runs`` of the current directory."""
    if runs_dir is not None:
        return Path(runs_dir)
    return Path(os.environ.get(RUNS_ENV, "runs"))


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def as_saved(obj: Any) -> Any:
    """``obj`` as :func:`atomic_write_json` saves it and :func:`read_json` reads it back (tuples become lists,
    numpy scalars numbers...): what to compare with a file's contents."""
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def pid_alive(pid: Any) -> bool:
    """True when ``pid`` (a run's ``status.json`` names the process writing it) is a live process."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunStoreError(f"{path} is corrupted ({e}); move it aside or delete the run to start over") from None


class RunDir:
    """Read and write one run directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # files ---------------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    def exists(self) -> bool:
        return (self.path / "status.json").exists()

    def status(self) -> dict[str, Any] | None:
        p = self.path / "status.json"
        if not p.exists():
            return None
        return read_json(p)

    def set_status(self, state: str, **extra: Any) -> None:
        assert state in STATES, state
        atomic_write_json(
            self.path / "status.json", {"state": state, "pid": os.getpid(), "updated": time.time(), **extra}
        )

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read(self, name: str) -> Any:
        return read_json(self.path / name)

    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with open(self.metrics_path, "a") as f:
            for r in rows:
                f.write(json.dumps(r, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics(self) -> list[dict[str, Any]]:
        """All metric rows; a torn last line (crash mid-write) is dropped, other damage raises."""
        if not self.metrics_path.exists():
            return []
        lines = self.metrics_path.read_text().splitlines()
        rows = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    break
                raise RunStoreError(f"{self.metrics_path}: line {i + 1} is corrupted") from None
        return rows

    def truncate_metrics(self, max_step: int) -> None:
        """Keep rows up to ``max_step`` (used when resuming from a checkpoint).

        A final evaluation belongs to a finished run only: a run resumed after a crash between its final
        evaluation and its summary evaluates again, so the old final row is dropped, never duplicated.
        """
        rows = [r for r in self.metrics() if r.get("step", 0) <= max_step and not r.get("final")]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r, default=_json_default) + "\n" for r in rows))

    def summary(self) -> dict[str, Any] | None:
        p = self.path / "summary.json"
        return read_json(p) if p.exists() else None
