"""Test helpers shared by several test modules."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(pred: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``pred`` until it is true or ``timeout`` seconds pass; True if it became true.

    Tests wait on a condition with this instead of sleeping a fixed time: fast when the condition comes
    early, and a slow machine only costs time, never a spurious failure before ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # the only fixed sleep: the polling interval
