"""How a worker that died is labelled: a memory bomb that meets the CPU limit first (filling memory costs CPU, and
on a slow machine it can come first) is still a memory bomb; a loop that spins holding what it allocated is not."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from llm_reward.sandbox import SandboxLimits, validate_candidate
from llm_reward.sandbox.guards import MAXRSS_FIELD, RSS_MARK
from llm_reward.sandbox.judge import exit_verdict, loaded_kib, loaded_maxrss_kib
from llm_reward.transitions import collect_transitions, save_transitions
from rewardlab import envs

LIMITS = SandboxLimits(cpu_s=1.0, memory_mb=512)
LOADED = f"{RSS_MARK}80000\n"  # KiB, as the worker writes it before any candidate code runs


def _verdict(peak_kib: int, samples: list, err: str = LOADED, code: int = -signal.SIGXCPU) -> tuple[str, str]:
    """``samples``: (VmHWM, VmRSS) pairs, or one number for both."""
    samples = [x if isinstance(x, tuple) else (x, x) for x in samples]
    rusage = SimpleNamespace(ru_maxrss=peak_kib)
    label, message, _ = exit_verdict(code, rusage, LIMITS, err, " on call 1", samples, loaded_kib(err))
    return label, message


def test_cpu_limit_hit_while_memory_still_grows_is_a_memory_bomb() -> None:
    label, message = _verdict(80000 + 300 * 1024, [80000 + 200 * 1024, 80000 + 280 * 1024])
    assert label == "memory_limit"
    assert "still growing" in message and "300 MiB more" in message and "512 MiB" in message


def test_peak_rising_only_after_the_last_sample_counts_as_growing() -> None:
    label, _ = _verdict(80000 + 300 * 1024, [80000 + 290 * 1024, 80000 + 290 * 1024])
    assert label == "memory_limit"


def test_a_flat_peak_with_most_cpu_in_the_kernel_is_a_memory_bomb() -> None:
    """A doubling list's peak stays flat through the first half of each copy; its CPU goes to page faults."""
    flat = 80000 + 400 * 1024
    rusage = SimpleNamespace(ru_maxrss=flat - 60, ru_utime=0.5, ru_stime=1.5)
    assert (
        exit_verdict(-signal.SIGXCPU, rusage, LIMITS, LOADED, "", [(flat, flat), (flat, flat)], 80000)[0]
        == "memory_limit"
    )
    rusage = SimpleNamespace(ru_maxrss=flat - 60, ru_utime=1.9, ru_stime=0.1)  # a spin: user time
    assert (
        exit_verdict(-signal.SIGXCPU, rusage, LIMITS, LOADED, "", [(flat, flat), (flat, flat)], 80000)[0] == "cpu_limit"
    )


def test_current_rss_rising_under_a_flat_peak_is_a_memory_bomb() -> None:
    """Between two copies of a doubling list the peak is flat but what it holds climbs back towards it."""
    flat = 80000 + 400 * 1024
    assert _verdict(flat - 60, [(flat, flat - 200 * 1024), (flat, flat - 150 * 1024)])[0] == "memory_limit"
    assert _verdict(flat - 60, [(flat, flat - 200 * 1024), (flat, flat - 200 * 1024 + 64)])[0] == "cpu_limit"


def test_spinning_while_holding_memory_is_a_cpu_limit() -> None:
    flat = 80000 + 300 * 1024
    assert _verdict(flat - 60, [flat, flat])[0] == "cpu_limit"  # ru_maxrss reads a little below VmHWM


def test_small_growth_is_a_cpu_limit() -> None:
    assert _verdict(80000 + 100 * 1024, [80000, 80000 + 50 * 1024])[0] == "cpu_limit"  # under a quarter of 512
    assert _verdict(80000 + 300 * 1024, [80000, 80000 + 50 * 1024])[0] == "memory_limit"


def test_without_the_loaded_mark_it_stays_a_cpu_limit() -> None:
    assert _verdict(900000, [100, 200], err="")[0] == "cpu_limit"
    assert _verdict(900000, [100, 200], err=f"{RSS_MARK}junk\n")[0] == "cpu_limit"


def test_only_the_workers_own_first_mark_is_read() -> None:
    """Candidate code printing a later mark cannot move the baseline the worker wrote first."""
    err = "a warning while importing\n" + LOADED + f"{RSS_MARK}0\n"
    assert loaded_kib(err) == 80000
    assert _verdict(80000 + 100 * 1024, [80000, 80000 + 50 * 1024], err=err)[0] == "cpu_limit"


def test_the_mark_carries_the_workers_own_peak_and_its_inherited_ru_maxrss() -> None:
    err = f"{RSS_MARK}36000 {MAXRSS_FIELD}3100000\n"
    assert (loaded_kib(err), loaded_maxrss_kib(err)) == (36000, 3100000)
    assert loaded_maxrss_kib(LOADED) is None  # a mark without it: the parent's own bound is used
    assert loaded_maxrss_kib(f"{RSS_MARK}36000 other=5\n") is None


def _inherited(ru_maxrss: int, samples: list, inherited: int, stime: float = 0.1) -> str:
    rusage = SimpleNamespace(ru_maxrss=ru_maxrss, ru_utime=2.0 - stime, ru_stime=stime)
    pairs = [(x, x) for x in samples]
    return exit_verdict(-signal.SIGXCPU, rusage, LIMITS, LOADED, "", pairs, 80000, inherited)[0]


def test_an_ru_maxrss_that_is_the_parents_size_is_not_the_workers_peak() -> None:
    """Linux carries the peak RSS of the process that exec'd the worker into its ru_maxrss: a worker started by a
    3 GB test process reads 3 GB from its first instruction. That figure says nothing about its own memory."""
    parent = 3_000_000
    # a spin holding little: the parent's 3 GB is neither growth nor "still rising after the last sample"
    assert _inherited(parent, [81000, 81000], inherited=parent) == "cpu_limit"
    # a bomb under the parent's size: its growth is read off the samples (here the current RSS still rising)
    assert _inherited(parent, [80000 + 200 * 1024, 80000 + 300 * 1024], inherited=parent) == "memory_limit"
    # ru_maxrss above what it read once loaded: the worker's own peak again, rising after the last sample
    assert _inherited(parent + 1, [80000 + 300 * 1024] * 2, inherited=parent) == "memory_limit"
    # a spin with an honest ru_maxrss a little under its VmHWM
    assert _inherited(80000 + 300 * 1024 - 60, [80000 + 300 * 1024] * 2, inherited=83000) == "cpu_limit"


def test_other_deaths_keep_their_labels() -> None:
    assert _verdict(900000, [], code=-signal.SIGKILL)[0] == "memory_limit"
    assert _verdict(900000, [], code=-signal.SIGSYS)[0] == "denied"
    assert _verdict(900000, [], code=-signal.SIGSEGV)[0] == "crashed"


@pytest.fixture(scope="module")
def mc() -> tuple[envs.Task, Path, Path]:
    task = envs.get_task("MountainCar-v0")
    d = Path(tempfile.mkdtemp())
    return task, save_transitions(d / "t.npz", collect_transitions(task, n_steps=32, seed=0, n_envs=4)), d


@pytest.mark.parametrize(
    "body",
    [
        "keep = [0.0] * (12 * 2**20)",  # 96 MiB of list, then a spin
        "keep = np.ones(12 * 2**17)",  # 96 MiB of array, then a spin
    ],
)
def test_a_real_worker_that_allocates_then_spins_gets_cpu_limit(mc: tuple, body: str) -> None:
    task, data, scratch = mc
    src = f"import numpy as np\n\n\ndef compute_reward(s):\n    {body}\n    while True:\n        pass\n"
    res = validate_candidate(
        src, task, data, limits=SandboxLimits(cpu_s=1.0, memory_mb=256, wall_s=20.0), scratch_dir=scratch
    )
    assert res.label == "cpu_limit", res.message


def test_a_real_list_bomb_that_meets_the_cpu_limit_first_is_a_memory_bomb(mc: tuple) -> None:
    """The CI failure this file was written for: on a slow machine the doubling list met the 1 s CPU limit before
    the memory limit. A memory limit far above what a second of CPU can fill reproduces that on any machine."""
    task, data, scratch = mc
    src = (Path(__file__).parent / "hostile" / "memory_bomb_list.py").read_text()
    res = validate_candidate(
        src, task, data, limits=SandboxLimits(cpu_s=1.0, memory_mb=8192, wall_s=20.0), scratch_dir=scratch
    )
    assert res.label == "memory_limit", res.message


def test_without_the_workers_mark_the_parents_own_baseline_still_tells_a_list_bomb(mc: tuple, monkeypatch) -> None:
    """The loaded-RSS mark missing from the worker's stderr (here: the parent looks for another one) leaves the
    baseline the parent read itself when the worker became ready."""
    import llm_reward.sandbox.judge as judge

    monkeypatch.setattr(judge, "RSS_MARK", "no such mark:")
    task, data, scratch = mc
    src = (Path(__file__).parent / "hostile" / "memory_bomb_list.py").read_text()
    res = validate_candidate(
        src, task, data, limits=SandboxLimits(cpu_s=1.0, memory_mb=8192, wall_s=20.0), scratch_dir=scratch
    )
    assert res.label == "memory_limit", res.message


BIG_PARENT = """
import sys, tempfile
from pathlib import Path
import numpy as np
from rewardlab import envs
from llm_reward.sandbox import SandboxLimits, validate_candidate
from llm_reward.transitions import collect_transitions, save_transitions
held = np.ones(int(sys.argv[1]) * 2**17)  # touched: this process's RSS, which Linux carries into the worker's
task = envs.get_task("MountainCar-v0")
d = Path(tempfile.mkdtemp())
data = save_transitions(d / "t.npz", collect_transitions(task, n_steps=32, seed=0, n_envs=4))
res = validate_candidate(
    sys.argv[2], task, data, limits=SandboxLimits(cpu_s=1.0, memory_mb=8192, wall_s=20.0), scratch_dir=d
)
print(res.label, res.message)
"""


SPIN = (
    "import numpy as np\n\n\ndef compute_reward(s):\n    keep = [0.0] * (12 * 2**20)\n    while True:\n        pass\n"
)


@pytest.mark.parametrize("kind", ["list bomb", "spin"])
def test_a_worker_started_by_a_parent_larger_than_it_can_grow_is_labelled_by_its_own_memory(kind: str) -> None:
    """The full-suite failure: pytest had grown past what the bomb reached in a second of CPU, the worker's
    ru_maxrss (mark and death alike) read pytest's size, and the bomb was labelled cpu_limit with no growth.
    Here a parent holding 3 GB starts the worker; before the fix the bomb was cpu_limit 3 of 3 times (and a
    spin, whose ru_maxrss read 3 GB above its last sample, could pass for a bomb)."""
    want = "memory_limit" if kind == "list bomb" else "cpu_limit"
    src = (Path(__file__).parent / "hostile" / "memory_bomb_list.py").read_text() if kind == "list bomb" else SPIN
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", BIG_PARENT, "3000", src], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(want + " "), out.stdout
