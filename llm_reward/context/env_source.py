"""The Eureka-style context: the env's Python source, pruned to what produces observations."""

from __future__ import annotations

import inspect

import gymnasium as gym

from envs.registry import Task
from llm_reward.context.hidden import _hidden_names
from llm_reward.context.introspect import _lab_wrappers
from llm_reward.context.pruning import _INIT_METHODS, _OBS_METHODS, _ClassPicker, _pruned, _Pruner


def env_source_context(task: Task) -> str:
    """The env's Python source, pruned to what produces observations (Eureka style).

    Keeps each shown class's docstring (first paragraph), the env's observation methods, ``step``
    (and the parent ``step`` it extends) and its initial-state method, short helpers and properties
    of the env's own module they use, and the observation and info code of the lab's wrappers.
    Statements that compute, assign or return reward, or mention the lab's fitness, are removed (a
    returned reward becomes ``...``); so are rendering, logging and asserts.
    """
    pruner = _Pruner(_hidden_names(task))
    drop_goal = not task.has_env_reward
    env = task.make_env()
    try:
        cls = type(env.unwrapped)
        wrappers = list(_lab_wrappers(env))
    finally:
        env.close()
    picker = _ClassPicker(cls, pruner)
    for name in (*_OBS_METHODS, "step", *_INIT_METHODS):
        picker.add(name)
    if not any(name in methods for methods in picker.picked.values() for name in _INIT_METHODS):
        picker.add("reset")
    out = [
        f"# {cls.__module__}.{cls.__name__}, pruned to the code that produces observations.",
        "# Reward computation and the rest of the environment definition are omitted;",
        "# a returned reward is shown as `...`.",
        "",
        *picker.render(drop_goal),
    ]
    for w in wrappers:
        wcls = type(w)
        if isinstance(w, gym.ObservationWrapper) and "observation" in vars(wcls):
            wp = _ClassPicker(wcls, pruner)
            wp.add("observation")
            out += ["", f"# The lab wraps the env in {wcls.__name__}: the policy's observation is its output."]
            out += wp.render(drop_goal)
        fields_fn = getattr(w, "_fields", None)
        if callable(fields_fn):
            out += ["", "# Privileged fields the lab adds to info on reset and every step (the env is env.unwrapped):"]
            if inspect.ismethod(fields_fn):
                wp = _ClassPicker(type(fields_fn.__self__), pruner)
                wp.add(fields_fn.__func__.__name__)
                out += wp.render(drop_goal)
            else:
                src_text = _pruned(fields_fn, pruner)
                if src_text:
                    out += src_text.splitlines()
        if wcls.__name__ == "ZeroEnvReward":
            out += ["", "# The lab wraps the env so that it gives no reward of its own (always 0)."]
    return "\n".join(out)
