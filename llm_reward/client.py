"""An LLM backend for any OpenAI-compatible chat server, through the official ``openai`` SDK.

OpenAI, Azure OpenAI (its ``/openai/v1/`` endpoint), vLLM, Ollama, llama.cpp server and LM Studio all speak
``POST /v1/chat/completions``; point ``base_url`` at one and name the environment variable holding its key::

    backend = OpenAIBackend("gpt-4o-mini", prices=(0.00015, 0.0006), cassette="runs/x/cassette")
    backend = OpenAIBackend("qwen2.5-coder:7b", base_url="http://localhost:11434/v1", api_key_env=None)

Behaviour that the search loop relies on:

* **Samples.** ``generate(messages, n)`` asks for ``n`` choices in one request, and tops up with further requests
  when a server returns fewer (Ollama ignores ``n``; a choice with null content is dropped). A server that rejects
  ``n > 1`` outright (llama.cpp) is then asked one choice per request. Samples
  are numbered 0..n-1 (``sample_index``), each numbered sample is cached independently, and a request for samples
  starting at index ``i`` sends ``seed + i`` so top-up requests draw new samples rather than repeat the first.
* **Retries** are done here, not in the SDK (its own ``max_retries`` is 0): 429, 408, 409 and 5xx answers, timeouts,
  connection errors and malformed bodies (not JSON, no choices, every content null) are retried up to
  ``max_retries`` times with exponential backoff and jitter, waiting exactly ``Retry-After`` when the server sends
  one (capped at ``max_retry_after_s``). Other 4xx answers fail at once. Giving up raises :class:`LLMError` naming
  the model, the server, the attempts and the last error. Every retry is reported to ``on_retry`` (a
  :class:`RetryNotice`: the call's tag, the attempt, the reason and the wait), so a log says when one happened.
* **Usage.** A body without ``usage`` still gives completions; tokens are then estimated from text length (about 4
  characters a token) and flagged (``Completion.usage_estimated``). Tokens and USD go to a shared
  :class:`~llm_reward.backend.Usage`, which enforces the budget before and after each paid request.
* **Cassette.** With a :class:`~llm_reward.cassette.Cassette`, samples already recorded are replayed without a
  network call and new ones are recorded; in replay mode no client is even created, so no key is needed.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openai

from llm_reward.backend import (
    BudgetExceeded,
    CallRecord,
    Completion,
    Usage,
    estimate_tokens,
    price_usd,
)
from llm_reward.cassette import Cassette, cassette_key

__all__ = ["LLMError", "OpenAIBackend", "RetryNotice"]

_RETRYABLE_STATUS = frozenset({408, 409, 429})


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
        return (f"LLM call {self.tag}: attempt {self.attempt} of {self.max_attempts} failed ({self.reason}); "
                f"retrying in {self.wait_s:.2f} s{why}")


class _Malformed(Exception):
    """A 200 answer that holds no usable completion."""


class _NRejected(Exception):
    """The server refused a request for several choices (it supports one per request)."""


@dataclass(frozen=True)
class _Answer:
    texts: list[str]
    finish_reasons: list[str | None]
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None
    latency_s: float


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """Split an integer total over weights so that the parts are integers summing exactly to the total."""
    if not weights:
        return []
    w = [max(0.0, float(x)) for x in weights]
    if sum(w) <= 0:
        w = [1.0] * len(w)
    raw = [total * x / sum(w) for x in w]
    parts = [math.floor(r) for r in raw]
    by_fraction = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in by_fraction[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    return None


def _nonneg_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _parse_answer(text: str, content_type: str, latency_s: float) -> _Answer:
    """Read a chat-completion body defensively; raise :class:`_Malformed` when it holds no usable completion."""
    try:
        data = json.loads(text)
    except ValueError:
        snippet = text[:120].replace("\n", " ")
        raise _Malformed(f"body is not JSON (Content-Type {content_type or 'none'}): {snippet!r}") from None
    if not isinstance(data, dict):
        raise _Malformed(f"body is JSON but not an object: {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        detail = f" (server error: {error})" if error else ""
        raise _Malformed(f"no choices in the answer{detail}")
    texts: list[str] = []
    reasons: list[str | None] = []
    for choice in sorted(
        (c for c in choices if isinstance(c, dict)),
        key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0,
    ):
        message = choice.get("message")
        content = _content_text(message.get("content")) if isinstance(message, dict) else None
        if content is None:
            continue
        texts.append(content)
        reason = choice.get("finish_reason")
        reasons.append(reason if isinstance(reason, str) else None)
    if not texts:
        reasons_seen = sorted({str(c.get("finish_reason")) for c in choices if isinstance(c, dict)})
        raise _Malformed(f"every choice has null content (finish_reason {', '.join(reasons_seen) or 'none'})")
    usage = data.get("usage")
    prompt_tokens = completion_tokens = None
    if isinstance(usage, dict):
        prompt_tokens = _nonneg_int(usage.get("prompt_tokens"))
        completion_tokens = _nonneg_int(usage.get("completion_tokens"))
        if prompt_tokens is None or completion_tokens is None:
            prompt_tokens = completion_tokens = None
    model = data.get("model")
    return _Answer(
        texts=texts,
        finish_reasons=reasons,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        model=model if isinstance(model, str) and model else None,
        latency_s=latency_s,
    )


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
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


def _retry_reason(exc: BaseException | None, status: int | None) -> str:
    """Why a request is retried, in a few words (the server's own words cleaned and cut)."""
    from llm_reward.textsafe import one_line

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return one_line(f"connection error: {exc}", 200)
    if isinstance(exc, _Malformed):
        return one_line(f"malformed response: {exc}", 200)
    if status is not None:
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, str) and detail else getattr(exc, "message", None) or str(exc)
        return one_line(f"HTTP {status}: {detail}", 200)
    return one_line(f"{type(exc).__name__}: {exc}", 200)


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or "content" not in message:
            raise ValueError(f"messages[{i}] must be a dict with a 'role' string and a 'content'; got {message!r:.80}")


class OpenAIBackend:
    """Sample chat completions from an OpenAI-compatible server (see the module docstring).

    Args:
        model: model name sent to the server (and part of every cassette key).
        base_url: the server's ``/v1`` URL; None for the SDK's default (``OPENAI_BASE_URL`` or api.openai.com).
        api_key_env: environment variable holding the key; None for servers that need none.
        temperature: sampling temperature, forwarded (None: the server's default).
        seed: forwarded as ``seed + first sample index of the request``; None sends none.
        max_tokens: completion length cap, forwarded as ``max_tokens_field``; None sends none.
        timeout_s: per-request timeout in seconds.
        max_retries: retries after the first attempt of each request.
        prices: ``(usd_per_1k_prompt_tokens, usd_per_1k_completion_tokens)``; None when unknown (cost 0, and a
            ``max_usd`` budget is refused).
        cassette: a :class:`Cassette`, or a directory for one in "auto" mode; None records nothing.
        usage: shared accounting and budget; a fresh unlimited one when None.
        max_tokens_field: "max_tokens" (most servers) or "max_completion_tokens" (OpenAI reasoning models).
        extra_params: further request fields (``response_format``, ``top_p``, ...), sent in the body and part of
            the cassette key.
        backoff_s, max_backoff_s: exponential backoff ``min(max_backoff_s, backoff_s * 2**attempt)``, scaled by a
            random factor in [0.5, 1) (jitter).
        max_retry_after_s: longest ``Retry-After`` honoured.
        sleep: the sleep function (tests pass a recorder).
        jitter_seed: seed for the jitter's random generator.
        max_n_per_request: most choices asked for in one request (None: all at once). Set to 1 automatically when
            a server rejects ``n > 1`` (a 400/422, or a 5xx about "choice", as llama.cpp answers); the request is
            then repeated one choice at a time.
        on_retry: called with a :class:`RetryNotice` before each wait between attempts (``str()`` of it is a log
            line); an exception it raises is ignored.
    """

    name: str

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        temperature: float | None = 1.0,
        seed: int | None = None,
        max_tokens: int | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        prices: tuple[float, float] | None = None,
        cassette: Cassette | str | os.PathLike[str] | None = None,
        usage: Usage | None = None,
        *,
        max_tokens_field: str = "max_tokens",
        extra_params: Mapping[str, Any] | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter_seed: int | None = None,
        max_n_per_request: int | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string")
        if max_n_per_request is not None and max_n_per_request < 1:
            raise ValueError(f"max_n_per_request must be >= 1 or None, got {max_n_per_request}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1 or None, got {max_tokens}")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(
                f"max_tokens_field must be 'max_tokens' or 'max_completion_tokens', not {max_tokens_field!r}"
            )
        if prices is not None:
            prices = (float(prices[0]), float(prices[1]))
            if min(prices) < 0:
                raise ValueError(f"prices must be >= 0, got {prices}")
        reserved = {"model", "messages", "n", "seed", "temperature", "stream", max_tokens_field}
        if extra_params and reserved & set(extra_params):
            raise ValueError(f"extra_params may not set {sorted(reserved & set(extra_params))}; use the arguments")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.prices = prices
        self.cassette = cassette if isinstance(cassette, Cassette) or cassette is None else Cassette(Path(cassette))
        self.usage = usage if usage is not None else Usage()
        self.max_tokens_field = max_tokens_field
        self.extra_params = dict(extra_params or {})
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.max_n_per_request = max_n_per_request
        self._sleep = sleep
        self.on_retry = on_retry
        self._rng = random.Random(jitter_seed)
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self.http_requests = 0  # HTTP attempts made, failed ones included
        self.retries = 0  # attempts that were retries

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, base_url={self.base_url!r})"

    @property
    def params(self) -> dict[str, Any]:
        """The sampling parameters that define the distribution; part of every cassette key."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            **self.extra_params,
        }

    def key(self, messages: list[dict], sample_index: int) -> str:
        return cassette_key(self.model, messages, self.params, sample_index)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the Backend interface -------------------------------------------------------------------------------

    def generate(self, messages: list[dict], n: int, *, tag: str, first_index: int = 0) -> list[Completion]:
        """Return samples ``first_index .. first_index + n - 1`` for ``messages``, replayed or generated.

        Raises:
            CassetteMiss: replay mode and a sample is not recorded.
            BudgetExceeded: the next request would go over the budget (nothing sent), or the last one went over
                (its completions are on the exception and in the cassette).
            LLMError: the server failed for good, or the key's environment variable is not set.
        """
        _validate_messages(messages)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(first_index, int) or first_index < 0:
            raise ValueError(f"first_index must be a non-negative int, got {first_index!r}")
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a string naming the iteration/candidate, got {tag!r}")
        indices = list(range(first_index, first_index + n))
        keys = {i: self.key(messages, i) for i in indices}
        done: dict[int, Completion] = {}

        if self.cassette is not None:
            for i in indices:
                entry = self.cassette.lookup(keys[i], messages, slot=(tag, i))
                if entry is not None:
                    done[i] = self._from_entry(entry, i, keys[i])
            replayed = [done[i] for i in indices if i in done]
            if replayed:
                self.usage.add(
                    CallRecord(
                        tag=tag,
                        model=replayed[0].model,
                        samples=len(replayed),
                        prompt_tokens=sum(c.prompt_tokens for c in replayed),
                        completion_tokens=sum(c.completion_tokens for c in replayed),
                        cost_usd=sum(c.cost_usd for c in replayed),
                        latency_s=0.0,  # nothing waited now; each Completion keeps its original latency
                        cached=True,
                        estimated=any(c.usage_estimated for c in replayed),
                    )
                )

        while missing := [i for i in indices if i not in done]:
            k = min(len(missing), self.max_n_per_request or len(missing))
            self._check_budget_before(messages, k)
            try:
                answer = self._request(messages, k, missing[0], tag)
            except _NRejected:
                self.max_n_per_request = 1  # e.g. llama.cpp: "Only one completion choice is allowed"
                continue
            fresh = self._completions(messages, answer, missing, keys, tag)
            done.update((c.sample_index, c) for c in fresh)
            reason = self.usage.exceeded()
            if reason is not None:
                raise BudgetExceeded(reason, before_call=False, completions=[done[i] for i in sorted(done)])
        return [done[i] for i in indices]

    # internals -------------------------------------------------------------------------------------------

    def _from_entry(self, entry: dict[str, Any], index: int, key: str) -> Completion:
        usage = entry.get("usage") or {}
        prompt_tokens = _nonneg_int(usage.get("prompt_tokens")) or 0
        completion_tokens = _nonneg_int(usage.get("completion_tokens")) or 0
        response = entry["response"]
        return Completion(
            text=response["text"],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=float(entry.get("latency_s") or 0.0),
            cost_usd=price_usd(prompt_tokens, completion_tokens, self.prices),
            cached=True,
            model=str(response.get("model") or self.model),
            sample_index=index,
            key=key,
            usage_estimated=bool(usage.get("estimated", False)),
            fixture=bool(entry.get("fixture", False)),
            finish_reason=response.get("finish_reason"),
        )

    def _check_budget_before(self, messages: list[dict], k: int) -> None:
        if self.usage.max_usd is not None and self.prices is None:
            raise ValueError(
                f"a max_usd budget of ${self.usage.max_usd} cannot be enforced without prices: "
                f"pass prices=(usd_per_1k_prompt, usd_per_1k_completion) to {self!r}"
            )
        prompt = estimate_tokens(messages)
        per_sample = self.max_tokens if self.max_tokens is not None else self.usage.mean_completion_tokens()
        self.usage.check(prompt + k * per_sample, price_usd(prompt, k * per_sample, self.prices))

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

    def _request(self, messages: list[dict], k: int, first: int, tag: str = "") -> _Answer:
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
                return _parse_answer(raw.text, raw.headers.get("content-type", ""), time.monotonic() - start)
            except openai.APIStatusError as exc:
                last, status = exc, exc.status_code
                if k > 1 and (status in (400, 422) or (status >= 500 and "choice" in str(exc.message).lower())):
                    raise _NRejected from exc
                if status not in _RETRYABLE_STATUS and status < 500:
                    hint = f" (check {self.api_key_env})" if status in (401, 403) and self.api_key_env else ""
                    raise LLMError(
                        f"{where} refused the request with HTTP {status}{hint}: {exc.message}",
                        attempts=attempt + 1,
                        status=status,
                        last_error=exc,
                    ) from exc
                retry_after = _retry_after_s(exc.response.headers)
            except (openai.APITimeoutError, openai.APIConnectionError, _Malformed) as exc:
                last, status = exc, None
            if attempt < self.max_retries:
                wait = self._backoff(attempt, retry_after)
                self._notify_retry(RetryNotice(
                    tag=tag, attempt=attempt + 1, max_attempts=self.max_retries + 1, reason=_retry_reason(last, status),
                    wait_s=wait, status=status, retry_after=retry_after is not None,
                ))
                self._sleep(wait)
        describe = f"HTTP {status}: " if status is not None else ""
        kind = type(last).__name__ if not isinstance(last, _Malformed) else "malformed response"
        raise LLMError(
            f"{where} failed after {self.max_retries + 1} attempts; last error ({kind}) {describe}{last}",
            attempts=self.max_retries + 1,
            status=status,
            last_error=last,
        ) from last

    def _completions(
        self, messages: list[dict], answer: _Answer, missing: list[int], keys: Mapping[int, str], tag: str
    ) -> list[Completion]:
        """Turn one answer into completions for the first of ``missing``; account, and record to the cassette."""
        estimated = answer.prompt_tokens is None
        if estimated:
            prompt_total = estimate_tokens(messages)
            completion_parts = [estimate_tokens(t) for t in answer.texts]
            completion_total = sum(completion_parts)
        else:
            prompt_total = int(answer.prompt_tokens or 0)
            completion_total = int(answer.completion_tokens or 0)
            completion_parts = _split(completion_total, [len(t) + 1 for t in answer.texts])
        prompt_parts = _split(prompt_total, [1.0] * len(answer.texts))
        model = answer.model or self.model
        out: list[Completion] = []
        for j, index in enumerate(missing[: len(answer.texts)]):
            completion = Completion(
                text=answer.texts[j],
                prompt_tokens=prompt_parts[j],
                completion_tokens=completion_parts[j],
                latency_s=answer.latency_s,
                cost_usd=price_usd(prompt_parts[j], completion_parts[j], self.prices),
                cached=False,
                model=model,
                sample_index=index,
                key=keys[index],
                usage_estimated=estimated,
                finish_reason=answer.finish_reasons[j],
            )
            out.append(completion)
            if self.cassette is not None:
                self.cassette.store(
                    completion.key,
                    model=self.model,
                    messages=messages,
                    params=self.params,
                    sample_index=index,
                    text=completion.text,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    latency_s=completion.latency_s,
                    served_model=model,
                    finish_reason=completion.finish_reason,
                    usage_estimated=estimated,
                )
        # the request's full usage is what was paid, extra or dropped choices included
        self.usage.add(
            CallRecord(
                tag=tag,
                model=model,
                samples=len(out),
                prompt_tokens=prompt_total,
                completion_tokens=completion_total,
                cost_usd=price_usd(prompt_total, completion_total, self.prices),
                latency_s=answer.latency_s,
                cached=False,
                estimated=estimated,
            )
        )
        return out
