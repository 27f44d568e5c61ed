"""What comes back from the sandbox worker, read in the parent: a call's raw :class:`Result` and its arrays.

A reply is a JSON header (at most :data:`CONTROL_BYTES`) followed by the raw bytes of its arrays; only the dtypes
in :data:`DTYPES` are read, and arrays whose sizes do not add up to the payload are refused. Text from the
worker is cleaned (:func:`clean_text`) before it is stored or shown a model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_reward.sandbox.guards import Fail
from llm_reward.textsafe import clean_message

CONTROL_BYTES = 1 << 16  # most bytes of JSON the parent accepts in one message besides the values
#: the dtypes a result may carry; anything else is refused before a byte of it is read
DTYPES = {
    np.dtype(t).str: np.dtype(t)
    for t in ("<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "|b1")
}


def clean_text(text: Any, limit: int, keep: str = "head") -> str:
    """Text that came from the worker made safe to store or show a model (:func:`llm_reward.textsafe.clean_message`)."""
    return clean_message(text, limit, keep=keep)


@dataclass
class Result:
    """What one call returned, as the worker sent it, before judging."""

    kind: str
    names: list[str]
    arrays: list[np.ndarray]
    cpu_ms: float | None
    wall_ms: float


def decode_arrays(header: dict[str, Any], payload: memoryview, where: str) -> list[np.ndarray] | None:
    specs = header.get("arrays")
    if not isinstance(specs, list):
        return None
    out, offset = [], 0
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], list)):
            return None
        dt = DTYPES.get(spec[0])
        shape = spec[1]
        if dt is None:
            raise Fail("wrong_type", f"a returned array has dtype {clean_text(spec[0], 20)!r} {where}; return numbers")
        if not all(isinstance(d, int) and 0 <= d < 2**31 for d in shape) or len(shape) > 8:
            return None
        nbytes = dt.itemsize * math.prod(shape)
        if offset + nbytes > len(payload):
            return None
        out.append(np.frombuffer(payload[offset : offset + nbytes], dtype=dt).reshape(shape).copy())
        offset += nbytes
    return out if offset == len(payload) else None


def read_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
