"""Why a search stops before it finishes."""

from __future__ import annotations


class SearchError(RuntimeError):
    """A search that cannot go on (bad settings, a resumed search with another config, an LLM that failed for good);
    the message says why. Everything finished before it is saved, and re-running resumes."""


class SearchPaused(SearchError):
    """The search waits for a person (a ranking of rollouts); re-running the command continues it."""
