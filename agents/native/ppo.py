"""Proximal Policy Optimisation (``ppo-native``): the lab's own vectorized PPO, Discrete and Box actions.

One file, top to bottom: the config, running statistics, the networks, the agent (collect, GAE, update),
the module functions the native backend calls. It follows CleanRL's ``ppo.py`` / ``ppo_continuous_action.py``
(Huang et al., "The 37 Implementation Details of PPO", ICLR blog track 2022) -- the numbers below refer to that
list -- with the lab's training contract around it:

* **Policy** (Schulman et al. 2017): separate actor and critic MLPs with tanh activations, orthogonal init
  (gain sqrt(2) hidden, 0.01 policy head, 1.0 value head; detail 2). Discrete actions: a Categorical over
  logits. Box actions: a diagonal Gaussian with a state-independent learned log-std (continuous detail 1-2),
  sampled unbounded and clipped to the action bounds only at the env boundary (continuous detail 3), so
  log-probabilities are those of the unclipped sample.
* **Loss**: clipped surrogate ``-min(ratio A, clip(ratio, 1-eps, 1+eps) A)`` (detail 8), advantages normalised
  per minibatch (detail 7), optionally clipped value loss (detail 9), entropy bonus (detail 10), global
  grad-norm clipping (detail 11), Adam with eps 1e-5 (detail 3), optional linear LR annealing (detail 4),
  optional early stop of the epochs when the approximate KL ``E[(r - 1) - log r]`` exceeds ``target_kl``.
* **GAE(lambda)** (Schulman et al. 2016; detail 5) over the rewards the lab's hooks leave in the rollout.
  A step that was *truncated* (time limit) but not terminated bootstraps: its reward gets
  ``+ gamma * V(true final obs)`` (Pardo et al. 2018, "Time Limits in RL"; SB3's ``handle_timeout_termination``)
  -- the Collector's ``next_obs`` holds the true final observation in ``SAME_STEP`` autoreset. Terminated steps
  do not bootstrap.
* **Normalisation** (continuous details 4-7, as gymnasium's NormalizeObservation/NormalizeReward and SB3's
  VecNormalize): observations by a running mean/var (updated every vector step, in torch on the agent's device,
  clipped to ``+-clip_obs``); rewards divided by the running std of the discounted return (updated once per
  rollout over all ``T*n`` returns, clipped to ``+-clip_reward``). Both are saved in the checkpoint and the
  observation statistics are frozen when :meth:`PPOAgent.act` is called from outside training.

Collection goes through :class:`rewardlab.data.Collector` into a :class:`~rewardlab.data.Rollout` of
``n_steps`` vector steps; the (normalised) observations, sampled actions and log-probs ride in
``rollout.extras``, and the values come from one batched critic pass after collection (same weights). The
lab's ``hooks.rollout`` runs on it *before* advantages are computed, so rollout-level reward terms and
episode relabels reach GAE. The observations the env gives may be numpy arrays or torch tensors; with a
torch env nothing leaves the device per step.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
import yaml
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from rewardlab.data import Collector, Rollout
from rewardlab.experiment.agents import Agent, AgentError

if TYPE_CHECKING:
    import gymnasium as gym

    from envs.registry import Task
    from rewardlab.experiment.hooks import TrainHooks

PRESETS = Path(__file__).resolve().parent.parent / "presets" / "ppo_native.yml"
AGENT_FILE, STATE_FILE = "agent.json", "ppo.pt"


# --- config --------------------------------------------------------------------------------------


@dataclass
class PPOConfig:
    """Every hyperparameter of ``ppo-native`` (the agent protocol's spec).

    Steps are env transitions unless said otherwise; one rollout is ``n_steps`` vector steps of ``n_envs``
    envs (``n_steps * n_envs`` transitions), split into ``n_minibatches`` per epoch.
    """

    name: str = "ppo-native"
    task_id: str = ""
    n_envs: int = 16  # parallel envs per vector step
    n_timesteps: int | None = None  # the preset's budget; None: the task's budget rules
    source: str = ""  # where the preset came from, e.g. "ppo_native.yml:CartPole-v1"
    n_steps: int = 128  # vector steps per rollout (T)
    n_epochs: int = 4  # passes over each rollout
    n_minibatches: int = 4  # minibatches per epoch
    learning_rate: float = 3e-4
    anneal_lr: bool = False  # linear decay to 0 over the budget (learn()'s total_steps, counted from step 0)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2  # surrogate clipping epsilon
    clip_vloss: bool = True  # clip the value update around the old values (by clip_coef)
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    norm_adv: bool = True  # normalise advantages per minibatch
    target_kl: float | None = None  # stop the epochs early when the approximate KL exceeds it
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths of actor and critic (tanh)
    log_std_init: float = 0.0  # Box actions: initial log-std of the Gaussian
    norm_obs: bool = False  # running mean/var observation normalisation
    clip_obs: float = 10.0
    norm_reward: bool = False  # divide rewards by the running std of the discounted return
    clip_reward: float = 10.0
    log_interval: int = 10_000  # transitions between training scalars in TensorBoard
    overrides: dict[str, Any] = field(default_factory=dict)  # the key=value overrides applied

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PPOConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        if "hidden" in kw:
            kw["hidden"] = tuple(int(h) for h in kw["hidden"])
        return cls(**kw)


# Fields a preset or override may set (the rest is bookkeeping).
TUNABLE = tuple(
    f.name for f in dataclasses.fields(PPOConfig) if f.name not in ("name", "task_id", "source", "overrides")
)
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(PPOConfig)}


def _coerce(key: str, value: Any) -> Any:
    """``value`` (from YAML or ``key=value`` text) as field ``key``'s type; :class:`AgentError` when it is not."""
    kind = _TYPES[key]
    optional = kind.endswith("| None")
    if isinstance(value, str):
        text = value.strip()
        if optional and text.lower() in ("none", "null", ""):
            return None
        if kind.startswith("tuple"):
            text = text.strip("[]()")
            value = [p for p in text.replace(",", " ").split()]
        else:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
    if value is None and optional:
        return None
    base = kind.split("|")[0].strip()
    try:
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
                return value.lower() in ("true", "yes", "on")
            if value in (0, 1):
                return bool(value)
            raise ValueError
        if base == "int":
            if isinstance(value, bool):
                raise ValueError
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base.startswith("tuple"):
            items = tuple(int(float(v)) for v in value)
            if not items or any(v < 1 for v in items):
                raise ValueError
            return items
    except (TypeError, ValueError):
        pass
    raise AgentError(f"ppo-native: {key}={value!r} is not a valid {kind}")


def _check(cfg: PPOConfig) -> PPOConfig:
    bad = []
    if cfg.n_envs < 1:
        bad.append("n_envs >= 1")
    if cfg.n_steps < 1:
        bad.append("n_steps >= 1")
    if cfg.n_epochs < 1:
        bad.append("n_epochs >= 1")
    if not 1 <= cfg.n_minibatches <= cfg.n_envs * cfg.n_steps:
        bad.append("1 <= n_minibatches <= n_envs * n_steps")
    if not cfg.learning_rate > 0:
        bad.append("learning_rate > 0")
    if not 0.0 <= cfg.gamma <= 1.0:
        bad.append("0 <= gamma <= 1")
    if not 0.0 <= cfg.gae_lambda <= 1.0:
        bad.append("0 <= gae_lambda <= 1")
    if not cfg.clip_coef > 0:
        bad.append("clip_coef > 0")
    if not cfg.max_grad_norm > 0:
        bad.append("max_grad_norm > 0")
    if cfg.target_kl is not None and not cfg.target_kl > 0:
        bad.append("target_kl > 0 (or none)")
    if not (cfg.clip_obs > 0 and cfg.clip_reward > 0):
        bad.append("clip_obs, clip_reward > 0")
    if cfg.n_timesteps is not None and cfg.n_timesteps < 1:
        bad.append("n_timesteps >= 1 (or null)")
    if bad:
        raise AgentError(f"ppo-native: need {', '.join(bad)}")
    return cfg


def _presets() -> dict[str, Any]:
    return yaml.safe_load(PRESETS.read_text()) or {}


def resolve(name: str, task: Task, overrides: list[str], action_space: gym.Space) -> PPOConfig:
    """The preset for ``task`` (by task id, then family, then default) with ``key=value`` overrides."""
    if not isinstance(action_space, (spaces.Discrete, spaces.Box)):
        raise AgentError(
            f"{name} acts in Discrete and Box action spaces; task {task.id} has {type(action_space).__name__}"
        )
    if isinstance(action_space, spaces.Box) and not (
        np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))
    ):
        raise AgentError(f"{name} clips actions to the bounds; task {task.id} has an unbounded Box action space")
    doc = _presets()
    tasks, families = doc.get("task") or {}, doc.get("family") or {}
    if task.id in tasks:
        preset, where = tasks[task.id], task.id
    elif task.family in families:
        preset, where = families[task.family], f"family.{task.family}"
    else:
        preset, where = doc.get("default") or {}, "default"
    values: dict[str, Any] = {}
    for k, v in (preset or {}).items():
        if k not in TUNABLE:
            raise AgentError(f"{PRESETS.name}:{where}: unknown key {k!r}")
        values[k] = _coerce(k, v)
    given: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise AgentError(f"ppo-native: override {item!r} must be key=value")
        if key not in TUNABLE:
            close = difflib.get_close_matches(key, TUNABLE, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise AgentError(f"ppo-native: unknown key {key!r}.{hint} Valid keys: {', '.join(TUNABLE)}")
        given[key] = _coerce(key, text)
    values.update(given)
    cfg = PPOConfig(name=name, task_id=task.id, source=f"{PRESETS.name}:{where}", overrides=given, **values)
    return _check(cfg)


# --- running statistics --------------------------------------------------------------------------


class RunningMeanStd(nn.Module):
    """Running mean/variance over a batch axis (Chan et al.'s parallel update, as SB3's ``RunningMeanStd``).

    Buffers are float64 on the module's device; ``count`` starts at 1e-4 as in SB3/gymnasium.
    """

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *self.mean.shape).double()
        k = x.shape[0]
        m, v = x.mean(0), x.var(0, unbiased=False)
        delta, total = m - self.mean, self.count + k
        self.mean += delta * (k / total)
        self.var.copy_((self.var * self.count + v * k + delta.pow(2) * self.count * k / total) / total)
        self.count.copy_(total)


# --- networks ------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std``, constant bias (CleanRL's ``layer_init``; detail 2)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(d_in: int, hidden: tuple[int, ...], d_out: int, out_std: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [layer_init(nn.Linear(d_in, h)), nn.Tanh()]
        d_in = h
    layers.append(layer_init(nn.Linear(d_in, d_out), std=out_std))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs over flat (normalised) observations ``(B, obs_dim)``.

    Discrete: ``actor(obs)`` are logits ``(B, n_actions)``. Box: the Gaussian mean ``(B, act_dim)``, with
    ``log_std`` a state-independent parameter ``(act_dim,)``.
    """

    def __init__(self, obs_dim: int, n_out: int, hidden: tuple[int, ...], discrete: bool, log_std_init: float):
        super().__init__()
        self.discrete = discrete
        self.actor = mlp(obs_dim, hidden, n_out, out_std=0.01)
        self.critic = mlp(obs_dim, hidden, 1, out_std=1.0)
        self.log_std = nn.Parameter(torch.full((n_out,), float(log_std_init))) if not discrete else None

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def sample(self, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """An action ``(B,)`` (Discrete, int64) or ``(B, A)`` (Box, unclipped) and its log-probability ``(B,)``.

        Categorical sampling by the Gumbel-max trick; both avoid ``torch.distributions``' per-call checks.
        """
        out = self.actor(obs)
        if self.discrete:
            u = torch.rand(out.shape, device=out.device, generator=gen).clamp_(1e-20, 1.0)
            a = (out - torch.log(-torch.log(u))).argmax(-1)
            logp = torch.log_softmax(out, -1).gather(-1, a.unsqueeze(-1)).squeeze(-1)
            return a, logp
        assert self.log_std is not None
        eps = torch.randn(out.shape, device=out.device, generator=gen)
        a = out + self.log_std.exp() * eps
        logp = (-0.5 * eps.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return a, logp

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        return out.argmax(-1) if self.discrete else out

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability ``(B,)``, entropy ``(B,)`` and value ``(B,)`` of stored actions under the current net."""
        out = self.actor(obs)
        if self.discrete:
            logp_all = torch.log_softmax(out, -1)
            logp = logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        else:
            assert self.log_std is not None
            z = (action - out) * torch.exp(-self.log_std)
            logp = (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy = (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1).expand(out.shape[0])
        return logp, entropy, self.value(obs)


# --- the agent -----------------------------------------------------------------------------------


def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


class PPOAgent(Agent):
    """Vectorized PPO on any gymnasium vector env with Discrete or Box actions (numpy or torch arrays)."""

    def __init__(self, spec: PPOConfig, observation_space: gym.Space, action_space: gym.Space, device: str) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise AgentError(f"ppo-native needs a Box observation space, got {type(observation_space).__name__}")
        self.spec = spec
        self.device = torch.device(device)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.obs_dim = int(np.prod(observation_space.shape))
        self.act_shape = () if self.discrete else tuple(action_space.shape)
        self.act_dtype = action_space.dtype
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        dev = self.device
        self.net = ActorCritic(self.obs_dim, n_out, tuple(spec.hidden), self.discrete, spec.log_std_init).to(dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=spec.learning_rate, eps=1e-5, fused=True)
        if not self.discrete:
            self.low = torch.as_tensor(action_space.low, dtype=torch.float32, device=dev).reshape(-1)
            self.high = torch.as_tensor(action_space.high, dtype=torch.float32, device=dev).reshape(-1)
        self.obs_rms = RunningMeanStd((self.obs_dim,)).to(dev)
        self.ret_rms = RunningMeanStd(()).to(dev)
        self.gen = torch.Generator(device=dev)
        self.num_steps = 0
        self.vector_steps = 0  # global vector-step index (rollout.t0 across learn() calls)
        self.updates = 0
        self.last_batch: dict[str, torch.Tensor] = {}
        self.last_stats: dict[str, float] = {}
        self._logged_at = 0
        self._writer: Any = None

    # -- observations and actions at the env boundary ----------------------------------------------

    def _tensor(self, x: Any) -> torch.Tensor:
        """Raw observations ``(n, ...)`` -> float32 ``(n, obs_dim)`` on the agent's device."""
        return torch.as_tensor(x, device=self.device).reshape(x.shape[0], -1).float()

    def _norm(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.spec.norm_obs:
            return obs
        m, v = self.obs_rms.mean.float(), self.obs_rms.var.float()
        return ((obs - m) * torch.rsqrt(v + 1e-8)).clamp(-self.spec.clip_obs, self.spec.clip_obs)

    def _to_env(self, a: torch.Tensor, like: Any) -> Any:
        """Policy actions -> what the env takes: Box actions clipped to the bounds; numpy in -> numpy out."""
        if not self.discrete:
            a = torch.maximum(torch.minimum(a, self.high), self.low).reshape(a.shape[0], *self.act_shape)
        if _is_torch(like):
            return a.to(like.device)
        return a.cpu().numpy().astype(self.act_dtype, copy=False)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        o = self._norm(self._tensor(obs))
        a = self.net.mode(o) if deterministic else self.net.sample(o, self.gen)[0]
        return self._to_env(a, obs)

    # -- the update ---------------------------------------------------------------------------------

    def _loss(
        self, obs: torch.Tensor, act: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor,
        ret: torch.Tensor, v_old: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """PPO's loss on one minibatch: total, policy, value, entropy, approx KL, clip fraction."""
        spec = self.spec
        logp, entropy, v = self.net.evaluate(obs, act)
        logratio = logp - logp_old
        ratio = logratio.exp()
        with torch.no_grad():
            approx_kl = ((ratio - 1.0) - logratio).mean()  # Schulman's k3 estimator of KL(old || new)
            clipfrac = ((ratio - 1.0).abs() > spec.clip_coef).float().mean()
        if spec.norm_adv:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1.0 - spec.clip_coef, 1.0 + spec.clip_coef)).mean()
        if spec.clip_vloss:
            v_clipped = v_old + (v - v_old).clamp(-spec.clip_coef, spec.clip_coef)
            v_loss = 0.5 * torch.max((v - ret).pow(2), (v_clipped - ret).pow(2)).mean()
        else:
            v_loss = 0.5 * (v - ret).pow(2).mean()
        ent = entropy.mean()
        loss = pg_loss - spec.ent_coef * ent + spec.vf_coef * v_loss
        return loss, pg_loss.detach(), v_loss.detach(), ent.detach(), approx_kl, clipfrac

    def _update(self, b: dict[str, torch.Tensor], lr: float) -> None:
        """``n_epochs`` passes of shuffled minibatches over the flattened rollout ``b`` (each ``(T*n, ...)``)."""
        spec = self.spec
        for g in self.opt.param_groups:
            g["lr"] = lr
        N = b["obs"].shape[0]
        mb = N // spec.n_minibatches
        params = list(self.net.parameters())
        stats: list[torch.Tensor] = []
        for _epoch in range(spec.n_epochs):
            perm = torch.randperm(N, device=self.device, generator=self.gen)
            for i in range(spec.n_minibatches):
                idx = perm[i * mb : (i + 1) * mb]
                loss, *parts = self._loss(
                    b["obs"][idx], b["actions"][idx], b["logprobs"][idx], b["advantages"][idx],
                    b["returns"][idx], b["values"][idx],
                )  # fmt: skip
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, spec.max_grad_norm, foreach=True)
                self.opt.step()
                stats.append(torch.stack(parts))
            if spec.target_kl is not None and float(stats[-1][3]) > spec.target_kl:
                break
        self.updates += 1
        s = torch.stack(stats).mean(0).tolist()
        self.last_stats = dict(zip(("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"), s, strict=True))
        self.last_stats["learning_rate"] = lr

    # -- returns and advantages ----------------------------------------------------------------------

    @torch.no_grad()
    def _scale_rewards(self, r: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """``r / std(discounted return)``, clipped (SB3 VecNormalize): ``R_t = gamma R_{t-1} + r_t``, 0 after done."""
        rets = torch.empty_like(r, dtype=torch.float64)
        R = self._ret
        for t in range(r.shape[0]):
            R = R * self.spec.gamma + r[t]
            rets[t] = R
            R = R * (1.0 - done[t])
        self._ret = R
        self.ret_rms.update(rets)
        c = self.spec.clip_reward
        return (r / torch.sqrt(self.ret_rms.var + 1e-8)).clamp(-c, c)

    @torch.no_grad()
    def _gae(
        self, rewards: torch.Tensor, values: torch.Tensor, last_value: torch.Tensor, dones: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE(lambda) over ``(T, n)``: ``delta_t = r_t + gamma V_{t+1} (1 - d_t) - V_t``,
        ``A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}``; returns ``A + V``.

        ``d_t`` is the done flag of step ``t`` itself (SAME_STEP autoreset: ``V_{t+1}`` of a done step would be the
        next episode's first state); truncated steps carry their bootstrap in ``r_t`` already.
        """
        gamma, lam = self.spec.gamma, self.spec.gae_lambda
        T = rewards.shape[0]
        adv = torch.zeros_like(rewards)
        last = torch.zeros_like(last_value)
        nonterminal = 1.0 - dones
        for t in reversed(range(T)):
            next_v = last_value if t == T - 1 else values[t + 1]
            delta = rewards[t] + gamma * next_v * nonterminal[t] - values[t]
            last = delta + gamma * lam * nonterminal[t] * last
            adv[t] = last
        return adv, adv + values

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
            reward = self._scale_rewards(reward, dones)
        boot = spec.gamma * final * (trunc & ~term).double()  # bootstrap truncated, not terminated, steps
        adv, ret = self._gae(reward + boot, values.double(), last_value, dones)
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
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir))
        for k, v in self.last_stats.items():
            self._writer.add_scalar(f"train/{k}", v, self.num_steps)
        if not self.discrete:
            self._writer.add_scalar("train/std", float(self.net.log_std.detach().exp().mean()), self.num_steps)
        self._writer.flush()
        self._logged_at = self.num_steps

    # -- persistence ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "num_steps": self.num_steps,
            "vector_steps": self.vector_steps,
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.obs_rms.load_state_dict(state["obs_rms"])
        self.ret_rms.load_state_dict(state["ret_rms"])
        self.num_steps = int(state["num_steps"])
        self.vector_steps = int(state["vector_steps"])
        self.updates = int(state["updates"])
        self._logged_at = self.num_steps

    def save(self, path: Path) -> None:
        """``agent.json`` (name, spec, num_steps) + ``ppo.pt`` (weights, optimiser, normalisers, counters)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), path / STATE_FILE)
        doc = {"name": self.spec.name, "spec": self.spec.to_dict(), "num_steps": int(self.num_steps)}
        (path / AGENT_FILE).write_text(json.dumps(doc, indent=2))


# --- module functions the native backend dispatches to -------------------------------------------


def build(spec: PPOConfig, observation_space: gym.Space, action_space: gym.Space, seed: int, device: str) -> PPOAgent:
    torch.manual_seed(int(seed))
    agent = PPOAgent(spec, observation_space, action_space, device)
    agent.gen.manual_seed(int(seed))
    return agent


def load(
    path: Path, spec: PPOConfig | None, observation_space: gym.Space, action_space: gym.Space, device: str
) -> PPOAgent:
    """The agent saved in ``path`` (``spec`` None: the one saved with it)."""
    path = Path(path)
    if not (path / STATE_FILE).exists():
        raise FileNotFoundError(f"no saved ppo-native agent ({STATE_FILE}) in {path}")
    if spec is None:
        spec = PPOConfig.from_dict(json.loads((path / AGENT_FILE).read_text())["spec"])
    agent = PPOAgent(spec, observation_space, action_space, device)
    agent.load_state_dict(torch.load(path / STATE_FILE, map_location=agent.device, weights_only=True))
    return agent


def describe(name: str) -> dict[str, Any]:
    return {
        "backend": "native (torch)",
        "actions": "Discrete, Box",
        "policy": "tanh MLP actor (Categorical / diagonal Gaussian) + critic, clipped PPO, GAE; "
        "presets agents/presets/ppo_native.yml",
    }
