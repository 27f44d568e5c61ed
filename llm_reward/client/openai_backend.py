""":class:`OpenAIBackend`: its arguments, its sampling parameters and cassette key, and ``generate``.

The request and its retries are :class:`~llm_reward.client.transport.ChatTransport`'s, the cassette and the
accounting :class:`~llm_reward.client.accounting.SampleAccounting`'s; the behaviour the search loop relies on
is described in :mod:`llm_reward.client`.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import openai

from llm_reward.backend import BudgetExceeded, Completion, Usage
from llm_reward.cassette import Cassette, cassette_key
from llm_reward.client.accounting import SampleAccounting
from llm_reward.client.retry import NRejected, RetryNotice
from llm_reward.client.transport import ChatTransport


def validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or "content" not in message:
            raise ValueError(f"messages[{i}] must be a dict with a 'role' string and a 'content'; got {message!r:.80}")


class OpenAIBackend(ChatTransport, SampleAccounting):
    """Sample chat completions from an OpenAI-compatible server (see :mod:`llm_reward.client`).

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
        validate_messages(messages)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not isinstance(first_index, int) or first_index < 0:
            raise ValueError(f"first_index must be a non-negative int, got {first_index!r}")
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a string naming the iteration/candidate, got {tag!r}")
        indices = list(range(first_index, first_index + n))
        keys = {i: self.key(messages, i) for i in indices}
        done = self._replay(messages, indices, keys, tag)

        while missing := [i for i in indices if i not in done]:
            k = min(len(missing), self.max_n_per_request or len(missing))
            self._check_budget_before(messages, k)
            try:
                answer = self._request(messages, k, missing[0], tag)
            except NRejected:
                self.max_n_per_request = 1  # e.g. llama.cpp: "Only one completion choice is allowed"
                continue
            fresh = self._completions(messages, answer, missing, keys, tag)
            done.update((c.sample_index, c) for c in fresh)
            reason = self.usage.exceeded()
            if reason is not None:
                raise BudgetExceeded(reason, before_call=False, completions=[done[i] for i in sorted(done)])
        return [done[i] for i in indices]
