"""The stable-baselines3 adapter: SB3's PPO/A2C/DQN/SAC/TD3 behind the lab's agent protocol.

The lab hands every agent a gymnasium vector env (the reward wrapper on top) and its
:class:`~rewardlab.experiment.hooks.TrainHooks`. This adapter

* presents the env to SB3 (:class:`~agents.sb3.vecenv.GymVecEnvToSB3`) and, when the preset asks,
  normalises observations and rewards with SB3's ``VecNormalize``, whose statistics it saves and
  applies itself when acting (so evaluation and video see raw observations);
* calls ``hooks.step`` after every vector step and stops at the first one that reaches the budget
  (SB3 alone would finish its rollout and overshoot, fresh or resumed);
* runs the rollout hooks where DESIGN.md puts them. SB3 computes returns and advantages *before*
  ``on_rollout_end`` fires (``OnPolicyAlgorithm.collect_rollouts``) -- a hook there changes nothing the
  agent learns from, the bug RLeXplore ships -- so the adapter writes the hooked rewards back into
  the rollout buffer (normalised the way VecNormalize normalised them, with the truncation bootstrap
  SB3 added kept) and recomputes GAE. Off-policy algorithms store raw rewards in their replay
  buffer; the adapter writes rollout-level terms into the rows just stored and applies episode
  relabels to rows still in the buffer, before the next gradient step samples them.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from agents.sb3.algos import ACTION_SPACES, AGENTS, ALGO_CLASSES
from agents.sb3.build import make_model
from agents.sb3.overrides import parse_overrides
from agents.sb3.presets import resolve_agent
from agents.sb3.spec import AgentSpec
from agents.sb3.vecenv import GymVecEnvToSB3
from rewardlab.data.rollout import Rollout, true_next_obs
from rewardlab.experiment.agents import Agent, AgentBackend, AgentError

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task
    from rewardlab.experiment.hooks import TrainHooks

POLICY_FILE = "policy.zip"
NORM_FILE = "vecnormalize.pkl"
AGENT_FILE = "agent.json"


class _SpacesVecEnv(VecEnv):
    """A VecEnv with spaces and nothing else: SB3 models are built before the lab's env reaches them."""

    def __init__(self, n: int, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(n, observation_space, action_space)

    def _none(self, *a: Any, **k: Any) -> Any:
        raise RuntimeError("placeholder env: the agent's learn() sets the real one")

    reset = step_async = step_wait = _none

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [None] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        pass

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [None] * self.num_envs

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


class _Recorder(VectorWrapper):
    """Keeps what the lab's hooks need of each vector step (raw obs, true next obs, reward, components),
    between the reward wrapper and SB3, only while a rollout hook is active."""

    def __init__(self, env: VectorEnv, info_keys: tuple[str, ...]) -> None:
        super().__init__(env)
        self.mode = AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        self.info_keys = info_keys
        self.rows: list[dict[str, Any]] = []
        self._obs: Any = None

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.array(obs, copy=True)
        self.rows.clear()
        return obs, info

    def step(self, actions: Any) -> Any:
        obs, reward, term, trunc, info = self.env.step(actions)
        done = term | trunc
        row = {
            "obs": self._obs,
            "action": np.array(actions, copy=True),
            "next_obs": np.array(true_next_obs(obs, info, done, self.mode), copy=True),
            "env_reward": np.asarray(info.get("env_reward", reward), dtype=np.float64).copy(),
            "terminated": np.asarray(term).copy(),
            "truncated": np.asarray(trunc).copy(),
            "reward": np.asarray(reward, dtype=np.float64).copy(),
            "components": {
                k: np.asarray(v, dtype=np.float64).copy() for k, v in info.get("reward_components", {}).items()
            },
            "info": {k: np.asarray(_final_info(info, k, done)).copy() for k in self.info_keys if k in info},
        }
        self.rows.append(row)
        self._obs = np.array(obs, copy=True)
        return obs, reward, term, trunc, info

    def take(self, t0: int) -> Rollout:
        rows, self.rows = self.rows, []

        def st(key: str) -> np.ndarray:
            return np.stack([r[key] for r in rows])

        comps = {k: np.stack([r["components"][k] for r in rows]) for k in rows[0]["components"]}
        info = {k: np.stack([r["info"][k] for r in rows]) for k in rows[0]["info"]}
        return Rollout(
            st("obs"), st("action"), st("next_obs"), st("env_reward"), st("terminated"), st("truncated"),
            st("reward"), comps, info, None, {}, t0,
        )  # fmt: skip


def _final_info(info: dict[str, Any], key: str, done: np.ndarray) -> Any:
    cur = info[key]
    final = info.get("final_info", {}).get(key) if done.any() else None
    if final is None:
        return cur
    out = np.array(cur, copy=True)
    out[done] = np.asarray(final)[done]
    return out


class _LabCallback(BaseCallback):
    """The lab's hooks inside SB3's loop: ``hooks.step``, the exact budget, the rollout hooks."""

    def __init__(self, agent: SB3Agent, hooks: TrainHooks, total: int, recorder: _Recorder | None) -> None:
        super().__init__()
        self.agent, self.hooks, self.total, self.rec = agent, hooks, int(total), recorder
        self._norm_r: list[np.ndarray] = []  # the (normalised) reward SB3 got, before its truncation bootstrap
        self._scale: list[float] = []
        self._pos: list[int] = []  # off-policy: the replay row each vector step is stored in
        self._t = 0  # global vector-step index of the next step

    def _on_step(self) -> bool:
        self.agent.num_steps = int(self.num_timesteps)
        if self.rec is not None:
            self._norm_r.append(np.array(self.locals["rewards"], dtype=np.float64, copy=True))
            norm = self.agent.vecnorm
            self._scale.append(
                float(1.0 / np.sqrt(norm.ret_rms.var + norm.epsilon)) if norm is not None and norm.norm_reward else 1.0
            )
            buf = getattr(self.model, "replay_buffer", None)
            if buf is not None:
                self._pos.append(int(buf.pos))
        self.hooks.step(int(self.num_timesteps))
        return self.num_timesteps < self.total

    def _on_rollout_end(self) -> None:
        if self.rec is None or not self.rec.rows:
            return
        roll = self.rec.take(self._t)
        self._t += roll.T
        norm_r, scale = np.stack(self._norm_r), np.asarray(self._scale)
        pos = np.asarray(self._pos, dtype=np.int64)
        self._norm_r, self._scale, self._pos = [], [], []
        before = roll.reward.copy()
        relabels = self.hooks.rollout(roll)
        model = self.model
        if isinstance(getattr(model, "rollout_buffer", None), RolloutBuffer):
            self._on_policy(model.rollout_buffer, roll, norm_r, scale)
        elif isinstance(getattr(model, "replay_buffer", None), ReplayBuffer):
            self._off_policy(model.replay_buffer, roll, before, pos, relabels)

    def _normalise(self, r: np.ndarray, scale: np.ndarray) -> np.ndarray:
        norm = self.agent.vecnorm
        if norm is None or not norm.norm_reward:
            return r
        return np.clip(r * scale[:, None], -norm.clip_reward, norm.clip_reward)

    def _on_policy(self, buf: RolloutBuffer, roll: Rollout, norm_r: np.ndarray, scale: np.ndarray) -> None:
        T = buf.buffer_size
        if roll.T != T:  # a rollout cut short never reaches on_rollout_end; anything else is a bug
            raise RuntimeError(f"recorded {roll.T} steps for a rollout buffer of {T}")
        bootstrap = buf.rewards - norm_r  # gamma * V(final obs) SB3 added on truncated steps
        buf.rewards[:] = (self._normalise(roll.reward, scale) + bootstrap).astype(buf.rewards.dtype)
        buf.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])

    def _off_policy(
        self, buf: ReplayBuffer, roll: Rollout, before: np.ndarray, pos: np.ndarray, relabels: list[Any]
    ) -> None:
        # replay buffers hold raw rewards (SB3 normalises at sampling): rollout-level terms go in as they are
        delta = roll.reward - before
        if np.any(delta):
            buf.rewards[pos] += delta.astype(buf.rewards.dtype)
        # one add per vector step: vector step t sits in row (row0 + t) % size while it is still there
        if self.agent._row0 is None:
            self.agent._row0 = (int(pos[0]) - roll.t0) % buf.buffer_size
        expect = (self.agent._row0 + np.arange(roll.t0, roll.t0 + roll.T)) % buf.buffer_size
        if not np.array_equal(expect, pos):
            raise RuntimeError("replay buffer rows do not follow vector steps; cannot place relabels")
        oldest = self._t - buf.buffer_size  # vector steps before this were overwritten
        for rl in relabels:
            steps = np.arange(rl.start, rl.start + len(rl.reward))
            keep = steps >= oldest
            rows = (self.agent._row0 + steps[keep]) % buf.buffer_size
            buf.rewards[rows, rl.env] = np.asarray(rl.reward, dtype=buf.rewards.dtype)[keep]


class SB3Agent(Agent):
    """An SB3 model, its VecNormalize statistics (or none) and its spec."""

    def __init__(self, spec: AgentSpec, model: BaseAlgorithm, vecnorm: VecNormalize | None) -> None:
        self.spec, self.model, self.vecnorm = spec, model, vecnorm
        self.num_steps = int(model.num_timesteps)
        self._row0: int | None = None  # replay row of vector step 0 (off-policy relabels)

    def learn(self, venv: VectorEnv, total_steps: int, hooks: TrainHooks) -> None:
        if _is_torch_env(venv):
            raise AgentError(f"{self.spec.name} (stable-baselines3) needs numpy envs; use --vec gym or batched")
        rec = None
        if hooks.wants_rollout:
            rec = _Recorder(venv, tuple(getattr(getattr(venv, "accountant", None), "info_keys", ()) or ()))
            venv = rec
        sb3: Any = GymVecEnvToSB3(venv)
        if hooks.seed is not None:
            sb3.seed(hooks.seed)
        if self.spec.normalize:
            if self.vecnorm is None:
                self.vecnorm = VecNormalize(sb3, **self.spec.normalize)
            else:  # loaded (no venv yet) or learning again on another env
                self.vecnorm.venv = None
                self.vecnorm.set_venv(sb3)
            sb3 = self.vecnorm
        fresh = self.model.num_timesteps == 0
        self.model.set_env(sb3, force_reset=True)
        if hooks.log_dir is not None:  # SB3's own train/* and rollout/* scalars beside the lab's
            from stable_baselines3.common.logger import configure

            self.model.set_logger(configure(str(hooks.log_dir), ["tensorboard"]))
        remaining = int(total_steps) - int(self.model.num_timesteps)
        if remaining <= 0:
            return
        cb = _LabCallback(self, hooks, total_steps, rec)
        try:
            self.model.learn(total_timesteps=remaining, callback=cb, reset_num_timesteps=fresh)
        finally:
            self.num_steps = int(self.model.num_timesteps)

    def act(self, obs: Any, deterministic: bool = True) -> Any:
        o = np.asarray(obs)
        if self.vecnorm is not None and self.vecnorm.norm_obs:
            o = self.vecnorm.normalize_obs(o)
        action, _ = self.model.predict(o, deterministic=deterministic)
        return action

    def save(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(str(path / POLICY_FILE))
        if self.vecnorm is not None:
            self.vecnorm.save(str(path / NORM_FILE))
        doc = {"name": self.spec.name, "spec": self.spec.to_dict(), "num_steps": int(self.model.num_timesteps)}
        (path / AGENT_FILE).write_text(json.dumps(doc, indent=2, default=str))


def _is_torch_env(venv: VectorEnv) -> bool:
    return bool(getattr(venv.unwrapped, "backend", "numpy") == "torch")


class SB3Backend(AgentBackend):
    names = AGENTS

    def resolve(self, name: str, task: Task, overrides: list[str], action_space: gym.Space) -> AgentSpec:
        try:
            return resolve_agent(name, task.id, task.family, parse_overrides(overrides), action_space=action_space)
        except AgentError:
            raise
        except ValueError as e:
            raise AgentError(str(e)) from None

    def build(
        self,
        spec: AgentSpec,
        observation_space: gym.Space,
        action_space: gym.Space,
        seed: int,
        device: str,
    ) -> SB3Agent:
        placeholder = _SpacesVecEnv(spec.n_envs, observation_space, action_space)
        # normalisation wraps the real env in learn(), not the placeholder
        model = make_model(dataclasses.replace(spec, normalize=None), placeholder, seed=seed, device=device)
        return SB3Agent(spec, model, None)

    def load(
        self,
        path: Path,
        spec: AgentSpec | None,
        observation_space: gym.Space,
        action_space: gym.Space,
        device: str,
    ) -> SB3Agent:
        path = Path(path)
        policy = path / POLICY_FILE
        if not policy.exists() and (path / "model.zip").exists():  # checkpoints written before the protocol
            policy = path / "model.zip"
        if not policy.exists():
            raise FileNotFoundError(f"no saved SB3 policy in {path}")
        if spec is None:
            if (path / AGENT_FILE).exists():
                spec = AgentSpec.from_dict(json.loads((path / AGENT_FILE).read_text())["spec"])
            elif (path / "config.json").exists():  # a run directory written before agent.json existed
                spec = AgentSpec.from_dict(json.loads((path / "config.json").read_text())["agent"])
            else:
                raise FileNotFoundError(f"{path} has no {AGENT_FILE}; pass the spec")
        vecnorm = None
        if (path / NORM_FILE).exists():
            with open(path / NORM_FILE, "rb") as f:  # SB3's own format (VecNormalize.save); learn() sets its env
                vecnorm = pickle.load(f)
        model = ALGO_CLASSES[spec.algo].load(str(policy), device=device)
        return SB3Agent(spec, model, vecnorm)

    def describe(self, name: str) -> dict[str, Any]:
        kinds = ", ".join(c.__name__ for c in ACTION_SPACES[name])
        return {
            "backend": "stable-baselines3",
            "actions": kinds,
            "policy": "rl-zoo3 presets where published, else lab presets (agents/presets/lab.yml)",
        }


BACKEND = SB3Backend()

__all__ = ["BACKEND", "SB3Agent", "SB3Backend"]
