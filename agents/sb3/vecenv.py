"""The stable-baselines3 adapter's env side: an SB3 VecEnv over a gymnasium vector env, and a reward
wrapper for an existing SB3 VecEnv (DummyVecEnv / SubprocVecEnv).

The lab trains through :class:`GymVecEnvToSB3`: a gymnasium ``SyncVectorEnv`` in
``SAME_STEP`` autoreset mode, the :class:`~rewardlab.wrappers.vector.RewardVectorWrapper`
on top (batched info arrays, no per-env loop), then this adapter to SB3's VecEnv API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn, VecEnvWrapper

from envs.registry import Task
from rewardlab.rewards.base import RewardSource
from rewardlab.wrappers.accounting import RewardAccountant


def _find_accountant(env: Any) -> RewardAccountant | None:
    while env is not None:
        acc = getattr(env, "accountant", None)
        if acc is not None:
            return acc
        env = getattr(env, "env", None) or getattr(env, "venv", None)
    return None


class GymVecEnvToSB3(VecEnv):
    """Presents a gymnasium vector env (``SAME_STEP`` autoreset) as an SB3 VecEnv.

    SB3 expects, on a done step, the next episode's first obs plus
    ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]``; this adapter
    builds those from gymnasium's ``final_obs``. ``infos[i]["episode"]`` carries the env
    return and length (as SB3's Monitor does), so SB3's own ``rollout/ep_rew_mean`` is the
    env's return, not the shaped one.
    """

    def __init__(self, venv: VectorEnv) -> None:
        mode = AutoresetMode(venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError("GymVecEnvToSB3 needs a vector env built with autoreset_mode=AutoresetMode.SAME_STEP")
        self.venv = venv
        self.accountant = _find_accountant(venv)
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: Any = None
        self._seeds: list[int | None] | None = None
        self.render_mode = None

    # SB3 API -------------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        seeds = self._seeds if self._seeds is not None and any(s is not None for s in self._seeds) else None
        obs, _ = self.venv.reset(seed=seeds)
        self._seeds = None
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self._seeds

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final_obs = info["final_obs"]
            idx = np.flatnonzero(dones)
            eps = self.accountant.episodes[-1] if self.accountant and self.accountant.episodes else None
            ep_pos = {int(e): j for j, e in enumerate(eps.env_index)} if eps is not None else {}
            for i in idx:  # only finished envs, as SB3's API demands a dict per env
                d = infos[i]
                d["terminal_observation"] = final_obs[i]
                d["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                j = ep_pos.get(int(i))
                if j is not None:
                    d["episode"] = {"r": float(eps.env_return[j]), "l": int(eps.length[j]), "t": 0.0}
                    d["fitness"] = float(eps.fitness[j])
                    d["is_success"] = bool(eps.success[j])
        return obs, np.asarray(reward, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        vals = self.venv.unwrapped.get_attr(attr_name)
        return [vals[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        self.venv.unwrapped.set_attr(attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        vals = self.venv.unwrapped.call(method_name, *args, **kwargs)
        return [vals[i] for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


class RewardVecEnvWrapper(VecEnvWrapper):
    """Replaces an SB3 VecEnv's reward with ``source`` (batched, once per step).

    The true next obs of a finished episode is read from ``infos[i]["terminal_observation"]``;
    termination vs truncation from ``TimeLimit.truncated``. The task's declared info fields are
    gathered from the per-env info dicts (SB3's API gives a list of dicts). The env's own reward
    and the components are recorded as in the gymnasium wrapper.
    """

    def __init__(self, venv: VecEnv, source: RewardSource, task: Task | None = None) -> None:
        super().__init__(venv)
        self.source, self.task = source, task
        self.accountant = RewardAccountant(source, task, venv.num_envs)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self._actions: Any = None

    def _gather(self, infos: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        return {k: np.asarray([inf.get(k, np.nan) for inf in infos]) for k in self.accountant.info_keys}

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._obs = obs
        self._info = self._gather(getattr(self.venv, "reset_infos", [{}] * self.num_envs))
        self.accountant.reset_envs(np.arange(self.num_envs))
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_reward, dones, infos = self.venv.step_wait()
        next_obs = obs
        truncated = np.zeros(self.num_envs, dtype=bool)
        if dones.any():
            idx = np.flatnonzero(dones)
            next_obs = obs.copy()
            next_obs[idx] = np.stack([infos[i]["terminal_observation"] for i in idx])
            truncated[idx] = [bool(infos[i].get("TimeLimit.truncated", False)) for i in idx]
        terminated = dones & ~truncated
        next_info = self._gather(infos)
        reward = self.accountant.process(
            self._obs, self._actions, next_obs, env_reward, terminated, truncated, next_info, self._info
        )
        self._obs = obs
        if dones.any():
            reset_infos = getattr(self.venv, "reset_infos", None)
            self._info = self._gather(reset_infos) if reset_infos is not None else next_info
            if reset_infos is not None:
                merged = {k: np.where(dones, self._info[k], next_info[k]) for k in next_info}
                self._info = merged
        else:
            self._info = next_info
        for i in np.flatnonzero(dones):
            infos[i]["env_reward"] = float(env_reward[i])
        return obs, np.asarray(reward, dtype=np.float32), dones, infos

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.source.close()
