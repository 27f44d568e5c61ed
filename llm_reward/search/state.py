"""``search.json``: the state of a search (:class:`SearchState`) and how one invocation of the search command
keeps it (:class:`SearchRecord`), written atomically after each validated candidate and each iteration."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llm_reward.search.backends import SearchBackend
from llm_reward.search.candidates import CandidateStore
from llm_reward.search.errors import SearchPaused
from llm_reward.search.usage import total_usage
from llm_reward.textsafe import MESSAGE_LIMIT, clean_message
from rewardlab.experiment.store import atomic_write_json


@dataclass
class SearchState:
    """``search.json``. ``usage`` is summed over ``invocations``: one entry per run of the search command (when it
    started, its outcome, the iterations and candidates it did, its own LLM usage), so nothing is ever reset.

    :param config: :meth:`SearchConfig.identity` of the search; a resumed search must match it.
    :param next_iteration: the first iteration not finished.
    :param best: the id of the best candidate so far.
    :param best_per_iteration: per finished iteration, its best candidate, score, final fitness and the best so far.
    :param final: the re-training on fresh seeds, the declared best and the baselines (once the search finished).
    """

    config: dict[str, Any]
    next_iteration: int = 0
    candidates: CandidateStore = field(default_factory=CandidateStore)
    best: str | None = None
    best_per_iteration: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["candidates"] = self.candidates.to_json()
        return copy.deepcopy(d)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SearchState:
        return cls(**{**d, "candidates": CandidateStore.from_json(d.get("candidates", []))})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def start_invocation(st: SearchState, started: str) -> dict[str, Any]:
    """This run of the search command, appended to ``invocations``; the loop counts its work into it."""
    inv: dict[str, Any] = {
        "started": started,
        "updated": started,
        "ended": None,
        "outcome": "running",
        "from_iteration": st.next_iteration,
        "to_iteration": st.next_iteration,
        "candidates_validated": 0,
        "repairs": 0,
    }
    st.invocations.append(inv)
    return inv


class SearchRecord:
    """``search.json`` as one invocation keeps it: the state, this invocation's entry and the backend whose accounts
    are summed into ``usage`` at every :meth:`save`."""

    def __init__(self, path: Path, state: SearchState, invocation: dict[str, Any], backend: SearchBackend) -> None:
        self.path, self.state, self.invocation, self.backend = path, state, invocation, backend

    def save(self) -> None:
        st, inv = self.state, self.invocation
        inv.update(updated=now(), to_iteration=st.next_iteration)
        got = self.backend.accounts()
        if got is not None:
            inv["usage"], budget = got
            st.usage = total_usage(st.invocations, budget)
            if "cassette" in inv["usage"]:
                st.usage["cassette_this_session"] = inv["usage"]["cassette"]
        atomic_write_json(self.path, st.to_json())

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        """Record how this invocation ended; never masks the error that ended it."""
        self.invocation.update(outcome=outcome, ended=now())
        if error is not None and not isinstance(error, SearchPaused | KeyboardInterrupt):
            self.invocation["error"] = clean_message(str(error), MESSAGE_LIMIT)
        try:
            self.save()
        except Exception:
            pass
