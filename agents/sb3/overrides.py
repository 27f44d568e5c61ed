"""Command-line overrides (``key=value``) and preset values brought into constructor form, with the key checks
that name what is wrong and what would be right."""

from __future__ import annotations

import difflib
import re
from typing import Any

from agents.sb3.algos import (
    ALGO_CLASSES,
    META_KEYS,
    NORMALIZE_KEYS,
    RESERVED_KWARGS,
    SCHEDULE_KEYS,
    UNSUPPORTED_KEYS,
    constructor_keys,
)
from agents.sb3.literals import NUMBER, parse_literal, parse_policy_kwargs, parse_schedule, resolve_names

_BARE_WORD = re.compile(r"^[A-Za-z_][\w.\-]*$")


def parse_normalize(value: Any) -> bool | dict[str, Any]:
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
        return parse_normalize(text)
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


def coerce_value(key: str, value: Any) -> Any:
    """Bring one preset value (from YAML, JSON or an override) into constructor form."""
    if isinstance(value, str):
        if key in SCHEDULE_KEYS and value.startswith("lin_"):
            return parse_schedule(value)
        if key == "policy_kwargs" or key.endswith("_kwargs"):
            return parse_policy_kwargs(value)
        if NUMBER.match(value):  # YAML reads 1e-3 (no dot) as a string
            return float(value)
        return value
    if key == "policy_kwargs" or key.endswith("_kwargs"):
        return resolve_names(value)
    if key == "train_freq" and isinstance(value, list):
        return tuple(value)
    return value


def check_override_keys(algo: str, overrides: dict[str, Any]) -> None:
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
