"""Preset lookup (the lab's ``agents/presets/lab.yml``, then rl-zoo3's ``hyperparams/``, then family defaults)
and :func:`resolve_agent`, which turns ``(algo, task, family, overrides)`` into an :class:`AgentSpec`."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from gymnasium import spaces

from agents.sb3.algos import (
    ALGO_CLASSES,
    NOISE_TYPES,
    SCHEDULE_KEYS,
    UNSUPPORTED_KEYS,
    check_action_space,
    check_algo,
    constructor_keys,
)
from agents.sb3.build import make_action_noise
from agents.sb3.literals import LinearDecay
from agents.sb3.overrides import check_override_keys, coerce_value, parse_normalize, parse_value
from agents.sb3.spec import AgentSpec

LAB_PRESETS = Path(__file__).parents[1] / "presets" / "lab.yml"

_VERSION = re.compile(r"^(?P<stem>.+)-v(?P<version>\d+)$")


def zoo_hyperparams_dir() -> Path:
    """rl-zoo3's shipped ``hyperparams/`` folder (found without importing rl_zoo3)."""
    spec = importlib.util.find_spec("rl_zoo3")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("rl_zoo3 is not installed; `pip install rl_zoo3` (a rewardlab dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "hyperparams"


@cache
def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open() as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _zoo(algo: str) -> dict[str, Any]:
    return _load_yaml(zoo_hyperparams_dir() / f"{algo}.yml")


def _lab() -> dict[str, Any]:
    return _load_yaml(LAB_PRESETS)


def _zoo_entry(algo: str, env_id: str) -> tuple[dict[str, Any], str] | None:
    """The zoo entry for ``env_id``, or for the same env under the nearest other ``-vN``."""
    table = {k: v for k, v in _zoo(algo).items() if k not in ("default", "atari")}
    if env_id in table:
        return table[env_id], f"rl-zoo3 {algo}.yml[{env_id}]"
    match = _VERSION.match(env_id)
    if match is None:
        return None
    want = int(match["version"])
    versions = []
    for key in table:
        other = _VERSION.match(key)
        if other is not None and other["stem"] == match["stem"]:
            versions.append((int(other["version"]), key))
    if not versions:
        return None
    # Prefer the newest version not above the one asked for, else the nearest newer one.
    _, key = min(versions, key=lambda vk: (vk[0] > want, abs(vk[0] - want)))
    return table[key], f"rl-zoo3 {algo}.yml[{key}] (for {env_id})"


def _find_preset(algo: str, task_id: str, family: str) -> tuple[dict[str, Any], str]:
    lab = _lab()
    lab_algo = lab.get(algo) or {}
    zoo_skip = lab.get("zoo_skip") or {}

    def direct(env_id: str, env_family: str) -> tuple[dict[str, Any], str] | None:
        entry = (lab_algo.get("task") or {}).get(env_id)
        if entry is not None:
            return entry, f"lab presets lab.yml[{algo}][{env_id}]"
        if env_family in zoo_skip:
            return None
        return _zoo_entry(algo, env_id)

    found = direct(task_id, family)
    if found is None and task_id in (lab.get("bases") or {}):
        base = lab["bases"][task_id]
        found = direct(base, "")
        if found is not None:
            found = found[0], f"{found[1]} via lab.yml[bases][{task_id}]"
    if found is None:
        entry = (lab_algo.get("family") or {}).get(family)
        if entry is not None:
            found = entry, f"lab presets lab.yml[{algo}][family:{family}]"
    if found is None:
        return {}, "defaults"
    return copy.deepcopy(dict(found[0])), found[1]


def resolve_agent(
    algo: str,
    task_id: str,
    family: str,
    overrides: dict[str, Any] | None = None,
    action_space: spaces.Space | None = None,
) -> AgentSpec:
    """Resolve the preset for ``(algo, task)`` and apply ``overrides``.

    :param algo: one of :data:`AGENTS` (case-insensitive).
    :param task_id: task id, e.g. ``"CartPole-v1"`` or ``"rewardlab/HopperJump-v0"``.
    :param family: the task's family (``classic``, ``mujoco``, ``minigrid``, ``behaviour``).
    :param overrides: ``key -> value``; string values are parsed like command-line overrides
        (:func:`parse_value`). Keys: :data:`META_KEYS` and the SB3 class's constructor kwargs.
    :param action_space: when given, the agent is checked against it and action noise is built.
    :raises ValueError: unknown agent, an agent that cannot act in ``action_space``, unknown or
        malformed overrides.
    """
    algo = check_algo(algo)
    if action_space is not None:
        check_action_space(algo, action_space)
    overrides = dict(overrides or {})
    check_override_keys(algo, overrides)
    parsed: dict[str, Any] = {}
    for key, value in overrides.items():
        try:
            parsed[key] = parse_value(key, value) if isinstance(value, str) else value
        except ValueError as err:
            raise ValueError(f"override {key}={value!r}: {err}") from None
        if isinstance(parsed[key], LinearDecay) and key not in SCHEDULE_KEYS:
            raise ValueError(f"override {key}={value!r}: schedules only work for {', '.join(SCHEDULE_KEYS)}")

    preset, source = _find_preset(algo, task_id, family)
    merged = {**preset, **parsed}
    cls = ALGO_CLASSES[algo]
    valid = constructor_keys(algo)

    n_envs = int(merged.pop("n_envs", 1))
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    n_timesteps = merged.pop("n_timesteps", None)
    n_timesteps = None if n_timesteps is None else int(float(n_timesteps))
    policy = str(merged.pop("policy", "MlpPolicy"))
    if policy not in cls.policy_aliases:
        raise ValueError(f"{algo}: unknown policy {policy!r}; valid: {', '.join(cls.policy_aliases)}")
    normalize_raw = merged.pop("normalize", False)
    noise_type, noise_std = merged.pop("noise_type", None), merged.pop("noise_std", None)

    kwargs: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    for key, value in merged.items():
        if key in UNSUPPORTED_KEYS:
            dropped[key] = UNSUPPORTED_KEYS[key]
        elif key not in valid:
            dropped[key] = f"not a {cls.__name__} constructor argument"
        else:
            kwargs[key] = coerce_value(key, value)

    normalize = parse_normalize(normalize_raw)
    if normalize is True:
        normalize = {"norm_obs": True, "norm_reward": True}
    if normalize:
        normalize = {"norm_obs": True, "norm_reward": True, **normalize}
        default_gamma = inspect.signature(cls.__init__).parameters["gamma"].default
        normalize.setdefault("gamma", float(kwargs.get("gamma", default_gamma)))
    else:
        normalize = None

    action_noise = None
    if noise_type is not None:
        if "action_noise" not in valid:
            dropped["noise_type"] = f"{algo} takes no action noise"
        elif str(noise_type).strip() not in NOISE_TYPES:
            raise ValueError(f"{algo}: unknown noise_type {noise_type!r}; valid: {', '.join(NOISE_TYPES)}")
        else:
            action_noise = {"type": str(noise_type).strip(), "std": float(0.1 if noise_std is None else noise_std)}
            if action_space is not None:
                kwargs["action_noise"] = make_action_noise(action_noise, action_space)

    return AgentSpec(
        algo=algo,
        task_id=task_id,
        n_envs=n_envs,
        policy=policy,
        kwargs=kwargs,
        normalize=normalize,
        n_timesteps=n_timesteps,
        source=source,
        overrides=parsed,
        dropped=dropped,
        action_noise=action_noise,
    )
