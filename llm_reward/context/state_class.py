"""The Text2Reward-style context: a Python class with one typed, commented attribute per field of
``s``."""

from __future__ import annotations

import textwrap

from envs.registry import Task
from llm_reward.context.fields import StateField, _describe, state_fields


def state_class_context(task: Task) -> str:
    """A Text2Reward-style class: one typed attribute per field of ``s``, unit and meaning in comments."""
    fields = state_fields(task)
    groups: list[tuple[str, list[StateField]]] = [
        ("observed by the policy (from the observation vector)", [f for f in fields if f.origin.startswith("obs")]),
        ("privileged state from the simulator (not observed by the policy)", [f for f in fields if f.origin == "info"]),
        ("derived by the lab from the fields above", [f for f in fields if f.origin == "derived"]),
        ("the transition", [f for f in fields if f.origin == "transition"]),
    ]
    lines = [
        "class State:",
        '    """The argument `s` of compute_reward: the state after one transition, batched over n envs.',
        "",
        "    Every attribute is an array whose first dimension is n (one row per environment).",
        '    """',
    ]
    for title, group in groups:
        if not group:
            continue
        lines += ["", f"    # {title}"]
        for f in group:
            comment = _describe(f, with_origin=False)
            wrapped = textwrap.wrap(comment, width=96) or [""]
            lines.append(f"    {f.name}: np.ndarray  # {wrapped[0]}")
            lines += [f"    #     {w}" for w in wrapped[1:]]
    transition = ", ".join(f.name for f in fields if f.origin == "transition")
    lines += [
        "",
        "    prev: State  # the state before this transition: the same fields as above, without the",
        f"    #     transition ones ({transition})",
    ]
    return "\n".join(lines)
