"""The candidate store: every reward program of a search as a typed :class:`Candidate`, from the moment it is
validated to its score, kept in ``search.json``'s ``candidates`` in the order they were made."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_reward.search.config import SANDBOX_SPECS, SearchConfig
from rewardlab.experiment.runner import RunConfig


@dataclass
class Candidate:
    """One reward program: where it is, what validation said, and what its training runs scored.

    Stored as one object of ``search.json``'s ``candidates``, its keys in the order of these fields; ``run_ids`` and
    ``seed_scores`` only when the search trains each candidate on several seeds.

    :param id: ``iter_<i>/cand_<j>``.
    :param parent: the best candidate when this one was written (whose code and reflection the prompt showed).
    :param valid: it passed validation in the sandbox (possibly after repairs); only valid candidates are trained.
    :param label: the validation's label (``ok``, ``forbidden_import``, ...), one line.
    :param message: the validation's message, cleaned and bounded.
    :param repairs: repair requests made for it.
    :param run_id: its (first seed's) training run, under the search folder.
    :param score: the selection score (mean over the search seeds); None until trained, or when a run failed.
    :param final_fitness: mean final fitness over the search seeds.
    :param success_rate: mean success rate over the search seeds.
    :param dropped: top-level statements extraction left out of ``reward.py``.
    :param failed_attempts: the label of each attempt that failed, in order.
    :param dir: its folder under the search folder (``reward.py``, ``validation.json``, ``reflection.json`` ...).
    :param run_ids: every search seed's run.
    :param seed_scores: every search seed's selection score.
    """

    id: str
    iteration: int
    index: int
    parent: str | None
    valid: bool
    label: str
    message: str
    repairs: int
    run_id: str | None = None
    score: float | None = None
    final_fitness: float | None = None
    success_rate: float | None = None
    dropped: list[str] = field(default_factory=list)
    failed_attempts: list[str] = field(default_factory=list)
    dir: str = ""
    run_ids: list[str] | None = None
    seed_scores: list[float] | None = None

    def __post_init__(self) -> None:
        self.dir = self.dir or self.id

    @property
    def scored(self) -> bool:
        return self.score is not None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("run_ids", "seed_scores"):
            if d[k] is None:
                del d[k]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"candidate {d.get('id')!r} in search.json has unknown keys {unknown}")
        return cls(**d)


class CandidateStore:
    """Every candidate of a search by id, in the order they were made."""

    def __init__(self, candidates: Iterable[Candidate] = ()) -> None:
        self._by_id = {c.id: c for c in candidates}

    def add(self, c: Candidate) -> None:
        self._by_id[c.id] = c

    def __contains__(self, cid: object) -> bool:
        return cid in self._by_id

    def __getitem__(self, cid: str) -> Candidate:
        return self._by_id[cid]

    def get(self, cid: str | None) -> Candidate | None:
        return self._by_id.get(cid) if cid is not None else None

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def scored(self) -> list[Candidate]:
        return [c for c in self if c.scored]

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self]

    @classmethod
    def from_json(cls, rows: Iterable[dict[str, Any]]) -> CandidateStore:
        return cls(Candidate.from_json(r) for r in rows)


def training_run(cfg: SearchConfig, search_dir: Path, candidate_id: str, seed: int, suffix: str = "") -> RunConfig:
    """The lab run that trains a candidate's ``reward.py`` on one seed: ``iter_0_cand_1__s0`` during the search,
    ``iter_0_cand_1_retrain__s1000`` (``suffix="_retrain"``) when it is re-trained on a fresh seed."""
    return RunConfig(
        task=cfg.task,
        reward=f"{SANDBOX_SPECS[cfg.sandbox]}:{search_dir / candidate_id / 'reward.py'}",
        agent=cfg.agent,
        steps=cfg.steps,
        seed=seed,
        experiment=cfg.folder(),
        run_id=f"{candidate_id.replace('/', '_')}{suffix}__s{seed}",
        hp=list(cfg.hp),
        vec=cfg.vec,
        n_eval_episodes=cfg.final_episodes,
        eval_every=cfg.eval_every,
        eval_episodes=cfg.eval_episodes,
    )
