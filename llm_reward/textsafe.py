"""Text that candidate code produced is data, never a channel.

A candidate's validation message, traceback, printed output and component names are written by code nobody
trusts. Before such text is stored (``search.json``, a candidate's files), logged, or sent back to a model (the
repair and reflection prompts) it goes through :func:`clean_message`: ANSI escape sequences, control characters
and invisible format characters (bidirectional overrides, zero-width characters) are removed, and the text is
trimmed to a bounded length at a word boundary with an ellipsis. Component names are used as identifiers in
logs, metrics and prompts, so they must be short identifiers (:func:`is_component_name`); a name that is not
one is described (:func:`why_not_component_name`) but never repeated.

Nothing here imports the rest of the package, so the sandbox can use it too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = [
    "COMPONENT_NAME",
    "ELLIPSIS",
    "MESSAGE_LIMIT",
    "TRACEBACK_LIMIT",
    "clean_data",
    "clean_message",
    "is_component_name",
    "one_line",
    "why_not_component_name",
]

MESSAGE_LIMIT = 500
TRACEBACK_LIMIT = 2000
ELLIPSIS = "…"
COMPONENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")

_ANSI = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?            # CSI: colours, cursor movement, erase
    | \x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC / DCS / SOS / PM / APC strings (titles, links)
    | \x1b[ -/]*[0-~]?                    # other escape sequences (nF, Fp, Fe, Fs), or a lone ESC
    """,  # 8-bit (C1) introducers are control characters: removed one by one below
    re.VERBOSE,
)
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n"}
_LINE_BREAK = re.compile("|".join(map(re.escape, _LINE_BREAKS)))
_SPACES = re.compile(r"[^\S\n]+")


def _strip_controls(text: str) -> str:
    text = _ANSI.sub("", text)
    text = _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], text)
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            continue  # control, format (bidi overrides, zero-width), lone surrogates
        else:
            out.append(ch)
    return "".join(out)


def _cut_head(text: str, limit: int) -> str:
    room = limit - len(ELLIPSIS)
    if room <= 0:
        return ELLIPSIS[:limit]
    head = text[: room + 1]  # one more: a cut exactly before a space is a word boundary
    cut = max(head.rfind(" "), head.rfind("\n"))
    if cut >= room // 2:
        head = head[:cut]
    else:
        head = head[:room]  # one very long word: cut inside it rather than lose half the room
    return head.rstrip() + ELLIPSIS


def _cut_tail(text: str, limit: int) -> str:
    room = limit - len(ELLIPSIS)
    if room <= 0:
        return ELLIPSIS[:limit]
    tail = text[-(room + 1) :]
    newline = tail.find("\n")
    space = tail.find(" ")
    for cut in (newline, space):  # prefer starting at a whole line, then at a whole word
        if 0 <= cut <= room // 2:
            tail = tail[cut + 1 :]
            break
    else:
        tail = tail[-room:]
    return ELLIPSIS + tail.lstrip()


def clean_message(text: Any, limit: int = MESSAGE_LIMIT, *, keep: str = "head", single_line: bool = False) -> str:
    """``text`` without ANSI escapes or control characters, at most ``limit`` characters.

    Line breaks of every kind become ``\\n`` (or spaces when ``single_line``), tabs become spaces, runs of
    spaces are kept as they are except in single-line mode. A text over the limit is cut at a word (or line)
    boundary and marked with an ellipsis: ``keep="head"`` keeps its beginning (messages), ``keep="tail"`` its end
    (tracebacks, whose last lines matter most). ``None`` gives ``""``; other objects are converted with ``str``.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if keep not in ("head", "tail"):
        raise ValueError(f"keep must be 'head' or 'tail', got {keep!r}")
    text = "" if text is None else text if isinstance(text, str) else str(text)
    text = _strip_controls(text)
    if single_line:
        text = " ".join(text.split())
    else:
        text = "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.split("\n")).strip("\n ")
    if len(text) <= limit:
        return text
    return _cut_head(text, limit) if keep == "head" else _cut_tail(text, limit)


def one_line(text: Any, limit: int = 160) -> str:
    """:func:`clean_message` on one line: for log lines (never cut mid-word, marked with an ellipsis)."""
    return clean_message(text, limit, single_line=True)


def is_component_name(name: Any) -> bool:
    """True for a short identifier: ``^[A-Za-z_][A-Za-z0-9_]{0,39}$`` (ASCII, at most 40 characters)."""
    return isinstance(name, str) and COMPONENT_NAME.fullmatch(name) is not None


def why_not_component_name(name: Any) -> str | None:
    """Why ``name`` is not a component name, in words that never quote it; None when it is one."""
    if is_component_name(name):
        return None
    if not isinstance(name, str):
        return f"it is not a string but of type {type(name).__name__}"
    if not name:
        return "it is empty"
    why = []
    if len(name) > 40:
        why.append(f"it has {len(name)} characters (at most 40)")
    if name[0].isdigit():
        why.append("it starts with a digit")
    others = {ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch == "_"))}
    if others:
        kinds = sorted(
            {
                "control characters"
                if unicodedata.category(ch)[0] == "C"
                else "spaces"
                if ch.isspace()
                else "non-ASCII characters"
                if not ch.isascii()
                else "punctuation"
                for ch in others
            }
        )
        why.append("it contains " + " and ".join(kinds))
    return "; ".join(why) or "it is not an identifier"


def clean_data(
    obj: Any, limit: int = MESSAGE_LIMIT, *, key_limit: int = 60, limits: Mapping[str, int] | None = None
) -> Any:
    """A JSON-like tree with every string cleaned (:func:`clean_message`) and every key cleaned to one line.

    ``limits`` gives other limits by key (``{"traceback_trimmed": TRACEBACK_LIMIT}``); a string under such a key
    keeps its tail when its key names a traceback. Numbers, booleans and None pass through.
    """
    limits = limits or {}

    def walk(x: Any, key: str | None) -> Any:
        if isinstance(x, str):
            n = limits.get(key, limit) if key is not None else limit
            return clean_message(x, n, keep="tail" if key and "traceback" in key else "head")
        if isinstance(x, Mapping):
            return {
                one_line(k, key_limit) if isinstance(k, str) else k: walk(v, k if isinstance(k, str) else None)
                for k, v in x.items()
            }
        if isinstance(x, list | tuple):
            return [walk(v, key) for v in x]
        return x

    return walk(obj, None)
