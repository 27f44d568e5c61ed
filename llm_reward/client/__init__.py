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

The package: :mod:`~llm_reward.client.openai_backend` (the backend, ``generate``),
:mod:`~llm_reward.client.transport` (the ``openai`` client, one request with retries),
:mod:`~llm_reward.client.retry` (what is retried, the waits, :class:`RetryNotice`, :class:`LLMError`),
:mod:`~llm_reward.client.answer` (reading a chat-completion body) and :mod:`~llm_reward.client.accounting`
(cassette replay and recording, budget checks, usage).
"""

from llm_reward.client.openai_backend import OpenAIBackend
from llm_reward.client.retry import LLMError, RetryNotice

__all__ = ["LLMError", "OpenAIBackend", "RetryNotice"]
