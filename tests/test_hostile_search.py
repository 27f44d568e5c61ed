"""The whole hostile corpus through the real search loop, over HTTP.

Every program in tests/hostile/ (``@SENTINEL@`` and ``@PORT@`` substituted as in
tests/test_sandbox.py) is served by a :class:`ScriptedChatServer` as one completion of the first
generation request, each wrapped in a ```python fence. The search extracts, statically checks and
sandboxes each one, asks for one repair of every invalid one (the repair answer is a program the
static check refuses at once, so repairs cost no sandbox time), trains the valid ones briefly and
runs a second iteration whose prompt carries the best candidate's reflection.

Afterwards nothing outside the run directory may have changed (a sentinel dir with a
world-writable ``keep.txt`` and a ``secret.txt``, ``$HOME`` and ``/tmp`` listings, everything in
the runs-dir parent), and neither the secret nor the first line of /etc/passwd nor environment
content may appear in any file of the run directory or in any request the search sent to the
server (repair feedback and reflection prompts included). The search must complete, and only
candidates that validated may have been trained.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import socket
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_reward.search import SearchConfig, search
from llm_reward.testing import ScriptedChatServer

# about a minute (the whole corpus through a real search): slow, and run by `make test` for what it guards, the
# files outside the run dir and the secrets
pytestmark = [pytest.mark.slow, pytest.mark.data_safety]

HOSTILE = Path(__file__).parent / "hostile"
PROGRAMS = sorted(HOSTILE.glob("*.py"))
NOBODY = 65534

# what every repair request gets back: refused by the static check, so no sandbox run and no training
REPAIR = "```python\nimport os\n\n\ndef compute_reward(s):\n    return s.x, {'x': s.x}\n```\n"


def _tree(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, content hash) of everything under ``root`` except ``skip``."""
    out: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for name in [*filenames, *dirnames]:
            p = d / name
            if p == skip:
                continue
            st = p.lstat()
            digest = hashlib.blake2b(p.read_bytes(), digest_size=8).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def _listing(d: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for name in os.listdir(d) if d.is_dir() else ():
        try:
            st = os.lstat(d / name)
        except OSError:
            continue
        out[name] = (st.st_uid, st.st_size, st.st_mtime_ns)
    return out


def _blame(where: str, before: dict, after: dict) -> list[str]:
    """Entries of a shared directory that the candidates made: named *pwned* or owned by nobody (the
    sandbox child's user when the lab runs as root). Other processes on the machine write here too."""
    out = []
    for name, meta in after.items():
        if name not in before or before[name] != meta:
            if "pwned" in name or meta[0] == NOBODY:
                out.append(f"{where}/{name}")
    return sorted(out)


def _parent_environ_markers() -> list[str]:
    """``KEY=VALUE`` entries of this process's initial environment (what /proc/<ppid>/environ shows a
    sandbox child) that are long and specific enough not to appear by chance."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return []
    common = {"PWD", "OLDPWD", "HOME", "SHELL", "USER", "LOGNAME", "TERM", "SHLVL", "LANG", "_", "PATH"}
    out = []
    for entry in raw.split(b"\0"):
        text = entry.decode("utf-8", "replace")
        key, _, value = text.partition("=")
        if key not in common and len(text) >= 20 and len(value) >= 8:
            out.append(text)
    return out


def _files_text(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (zip archives, .npz included, also member by member)."""
    out: dict[str, bytes] = {}
    for p in root.rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        data = p.read_bytes()
        out[str(p.relative_to(root))] = data
        if zipfile.is_zipfile(p):
            try:
                with zipfile.ZipFile(p) as z:
                    for info in z.infolist()[:200]:
                        if info.file_size <= 16 << 20:
                            out[f"{p.relative_to(root)}!{info.filename}"] = z.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError):
                pass
    return out


def _decoded_stats(stats: Any) -> str:
    """Text a candidate could smuggle through statistics: a byte per component mean, or bytes
    packed into large integral floats."""
    if not isinstance(stats, dict):
        return ""
    chars, packed = [], []
    for v in stats.values():
        if not isinstance(v, dict):
            continue
        for key, x in v.items():
            if not isinstance(x, int | float) or not math.isfinite(x) or not float(x).is_integer():
                continue
            if key == "mean" and 32 <= x < 127:
                chars.append(chr(int(x)))
            elif 2**16 <= x < 2**53:
                packed.append(int(x).to_bytes(7, "big").lstrip(b"\0").decode("latin-1"))
    return "".join(chars) + "\n" + "".join(packed) + "\n" + "\n".join(packed)


def _leaks(blob: str, markers: dict[str, list[str]]) -> list[str]:
    return [name for name, texts in markers.items() if any(t and t in blob for t in texts)]


@pytest.fixture(scope="module")
def hostile_search() -> Iterator[dict[str, Any]]:
    # not under pytest's base temp, which only its owner may enter: when the lab runs as root the
    # candidate runs as nobody, and an untraversable parent would hide the sentinel from it; the
    # sentinel is world-writable to stand for the lab user's own files (an unprivileged lab's
    # candidate runs as that user)
    base = Path(tempfile.mkdtemp(prefix="rewardlab-hostile-search-", dir="/tmp" if Path("/tmp").is_dir() else None))
    _remove_pwned()
    try:
        yield _run_hostile_search(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        _remove_pwned()


def _remove_pwned() -> None:
    """What the corpus's programs would leave in /tmp and $HOME when they escape (all named rewardlab_pwned*)."""
    for d in (Path("/tmp"), Path(os.path.expanduser("~"))):
        for p in d.glob("rewardlab_pwned*") if d.is_dir() else ():
            try:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            except OSError:
                pass


def _run_hostile_search(base: Path) -> dict[str, Any]:
    os.chmod(base, 0o755)
    sentinel = base / "sentinel"
    sentinel.mkdir()
    secret = "TOPSECRET-" + secrets.token_hex(8)
    (sentinel / "keep.txt").write_text("do not touch")
    (sentinel / "secret.txt").write_text(secret + "\n")
    os.chmod(sentinel / "keep.txt", 0o666)
    os.chmod(sentinel / "secret.txt", 0o644)
    os.chmod(sentinel, 0o777)
    for p in (sentinel / "keep.txt", sentinel / "secret.txt"):
        os.utime(p, (1_000_000_000, 1_000_000_000))
    runs = base / "runs"
    runs.mkdir()
    home, tmp = Path(os.path.expanduser("~")), Path("/tmp")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    port = str(listener.getsockname()[1])

    programs = {p.stem: p.read_text().replace("@SENTINEL@", str(sentinel)).replace("@PORT@", port) for p in PROGRAMS}
    queue = [f"Here is the reward ({name}).\n```python\n{src}```\n" for name, src in programs.items()]
    served: list[str] = []

    def respond(body: dict[str, Any]) -> list[str]:
        n = int(body.get("n") or 1)
        if any(m.get("role") == "assistant" for m in body.get("messages", [])):
            return [REPAIR] * n  # a repair request
        if len(served) < len(queue):
            batch = queue[len(served) : len(served) + n]
            served.extend(batch)
            return batch + [REPAIR] * (n - len(batch))
        return [REPAIR] * n  # the second iteration: nothing new to run

    before = {
        "sentinel": _tree(sentinel),
        "runs-parent": _tree(base, skip=runs),
        "home": _listing(home),
        "tmp": _listing(tmp),
    }
    cfg = SearchConfig(
        task="MountainCar-v0", iterations=2, samples=len(queue), steps=512, retrain_top=1, retrain_seeds=1,
        executor="serial", eval_every=-1, final_episodes=1, n_transitions=64, baselines=(),
        retrain_iteration_bests=False, backend="openai", model="scripted", api_key_env=None, timeout_s=60.0,
        max_repairs=1,
    )  # fmt: skip
    t0 = time.monotonic()
    error: BaseException | None = None
    state: dict[str, Any] | None = None
    with ScriptedChatServer(respond) as server:
        cfg.base_url = server.url
        try:
            state = search(cfg, runs_dir=runs, log=lambda m: None)
        except Exception as e:  # reported by the test that checks completion; the other checks still run
            error = e
        requests = list(server.requests)
    try:
        listener.accept()[0].close()
        connected = True
    except TimeoutError:
        connected = False
    finally:
        listener.close()
    return {
        "base": base, "sentinel": sentinel, "secret": secret, "runs": runs, "sdir": runs / cfg.folder(),
        "before": before, "home": home, "tmp": tmp, "state": state, "error": error, "requests": requests,
        "programs": programs, "served": served, "wall_s": time.monotonic() - t0, "connected": connected,
    }  # fmt: skip


def _markers(h: dict[str, Any]) -> dict[str, list[str]]:
    rand = h["secret"][len("TOPSECRET-") :]
    try:
        first = Path("/etc/passwd").read_text().splitlines()[0]
    except (OSError, IndexError):
        first = "root:x:0:0"
    return {
        # the whole secret, or any 8 characters of its random part
        "secret": [h["secret"], *(rand[i : i + 8] for i in range(len(rand) - 7))],
        "/etc/passwd": [first[:10], first, first[:10].replace(":", "_")],  # also as an identifier
        "parent environ": _parent_environ_markers(),
        "child environ": ["OPENBLAS_NUM_THREADS=1 ", "OPENBLAS_NUM_THREADS=1\0", "PYTHONHASHSEED=0 "],
    }


def test_search_completes_and_consumes_every_program(hostile_search: dict[str, Any]) -> None:
    h = hostile_search
    assert h["error"] is None, f"the search failed: {type(h['error']).__name__}: {h['error']}"
    st = h["state"]
    assert len(h["served"]) == len(h["programs"]), "not every hostile program was served"
    first = [c for c in st["candidates"] if c["iteration"] == 0]
    assert len(first) == len(h["programs"])
    saved = json.loads((h["sdir"] / "search.json").read_text())
    assert saved["next_iteration"] == 2 and saved["final"] is not None
    if saved.get("invocations"):  # search.json keeps one entry per invocation (since the invocations log)
        assert saved["invocations"][-1]["outcome"].startswith("finished"), saved["invocations"][-1]
    # each candidate's first response is the program served for it
    for c in first:
        response = (h["sdir"] / c["dir"] / "response.txt").read_text()
        name = response.split("(", 1)[1].split(")", 1)[0]
        assert h["programs"][name] in response, c["id"]


def test_only_valid_candidates_are_trained(hostile_search: dict[str, Any]) -> None:
    h = hostile_search
    st = h["state"] or json.loads((h["sdir"] / "search.json").read_text())
    valid = {c["id"].replace("/", "_") for c in st["candidates"] if c["valid"]}
    runs = [p.name for p in h["sdir"].iterdir() if (p / "status.json").exists()]
    trained = {r.split("__s")[0].removesuffix("_retrain") for r in runs}
    assert trained <= valid, f"trained but not valid: {sorted(trained - valid)}"
    for c in st["candidates"]:
        if not c["valid"]:
            assert c.get("run_id") is None and c.get("score") is None, c["id"]


def test_nothing_outside_the_run_dir_changes(hostile_search: dict[str, Any]) -> None:
    h = hostile_search
    b = h["before"]
    changed = [f"sentinel: {x}" for x in _diff(b["sentinel"], _tree(h["sentinel"]))]
    changed += [
        f"runs-parent: {x}"
        for x in _diff(b["runs-parent"], _tree(h["base"], skip=h["runs"]))
        if x.split(" ", 1)[1].split("/")[0] != "sentinel"  # reported above
    ]
    changed += _blame(str(h["home"]), b["home"], _listing(h["home"]))
    changed += _blame("/tmp", b["tmp"], _listing(h["tmp"]))
    # the runs dir holds the search folder and nothing else
    changed += [f"runs: {p.name}" for p in h["runs"].iterdir() if p != h["sdir"]]
    assert (h["sentinel"] / "keep.txt").read_text() == "do not touch", "keep.txt was overwritten"
    assert not h["connected"], "a candidate connected to the loopback listener"
    assert changed == [], "changed outside the run directory:\n" + "\n".join(changed)


def _diff(before: dict, after: dict) -> list[str]:
    out = [f"new {k}" for k in sorted(after.keys() - before.keys())]
    out += [f"removed {k}" for k in sorted(before.keys() - after.keys())]
    out += [f"changed {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return out


def test_no_secret_reaches_the_run_dir_or_the_llm(hostile_search: dict[str, Any]) -> None:
    h = hostile_search
    markers = _markers(h)
    found: list[str] = []
    for name, data in _files_text(h["sdir"]).items():
        text = data.decode("latin-1")
        extra = ""
        if name.endswith("validation.json"):
            try:
                extra = _decoded_stats(json.loads(data).get("stats"))
            except (ValueError, AttributeError):
                pass
        for what in _leaks(text + "\n" + extra, markers):
            found.append(f"{what} in {name}")
    for r in h["requests"]:
        body = json.dumps(r.body) if r.body is not None else ""
        for what in _leaks(body, markers):
            found.append(f"{what} in request #{r.number} to the LLM ({r.path})")
    assert found == [], f"{len(found)} leaks:\n" + "\n".join(sorted(found)[:60])
