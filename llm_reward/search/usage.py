"""The LLM bill of a search, summed over every invocation of its command, so re-running a search never resets it."""

from __future__ import annotations

from typing import Any

_TOTAL_FIELDS = (
    "calls",
    "samples",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "latency_s",
    "estimated_calls",
)
_CASSETTE_FIELDS = ("hits", "fixture_hits", "misses", "recorded")


def total_usage(invocations: list[dict[str, Any]], budget: dict[str, Any] | None = None) -> dict[str, Any]:
    """``search.json``'s ``usage``: every invocation's LLM usage summed (live and replayed calls, tokens, cost,
    per tag, cassette counters, HTTP attempts and retries), with the budget and the number of invocations."""
    live: dict[str, Any] = {}
    replayed: dict[str, Any] = {}
    by_tag: dict[str, dict[str, Any]] = {}
    cassette: dict[str, Any] | None = None
    http = {"http_requests": 0, "retries": 0}
    for inv in invocations:
        u = inv.get("usage")
        if not u:
            continue
        live = _add(live, u.get("live"), _TOTAL_FIELDS)
        replayed = _add(replayed, u.get("replayed"), _TOTAL_FIELDS)
        for tag, t in (u.get("by_tag") or {}).items():
            by_tag[tag] = _add(by_tag.get(tag), t, _TOTAL_FIELDS)
        if u.get("cassette"):
            dirs = [*(cassette or {}).get("directories", []), u["cassette"].get("directory")]
            cassette = {
                "directory": u["cassette"].get("directory"),
                **_add(cassette, u["cassette"], _CASSETTE_FIELDS),
                "directories": list(dict.fromkeys(d for d in dirs if d)),
            }
        for k in http:
            http[k] += int(u.get(k) or 0)
    out: dict[str, Any] = {
        "live": live or _add({}, {}, _TOTAL_FIELDS),
        "replayed": replayed or _add({}, {}, _TOTAL_FIELDS),
        "by_tag": by_tag,
        "budget": budget or {},
        **http,
        "invocations": len(invocations),
    }
    if cassette is not None:
        out["cassette"] = cassette
    return out


def legacy_invocation(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage of a search saved before invocations were kept, as one invocation (what it recorded last)."""
    u = {k: usage[k] for k in ("live", "replayed", "by_tag") if k in usage}
    if usage.get("cassette_this_session"):
        u["cassette"] = usage["cassette_this_session"]
    return {
        "started": None,
        "ended": None,
        "outcome": "unknown (recorded before search.json kept invocations)",
        "usage": u,
    }


def _add(a: dict[str, Any] | None, b: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    a, b = a or {}, b or {}
    return {k: a.get(k, 0) + b.get(k, 0) for k in keys}
