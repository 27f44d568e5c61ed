"""The retry policy of LLM requests: which answers are retried, how long to wait, what a retry and a failure say.

429, 408, 409 and 5xx answers, timeouts, connection errors and malformed bodies are retried; other 4xx answers
fail at once. The wait is the server's ``Retry-After`` when it sends one (:func:`retry_after_s`), else an
exponential backoff with jitter (``OpenAIBackend._backoff``).
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import openai

from llm_reward.client.answer import Malformed
from llm_reward.textsafe import one_line

RETRYABLE_STATUS = frozenset({408, 409, 429})


class LLMError(RuntimeError):
    """An LLM request failed for good (after retries, or at once for a non-retryable answer or a missing key).

    Attributes:
        attempts: requests made for this call before giving up (0 when none could be made).
        status: HTTP status of the last answer, when there was one.
        last_error: the last underlying exception, when there was one.
    """

    def __init__(
        self, message: str, *, attempts: int = 0, status: int | None = None, last_error: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.last_error = last_error


@dataclass(frozen=True)
class RetryNotice:
    """One retry of an LLM request, as reported to ``OpenAIBackend(on_retry=...)``.

    Attributes:
        tag: the call's tag (``iter0``, ``iter0/cand1/repair1``).
        attempt: the attempt that failed (1 for the first request).
        max_attempts: attempts allowed in all (``max_retries + 1``).
        reason: why it is retried (``HTTP 429: ...``, ``timeout``, ``connection error``, ``malformed response: ...``),
            control characters removed and cut to 200 characters.
        wait_s: seconds waited before the next attempt.
        status: the HTTP status, when there was an answer.
        retry_after: whether the wait is the server's ``Retry-After``.
    """

    tag: str
    attempt: int
    max_attempts: int
    reason: str
    wait_s: float
    status: int | None = None
    retry_after: bool = False

    def __str__(self) -> str:
        why = " (the server's Retry-After)" if self.retry_after else ""
        return (
            f"LLM call {self.tag}: attempt {self.attempt} of {self.max_attempts} failed ({self.reason}); "
            f"retrying in {self.wait_s:.2f} s{why}"
        )


class NRejected(Exception):
    """The server refused a request for several choices (it supports one per request)."""


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); None when absent or unreadable."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_reason(exc: BaseException | None, status: int | None) -> str:
    """Why a request is retried, in a few words (the server's own words cleaned and cut)."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return one_line(f"connection error: {exc}", 200)
    if isinstance(exc, Malformed):
        return one_line(f"malformed response: {exc}", 200)
    if status is not None:
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, str) and detail else getattr(exc, "message", None) or str(exc)
        return one_line(f"HTTP {status}: {detail}", 200)
    return one_line(f"{type(exc).__name__}: {exc}", 200)
