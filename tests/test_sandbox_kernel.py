"""The kernel layer on its own, and what happens where a mechanism is missing (an older kernel, macOS)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm_reward.sandbox import SandboxLimits, kernel, probe, validate_candidate
from rewardlab.rewards.registry import RewardSpecError, resolve_reward

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel sandbox is Linux's")

GOOD = """
import numpy as np


def compute_reward(s):
    return s.x + 0.0, {"x": s.x + 0.0}
"""

# lock a fresh process down, with one mechanism reported missing, and report what holds
_LOCK = r"""
import json, os, sys, tempfile
from llm_reward.sandbox import kernel
missing, require = sys.argv[1], sys.argv[2] == "1"
if missing == "landlock":
    kernel.landlock_abi = lambda: 0
elif missing == "seccomp":
    kernel._seccomp_module = lambda: None
scratch = tempfile.mkdtemp()
try:
    iso = kernel.lock_down(scratch, address_space=None, require_kernel=require)
except OSError as e:
    print(json.dumps({"refused": str(e)}))
    sys.exit(0)
res = {}
for name, fn in [("passwd", lambda: open("/etc/passwd").read(4)), ("fork", lambda: os.fork())]:
    try:
        pid = fn()
        if pid == 0:
            os._exit(0)
        res[name] = "ALLOWED"
    except OSError as e:
        res[name] = e.errno
print(json.dumps({"iso": iso, "res": res}))
"""


def _lock(missing: str, require: bool) -> dict:
    p = subprocess.run([sys.executable, "-c", _LOCK, missing, "1" if require else "0"], capture_output=True,
                       text=True, timeout=60, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_this_machine_has_the_kernel_layers() -> None:
    support = probe()
    assert support.sufficient, support.missing()  # CI's kernel offers Landlock and seccomp
    assert support.landlock_abi >= 1


def test_full_lock_down_refuses_reads_and_processes() -> None:
    out = _lock("none", True)
    assert out["iso"]["kernel"] and out["iso"]["no_new_privs"]
    assert out["res"]["passwd"] != "ALLOWED" and out["res"]["fork"] != "ALLOWED"


@pytest.mark.parametrize("missing", ["landlock", "seccomp"])
def test_a_missing_mechanism_is_refused_when_required(missing: str) -> None:
    out = _lock(missing, True)
    assert "refused" in out and missing.lower() in out["refused"].lower()


def test_without_landlock_when_asked_for_less_the_other_layers_hold_and_say_so() -> None:
    out = _lock("landlock", False)
    iso = out["iso"]
    assert not iso["kernel"] and str(iso["landlock"]).startswith("unavailable")
    assert isinstance(iso["seccomp"], dict)  # seccomp still stops new processes
    assert out["res"]["fork"] != "ALLOWED"


def test_llm_spec_is_refused_where_the_kernel_layers_are_missing(monkeypatch, tmp_path: Path) -> None:
    import envs

    task = envs.get_task("MountainCar-v0")
    path = tmp_path / "reward.py"
    path.write_text(GOOD)
    fake = kernel.KernelSupport("darwin", 0, False, False)
    monkeypatch.setattr("llm_reward.sandbox.probe", lambda: fake)
    with pytest.raises(RewardSpecError, match="lacks Landlock") as err:
        resolve_reward(f"llm:{path}", task)
    assert f"llm-process:{path}" in str(err.value)  # how to ask for less, explicitly
    src = resolve_reward(f"llm-process:{path}", task)  # asked for explicitly: allowed
    assert src.limits.require_kernel is False
    src.close()


def test_validation_reports_the_guarantees() -> None:
    res = validate_candidate(textwrap.dedent(GOOD), "MountainCar-v0", limits=SandboxLimits(startup_s=60))
    assert res.ok, res.message
    assert res.isolation["kernel"] and res.isolation["landlock"]["abi"] >= 1 and res.isolation["python_guards"]


def test_search_refuses_without_the_kernel_layers_unless_asked(monkeypatch, tmp_path: Path) -> None:
    from llm_reward.search import SearchConfig, SearchError, search

    fake = kernel.KernelSupport("darwin", 0, False, False)
    monkeypatch.setattr("llm_reward.sandbox.probe", lambda: fake)
    cfg = SearchConfig(task="MountainCar-v0", backend="mutation", iterations=1, samples=1, steps=256)
    with pytest.raises(SearchError, match="--sandbox process"):
        search(cfg, runs_dir=tmp_path, progress=False, log=lambda *a: None)
    assert not any(tmp_path.rglob("*.py"))  # nothing was generated or run
