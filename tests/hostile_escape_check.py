"""Which hostile programs escape the runtime sandbox? (a tool, not a test)

Every program in tests/hostile/ goes through
``validate_candidate(source, "MountainCar-v0", transitions, static=False, scratch_dir=...)``: the
static check is OFF, so only the runtime layer (process, rlimits, guards, kernel isolation)
judges it. For each program the tool records

* the label the sandbox gave (and whether it is the header's ``# expect-runtime:``),
* whether anything outside the scratch dir changed: a sentinel dir holding a world-writable
  ``keep.txt`` ("do not touch") and a ``secret.txt`` ("TOPSECRET-<random>"), the listings of
  ``$HOME`` and ``/tmp``, and the runs-dir parent,
* whether the secret, the first line of /etc/passwd, or environment content (a canary variable
  set in this process, i.e. in the parent's /proc/<pid>/environ, and the child's own environment)
  shows up in what the validation returned: message, components, traceback, warnings, stats --
  including stats decoded back to bytes (a component per byte, bytes packed into floats).

The sentinel dir and ``keep.txt`` are world-writable and ``secret.txt`` world-readable on
purpose: when the lab runs as root the candidate runs as ``nobody``, and these modes make the
sentinel stand for the lab user's own files, which an unprivileged lab's candidate (same uid)
could reach. Programs run one at a time, and the sentinel is restored after each, so every change
is attributed to one program. New ``/tmp`` or ``$HOME`` entries count when their name contains
``pwned`` or they are owned by ``nobody`` (other processes on the machine create files too).

Usage::

    .venv/bin/python tests/hostile_escape_check.py                      # the whole corpus
    .venv/bin/python tests/hostile_escape_check.py --only native_ read_ --out /tmp/escape.txt
    .venv/bin/python tests/hostile_escape_check.py --repo /tmp/frozen-copy   # judge another checkout

Exit status 0 always (it reports; it does not judge), unless --strict: then 1 when any program
changed something outside the scratch dir or leaked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import shutil
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile"
NOBODY = 65534


def parse_case(path: Path) -> dict[str, str]:
    """Header fields of a hostile program (as tests/test_sandbox.py reads them, plus ``escape``)."""
    case = {"name": path.stem, "source": path.read_text()}
    for line in case["source"].splitlines()[:10]:
        for key in ("expect", "expect-runtime", "message", "escape"):
            prefix = f"# {key}:"
            if line.startswith(prefix):
                case[key] = line[len(prefix) :].strip()
    return case


def case_class(case: dict[str, str]) -> str:
    """The ``# escape:`` class (write, read, judge, timebomb); ``other`` for older programs."""
    return case.get("escape", "other")


# -- what must not change --------------------------------------------------------------------


class Sentinel:
    """A directory outside the scratch dir with a file to keep and a secret to keep in."""

    KEEP = "do not touch"

    def __init__(self, parent: Path) -> None:
        self.dir = parent / "sentinel"
        self.secret = "TOPSECRET-" + secrets.token_hex(8)  # 26 bytes: the corpus reads exactly that many
        self.dir.mkdir()
        self.reset()

    def reset(self) -> None:
        for p in self.dir.iterdir():
            if p.name not in ("keep.txt", "secret.txt"):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        keep, sec = self.dir / "keep.txt", self.dir / "secret.txt"
        keep.write_text(self.KEEP)
        sec.write_text(self.secret + "\n")
        os.chmod(keep, 0o666)
        os.chmod(sec, 0o644)
        os.chmod(self.dir, 0o777)
        os.utime(keep, (1_000_000_000, 1_000_000_000))
        os.utime(sec, (1_000_000_000, 1_000_000_000))


def tree_snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, content hash) for everything under ``root`` except ``skip``."""
    out: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for name in [*filenames, *dirnames]:
            p = d / name
            if skip is not None and p == skip:
                continue
            try:
                st = p.lstat()
            except OSError:
                continue
            digest = ""
            if stat.S_ISREG(st.st_mode) and st.st_size <= 1 << 20:
                try:
                    digest = hashlib.blake2b(p.read_bytes(), digest_size=8).hexdigest()
                except OSError:
                    digest = "?"
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return out


def listing(d: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (uid, size, mtime_ns) of the entries directly in ``d``."""
    out: dict[str, tuple[int, int, int]] = {}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for name in names:
        try:
            st = os.lstat(d / name)
        except OSError:
            continue
        out[name] = (st.st_uid, st.st_size, st.st_mtime_ns)
    return out


def diff_tree(before: dict, after: dict) -> list[str]:
    changes = [f"new {k}" for k in sorted(after.keys() - before.keys())]
    changes += [f"removed {k}" for k in sorted(before.keys() - after.keys())]
    changes += [f"changed {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return changes


def diff_listing(where: str, before: dict, after: dict) -> list[str]:
    """New or changed entries that are ours to blame: named *pwned* or owned by nobody."""
    out = []
    for name in sorted(after.keys() - before.keys()):
        if "pwned" in name or after[name][0] == NOBODY:
            out.append(f"new {where}/{name}")
    for name in sorted(before.keys() & after.keys()):
        if after[name] != before[name] and ("pwned" in name or after[name][0] == NOBODY):
            out.append(f"changed {where}/{name}")
    return out


def clean_pwned(dirs: list[Path]) -> None:
    for d in dirs:
        for name in listing(d):
            if "rewardlab_pwned" in name:
                p = d / name
                try:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                except OSError:
                    pass


# -- what must not leak ----------------------------------------------------------------------


def leak_markers(sentinel: Sentinel, canary: str) -> dict[str, str]:
    """name -> text that must never appear in a validation's output."""
    try:
        first = Path("/etc/passwd").read_text().splitlines()[0]
    except (OSError, IndexError):
        first = "root:x:0:0"
    markers = {
        "secret": sentinel.secret,
        "passwd": first[:10] if first.startswith("root:x:0:0") else first[:16],
        "passwd(as identifier)": first[:10].replace(":", "_") if first.startswith("root:x:0:0") else "",
        "parent-environ": canary,
        # the sandbox child's own environment (see sandbox._child_env): only /proc/self/environ holds it
        "child-environ": "OPENBLAS_NUM_THREADS=1",
    }
    try:
        host = Path("/etc/hostname").read_text().strip()
    except OSError:
        host = ""
    if len(host) >= 6:  # a short hostname would match by chance
        markers["hostname"] = host
    return markers


def decoded_stats(stats: dict[str, Any]) -> list[str]:
    """Texts a candidate could smuggle out through the stats: one byte per constant component (in
    component order), and bytes packed into large integral floats."""
    texts = []
    chars = []
    for v in stats.values():
        m = v.get("mean") if isinstance(v, dict) else None
        if isinstance(m, int | float) and math.isfinite(m) and float(m).is_integer() and 32 <= m < 127:
            chars.append(chr(int(m)))
        else:
            if len(chars) >= 4:
                texts.append("".join(chars))
            chars = []
    if len(chars) >= 4:
        texts.append("".join(chars))
    packed = []
    for v in stats.values():
        if not isinstance(v, dict):
            continue
        for x in v.values():
            if isinstance(x, int | float) and math.isfinite(x) and float(x).is_integer() and 2**16 <= x < 2**53:
                b = int(x).to_bytes(7, "big").lstrip(b"\0")
                packed.append(b.decode("latin-1"))
    if packed:
        texts.append("".join(packed))
        texts.extend(packed)
    return texts


def find_leaks(text: str, markers: dict[str, str], extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    found = []
    for name, marker in markers.items():
        if marker and marker in text:
            found.append(name)
            continue
        if name == "secret":
            # a partial leak still counts: any 5 characters of the random part, in the output or
            # in what the stats decode to
            rand = marker[len("TOPSECRET-") :]
            pieces = {rand[i : i + 5] for i in range(len(rand) - 4)}
            if any(p in t for p in pieces for t in (text, *extra)):
                found.append(name + "(partial)")
    return found


# -- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    repo = Path(args.repo).resolve() if args.repo else HERE.parent
    sys.path.insert(0, str(repo))
    import envs
    from llm_reward.sandbox import SandboxLimits, validate_candidate
    from llm_reward.transitions import collect_transitions, save_transitions

    canary = os.environ["REWARDLAB_ESCAPE_CANARY"]  # in this process's initial environment (see main)

    root = Path(tempfile.mkdtemp(prefix="rewardlab-escape-"))
    os.chmod(root, 0o755)  # traversable, so the world-writable sentinel is reachable (see module doc)
    sentinel = Sentinel(root)
    runs = root / "runs"
    scratch = runs / "scratch"
    scratch.mkdir(parents=True)
    home = Path(os.path.expanduser("~"))
    tmp = Path("/tmp")
    task = envs.get_task("MountainCar-v0")
    data_path = save_transitions(runs / "transitions.npz", collect_transitions(task, n_steps=256, seed=0, n_envs=8))
    limits = SandboxLimits(cpu_s=args.cpu_s, memory_mb=512, wall_s=args.wall_s, startup_s=90.0)
    markers = leak_markers(sentinel, canary)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = str(srv.getsockname()[1])

    paths = sorted(HOSTILE.glob("*.py"))
    if args.only:
        paths = [p for p in paths if any(p.stem.startswith(o) or o in p.stem for o in args.only)]
    rows: list[dict[str, Any]] = []
    t_all = time.monotonic()
    try:
        for path in paths:
            case = parse_case(path)
            source = case["source"].replace("@SENTINEL@", str(sentinel.dir)).replace("@PORT@", port)
            clean_pwned([tmp, home])
            sentinel.reset()
            before = {
                "sentinel": tree_snapshot(sentinel.dir),
                "runs-parent": tree_snapshot(root, skip=scratch),
                "home": listing(home),
                "tmp": listing(tmp),
            }
            t0 = time.monotonic()
            res = validate_candidate(source, task, data_path, limits=limits, scratch_dir=scratch, static=False)
            wall = time.monotonic() - t0
            changed = diff_tree(before["sentinel"], tree_snapshot(sentinel.dir))
            changed = [f"{c.split(' ', 1)[0]} sentinel/{c.split(' ', 1)[1]}" for c in changed]
            changed += [
                f"{c.split(' ', 1)[0]} runs-parent/{c.split(' ', 1)[1]}"
                for c in diff_tree(before["runs-parent"], tree_snapshot(root, skip=scratch))
                if "sentinel" not in c
            ]
            changed += diff_listing(str(home), before["home"], listing(home))
            changed += diff_listing("/tmp", before["tmp"], listing(tmp))
            doc = res.to_dict()
            text = json.dumps(doc, default=str)
            extra = decoded_stats(res.stats)
            leaks = find_leaks(text + "\n" + "\n".join(extra), markers, extra)
            want = case.get("expect-runtime", "")
            rows.append(
                {
                    "name": case["name"],
                    "class": case_class(case),
                    "expect_runtime": want,
                    "label": res.label,
                    "label_matches": (res.label == want) if want else None,
                    "changed": changed,
                    "leaked": leaks,
                    "escaped": bool(changed or leaks or (res.ok and case_class(case) in ("judge", "timebomb", "read"))),
                    "message": res.message[:200],
                    "wall_s": round(wall, 2),
                }
            )
            if args.verbose:
                print(f"{case['name']}: {res.label} {changed} {leaks}", file=sys.stderr, flush=True)
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
    finally:
        srv.close()
        clean_pwned([tmp, home])
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    try:
        import subprocess

        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:
        rev = "?"
    header = (
        f"hostile escape check: {len(rows)} programs, static check OFF, llm_reward from {repo} (git {rev or 'n/a'}), "
        f"uid {os.geteuid()}, {time.strftime('%Y-%m-%d %H:%M:%S')}, {time.monotonic() - t_all:.0f} s"
    )
    return rows, header


def table(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, ""]
    w = max([len(r["name"]) for r in rows] + [4])
    lines.append(
        f"{'program':{w}}  {'class':9}  {'expect-runtime':18}  {'label':18}  {'=':1}  escaped  changed / leaked"
    )
    lines.append("-" * (w + 90))
    for r in rows:
        mark = {True: "y", False: "N", None: "-"}[r["label_matches"]]
        what = "; ".join(r["changed"] + [f"LEAK {x}" for x in r["leaked"]])
        if not what and r["escaped"]:
            what = {"read": "validated ok (the read went through)", "judge": "validated ok (judge fooled)"}.get(
                r["class"], "validated ok (bomb missed)"
            )
        lines.append(
            f"{r['name']:{w}}  {r['class']:9}  {r['expect_runtime'] or '-':18}  {r['label']:18}  {mark:1}  "
            f"{'ESCAPE ' if r['escaped'] else '       '}  {what}"
        )
    lines.append("")
    esc = [r for r in rows if r["escaped"]]
    mism = [r for r in rows if r["label_matches"] is False]
    by_class: dict[str, list[int]] = {}
    for r in rows:
        c = by_class.setdefault(r["class"], [0, 0, 0])
        c[0] += 1
        c[1] += r["escaped"]
        c[2] += r["label_matches"] is False
    lines.append(f"escaped: {len(esc)} of {len(rows)}; label differs from expect-runtime: {len(mism)}")
    for c, (n, e, m) in sorted(by_class.items()):
        lines.append(f"  {c:10} {n:3} programs, {e:3} escaped, {m:3} with another label")
    lines.append(
        "'escaped' = changed something outside the scratch dir, leaked a marker, or (read/judge/timebomb) validated ok."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="program name prefixes or substrings")
    ap.add_argument("--repo", help="import llm_reward from this checkout (default: this one)")
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--cpu-s", type=float, default=1.0)
    ap.add_argument("--wall-s", type=float, default=3.0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary sentinel/runs dir")
    ap.add_argument("--strict", action="store_true", help="exit 1 when anything escaped")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if argv is None and "REWARDLAB_ESCAPE_CANARY" not in os.environ:
        # /proc/<pid>/environ shows a process's initial environment only: re-exec with the canary in it
        env = {**os.environ, "REWARDLAB_ESCAPE_CANARY": "REWARDLAB-CANARY-" + secrets.token_hex(8)}
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)
    os.environ.setdefault("REWARDLAB_ESCAPE_CANARY", "REWARDLAB-CANARY-" + secrets.token_hex(8))
    rows, header = run(args)
    text = table(rows, header)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if args.strict and any(r["changed"] or r["leaked"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
