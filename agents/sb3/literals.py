"""rl-zoo3's value syntax, parsed without ``eval``: python literals, ``dict(...)``, the safe names
``nn.<Activation>`` / ``th.optim.<Optimizer>`` and ``lin_<v>`` schedules; and the JSON rendering of those values."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

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

CANONICAL_NAMES = {
    **{getattr(torch.optim, name): f"th.optim.{name}" for name in _OPTIMIZERS},
    **{getattr(torch.nn, name): f"nn.{name}" for name in _ACTIVATIONS},
    RMSpropTFLike: "RMSpropTFLike",
}

NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


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
    if kind != "lin" or not NUMBER.match(value):
        raise ValueError(f"{text!r} is not a schedule; write lin_<initial value>, e.g. lin_2.5e-4")
    return LinearDecay(float(value))


def resolve_names(value: Any) -> Any:
    """Turn safe-name strings (``"nn.ReLU"``) inside a YAML/JSON mapping into their objects."""
    if isinstance(value, str) and value in SAFE_NAMES:
        return SAFE_NAMES[value]
    if isinstance(value, dict):
        return {k: resolve_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_names(v) for v in value]
    return value


def render_value(value: Any) -> Any:
    """JSON-ready rendering of a spec value."""
    if isinstance(value, LinearDecay):
        return str(value)
    if isinstance(value, dict):
        return {str(k): render_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, type):
        return CANONICAL_NAMES.get(value, f"{value.__module__}.{value.__qualname__}")
    return repr(value)
