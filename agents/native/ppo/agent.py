"""``ppo-native``'s agent: collection through the lab's Collector, GAE over the hooked rewards, the update epochs.

Collection goes through :class:`rewardlab.data.Collector` into a :class:`~rewardlab.data.Rollout` of
``n_steps`` vector steps; the (normalised) observations, sampled actions and log-probs ride in
``rollout.extras``, and the values come from one batched critic pass after collection (same weights). The
lab's ``hooks.rollout`` runs on it *before* advantages are computed, so rollout-level reward terms and
episode relabels reach GAE. The observations the env gives may be numpy arrays or torch tensors; with a
torch env nothing leaves the device per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from agents.native.base import NativeAgent
from agents.native.ppo.advantages import gae, scale_rewards
from agents.native.ppo.config import PPOConfig, image_shape
from agents.native.ppo.networks import ActorCritic
from agents.native.ppo.update import ppo_update
from agents.native.running import RunningMeanStd
from rewardlab.data import Collector, Rollout
from rewardlab.experiment.agents import AgentError

if TYPE_CHECKING:
    import gymnasium as gym

    from rewardlab.experiment.hooks import TrainHooks

STATE_FILE = "ppo.pt"


class PPOAgent(NativeAgent):
    """Vectorized PPO on any gymnasium vector env with Discrete or Box actions (numpy or torch arrays)."""

    agent_name = "ppo-native"
    config = PPOConfig
    state_file = STATE_FILE
    stateful = ("net", "opt", "obs_rms", "ret_rms")
    counters = ("num_steps", "vector_steps", "updates")
    spec: PPOConfig

    def __init__(self, spec: PPOConfig, observation_space: gym.Space, action_space: gym.Space, device: str) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise AgentError(f"ppo-native needs a Box observation space, got {type(observation_space).__name__}")
        super().__init__(spec, observation_space, action_space, device)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.act_shape = () if self.discrete else tuple(action_space.shape)
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        dev = self.device
        try:
            self.net = ActorCritic(self.obs_dim, n_out, tuple(spec.hidden), self.discrete, spec.log_std_init,
                                   image_shape(spec.encoder)).to(dev)  # fmt: skip
        except ValueError as e:
            raise AgentError(f"ppo-native: {e}") from None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=spec.learning_rate, eps=1e-5, fused=True)
        if not self.discrete:
            self.low = torch.as_tensor(action_space.low, dtype=torch.float32, device=dev).reshape(-1)
            self.high = torch.as_tensor(action_space.high, dtype=torch.float32, device=dev).reshape(-1)
        self.obs_rms = RunningMeanStd((self.obs_dim,)).to(dev)
        self.ret_rms = RunningMeanStd(()).to(dev)
        self.vector_steps = 0  # global vector-step index (rollout.t0 across learn() calls)
        self.updates = 0
        self.last_batch: dict[str, torch.Tensor] = {}
        self.last_stats: dict[str, float] = {}

    # -- observations and actions at the env boundary ----------------------------------------------

    def _norm(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.spec.norm_obs:
            return obs
        return self.obs_rms.normalize(obs, self.spec.clip_obs)

    def _to_env(self, a: torch.Tensor, like: Any) -> Any:
        """Policy actions -> what the env takes: Box actions clipped to the bounds; numpy in -> numpy out."""
        if not self.discrete:
            a = torch.maximum(torch.minimum(a, self.high), self.low).reshape(a.shape[0], *self.act_shape)
        return self._like(a, like)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        o = self._norm(self._tensor(obs))
        a = self.net.mode(o) if deterministic else self.net.sample(o, self.gen)[0]
        return self._to_env(a, obs)

    # -- the update ---------------------------------------------------------------------------------

    def _update(self, b: dict[str, torch.Tensor], lr: float) -> None:
        """``n_epochs`` passes of shuffled minibatches over the flattened rollout ``b`` (each ``(T*n, ...)``)."""
        self.updates += 1
        self.last_stats = ppo_update(self.net, self.opt, self.spec, b, lr, self.gen)

    # -- learning -------------------------------------------------------------------------------------

    def learn(self, venv: gym.vector.VectorEnv, total_steps: int, hooks: TrainHooks) -> None:
        spec, n, dev = self.spec, int(venv.num_envs), self.device
        if n != spec.n_envs:
            raise AgentError(f"ppo-native was built for n_envs={spec.n_envs}; the env has {n}")
        info_keys = (
            tuple(getattr(getattr(venv, "accountant", None), "info_keys", ()) or ()) if hooks.wants_rollout else ()
        )
        col = Collector(venv, info_keys)
        if col.mode != AutoresetMode.SAME_STEP:  # NEXT_STEP's reset pseudo-steps would enter GAE and the loss
            raise AgentError(f"ppo-native needs a SAME_STEP autoreset vector env; this one is {col.mode.name}")
        col.reset(seed=None if hooks.seed is None else [hooks.seed + self.num_steps + i for i in range(n)])
        col.steps = self.vector_steps
        self._ret = torch.zeros(n, dtype=torch.float64, device=dev)

        @torch.no_grad()
        def policy(obs: Any) -> tuple[Any, dict[str, torch.Tensor]]:
            o = self._tensor(obs)
            if spec.norm_obs:
                self.obs_rms.update(o)
                o = self._norm(o)
            a, logp = self.net.sample(o, self.gen)
            return self._to_env(a, obs), {"obs": o, "action": a, "logprob": logp}

        def on_step(_row: Rollout) -> None:
            self.num_steps += n
            self.vector_steps += 1
            hooks.step(self.num_steps)

        while self.num_steps < total_steps:
            T = min(spec.n_steps, -(-(total_steps - self.num_steps) // n))
            frac = 1.0 - self.num_steps / max(total_steps, 1)  # over the whole budget: a resume continues the decay
            roll = col.collect(policy, T, on_step=on_step)
            if hooks.wants_rollout:
                hooks.rollout(roll)  # rollout terms and episode relabels, in roll.reward, before GAE
            if T < spec.n_steps:
                break  # the budget ends mid-rollout: its steps count, a short tail is not learned from
            self._learn_rollout(roll, col.obs, lr=spec.learning_rate * (frac if spec.anneal_lr else 1.0))
            if hooks.log_dir is not None and self.num_steps - self._logged_at >= spec.log_interval:
                self._write_log(hooks.log_dir)

    @torch.no_grad()
    def _learn_rollout(self, roll: Rollout, last_obs: Any, lr: float) -> None:
        spec, dev = self.spec, self.device
        T, n = roll.T, roll.n
        x = roll.extras
        obs = x["obs"]
        values = self.net.value(obs.reshape(T * n, -1)).reshape(T, n)  # one batched pass: same weights
        reward = torch.as_tensor(roll.reward, device=dev).double()  # GAE in float64: T-step sums stay exact
        term = torch.as_tensor(roll.terminated, device=dev)
        trunc = torch.as_tensor(roll.truncated, device=dev)
        dones = (term | trunc).double()
        final = self.net.value(self._norm(self._tensor(roll.next_obs.reshape(T * n, -1)))).reshape(T, n).double()
        last_value = self.net.value(self._norm(self._tensor(last_obs))).double()
        if spec.norm_reward:
            reward, self._ret = scale_rewards(reward, dones, self._ret, self.ret_rms, spec.gamma, spec.clip_reward)
        boot = spec.gamma * final * (trunc & ~term).double()  # bootstrap truncated, not terminated, steps
        adv, ret = gae(reward + boot, values.double(), last_value, dones, spec.gamma, spec.gae_lambda)
        self.last_batch = {
            "rewards": reward, "boot": boot, "values": values, "last_value": last_value, "dones": dones,
            "terminated": term, "truncated": trunc, "advantages": adv, "returns": ret,
        }  # fmt: skip
        b = {
            "obs": obs.reshape(T * n, -1),
            "actions": x["action"].reshape(T * n, *x["action"].shape[2:]),
            "logprobs": x["logprob"].reshape(-1),
            "advantages": adv.reshape(-1).float(),
            "returns": ret.reshape(-1).float(),
            "values": values.reshape(-1),
        }
        with torch.enable_grad():
            self._update(b, lr)

    def _write_log(self, log_dir: Any) -> None:
        scalars: dict[str, float] = dict(self.last_stats)
        if not self.discrete:
            scalars["std"] = float(self.net.log_std.detach().exp().mean())
        self._write_scalars(log_dir, scalars)
