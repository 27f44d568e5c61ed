"""The state view: named, batched arrays with units that reward code and fitness read.

A task turns a batch of observations (plus the ``info`` fields it declares) into a
:class:`StateView`. For a transition, the view describes the *next* state ``s'`` and
carries the previous state as ``view.prev``, plus the transition fields ``action``,
``env_reward``, ``terminated``, ``truncated`` and ``step`` (steps taken in the episode,
counting this one). Every array has a leading dimension of ``n_envs``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


class StateView:
    """Attribute access to named batched arrays, with a unit for each name.

    :param fields: name -> array of shape ``(n_envs, ...)``.
    :param units: name -> unit string (``"m"``, ``"rad/s"``, ``"bool"``, ...).
    :param prev: the view of the previous state, for transitions.
    """

    __slots__ = ("_fields", "_prev", "_prev_fn", "_units")

    def __init__(
        self,
        fields: dict[str, Any],
        units: Mapping[str, str] | None = None,
        prev: StateView | Callable[[], StateView] | None = None,
    ) -> None:
        self._fields = fields
        self._units = units or {}
        # the previous state's view may be given lazily: most rewards never read it
        self._prev: StateView | None
        self._prev_fn: Callable[[], StateView] | None
        if callable(prev) and not isinstance(prev, StateView):
            self._prev, self._prev_fn = None, prev
        else:
            self._prev, self._prev_fn = prev, None

    @property
    def prev(self) -> StateView | None:
        """The view of the previous state ``s`` (for transitions), else ``None``."""
        if self._prev is None and self._prev_fn is not None:
            self._prev = self._prev_fn()
            self._prev_fn = None
        return self._prev

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        try:
            return fields[name]
        except KeyError:
            raise AttributeError(f"state view has no field {name!r}; fields: {sorted(fields)}") from None

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def keys(self) -> list[str]:
        return list(self._fields)

    def unit(self, name: str) -> str:
        return self._units.get(name, "")

    def with_fields(self, **extra: Any) -> StateView:
        """A new view with ``extra`` fields added (shares arrays, no copies)."""
        return StateView({**self._fields, **extra}, self._units, self._prev_fn or self._prev)

    def __repr__(self) -> str:
        parts = []
        for k, v in self._fields.items():
            shape = getattr(v, "shape", ())
            parts.append(f"{k}{list(shape)}")
        return f"StateView({', '.join(parts)})"


def as_bool(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=bool)
