"""One training run, end to end: task + reward + agent -> run directory.

``run(...)`` resolves every name first (so bad input fails before anything is written),
creates or resumes the run directory, trains the named agent (any backend in the agent
registry, :mod:`rewardlab.experiment.agents`) through the lab's reward wrapper and hooks,
evaluates fitness on separate seeds and writes the summary. Ctrl-C (or SIGTERM) leaves a
checkpoint and ``status: interrupted``; the same call resumes from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.registry import Task, get_task
from rewardlab.analysis.stats import mean_ci
from rewardlab.experiment.agents import check_device, get_backend, resolve_agent
from rewardlab.experiment.callbacks import MetricsCallback, PeriodicCallback
from rewardlab.experiment.config import RunConfig, config_differences, resolved_config
from rewardlab.experiment.evaluate import eval_seed, evaluate
from rewardlab.experiment.hooks import TrainHooks
from rewardlab.experiment.progress import ProgressBar
from rewardlab.experiment.reward_files import REWARD_STATE, load_reward_state, save_reward_state, write_reward_info
from rewardlab.experiment.store import RunDir, RunExistsError, as_saved, pid_alive, runs_root
from rewardlab.rewards.base import RewardSource
from rewardlab.rewards.registry import resolve_reward
from rewardlab.wrappers import VEC_KINDS, check_simulator, check_vec

#: how a run's vector env is built: gymnasium's SyncVectorEnv, or the lab's array-batched envs
#: (numpy, or torch on the agent's device) for the tasks that have them (``envs.batched``).
VEC_BACKENDS = VEC_KINDS

#: what agents save in a run directory (stable-baselines3: policy.zip + vecnormalize.pkl; native: ppo.pt, sac.pt)
AGENT_FILES = ("agent.json", "policy.zip", "vecnormalize.pkl", "ppo.pt", "sac.pt", "replay.pt")


@dataclass
class RunResult:
    path: Path
    summary: dict[str, Any]
    status: str


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT both interrupt the run, which is then checkpointed, not lost.

    SIGINT is set explicitly because a process started in the background by a non-interactive
    shell inherits SIGINT as *ignored*, and Python then never raises KeyboardInterrupt.
    """

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old_term = signal.signal(signal.SIGTERM, handler)
        old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def run(
    task: str,
    reward: str = "env",
    agent: str = "ppo",
    steps: int | None = None,
    seed: int = 0,
    *,
    runs_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    overwrite: bool = False,
    **kwargs: Any,
) -> RunResult:
    """Train ``agent`` on ``task`` with ``reward`` and measure fitness. See :class:`RunConfig`.

    Returns the run directory, its summary and final status. Raises ``RunExistsError`` if the
    run directory already holds a finished run (pass ``overwrite=True`` to replace it).
    """
    cfg = RunConfig(task=task, reward=reward, agent=agent, steps=steps, seed=seed, **kwargs)
    return run_config(cfg, runs_dir=runs_dir, progress=progress, overwrite=overwrite)


def prepare(cfg: RunConfig) -> tuple[Task, RewardSource, Any, int]:
    """Resolve names (task, reward, agent preset, budget, device, vector backend) without touching the disk."""
    task_obj = get_task(cfg.task)
    cfg.task = task_obj.id
    check_vec(cfg.vec, task_obj.id)
    check_simulator(cfg.simulator, task_obj.id, cfg.vec)
    check_device(cfg.device)
    source = resolve_reward(cfg.reward, task_obj)
    env = task_obj.make_env()
    try:
        spec = resolve_agent(cfg.agent, task_obj, cfg.hp, action_space=env.action_space)
    finally:
        env.close()
    steps = int(cfg.steps) if cfg.steps is not None else task_obj.budget(cfg.agent)
    if steps <= 0:
        raise ValueError(f"--steps must be positive, got {steps}")
    return task_obj, source, spec, steps


def run_config(
    cfg: RunConfig,
    runs_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> RunResult:
    task, source, spec, steps = prepare(cfg)
    run_dir = RunDir(runs_root(runs_dir) / cfg.experiment / (cfg.run_id or cfg.default_run_id()))
    status = run_dir.status()
    resume = False
    if status is not None:
        if status["state"] == "done" and not overwrite:
            raise RunExistsError(
                f"{run_dir.path} already holds a finished run (fitness {(run_dir.summary() or {}).get('fitness_mean')}). "
                "Use another --run-id/--experiment, or --overwrite to replace it."
            )
        if status["state"] == "running" and pid_alive(status.get("pid")) and status.get("pid") != os.getpid():
            raise RunExistsError(f"{run_dir.path} is being written by a running process (pid {status['pid']})")
        if overwrite:
            shutil.rmtree(run_dir.path)
        else:
            old = run_dir.read("config.json") if (run_dir.path / "config.json").exists() else None
            if old is not None:
                differ = config_differences(old, as_saved(resolved_config(cfg, spec, steps, source)))
                if differ:
                    raise RunExistsError(
                        f"{run_dir.path} holds an unfinished run with a different config ({'; '.join(differ)}); "
                        "resume it with the same settings, use --overwrite to discard it, or another --run-id"
                    )
            _recover_checkpoint(run_dir.checkpoint_dir)
            resume = (run_dir.checkpoint_dir / "state.json").exists()
            if not resume:  # an unfinished run with no checkpoint: discard its partial outputs
                for name in ("metrics.jsonl", "metrics.csv", "summary.json", "reward_state.pt", *AGENT_FILES):
                    (run_dir.path / name).unlink(missing_ok=True)
                shutil.rmtree(run_dir.tb_dir, ignore_errors=True)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    if not resume:
        run_dir.write_json("config.json", resolved_config(cfg, spec, steps, source))
        write_reward_info(run_dir, cfg.reward, source)
    run_dir.set_status("running", steps_done=0)
    try:
        with _sigterm_as_interrupt():
            summary = _train(cfg, task, source, spec, steps, run_dir, resume, progress)
    except KeyboardInterrupt:
        return RunResult(run_dir.path, {}, "interrupted")
    except Exception as e:
        run_dir.set_status("failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        raise
    finally:
        if source.info():  # what held while it ran (a sandbox's guarantees are known once it started)
            write_reward_info(run_dir, cfg.reward, source)
        source.close()  # however the run ends, a reward's sandbox process ends with it
    return RunResult(run_dir.path, summary, "done")


def _recover_checkpoint(ckpt: Path) -> None:
    """A crash between the two renames of a checkpoint swap leaves only ``checkpoint.old``: put it back.
    A half-written ``checkpoint.tmp`` is discarded."""
    old, tmp = ckpt.with_name("checkpoint.old"), ckpt.with_name("checkpoint.tmp")
    if not ckpt.exists() and (old / "state.json").exists():
        os.replace(old, ckpt)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


def _train(
    cfg: RunConfig,
    task: Task,
    source: RewardSource,
    spec: Any,
    steps: int,
    run_dir: RunDir,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from rewardlab.wrappers import make_vector_env

    torch.set_num_threads(max(1, cfg.torch_threads))
    device = check_device(cfg.device)
    backend = get_backend(cfg.agent)
    venv_kwargs: dict[str, Any] = {} if cfg.vec == "gym" else {"vec": cfg.vec, "device": device}
    if cfg.simulator != "auto":
        venv_kwargs["simulator"] = cfg.simulator
    venv = make_vector_env(task, spec.n_envs, source, **venv_kwargs)
    accountant = venv.accountant
    obs_space, act_space = venv.single_observation_space, venv.single_action_space
    ckpt = run_dir.checkpoint_dir
    done_steps, wall_before = 0, 0.0
    if resume:
        state = run_dir.read("checkpoint/state.json")
        done_steps, wall_before = int(state["steps"]), float(state["wall_time"])
        agent = backend.load(ckpt, spec, obs_space, act_space, device)
        load_reward_state(source, ckpt)
        run_dir.truncate_metrics(done_steps)
    else:
        agent = backend.build(spec, obs_space, act_space, cfg.seed, device)
    writer = SummaryWriter(str(run_dir.tb_dir))
    if not resume:
        writer.add_text(
            "config", "```\n" + json.dumps(resolved_config(cfg, spec, steps, source), indent=2, default=str) + "\n```"
        )

    saved_at = [done_steps if resume else -1]

    def save_checkpoint(step: int) -> None:
        # written whole into checkpoint.tmp, then swapped in: a crash at any moment leaves one complete checkpoint
        tmp, old = ckpt.with_name("checkpoint.tmp"), ckpt.with_name("checkpoint.old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        agent.save(tmp)
        save_reward_state(source, tmp)
        (tmp / "state.json").write_text(json.dumps({"steps": int(step), "wall_time": metrics.wall_time()}))
        if ckpt.exists():
            os.replace(ckpt, old)
        os.replace(tmp, ckpt)
        shutil.rmtree(old, ignore_errors=True)
        saved_at[0] = int(step)
        run_dir.set_status("running", steps_done=int(step))

    def periodic_eval(step: int) -> None:
        res = evaluate(agent, task, cfg.eval_episodes, cfg.seed, vec=cfg.vec)
        row = {
            "kind": "eval",
            "step": int(step),
            "wall_time": round(metrics.wall_time(), 3),
            "episodes": int(res["fitness"].size),
            "fitness": float(res["fitness"].mean()),
            "success_rate": float(res["success"].mean()),
            "env_return": float(res["env_return"].mean()),
        }
        run_dir.append_metrics([row])
        writer.add_scalar("fitness/eval", row["fitness"], step)
        writer.add_scalar("fitness/eval_success_rate", row["success_rate"], step)

    bar = ProgressBar(cfg, steps, done_steps) if progress else None
    log_every = max(steps // 100, spec.n_envs)
    metrics = MetricsCallback(run_dir, accountant, log_every, writer, wall_before, bar)
    metrics.start(done_steps)
    callbacks: list[Any] = [
        metrics,
        PeriodicCallback(cfg.checkpoint_every or max(steps // 10, 1), save_checkpoint, done_steps),
    ]
    if cfg.eval_every >= 0:
        callbacks.append(PeriodicCallback(cfg.eval_every or max(steps // 5, 1), periodic_eval, done_steps))
    hooks = TrainHooks(source, callbacks, seed=cfg.seed, state_view=task.transition_view, log_dir=run_dir.tb_dir)
    t0 = time.time()
    try:
        if bar:
            bar.start()
        if steps - done_steps > 0:
            agent.learn(venv, steps, hooks)  # exactly the budget (rounded up to n_envs), fresh or resumed
        metrics.end()
        if saved_at[0] != agent.num_steps:  # a crash while finishing resumes here, with nothing to retrain
            save_checkpoint(int(agent.num_steps))
    except KeyboardInterrupt:
        if bar:
            bar.stop()
        step = int(agent.num_steps)
        metrics.end()
        save_checkpoint(step)
        run_dir.set_status("interrupted", steps_done=step)
        writer.close()
        venv.close()
        raise
    finally:
        if bar:
            bar.stop()
    train_time = time.time() - t0
    trained = int(agent.num_steps) - done_steps
    agent.save(run_dir.path)
    save_reward_state(source, run_dir.path)

    res = evaluate(agent, task, cfg.n_eval_episodes, cfg.seed, vec=cfg.vec)
    fit = res["fitness"]
    lo, hi = mean_ci(fit)
    wall = metrics.wall_time()  # wall_before + this session
    summary = {
        "task": task.id,
        "reward": cfg.reward,
        "agent": cfg.agent,
        "seed": cfg.seed,
        "steps": int(agent.num_steps),
        "fitness_mean": float(fit.mean()),
        "fitness_std": float(fit.std()),
        "fitness_ci95": [lo, hi],
        "fitness_unit": task.fitness.unit,
        "success_threshold": task.fitness.threshold,
        "success_rate": float(res["success"].mean()),
        "eval_episodes": int(fit.size),
        "eval_seed": eval_seed(cfg.seed),
        "eval_fitness": fit.tolist(),
        "eval_env_return_mean": float(res["env_return"].mean()),
        "steps_per_second": round(trained / max(train_time, 1e-9), 1),
        "wall_time_s": round(wall, 2),
        "device": device,
        "vec": cfg.vec,
    }
    run_dir.append_metrics(
        [
            {
                "kind": "eval",
                "step": summary["steps"],
                "wall_time": round(wall, 3),
                "episodes": int(fit.size),
                "fitness": summary["fitness_mean"],
                "success_rate": summary["success_rate"],
                "env_return": summary["eval_env_return_mean"],
                "final": True,
            }
        ]
    )
    writer.add_scalar("fitness/final_eval", summary["fitness_mean"], summary["steps"])
    # HParams: TensorBoard's table compares every run of an experiment side by side
    writer.add_hparams(
        {"task": task.id, "reward": cfg.reward, "agent": cfg.agent, "seed": cfg.seed, "steps": summary["steps"]},
        {"hparam/fitness_mean": summary["fitness_mean"], "hparam/success_rate": summary["success_rate"]},
        run_name="hparams",
    )
    writer.close()
    venv.close()
    _write_metrics_csv(run_dir)
    run_dir.write_json("summary.json", summary)
    run_dir.set_status("done", steps_done=summary["steps"])
    shutil.rmtree(ckpt, ignore_errors=True)  # after "done": a crash here leaves a finished run and a spare checkpoint
    return summary


def _write_metrics_csv(run_dir: RunDir) -> None:
    import csv
    import io

    rows = run_dir.metrics()
    if not rows:
        return
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    from rewardlab.experiment.store import atomic_write_text

    atomic_write_text(run_dir.path / "metrics.csv", buf.getvalue())


# moved to rewardlab.experiment.reward_files; the old names stay importable from here
_save_reward_state, _load_reward_state = save_reward_state, load_reward_state

__all__ = [
    "AGENT_FILES",
    "REWARD_STATE",
    "VEC_BACKENDS",
    "RunConfig",
    "RunResult",
    "check_vec",
    "prepare",
    "run",
    "run_config",
]
