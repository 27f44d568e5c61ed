"""The fields of the state view ``s`` the reward code receives, with shapes, dtypes, units and
meanings from a real batch (:func:`state_fields`), and the one-line-per-field summary prompts show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.registry import Task
from llm_reward.context.derivations import _view_derivations
from llm_reward.context.docstrings import _doc_notes, _info_doc
from llm_reward.context.probe import probe
from llm_reward.context.schema import _index_text

TRANSITION_FIELDS = ("action", "env_reward", "terminated", "truncated", "step")
"""Fields a transition view adds to the task's own fields (``env_reward`` only where meaningful)."""


@dataclass(frozen=True)
class StateField:
    """One attribute of the state view ``s``.

    :param name: attribute name (``s.<name>``).
    :param shape: per-env shape (the batch adds a leading ``n``).
    :param dtype: dtype of the real array.
    :param unit: unit (``task.units``, else the schema's).
    :param meaning: what it is, in words.
    :param origin: ``"obs[3]"``, ``"obs[0:147]"``, ``"info"``, ``"derived"`` or ``"transition"``.
    :param derivation: the view's expression for a derived field, in field names, when it has one
        (observation entries it uses that are not fields themselves are explained after it).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    meaning: str
    origin: str
    derivation: str | None = None

    @property
    def shape_text(self) -> str:
        return "(" + ", ".join(["n", *map(str, self.shape)]) + ("," if not self.shape else "") + ")"


def view_fields(task: Task) -> dict[str, Any]:
    """``task.view`` on the probe's next observations and info: the task's own fields ``(2, ...)``."""
    p = probe(task)
    return task.view(p.next_obs, p.info)


def state_field_names(task: Task) -> list[str]:
    """Every attribute of ``s`` besides ``prev``: the view's fields, then the transition fields."""
    names = list(view_fields(task))
    names += [f for f in TRANSITION_FIELDS if f != "env_reward" or task.has_env_reward]
    return [n for i, n in enumerate(names) if n not in names[:i]]


def state_fields(task: Task) -> list[StateField]:
    """The fields of ``s`` with shapes, dtypes and units from a real batch (see :func:`probe`)."""
    p = probe(task)
    fields = view_fields(task)
    schema = {f.name: f for f in task.obs_schema}
    derivations = _view_derivations(task, set(fields))
    bullets, mentions = _doc_notes(task)
    info_doc = _info_doc(task)
    out: list[StateField] = []
    for name, value in fields.items():
        arr = np.asarray(value)
        unit = task.units.get(name) or (schema[name].unit if name in schema else "")
        derivation = None
        if name in schema:
            origin = f"obs[{_index_text(schema[name].index)}]"
            meaning = schema[name].description
        else:
            origin = "info" if name in task.info_keys else "derived"
            derivation = derivations.get(name)
            meaning = bullets.get(name) or ("" if derivation else mentions.get(name, ""))
            if origin == "info" and not bullets.get(name):
                meaning = info_doc or meaning or "privileged simulator state the env reports in info"
            if derivation:
                for other in sorted(set(re.findall(r"\b\w+\b", derivation)) & (set(schema) - set(fields))):
                    sf = schema[other]
                    derivation += f" (where {other} = obs[{_index_text(sf.index)}]: {sf.description})"
        out.append(StateField(name, tuple(arr.shape[1:]), str(arr.dtype), unit, meaning, origin, derivation))
    transition = {
        "action": (p.action, "", f"the action taken in this transition; {task.action_doc}".strip("; ")),
        "env_reward": (p.env_reward, "", "the environment's own reward for this transition"),
        "terminated": (
            p.terminated,
            "bool",
            "True where this transition ended the episode in a terminal state (s is that final state)",
        ),
        "truncated": (p.truncated, "bool", "True where the episode was cut off by the time limit on this transition"),
        "step": (
            np.ones(len(p.action), dtype=np.int64),
            "",
            "steps taken in the episode, counting this one (1 on the first)",
        ),
    }
    for name, (value, unit, meaning) in transition.items():
        if name in fields or (name == "env_reward" and not task.has_env_reward):
            continue
        arr = np.asarray(value)
        unit = unit or task.units.get(name, "steps" if name == "step" else "")
        out.append(StateField(name, tuple(arr.shape[1:]), str(arr.dtype), unit, meaning, "transition"))
    return out


def _describe(f: StateField, *, with_origin: bool) -> str:
    unit = "" if f.unit == f.dtype else f.unit
    head = f"{f.shape_text} {f.dtype}" + (f", {unit}" if unit else "")
    parts = [f.meaning] if f.meaning else []
    if f.derivation:
        parts.append(f"= {f.derivation}")
    if with_origin and f.origin not in ("derived", "transition"):
        parts.insert(0, f"[{f.origin}]")
    return head + (": " + " ".join(parts) if parts else "")


def state_fields_summary(task: Task) -> str:
    """One line per attribute of ``s``: shape, dtype, unit, and where it comes from."""
    lines = [f"- s.{f.name}: {_describe(f, with_origin=True)}" for f in state_fields(task)]
    lines.append("- s.prev: the same fields (not the transition ones) for the state before this transition")
    return "\n".join(lines)
