"""Proximal Policy Optimisation (``ppo-native``): the lab's own vectorized PPO, Discrete and Box actions.

A package, read in this order: :mod:`~agents.native.ppo.config` (the typed config and its presets),
:mod:`~agents.native.ppo.networks` (actor and critic), :mod:`~agents.native.ppo.advantages` (GAE, reward
scaling), :mod:`~agents.native.ppo.update` (the loss and its epochs), :mod:`~agents.native.ppo.agent` (collect,
learn, save); this module holds the functions the native backend calls. It follows CleanRL's ``ppo.py`` /
``ppo_continuous_action.py`` (Huang et al., "The 37 Implementation Details of PPO", ICLR blog track 2022) --
the numbers below refer to that list -- with the lab's training contract around it:

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

The collection loop and the rollout it fills are described in :mod:`agents.native.ppo.agent`.
"""

from __future__ import annotations

from typing import Any

from agents.native.base import AGENT_FILE
from agents.native.ppo.agent import STATE_FILE, PPOAgent
from agents.native.ppo.config import PRESETS, TUNABLE, PPOConfig, resolve
from agents.native.ppo.networks import ActorCritic, layer_init, mlp
from agents.native.running import RunningMeanStd

__all__ = [
    "AGENT_FILE",
    "PRESETS",
    "STATE_FILE",
    "TUNABLE",
    "ActorCritic",
    "PPOAgent",
    "PPOConfig",
    "RunningMeanStd",
    "build",
    "describe",
    "layer_init",
    "load",
    "mlp",
    "resolve",
]


build = PPOAgent.seeded  # (spec, observation_space, action_space, seed, device) -> a new agent
load = PPOAgent.restore  # (path, spec or None, observation_space, action_space, device) -> the saved agent


def describe(name: str) -> dict[str, Any]:
    return {
        "backend": "native (torch)",
        "actions": "Discrete, Box",
        "policy": "tanh MLP actor (Categorical / diagonal Gaussian) + critic, clipped PPO, GAE; "
        "presets agents/presets/ppo_native.yml",
    }
