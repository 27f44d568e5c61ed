"""Record/replay of LLM calls, so a search reruns offline, reproducibly and without paying twice.

Every sample is keyed by ``sha256`` of the canonical JSON of ``(model, messages, params, sample_index)`` — params
being everything that changes the distribution (temperature, max_tokens, seed, ...), and never ``n``, the tag or the
server address. Each key is one JSON file ``<dir>/<key[:2]>/<key>.json`` written atomically (temporary file, then
rename), so a run killed mid-write leaves either the whole entry or none. An entry holds::

    {"format": 1, "key": ..., "request": {"model", "messages", "params", "sample_index"},
     "response": {"text", "finish_reason", "model"},
     "usage": {"prompt_tokens", "completion_tokens", "estimated"},
     "latency_s": ..., "created": "2025-01-01T00:00:00+00:00", "fixture": false}

Modes:

* ``"record"``: always call the model and store (overwriting an entry with the same key);
* ``"replay"``: never touch the network; a missing key raises :class:`CassetteMiss`;
* ``"auto"``: replay what is present, call and record the rest (the default: a killed search that is re-run
  repeats no paid call).

Hand-written entries (responses nobody sampled from a model, used as offline fixtures) carry
``"fixture": true`` and surface as ``Completion.fixture``. A prompt that quotes measured training
results cannot be known before the training ran, so hand-written responses for later iterations
cannot be keyed by the prompt's hash. They are keyed by *slot* instead -- the call's tag (``iter0``,
``iter0/cand2/repair1``) and sample index -- in ``<dir>/fixtures/<tag with / as __>/<i>.json``
(``{"fixture": true, "text": ...}``), and are served only after the exact key missed. A manifest
``<dir>/manifest.json`` names the task the fixtures were written for. Cassettes shipped with the package
live in ``llm_reward/cassettes/<name>/`` (:func:`shipped_cassette`); the ones there are fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = ["FORMAT", "MODES", "Cassette", "CassetteMiss", "cassette_key", "shipped_cassette"]

FORMAT = 1
Mode = Literal["record", "replay", "auto"]
MODES: tuple[str, ...] = ("record", "replay", "auto")


def cassette_key(model: str, messages: list[dict], params: Mapping[str, Any], sample_index: int) -> str:
    """sha256 hex of the canonical JSON of (model, messages, params, sample_index).

    Params set to None are dropped, so ``seed=None`` and an absent seed give the same key.
    """
    canonical = json.dumps(
        {
            "model": model,
            "messages": messages,
            "params": {k: v for k, v in sorted(params.items()) if v is not None},
            "sample_index": int(sample_index),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _first_line(messages: list[dict]) -> str:
    """The last user message's first line (what a reader recognises a prompt by), shortened."""
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            break
    else:
        message = messages[-1] if messages else {}
    content = message.get("content") if isinstance(message, dict) else None
    from llm_reward.textsafe import one_line

    line = str(content or "").strip().splitlines()[0] if str(content or "").strip() else ""
    return one_line(line, 100)  # cut at a word, with an ellipsis


class CassetteMiss(LookupError):
    """Replay mode asked for a call that the cassette does not hold."""

    def __init__(self, key: str, messages: list[dict], directory: Path) -> None:
        self.key = key
        self.prompt_first_line = _first_line(messages)
        super().__init__(
            f"cassette miss in replay mode: no entry {key} in {directory} for the prompt "
            f"{self.prompt_first_line!r}. Record it first (mode='record' or 'auto' with network access), "
            "or replay with the same model, messages, temperature, max_tokens and seed it was recorded with."
        )


class Cassette:
    """A directory of recorded LLM samples.

    Args:
        directory: where entries live (created on the first write).
        mode: "record", "replay" or "auto" (see the module docstring).

    Counters (thread-safe): ``hits`` (entries replayed), ``misses`` (lookups that found nothing), ``recorded``
    (entries written). A resumed run that repeats no paid call shows ``misses == 0`` for its already-done part.
    """

    def __init__(self, directory: str | os.PathLike[str], mode: Mode = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"cassette mode must be one of {MODES}, got {mode!r}")
        self.directory = Path(directory)
        self.mode: Mode = mode
        self.hits = 0
        self.fixture_hits = 0
        self.misses = 0
        self.recorded = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Cassette({str(self.directory)!r}, mode={self.mode!r}, hits={self.hits}, "
            f"misses={self.misses}, recorded={self.recorded})"
        )

    @property
    def replay_only(self) -> bool:
        return self.mode == "replay"

    def path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cassette key (sha256 hex): {key!r}")
        return self.directory / key[:2] / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def lookup(self, key: str, messages: list[dict], slot: tuple[str, int] | None = None) -> dict[str, Any] | None:
        """The stored entry for ``key``, counting a hit or a miss.

        On an exact miss, a hand-written fixture for ``slot`` = (tag, sample index) is served if the cassette has
        one (counted in ``hits`` and ``fixture_hits``). Returns None on a miss in "auto" mode (and always in
        "record" mode, which re-calls everything); raises :class:`CassetteMiss` on a miss in "replay" mode.
        A corrupt entry raises ValueError naming the file.
        """
        if self.mode == "record":
            return None
        entry = self.load(key)
        fixture = entry is None and slot is not None and (entry := self.fixture(*slot)) is not None
        with self._lock:
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
                self.fixture_hits += int(fixture)
        if entry is None and self.mode == "replay":
            raise CassetteMiss(key, messages, self.directory)
        return entry

    def load(self, key: str) -> dict[str, Any] | None:
        """Read an entry without counting; None when absent."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(text)
            text_ok = isinstance(entry["response"]["text"], str)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"corrupt cassette entry {path}: {exc!r}; delete it to re-record") from exc
        if not text_ok:
            raise ValueError(f"corrupt cassette entry {path}: response.text is not a string")
        return entry

    def fixture_path(self, tag: str, sample_index: int) -> Path:
        safe = tag.replace("/", "__")
        if not safe or any(not (c.isalnum() or c in "_-.") for c in safe) or safe.startswith("."):
            raise ValueError(f"a fixture tag must be letters, digits, _-./ (got {tag!r})")
        return self.directory / "fixtures" / safe / f"{int(sample_index)}.json"

    def fixture(self, tag: str, sample_index: int) -> dict[str, Any] | None:
        """The hand-written response for slot (tag, sample index) as a cassette entry, or None."""
        path = self.fixture_path(tag, sample_index)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ValueError(f"corrupt fixture {path}: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or raw.get("fixture") is not True:
            raise ValueError(f'corrupt fixture {path}: needs "fixture": true and a string "text"')
        words = len(raw["text"].split())
        return {
            "format": FORMAT,
            "key": None,
            "fixture": True,
            "latency_s": 0.0,
            "response": {"text": raw["text"], "finish_reason": "stop", "model": "fixture"},
            "usage": {"prompt_tokens": 0, "completion_tokens": int(words * 1.3), "estimated": True},
        }

    def store_fixture(self, tag: str, sample_index: int, text: str, note: str = "") -> Path:
        """Write a hand-written response for slot (tag, sample index)."""
        path = self.fixture_path(tag, sample_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {"fixture": True, "tag": tag, "sample_index": int(sample_index), "note": note, "text": text}, indent=1
            )
            + "\n",
            encoding="utf-8",
        )
        return path

    def manifest(self) -> dict[str, Any]:
        """``manifest.json`` (task, description, ``fixture``) or an empty dict."""
        path = self.directory / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def store(
        self,
        key: str,
        *,
        model: str,
        messages: list[dict],
        params: Mapping[str, Any],
        sample_index: int,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_s: float,
        served_model: str | None = None,
        finish_reason: str | None = None,
        usage_estimated: bool = False,
        fixture: bool = False,
    ) -> Path:
        """Write one entry atomically and return its path.

        ``key`` must be :func:`cassette_key` of (model, messages, params, sample_index); it is checked, so a
        hand-written fixture cannot be stored under a key that no request would ever look up.
        """
        expected = cassette_key(model, messages, params, sample_index)
        if key != expected:
            raise ValueError(f"cassette key {key} does not match its request (expected {expected})")
        entry = {
            "format": FORMAT,
            "key": key,
            "request": {
                "model": model,
                "messages": messages,
                "params": {k: v for k, v in sorted(params.items()) if v is not None},
                "sample_index": int(sample_index),
            },
            "response": {"text": text, "finish_reason": finish_reason, "model": served_model or model},
            "usage": {
                "prompt_tokens": int(prompt_tokens),
                "completion_tokens": int(completion_tokens),
                "estimated": bool(usage_estimated),
            },
            "latency_s": float(latency_s),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "fixture": bool(fixture),
        }
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(entry, f, indent=1, ensure_ascii=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self.recorded += 1
        return path

    def keys(self) -> list[str]:
        """Every stored key, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("??/*.json"))

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "fixture_hits": self.fixture_hits,
                "misses": self.misses,
                "recorded": self.recorded,
            }


def shipped_cassette(name: str, mode: Mode = "replay") -> Cassette:
    """A cassette shipped inside the package, ``llm_reward/cassettes/<name>/`` (read-only: replay by default)."""
    root = resources.files("llm_reward") / "cassettes" / name
    path = Path(str(root))
    if not path.is_dir():
        have = sorted(p.name for p in path.parent.iterdir() if p.is_dir()) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no shipped cassette {name!r} (shipped: {', '.join(have) or 'none'})")
    return Cassette(path, mode=mode)
