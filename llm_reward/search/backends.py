"""The backend a search drives, and what kind it is.

A :class:`SearchBackend` wraps whatever meets :class:`~llm_reward.backend.Backend` with an explicit
:class:`BackendKind`: an LLM can be asked for a review (the critic) and keeps accounts (usage, cassette, HTTP
attempts) that ``search.json`` sums; the offline mutation backend recombines the task's state fields and can do
neither. The loop asks the kind, never the object's attributes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from envs.registry import Task
from llm_reward.backend import Backend, Completion
from llm_reward.search.config import SearchConfig
from llm_reward.search.errors import SearchError

if TYPE_CHECKING:
    from collections.abc import Callable

    from llm_reward.client import OpenAIBackend


class BackendKind(enum.Enum):
    MUTATION = "mutation"  # offline: no model, no bill
    LLM = "llm"  # an OpenAI-compatible model (live or replayed from a cassette)


@dataclass
class SearchBackend:
    """A generator and its kind. ``generate`` is the generator's; the rest depends on the kind."""

    generator: Backend
    kind: BackendKind

    @property
    def asks_a_model(self) -> bool:
        """A model answers: it can review a candidate (the critic) and it keeps accounts."""
        return self.kind is BackendKind.LLM

    def generate(self, messages: list[dict[str, Any]], n: int, *, tag: str) -> list[Completion]:
        return self.generator.generate(messages, n, tag=tag)

    def accounts(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """This invocation's LLM usage (live, replayed, per tag, cassette counters, HTTP attempts) and the budget;
        None for the mutation backend, which keeps no accounts."""
        if not self.asks_a_model:
            return None
        llm = cast("OpenAIBackend", self.generator)
        d = llm.usage.to_dict()
        out: dict[str, Any] = {"live": d["live"], "replayed": d["replayed"], "by_tag": d["by_tag"]}
        if llm.cassette is not None:
            out["cassette"] = {"directory": str(llm.cassette.directory), **llm.cassette.counters()}
        out["http_requests"], out["retries"] = llm.http_requests, llm.retries
        return out, d.get("budget") or {}


def make_backend(
    cfg: SearchConfig, task: Task, search_dir: Path, log: Callable[[str], None] | None = None
) -> SearchBackend:
    """The search's backend; with ``log``, every retried LLM request logs a line (reason and wait)."""
    if cfg.backend == "mutation":
        from llm_reward.mutation import MutationBackend

        return SearchBackend(MutationBackend(state_fields(task), seed=cfg.seed), BackendKind.MUTATION)
    if cfg.backend == "openai":
        from llm_reward.backend import Usage
        from llm_reward.cassette import Cassette
        from llm_reward.client import OpenAIBackend

        if cfg.cassette and cfg.cassette.startswith("shipped:"):
            from llm_reward.cassette import shipped_cassette

            try:
                cas = shipped_cassette(
                    cfg.cassette.removeprefix("shipped:"), mode="replay"
                )  # read-only, in the package
            except FileNotFoundError as e:
                raise SearchError(str(e)) from None
            written_for = cas.manifest().get("task")
            if written_for and written_for != task.id:
                raise SearchError(f"cassette {cfg.cassette} was written for {written_for}, not {task.id}")
        else:
            cas = Cassette(cfg.cassette or str(search_dir / "cassette"), mode=cfg.cassette_mode)
        usage = Usage(max_tokens=cfg.budget_tokens, max_usd=cfg.budget_usd, count_replayed=True)
        llm = OpenAIBackend(
            cfg.model,
            base_url=cfg.base_url,
            api_key_env=cfg.api_key_env or None,
            temperature=cfg.temperature,
            seed=cfg.seed,
            cassette=cas,
            usage=usage,
            timeout_s=cfg.timeout_s,
            on_retry=(lambda notice: log(str(notice))) if log is not None else None,
        )
        return SearchBackend(llm, BackendKind.LLM)
    raise SearchError(f"unknown backend {cfg.backend!r}; valid: mutation, openai")


def state_fields(task: Task) -> list[str]:
    """Scalar float fields of the task's state view (what the mutation backend may combine)."""
    from rewardlab.wrappers import make_vector_env

    venv = make_vector_env(task, 2)
    obs, info = venv.reset(seed=0)
    venv.close()
    view = task.view(obs, info)
    return [k for k, v in view.items() if (a := np.asarray(v)).ndim == 1 and a.dtype.kind == "f"]
