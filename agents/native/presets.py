"""The typed configs of the native agents: preset lookup, ``key=value`` overrides, value coercion, dict round trip.

``ppo-native`` and ``sac-native`` each keep every hyperparameter in a dataclass (:class:`NativeConfig` gives
it its JSON-ready dict round trip) and read their presets from ``agents/presets/<agent>.yml``: by task id,
then task family, then ``default``; overrides apply on top, each coerced to its field's type.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from rewardlab.experiment.agents import AgentError

if TYPE_CHECKING:
    from envs.registry import Task

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
BOOKKEEPING = ("name", "task_id", "source", "overrides")  # config fields no preset or override sets
NULLS = ("none", "null", "")  # texts an optional field reads as None

C = TypeVar("C", bound="NativeConfig")


class NativeConfig:
    """The dict round trip of a native agent's config dataclass (``hidden`` as a list in the dict)."""

    hidden: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kw = {k: v for k, v in data.items() if k in known}
        if "hidden" in kw:
            kw["hidden"] = tuple(int(h) for h in kw["hidden"])
        return cls(**kw)


def tunable(cls: type) -> tuple[str, ...]:
    """The fields of config class ``cls`` a preset or override may set (the rest is bookkeeping)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in BOOKKEEPING)


def field_types(cls: type) -> dict[str, str]:
    """Field name -> its annotation as text (``"int | None"``), what :func:`coerce` reads."""
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def coerce(agent: str, kind: str, key: str, value: Any, nulls: tuple[str, ...] = NULLS) -> Any:
    """``value`` (from YAML or ``key=value`` text) as type ``kind`` of field ``key``; :class:`AgentError` when it
    is not. A text in ``nulls`` is None for an optional field."""
    if isinstance(value, str):
        text = value.strip()
        if kind.endswith("| None") and text.lower() in nulls:
            return None
        if kind.startswith("tuple"):
            text = text.strip("[]()")
            value = [] if not text else [p for p in text.replace(",", " ").split()]
        else:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                value = text
    if value is None and kind.endswith("| None"):
        return None
    base = kind.split("|")[0].strip()
    try:
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
                return value.lower() in ("true", "yes", "on")
            if value in (0, 1):
                return bool(value)
            raise ValueError
        if base == "int":
            if isinstance(value, bool):
                raise ValueError
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base.startswith("tuple"):
            items = tuple(int(float(v)) for v in value)
            if not items or any(v < 1 for v in items):
                raise ValueError
            return items
        if base == "str":
            return str(value)
    except (TypeError, ValueError):
        pass
    raise AgentError(f"{agent}: {key}={value!r} is not a valid {kind}")


def check_needs(agent: str, cfg: C, broken: dict[str, bool]) -> C:
    """``cfg`` when no need is broken; else :class:`AgentError` listing every broken need (``need text -> broken``)."""
    bad = [need for need, is_broken in broken.items() if is_broken]
    if bad:
        raise AgentError(f"{agent}: need {', '.join(bad)}")
    return cfg


def resolve_config(
    cls: type[C], agent: str, presets: Path, name: str, task: Task, overrides: list[str], nulls: tuple[str, ...] = NULLS
) -> C:
    """Config ``cls`` from the preset in ``presets`` for ``task`` (by task id, then family, then default) with
    ``key=value`` overrides; ``agent`` names the agent in error messages. Range checks are the caller's."""
    doc = yaml.safe_load(presets.read_text()) or {}
    keys, types = tunable(cls), field_types(cls)
    tasks, families = doc.get("task") or {}, doc.get("family") or {}
    if task.id in tasks:
        preset, where = tasks[task.id], task.id
    elif task.family in families:
        preset, where = families[task.family], f"family.{task.family}"
    else:
        preset, where = doc.get("default") or {}, "default"
    values: dict[str, Any] = {}
    for k, v in (preset or {}).items():
        if k not in keys:
            raise AgentError(f"{presets.name}:{where}: unknown key {k!r}")
        values[k] = coerce(agent, types[k], k, v, nulls)
    given: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise AgentError(f"{agent}: override {item!r} must be key=value")
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise AgentError(f"{agent}: unknown key {key!r}.{hint} Valid keys: {', '.join(keys)}")
        given[key] = coerce(agent, types[key], key, text, nulls)
    values.update(given)
    return cls(name=name, task_id=task.id, source=f"{presets.name}:{where}", overrides=given, **values)  # type: ignore[call-arg]
