"""From text to a trusted reward: extraction, static checks and the process sandbox (issue 4).

The hostile corpus lives in tests/hostile/, one program per file. Each file's header names the
label the full pipeline must give it (``# expect:``), the label the runtime layer alone must
give it with the static check switched off (``# expect-runtime:``, when the program gets that
far), and a substring the message must contain (``# message:``). ``@SENTINEL@`` is replaced by
a directory outside the sandbox's scratch directory and ``@PORT@`` by a listening loopback port.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import envs
from llm_reward.code import extract_code, static_check
from llm_reward.sandbox import (
    LABELS,
    RewardCodeError,
    SandboxLimits,
    ValidationResult,
    load_trusted_reward,
    validate_candidate,
)
from llm_reward.transitions import collect_transitions, load_transitions, save_transitions, transition_view
from rewardlab.rewards.base import TransitionBatch

HOSTILE = Path(__file__).parent / "hostile"
# tight limits keep the corpus fast; the CPU limit is far below the wall limit so a spinning
# candidate on a loaded machine still meets the CPU limit first
LIMITS = SandboxLimits(cpu_s=1.0, memory_mb=512, wall_s=20.0, startup_s=60.0)
RUNTIME_LIMITS = SandboxLimits(cpu_s=1.0, memory_mb=512, wall_s=3.0, startup_s=60.0)


def _parse_case(path: Path) -> dict[str, str]:
    case = {"name": path.stem, "source": path.read_text()}
    for line in case["source"].splitlines()[:8]:
        for key in ("expect", "expect-runtime", "message", "caught-in"):
            prefix = f"# {key}:"
            if line.startswith(prefix):
                case[key] = line[len(prefix) :].strip()
    return case


CASES = {p.stem: _parse_case(p) for p in sorted(HOSTILE.glob("*.py"))}
RUNTIME_CASES = sorted(k for k, c in CASES.items() if "expect-runtime" in c)

GOOD_MOUNTAINCAR = """
import numpy as np

GOAL_X = 0.5


def _energy(x, v):
    # potential + kinetic energy per unit mass, scaled to about 1 at the flag
    return (0.0025 * np.sin(3.0 * x) + 1.5 * v**2) / 0.0025


def compute_reward(s):
    gain = 10.0 * (_energy(s.x, s.v) - _energy(s.prev.x, s.prev.v))
    goal = np.where(s.x >= GOAL_X, 10.0, 0.0)
    step_cost = -0.1
    return gain + goal + step_cost, {"energy_gain": gain, "goal": goal, "time": step_cost}
"""

GOOD_MOUNTAINCAR_TORCH = """
import torch
import torch.nn.functional as F


def compute_reward(s):
    x = torch.as_tensor(s.x, dtype=torch.float32)
    v = torch.as_tensor(s.v, dtype=torch.float32)
    pos = torch.stack([x, v], dim=1)
    height = torch.sin(3.0 * x) + 0.0 * torch.linalg.norm(pos, dim=1) + 0.0 * pos.mean(dim=1)
    speed = 100.0 * v.abs() + 0.0 * F.relu(x) + 0.0 * torch.quantile(x, 0.9)
    print(repr(pos[:2]), x.shape)
    return height + speed, {"height": height, "speed": speed}
"""

# ordinary numpy that imports numpy internals lazily from C (ndarray methods, percentile,
# printing): the guards must not mistake it for the candidate importing them
COMMON_NUMPY = """
import math

import numpy as np
from numpy.linalg import norm


def compute_reward(s):
    pos = np.stack([s.x, s.v], axis=1)
    spread = pos.mean(axis=1) + pos.std(axis=1) + pos.max(axis=1) + pos.var(axis=1) + pos.sum(axis=1)
    stats = np.percentile(s.x, 90) + np.median(s.x) + np.histogram(s.x, bins=5)[0].sum() * 0.0
    shaped = np.clip(s.x, -1, 1) + np.tanh(s.v) + np.arctan2(s.v, s.x) + norm(pos, axis=1)
    print(str(pos[:2]), f"{float(s.x[0]):.3f}", "{:.2f}".format(math.pi), s)
    total = (spread + stats + shaped + np.einsum("ij,ij->i", pos, pos)).astype(np.float32)
    return total, {"spread": spread, "shaped": shaped, "right": s.x > 0, "bias": np.int64(3)}
"""

GOOD_CARTPOLE = """
import math

import numpy as np


def compute_reward(s):
    upright = np.cos(s.theta)
    pose = np.stack([s.x / 2.4, s.theta / 0.21], axis=1)
    centred = -(pose**2).sum(axis=1)  # ndarray methods import numpy internals from C
    alive = np.where(s.terminated, 0.0, 1.0)
    return alive + 0.5 * upright + 0.1 * centred, {"alive": alive, "upright": upright, "centred": centred}
"""


@pytest.fixture(scope="module")
def mc_task() -> envs.Task:
    return envs.get_task("MountainCar-v0")


@pytest.fixture(scope="module")
def mc_data(mc_task: envs.Task) -> dict[str, np.ndarray]:
    return collect_transitions(mc_task, n_steps=128, seed=0, n_envs=8)


@pytest.fixture(scope="module")
def sandbox_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A scratch dir the sandbox may use and a sentinel dir it must never change."""
    sentinel = tmp_path_factory.mktemp("sentinel")
    (sentinel / "keep.txt").write_text("do not touch")
    os.utime(sentinel / "keep.txt", (1_000_000_000, 1_000_000_000))
    return {"scratch": tmp_path_factory.mktemp("scratch"), "sentinel": sentinel}


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


@pytest.fixture(scope="module")
def listener() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    yield srv
    srv.close()


def _source(case: dict[str, str], sandbox_dirs: dict[str, Path], listener: socket.socket) -> str:
    port = str(listener.getsockname()[1])
    return case["source"].replace("@SENTINEL@", str(sandbox_dirs["sentinel"])).replace("@PORT@", port)


@pytest.fixture(scope="module")
def corpus_results(
    mc_task: envs.Task,
    mc_data: dict[str, np.ndarray],
    sandbox_dirs: dict[str, Path],
    listener: socket.socket,
) -> dict[tuple[str, str], ValidationResult]:
    """Every case through the full pipeline, and the runtime cases with the static check off."""
    before = _snapshot(sandbox_dirs["sentinel"])
    data_path = save_transitions(sandbox_dirs["scratch"] / "transitions.npz", mc_data)
    jobs = [("full", name) for name in CASES] + [("runtime", name) for name in RUNTIME_CASES]

    def run(job: tuple[str, str]) -> ValidationResult:
        layer, name = job
        return validate_candidate(
            _source(CASES[name], sandbox_dirs, listener),
            mc_task,
            data_path,
            limits=LIMITS if layer == "full" else RUNTIME_LIMITS,
            scratch_dir=sandbox_dirs["scratch"],
            static=layer == "full",
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(run, jobs), strict=True))
    results[("sentinel", "before")] = before  # type: ignore[assignment]
    return results


def test_corpus_is_large_and_labelled() -> None:
    assert len(CASES) >= 25
    for name, case in CASES.items():
        assert set(case.get("expect", "?").split("|")) <= set(LABELS), f"{name}: header needs '# expect: <label>'"
        assert case.get("message"), f"{name}: header needs '# message: <substring>'"
        if "expect-runtime" in case:
            assert case["expect-runtime"] in LABELS, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case_gets_its_label(name: str, corpus_results: dict) -> None:
    case, res = CASES[name], corpus_results[("full", name)]
    if case.get("caught-in") == "training" and res.ok:
        return  # a time bomb no smoke test can see (after N calls, a rare state): test_training_catches_time_bombs
    assert not res.ok
    assert res.label in case["expect"].split("|"), f"{name}: {res.label}: {res.message}"
    assert case["message"].lower() in (res.message + res.traceback_trimmed).lower(), res.message
    assert len(res.message) < 4000


@pytest.mark.parametrize("name", RUNTIME_CASES)
def test_runtime_layer_alone_catches_case(name: str, corpus_results: dict) -> None:
    """With the static check off, the process sandbox still labels what the candidate tried."""
    case, res = CASES[name], corpus_results[("runtime", name)]
    if case.get("caught-in") == "training" and res.ok:
        return
    assert res.label == case["expect-runtime"], f"{name}: {res.label}: {res.message}\n{res.traceback_trimmed}"
    assert res.message


def test_nothing_outside_scratch_changes(corpus_results: dict, sandbox_dirs: dict[str, Path], listener) -> None:
    assert _snapshot(sandbox_dirs["sentinel"]) == corpus_results[("sentinel", "before")]
    assert (sandbox_dirs["sentinel"] / "keep.txt").read_text() == "do not touch"
    # the candidates' working directories stayed empty, and nothing connected to us
    for cwd in sandbox_dirs["scratch"].glob("candidate-*/cwd"):
        assert list(cwd.iterdir()) == [], cwd
    with pytest.raises(TimeoutError):
        listener.accept()


def test_dynamic_failures_carry_a_trimmed_traceback(corpus_results: dict) -> None:
    res = corpus_results[("full", "exception_in_helper")]
    tb = res.traceback_trimmed
    assert "candidate code only" in tb and "_scale" in tb and "raise ValueError" in tb
    assert "site-packages" not in tb and "sandbox.py" not in tb
    assert "line" in res.message


def test_crash_and_cpu_limit_report_where(corpus_results: dict) -> None:
    crash = corpus_results[("runtime", "ctypes_segfault_via_numpy")]
    assert crash.exit_code is not None and crash.exit_code < 0
    assert "crashed with SIG" in crash.message and "line 10 in compute_reward" in crash.message
    assert "<reward_candidate>" in crash.traceback_trimmed and "sandbox.py" not in crash.traceback_trimmed
    loop = corpus_results[("full", "infinite_loop")]
    assert "line" in loop.message and "compute_reward" in loop.message


def test_isolation_layers_active(corpus_results: dict) -> None:
    iso = corpus_results[("full", "constant_output")].isolation
    assert iso["python_guards"] and "fsize=0" in iso["rlimits"] and "nproc=0" in iso["rlimits"]
    assert iso["kernel"] and iso["no_new_privs"] and iso["seccomp"]["denied"] > 50
    landlock = iso["landlock"]
    assert (
        landlock["abi"] >= 1
        and landlock["write"]
        and not set(landlock["read"]) & {"/", "/etc", "/proc", "/home", "/root", "/tmp"}
    )
    assert iso["network_namespace"] or landlock["network"]


def test_parent_stays_responsive_during_a_hang(mc_task, mc_data, sandbox_dirs) -> None:
    """A candidate that sleeps forever is killed at the wall-clock limit; meanwhile the parent
    keeps running its own work, and it is still alive and usable afterwards."""
    source = (HOSTILE / "sleep_via_sys_modules.py").read_text()
    out: dict[str, ValidationResult] = {}
    limits = SandboxLimits(cpu_s=1.0, wall_s=2.0, startup_s=60.0)
    t = threading.Thread(
        target=lambda: out.setdefault("r", validate_candidate(source, mc_task, mc_data, limits=limits, static=False))
    )
    start = time.monotonic()
    t.start()
    gaps, last = [], time.monotonic()
    while t.is_alive():
        t.join(timeout=0.02)  # returns as soon as the validation ends
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    elapsed = time.monotonic() - start
    assert out["r"].label == "timeout", out["r"].message
    assert max(gaps) < 1.0  # the parent's own loop never stalled
    assert elapsed < 2.0 + 45.0
    assert validate_candidate(GOOD_MOUNTAINCAR, mc_task, mc_data, limits=LIMITS).ok


def test_good_mountaincar_reward_validates(mc_task, mc_data) -> None:
    res = validate_candidate(GOOD_MOUNTAINCAR, mc_task, mc_data, limits=LIMITS)
    assert res.ok, res.message + res.traceback_trimmed
    assert res.label == "ok" and res.components == ("energy_gain", "goal", "time")
    assert res.n_transitions == 128 * 8
    assert res.latency_ms_per_1k is not None and res.latency_ms_per_1k < LIMITS.latency_ms_per_1k
    assert res.stats["energy_gain"]["std"] > 0
    # the goal is never reached by a random policy, and time is a broadcast scalar: warnings only
    assert any("'goal' is constant" in w for w in res.warnings)
    assert any("'time' is a scalar" in w for w in res.warnings)


def test_common_numpy_operations_work_in_the_sandbox(mc_task, mc_data) -> None:
    res = validate_candidate(COMMON_NUMPY, mc_task, mc_data, limits=LIMITS)
    assert res.ok, res.message + res.traceback_trimmed
    assert res.components == ("spread", "shaped", "right", "bias")


def test_torch_reward_and_torch_backend_validate(mc_task, mc_data) -> None:
    """Torch outputs from numpy views, and torch views (as on an accelerator, here on CPU)."""
    limits = [SandboxLimits(cpu_s=5.0), SandboxLimits(cpu_s=5.0, backend="torch")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda lim: validate_candidate(GOOD_MOUNTAINCAR_TORCH, mc_task, mc_data, limits=lim), limits)
        )
    for res in results:
        assert res.ok, res.message + res.traceback_trimmed
        assert res.components == ("height", "speed")


def _children_of(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _is_sandbox_child(pid: int) -> bool:
    try:
        return b"llm_reward.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_no_sandbox_process_outlives_its_validation(corpus_results: dict) -> None:
    # only sandbox children count: other tests in the same session may leave their own helpers
    # (a multiprocessing resource tracker, Ray) running as children of the test process
    assert [p for p in _children_of(os.getpid()) if _is_sandbox_child(p)] == []


KERNEL_LAYERS = """
import numpy as np


def compute_reward(s):
    libc = np._core._internal.ctypes.CDLL(None)
    pid = libc.fork()
    if pid == 0:
        libc.pause()
    fd = libc.open(b"@SENTINEL@/kernel.txt", 0o101, 0o644)
    forked = np.full_like(s.x, float(pid))
    opened = np.full_like(s.x, float(fd))
    return s.x + 1.0, {"forked": forked, "opened": opened}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the kernel layers below the Python guards need root to drop to nobody")
def test_kernel_layers_hold_when_python_guards_are_bypassed(mc_task, mc_data, sandbox_dirs) -> None:
    """libc.fork and libc.open called through ctypes skip every Python guard; RLIMIT_NPROC and
    file permissions (the child runs as nobody) still refuse them."""
    source = KERNEL_LAYERS.replace("@SENTINEL@", str(sandbox_dirs["sentinel"]))
    res = validate_candidate(source, mc_task, mc_data, limits=LIMITS, static=False)
    assert res.ok, res.message + res.traceback_trimmed
    assert res.stats["forked"]["max"] == -1.0  # fork() failed: EAGAIN from RLIMIT_NPROC
    assert res.stats["opened"]["max"] == -1.0  # open() failed: EACCES for nobody
    assert not (sandbox_dirs["sentinel"] / "kernel.txt").exists()


def test_good_cartpole_reward_validates_on_collected_transitions(tmp_path: Path) -> None:
    task = envs.get_task("CartPole-v1")
    data = collect_transitions(task, n_steps=128, seed=1)
    assert data["terminated"].any()  # episodes end inside the stored steps
    path = save_transitions(tmp_path / "cartpole.npz", data)
    res = validate_candidate(GOOD_CARTPOLE, task, path, limits=LIMITS, scratch_dir=tmp_path / "run")
    assert res.ok, res.message + res.traceback_trimmed
    assert set(res.components) == {"alive", "upright", "centred"}
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").rglob("*"))  # the worker writes nothing there


# -- extraction and static checks (no processes) ---------------------------------------------


def test_extract_merges_blocks_and_later_definitions_win() -> None:
    response = """Here is a first try:

```python
import numpy as np

def _helper(x):
    return x * 2

def compute_reward(s):
    return _helper(s.x), {"x": _helper(s.x)}
```

Output sample:
```
{'x': 0.1}
```

Better, with a nested helper and a corrected `_helper`:

```py
import math
import numpy as np

SCALE = 3.0

@staticmethod
def _unused(y):
    return y

def _helper(x):
    def inner(z):
        return z + 1.0
    return inner(x) * SCALE

if __name__ == "__main__":
    print(compute_reward(None))
```
"""
    ex = extract_code(response)
    assert ex.entry_found and ex.functions == ["_helper", "compute_reward", "_unused"]
    assert ex.source.count("import numpy as np") == 1 and "import math" in ex.source
    assert "inner(x) * SCALE" in ex.source and "return x * 2" not in ex.source
    assert ex.overridden == ["_helper"]
    assert any("__main__" in d for d in ex.dropped)
    assert "{'x': 0.1}" not in ex.source
    ns: dict = {}
    exec(compile(ex.source, "<test>", "exec"), ns)
    assert ns["compute_reward"].__name__ == "compute_reward"
    assert static_check(ex.source) == []


def test_extract_bare_code_with_prose_and_unparsable_responses() -> None:
    ex = extract_code(
        "Sure! The reward:\nimport numpy as np\ndef compute_reward(s):\n    return s.x, {}\nHope it helps."
    )
    assert ex.entry_found and "Hope" not in ex.source
    ex = extract_code("```python\ndef compute_reward(s)\n    return s.x\n```")
    assert not ex.entry_found
    assert [i.label for i in static_check(ex.source)] == ["syntax_error"]
    ex = extract_code("I cannot write that.")
    assert static_check(ex.source)[0].label in ("syntax_error", "missing_entry")
    assert extract_code("```python\ndef reward(s):\n    return s.x, {}\n```", entry="reward").entry_found


@pytest.mark.parametrize(
    "source, labels",
    [
        (
            "import numpy.linalg as la\nfrom numpy import random\ndef compute_reward(s):\n    return la.norm(s.x), {}",
            [],
        ),
        ("import torch.nn.functional as F\ndef compute_reward(s, scale=1.0, *, k=2):\n    return s.x, {}", []),
        ("def compute_reward(s):\n    time = s.step * 0.02\n    open = s.door_open\n    return time + open, {}", []),
        ("def compute_reward(s):\n    v = getattr(s, 'v', 0.0)\n    return v, {}", []),
        ("from numpy import ctypeslib\ndef compute_reward(s):\n    return s.x, {}", ["forbidden_import"]),
        ("import numpy as np\ndef compute_reward(s):\n    return np.load('x'), {}", ["forbidden_call"]),
        ("def compute_reward(s):\n    return s.x.__class__, {}", ["dunder_access"]),
        ("def compute_reward(s):\n    nonlocal_x = 1\n    return s.x, {}\nasync def f():\n    pass", ["async_code"]),
        ("def compute_reward(*s):\n    return s, {}", ["bad_signature"]),
        ("compute_reward = 3", ["bad_signature"]),
        ("", ["empty_source"]),
        ("x = 1\n" * 20000, ["source_too_large"]),
        ("x = " + "-" * 50000 + "1", ["syntax_error"]),  # parser attacks on the parent process
        ("def compute_reward(s):\n    return s" + ".a" * 20000 + ", {}", ["syntax_error"]),
        ("W = {'a': 1.0}\ndef compute_reward(s):\n    W['a'] += 1\n    return s.x, W", ["global_state"]),
    ],
)
def test_static_check_labels(source: str, labels: list[str]) -> None:
    assert [i.label for i in static_check(source)] == labels


def test_load_trusted_reward_computes_and_rejects(mc_task, mc_data) -> None:
    reward = load_trusted_reward(GOOD_MOUNTAINCAR, name="llm_energy")
    view = transition_view(mc_task, mc_data, 3)
    batch = TransitionBatch(
        mc_data["obs"][3], mc_data["action"][3], mc_data["next_obs"][3], mc_data["env_reward"][3],
        mc_data["terminated"][3], mc_data["truncated"][3], {}, view,
    )  # fmt: skip
    terms = reward.compute(batch)
    assert reward.name == "llm_energy" and terms.total.shape == (8,)
    assert set(terms.components) == {"energy_gain", "goal", "time"}
    with pytest.raises(RewardCodeError, match="forbidden_import"):
        load_trusted_reward((HOSTILE / "import_os.py").read_text())


def test_transitions_round_trip(tmp_path: Path, mc_data) -> None:
    path = save_transitions(tmp_path / "t.npz", mc_data)
    back = load_transitions(path)
    assert back.keys() == mc_data.keys()
    assert all(np.array_equal(back[k], mc_data[k]) for k in mc_data)
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]


TRAINING_BOMBS = sorted(k for k, c in CASES.items() if c.get("caught-in") == "training")


@pytest.mark.parametrize("name", TRAINING_BOMBS)
def test_training_catches_time_bombs(name: str, mc_task, mc_data) -> None:
    """What validation cannot see (the 40th call, a terminal or rare state) the training judge catches."""
    from llm_reward.sandbox import RewardSandboxError, SandboxedReward

    case = CASES[name]
    src = case["source"]
    reward = SandboxedReward(src, name=name, limits=LIMITS, call_timeout_s=10.0, static=False)
    data = {k: v.copy() for k, v in mc_data.items()}
    data["terminated"][-1] = True  # an episode that ends at the goal, near the flag
    for k in ("obs", "next_obs"):
        if k in data:
            data[k][-1, :, 0] = 0.52
    try:
        with pytest.raises(RewardSandboxError) as err:
            for i in range(60):
                view = transition_view(mc_task, data, i % data["env_reward"].shape[0])
                if i == 59:
                    view = transition_view(mc_task, data, data["env_reward"].shape[0] - 1)
                reward.compute(
                    TransitionBatch(
                        None, view.action, None, view.env_reward, view.terminated, view.truncated, state=view
                    )
                )
        assert err.value.label == case["expect"], str(err.value)
    finally:
        reward.close()
