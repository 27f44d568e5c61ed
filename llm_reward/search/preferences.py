"""Rankings of rollouts (ICPL): with a ranker, each iteration's trained candidates are ranked, most preferred
first, and the ranking (not the fitness) picks the iteration's best and feeds the next prompt.

The rankings live in one JSON file (``SEARCH_DIR/preferences.json`` unless ``--preferences`` names another)::

    {"iter_0": {"order": [2, 0, 1], "note": "cand 2 wobbles less", "source": "human"}}

``synthetic`` writes them itself (ranked by fitness: tests and benchmarks); ``human`` pauses the search with a
``RANK_ME.md`` listing the rollout videos until :func:`record_ranking` (``rewardlab rank``) stores one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llm_reward.search.candidates import Candidate, CandidateStore
from llm_reward.search.config import SearchConfig
from llm_reward.search.errors import SearchError
from llm_reward.search.selection import rank_key
from rewardlab.experiment.store import atomic_write_json, atomic_write_text


def preferences_path(sdir: Path, cfg: SearchConfig) -> Path:
    return Path(cfg.preferences) if cfg.preferences else sdir / "preferences.json"


def read_preferences(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        d = json.loads(path.read_text())
    except ValueError as e:
        raise SearchError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise SearchError(f'{path} must hold an object like {{"iter_0": {{"order": [2, 0, 1]}}}}')
    return d


def iteration_ranking(cfg: SearchConfig, sdir: Path, it: int, trained: list[Candidate]) -> list[int] | None:
    """The iteration's ranking (candidate indices, most preferred first), or None while a person has not ranked."""
    path = preferences_path(sdir, cfg)
    prefs = read_preferences(path)
    idx = [c.index for c in trained]
    key = f"iter_{it}"
    if key not in prefs and cfg.ranker == "synthetic":
        # stands in for a person in tests and benchmarks: ranks by the fitness of the rollout a person would watch
        order = [c.index for c in sorted(trained, key=rank_key, reverse=True)]
        prefs[key] = {"order": order, "source": "synthetic (by final fitness)"}
        atomic_write_json(path, prefs)
    if key not in prefs:
        lines = [
            f"# Rank the rollouts of iteration {it}",
            "",
            "Watch each video, then rank the candidates, most preferred first:",
            "",
            f'    rewardlab rank {sdir} --iteration {it} {",".join(map(str, idx))} [--note "..."]',
            "",
        ]
        for c in trained:
            lines.append(
                f"- candidate {c.index}: {sdir / c.dir / 'rollout.gif'} (reward: {sdir / c.dir / 'reward.py'})"
            )
        atomic_write_text(sdir / f"iter_{it}" / "RANK_ME.md", "\n".join(lines) + "\n")
        return None
    order = [int(j) for j in prefs[key].get("order", [])]
    unknown = [j for j in order if j not in idx]
    if unknown or not order:
        raise SearchError(f"{path}: ranking of {key} must order candidates {idx}, got {order}")
    return order + [j for j in idx if j not in order]


def preference_feedback(sdir: Path, cfg: SearchConfig, it: int) -> dict[str, Any] | None:
    """What the next prompt is told about iteration ``it``'s ranking: the order, the note and the least preferred
    reward's code; None before it was ranked."""
    entry = read_preferences(preferences_path(sdir, cfg)).get(f"iter_{it}")
    if not entry or not entry.get("order"):
        return None
    order = [f"cand_{j}" for j in entry["order"]]
    worst = sdir / f"iter_{it}" / order[-1] / "reward.py"
    return {
        "ranking": order,
        "note": entry.get("note"),
        "worst_code": worst.read_text() if len(order) > 1 and worst.exists() else None,
    }


def record_ranking(
    sdir: Path, iteration: int, order_text: str, note: str | None = None, preferences: str | None = None
) -> tuple[Path, list[int]]:
    """Store a person's ranking of one iteration (``"2,0,1"``, most preferred first) for the search to continue
    with; returns the rankings file and the order. Raises :class:`SearchError` for a ranking that does not order
    every trained candidate of the iteration exactly once, writing nothing."""
    state = sdir / "search.json"
    if not state.is_file():
        raise SearchError(f"{sdir} is not a search directory (no search.json)")
    store = CandidateStore.from_json(json.loads(state.read_text())["candidates"])
    trained = sorted(c.index for c in store if c.iteration == iteration and c.run_id)
    if not trained:
        raise SearchError(f"iteration {iteration} of {sdir} has no trained candidates to rank")
    try:
        order = [int(x) for x in order_text.split(",") if x.strip()]
    except ValueError:
        raise SearchError(
            f"ranking must be candidate numbers separated by commas, like 2,0,1; got {order_text!r}"
        ) from None
    if sorted(order) != trained:
        raise SearchError(f"rank every trained candidate of iteration {iteration} exactly once: {trained}; got {order}")
    path = Path(preferences) if preferences else sdir / "preferences.json"
    prefs = read_preferences(path)
    prefs[f"iter_{iteration}"] = {"order": order, "note": note, "source": "human"}
    atomic_write_json(path, prefs)
    return path, order
