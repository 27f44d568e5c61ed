"""The reward-search loop (Eureka-style, with reflection): write -> validate -> train -> reflect.

Each iteration asks the backend (an LLM through :mod:`llm_reward.client`, or the LLM-free
:class:`~llm_reward.mutation.MutationBackend`) for ``samples`` reward programs, extracts and
validates each in the sandbox on real stored transitions (repairing failures with the trimmed
error, up to ``max_repairs`` times), trains every valid candidate as an ordinary lab run through the
experiment executors (in parallel), reflects on each run, and selects. The best candidate's code and
reflection go into the next prompt. At the end the top candidates are re-trained on fresh seeds
before one is declared best, so an early spike cannot win.

Everything is persisted under ``<runs_root>/<name>/``::

    search.json                 config, progress, lineage, best so far, LLM usage summed over every invocation
                                and one entry per invocation (atomic writes, after each validated candidate)
    transitions.npz             the stored transitions candidates are validated on
    iter_<i>/prompt.json        the messages sent
    iter_<i>/cand_<j>/          response.txt, reward.py, validation.json, dropped.txt, reflection.json
    <run ids>/                  the training runs (ordinary run directories)
    best.json, best_reward.py   the declared best after re-training

A killed search re-run with the same command resumes: finished iterations are not redone, LLM
calls replay from the cassette (``auto`` mode) instead of being paid again, finished runs are skipped. Each
invocation of the command appends to ``search.json``'s ``invocations`` and the ``usage`` totals are their sums, so
re-running a search never resets its bill. Text that candidate code produced (messages, tracebacks, component
names) is stored, logged and sent back to the model only through :mod:`llm_reward.textsafe`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from envs.registry import Task, get_task
from llm_reward.sandbox import SandboxLimits
from llm_reward.textsafe import (
    MESSAGE_LIMIT,
    TRACEBACK_LIMIT,
    clean_data,
    clean_message,
    is_component_name,
    one_line,
    why_not_component_name,
)
from rewardlab.experiment.executors import make_executor
from rewardlab.experiment.grid import run_state
from rewardlab.experiment.runner import RunConfig, prepare
from rewardlab.experiment.store import RunDir, atomic_write_json, atomic_write_text, read_json, runs_root

SELECTIONS = ("max", "final", "iqm")
RANKERS = (None, "synthetic", "human")


@dataclass
class SearchConfig:
    """A reward search. Saved as ``search.json``; a resumed search must match it.

    :param task: task id.
    :param iterations: search iterations.
    :param samples: reward programs per iteration.
    :param backend: ``mutation`` (offline, no LLM) or ``openai`` (any OpenAI-compatible server).
    :param model: model name for ``openai``.
    :param base_url: server URL for ``openai`` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).
    :param cassette: cassette directory (record/replay); ``None`` for ``<search dir>/cassette``.
    :param cassette_mode: ``auto`` (replay hits, record misses), ``replay`` (no network) or ``record``.
    :param context: ``state_class`` (Text2Reward-style), ``observation_table`` or ``env_source``.
    :param steps: training steps per candidate (``None``: the task's budget).
    :param selection: ``max`` (max over training, Eureka), ``final`` (mean of the last evaluations),
        ``iqm`` (IQM of the final evaluation episodes).
    :param retrain_top: candidates re-trained at the end.
    :param retrain_seeds: seeds for each re-training (>= 3 so spikes do not win).
    :param max_repairs: repair attempts per invalid candidate.
    :param retrain_iteration_bests: also re-train each iteration's best on the fresh seeds, so the search's
        progress from iteration to iteration is measured on seeds that did not select it.
    :param name: the search folder (default ``search__<task>__<backend>``).
    :param search_seeds: training seeds per candidate during the search; its score is the mean over them
        (the reflection reads the first seed's run).
    :param hp: agent hyperparameter overrides (``key=value``) for every candidate, re-training and baseline run.
    :param vec: every run's vector env (``gym``, ``batched``, ``torch``; see :class:`RunConfig`).
    """

    task: str
    iterations: int = 3
    samples: int = 4
    backend: str = "mutation"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    temperature: float = 1.0
    cassette: str | None = None
    cassette_mode: str = "auto"
    context: str = "state_class"
    agent: str = "ppo"
    steps: int | None = None
    seed: int = 0
    selection: str = "max"
    final_k: int = 3
    retrain_top: int = 2
    retrain_seeds: int = 3
    max_repairs: int = 1
    executor: str = "local"
    workers: int | None = None
    address: str | None = None
    budget_usd: float | None = None
    budget_tokens: int | None = None
    n_transitions: int = 256
    eval_every: int = 0
    eval_episodes: int = 5
    final_episodes: int = 10
    name: str | None = None
    human_notes: str | None = None
    fewshot_library: str | None = None
    fewshot_k: int = 2
    baselines: tuple[str, ...] = ("sparse", "hand")
    ranker: str | None = None
    preferences: str | None = None
    videos: bool = False
    critic: bool = False
    retrain_iteration_bests: bool = True
    hp: tuple[str, ...] = ()
    search_seeds: int = 1
    sandbox: str = "kernel"
    vec: str = "gym"

    def folder(self) -> str:
        return self.name or f"search__{self.task.replace('/', '_')}__{self.backend}"

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("iterations", "executor", "workers", "address", "budget_usd", "budget_tokens", "cassette_mode",
                  "timeout_s", "base_url", "api_key_env", "fewshot_library", "baselines", "videos", "preferences",
                  "retrain_iteration_bests", "sandbox"):
            d.pop(k)
        if d["vec"] == "gym":
            d.pop("vec")  # searches saved before vector backends existed still resume
        if not d["hp"]:
            d.pop("hp")  # searches saved before hyperparameter overrides existed still resume
        else:
            d["hp"] = list(d["hp"])
        if d["search_seeds"] == 1:
            d.pop("search_seeds")  # likewise for searches saved before search seeds existed
        return d


@dataclass
class Candidate:
    id: str
    iteration: int
    index: int
    parent: str | None
    valid: bool
    label: str
    message: str
    repairs: int
    run_id: str | None = None
    score: float | None = None
    final_fitness: float | None = None
    success_rate: float | None = None
    dropped: list[str] = field(default_factory=list)  # top-level statements extraction left out of reward.py
    failed_attempts: list[str] = field(default_factory=list)  # the label of each attempt that failed, in order


@dataclass
class SearchState:
    """``search.json``. ``usage`` is summed over ``invocations``: one entry per run of the search command (when it
    started, its outcome, the iterations and candidates it did, its own LLM usage), so nothing is ever reset."""

    config: dict[str, Any]
    next_iteration: int = 0
    candidates: list[dict[str, Any]] = field(default_factory=list)
    best: str | None = None
    best_per_iteration: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)


class SearchError(RuntimeError):
    pass


class SearchPaused(SearchError):
    """The search waits for a person (a ranking of rollouts); re-running the command continues it."""


def _state_fields(task: Task) -> list[str]:
    """Scalar float fields of the task's state view (what the mutation backend may combine)."""
    from rewardlab.wrappers import make_vector_env

    venv = make_vector_env(task, 2)
    obs, info = venv.reset(seed=0)
    venv.close()
    fields = task.view(obs, info)
    out = []
    for k, v in fields.items():
        a = np.asarray(v)
        if a.ndim == 1 and a.dtype.kind == "f":
            out.append(k)
    return out


SANDBOXES = ("kernel", "process")
_SPEC = {"kernel": "llm", "process": "llm-process"}


def _check_sandbox(cfg: SearchConfig) -> None:
    """LLM code runs in the kernel sandbox, or, when the user asked explicitly (``--sandbox process``), in a
    sandbox process with whatever isolation this machine has."""
    from llm_reward.loader import refusal
    from llm_reward.sandbox import probe

    if cfg.sandbox not in SANDBOXES:
        raise SearchError(f"sandbox must be one of {SANDBOXES}, got {cfg.sandbox!r}")
    support = probe()
    if cfg.sandbox == "kernel" and not support.sufficient:
        raise SearchError(refusal(support, "--sandbox process"))


def make_backend(cfg: SearchConfig, task: Task, search_dir: Path, log: Any = None) -> Any:
    """The search's backend; with ``log``, every retried LLM request logs a line (reason and wait)."""
    if cfg.backend == "mutation":
        from llm_reward.mutation import MutationBackend

        return MutationBackend(_state_fields(task), seed=cfg.seed)
    if cfg.backend == "openai":
        from llm_reward.backend import Usage
        from llm_reward.cassette import Cassette
        from llm_reward.client import OpenAIBackend

        if cfg.cassette and cfg.cassette.startswith("shipped:"):
            from llm_reward.cassette import shipped_cassette

            try:
                cas = shipped_cassette(cfg.cassette.removeprefix("shipped:"), mode="replay")  # read-only, in the package
            except FileNotFoundError as e:
                raise SearchError(str(e)) from None
            written_for = cas.manifest().get("task")
            if written_for and written_for != task.id:
                raise SearchError(f"cassette {cfg.cassette} was written for {written_for}, not {task.id}")
        else:
            cas = Cassette(cfg.cassette or str(search_dir / "cassette"), mode=cfg.cassette_mode)
        usage = Usage(max_tokens=cfg.budget_tokens, max_usd=cfg.budget_usd, count_replayed=True)
        return OpenAIBackend(
            cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env or None, temperature=cfg.temperature,
            seed=cfg.seed, cassette=cas, usage=usage, timeout_s=cfg.timeout_s,
            on_retry=(lambda notice: log(str(notice))) if log is not None else None,
        )
    raise SearchError(f"unknown backend {cfg.backend!r}; valid: mutation, openai")


def _messages(task: Task, cfg: SearchConfig, best_code: str | None, best_reflection: dict[str, Any] | None,
              preference: dict[str, Any] | None = None) -> list[dict[str, str]]:
    from llm_reward import prompts

    feedback = None
    if best_code is not None and best_reflection is not None:
        feedback = (prompts.preference_block(preference["ranking"], preference["note"], preference["worst_code"]) + "\n"
                    if preference else "") + (
            "Here is the best reward function so far:\n```python\n" + best_code + "```\n"
            + best_reflection["text"] + "\nStatistics as JSON:\n```json\n"
            + json.dumps(best_reflection["stats"]) + "\n```\n"
            "Write an improved reward function. Keep components that correlate with fitness, fix or drop "
            "the others, and rescale components whose magnitude dominates without helping."
        )
    fewshot: list[Any] = []
    if cfg.fewshot_library and Path(cfg.fewshot_library).is_file():
        from llm_reward.fewshot import load_library, retrieve

        fewshot = list(retrieve(task, load_library(cfg.fewshot_library), k=cfg.fewshot_k).examples)
    msgs = prompts.build_messages(task, cfg.context, fewshot=fewshot, feedback=feedback, human_notes=cfg.human_notes)
    prompts.assert_no_leak(msgs, task)
    return msgs


def _score(run_dir: Path, selection: str, final_k: int) -> tuple[float | None, float | None, float | None]:
    rd = RunDir(run_dir)
    summary = rd.summary()
    if summary is None:
        return None, None, None
    rows = rd.metrics()
    train = [r["fitness"] for r in rows if r.get("kind") == "train"]
    evals = [r["fitness"] for r in rows if r.get("kind") == "eval"]
    if selection == "max":
        score = max(train + evals) if train or evals else summary["fitness_mean"]
    elif selection == "final":
        score = float(np.mean(evals[-final_k:])) if evals else summary["fitness_mean"]
    else:
        from rewardlab.analysis.stats import iqm

        score = iqm(np.asarray(summary.get("eval_fitness") or [summary["fitness_mean"]]))
    return float(score), summary["fitness_mean"], summary["success_rate"]


def search(cfg: SearchConfig, runs_dir: str | Path | None = None, progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Run (or resume) a reward search; returns the final state as a dict.

    LLM failures that end the search (a replay-mode cassette miss, a server that failed for good, a missing key)
    raise :class:`SearchError` after everything finished so far is saved; re-running resumes. Reaching the
    token/cost budget stops the iterations and goes on to the final re-training with the candidates so far.
    Each call is one entry of ``search.json``'s ``invocations`` (its outcome recorded however it ends, except by
    SIGKILL), and ``usage`` is summed over all of them.
    """
    from llm_reward.backend import BudgetExceeded
    from llm_reward.cassette import CassetteMiss
    from llm_reward.client import LLMError

    session: dict[str, Any] = {}  # this invocation's entry in search.json and the function that saves it
    try:
        return _search(cfg, runs_dir, log, BudgetExceeded, session)
    except BaseException as e:
        outcome = ("paused (waits for a ranking)" if isinstance(e, SearchPaused) else
                   "interrupted" if isinstance(e, KeyboardInterrupt) else f"stopped: {type(e).__name__}")
        _end_invocation(session, outcome, e)
        if isinstance(e, CassetteMiss | LLMError):
            raise SearchError(f"{type(e).__name__}: {e}") from e
        raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _end_invocation(session: dict[str, Any], outcome: str, error: BaseException | None = None) -> None:
    """Record how this invocation ended in ``search.json``; never masks the error that ended it."""
    if "save" not in session:
        return  # it ended before it had anything to record
    inv = session["invocation"]
    inv.update(outcome=outcome, ended=_now())
    if error is not None and not isinstance(error, SearchPaused | KeyboardInterrupt):
        inv["error"] = clean_message(str(error), MESSAGE_LIMIT)
    try:
        session["save"]()
    except Exception:
        pass


def _search(cfg: SearchConfig, runs_dir: str | Path | None, log: Any, BudgetExceeded: type[Exception],
            session: dict[str, Any] | None = None) -> dict[str, Any]:
    from llm_reward import prompts
    from llm_reward.reflection import reflect
    from llm_reward.transitions import collect_transitions, load_transitions, save_transitions

    if cfg.ranker not in RANKERS:
        raise SearchError(f"ranker must be one of {RANKERS[1:]} (or none), got {cfg.ranker!r}")
    if cfg.selection not in SELECTIONS:
        raise SearchError(f"selection must be one of {SELECTIONS}, got {cfg.selection!r}")
    if cfg.retrain_seeds < 1 or cfg.samples < 1 or cfg.iterations < 1 or cfg.search_seeds < 1:
        raise SearchError("iterations, samples, search_seeds and retrain_seeds must be positive")
    task = get_task(cfg.task)
    cfg.task = task.id
    try:  # the agent, its overrides and the budget, checked before anything is written
        _, _, agent_spec, _ = prepare(RunConfig(task=task.id, reward=next(iter(task.rewards)), agent=cfg.agent,
                                                steps=cfg.steps, hp=list(cfg.hp), vec=cfg.vec))
    except ValueError as e:
        raise SearchError(str(e)) from None
    _check_sandbox(cfg)
    validation = {"limits": SandboxLimits(require_kernel=cfg.sandbox == "kernel"),  # how candidates are validated
                  "batch_sizes": (int(getattr(agent_spec, "n_envs", 1) or 1),)}
    root = runs_root(runs_dir).resolve()  # the sandbox child runs in its own cwd: paths must be absolute
    sdir = root / cfg.folder()
    sdir.mkdir(parents=True, exist_ok=True)
    state_path = sdir / "search.json"
    started = _now()
    if state_path.exists():
        st = SearchState(**read_json(state_path))
        if {k: v for k, v in st.config.items() if k in cfg.identity()} != cfg.identity():
            raise SearchError(f"{sdir} holds a search with a different config; use another --name")
        if not st.invocations and st.usage:  # saved before search.json kept one entry per invocation
            st.invocations.append(_legacy_invocation(st.usage))
        log(f"resuming {sdir}: iteration {st.next_iteration} of {cfg.iterations}")
    else:
        st = SearchState(config=cfg.identity())
    inv: dict[str, Any] = {"started": started, "updated": started, "ended": None, "outcome": "running",
                           "from_iteration": st.next_iteration, "to_iteration": st.next_iteration,
                           "candidates_validated": 0, "repairs": 0}
    st.invocations.append(inv)
    tpath = sdir / "transitions.npz"
    if not tpath.exists():
        save_transitions(tpath, collect_transitions(task, n_steps=cfg.n_transitions, seed=cfg.seed))
    transitions = load_transitions(tpath)
    backend = make_backend(cfg, task, sdir, log)
    executor = make_executor(cfg.executor, cfg.workers, cfg.address)
    cands = {c["id"]: c for c in st.candidates}

    def save() -> None:
        st.candidates = list(cands.values())
        inv.update(updated=_now(), to_iteration=st.next_iteration)
        got = _invocation_usage(backend)
        if got is not None:
            inv["usage"], budget = got
            st.usage = total_usage(st.invocations, budget)
            if "cassette" in inv["usage"]:
                st.usage["cassette_this_session"] = inv["usage"]["cassette"]
        atomic_write_json(state_path, asdict(st))

    if session is not None:
        session.update(invocation=inv, save=save)

    def run_cfg(cid: str, seed: int, suffix: str = "") -> RunConfig:
        return RunConfig(
            task=task.id, reward=f"{_SPEC[cfg.sandbox]}:{sdir / cid / 'reward.py'}", agent=cfg.agent,
            steps=cfg.steps, seed=seed, experiment=cfg.folder(), run_id=f"{cid.replace('/', '_')}{suffix}__s{seed}",
            hp=list(cfg.hp), vec=cfg.vec,
            n_eval_episodes=cfg.final_episodes, eval_every=cfg.eval_every, eval_episodes=cfg.eval_episodes,
        )

    for it in range(st.next_iteration, cfg.iterations):
        t0 = time.time()
        best = cands.get(st.best) if st.best else None
        best_code = (sdir / best["dir"] / "reward.py").read_text() if best else None
        best_refl = json.loads((sdir / best["dir"] / "reflection.json").read_text()) if best else None
        pref = _preference_feedback(sdir, cfg, it - 1) if cfg.ranker and it > 0 else None
        messages = _messages(task, cfg, best_code, best_refl, pref)
        idir = sdir / f"iter_{it}"
        idir.mkdir(exist_ok=True)
        atomic_write_json(idir / "prompt.json", messages)
        ids = [f"iter_{it}/cand_{j}" for j in range(cfg.samples)]
        if all(cid in cands for cid in ids):
            completions = []  # generated and validated before an interruption: nothing to ask again
        else:
            try:
                completions = backend.generate(messages, cfg.samples, tag=f"iter{it}")
            except BudgetExceeded as e:
                log(f"LLM budget reached before iteration {it}: {e}; stopping the search here")
                inv["budget_reached"] = True
                break
        for j, comp in enumerate(completions):
            cid = ids[j]
            if cid in cands:
                continue  # validated (and saved) before an interruption
            cdir = sdir / cid
            cdir.mkdir(parents=True, exist_ok=True)
            res, repairs, info = _write_and_validate(backend, cfg, task, transitions, messages, comp.text, cdir, it, j,
                                                     prompts, log, validation)
            if res.ok and cfg.critic:
                res, revised_dropped = _critic(backend, task, transitions, messages, cdir, it, j, res, prompts, log,
                                                  validation)
                if revised_dropped is not None:
                    info["dropped"] = revised_dropped
            label, message = one_line(res.label, 40), clean_message(res.message, MESSAGE_LIMIT)
            c = Candidate(cid, it, j, st.best, bool(res.ok), label, message, repairs, dropped=info["dropped"],
                          failed_attempts=info["failed_attempts"])
            cands[cid] = {**asdict(c), "dir": cid}
            inv["candidates_validated"] += 1
            inv["repairs"] += repairs
            save()  # a search killed from here on still shows this candidate and its label
            after = f" after {repairs} repair{'s' if repairs != 1 else ''}" if repairs else ""
            log(f"candidate {it}.{j}: valid{after}" if res.ok else
                f"candidate {it}.{j}: INVALID{after} ({label}): {one_line(message, 160)}")
        jobs: list[tuple[str, list[RunConfig]]] = []
        for cid in ids:
            if cands[cid]["valid"]:
                rcs = [run_cfg(cid, cfg.seed + k) for k in range(cfg.search_seeds)]
                cands[cid]["run_id"] = rcs[0].run_id
                if cfg.search_seeds > 1:
                    cands[cid]["run_ids"] = [rc.run_id for rc in rcs]
                jobs.append((cid, rcs))
        save()
        todo = [rc for _, rcs in jobs for rc in rcs if run_state(rc, str(root)) != "done"]
        for r in executor.map(todo, str(root), lambda *a: None):
            if r.status != "done":
                log(f"run {r.run_id} {r.status}: {_error_line(r.error)}")
        best_it = None
        trained = []
        for cid, rcs in jobs:
            rdir = root / cfg.folder() / (rcs[0].run_id or "")
            per_seed = [_score(root / cfg.folder() / (rc.run_id or ""), cfg.selection, cfg.final_k) for rc in rcs]
            if any(x[0] is None for x in per_seed):  # a run that failed on any seed leaves the candidate unscored
                cands[cid].update(score=None, final_fitness=None, success_rate=None)
                continue
            # with several search seeds a candidate is scored by its mean over them: one lucky seed cannot win
            score, fit, succ = (float(np.mean([x[i] for x in per_seed])) for i in range(3))
            cands[cid].update(score=score, final_fitness=fit, success_rate=succ)
            if cfg.search_seeds > 1:
                cands[cid]["seed_scores"] = [x[0] for x in per_seed]
            trained.append(cid)
            refl = reflect(rdir)
            atomic_write_json(sdir / cid / "reflection.json", {"text": refl.to_text(task.fitness.unit), "stats": refl.stats_json(), "full": refl.as_dict()})
            if cfg.videos or cfg.ranker == "human":
                _video(rdir, sdir / cid / "rollout.gif", log)
            if best_it is None or _rank(cands[cid]) > _rank(cands[best_it]):
                best_it = cid
        if cfg.ranker and trained:
            order = _ranking(cfg, sdir, it, trained, cands, log)
            if order is None:
                save()
                raise SearchPaused(
                    f"iteration {it} waits for your ranking of its rollouts: watch the videos listed in "
                    f"{idir / 'RANK_ME.md'}, then run `rewardlab rank {sdir} --iteration {it} "
                    f"{','.join(c.rsplit('_', 1)[1] for c in trained)}` (most preferred first; reorder) and re-run "
                    "this search command to continue"
                )
            best_it = f"iter_{it}/cand_{order[0]}"
        if best_it is not None:
            st.best_per_iteration.append({"iteration": it, "candidate": best_it, "score": cands[best_it]["score"],
                                          "final_fitness": cands[best_it]["final_fitness"]})
            if cfg.ranker or st.best is None or _rank(cands[best_it]) >= _rank(cands[st.best]):
                st.best = best_it  # with a ranker, the person's choice leads (ICPL), not the fitness
            st.best_per_iteration[-1]["best_so_far"] = st.best
        else:
            st.best_per_iteration.append({"iteration": it, "candidate": None, "score": None, "final_fitness": None,
                                          "best_so_far": st.best})
        st.next_iteration = it + 1
        save()
        log(f"iteration {it}: {len(jobs)}/{len(ids)} valid; best {st.best} "
            f"(score {cands[st.best]['score'] if st.best else None}); {time.time() - t0:.0f} s")

    # re-train the top candidates on fresh seeds; the best mean final fitness over seeds wins
    ranked = sorted((c for c in cands.values() if c.get("score") is not None), key=_rank, reverse=True)
    top = ranked[: cfg.retrain_top]
    seeds = [cfg.seed + 1000 + k for k in range(cfg.retrain_seeds)]
    # each iteration's best is re-trained too, so progress across iterations is measured on fresh seeds,
    # not on the one training seed that selected it
    iter_bests = [b["candidate"] for b in st.best_per_iteration if b["candidate"]] if cfg.retrain_iteration_bests else []
    retrain_ids = list(dict.fromkeys([c["id"] for c in top] + iter_bests))
    jobs2 = [(cid, run_cfg(cid, s, "_retrain")) for cid in retrain_ids for s in seeds]
    log(f"re-training {len(retrain_ids)} candidates on seeds {seeds}: {len(jobs2)} runs")
    for r in executor.map([rc for _, rc in jobs2 if run_state(rc, str(root)) != "done"], str(root), lambda *a: None):
        if r.status != "done":
            log(f"re-training run {r.run_id} {r.status}: {_error_line(r.error)}")

    def retrained(cid: str) -> dict[str, Any]:
        fits, succ = [], []
        for c2, rc in jobs2:
            if c2 == cid:
                s = RunDir(root / cfg.folder() / (rc.run_id or "")).summary()
                if s:
                    fits.append(s["fitness_mean"])
                    succ.append(s["success_rate"])
        return {"retrain_fitness": fits, "retrain_mean": float(np.mean(fits)) if fits else None,
                "retrain_success": float(np.mean(succ)) if succ else None}

    # every re-trained candidate competes on the same fresh seeds; the best mean is declared best
    final = [{"candidate": cid, "search_score": cands[cid]["score"], **retrained(cid)} for cid in retrain_ids]
    final.sort(key=lambda d: -(d["retrain_mean"] if d["retrain_mean"] is not None else -np.inf))
    per_iteration = [{"iteration": b["iteration"], "candidate": b["candidate"], "best_so_far": b.get("best_so_far"),
                      **(retrained(b["candidate"]) if b["candidate"] in retrain_ids else {})}
                     for b in st.best_per_iteration]
    st.final = {"seeds": seeds, "candidates": final, "best": final[0]["candidate"] if final else None,
                "per_iteration": per_iteration,
                "baselines": _baselines(cfg, task, root, seeds, executor, log)}
    inv.update(outcome="finished (LLM budget reached)" if inv.get("budget_reached") else "finished", ended=_now())
    save()
    atomic_write_text(sdir / "search_report.md", report_markdown(asdict(st), task))
    if final:
        best_dir = sdir / final[0]["candidate"]
        atomic_write_text(sdir / "best_reward.py", (best_dir / "reward.py").read_text())
        atomic_write_json(sdir / "best.json", {**final[0], "task": task.id, "reward_file": str(sdir / "best_reward.py")})
        if cfg.fewshot_library and final[0]["retrain_mean"] is not None:
            # the library of earlier good rewards that later searches on other tasks retrieve from
            from llm_reward.fewshot import FewShotExample, append_example

            append_example(cfg.fewshot_library, FewShotExample(
                task.id, task.family, task.description, (best_dir / "reward.py").read_text(),
                {"retrain_fitness_mean": final[0]["retrain_mean"], "unit": task.fitness.unit},
            ))
    return asdict(st)


def _write_and_validate(backend: Any, cfg: SearchConfig, task: Task, transitions: Any, messages: list[dict[str, str]],
                        text: str, cdir: Path, it: int, j: int, prompts: Any, log: Any,
                        validation: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """Extract, validate in the sandbox, and repair with the trimmed error up to ``max_repairs`` times.

    Returns the last validation result, the repairs asked for, and what to keep in the candidate's record:
    ``dropped`` (statements the final extraction left out) and ``failed_attempts`` (each failed attempt's label).
    """
    from llm_reward.backend import BudgetExceeded
    from llm_reward.code import extract_code
    from llm_reward.sandbox import validate_candidate

    repairs = 0
    failed: list[str] = []
    while True:
        atomic_write_text(cdir / ("response.txt" if repairs == 0 else f"response_repair{repairs}.txt"), text)
        ext = extract_code(text)
        dropped = _record_dropped(cdir, ext.dropped, f"candidate {it}.{j}" + (f" (repair {repairs})" if repairs else ""),
                                  log)
        atomic_write_text(cdir / "reward.py", ext.source)
        res = _check_component_names(validate_candidate(ext.source, task, transitions, **validation))
        atomic_write_json(cdir / "validation.json", _validation_record(res, dropped))
        info = {"dropped": dropped, "failed_attempts": failed}
        if res.ok:
            if failed:
                log(f"candidate {it}.{j}: repaired after {' then '.join(failed)}")
            return res, repairs, info
        failed.append(one_line(res.label, 40))
        if repairs >= cfg.max_repairs:
            return res, repairs, info
        repairs += 1
        fix = [*messages, {"role": "assistant", "content": text},
               {"role": "user", "content": prompts.error_feedback(_repair_feedback(res))}]
        try:
            text = backend.generate(fix, 1, tag=f"iter{it}/cand{j}/repair{repairs}")[0].text
        except BudgetExceeded as e:
            log(f"LLM budget reached while repairing candidate {it}.{j}: {e}")
            return res, repairs - 1, info


def _repair_feedback(res: Any) -> str:
    """What the model is told about its failed candidate: label, message and traceback, cleaned and bounded."""
    trace = clean_message(getattr(res, "traceback_trimmed", "") or "", TRACEBACK_LIMIT, keep="tail")
    return f"{one_line(res.label, 40)}: {clean_message(res.message, MESSAGE_LIMIT)}\n{trace}"


_MAX_DROPPED = 50


def _record_dropped(cdir: Path, dropped: list[str], who: str, log: Any) -> list[str]:
    """Write what extraction left out to ``dropped.txt`` (removed when nothing was) and log one line about it."""
    out = [one_line(d, 200) for d in dropped[:_MAX_DROPPED]]
    if len(dropped) > _MAX_DROPPED:
        out.append(f"... and {len(dropped) - _MAX_DROPPED} more")
    path = cdir / "dropped.txt"
    if not out:
        path.unlink(missing_ok=True)
        return out
    atomic_write_text(path, "Top-level statements left out of reward.py at extraction (line numbers are within "
                            "their code block):\n" + "\n".join(out) + "\n")
    n = len(dropped)
    log(f"{who}: extraction dropped {n} top-level statement{'s' if n != 1 else ''} "
        f"({one_line('; '.join(out), 120)}); see {path}")
    return out


def _check_component_names(res: Any) -> Any:
    """Fail a result whose component names are not short identifiers; such names are dropped from it, never kept.

    The sandbox checks names too; this is the search's own defence, since names reach prompts and ``search.json``.
    """
    comps = list(getattr(res, "components", ()) or ())
    bad = [(i, why) for i, name in enumerate(comps) if (why := why_not_component_name(name)) is not None]
    stats = getattr(res, "stats", None)
    bad_stats = isinstance(stats, dict) and any(not is_component_name(k) for k in stats)
    if not bad and not bad_stats:
        return res
    changes: dict[str, Any] = {
        "components": tuple(n for n in comps if is_component_name(n)),
        "stats": {k: v for k, v in stats.items() if is_component_name(k)} if isinstance(stats, dict) else stats,
    }
    if res.ok:
        rule = "a short identifier (letters, digits and _, at most 40 characters, not starting with a digit)"
        if bad:
            which = "; ".join(f"component {i + 1}: {why}" for i, why in bad[:5])
            what = (f"{len(bad)} of the {len(comps)} component names {'is' if len(bad) == 1 else 'are'} not "
                    f"{rule}: {which}")
        else:
            what = f"a key of the returned statistics is not {rule}"
        changes.update(ok=False, label="bad_component_name", message=f"{what}. Name components like 'goal_bonus'.")
    names = {f.name for f in fields(res)} if hasattr(res, "__dataclass_fields__") else set()
    return replace(res, **{k: v for k, v in changes.items() if k in names})


def _validation_record(res: Any, dropped: list[str]) -> dict[str, Any]:
    """``validation.json``: the result with every string cleaned (tracebacks keep their last 2000 characters)."""
    return clean_data({**_jsonable(res), "dropped": dropped}, MESSAGE_LIMIT,
                      limits={"traceback_trimmed": TRACEBACK_LIMIT, "traceback": TRACEBACK_LIMIT})


def _error_line(error: str | None) -> str:
    """A failed run's error on one log line: its first line, cleaned, cut at a word."""
    lines = (error or "").strip().splitlines()
    return one_line(lines[0], 200) if lines else ""


def _critic(backend: Any, task: Task, transitions: Any, messages: list[dict[str, str]], cdir: Path, it: int, j: int,
            res: Any, prompts: Any, log: Any, validation: dict[str, Any]) -> tuple[Any, list[str] | None]:
    """One review of a valid candidate before training; a revision replaces it only if it validates too.

    Returns the result that stands and, when the revision replaced the candidate, what its extraction dropped.
    """
    from llm_reward.backend import BudgetExceeded
    from llm_reward.code import extract_code
    from llm_reward.sandbox import validate_candidate

    if not hasattr(backend, "model"):
        return res, None  # the mutation backend has nobody to ask
    code = (cdir / "reward.py").read_text()
    msgs = prompts.critic_messages(task, code, messages[0]["content"])
    try:
        reply = backend.generate(msgs, 1, tag=f"iter{it}/cand{j}/critic")[0].text
    except BudgetExceeded as e:
        log(f"LLM budget reached at the critic for candidate {it}.{j}: {e}")
        return res, None
    atomic_write_text(cdir / "critic.txt", reply)
    if "```" not in reply:
        return res, None
    ext = extract_code(reply)
    res2 = _check_component_names(validate_candidate(ext.source, task, transitions, **validation))
    if not res2.ok:
        log(f"candidate {it}.{j}: the critic's revision is invalid ({one_line(res2.label, 40)}); keeping the original")
        return res, None
    dropped = _record_dropped(cdir, ext.dropped, f"candidate {it}.{j} (critic's revision)", log)
    atomic_write_text(cdir / "reward_before_critic.py", code)
    atomic_write_text(cdir / "reward.py", ext.source)
    atomic_write_json(cdir / "validation.json", _validation_record(res2, dropped))
    log(f"candidate {it}.{j}: revised by the critic")
    return res2, dropped


def _video(run_dir: Path, out: Path, log: Any) -> None:
    from rewardlab.experiment.video import VideoError, record_rollout

    if out.exists():
        return
    try:
        record_rollout(run_dir, out)
    except VideoError as e:
        log(f"no rollout video for {run_dir.name}: {e}")


def preferences_path(sdir: Path, cfg: SearchConfig) -> Path:
    return Path(cfg.preferences) if cfg.preferences else sdir / "preferences.json"


def read_preferences(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        d = json.loads(path.read_text())
    except ValueError as e:
        raise SearchError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise SearchError(f"{path} must hold an object like {{\"iter_0\": {{\"order\": [2, 0, 1]}}}}")
    return d


def _ranking(cfg: SearchConfig, sdir: Path, it: int, trained: list[str], cands: dict[str, Any], log: Any) -> list[int] | None:
    """The iteration's ranking (candidate indices, most preferred first), or None while a person has not ranked."""
    path = preferences_path(sdir, cfg)
    prefs = read_preferences(path)
    idx = [int(c.rsplit("_", 1)[1]) for c in trained]
    key = f"iter_{it}"
    if key not in prefs and cfg.ranker == "synthetic":
        # stands in for a person in tests and benchmarks: ranks by the fitness of the rollout a person would watch
        order = sorted(idx, key=lambda j: _rank(cands[f"iter_{it}/cand_{j}"]), reverse=True)
        prefs[key] = {"order": order, "source": "synthetic (by final fitness)"}
        atomic_write_json(path, prefs)
    if key not in prefs:
        lines = [f"# Rank the rollouts of iteration {it}", "",
                 "Watch each video, then rank the candidates, most preferred first:", "",
                 f"    rewardlab rank {sdir} --iteration {it} {','.join(map(str, idx))} [--note \"...\"]", ""]
        for c in trained:
            lines.append(f"- candidate {c.rsplit('_', 1)[1]}: {sdir / c / 'rollout.gif'} (reward: {sdir / c / 'reward.py'})")
        atomic_write_text(sdir / f"iter_{it}" / "RANK_ME.md", "\n".join(lines) + "\n")
        return None
    order = [int(j) for j in prefs[key].get("order", [])]
    unknown = [j for j in order if j not in idx]
    if unknown or not order:
        raise SearchError(f"{path}: ranking of {key} must order candidates {idx}, got {order}")
    return order + [j for j in idx if j not in order]


def _preference_feedback(sdir: Path, cfg: SearchConfig, it: int) -> dict[str, Any] | None:
    entry = read_preferences(preferences_path(sdir, cfg)).get(f"iter_{it}")
    if not entry or not entry.get("order"):
        return None
    order = [f"cand_{j}" for j in entry["order"]]
    worst = sdir / f"iter_{it}" / order[-1] / "reward.py"
    return {"ranking": order, "note": entry.get("note"), "worst_code": worst.read_text() if len(order) > 1 and worst.exists() else None}


def _baselines(cfg: SearchConfig, task: Task, root: Path, seeds: list[int], executor: Any, log: Any) -> dict[str, Any]:
    """Train each baseline reward (``sparse``, ``hand``, ...) on the re-training seeds and budget, for the report."""
    out: dict[str, Any] = {}
    names = [b for b in cfg.baselines if b in task.rewards or b == "env"]
    for b in cfg.baselines:
        if b not in names:
            log(f"baseline {b!r} skipped: {task.id} has no such reward")
    cfgs = {
        (b, s): RunConfig(task=task.id, reward=b, agent=cfg.agent, steps=cfg.steps, seed=s, experiment=cfg.folder(),
                          hp=list(cfg.hp), vec=cfg.vec,
                          run_id=f"baseline_{b}__s{s}", n_eval_episodes=cfg.final_episodes)
        for b in names for s in seeds
    }
    for rc in cfgs.values():
        if run_state(rc, str(root)) == "todo" and (src := _finished_twin(rc, root)) is not None:
            dst = root / rc.experiment / (rc.run_id or "")
            shutil.copytree(src, dst, dirs_exist_ok=True)
            atomic_write_text(dst / "reused_from.txt", f"{src}\n")
            log(f"baseline {rc.run_id}: reusing the identical finished run {src}")
    for r in executor.map([rc for rc in cfgs.values() if run_state(rc, str(root)) != "done"], str(root), lambda *a: None):
        if r.status != "done":
            log(f"baseline run {r.run_id} {r.status}: {_error_line(r.error)}")
    for b in names:
        fits, succ = [], []
        for s in seeds:
            summ = RunDir(root / cfg.folder() / f"baseline_{b}__s{s}").summary()
            if summ:
                fits.append(summ["fitness_mean"])
                succ.append(summ["success_rate"])
        out[b] = {"fitness": fits, "mean": float(np.mean(fits)) if fits else None,
                  "success_mean": float(np.mean(succ)) if succ else None}
    return out


def _finished_twin(rc: RunConfig, root: Path) -> Path | None:
    """A finished baseline run of another search under ``root`` with the same task, reward, agent, budget, seed,
    overrides and evaluation: searches that share settings train their baselines once."""
    want = {k: v for k, v in asdict(rc).items() if k not in ("experiment", "run_id")}
    for cfg_path in sorted(root.glob(f"*/{rc.run_id}/config.json")):
        run_dir = cfg_path.parent
        if run_dir.parent.name == rc.experiment or (RunDir(run_dir).status() or {}).get("state") != "done":
            continue
        try:
            got = {"vec": "gym", **read_json(cfg_path)["run"]}  # runs from before --vec trained on gym envs
        except (OSError, ValueError, KeyError):
            continue
        if {k: v for k, v in got.items() if k not in ("experiment", "run_id")} == want:
            return run_dir
    return None


_TOTAL_FIELDS = ("calls", "samples", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "latency_s",
                 "estimated_calls")
_CASSETTE_FIELDS = ("hits", "fixture_hits", "misses", "recorded")


def _add(a: dict[str, Any] | None, b: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    a, b = a or {}, b or {}
    return {k: a.get(k, 0) + b.get(k, 0) for k in keys}


def _invocation_usage(backend: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """This invocation's LLM usage (live, replayed, per tag, cassette counters, HTTP attempts) and the budget;
    None for a backend that keeps no accounts (the mutation backend)."""
    usage = getattr(backend, "usage", None)
    if usage is None or not hasattr(usage, "to_dict"):
        return None
    d = usage.to_dict()
    out: dict[str, Any] = {"live": d["live"], "replayed": d["replayed"], "by_tag": d["by_tag"]}
    cas = getattr(backend, "cassette", None)
    if cas is not None:
        out["cassette"] = {"directory": str(cas.directory), **cas.counters()}
    for k in ("http_requests", "retries"):
        if isinstance(getattr(backend, k, None), int):
            out[k] = getattr(backend, k)
    return out, d.get("budget") or {}


def _legacy_invocation(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage of a search saved before invocations were kept, as one invocation (what it recorded last)."""
    u = {k: usage[k] for k in ("live", "replayed", "by_tag") if k in usage}
    if usage.get("cassette_this_session"):
        u["cassette"] = usage["cassette_this_session"]
    return {"started": None, "ended": None, "outcome": "unknown (recorded before search.json kept invocations)",
            "usage": u}


def total_usage(invocations: list[dict[str, Any]], budget: dict[str, Any] | None = None) -> dict[str, Any]:
    """``search.json``'s ``usage``: every invocation's LLM usage summed (live and replayed calls, tokens, cost,
    per tag, cassette counters, HTTP attempts and retries), with the budget and the number of invocations."""
    live: dict[str, Any] = {}
    replayed: dict[str, Any] = {}
    by_tag: dict[str, dict[str, Any]] = {}
    cassette: dict[str, Any] | None = None
    http = {"http_requests": 0, "retries": 0}
    for inv in invocations:
        u = inv.get("usage")
        if not u:
            continue
        live = _add(live, u.get("live"), _TOTAL_FIELDS)
        replayed = _add(replayed, u.get("replayed"), _TOTAL_FIELDS)
        for tag, t in (u.get("by_tag") or {}).items():
            by_tag[tag] = _add(by_tag.get(tag), t, _TOTAL_FIELDS)
        if u.get("cassette"):
            dirs = [*(cassette or {}).get("directories", []), u["cassette"].get("directory")]
            cassette = {"directory": u["cassette"].get("directory"), **_add(cassette, u["cassette"], _CASSETTE_FIELDS),
                        "directories": list(dict.fromkeys(d for d in dirs if d))}
        for k in http:
            http[k] += int(u.get(k) or 0)
    out: dict[str, Any] = {"live": live or _add({}, {}, _TOTAL_FIELDS), "replayed": replayed or _add({}, {}, _TOTAL_FIELDS),
                           "by_tag": by_tag, "budget": budget or {}, **http, "invocations": len(invocations)}
    if cassette is not None:
        out["cassette"] = cassette
    return out


def report_markdown(st: dict[str, Any], task: Task) -> str:
    """The search in one page: best per iteration, the re-trained top candidates, and the baselines."""
    cfg = st["config"]
    unit = task.fitness.unit
    lines = [f"# Reward search on {task.id} ({cfg['backend']} backend)", "",
             f"{cfg['samples']} samples per iteration, {cfg.get('steps') or 'task budget'} steps per run, "
             f"{cfg['agent']}, selection `{cfg['selection']}`. Fitness: {unit}.", "",
             "## Best candidate per iteration (training seed)", "", "| iteration | candidate | selection score | final fitness |",
             "|---|---|---|---|"]
    for b in st["best_per_iteration"]:
        lines.append(f"| {b['iteration']} | {b['candidate']} | {_fmt(b['score'])} | {_fmt(b['final_fitness'])} |")
    fin = st.get("final") or {}
    lines += ["", f"## Re-trained on fresh seeds {fin.get('seeds')}, beside the baselines", "",
              "| reward | fitness per seed | mean |", "|---|---|---|"]
    for c in fin.get("candidates", []):
        best = " (declared best)" if c["candidate"] == fin.get("best") else ""
        lines.append(f"| `{c['candidate']}`{best} | {', '.join(_fmt(x) for x in c['retrain_fitness'])} | {_fmt(c['retrain_mean'])} |")
    for name, b in (fin.get("baselines") or {}).items():
        lines.append(f"| `{name}` (baseline) | {', '.join(_fmt(x) for x in b['fitness'])} | {_fmt(b['mean'])} |")
    per_it = [p for p in fin.get("per_iteration", []) if p.get("retrain_fitness")]
    if per_it:
        bests = {p["candidate"]: p for p in per_it}
        lines += ["", f"## Each iteration's best, re-trained on the same fresh seeds {fin.get('seeds')}", "",
                  "| iteration | best of the iteration | fitness per seed | mean | success | best so far | its mean |",
                  "|---|---|---|---|---|---|---|"]
        for p in per_it:
            sofar = bests.get(p.get("best_so_far") or "", {})
            lines.append(f"| {p['iteration']} | `{p['candidate']}` | {', '.join(_fmt(x) for x in p['retrain_fitness'])} | "
                         f"{_fmt(p['retrain_mean'])} | {_fmt(p.get('retrain_success'))} | `{p.get('best_so_far')}` | "
                         f"{_fmt(sofar.get('retrain_mean'))} |")
    usage = st.get("usage") or {}
    invocations = st.get("invocations") or []
    n_inv = len(invocations) or 1
    if usage:
        lines += ["", "## LLM usage", "",
                  f"Totals over all {n_inv} invocation{'s' if n_inv != 1 else ''} of this search command (each one is "
                  "in `search.json` -> `invocations`; per-iteration totals in `usage.by_tag`).", "",
                  "| | calls | samples | prompt tokens | completion tokens | cost (USD) |",
                  "|---|---|---|---|---|---|"]
        for kind in ("live", "replayed"):
            u = usage.get(kind) or {}
            lines.append(f"| {kind} | {u.get('calls', 0)} | {u.get('samples', 0)} | {u.get('prompt_tokens', 0)} | "
                         f"{u.get('completion_tokens', 0)} | {u.get('cost_usd', 0.0):.4f} |")
        cas = usage.get("cassette") or usage.get("cassette_this_session")
        if cas:
            lines += ["", f"Cassette `{cas.get('directory')}`, all invocations: {cas.get('hits', 0)} hits "
                          f"({cas.get('fixture_hits', 0)} hand-written fixtures), {cas.get('misses', 0)} misses, "
                          f"{cas.get('recorded', 0)} recorded."]
        if usage.get("retries"):
            lines += ["", f"{usage['retries']} of {usage.get('http_requests', 0)} HTTP requests were retries."]
        if invocations:
            lines += ["", "| invocation | started (UTC) | outcome | iterations | candidates | live calls | live tokens "
                          "| cost (USD) | replayed calls | cassette hits / misses |", "|---|---|---|---|---|---|---|---|---|---|"]
            for k, inv in enumerate(invocations):
                u = inv.get("usage") or {}
                live, rep, c = u.get("live") or {}, u.get("replayed") or {}, u.get("cassette") or {}
                its = (f"{inv['from_iteration']} -> {inv['to_iteration']}" if "from_iteration" in inv else "-")
                lines.append(f"| {k + 1} | {inv.get('started') or '-'} | {inv.get('outcome', '-')} | {its} | "
                             f"{inv.get('candidates_validated', '-')} | {live.get('calls', 0)} | "
                             f"{live.get('total_tokens', 0)} | {live.get('cost_usd', 0.0):.4f} | {rep.get('calls', 0)} | "
                             f"{c.get('hits', 0)} / {c.get('misses', 0)} |")
    elif invocations:
        lines += ["", f"The search ran in {n_inv} invocation{'s' if n_inv != 1 else ''} of its command "
                      "(`search.json` -> `invocations`)."]
    return "\n".join(lines) + "\n"


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"


def _rank(c: dict[str, Any]) -> tuple[float, float]:
    """Selection score first; ties (a saturated ``max`` score is common) go to the better final fitness."""
    fit = c.get("final_fitness")
    return (c["score"] if c.get("score") is not None else -np.inf, fit if fit is not None else -np.inf)


def _jsonable(res: Any) -> dict[str, Any]:
    d = asdict(res) if hasattr(res, "__dataclass_fields__") else dict(res)
    return json.loads(json.dumps(d, default=str))
