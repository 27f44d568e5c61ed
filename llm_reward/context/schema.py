"""The observation schema validator: a task's ``obs_schema`` checked against the real observation
space and real observations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from envs.registry import ObsField, Task
from llm_reward.context.probe import probe


class ObservationSchemaError(ValueError):
    """A task's observation schema disagrees with its real observation space."""


def _index_text(index: int | tuple[int, int] | str) -> str:
    if isinstance(index, tuple):
        return f"{index[0]}:{index[1]}"
    return str(index)


def _space_bounds(space: gym.spaces.Box, idx: Any) -> tuple[float, float]:
    low = np.asarray(space.low, dtype=np.float64).reshape(-1)[idx]
    high = np.asarray(space.high, dtype=np.float64).reshape(-1)[idx]
    return float(np.min(low)), float(np.max(high))


def _ranges(indices: Sequence[int]) -> str:
    out: list[str] = []
    idx = sorted(indices)
    start = prev = idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}..{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(out)


def _field_indices(f: ObsField, dim: int) -> list[int]:
    if isinstance(f.index, bool) or not isinstance(f.index, (int, tuple)):
        raise ObservationSchemaError(f"field {f.name!r}: index {f.index!r} must be an int or a (start, stop) pair")
    if isinstance(f.index, int):
        if not 0 <= f.index < dim:
            raise ObservationSchemaError(f"field {f.name!r}: index {f.index} is outside the observation (0..{dim - 1})")
        return [f.index]
    if len(f.index) != 2:
        raise ObservationSchemaError(f"field {f.name!r}: slice index must be (start, stop), got {f.index!r}")
    a, b = f.index
    if not 0 <= a < b <= dim:
        raise ObservationSchemaError(f"field {f.name!r}: slice {a}:{b} is empty or outside the observation (0:{dim})")
    return list(range(a, b))


def validate_obs_schema(task: Task, schema: Sequence[ObsField] | None = None) -> None:
    """Check ``task.obs_schema`` against the real observation space and real observations.

    Every index of the (flat ``Box``) observation is covered by exactly one field (``Dict`` spaces:
    every key by one field), names are unique, each field's ``low <= high``, the schema's bounds lie
    within the space's finite bounds (1 % slack for rounded numbers), and the observations of a real
    reset and step lie within the schema's bounds.

    :raises ObservationSchemaError: with every problem found, one per line.
    """
    schema = tuple(task.obs_schema if schema is None else schema)
    p = probe(task)
    space = p.observation_space
    problems: list[str] = []
    names = [f.name for f in schema]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate field names: {', '.join(dupes)}")
    for f in schema:
        if f.low is not None and f.high is not None and f.low > f.high:
            problems.append(f"field {f.name!r}: low {f.low} > high {f.high}")
    if isinstance(space, gym.spaces.Dict):
        keys = list(space.spaces)
        covered = [f.index for f in schema]
        bad = [f.name for f in schema if not isinstance(f.index, str) or f.index not in keys]
        if bad:
            problems.append(f"fields {bad} do not name a key of the Dict observation (keys: {keys})")
        missing = [k for k in keys if k not in covered]
        twice = sorted({k for k in covered if isinstance(k, str) and covered.count(k) > 1})
        if missing:
            problems.append(f"observation keys without a field: {missing}")
        if twice:
            problems.append(f"observation keys covered by more than one field: {twice}")
    elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        dim = int(space.shape[0])
        owners: dict[int, list[str]] = {}
        for f in schema:
            try:
                idx = _field_indices(f, dim)
            except ObservationSchemaError as e:
                problems.append(str(e))
                continue
            for i in idx:
                owners.setdefault(i, []).append(f.name)
            slo, shi = _space_bounds(space, idx)
            for label, bound in (("low", f.low), ("high", f.high)):
                if bound is None:
                    continue
                tol = 0.01 * max(1.0, abs(bound))
                if (np.isfinite(slo) and bound < slo - tol) or (np.isfinite(shi) and bound > shi + tol):
                    problems.append(
                        f"field {f.name!r} (obs[{_index_text(f.index)}]): schema {label} {bound:g} lies outside "
                        f"the observation space's bounds [{slo:g}, {shi:g}]"
                    )
            observed = np.concatenate([p.obs[:, idx].reshape(-1), p.next_obs[:, idx].reshape(-1)]).astype(np.float64)
            lo = f.low if f.low is not None else -np.inf
            hi = f.high if f.high is not None else np.inf
            slack = 0.01 * max(1.0, abs(lo) if np.isfinite(lo) else 0.0, abs(hi) if np.isfinite(hi) else 0.0)
            outside = observed[(observed < lo - slack) | (observed > hi + slack)]
            if outside.size:
                problems.append(
                    f"field {f.name!r} (obs[{_index_text(f.index)}]): real observation {outside[0]:g} is outside "
                    f"the schema's range [{lo:g}, {hi:g}]"
                )
        missing = [i for i in range(dim) if i not in owners]
        if missing:
            problems.append(f"observation indices without a field: {_ranges(missing)} (observation has {dim} entries)")
        shared = {i: o for i, o in owners.items() if len(o) > 1}
        if shared:
            pairs = sorted({" & ".join(o) for o in shared.values()})
            problems.append(
                f"observation indices {_ranges(list(shared))} covered by more than one field ({'; '.join(pairs)})"
            )
    else:
        problems.append(f"observation space {space} is neither a flat Box nor a Dict; the schema cannot index it")
    if problems:
        raise ObservationSchemaError(
            f"task {task.id}: observation schema does not match the real observation space {space}:\n- "
            + "\n- ".join(problems)
        )
