"""Stable-baselines3 agents built from tuned presets.

:func:`resolve_agent` turns ``(algo, task, family, overrides)`` into an :class:`AgentSpec`: a
plain, JSON-serialisable value the run store saves next to every run. Presets are looked up
in this order, first hit wins (:mod:`agents.sb3.presets`):

1. the lab's own ``agents/presets/lab.yml`` entry for ``(algo, task id)``;
2. rl-zoo3's ``hyperparams/{algo}.yml`` entry for the task id (or the same env with another
   ``-vN`` suffix, e.g. ``HalfCheetah-v4`` for ``HalfCheetah-v5``), unless lab.yml says the
   zoo's presets do not fit that family's observations;
3. for a lab task built on a base env (lab.yml ``bases``), steps 1-2 for that base env;
4. the lab.yml family default for ``(algo, family)``;
5. SB3's own defaults.

rl-zoo3 conventions are parsed the way rl-zoo3 does, without ``eval``: ``lin_<v>`` schedules,
``!!float`` numbers, ``policy_kwargs`` strings (a safe AST walk that admits literals, ``dict(...)``
and ``nn.<Activation>`` names), ``normalize``, ``n_envs``, ``n_timesteps``, ``policy`` and
``noise_type``/``noise_std``. Keys the lab cannot honour are dropped and recorded in
:attr:`AgentSpec.dropped`.

The pieces live in :mod:`agents.sb3`: ``algos`` (what each algorithm takes), ``literals`` (the zoo's value
syntax), ``overrides``, ``spec`` (:class:`AgentSpec`), ``presets`` (lookup and :func:`resolve_agent`), ``build``
(:func:`make_model`) and ``artifacts`` (:func:`save_model`, :func:`load_model`). This module re-exports them under
the names they always had.
"""

from __future__ import annotations

from agents.sb3.algos import (
    ACTION_SPACES,
    AGENTS,
    ALGO_CLASSES,
    META_KEYS,
    NOISE_TYPES,
    NORMALIZE_KEYS,
    RESERVED_KWARGS,
    SCHEDULE_KEYS,
    UNSUPPORTED_KEYS,
    check_action_space,
    constructor_keys,
)
from agents.sb3.artifacts import load_model, save_model
from agents.sb3.build import make_action_noise, make_model
from agents.sb3.literals import SAFE_NAMES, LinearDecay, parse_literal, parse_policy_kwargs, parse_schedule
from agents.sb3.overrides import parse_overrides, parse_value
from agents.sb3.presets import LAB_PRESETS, resolve_agent, zoo_hyperparams_dir
from agents.sb3.spec import AgentSpec

__all__ = [
    "ACTION_SPACES",
    "AGENTS",
    "ALGO_CLASSES",
    "LAB_PRESETS",
    "META_KEYS",
    "NOISE_TYPES",
    "NORMALIZE_KEYS",
    "RESERVED_KWARGS",
    "SAFE_NAMES",
    "SCHEDULE_KEYS",
    "UNSUPPORTED_KEYS",
    "AgentSpec",
    "LinearDecay",
    "check_action_space",
    "constructor_keys",
    "load_model",
    "make_action_noise",
    "make_model",
    "parse_literal",
    "parse_overrides",
    "parse_policy_kwargs",
    "parse_schedule",
    "parse_value",
    "resolve_agent",
    "save_model",
    "zoo_hyperparams_dir",
]
