"""The LaRe-style context: observation index -> name, unit, range, meaning, after the schema check."""

from __future__ import annotations

from typing import Any

from envs.registry import ObsField, Task
from llm_reward.context.probe import probe
from llm_reward.context.schema import _index_text, validate_obs_schema


def observation_table(task: Task) -> str:
    """Observation index -> name, unit, range, meaning, after :func:`validate_obs_schema`.

    :raises ObservationSchemaError: when the schema does not match the real observation space.
    """
    validate_obs_schema(task)
    space = probe(task).observation_space
    rows = [
        f"Observation space: {space}. Each row is one entry (or a slice) of the observation vector; "
        "the state view s names it by the same name.",
        "",
        "| index | name | unit | range | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]

    def order(f: ObsField) -> tuple[int, Any]:
        return (1, f.index) if isinstance(f.index, str) else (0, f.index if isinstance(f.index, int) else f.index[0])

    for f in sorted(task.obs_schema, key=order):
        lo = "" if f.low is None else f"{f.low:g}"
        hi = "" if f.high is None else f"{f.high:g}"
        rng = f"[{lo}, {hi}]" if (lo or hi) else ""
        desc = f.description.replace("|", "/")
        rows.append(f"| {_index_text(f.index)} | {f.name} | {f.unit} | {rng} | {desc} |")
    return "\n".join(rows)
