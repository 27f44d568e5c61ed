"""A chat-completion body read defensively: the texts of its choices, their finish reasons, the usage it reports.

A 200 answer that holds no usable completion (not JSON, no choices, every content null) raises
:class:`Malformed`, which the transport retries like a failed request.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


class Malformed(Exception):
    """A 200 answer that holds no usable completion."""


@dataclass(frozen=True)
class Answer:
    texts: list[str]
    finish_reasons: list[str | None]
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None
    latency_s: float


def content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    return None


def nonneg_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return int(value)


def parse_answer(text: str, content_type: str, latency_s: float) -> Answer:
    """Read a chat-completion body defensively; raise :class:`Malformed` when it holds no usable completion."""
    try:
        data = json.loads(text)
    except ValueError:
        snippet = text[:120].replace("\n", " ")
        raise Malformed(f"body is not JSON (Content-Type {content_type or 'none'}): {snippet!r}") from None
    if not isinstance(data, dict):
        raise Malformed(f"body is JSON but not an object: {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        detail = f" (server error: {error})" if error else ""
        raise Malformed(f"no choices in the answer{detail}")
    texts: list[str] = []
    reasons: list[str | None] = []
    for choice in sorted(
        (c for c in choices if isinstance(c, dict)),
        key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0,
    ):
        message = choice.get("message")
        content = content_text(message.get("content")) if isinstance(message, dict) else None
        if content is None:
            continue
        texts.append(content)
        reason = choice.get("finish_reason")
        reasons.append(reason if isinstance(reason, str) else None)
    if not texts:
        reasons_seen = sorted({str(c.get("finish_reason")) for c in choices if isinstance(c, dict)})
        raise Malformed(f"every choice has null content (finish_reason {', '.join(reasons_seen) or 'none'})")
    usage = data.get("usage")
    prompt_tokens = completion_tokens = None
    if isinstance(usage, dict):
        prompt_tokens = nonneg_int(usage.get("prompt_tokens"))
        completion_tokens = nonneg_int(usage.get("completion_tokens"))
        if prompt_tokens is None or completion_tokens is None:
            prompt_tokens = completion_tokens = None
    model = data.get("model")
    return Answer(
        texts=texts,
        finish_reasons=reasons,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        model=model if isinstance(model, str) and model else None,
        latency_s=latency_s,
    )
