"""Soft Actor-Critic (``sac-native``): the lab's own vectorized SAC for continuous (Box) actions.

A package, read in this order: :mod:`~agents.native.sac.config` (the typed config and its presets),
:mod:`~agents.native.sac.networks` (actor, twin critics), :mod:`~agents.native.sac.replay` (the replay buffer),
:mod:`~agents.native.sac.agent` (collect, the gradient steps, save); this module holds the functions the native
backend calls.

* **Actor**: a tanh-squashed Gaussian ``a = tanh(u)``, ``u ~ N(mu(s), sigma(s))``, with the change-of-variables
  correction ``log pi(a|s) = log N(u) - sum log(1 - tanh(u)^2)``; deterministic action ``tanh(mu)``.
* **Critics**: twin Q networks held as one ensemble (weights ``(2, in, out)``), so both run in one batched
  matmul per layer; target copies follow by Polyak averaging ``theta' <- theta' + tau (theta - theta')``.
* **Targets**: ``y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s'))``, ``a' ~ pi(s')``.
  Truncated steps bootstrap from the true final observation (the Collector patches it in).
* **Entropy**: ``alpha`` tuned so the policy's entropy tracks ``-|A|`` (``loss = -log_alpha (log pi + H*)``).
* **Speed**: many envs per vector step, ``utd`` gradient steps per env transition (below 1 with larger batches),
  one batched gather per collection chunk, no host synchronisation between log intervals.

The replay buffer lives in torch on the agent's device, preallocated as ``(capacity, n_envs, ...)``, and is
indexed by ``(global vector step mod capacity, env)``: that is what lets the lab's episode relabels
(:class:`~rewardlab.data.Relabel`, addressed by global vector step and env) overwrite stored rewards.
"""

from __future__ import annotations

from typing import Any

from agents.native.base import AGENT_FILE
from agents.native.running import RunningNorm
from agents.native.sac.agent import BUFFER_FILE, STATE_FILE, SACAgent
from agents.native.sac.config import PRESETS, TUNABLE, SACConfig, resolve
from agents.native.sac.networks import LOG_STD_MAX, LOG_STD_MIN, Actor, EnsembleLinear, TwinQ
from agents.native.sac.replay import ReplayBuffer

__all__ = [
    "AGENT_FILE",
    "BUFFER_FILE",
    "LOG_STD_MAX",
    "LOG_STD_MIN",
    "PRESETS",
    "STATE_FILE",
    "TUNABLE",
    "Actor",
    "EnsembleLinear",
    "ReplayBuffer",
    "RunningNorm",
    "SACAgent",
    "SACConfig",
    "TwinQ",
    "build",
    "describe",
    "load",
    "resolve",
]


build = SACAgent.seeded  # (spec, observation_space, action_space, seed, device) -> a new agent
load = SACAgent.restore  # (path, spec or None, ...) -> the saved agent; without replay.pt its buffer starts empty


def describe(name: str) -> dict[str, Any]:
    return {
        "backend": "native (torch)",
        "actions": "Box",
        "policy": "tanh-Gaussian actor, fused twin Q critics, auto entropy; presets agents/presets/sac_native.yml",
    }
