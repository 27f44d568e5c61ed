"""LLM reward code in a long-lived sandboxed process during training (llm_reward.sandboxed_reward).

The hostile programs below pass the static check and the validation smoke test, then misbehave
later in training: after N calls, on a large batch, on a terminal transition. Each must be killed
and reported with a label within seconds, fail its run cleanly, and leave no process behind.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from _util import wait_for

import envs
from envs.state_view import StateView
from llm_reward.code import static_check
from llm_reward.loader import SANDBOX_ENV, TIMEOUT_ENV
from llm_reward.sandbox import (
    RewardSandboxError,
    SandboxedReward,
    SandboxLimits,
    load_trusted_reward,
    validate_candidate,
)
from llm_reward.transitions import collect_transitions, transition_view
from rewardlab.experiment.executors import SerialExecutor
from rewardlab.experiment.runner import RunConfig, run_config
from rewardlab.rewards.base import FunctionReward, TransitionBatch
from rewardlab.rewards.registry import RewardSpecError, resolve_reward
from rewardlab.wrappers import make_vector_env

# generic fields only, so one file serves every task (and the benchmark)
GENERIC = '''
import numpy as np


def compute_reward(s):
    """Env reward, an action cost and a bonus on termination."""
    n = s.env_reward.shape[0]
    effort = -0.01 * np.square(s.action.astype(np.float64)).reshape(n, -1).sum(axis=1)
    ended = np.where(s.terminated, 1.0, 0.0)
    late = 0.001 * s.step
    return s.env_reward + effort + ended + late, {"env": s.env_reward, "effort": effort, "ended": ended}
'''

MOUNTAINCAR = """
import numpy as np


def compute_reward(s):
    gain = 400.0 * ((0.0025 * np.sin(3.0 * s.x) + 1.5 * s.v**2) - (0.0025 * np.sin(3.0 * s.prev.x) + 1.5 * s.prev.v**2))
    goal = np.where(s.x >= 0.5, 10.0, 0.0)
    return gain + goal, {"energy_gain": gain, "goal": goal, "height": s.height.astype(np.float32)}
"""

# FunctionReward's other output forms: a dict (total = sum) with a broadcast scalar
DICT_ONLY = """
import numpy as np


def compute_reward(s):
    return {"speed": 10.0 * np.abs(s.v), "alive": 0.5}
"""

N_CALLS = 30  # validation makes about a dozen calls; these programs misbehave after this many

# counting calls through a module-level list passes the static check (no assignment to it)
_COUNT = """
import numpy as np

CALLS = []


def compute_reward(s):
    CALLS.append(1)
    if len(CALLS) > {n}:
{bad}
    return s.x * 1.0, {{"x": s.x * 1.0}}
"""


def _after_calls(bad: str) -> str:
    return _COUNT.format(n=N_CALLS, bad=textwrap.indent(textwrap.dedent(bad).strip(), " " * 8))


HOSTILE = {
    "loop_after_calls": _after_calls("while True:\n    pass"),
    "memory_bomb_after_calls": _after_calls("big = np.ones(10**11)\nreturn big[:1], {}"),
    "list_bomb_after_calls": _after_calls("hoard = [0.0]\nwhile True:\n    hoard = hoard + hoard"),
    "exception_after_calls": _after_calls("return _helper(s), {}"),
    "nan_after_calls": _after_calls('return np.log(s.x - 10.0), {"x": s.x}'),
    "wrong_shape_after_calls": _after_calls('return s.x * 1.0, {"both": np.stack([s.x, s.v], axis=1)}'),
    "recursion_on_terminal": """
import numpy as np


def _depth(k):
    return _depth(k + 1) + 1


def compute_reward(s):
    if s.terminated.any():
        return s.x * _depth(0), {"x": s.x}
    return s.x * 1.0, {"x": s.x * 1.0}
""",
    "loop_on_large_batch": """
import numpy as np


def compute_reward(s):
    while s.x.shape[0] > 4096:
        pass
    return s.x * 1.0, {"x": s.x * 1.0}
""",
}
# reads memory 2**40 bytes past a 16-env array: SIGSEGV in numpy's C code. The static check refuses
# as_strided, so this one tests the runtime layer alone (a crash that slipped past the static check)
SEGFAULT = _after_calls(
    "far = np.lib.stride_tricks.as_strided(s.x, shape=(4,), strides=(1 << 40,))\nreturn s.x + far.sum(), {}"
)
HOSTILE["exception_after_calls"] += """

def _helper(s):
    return s.no_such_field * 2.0
"""

EXPECTED = {  # label(s), a substring of the message
    "loop_after_calls": ({"timeout"}, "wall clock"),
    "memory_bomb_after_calls": ({"memory_limit"}, "memory"),
    "list_bomb_after_calls": ({"memory_limit"}, "memory"),
    "exception_after_calls": ({"exception"}, "no_such_field"),
    "nan_after_calls": ({"nan_or_inf"}, "NaN or inf"),
    "wrong_shape_after_calls": ({"wrong_shape"}, "'both'"),
    "recursion_on_terminal": ({"recursion_limit"}, "recursion"),
    "loop_on_large_batch": ({"timeout"}, "wall clock"),
}
# short limits keep the corpus fast; the CPU limit is above the wall limit so a spin is a timeout
LIMITS = SandboxLimits(cpu_s=30.0, memory_mb=512, startup_s=60.0)
TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def mc_task() -> envs.Task:
    return envs.get_task("MountainCar-v0")


@pytest.fixture(scope="module")
def mc_data(mc_task: envs.Task) -> dict[str, np.ndarray]:
    return collect_transitions(mc_task, n_steps=40, seed=0, n_envs=16)


def _batch(view: StateView) -> TransitionBatch:
    return TransitionBatch(None, view.action, None, view.env_reward, view.terminated, view.truncated, state=view)


def _children() -> set[int]:
    """Pids of this process's sandboxed-reward children (read from /proc)."""
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"llm_reward.sandbox.worker" in cmd:
            found.add(int(d.name))
    return found


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` has exited (a zombie whose new parent has not reaped it yet counts)."""

    def exited() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
        except (OSError, IndexError):
            return True

    return wait_for(exited, within_s)


# -- correctness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ["MountainCar-v0", "HalfCheetah-v5"])
def test_same_totals_and_components_as_in_process(task_id: str) -> None:
    task = envs.get_task(task_id)
    data = collect_transitions(task, n_steps=12, seed=1, n_envs=4)
    inproc = load_trusted_reward(GENERIC, name="generic")
    sandboxed = SandboxedReward(GENERIC, name="generic")
    try:
        tiled = {k: np.concatenate([v] * 50, axis=1) for k, v in data.items()}  # 2400 envs: the buffer grows
        views = [transition_view(task, data, i) for i in range(12)]
        views += [transition_view(task, data), transition_view(task, tiled), transition_view(task, data, 5)]
        views += [transition_view(task, data, (np.array([3]), np.array([1])))]
        for view in views:  # per-step batches, then new layouts: every transition at once, larger, one env
            want, got = inproc.compute(_batch(view)), sandboxed.compute(_batch(view))
            np.testing.assert_array_equal(got.total, want.total)
            assert list(got.components) == list(want.components)
            for k, v in want.components.items():
                np.testing.assert_array_equal(got.components[k], v)
        assert sandboxed.describe() == inproc.describe()
        assert sandboxed.isolation["network_namespace"] and sandboxed.isolation["python_guards"]
        assert sandboxed.isolation["kernel"] and sandboxed.isolation["landlock"]["abi"] >= 1
    finally:
        sandboxed.close()


@pytest.mark.parametrize("source", [MOUNTAINCAR, DICT_ONLY], ids=["prev_and_units", "dict_with_scalar"])
def test_same_output_forms_and_state_view_as_in_process(
    source: str, mc_task: envs.Task, mc_data: dict[str, np.ndarray]
) -> None:
    inproc, sandboxed = load_trusted_reward(source), SandboxedReward(source)
    try:
        for i in (0, 1, 39):
            view = transition_view(mc_task, mc_data, i)
            want, got = inproc.compute(_batch(view)), sandboxed.compute(_batch(view))
            np.testing.assert_array_equal(got.total, want.total)
            assert {k: np.asarray(v, dtype=float).tolist() for k, v in got.components.items()} == {
                k: np.asarray(v, dtype=float).tolist() for k, v in want.components.items()
            }
    finally:
        sandboxed.close()


def test_the_child_sees_the_same_state_view(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    # the reward encodes what it sees (field names, dtypes, shapes, units, prev) into its output
    probe = """
import numpy as np


def compute_reward(s):
    n = s.x.shape[0]
    names = sorted(s.keys())
    sig = float(len(names)) + 0.001 * float(s.step.sum()) + float(s.action.dtype.itemsize) * 10.0
    prev_sig = float(len(s.prev.keys())) + float(s.prev.x.sum())
    units = float(len(s.unit("x")) + len(s.unit("v")))
    return np.full(n, sig), {"prev": np.full(n, prev_sig), "units": np.full(n, units), "terminated": s.terminated}
"""
    inproc, sandboxed = load_trusted_reward(probe), SandboxedReward(probe)
    try:
        view = transition_view(mc_task, mc_data, 5)
        want, got = inproc.compute(_batch(view)), sandboxed.compute(_batch(view))
        np.testing.assert_array_equal(got.total, want.total)
        for k in want.components:
            np.testing.assert_array_equal(got.components[k], np.asarray(want.components[k], dtype=float))
    finally:
        sandboxed.close()


def test_prev_is_sent_whenever_the_code_can_reach_it(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    # the static check refuses an alias of getattr; should one slip past it, the child must still see s.prev
    source = """
import numpy as np


def compute_reward(s):
    look = getattr
    before = look(s, "pr" + "ev")
    return s.x - before.x, {"dx": s.x - before.x}
"""
    assert static_check(source, "compute_reward")
    sandboxed = SandboxedReward(source, static=False)
    try:
        view = transition_view(mc_task, mc_data, 7)
        np.testing.assert_array_equal(sandboxed.compute(_batch(view)).total, view.x - view.prev.x)
    finally:
        sandboxed.close()


def test_torch_state_views_give_torch_rewards(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    source = """
import torch


def compute_reward(s):
    speed = 10.0 * torch.abs(s.v) - torch.abs(s.prev.v)
    return speed + 1.0, {"speed": speed}
"""
    view = transition_view(mc_task, mc_data, 3)
    as_torch = lambda v: {k: torch.as_tensor(np.asarray(v[k])) for k in v.keys()}  # noqa: E731
    tview = StateView(as_torch(view), mc_task.units, StateView(as_torch(view.prev), mc_task.units))
    sandboxed = SandboxedReward(source)
    try:
        got = sandboxed.compute(_batch(tview))
        want = load_trusted_reward(source).compute(_batch(tview))
        assert isinstance(got.total, torch.Tensor)
        np.testing.assert_allclose(got.total.numpy(), want.total.numpy(), rtol=1e-6)
    finally:
        sandboxed.close()


# -- hostile programs that misbehave after validation ---------------------------------------------


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "loop_on_large_batch" else n for n in sorted(HOSTILE)]
)
def test_hostile_programs_pass_validation(name: str, mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    res = validate_candidate(HOSTILE[name], mc_task, mc_data, limits=SandboxLimits(memory_mb=512))
    if name == "loop_on_large_batch" and not res.ok:  # validation draws batches beyond the stored ones now
        assert res.label in ("cpu_limit", "timeout", "too_slow"), res.feedback()
        return
    assert res.ok, res.feedback()


def _drive(reward: SandboxedReward, task: envs.Task, data: dict[str, np.ndarray], name: str) -> None:
    """Call ``reward`` the way training would until it misbehaves."""
    if name == "recursion_on_terminal":
        for i in range(5):
            reward.compute(_batch(transition_view(task, data, i)))
        view = transition_view(task, data, 5)
        done = view.with_fields(terminated=np.arange(view.x.shape[0]) == 3)
        reward.compute(_batch(done))
    elif name == "loop_on_large_batch":
        reward.compute(_batch(transition_view(task, data, 0)))
        big = {k: np.concatenate([v] * 8, axis=1) for k, v in data.items()}  # 40 x 128 envs
        reward.compute(_batch(transition_view(task, big)))
    else:
        for i in range(N_CALLS + 5):
            reward.compute(_batch(transition_view(task, data, i % 40)))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_misbehaviour_in_training_is_killed_and_labelled(
    name: str, mc_task: envs.Task, mc_data: dict[str, np.ndarray]
) -> None:
    labels, text = EXPECTED[name]
    reward = SandboxedReward(HOSTILE[name], name=name, limits=LIMITS, call_timeout_s=TIMEOUT_S)
    reward.compute(_batch(transition_view(mc_task, mc_data, 0)))  # start it
    pid = reward.pid
    assert pid is not None and pid in _children()
    t0 = time.monotonic()
    with pytest.raises(RewardSandboxError) as err:
        _drive(reward, mc_task, mc_data, name)
    elapsed = time.monotonic() - t0
    e = err.value
    assert e.label in labels, str(e)
    assert text in str(e) and f"[{e.label}]" in str(e) and name in str(e)
    assert elapsed < TIMEOUT_S + 6.0
    assert "on call" in e.detail  # where: the call number and batch size
    assert _gone(pid) and reward.pid is None and not _children()
    with pytest.raises(RewardSandboxError) as again:  # sticky: no silent restart
        reward.compute(_batch(transition_view(mc_task, mc_data, 0)))
    assert again.value is e


def test_crash_names_the_line(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    assert static_check(SEGFAULT, "compute_reward")  # refused before it could ever run...
    reward = SandboxedReward(SEGFAULT, name="crasher", limits=LIMITS, call_timeout_s=TIMEOUT_S, static=False)
    with pytest.raises(RewardSandboxError) as err:
        _drive(reward, mc_task, mc_data, "segfault_after_calls")
    assert err.value.label == "crashed" and err.value.exit_code == -signal.SIGSEGV
    assert f"on call {N_CALLS + 1} (16 envs)" in str(err.value) and "in compute_reward" in str(err.value)


def test_cpu_limit_per_call(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    reward = SandboxedReward(
        HOSTILE["loop_after_calls"], limits=SandboxLimits(cpu_s=1.0, memory_mb=512), call_timeout_s=30.0
    )
    t0 = time.monotonic()
    with pytest.raises(RewardSandboxError) as err:
        _drive(reward, mc_task, mc_data, "loop_after_calls")
    assert err.value.label == "cpu_limit" and "CPU limit" in str(err.value)
    assert time.monotonic() - t0 < 15.0
    assert not _children()


def test_exception_keeps_the_trimmed_traceback(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    reward = SandboxedReward(HOSTILE["exception_after_calls"], limits=LIMITS)
    with pytest.raises(RewardSandboxError) as err:
        _drive(reward, mc_task, mc_data, "exception_after_calls")
    tb = err.value.traceback_trimmed
    assert "in _helper" in tb and "s.no_such_field" in tb and "AttributeError" in tb


# -- the run and the process lifecycle ------------------------------------------------------------


def _write(tmp_path: Path, name: str, source: str) -> Path:
    d = tmp_path / "candidates" / name
    d.mkdir(parents=True)
    (d / "reward.py").write_text(source)
    return d / "reward.py"


def test_hostile_llm_reward_fails_its_run_and_the_executor_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "1.5")
    loop = _write(tmp_path, "looper", HOSTILE["loop_after_calls"])
    crash = _write(tmp_path, "raiser", HOSTILE["exception_after_calls"])
    good = _write(tmp_path, "good", MOUNTAINCAR)
    common = {
        "task": "MountainCar-v0",
        "agent": "ppo",
        "steps": 512,
        "hp": ["n_steps=32"],
        "eval_every": -1,
    }  # 32 calls at 16 envs
    jobs = [
        RunConfig(reward=f"llm:{path}", run_id=path.parent.name, n_eval_episodes=1, **common)
        for path in (loop, crash, good)
    ]
    t0 = time.monotonic()
    results = SerialExecutor().map(jobs, str(tmp_path / "runs"), lambda *a: None)
    assert time.monotonic() - t0 < 60.0
    looped, crashed, done = results
    assert [r.status for r in results] == ["failed", "failed", "done"]
    status = json.loads((tmp_path / "runs" / "default" / looped.run_id / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["error"].startswith("RewardSandboxError: LLM reward 'looper' failed in its sandbox process [timeout]")
    status = json.loads((tmp_path / "runs" / "default" / crashed.run_id / "status.json").read_text())
    assert "[exception]" in status["error"] and "no_such_field" in status["error"]
    assert done.summary["steps"] >= 256
    assert not _children()


def test_run_config_raises_the_labelled_error(tmp_path: Path) -> None:
    bomb = _write(tmp_path, "bomber", HOSTILE["memory_bomb_after_calls"])
    cfg = RunConfig(task="MountainCar-v0", reward=f"llm:{bomb}", steps=512, hp=["n_steps=32"], eval_every=-1)
    with pytest.raises(RewardSandboxError, match=r"\[memory_limit\]"):
        run_config(cfg, runs_dir=tmp_path / "runs")
    assert not _children()


def test_closing_the_env_ends_the_child(mc_task: envs.Task) -> None:
    reward = SandboxedReward(MOUNTAINCAR)
    venv = make_vector_env(mc_task, 4, reward)
    venv.reset(seed=0)
    for _ in range(3):
        venv.step(venv.action_space.sample())
    pid = reward.pid
    assert pid in _children()
    venv.close()
    assert _gone(pid) and not _children()
    venv = make_vector_env(mc_task, 4, reward)  # a closed reward starts a new child when used again
    venv.reset(seed=0)
    venv.step(venv.action_space.sample())
    assert reward.pid not in (None, pid)
    venv.close()
    assert not _children()


def test_pickled_copy_starts_its_own_child(mc_task: envs.Task, mc_data: dict[str, np.ndarray]) -> None:
    reward = SandboxedReward(MOUNTAINCAR)
    batch = _batch(transition_view(mc_task, mc_data, 2))
    first = reward.compute(batch)
    copy = pickle.loads(pickle.dumps(reward))
    try:
        assert copy.pid is None
        np.testing.assert_array_equal(copy.compute(batch).total, first.total)
        assert copy.pid not in (None, reward.pid)
    finally:
        copy.close()
        reward.close()
    e = RewardSandboxError("r", "timeout", "no result")
    assert str(pickle.loads(pickle.dumps(e))) == str(e)


def test_child_dies_with_a_killed_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(f"""
        import signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        import envs
        from llm_reward.sandbox import SandboxedReward
        from llm_reward.transitions import collect_transitions, transition_view
        from rewardlab.rewards.base import TransitionBatch
        task = envs.get_task("MountainCar-v0")
        view = transition_view(task, collect_transitions(task, n_steps=2, n_envs=2))
        reward = SandboxedReward({MOUNTAINCAR!r})
        reward.compute(TransitionBatch(None, None, None, view.env_reward, None, None, state=view))
        print(reward.pid, flush=True)
        signal.pause()  # until the test kills this process
        """)
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert Path(f"/proc/{child}").exists()
    finally:
        parent.kill()
        parent.wait()
    assert _gone(child)


# -- reward specs ----------------------------------------------------------------------------------


def test_specs_choose_the_sandbox(tmp_path: Path, mc_task: envs.Task, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "energy", MOUNTAINCAR)
    monkeypatch.delenv(SANDBOX_ENV, raising=False)
    sandboxed = resolve_reward(f"llm:{path}", mc_task)
    assert isinstance(sandboxed, SandboxedReward) and sandboxed.name == "energy"
    assert sandboxed.source_file == str(path.resolve())  # type: ignore[attr-defined]
    inproc = resolve_reward(f"llm-inproc:{path}", mc_task)
    assert isinstance(inproc, FunctionReward) and not isinstance(inproc, SandboxedReward)
    monkeypatch.setenv(SANDBOX_ENV, "inproc")
    assert isinstance(resolve_reward(f"llm:{path}", mc_task), FunctionReward)
    monkeypatch.setenv(SANDBOX_ENV, "nope")
    with pytest.raises(RewardSpecError, match="REWARDLAB_LLM_SANDBOX"):
        resolve_reward(f"llm:{path}", mc_task)
    monkeypatch.setenv(SANDBOX_ENV, "process")
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert resolve_reward(f"llm:{path}", mc_task).call_timeout_s == 2.5  # type: ignore[attr-defined]
    bad = _write(tmp_path, "bad", "import os\n\ndef compute_reward(s):\n    return s.x, {}\n")
    with pytest.raises(RewardSpecError, match="forbidden_import"):
        resolve_reward(f"llm:{bad}", mc_task)
    assert not _children()  # resolving starts nothing; the child starts on the first call


def test_config_is_serialisable_without_the_child() -> None:
    # run specs are plain values: the reward travels as its spec string, never as a live source
    cfg = RunConfig(task="MountainCar-v0", reward="llm:/x/reward.py")
    assert json.loads(json.dumps(asdict(cfg)))["reward"] == "llm:/x/reward.py"
