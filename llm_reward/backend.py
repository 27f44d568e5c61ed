"""The generation interface every LLM backend implements, and token/cost accounting with a hard budget.

A backend turns a chat prompt into ``n`` independent samples (:class:`Completion`). The OpenAI-compatible
client (:mod:`llm_reward.client`) and the LLM-free mutation backend both meet :class:`Backend`, so the
search loop never knows which one it drives.

Accounting lives in :class:`Usage`, shared by every backend of a run. Each backend reports one
:class:`CallRecord` per request (or per batch replayed from a cassette) under a *tag* naming the
iteration and candidate, e.g. ``"iter3/cand2"`` or ``"iter3/repair1"``. Totals are available per call
(:attr:`Usage.records`), per tag or tag prefix (``usage.totals("iter3")`` sums ``iter3`` and every
``iter3/...``) and per run (``usage.totals()``).

Budget semantics (:class:`BudgetExceeded`):

* **before** a paid request, the backend calls :meth:`Usage.check` with an estimate of the request's
  tokens and cost (prompt length / 4, plus ``max_tokens`` or the mean completion length seen so far per
  sample). If the spend so far plus that estimate exceeds ``max_tokens`` or ``max_usd``, the request is not
  made;
* **after** a request, its actual usage is recorded; if the spend now exceeds a limit, the backend raises
  :class:`BudgetExceeded` carrying the completions it already paid for (``exc.completions``; a cassette has
  stored them too, so a resumed run replays them for free).

Only live (paid) requests count toward the budget by default. Pass ``count_replayed=True`` when a resumed
run replays calls that the same logical run paid for before it was killed, so the budget covers the whole
run rather than each process.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "BudgetExceeded",
    "CallRecord",
    "Completion",
    "Totals",
    "Usage",
    "estimate_tokens",
    "price_usd",
]


@dataclass(frozen=True)
class Completion:
    """One sampled response.

    Attributes:
        text: the response text (may be empty, never None).
        prompt_tokens: this sample's share of the request's prompt tokens (a request with ``n`` choices
            pays its prompt once; the share is split so that shares sum to the request's count).
        completion_tokens: this sample's completion tokens (the request's total split by text length when the
            server reports one total for all choices).
        latency_s: wall-clock seconds of the request that produced it (the original request when replayed).
        cost_usd: USD of this sample's tokens at the backend's prices.
        cached: True when replayed from a cassette (no network call, nothing paid now).
        model: the model that produced it (as the server named it, else as requested).
        sample_index: index of this sample for its prompt and parameters (0, 1, ...); part of the cassette key.
        key: the cassette key (sha256 hex) of (model, messages, params, sample_index).
        usage_estimated: True when the server reported no usage and tokens were estimated from text length.
        fixture: True when replayed from a hand-written cassette entry rather than a real model's output.
        finish_reason: the server's finish reason ("stop", "length", ...) when known.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    cached: bool
    model: str
    sample_index: int
    key: str
    usage_estimated: bool = False
    fixture: bool = False
    finish_reason: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@runtime_checkable
class Backend(Protocol):
    """Anything that samples responses to a chat prompt.

    ``messages`` are OpenAI-style chat messages (``{"role": ..., "content": ...}``). ``generate`` returns exactly
    ``n`` completions with ``sample_index`` 0..n-1, or raises. ``tag`` names the iteration/candidate the call is
    made for; it is used for accounting only and never changes what is generated.
    """

    name: str

    def generate(self, messages: list[dict], n: int, *, tag: str) -> list[Completion]: ...


class BudgetExceeded(RuntimeError):
    """A token or USD budget stops the run.

    Attributes:
        reason: which limit, with the numbers.
        before_call: True when raised before a request was made (estimate), False after (actual spend).
        completions: completions already paid for by the request that crossed the limit (empty before a call).
    """

    def __init__(self, reason: str, *, before_call: bool, completions: Sequence[Completion] = ()) -> None:
        when = "before the call" if before_call else "after the call"
        super().__init__(f"LLM budget exceeded {when}: {reason}")
        self.reason = reason
        self.before_call = before_call
        self.completions = list(completions)


@dataclass(frozen=True)
class CallRecord:
    """Usage of one request (or one batch of samples replayed from a cassette)."""

    tag: str
    model: str
    samples: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    cached: bool = False
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Totals:
    """Summed usage over a set of :class:`CallRecord`."""

    calls: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    estimated_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_tokens": self.total_tokens}


def _sum(records: Iterable[CallRecord]) -> Totals:
    records = list(records)
    return Totals(
        calls=len(records),
        samples=sum(r.samples for r in records),
        prompt_tokens=sum(r.prompt_tokens for r in records),
        completion_tokens=sum(r.completion_tokens for r in records),
        cost_usd=float(sum(r.cost_usd for r in records)),
        latency_s=float(sum(r.latency_s for r in records)),
        estimated_calls=sum(r.estimated for r in records),
    )


def price_usd(prompt_tokens: float, completion_tokens: float, prices: tuple[float, float] | None) -> float:
    """Cost in USD for token counts at ``prices = (usd_per_1k_prompt, usd_per_1k_completion)``; 0 when unknown."""
    if prices is None:
        return 0.0
    return prompt_tokens / 1000.0 * prices[0] + completion_tokens / 1000.0 * prices[1]


def estimate_tokens(text: str | Sequence[dict]) -> int:
    """Rough token count: about 4 characters per token, plus 4 per chat message for role framing."""
    if isinstance(text, str):
        return math.ceil(len(text) / 4)
    total = 0
    for message in text:
        content = message.get("content")
        if isinstance(content, list):  # multi-part content: count the text parts
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        total += 4 + math.ceil(len(str(content or "")) / 4)
    return total


@dataclass
class Usage:
    """Token and cost accounting for one run, with an optional hard budget. Thread-safe.

    Args:
        max_tokens: budget on prompt + completion tokens of counted calls; None for no limit.
        max_usd: budget on USD of counted calls; None for no limit. Backends without prices cannot enforce it
            and refuse to run under it.
        count_replayed: count calls replayed from a cassette toward the budget (for resumed runs).
    """

    max_tokens: int | None = None
    max_usd: float | None = None
    count_replayed: bool = False
    records: list[CallRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_usd"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"Usage.{name} must be >= 0 or None, got {value!r}")
        self._lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        """Record one call. Never raises; see :meth:`exceeded`."""
        with self._lock:
            self.records.append(record)

    def totals(self, tag: str | None = None, *, cached: bool | None = False) -> Totals:
        """Summed usage.

        Args:
            tag: None for the whole run; else records whose tag equals ``tag`` or starts with ``tag + "/"``.
            cached: False for live (paid) calls only, True for replayed calls only, None for both.
        """
        with self._lock:
            records = list(self.records)
        return _sum(
            r
            for r in records
            if (cached is None or r.cached == cached) and (tag is None or r.tag == tag or r.tag.startswith(tag + "/"))
        )

    def by_tag(self, *, cached: bool | None = False) -> dict[str, Totals]:
        """Totals per exact tag, in first-seen order."""
        with self._lock:
            records = list(self.records)
        groups: dict[str, list[CallRecord]] = {}
        for r in records:
            if cached is None or r.cached == cached:
                groups.setdefault(r.tag, []).append(r)
        return {tag: _sum(rs) for tag, rs in groups.items()}

    def spent(self) -> Totals:
        """What counts toward the budget: live calls, plus replayed ones when ``count_replayed``."""
        return self.totals(cached=None if self.count_replayed else False)

    def mean_completion_tokens(self) -> float:
        """Mean completion tokens per sample over live calls (0 before any)."""
        live = self.totals()
        return live.completion_tokens / live.samples if live.samples else 0.0

    def exceeded(self, extra_tokens: float = 0.0, extra_usd: float = 0.0) -> str | None:
        """The limit that the spend (plus an optional estimate) goes over, as a message; None within budget."""
        spent = self.spent()
        if self.max_tokens is not None and spent.total_tokens + extra_tokens > self.max_tokens:
            return (
                f"tokens {spent.total_tokens} spent + {extra_tokens:.0f} estimated > max_tokens {self.max_tokens}"
                if extra_tokens
                else f"tokens {spent.total_tokens} spent > max_tokens {self.max_tokens}"
            )
        if self.max_usd is not None and spent.cost_usd + extra_usd > self.max_usd:
            return (
                f"${spent.cost_usd:.4f} spent + ${extra_usd:.4f} estimated > max_usd ${self.max_usd:.4f}"
                if extra_usd
                else f"${spent.cost_usd:.4f} spent > max_usd ${self.max_usd:.4f}"
            )
        return None

    def check(self, est_tokens: float, est_usd: float) -> None:
        """Raise :class:`BudgetExceeded` (before_call=True) when a call of this estimated size would go over."""
        reason = self.exceeded(est_tokens, est_usd)
        if reason is not None:
            raise BudgetExceeded(reason, before_call=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: run totals (live and replayed), per-tag live totals, and the budget."""
        return {
            "live": self.totals().to_dict(),
            "replayed": self.totals(cached=True).to_dict(),
            "by_tag": {tag: t.to_dict() for tag, t in self.by_tag(cached=None).items()},
            "budget": {"max_tokens": self.max_tokens, "max_usd": self.max_usd, "count_replayed": self.count_replayed},
        }
