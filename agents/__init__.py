"""Learners: the stable-baselines3 factory with tuned presets (more agents later)."""

from agents.sb3_factory import (
    AGENTS,
    AgentSpec,
    LinearDecay,
    check_action_space,
    load_model,
    make_model,
    parse_overrides,
    parse_policy_kwargs,
    resolve_agent,
    save_model,
)

__all__ = [
    "AGENTS",
    "AgentSpec",
    "LinearDecay",
    "check_action_space",
    "load_model",
    "make_model",
    "parse_overrides",
    "parse_policy_kwargs",
    "resolve_agent",
    "save_model",
]
