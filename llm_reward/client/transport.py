"""The HTTP side of :class:`~llm_reward.client.OpenAIBackend`: the ``openai`` client and one request with retries.

Retries are done here, not in the SDK (its own ``max_retries`` is 0), by the policy of
:mod:`llm_reward.client.retry`; the client is made on the first request, so replaying a cassette needs no key.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import openai

from llm_reward.cassette import Cassette
from llm_reward.client.answer import Answer, Malformed, parse_answer
from llm_reward.client.retry import RETRYABLE_STATUS, LLMError, NRejected, RetryNotice, retry_after_s, retry_reason


class ChatTransport:
    """Requests to the chat-completions endpoint, a mixin of :class:`~llm_reward.client.OpenAIBackend` (which
    sets every attribute below in its ``__init__``)."""

    model: str
    base_url: str | None
    api_key_env: str | None
    temperature: float | None
    seed: int | None
    max_tokens: int | None
    max_tokens_field: str
    extra_params: dict[str, Any]
    timeout_s: float
    max_retries: int
    backoff_s: float
    max_backoff_s: float
    max_retry_after_s: float
    cassette: Cassette | None
    on_retry: Callable[[RetryNotice], None] | None
    http_requests: int
    retries: int
    _sleep: Callable[[float], None]
    _rng: random.Random
    _client: openai.OpenAI | None
    _lock: threading.Lock

    def _get_client(self) -> openai.OpenAI:
        with self._lock:
            return self._client or self._make_client()

    def _make_client(self) -> openai.OpenAI:
        if self._client is None:
            if self.api_key_env is None:
                api_key = "no-key-needed"
            else:
                api_key = os.environ.get(self.api_key_env, "")
                if not api_key:
                    why = "the call is not in the cassette" if self.cassette is not None else "no cassette was given"
                    raise LLMError(
                        f"environment variable {self.api_key_env} is not set and {why}: "
                        f"export {self.api_key_env}=<key> for {self.base_url or 'the OpenAI API'}, pass "
                        "api_key_env=None for a server that needs no key (vLLM, Ollama, llama.cpp, LM Studio), "
                        "or replay a recorded cassette"
                    )
            self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout_s, max_retries=0)
        return self._client

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + 0.5 * self._rng.random())

    def _notify_retry(self, notice: RetryNotice) -> None:
        if self.on_retry is not None:
            try:
                self.on_retry(notice)
            except Exception:  # a log that fails must not fail the call
                pass

    def _request(self, messages: list[dict], k: int, first: int, tag: str = "") -> Answer:
        """One logical request for ``k`` samples, with retries."""
        client = self._get_client()
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if k > 1:
            kwargs["n"] = k
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.seed is not None:
            kwargs["seed"] = self.seed + first
        if self.max_tokens is not None:
            kwargs[self.max_tokens_field] = self.max_tokens
        if self.extra_params:
            kwargs["extra_body"] = self.extra_params

        where = f"model {self.model!r} at {self.base_url or 'the OpenAI API'}"
        last: BaseException | None = None
        status: int | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.retries += 1
            with self._lock:
                self.http_requests += 1
            retry_after = None
            start = time.monotonic()
            try:
                raw = client.chat.completions.with_raw_response.create(**kwargs)
                return parse_answer(raw.text, raw.headers.get("content-type", ""), time.monotonic() - start)
            except openai.APIStatusError as exc:
                last, status = exc, exc.status_code
                if k > 1 and (status in (400, 422) or (status >= 500 and "choice" in str(exc.message).lower())):
                    raise NRejected from exc
                if status not in RETRYABLE_STATUS and status < 500:
                    hint = f" (check {self.api_key_env})" if status in (401, 403) and self.api_key_env else ""
                    raise LLMError(
                        f"{where} refused the request with HTTP {status}{hint}: {exc.message}",
                        attempts=attempt + 1,
                        status=status,
                        last_error=exc,
                    ) from exc
                retry_after = retry_after_s(exc.response.headers)
            except (openai.APITimeoutError, openai.APIConnectionError, Malformed) as exc:
                last, status = exc, None
            if attempt < self.max_retries:
                wait = self._backoff(attempt, retry_after)
                self._notify_retry(
                    RetryNotice(
                        tag=tag,
                        attempt=attempt + 1,
                        max_attempts=self.max_retries + 1,
                        reason=retry_reason(last, status),
                        wait_s=wait,
                        status=status,
                        retry_after=retry_after is not None,
                    )
                )
                self._sleep(wait)
        describe = f"HTTP {status}: " if status is not None else ""
        kind = type(last).__name__ if not isinstance(last, Malformed) else "malformed response"
        raise LLMError(
            f"{where} failed after {self.max_retries + 1} attempts; last error ({kind}) {describe}{last}",
            attempts=self.max_retries + 1,
            status=status,
            last_error=last,
        ) from last
