"""The distance between two reward specs on a task, as ``rewardlab distance`` reports it."""

from __future__ import annotations

from typing import Any, Literal

from envs.registry import get_task
from rewardlab.analysis.distances.sample_distance import epic_distance, starc_distance
from rewardlab.analysis.distances.transitions import Policy, sample_transitions
from rewardlab.rewards.base import RewardSource
from rewardlab.rewards.compose import PotentialShaping
from rewardlab.rewards.registry import resolve_reward

METHODS = ("epic", "starc")

VARIANTS = {"epic": "EPIC (Pearson distance of EPIC-canonicalised rewards)", "starc": "STARC-EPIC-L2"}


def shaping_gamma(*sources: RewardSource) -> float | None:
    """The discount of the potential shaping inside ``sources``, when they all agree on one."""
    gammas = set()
    stack = list(sources)
    while stack:
        s = stack.pop()
        if isinstance(s, PotentialShaping):
            gammas.add(s.gamma)
        stack.extend(s.children())
    return gammas.pop() if len(gammas) == 1 else None


def distance(
    spec_a: str,
    spec_b: str,
    task_id: str,
    method: Literal["epic", "starc"] = "epic",
    n: int = 2048,
    seed: int = 0,
    gamma: float | None = None,
    n_state_samples: int = 128,
    n_action_samples: int = 8,
    n_bootstrap: int = 1000,
    ci_level: float = 0.95,
    policy: Policy | None = None,
    terminal: Literal["keep", "continue"] = "keep",
) -> dict[str, Any]:
    """Distance between two reward specs on a task, from ``n`` random-policy transitions.

    :param spec_a: a reward spec (``"hand"``, ``"sparse + 0.1*hand"``, ``"my_reward.py"``, ...).
    :param method: ``"epic"`` or ``"starc"`` (STARC-EPIC-L2).
    :param gamma: discount of the canonicalisation; when ``None``, the potential-shaping discount
        found in the two rewards if they agree on one, else 0.99.
    :param terminal: ``"keep"`` or ``"continue"``, see :func:`epic_canonicalise_samples`.
    :returns: ``distance`` with ``ci_low``/``ci_high`` (bootstrap over transitions) and the
        settings that produced it.
    """
    if method not in METHODS:
        raise ValueError(f"unknown distance method {method!r}; choose from {', '.join(METHODS)}")
    task = get_task(task_id)
    a, b = resolve_reward(spec_a, task), resolve_reward(spec_b, task)
    if gamma is None:
        found = shaping_gamma(a, b)
        gamma = 0.99 if found is None else found
    transitions = sample_transitions(task, n, policy=policy, seed=seed)
    fn = epic_distance if method == "epic" else starc_distance
    est = fn(
        a,
        b,
        task,
        transitions,
        n_state_samples,
        n_action_samples,
        seed,
        gamma,
        with_ci=True,
        n_bootstrap=n_bootstrap,
        ci_level=ci_level,
        terminal=terminal,
    )
    return {
        "method": method,
        "variant": VARIANTS[method],
        "task": task.id,
        "reward_a": spec_a,
        "reward_b": spec_b,
        "distance": est.value,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "ci_level": ci_level,
        "gamma": gamma,
        "n_transitions": len(transitions),
        "n_terminated": int(transitions.terminated.sum()),
        "n_state_samples": n_state_samples,
        "n_action_samples": n_action_samples,
        "n_bootstrap": n_bootstrap,
        "terminal": terminal,
        "policy": "random" if policy is None else getattr(policy, "__name__", "custom"),
        "seed": seed,
    }
