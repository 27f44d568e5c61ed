"""Every command README.md shows still works, run as a new user would, at a tiny budget.

README.md's shell blocks (```bash, ```sh, ```shell, ```console) are read for lines that start with ``rewardlab``,
``make`` or ``python`` (a ``\\`` continues a line; ``# ...`` is a comment; ``$ `` prompts are dropped). Then:

* every ``rewardlab`` command must parse with the real parser (:func:`rewardlab.cli.build_parser`): as written, with
  its optional ``[--flag VALUE]`` groups filled in (one variant per ``a|b|c`` alternative), ``...`` left out, and with
  the tiny-budget flags this test adds, so a README command whose flags went away fails here;
* each one is run in README order in one scratch folder, as a new user in a checkout would run it: results go to
  ``./runs`` of that folder (``docs/`` is linked in, so the README's relative paths resolve), a command that reads a
  run another README command makes (``show``, ``video``, ``report``, ``rank``, ``replay``) gets that one run first,
  and the budget is cut with the command's own flags (:data:`CASES`: ``--steps``, ``--seeds``, ``--episodes`` ...);
  its exit code and the files it must write are checked. Commands that need what a test cannot have (a paid model,
  a Ray cluster) are parsed only, and say why; the search against "any OpenAI-compatible server" runs against a
  scripted one on localhost. A README command that no case describes (a ``python ...`` line included) fails
  :func:`test_every_readme_command_has_a_case`, so a new one has to be classified;
* every ``rewardlab compare`` is also planned exactly as written (``--dry-run``: a shipped suite at its full budget);
* ``make demo`` runs the recipe ``make -n demo`` prints, at a tiny budget; ``make test`` (what CI runs) must select
  the default suite plus the data-safety tests.

The long cases (a Ray instance, MuJoCo searches with videos, a whole suite) are marked slow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from rewardlab.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL_BLOCKS = ("bash", "sh", "shell", "console")
COMMAND_WORDS = ("rewardlab", "make", "python")


# --- reading the README ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReadmeCommand:
    line: int  # 1-based line in README.md
    text: str  # the command as written, comment dropped

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)


def readme_commands(text: str | None = None) -> list[ReadmeCommand]:
    """The commands in README.md's shell blocks, in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    out: list[ReadmeCommand] = []
    in_block, pending, start = False, "", 0
    for i, raw in enumerate(lines, 1):
        fence = raw.strip()
        if fence.startswith("```"):
            in_block = not in_block and fence[3:].strip().lower() in SHELL_BLOCKS
            continue
        if not in_block:
            continue
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not pending:
            start = i
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        words = shlex.split(line, comments=True)
        if words and words[0] in COMMAND_WORDS:
            out.append(ReadmeCommand(start, shlex.join(words)))
    return out


def _split_groups(cmd: ReadmeCommand) -> tuple[list[str], list[list[str]]]:
    """``rewardlab demo [--seeds 3] [--task T] ...`` -> (``[rewardlab, demo]``, ``[[--seeds, 3], [--task, T]]``)."""
    base: list[str] = []
    groups: list[list[str]] = []
    group: list[str] | None = None
    for w in cmd.words:
        if group is None and w.startswith("["):
            group, w = [], w[1:]
        if group is not None:
            if w.endswith("]"):
                groups.append([*group, w[:-1]] if w[:-1] else group)
                group = None
            elif w:
                group.append(w)
        elif w != "...":
            base.append(w)
    assert group is None, f"README.md:{cmd.line}: an unclosed [ in {cmd.text!r}"
    return base, groups


def run_variants(cmd: ReadmeCommand) -> list[list[str]]:
    """The argv (without ``rewardlab``) to run: the command without its optional groups, and one per alternative
    of a group that offers some (``--family classic|mujoco`` -> ``--family classic``, ``--family mujoco``)."""
    base, groups = _split_groups(cmd)
    out = [base[1:]]
    for g in groups:
        for j, w in enumerate(g):
            if "|" in w:
                out += [[*base[1:], *g[:j], alt, *g[j + 1 :]] for alt in w.split("|")]
    return out


def parse_variants(cmd: ReadmeCommand) -> list[list[str]]:
    """What must parse: the run variants, and the command with every optional group filled in as written."""
    base, groups = _split_groups(cmd)
    filled = [w.split("|")[0] for g in groups for w in g]
    return [*run_variants(cmd), [*base[1:], *filled]]


# --- what each README command is, and how small it runs ----------------------------------------------------------

RUN = {"--steps": "1024", "--eval-episodes": "2", "--eval-every": "-1", "--no-progress": None}
SEARCH = {
    "--iterations": "1",
    "--steps": "1024",
    "--eval-every": "512",
    "--retrain-top": "1",
    "--retrain-seeds": "1",
    "--workers": "2",
}
TINY_GRID = {
    "name": "my_grid",
    "tasks": ["CartPole-v1"],
    "rewards": ["sparse", "hand"],
    "seeds": 1,
    "steps": 1024,
    "eval": {"every": -1, "final_episodes": 2},
}
MOUNTAINCAR_REWARD = """Reward speed, and reaching the flag.
```python
import numpy as np

def compute_reward(s):
    speed = 10.0 * np.abs(s.v)
    goal = np.where(s.x >= 0.5, 10.0, 0.0)
    return speed + goal, {"speed": speed, "goal": goal}
```
"""
Prepare = Callable[[Path, ExitStack], dict[str, str | None]]


def _shrunk_suite(work: Path, stack: ExitStack) -> dict[str, str | None]:
    """A shipped suite at a tiny budget: the same name, tasks, rewards and agents, one seed, 1024 steps per run."""
    from rewardlab.experiment.grid import load_spec

    spec = load_spec(REPO / "rewardlab" / "suites" / "classic-shaping.toml")
    tiny = {
        "name": spec.name,
        "tasks": spec.tasks,
        "rewards": [{"name": r.name, "spec": r.spec} for r in spec.rewards],
        "agents": spec.agents,
        "seeds": 1,
        "steps": 1024,
        "eval": {"every": 512, "episodes": 2, "final_episodes": 2},
    }
    path = work / "tiny-suites" / "classic-shaping.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(tiny))  # JSON is YAML
    return {"spec": str(path)}


def _scripted_server(work: Path, stack: ExitStack) -> dict[str, str | None]:
    """A local OpenAI-compatible server (what vLLM or Ollama would be) that answers with one MountainCar reward."""
    from llm_reward.testing import ScriptedChatServer

    server = stack.enter_context(ScriptedChatServer([MOUNTAINCAR_REWARD]))
    return {"--base-url": server.url}


@dataclasses.dataclass(frozen=True)
class Case:
    """How one README command (``match``: a regex searched in its text) is run here.

    :param tier: ``quick`` (the default suite), ``slow``, or ``parse`` (parsed only; ``why`` says why).
    :param tiny: flags that cut its budget: set to this value, replaced where the README gives one (None: a switch).
    :param files: globs under the scratch folder that must exist afterwards.
    :param out: text its output must contain.
    :param needs: the ``match`` of the README command that makes what this one reads.
    :param prepare: sets up what the command needs (a spec file, a server) and returns more flags (``spec``: the
        positional spec argument replaced).
    :param exit: its expected exit code (a search that pauses for a person's ranking exits 3).
    """

    match: str
    tier: str = "quick"
    tiny: dict[str, str | None] = dataclasses.field(default_factory=dict)
    files: tuple[str, ...] = ()
    out: str = ""
    needs: str | None = None
    prepare: Prepare | None = None
    exit: int = 0
    why: str = ""


HAND_RUN = r"^rewardlab run --task MountainCar-v0 --reward hand --agent ppo"
MUTATION_SEARCH = r"^rewardlab search --task MountainCar-v0 --iterations"
HUMAN_SEARCH = r"--ranker human"
CASES = [
    Case(r"^rewardlab tasks", out="MountainCar-v0"),
    Case(r"^rewardlab rewards MountainCar-v0", out="hand"),
    Case(r"^rewardlab agents", out="ppo"),
    Case(HAND_RUN, tiny=RUN, files=("runs/default/MountainCar-v0__hand__ppo__s0/summary.json",)),
    Case(
        r"^rewardlab run --task CartPole-v1 --reward 'sparse \+ 0.1\*hand'",
        tiny=RUN,
        files=("runs/default/CartPole-v1__*__ppo__s0/summary.json",),
    ),
    Case(
        r"^rewardlab run --task MountainCar-v0 --reward docs/examples/mountaincar_speed.py",
        tiny=RUN,
        files=("runs/default/MountainCar-v0__*mountaincar_speed*__ppo__s0/reward_source.py",),
    ),
    Case(
        r"^rewardlab run --task CartPole-v1 --reward env --agent ppo-native --vec batched",
        tiny=RUN,
        files=("runs/default/CartPole-v1__env__ppo-native__s0/summary.json",),
    ),
    Case(r"^rewardlab show runs/default/MountainCar-v0__hand__ppo__s0", needs=HAND_RUN, out="status: done"),
    Case(r"^rewardlab random HalfCheetah-v5", tiny={"--episodes": "1"}, out="uniform random policy"),
    Case(
        r"^rewardlab demo",
        tiny={"--steps": "1024", "--seeds": "1", "--no-progress": None},
        files=tuple(f"runs/demo/MountainCar-v0__{r}__ppo__s0/summary.json" for r in ("sparse", "env", "hand")),
    ),
    Case(r"^rewardlab bench$", tiny={"--seconds": "0.05", "--repeats": "1"}, out="overhead ratio"),
    Case(
        r"^rewardlab bench train",
        tier="slow",
        out="median train steps/s",
        tiny={"--seeds": "1", "--budget": "1024", "--eval-every": "512", "--eval-episodes": "1"},
    ),
    Case(
        r"^rewardlab bench sandbox",
        tier="slow",
        tiny={"--seconds": "0.05", "--repeats": "1", "--steps": "512"},
        out="per candidate",
    ),
    Case(r"^rewardlab bench worlds", tier="slow", out="fraction of raw"),
    Case(
        r"^rewardlab compare minigrid-exploration",
        tier="parse",
        why="45 CPU-minutes; test_readme_compare_plans_as_written plans it as written, the my_grid cases run a grid",
    ),
    Case(
        r"^rewardlab video runs/default/MountainCar-v0__hand__ppo__s0",
        needs=HAND_RUN,
        files=("runs/default/MountainCar-v0__hand__ppo__s0/rollout.gif",),
    ),
    Case(
        r"^rewardlab search --task MountainCar-v0 \.\.\.$",
        tier="parse",
        why="elided (`...`): the whole search commands follow in 'Reward search'",
    ),
    Case(r"^rewardlab suites", out="classic-shaping"),
    Case(
        r"^rewardlab compare classic-shaping",
        tier="slow",
        prepare=_shrunk_suite,
        tiny={"--no-progress": None},
        files=("runs/classic-shaping/*__s0/summary.json",),
    ),
    Case(
        r"^rewardlab compare my_grid.toml --workers 2$",
        tiny={"--no-progress": None},
        files=("runs/my_grid/CartPole-v1__hand__ppo__s0/summary.json",),
    ),
    Case(
        r"^rewardlab compare my_grid.toml --executor ray$",
        tier="slow",
        tiny={"--no-progress": None, "--workers": "2", "--runs-dir": "runs-ray"},
        files=("runs-ray/my_grid/CartPole-v1__hand__ppo__s0/summary.json",),
    ),
    Case(r"--executor ray --address ray://", tier="parse", why="a Ray cluster"),
    Case(
        r"^rewardlab report runs/classic-shaping",
        tier="slow",
        needs=r"^rewardlab compare classic-shaping",
        files=tuple(f"runs/classic-shaping/report/{f}" for f in ("report.html", "summary.md", "report.json")),
    ),
    Case(r"^rewardlab distance --task MountainCar-v0 hand potential", tiny={"--n": "256"}, out="EPIC distance"),
    Case(
        MUTATION_SEARCH,
        tiny={**SEARCH, "--samples": "2"},
        files=(
            "runs/search__MountainCar-v0__mutation/search.json",
            "runs/search__MountainCar-v0__mutation/search_report.md",
        ),
    ),
    Case(
        r"--cassette shipped:mountaincar-fixture",
        tiny={**SEARCH, "--eval-every": "-1", "--baselines": ""},
        files=("runs/search__MountainCar-v0__openai/search.json",),
    ),  # --samples 3: what the cassette holds
    Case(r"--model gpt-4o-mini --critic --budget-usd", tier="parse", why="a paid model (OPENAI_API_KEY, network)"),
    Case(
        r"--base-url http://localhost:8000/v1",
        prepare=_scripted_server,
        tiny={**SEARCH, "--samples": "1", "--eval-every": "-1", "--baselines": "", "--name": "local-server"},
        files=("runs/local-server/search.json",),
    ),
    Case(
        HUMAN_SEARCH,
        tier="slow",
        exit=3,
        out="paused",
        tiny={**SEARCH, "--samples": "3", "--eval-every": "-1", "--baselines": ""},
        files=(
            "runs/search__rewardlab_HopperJump-v0__mutation/iter_0/RANK_ME.md",
            "runs/search__rewardlab_HopperJump-v0__mutation/iter_0/cand_2/rollout.gif",
        ),
    ),
    Case(
        r"^rewardlab rank runs/search__rewardlab_HopperJump-v0__mutation",
        tier="slow",
        needs=HUMAN_SEARCH,
        files=("runs/search__rewardlab_HopperJump-v0__mutation/preferences.json",),
    ),
    Case(
        r"^rewardlab replay runs/search__MountainCar-v0__mutation",
        needs=MUTATION_SEARCH,
        tiny={"--seeds": "1", "--steps": "1024", "--workers": "2", "--no-progress": None},
        out="mean fitness",
    ),
]


def case_of(cmd: ReadmeCommand) -> Case:
    found = [c for c in CASES if re.search(c.match, cmd.text)]
    assert len(found) == 1, (
        f"README.md:{cmd.line}: {cmd.text!r} matches {len(found)} cases of tests/test_readme_commands.py"
    )
    return found[0]


def with_flags(argv: list[str], flags: dict[str, str | None]) -> list[str]:
    """``argv`` with each flag set to its value (replaced where present, appended where not); ``spec`` replaces the
    first positional argument after the subcommand."""
    out = list(argv)
    for flag, value in flags.items():
        if flag == "spec":
            out[1] = str(value)
        elif flag in out:
            if value is not None:
                out[out.index(flag) + 1] = value
        else:
            out += [flag] if value is None else [flag, value]
    return out


COMMANDS = [c for c in readme_commands() if c.words[0] == "rewardlab"]


def _id(cmd: ReadmeCommand) -> str:
    words = [w for w in cmd.words[1:] if not w.startswith("-")][:1] + [w for w in cmd.words[2:6]]
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", f"L{cmd.line}-" + "-".join(words))[:60]


def _tier(cmd: ReadmeCommand) -> str:
    try:
        return case_of(cmd).tier
    except AssertionError:
        return "quick"  # a command without a case: test_every_readme_command_has_a_case names it, this one fails


def _param(cmd: ReadmeCommand) -> Any:
    return pytest.param(cmd, id=_id(cmd), marks=[pytest.mark.slow] if _tier(cmd) == "slow" else [])


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_readme_parser_finds_commands_in_shell_blocks() -> None:
    text = """
```bash
rewardlab run --task T --reward "a + b"   # a comment
rewardlab bench train --tasks X \\
    --target 5
# only a comment
echo not a command
```
```python
rewardlab.run("x")
```
```console
$ make demo
```
"""
    got = [c.text for c in readme_commands(text)]
    assert got == ["rewardlab run --task T --reward 'a + b'", "rewardlab bench train --tasks X --target 5", "make demo"]
    cmd = ReadmeCommand(1, "rewardlab demo '[--seeds' '3]' '[--family' 'a|b]' ...")
    assert run_variants(cmd) == [["demo"], ["demo", "--family", "a"], ["demo", "--family", "b"]]
    assert parse_variants(cmd)[-1] == ["demo", "--seeds", "3", "--family", "a"]
    assert with_flags(["run", "--steps", "9"], {"--steps": "1", "--no-progress": None}) == [
        "run",
        "--steps",
        "1",
        "--no-progress",
    ]


def test_every_readme_command_has_a_case() -> None:
    cmds = readme_commands()
    assert len(COMMANDS) >= 25 and {"make demo", "make test"} <= {c.text for c in cmds}
    for c in COMMANDS:
        case_of(c)
    used = {case_of(c).match for c in COMMANDS}
    stale = [c.match for c in CASES if c.match not in used]
    assert not stale, f"cases for commands README.md no longer shows: {stale}"
    others = [c for c in cmds if c.words[0] != "rewardlab" and c.words[:2] not in (["make", "demo"], ["make", "test"])]
    assert not others, f"README commands this test does not know how to run: {others}"
    for c in CASES:
        assert c.tier in ("quick", "slow", "parse") and (c.tier != "parse" or c.why), c


@pytest.mark.parametrize("cmd", COMMANDS, ids=_id)
def test_readme_command_parses(cmd: ReadmeCommand) -> None:
    parser = build_parser()
    case = case_of(cmd)
    variants = parse_variants(cmd) + [with_flags(v, case.tiny) for v in run_variants(cmd)]
    for argv in variants:
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"README.md:{cmd.line}: `rewardlab {shlex.join(argv)}` does not parse (exit {e.code})")


@contextmanager
def _as_a_new_user(work: Path) -> Iterator[None]:
    """The current directory is ``work`` (its ./runs is where results go), no runs root or API key is set."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.delenv("REWARDLAB_RUNS", raising=False)
        mp.delenv("OPENAI_API_KEY", raising=False)
        yield


class Workspace:
    """The scratch checkout the README commands run in, and which of them ran (with their result)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "docs").symlink_to(REPO / "docs")
        (root / "my_grid.toml").write_text(_toml(TINY_GRID))  # "your own spec"
        self.results: dict[str, tuple[int, str]] = {}

    def run(self, cmd: ReadmeCommand, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        case = case_of(cmd)
        if cmd.text in self.results:
            return self.results[cmd.text]
        if case.needs is not None:
            (producer,) = [c for c in COMMANDS if re.search(case.needs, c.text)]
            code, out = self.run(producer, capsys)
            assert code == case_of(producer).exit, (
                f"README.md:{producer.line} (which {cmd.text!r} needs) failed:\n{out}"
            )
        code, outs = 0, []
        with ExitStack() as stack, _as_a_new_user(self.root):
            extra = case.prepare(self.root, stack) if case.prepare else {}
            for argv in run_variants(cmd):
                capsys.readouterr()
                code = main(with_flags(argv, {**case.tiny, **extra}))
                got = capsys.readouterr()
                outs.append(f"$ rewardlab {shlex.join(argv)}\n{got.out}{got.err}")
                if code != case.exit:
                    break
        self.results[cmd.text] = (code, "\n".join(outs))
        return self.results[cmd.text]


def _toml(d: dict[str, Any]) -> str:
    top = [f"{k} = {json.dumps(v)}" for k, v in d.items() if not isinstance(v, dict)]
    tables = [
        f"\n[{k}]\n" + "\n".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items())
        for k, v in d.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("readme-checkout"))


@pytest.mark.parametrize("cmd", [_param(c) for c in COMMANDS if _tier(c) != "parse"])
def test_readme_command_runs(cmd: ReadmeCommand, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    case = case_of(cmd)
    code, out = workspace.run(cmd, capsys)
    assert code == case.exit, f"README.md:{cmd.line}: exit code {code}, not {case.exit}\n{out}"
    assert case.out in out, f"README.md:{cmd.line}: no {case.out!r} in the output\n{out}"
    for pattern in case.files:
        assert list(workspace.root.glob(pattern)), f"README.md:{cmd.line}: wrote no {pattern}\n{out}"


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.words[1] == "compare"], ids=_id)
def test_readme_compare_plans_as_written(
    cmd: ReadmeCommand, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `rewardlab compare` as written, shipped suite and full budget included, validates and plans (--dry-run:
    nothing runs, no cluster is reached); the runs above are the tiny ones."""
    (tmp_path / "my_grid.toml").write_text(_toml(TINY_GRID))
    with _as_a_new_user(tmp_path):
        code = main([*run_variants(cmd)[0], "--dry-run"])
    out = capsys.readouterr()
    assert code == 0 and "runs planned" in out.out, f"README.md:{cmd.line}\n{out.out}{out.err}"
    assert not (tmp_path / "runs").exists()  # a plan writes nothing


def test_the_installed_command_runs(tmp_path: Path) -> None:
    """The ``rewardlab`` entry point pip installed (what a new user types), not only :func:`main`."""
    exe = Path(sys.executable).with_name("rewardlab")
    assert exe.is_file(), f"no {exe}: is the project installed (`make setup`)?"
    env = {k: v for k, v in os.environ.items() if k != "REWARDLAB_RUNS"}
    res = subprocess.run(
        [str(exe), "tasks", "--family", "classic"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and "CartPole-v1" in res.stdout, res.stdout + res.stderr


# --- make -------------------------------------------------------------------------------------------------------


def _recipe(target: str) -> list[str]:
    """The commands ``make TARGET`` runs (``make -n``: nothing is run), without the setup it may first need."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    res = subprocess.run([make, "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"make -n {target}: {res.stderr}"
    return [
        ln
        for ln in res.stdout.splitlines()
        if ln.strip() and "pip install" not in ln and "-m venv" not in ln and not ln.startswith("touch ")
    ]


def test_make_demo_runs_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (line,) = [ln for ln in _recipe("demo") if "rewardlab" in ln]
    words = shlex.split(line)
    assert Path(words[0]).name == "rewardlab" and words[1] == "demo", line
    demo = next(c for c in CASES if c.match == r"^rewardlab demo")
    with _as_a_new_user(tmp_path):
        assert main(with_flags(words[1:], demo.tiny)) == 0
    assert "MountainCar-v0: final fitness by reward" in capsys.readouterr().out
    for pattern in demo.files:
        assert list(tmp_path.glob(pattern)), pattern


def test_make_test_is_the_default_suite_plus_the_data_safety_tests() -> None:
    from _pytest.mark.expression import Expression

    (line,) = [ln for ln in _recipe("test") if "pytest" in ln]
    words = shlex.split(line.split("||")[0])
    assert words[1:4] == ["-m", "pytest", "-m"], line
    expr = Expression.compile(words[4])
    selects = lambda *marks: expr.evaluate(lambda name, **kw: name in marks)  # noqa: E731
    assert selects() and selects("data_safety") and selects("slow", "data_safety")
    assert not selects("slow") and not selects("benchmark")
    assert "make test" in (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]  # CI runs the README's command
