"""Experiment grids: one spec file (TOML or YAML) -> many runs.

Schema (every key but ``name``, ``tasks`` and ``rewards`` is optional)::

    name = "classic-shaping"          # experiment folder under the runs root
    description = "what this grid shows"
    tasks = ["MountainCar-v0", "CartPole-v1"]
    rewards = ["sparse", "env", "hand"]          # reward specs, or tables {name = "...", spec = "..."}
    agents = ["ppo"]                             # default ["ppo"]
    seeds = 3                                    # an int n (seeds 0..n-1) or a list of ints
    steps = 100000                               # default: each task's budget for the agent
    skip_incompatible = false                    # skip (task, reward/agent) pairs that do not fit, instead of failing
    vec = "batched"                              # gym (default), batched or torch: the vector env of every run

    [steps_per_task]                             # per-task budgets override `steps`
    "CartPole-v1" = 50000

    [eval]
    every = 20000                                # steps between evaluations (0: five per run, -1: none)
    episodes = 5                                 # episodes per periodic evaluation
    final_episodes = 10                          # final deterministic evaluation

    [hp]                                         # per-agent hyperparameter overrides (key=value strings)
    ppo = ["n_envs=8"]

The spec's hash is stored with the experiment (``experiment.json``) and in every run's config;
running a changed spec into an existing experiment folder is refused, so results never mix.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.experiment.runner import RunConfig
from rewardlab.experiment.store import RunDir, pid_alive, read_json, runs_root
from rewardlab.wrappers import VEC_KINDS, check_vec

TOP_KEYS = {
    "name",
    "description",
    "tasks",
    "rewards",
    "agents",
    "seeds",
    "steps",
    "steps_per_task",
    "skip_incompatible",
    "eval",
    "hp",
    "vec",
}
EVAL_KEYS = {"every", "episodes", "final_episodes"}


class GridSpecError(ValueError):
    """A malformed experiment spec; the message names the offending field."""


@dataclass
class RewardEntry:
    name: str
    spec: str


@dataclass
class GridSpec:
    name: str
    tasks: list[str]
    rewards: list[RewardEntry]
    agents: list[str] = field(default_factory=lambda: ["ppo"])
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int | None = None
    steps_per_task: dict[str, int] = field(default_factory=dict)
    skip_incompatible: bool = False
    eval_every: int = 0
    eval_episodes: int = 5
    final_episodes: int = 10
    hp: dict[str, list[str]] = field(default_factory=dict)
    vec: str = "gym"
    description: str = ""
    source: str | None = None

    def canonical(self) -> dict[str, Any]:
        """What defines the results (no description, no file path)."""
        canonical: dict[str, Any] = {
            "name": self.name,
            "tasks": self.tasks,
            "rewards": [[r.name, r.spec] for r in self.rewards],
            "agents": self.agents,
            "seeds": self.seeds,
            "steps": self.steps,
            "steps_per_task": dict(sorted(self.steps_per_task.items())),
            "skip_incompatible": self.skip_incompatible,
            "eval": [self.eval_every, self.eval_episodes, self.final_episodes],
            "hp": {k: list(v) for k, v in sorted(self.hp.items())},
        }
        if self.vec != "gym":  # absent when default, so the experiments written before the key keep their hash
            canonical["vec"] = self.vec
        return canonical

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> GridSpec:
    """Read and validate a TOML or YAML experiment spec."""
    p = Path(path)
    if not p.is_file():
        raise GridSpecError(f"experiment spec {str(p)!r} does not exist")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # Python 3.10: the tomli backport, where installed
                import tomli as tomllib

            raw = tomllib.loads(text)
        elif p.suffix in (".yml", ".yaml"):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raise GridSpecError(f"{p}: experiment specs are .toml, .yml or .yaml files")
    except GridSpecError:
        raise
    except Exception as e:
        raise GridSpecError(f"{p}: cannot parse: {e}") from None
    spec = parse_spec(raw, where=str(p))
    spec.source = str(p)
    return spec


def _type_error(field_: str, expected: str, got: Any) -> GridSpecError:
    return GridSpecError(f"field '{field_}': expected {expected}, got {got!r}")


def parse_spec(raw: Any, where: str = "spec") -> GridSpec:
    if not isinstance(raw, dict):
        raise GridSpecError(f"{where}: the spec must be a table/mapping of fields")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise GridSpecError(f"{where}: unknown field(s) {unknown}; valid fields: {sorted(TOP_KEYS)}")
    for req in ("name", "tasks", "rewards"):
        if req not in raw:
            raise GridSpecError(f"{where}: missing required field '{req}'")
    name = raw["name"]
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise _type_error("name", "a non-empty folder name without '/'", name)
    tasks = raw["tasks"]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise _type_error("tasks", "a non-empty list of task ids", tasks)
    rewards: list[RewardEntry] = []
    if not isinstance(raw["rewards"], list) or not raw["rewards"]:
        raise _type_error("rewards", "a non-empty list", raw["rewards"])
    for i, r in enumerate(raw["rewards"]):
        if isinstance(r, str):
            rewards.append(RewardEntry(_slug(r), r))
        elif isinstance(r, dict) and isinstance(r.get("spec"), str) and set(r) <= {"name", "spec"}:
            rewards.append(RewardEntry(str(r.get("name") or _slug(r["spec"])), r["spec"]))
        else:
            raise _type_error(f"rewards[{i}]", "a reward spec string or {name, spec}", r)
    names = [r.name for r in rewards]
    if len(set(names)) != len(names):
        raise GridSpecError(f"field 'rewards': duplicate reward names {names}")
    agents = raw.get("agents", ["ppo"])
    if isinstance(agents, str):
        agents = [agents]
    if not isinstance(agents, list) or not agents or not all(isinstance(a, str) for a in agents):
        raise _type_error("agents", "a list of agent names", agents)
    seeds_raw = raw.get("seeds", 1)
    if isinstance(seeds_raw, bool):
        raise _type_error("seeds", "an int or a list of ints", seeds_raw)
    if isinstance(seeds_raw, int):
        if seeds_raw <= 0:
            raise _type_error("seeds", "a positive number of seeds", seeds_raw)
        seeds = list(range(seeds_raw))
    elif (
        isinstance(seeds_raw, list)
        and seeds_raw
        and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds_raw)
    ):
        seeds = list(seeds_raw)
        if len(set(seeds)) != len(seeds):
            raise GridSpecError(f"field 'seeds': duplicate seeds {seeds}")
    else:
        raise _type_error("seeds", "an int or a non-empty list of ints", seeds_raw)
    steps = raw.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0):
        raise _type_error("steps", "a positive int", steps)
    spt = raw.get("steps_per_task", {})
    if not isinstance(spt, dict):
        raise _type_error("steps_per_task", "a table task -> steps", spt)
    for k, v in spt.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise _type_error(f"steps_per_task.{k}", "a positive int", v)
        if k not in tasks:
            raise GridSpecError(f"field 'steps_per_task.{k}': {k!r} is not in 'tasks'")
    ev = raw.get("eval", {})
    if not isinstance(ev, dict):
        raise _type_error("eval", "a table", ev)
    bad = sorted(set(ev) - EVAL_KEYS)
    if bad:
        raise GridSpecError(f"field 'eval': unknown key(s) {bad}; valid: {sorted(EVAL_KEYS)}")
    for k in ev:
        if not isinstance(ev[k], int) or isinstance(ev[k], bool):
            raise _type_error(f"eval.{k}", "an int", ev[k])
    if ev.get("episodes", 5) <= 0 or ev.get("final_episodes", 10) <= 0:
        raise GridSpecError("field 'eval': episodes and final_episodes must be positive")
    hp = raw.get("hp", {})
    if not isinstance(hp, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in hp.values()
    ):
        raise _type_error("hp", "a table agent -> list of 'key=value' strings", hp)
    for a in hp:
        if a not in agents:
            raise GridSpecError(f"field 'hp.{a}': agent {a!r} is not in 'agents' {agents}")
    skip = raw.get("skip_incompatible", False)
    if not isinstance(skip, bool):
        raise _type_error("skip_incompatible", "true or false", skip)
    vec = raw.get("vec", "gym")
    if vec not in VEC_KINDS:
        raise _type_error("vec", f"one of {list(VEC_KINDS)}", vec)
    desc = raw.get("description", "")
    return GridSpec(
        name=name,
        tasks=tasks,
        rewards=rewards,
        agents=agents,
        seeds=seeds,
        steps=steps,
        steps_per_task=spt,
        skip_incompatible=skip,
        eval_every=ev.get("every", 0),
        eval_episodes=ev.get("episodes", 5),
        final_episodes=ev.get("final_episodes", 10),
        hp=hp,
        vec=vec,
        description=str(desc),
    )


def _slug(spec: str) -> str:
    out = "".join(c if c.isalnum() or c in "._+-" else "_" for c in Path(spec).name)
    return out.strip("_") or "reward"


@dataclass
class Expansion:
    runs: list[RunConfig]
    skipped: list[tuple[str, str, str, str]]  # task, reward, agent, why


def expand(spec: GridSpec) -> Expansion:
    """Resolve every name and build one RunConfig per (task, reward, agent, seed).

    Every task, reward and agent is checked before anything runs; errors name the field.
    """
    import envs
    from rewardlab.experiment.agents import AGENT_BACKENDS, resolve_agent
    from rewardlab.rewards.registry import RewardSpecError, resolve_reward

    runs: list[RunConfig] = []
    skipped: list[tuple[str, str, str, str]] = []
    for ti, tid in enumerate(spec.tasks):
        try:
            task = envs.get_task(tid)
        except envs.UnknownTaskError as e:
            raise GridSpecError(f"field 'tasks[{ti}]': {e}") from None
        try:
            check_vec(spec.vec, task)
        except ValueError as e:
            if spec.skip_incompatible:
                skipped.append((task.id, "*", "*", str(e)))
                continue
            raise GridSpecError(f"field 'vec' ({spec.vec!r}) for task {task.id}: {e}") from None
        env = task.make_env()
        space = env.action_space
        env.close()
        for ri, r in enumerate(spec.rewards):
            try:
                resolve_reward(r.spec, task)
            except RewardSpecError as e:
                if spec.skip_incompatible:
                    skipped.append((task.id, r.name, "*", str(e)))
                    continue
                raise GridSpecError(f"field 'rewards[{ri}]' ({r.spec!r}) for task {task.id}: {e}") from None
            for ai, a in enumerate(spec.agents):
                try:
                    resolve_agent(a, task, list(spec.hp.get(a, [])), action_space=space)
                except ValueError as e:
                    if spec.skip_incompatible and str(a).lower() in AGENT_BACKENDS:
                        skipped.append((task.id, r.name, a, str(e)))
                        continue
                    raise GridSpecError(f"field 'agents[{ai}]' ({a!r}) for task {task.id}: {e}") from None
                for seed in spec.seeds:
                    runs.append(
                        RunConfig(
                            task=task.id,
                            reward=r.spec,
                            agent=a,
                            steps=spec.steps_per_task.get(tid, spec.steps),
                            seed=seed,
                            experiment=spec.name,
                            run_id=f"{task.id.replace('/', '_')}__{r.name}__{a}__s{seed}",
                            hp=list(spec.hp.get(a, [])),
                            n_eval_episodes=spec.final_episodes,
                            eval_every=spec.eval_every,
                            eval_episodes=spec.eval_episodes,
                            spec_hash=spec.hash,
                            vec=spec.vec,
                        )
                    )
    return Expansion(runs, skipped)


def bind_experiment(spec: GridSpec, runs_dir: str | Path | None, fresh: bool = False) -> Path:
    """Create (or check) ``<runs_root>/<name>/experiment.json``; refuse a changed spec."""
    import shutil

    exp_dir = runs_root(runs_dir) / spec.name
    meta = exp_dir / "experiment.json"
    if meta.exists():
        old = read_json(meta)
        if old.get("spec_hash") != spec.hash:
            if not fresh:
                raise GridSpecError(
                    f"experiment folder {exp_dir} was made from a different spec (hash {old.get('spec_hash')}, "
                    f"now {spec.hash}); its results would mix with this one's. Rename the experiment ('name'), "
                    "or pass --fresh to delete the old results."
                )
            shutil.rmtree(exp_dir)
    if not meta.exists():
        from rewardlab.experiment.store import atomic_write_json

        atomic_write_json(
            meta,
            {
                "spec_hash": spec.hash,
                "spec": spec.canonical(),
                "description": spec.description,
                "source": spec.source,
                "created": time.time(),
            },
        )
    return exp_dir


def run_state(cfg: RunConfig, runs_dir: str | Path | None) -> str:
    """``todo`` / ``done`` / ``failed`` / ``interrupted`` for a planned run (stale ``running`` = ``todo``)."""
    rd = RunDir(runs_root(runs_dir) / cfg.experiment / (cfg.run_id or cfg.default_run_id()))
    st = rd.status()
    if st is None:
        return "todo"
    state = st["state"]
    if state == "running":
        return "busy" if pid_alive(st.get("pid")) else "todo"
    return state
