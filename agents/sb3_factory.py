"""Stable-baselines3 agents built from tuned presets.

:func:`resolve_agent` turns ``(algo, task, family, overrides)`` into an :class:`AgentSpec`: a
plain, JSON-serialisable value the run store saves next to every run. Presets are looked up
in this order, first hit wins:

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
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import importlib.util
import inspect
import re
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

AGENTS = ("ppo", "a2c", "dqn", "sac", "td3")

ALGO_CLASSES: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "td3": TD3}

# Action-space classes each agent can act in.
ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {
    "ppo": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "a2c": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "dqn": (spaces.Discrete,),
    "sac": (spaces.Box,),
    "td3": (spaces.Box,),
}

LAB_PRESETS = Path(__file__).parent / "presets" / "lab.yml"

# Preset keys that configure the run around the model rather than the SB3 constructor.
META_KEYS = ("n_envs", "n_timesteps", "policy", "normalize", "noise_type", "noise_std")

# Constructor arguments make_model sets itself.
RESERVED_KWARGS = ("self", "policy", "env", "tensorboard_log", "verbose", "seed", "device", "_init_setup_model")

SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")

NOISE_TYPES = ("normal", "ornstein-uhlenbeck")

NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon", "norm_obs_keys")

# rl-zoo3 keys the lab cannot honour, and why.
UNSUPPORTED_KEYS = {
    "env_wrapper": "the lab builds the env stack from the task registry (fitness and reward wrappers)",
    "vec_env_wrapper": "the lab builds the vector-env stack itself (reward wrapper, then normalisation)",
    "frame_stack": "the lab's tasks define their own observations",
    "callback": "the lab installs its own callbacks (metrics, fitness, checkpoints)",
    "env_kwargs": "env construction belongs to the task",
    "monitor_kwargs": "the lab records episodes itself",
    "replay_buffer_class": "the lab uses SB3's default buffers",
    "rollout_buffer_class": "the lab uses SB3's default buffers",
}

# Names a policy_kwargs string may use, and the objects they stand for. Nothing else is resolved.
_ACTIVATIONS = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish",
    "Tanh", "Sigmoid", "Hardtanh", "Hardsigmoid", "Hardswish", "Softplus", "Softsign", "LogSigmoid",
    "Tanhshrink", "Identity",
)  # fmt: skip
_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD")
SAFE_NAMES: dict[str, Any] = {
    **{f"{prefix}.{name}": getattr(torch.nn, name) for prefix in ("nn", "th.nn", "torch.nn") for name in _ACTIVATIONS},
    **{
        f"{prefix}.{name}": getattr(torch.optim, name) for prefix in ("th.optim", "torch.optim") for name in _OPTIMIZERS
    },
    "RMSpropTFLike": RMSpropTFLike,
}
_CANONICAL_NAMES = {
    **{getattr(torch.optim, name): f"th.optim.{name}" for name in _OPTIMIZERS},
    **{getattr(torch.nn, name): f"nn.{name}" for name in _ACTIVATIONS},
    RMSpropTFLike: "RMSpropTFLike",
}

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BARE_WORD = re.compile(r"^[A-Za-z_][\w.\-]*$")
_VERSION = re.compile(r"^(?P<stem>.+)-v(?P<version>\d+)$")


@dataclass(frozen=True)
class LinearDecay:
    """rl-zoo3's ``lin_<v>`` schedule: ``v * progress_remaining``, from ``v`` at the start to 0 at the end.

    (SB3's own ``LinearSchedule`` interpolates between two values over a fraction of training;
    this is the zoo's simpler one.)
    """

    initial_value: float

    def __call__(self, progress_remaining: float) -> float:
        return float(progress_remaining * self.initial_value)

    def __str__(self) -> str:
        return f"lin_{self.initial_value!r}"


@dataclass
class AgentSpec:
    """A resolved SB3 agent configuration.

    :param algo: one of :data:`AGENTS`.
    :param task_id: the task the preset was resolved for.
    :param n_envs: number of parallel envs the preset was tuned with.
    :param policy: SB3 policy alias (``"MlpPolicy"``...).
    :param kwargs: constructor kwargs, ready to pass to the SB3 class (schedules, classes and
        action-noise objects included).
    :param normalize: ``None`` or VecNormalize kwargs ``dict(norm_obs=, norm_reward=, gamma=)``.
    :param n_timesteps: the preset's training budget, or ``None`` (the task's budget then rules).
    :param source: where the preset came from, e.g. ``"rl-zoo3 ppo.yml[CartPole-v1]"``.
    :param overrides: the overrides applied on top of the preset.
    :param dropped: preset keys the lab cannot honour, with the reason.
    :param action_noise: ``None`` or ``dict(type=, std=)``; make_model builds the noise object
        from the env's action space when ``kwargs`` lacks one.
    """

    algo: str
    task_id: str
    n_envs: int
    policy: str
    kwargs: dict[str, Any]
    normalize: dict[str, Any] | None
    n_timesteps: int | None
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    action_noise: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The registry name (the agent protocol's ``AgentSpec.name``)."""
        return self.algo

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view: schedules become ``"lin_<v>"``, classes ``"nn.ReLU"``, noise its repr."""
        return {f.name: _render(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSpec:
        """Rebuild a spec saved with :meth:`to_dict` (the action-noise object is rebuilt by make_model)."""
        algo = _check_algo(data["algo"])
        kwargs = {k: _coerce(k, v) for k, v in dict(data.get("kwargs") or {}).items() if k != "action_noise"}
        overrides = {k: _coerce(k, v) for k, v in dict(data.get("overrides") or {}).items()}
        return cls(
            algo=algo,
            task_id=data["task_id"],
            n_envs=int(data["n_envs"]),
            policy=data["policy"],
            kwargs=kwargs,
            normalize=data.get("normalize"),
            n_timesteps=data.get("n_timesteps"),
            source=data["source"],
            overrides=overrides,
            dropped=dict(data.get("dropped") or {}),
            action_noise=data.get("action_noise"),
        )


# --- parsing ---------------------------------------------------------------------------------


def _literal(node: ast.AST, text: str) -> Any:
    """Evaluate an AST node that may only hold literals, containers, ``dict(...)`` and safe names."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int, float, str))):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand, text)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e, text) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values, strict=True):
            key = _literal(k, text) if k is not None else None
            if not isinstance(key, str):
                break
            out[key] = _literal(v, text)
        else:
            return out
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(kw.arg is not None for kw in node.keywords)
    ):
        return {kw.arg: _literal(kw.value, text) for kw in node.keywords}
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = ast.unparse(node)
        if name in SAFE_NAMES:
            return SAFE_NAMES[name]
    raise ValueError(
        f"{text!r}: {ast.unparse(node)!r} is not allowed here; use numbers, strings, lists, dict(...) "
        f"and names such as nn.ReLU, nn.Tanh, th.optim.Adam"
    )


def parse_literal(text: str) -> Any:
    """Parse a python literal safely: numbers, strings, lists, tuples, ``{...}``/``dict(...)``, ``nn.<Activation>``."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"{text!r} is not a valid python literal ({err.msg})") from None
    return _literal(tree.body, text)


def parse_policy_kwargs(text: str) -> dict[str, Any]:
    """Parse an rl-zoo3 ``policy_kwargs`` string such as ``"dict(activation_fn=nn.ReLU, net_arch=[64, 64])"``.

    No ``eval``: only literals, ``dict(...)`` and the names in :data:`SAFE_NAMES` are admitted.
    """
    value = parse_literal(text)
    if not isinstance(value, dict):
        raise ValueError(f"policy_kwargs {text!r} must be a dict, e.g. dict(net_arch=[64, 64])")
    return value


def parse_schedule(text: str) -> LinearDecay:
    """``"lin_0.001"`` -> :class:`LinearDecay` (0.001)."""
    kind, _, value = text.strip().partition("_")
    if kind != "lin" or not _NUMBER.match(value):
        raise ValueError(f"{text!r} is not a schedule; write lin_<initial value>, e.g. lin_2.5e-4")
    return LinearDecay(float(value))


def _parse_normalize(value: Any) -> bool | dict[str, Any]:
    if isinstance(value, str):
        value = parse_literal(value)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(NORMALIZE_KEYS))
        if unknown:
            raise ValueError(f"normalize: unknown VecNormalize keys {unknown}; valid: {', '.join(NORMALIZE_KEYS)}")
        return dict(value)
    raise ValueError(
        f"normalize must be true/false or a dict like {{'norm_obs': True, 'norm_reward': False}}, got {value!r}"
    )


def parse_value(key: str, text: str) -> Any:
    """Parse one command-line override value for ``key``.

    ``lin_<v>`` -> schedule; ``policy_kwargs`` -> :func:`parse_policy_kwargs`; python literals
    (``3e-4``, ``[64, 64]``, ``True``, ``dict(...)``); a bare word (``MlpPolicy``, ``auto``) stays a string.
    """
    text = text.strip()
    if not text:
        raise ValueError(f"{key}: empty value")
    if key == "policy_kwargs":
        return parse_policy_kwargs(text)
    if key == "normalize":
        return _parse_normalize(text)
    if text.startswith("lin_"):
        return parse_schedule(text)
    try:
        return parse_literal(text)
    except ValueError:
        if _BARE_WORD.match(text):
            return text
        raise


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["learning_rate=3e-4", "policy_kwargs=dict(net_arch=[64, 64])"]`` into a dict.

    :raises ValueError: naming the bad item (no ``=``, bad key, unparsable or repeated value).
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"override {item!r}: expected key=value, e.g. learning_rate=3e-4")
        if key in out:
            raise ValueError(f"override {item!r}: {key} is given twice")
        try:
            out[key] = parse_value(key, text)
        except ValueError as err:
            raise ValueError(f"override {item!r}: {err}") from None
    return out


def _resolve_names(value: Any) -> Any:
    """Turn safe-name strings (``"nn.ReLU"``) inside a YAML/JSON mapping into their objects."""
    if isinstance(value, str) and value in SAFE_NAMES:
        return SAFE_NAMES[value]
    if isinstance(value, dict):
        return {k: _resolve_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_names(v) for v in value]
    return value


def _coerce(key: str, value: Any) -> Any:
    """Bring one preset value (from YAML, JSON or an override) into constructor form."""
    if isinstance(value, str):
        if key in SCHEDULE_KEYS and value.startswith("lin_"):
            return parse_schedule(value)
        if key == "policy_kwargs" or key.endswith("_kwargs"):
            return parse_policy_kwargs(value)
        if _NUMBER.match(value):  # YAML reads 1e-3 (no dot) as a string
            return float(value)
        return value
    if key == "policy_kwargs" or key.endswith("_kwargs"):
        return _resolve_names(value)
    if key == "train_freq" and isinstance(value, list):
        return tuple(value)
    return value


def _render(value: Any) -> Any:
    """JSON-ready rendering of a spec value."""
    if isinstance(value, LinearDecay):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _render(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return _CANONICAL_NAMES.get(value, f"{value.__module__}.{value.__qualname__}")
    return repr(value)


# --- validation ------------------------------------------------------------------------------


def _check_algo(algo: str) -> str:
    name = str(algo).lower()
    if name not in AGENTS:
        raise ValueError(f"unknown agent {algo!r}; valid agents: {', '.join(AGENTS)}")
    return name


def check_action_space(algo: str, action_space: spaces.Space) -> None:
    """Raise ValueError when ``algo`` cannot act in ``action_space``, naming the agents that can."""
    algo = _check_algo(algo)
    if isinstance(action_space, ACTION_SPACES[algo]):
        return
    kind = type(action_space).__name__
    fits = [a for a in AGENTS if isinstance(action_space, ACTION_SPACES[a])]
    needs = " or ".join(c.__name__ for c in ACTION_SPACES[algo])
    raise ValueError(
        f"{algo} needs a {needs} action space, got {action_space}; "
        f"agents that fit a {kind} action space: {', '.join(fits) or 'none'}"
    )


@cache
def constructor_keys(algo: str) -> tuple[str, ...]:
    """Keyword arguments of the SB3 class that a preset or override may set."""
    params = inspect.signature(ALGO_CLASSES[_check_algo(algo)].__init__).parameters
    return tuple(p for p in params if p not in RESERVED_KWARGS)


def _check_override_keys(algo: str, overrides: dict[str, Any]) -> None:
    valid = tuple(k for k in (*META_KEYS, *constructor_keys(algo)) if k not in UNSUPPORTED_KEYS)
    for key in overrides:
        if key in valid:
            continue
        if key in UNSUPPORTED_KEYS:
            raise ValueError(f"override {key!r} is not supported: {UNSUPPORTED_KEYS[key]}")
        cls_name = ALGO_CLASSES[algo].__name__
        if key in RESERVED_KWARGS:
            hint = f" ({key} is set by make_model, not by an override)"
        else:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
        raise ValueError(f"unknown override {key!r} for {cls_name}.{hint} Valid keys: {', '.join(sorted(valid))}")


# --- preset lookup ---------------------------------------------------------------------------


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


# --- resolution ------------------------------------------------------------------------------


def make_action_noise(noise: dict[str, Any], action_space: spaces.Space) -> ActionNoise:
    """``dict(type="normal"|"ornstein-uhlenbeck", std=...)`` -> an SB3 action-noise object."""
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"action noise needs a Box action space, got {action_space}")
    n_actions = int(np.prod(action_space.shape))
    mean, sigma = np.zeros(n_actions), float(noise["std"]) * np.ones(n_actions)
    if noise["type"] == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)


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
    algo = _check_algo(algo)
    if action_space is not None:
        check_action_space(algo, action_space)
    overrides = dict(overrides or {})
    _check_override_keys(algo, overrides)
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
            kwargs[key] = _coerce(key, value)

    normalize = _parse_normalize(normalize_raw)
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


# --- models ----------------------------------------------------------------------------------


def make_model(
    spec: AgentSpec,
    venv: VecEnv,
    seed: int | None,
    device: str | torch.device = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """Build the SB3 model ``spec`` describes on ``venv``.

    When ``spec.normalize`` is set and ``venv`` has no VecNormalize yet, it is wrapped here,
    outermost, so normalisation sees the reward the lab's reward wrapper produced.
    ``device="auto"`` picks CUDA when available (SB3's ``get_device``).
    """
    check_action_space(spec.algo, venv.action_space)
    if venv.num_envs != spec.n_envs:
        warnings.warn(
            f"{spec.algo} preset ({spec.source}) was tuned with n_envs={spec.n_envs}, the env has {venv.num_envs}",
            stacklevel=2,
        )
    if spec.normalize and unwrap_vec_normalize(venv) is None:
        venv = VecNormalize(venv, **spec.normalize)
    kwargs = copy.deepcopy(spec.kwargs)
    if spec.action_noise is not None and "action_noise" not in kwargs:
        kwargs["action_noise"] = make_action_noise(spec.action_noise, venv.action_space)
    return ALGO_CLASSES[spec.algo](
        spec.policy, venv, seed=seed, device=device, tensorboard_log=tensorboard_log, verbose=verbose, **kwargs
    )


def _stats_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".zip") + ".vecnormalize.pkl")


def save_model(model: BaseAlgorithm, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (``.zip``), and its VecNormalize statistics beside it when it has any."""
    path = Path(path)
    model.save(path)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        vec_normalize.save(str(_stats_path(path)))
    return path if path.suffix == ".zip" else path.with_name(path.name + ".zip")


def load_model(
    algo: str, path: str | Path, env: VecEnv | None = None, device: str | torch.device = "auto"
) -> BaseAlgorithm:
    """Load a model saved by SB3 (or :func:`save_model`).

    With ``env`` given and VecNormalize statistics saved beside the model, ``env`` is wrapped
    with them (still in training mode; set ``.training = False`` and ``.norm_reward = False``
    to evaluate).
    """
    cls = ALGO_CLASSES[_check_algo(algo)]
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".zip").exists():
        path = path.with_name(path.name + ".zip")
    if not path.exists():
        raise FileNotFoundError(f"no saved {algo} model at {path}")
    stats = _stats_path(path)
    if env is not None and stats.exists() and unwrap_vec_normalize(env) is None:
        env = VecNormalize.load(str(stats), env)
    return cls.load(path, env=env, device=device)
