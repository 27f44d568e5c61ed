"""The search loop, top to bottom: open (or resume) the search, then per iteration prompt -> generate -> validate ->
train -> score -> pick the best, then re-train the leaders on fresh seeds beside the baselines and declare one best.

:func:`search` is the entry point; :class:`_Search` holds what one invocation works with (the config, the task,
the folder, ``search.json``, the backend, the validator, the executor) so each step reads as a method.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from envs.registry import get_task
from llm_reward.backend import BudgetExceeded
from llm_reward.fewshot import FewShotExample, append_example
from llm_reward.reflection import reflect
from llm_reward.sandbox import SandboxLimits
from llm_reward.search.backends import make_backend
from llm_reward.search.baselines import train_baselines
from llm_reward.search.candidates import Candidate, CandidateStore, training_run
from llm_reward.search.config import SearchConfig
from llm_reward.search.errors import SearchError, SearchPaused
from llm_reward.search.preferences import iteration_ranking, preference_feedback
from llm_reward.search.prompting import iteration_messages
from llm_reward.search.replay import Log, close_executor, finished, train
from llm_reward.search.report import report_markdown
from llm_reward.search.selection import best_of, rank_key, score_over_seeds, top
from llm_reward.search.state import SearchRecord, SearchState, now, start_invocation
from llm_reward.search.usage import legacy_invocation
from llm_reward.search.validation import Validator, check_sandbox
from llm_reward.textsafe import MESSAGE_LIMIT, clean_message, one_line
from llm_reward.transitions import collect_transitions, load_transitions, save_transitions
from rewardlab.experiment.executors import make_executor
from rewardlab.experiment.runner import RunConfig, prepare
from rewardlab.experiment.store import atomic_write_json, atomic_write_text, read_json, runs_root


def search(
    cfg: SearchConfig, runs_dir: str | Path | None = None, progress: bool = True, log: Log = print
) -> dict[str, Any]:
    """Run (or resume) a reward search; returns the final state (``search.json``) as a dict.

    LLM failures that end the search (a replay-mode cassette miss, a server that failed for good, a missing key)
    raise :class:`SearchError` after everything finished so far is saved; re-running resumes. Reaching the
    token/cost budget stops the iterations and goes on to the final re-training with the candidates so far.
    Each call is one entry of ``search.json``'s ``invocations`` (its outcome recorded however it ends, except by
    SIGKILL), and ``usage`` is summed over all of them.
    """
    from llm_reward.cassette import CassetteMiss
    from llm_reward.client import LLMError

    run = _Search(cfg, runs_dir, log)
    try:
        return run.run()
    except BaseException as e:
        if run.record is not None:  # it ended after it had something to record
            run.record.end(
                "paused (waits for a ranking)"
                if isinstance(e, SearchPaused)
                else "interrupted"
                if isinstance(e, KeyboardInterrupt)
                else f"stopped: {type(e).__name__}",
                e,
            )
        if isinstance(e, CassetteMiss | LLMError):
            raise SearchError(f"{type(e).__name__}: {e}") from e
        raise
    finally:
        close_executor(run.executor)


class _Search:
    def __init__(self, cfg: SearchConfig, runs_dir: str | Path | None, log: Log) -> None:
        self.cfg, self.runs_dir, self.log = cfg, runs_dir, log
        self.record: SearchRecord | None = None
        self.executor: Any = None

    def run(self) -> dict[str, Any]:
        self.open()
        for it in range(self.state.next_iteration, self.cfg.iterations):
            if not self.iteration(it):
                break  # the LLM budget is spent
        self.finish()
        return self.state.to_json()

    # -- opening ------------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Check everything before anything is written, then open (or resume) the search folder."""
        cfg = self.cfg
        cfg.check()
        self.task = task = get_task(cfg.task)
        cfg.task = task.id
        try:  # the agent, its overrides and the budget
            _, _, agent_spec, _ = prepare(
                RunConfig(
                    task=task.id,
                    reward=next(iter(task.rewards)),
                    agent=cfg.agent,
                    steps=cfg.steps,
                    hp=list(cfg.hp),
                    vec=cfg.vec,
                )
            )
        except ValueError as e:
            raise SearchError(str(e)) from None
        check_sandbox(cfg)
        self.root = runs_root(self.runs_dir).resolve()  # the sandbox child runs in its own cwd: paths must be absolute
        self.sdir = sdir = self.root / cfg.folder()
        sdir.mkdir(parents=True, exist_ok=True)
        started = now()
        self.state = st = self._load_state(sdir / "search.json")
        self.invocation = start_invocation(st, started)
        tpath = sdir / "transitions.npz"
        if not tpath.exists():
            save_transitions(tpath, collect_transitions(task, n_steps=cfg.n_transitions, seed=cfg.seed))
        transitions = load_transitions(tpath)
        self.backend = backend = make_backend(cfg, task, sdir, self.log)
        self.validator = Validator(
            backend,
            task,
            transitions,
            SandboxLimits(require_kernel=cfg.sandbox == "kernel"),
            (int(agent_spec.n_envs or 1),),
            cfg.max_repairs,
            self.log,
        )  # at the agent's batch size
        self.executor = make_executor(cfg.executor, cfg.workers, cfg.address)
        self.record = SearchRecord(sdir / "search.json", st, self.invocation, backend)

    def _load_state(self, path: Path) -> SearchState:
        if not path.exists():
            return SearchState(config=self.cfg.identity())
        st = SearchState.from_json(read_json(path))
        identity = self.cfg.identity()
        if {k: v for k, v in st.config.items() if k in identity} != identity:
            raise SearchError(f"{self.sdir} holds a search with a different config; use another --name")
        if not st.invocations and st.usage:  # saved before search.json kept one entry per invocation
            st.invocations.append(legacy_invocation(st.usage))
        self.log(f"resuming {self.sdir}: iteration {st.next_iteration} of {self.cfg.iterations}")
        return st

    @property
    def candidates(self) -> CandidateStore:
        return self.state.candidates

    def save(self) -> None:
        assert self.record is not None
        self.record.save()

    # -- one iteration -------------------------------------------------------------------------------------------

    def iteration(self, it: int) -> bool:
        """Write, validate, train, score and pick; False when the LLM budget stopped it before it began."""
        t0 = time.time()
        messages = self.prompt(it)
        ids = [f"iter_{it}/cand_{j}" for j in range(self.cfg.samples)]
        if all(cid in self.candidates for cid in ids):
            completions = []  # generated and validated before an interruption: nothing to ask again
        else:
            try:
                completions = self.backend.generate(messages, self.cfg.samples, tag=f"iter{it}")
            except BudgetExceeded as e:
                self.log(f"LLM budget reached before iteration {it}: {e}; stopping the search here")
                self.invocation["budget_reached"] = True
                return False
        for j, comp in enumerate(completions):
            if ids[j] not in self.candidates:  # else validated (and saved) before an interruption
                self.validate(it, j, messages, comp.text)
        jobs = self.train_valid(ids)
        self.pick(it, self.score(jobs))
        self.state.next_iteration = it + 1
        self.save()
        lead = self.candidates.get(self.state.best)
        self.log(
            f"iteration {it}: {len(jobs)}/{len(ids)} valid; best {self.state.best} "
            f"(score {lead.score if lead else None}); {time.time() - t0:.0f} s"
        )
        return True

    def prompt(self, it: int) -> list[dict[str, str]]:
        """The iteration's messages (saved as ``iter_<i>/prompt.json``): after the first, the best so far."""
        best = self.candidates.get(self.state.best)
        best_code = (self.sdir / best.dir / "reward.py").read_text() if best else None
        best_refl = json.loads((self.sdir / best.dir / "reflection.json").read_text()) if best else None
        pref = preference_feedback(self.sdir, self.cfg, it - 1) if self.cfg.ranker and it > 0 else None
        messages = iteration_messages(self.task, self.cfg, best_code, best_refl, pref)
        idir = self.sdir / f"iter_{it}"
        idir.mkdir(exist_ok=True)
        atomic_write_json(idir / "prompt.json", messages)
        return messages

    def validate(self, it: int, j: int, messages: list[dict[str, str]], text: str) -> Candidate:
        """Validate (repair, review) one response and add it to the store; ``search.json`` shows it at once."""
        cid = f"iter_{it}/cand_{j}"
        cdir = self.sdir / cid
        cdir.mkdir(parents=True, exist_ok=True)
        out = self.validator.write_and_validate(messages, text, cdir, it, j)
        if out.result.ok and self.cfg.critic:
            out = self.validator.review(out, messages, cdir, it, j)
        res = out.result
        label, message = one_line(res.label, 40), clean_message(res.message, MESSAGE_LIMIT)
        c = Candidate(
            cid,
            it,
            j,
            self.state.best,
            bool(res.ok),
            label,
            message,
            out.repairs,
            dropped=out.dropped,
            failed_attempts=out.failed_attempts,
        )
        self.candidates.add(c)
        self.invocation["candidates_validated"] += 1
        self.invocation["repairs"] += out.repairs
        self.save()  # a search killed from here on still shows this candidate and its label
        after = f" after {c.repairs} repair{'s' if c.repairs != 1 else ''}" if c.repairs else ""
        self.log(
            f"candidate {it}.{j}: valid{after}"
            if c.valid
            else f"candidate {it}.{j}: INVALID{after} ({label}): {one_line(message, 160)}"
        )
        return c

    def train_valid(self, ids: list[str]) -> list[tuple[Candidate, list[RunConfig]]]:
        """Train every valid candidate of the iteration on the search seeds, all runs in parallel."""
        cfg = self.cfg
        jobs = []
        for cid in ids:
            c = self.candidates[cid]
            if c.valid:
                runs = [training_run(cfg, self.sdir, cid, cfg.seed + k) for k in range(cfg.search_seeds)]
                c.run_id = runs[0].run_id
                if cfg.search_seeds > 1:
                    c.run_ids = [rc.run_id or "" for rc in runs]
                jobs.append((c, runs))
        self.save()
        train(self.executor, [rc for _, runs in jobs for rc in runs], self.root, self.log)
        return jobs

    def score(self, jobs: list[tuple[Candidate, list[RunConfig]]]) -> list[Candidate]:
        """Score each trained candidate (mean over its seeds) and reflect on its first seed's run; the candidates
        whose runs all finished, in order."""
        trained = []
        folder = self.root / self.cfg.folder()
        for c, runs in jobs:
            got = score_over_seeds([folder / (rc.run_id or "") for rc in runs], self.cfg.selection, self.cfg.final_k)
            if got is None:  # a run that failed on any seed leaves the candidate unscored
                c.score = c.final_fitness = c.success_rate = None
                continue
            mean, per_seed = got
            c.score, c.final_fitness, c.success_rate = mean.score, mean.fitness, mean.success
            if self.cfg.search_seeds > 1:
                c.seed_scores = per_seed
            trained.append(c)
            rdir = folder / (runs[0].run_id or "")
            refl = reflect(rdir)
            atomic_write_json(
                self.sdir / c.dir / "reflection.json",
                {"text": refl.to_text(self.task.fitness.unit), "stats": refl.stats_json(), "full": refl.as_dict()},
            )
            if self.cfg.videos or self.cfg.ranker == "human":
                _video(rdir, self.sdir / c.dir / "rollout.gif", self.log)
        return trained

    def pick(self, it: int, trained: list[Candidate]) -> None:
        """The iteration's best (by score, or by the ranking when there is a ranker) and the best so far."""
        st, cfg = self.state, self.cfg
        best = best_of(trained)
        if cfg.ranker and trained:
            order = iteration_ranking(cfg, self.sdir, it, trained)
            if order is None:
                self.save()
                raise SearchPaused(
                    f"iteration {it} waits for your ranking of its rollouts: watch the videos listed in "
                    f"{self.sdir / f'iter_{it}' / 'RANK_ME.md'}, then run `rewardlab rank {self.sdir} --iteration {it} "
                    f"{','.join(str(c.index) for c in trained)}` (most preferred first; reorder) and re-run "
                    "this search command to continue"
                )
            best = self.candidates[f"iter_{it}/cand_{order[0]}"]
        if best is None:
            st.best_per_iteration.append(
                {"iteration": it, "candidate": None, "score": None, "final_fitness": None, "best_so_far": st.best}
            )
            return
        st.best_per_iteration.append(
            {"iteration": it, "candidate": best.id, "score": best.score, "final_fitness": best.final_fitness}
        )
        lead = self.candidates.get(st.best)
        if cfg.ranker or lead is None or rank_key(best) >= rank_key(lead):
            st.best = best.id  # with a ranker, the person's choice leads (ICPL), not the fitness
        st.best_per_iteration[-1]["best_so_far"] = st.best

    # -- the end -------------------------------------------------------------------------------------------------

    def finish(self) -> None:
        """Re-train the leaders on fresh seeds beside the baselines, declare the best, write the report."""
        cfg, st = self.cfg, self.state
        st.final = self.retrain()
        self.invocation.update(
            outcome="finished (LLM budget reached)" if self.invocation.get("budget_reached") else "finished",
            ended=now(),
        )
        self.save()
        atomic_write_text(self.sdir / "search_report.md", report_markdown(st.to_json(), self.task))
        final = st.final["candidates"]
        if not final:
            return
        best_code = (self.sdir / final[0]["candidate"] / "reward.py").read_text()
        atomic_write_text(self.sdir / "best_reward.py", best_code)
        atomic_write_json(
            self.sdir / "best.json",
            {**final[0], "task": self.task.id, "reward_file": str(self.sdir / "best_reward.py")},
        )
        if cfg.fewshot_library and final[0]["retrain_mean"] is not None:
            # the library of earlier good rewards that later searches on other tasks retrieve from
            append_example(
                cfg.fewshot_library,
                FewShotExample(
                    self.task.id,
                    self.task.family,
                    self.task.description,
                    best_code,
                    {"retrain_fitness_mean": final[0]["retrain_mean"], "unit": self.task.fitness.unit},
                ),
            )

    def retrain(self) -> dict[str, Any]:
        """``search.json``'s ``final``: the top candidates and (by default) each iteration's best re-trained on
        the same fresh seeds, the best mean declared best, and the baselines on those seeds."""
        cfg, st = self.cfg, self.state
        seeds = [cfg.seed + 1000 + k for k in range(cfg.retrain_seeds)]
        # each iteration's best is re-trained too, so progress across iterations is measured on fresh seeds,
        # not on the one training seed that selected it
        iter_bests = (
            [b["candidate"] for b in st.best_per_iteration if b["candidate"]] if cfg.retrain_iteration_bests else []
        )
        ids = list(dict.fromkeys([c.id for c in top(self.candidates, cfg.retrain_top)] + iter_bests))
        runs = {cid: [training_run(cfg, self.sdir, cid, s, "_retrain") for s in seeds] for cid in ids}
        self.log(f"re-training {len(ids)} candidates on seeds {seeds}: {len(ids) * len(seeds)} runs")
        train(self.executor, [rc for rcs in runs.values() for rc in rcs], self.root, self.log, what="re-training run")

        def retrained(cid: str) -> dict[str, Any]:
            done = finished(self.root, runs[cid])
            return {"retrain_fitness": done.fitness, "retrain_mean": done.mean, "retrain_success": done.success_mean}

        # every re-trained candidate competes on the same fresh seeds; the best mean is declared best
        final = [{"candidate": cid, "search_score": self.candidates[cid].score, **retrained(cid)} for cid in ids]
        final.sort(key=lambda d: -(d["retrain_mean"] if d["retrain_mean"] is not None else -np.inf))
        per_iteration = [
            {
                "iteration": b["iteration"],
                "candidate": b["candidate"],
                "best_so_far": b.get("best_so_far"),
                **(retrained(b["candidate"]) if b["candidate"] in runs else {}),
            }
            for b in st.best_per_iteration
        ]
        return {
            "seeds": seeds,
            "candidates": final,
            "best": final[0]["candidate"] if final else None,
            "per_iteration": per_iteration,
            "baselines": train_baselines(cfg, self.task, self.root, seeds, self.executor, self.log),
        }


def _video(run_dir: Path, out: Path, log: Log) -> None:
    from rewardlab.experiment.video import VideoError, record_rollout

    if out.exists():
        return
    try:
        record_rollout(run_dir, out)
    except VideoError as e:
        log(f"no rollout video for {run_dir.name}: {e}")
