"""The sandbox as an ordinary user: what a researcher's laptop runs.

As root (CI), the lab itself is started as an ordinary user (``rewardlab-test``, created by ``.ci/run``, or
by this test when it may) and validates and trains hostile candidates there. The lab process holds an API
key in its environment and a home directory with a file in it; a candidate must not read the parent's
environment (``/proc/<ppid>/environ`` belongs to the same user), write into the home directory, or open a
socket, in validation or in training. ``REWARDLAB_REQUIRE_NONROOT_TEST=1`` (set by ``.ci/run``) turns a
skip for a missing user or an unreachable interpreter into a failure.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

USER = "rewardlab-test"
SECRET = "sk-NONROOT-SECRET-9f3a1c"

READ_PARENT_ENV = """
import numpy as np

def compute_reward(s):
    raw = np.fromfile("/proc/@PPID@/environ", dtype=np.uint8)
    return s.x + 0.0 * raw[:1].sum(), {"leak_" + "".join(chr(c) for c in raw[:20] if chr(c).isalnum()): s.x}
"""

# native code: torch opens the file in C++, past every Python-level guard
TORCH_READ_PARENT_ENV = """
import torch

def compute_reward(s):
    raw = torch.from_file("/proc/@PPID@/environ", shared=False, size=64, dtype=torch.uint8)
    name = "k_" + "".join(chr(int(c)) for c in raw[:24] if chr(int(c)).isalnum())
    return torch.as_tensor(s.x), {name: torch.as_tensor(s.x)}
"""

WRITE_HOME = """
import numpy as np

def compute_reward(s):
    s.x.tofile("@HOME@/planted.bin")
    np.save("@HOME@/planted.npy", s.x)
    return s.x, {"x": s.x}
"""

OVERWRITE_HOME = """
import numpy as np

def compute_reward(s):
    m = np.memmap("@HOME@/notes.txt", dtype=np.uint8, mode="r+")
    m[:4] = 88
    return s.x, {"x": s.x}
"""

TORCH_FILE = """
import torch

def compute_reward(s):
    t = torch.from_file("@HOME@/planted.pt", shared=True, size=16)
    return torch.as_tensor(s.x), {"x": torch.as_tensor(s.x)}
"""

SOCKET = """
import numpy as np
import socket

def compute_reward(s):
    c = socket.create_connection(("127.0.0.1", @PORT@), timeout=1)
    c.sendall(b"escaped")
    return s.x, {"x": s.x}
"""

# runs as the ordinary user: the lab, with a key in its environment
SCRIPT = r'''
import json, os, socket, sys
os.environ["OPENAI_API_KEY"] = sys.argv[2]
import numpy as np
import envs
from llm_reward.sandbox import SandboxLimits, SandboxedReward, RewardSandboxError, validate_candidate
from llm_reward.transitions import collect_transitions, transition_view
from rewardlab.rewards.base import TransitionBatch

cases = json.loads(open(sys.argv[1]).read())
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(4); listener.settimeout(0.2)
port = listener.getsockname()[1]
task = envs.get_task("MountainCar-v0")
data = collect_transitions(task, n_steps=32, seed=0)
limits = SandboxLimits(cpu_s=2.0, wall_s=20.0, startup_s=60.0)
out = {"uid": os.getuid(), "results": {}}
for name, src in cases.items():
    src = src.replace("@PORT@", str(port)).replace("@PPID@", str(os.getpid()))
    res = validate_candidate(src, task, data, limits=limits, static=False)
    entry = {"validation": [res.label, res.message, res.traceback_trimmed, list(res.components)],
             "isolation": res.isolation}
    reward = SandboxedReward(src, name=name, limits=limits, static=False, call_timeout_s=10)
    view = transition_view(task, data, 0)
    try:
        terms = reward.compute(TransitionBatch(None, view.action, None, view.env_reward, view.terminated,
                                               view.truncated, state=view))
        entry["training"] = ["ok", "", list(terms.components)]
    except RewardSandboxError as e:
        entry["training"] = [e.label, str(e), []]
    finally:
        reward.close()
    out["results"][name] = entry
# the kernel layer alone, with no Python guard in the way: lock a process down and try natively
probe = r"""
import os, socket, sys, tempfile
from llm_reward.sandbox import kernel
scratch = tempfile.mkdtemp()
kernel.lock_down(scratch, address_space=None, require_kernel=True)
res = {}
for name, fn in [("environ", lambda: open(f"/proc/{sys.argv[1]}/environ", "rb").read(64)),
                 ("home_write", lambda: open(os.path.join(sys.argv[2], "kernel.txt"), "w").write("x")),
                 ("socket", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=1)),
                 ("unix_socket", lambda: socket.socket(socket.AF_UNIX)),
                 ("fork", lambda: os.fork()), ("kill_parent", lambda: os.kill(int(sys.argv[1]), 0))]:
    try:
        fn()
        res[name] = "ALLOWED"
    except OSError as e:
        res[name] = e.errno
print(res)
"""
import subprocess
p = subprocess.run([sys.executable, "-c", probe, str(os.getpid()), os.environ["HOME"], str(port)],
                   capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": os.defpath})
out["kernel_probe"] = p.stdout.strip() + p.stderr.strip()[-500:]
try:
    conn, _ = listener.accept()
    out["connected"] = conn.recv(100).decode()
except OSError:
    out["connected"] = None
print(json.dumps(out))
'''


def _user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    if os.geteuid() == 0 and shutil.which("useradd"):
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       capture_output=True, check=False)  # fmt: skip
        try:
            return pwd.getpwnam(USER)
        except KeyError:
            return None
    return None


def _skip(why: str) -> None:
    if os.environ.get("REWARDLAB_REQUIRE_NONROOT_TEST") == "1":
        pytest.fail(why)
    pytest.skip(why)


def test_ordinary_user_candidate_cannot_read_parent_env_write_home_or_connect() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the kernel sandbox is Linux's")
    root = os.geteuid() == 0
    user = _user() if root else pwd.getpwuid(os.getuid())
    if user is None:
        _skip(f"no ordinary user {USER!r} to run as (create it, as .ci/run does)")
    assert user is not None and user.pw_uid != 0
    work = Path(tempfile.mkdtemp(prefix="rewardlab-nonroot-"))
    try:
        home = work / "home"
        home.mkdir()
        (home / "notes.txt").write_text("my notes\n")
        cases_file = work / "cases.json"
        cases = {
            "read_parent_env": READ_PARENT_ENV,
            "torch_read_parent_env": TORCH_READ_PARENT_ENV,
            "write_home": WRITE_HOME.replace("@HOME@", str(home)),
            "overwrite_home": OVERWRITE_HOME.replace("@HOME@", str(home)),
            "torch_file": TORCH_FILE.replace("@HOME@", str(home)),
            "socket": SOCKET,
        }
        cases_file.write_text(json.dumps(cases))
        script = work / "lab.py"
        script.write_text(textwrap.dedent(SCRIPT))
        env = {"PATH": os.defpath, "HOME": str(home), "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}
        kwargs: dict = {}
        if root:
            for p in (work, home):
                os.chown(p, user.pw_uid, user.pw_gid)
            os.chown(home / "notes.txt", user.pw_uid, user.pw_gid)
            os.chmod(work, 0o755)
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            try:
                probe = subprocess.run([sys.executable, "-c", "import llm_reward.sandbox"], env=env, cwd=work,
                                       capture_output=True, text=True, **kwargs)  # fmt: skip
            except PermissionError as e:  # exec refused: a directory above the interpreter is closed to the user
                _skip(f"the interpreter is not reachable for {USER} (.ci/run opens the path): {e}")
            if probe.returncode != 0:
                _skip(f"the interpreter is not reachable for {USER}: {probe.stderr.strip()[-300:]}")
        before = sorted(p.name for p in home.iterdir())
        proc = subprocess.run([sys.executable, str(script), str(cases_file), SECRET], env=env, cwd=work,
                              capture_output=True, text=True, timeout=600, **kwargs)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["uid"] == user.pw_uid
        text = json.dumps(out)
        assert SECRET not in text and "OPENAI" not in text  # nothing of the parent's environment came out
        assert sorted(p.name for p in home.iterdir()) == before  # nothing created in the home directory
        assert (home / "notes.txt").read_text() == "my notes\n"  # nothing overwritten
        assert out["connected"] is None  # no connection reached the lab's listener
        for name, entry in out["results"].items():
            assert entry["validation"][0] != "ok", (name, entry)
            assert entry["training"][0] != "ok", (name, entry)
            assert entry["isolation"].get("kernel"), (name, entry["isolation"])
        assert out["results"]["read_parent_env"]["validation"][0] in ("denied", "file_write")
        assert out["results"]["torch_read_parent_env"]["validation"][0] == "denied"  # the kernel, not a guard
        assert out["results"]["socket"]["validation"][0] in ("network", "denied", "forbidden_import")
        probe = out["kernel_probe"]
        assert "ALLOWED" not in probe and probe.startswith("{"), probe
        assert all(f"'{k}'" in probe for k in ("environ", "home_write", "socket", "unix_socket", "fork", "kill_parent"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
