"""What each sample cost and where it is kept, for :class:`~llm_reward.client.OpenAIBackend`.

Samples already in the cassette are replayed (and accounted as cached); before a paid request the budget is
checked against an estimate; an answer becomes numbered completions whose tokens split the request's usage
exactly, each recorded to the cassette, and the request's full usage is accounted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from llm_reward.backend import CallRecord, Completion, Usage, estimate_tokens, price_usd
from llm_reward.cassette import Cassette
from llm_reward.client.answer import Answer, nonneg_int


def split_total(total: int, weights: Sequence[float]) -> list[int]:
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


class SampleAccounting:
    """Cassette replay and recording, budget checks and usage, a mixin of :class:`~llm_reward.client.OpenAIBackend`
    (which sets every attribute below in its ``__init__``)."""

    model: str
    max_tokens: int | None
    prices: tuple[float, float] | None
    cassette: Cassette | None
    usage: Usage
    params: dict[str, Any]  # the sampling parameters (a property of OpenAIBackend)

    def _replay(
        self, messages: list[dict], indices: list[int], keys: Mapping[int, str], tag: str
    ) -> dict[int, Completion]:
        """The samples of ``indices`` the cassette holds, accounted as one cached call."""
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
        return done

    def _from_entry(self, entry: dict[str, Any], index: int, key: str) -> Completion:
        usage = entry.get("usage") or {}
        prompt_tokens = nonneg_int(usage.get("prompt_tokens")) or 0
        completion_tokens = nonneg_int(usage.get("completion_tokens")) or 0
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

    def _completions(
        self, messages: list[dict], answer: Answer, missing: list[int], keys: Mapping[int, str], tag: str
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
            completion_parts = split_total(completion_total, [len(t) + 1 for t in answer.texts])
        prompt_parts = split_total(prompt_total, [1.0] * len(answer.texts))
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
