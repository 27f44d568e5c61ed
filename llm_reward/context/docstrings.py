"""What the view's docstrings say about each field, and the RST cleaner that makes docstring text
fit for a prompt."""

from __future__ import annotations

import inspect
import re
import types

from envs.registry import Task
from llm_reward.context.introspect import _envs_helpers, _lab_wrappers


def _info_doc(task: Task) -> str:
    """The docstring of the function a lab wrapper uses to put privileged fields into ``info``."""
    if not task.info_keys:
        return ""
    env = task.make_env()
    try:
        for w in _lab_wrappers(env):
            fn = getattr(w, "_fields", None)
            if isinstance(fn, types.FunctionType) and inspect.getdoc(fn):
                return _clean_rst(inspect.getdoc(fn) or "")
    finally:
        env.close()
    return ""


_RST_ROLE = re.compile(r":\w+:`~?([\w.]+)`")


def _clean_rst(text: str) -> str:
    text = _RST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return " ".join(text.replace("``", "").split())


_BULLET_HEAD = re.compile(r"^\s*(``\w+``\s*(,|/|and)?\s*)+$")


def _doc_notes(task: Task) -> tuple[dict[str, str], dict[str, str]]:
    """What the view's docstrings say about each field: (bullet entries ``- ``a``, ``b``: text``,
    the first sentence that names the field)."""
    docs: list[str] = []
    for fn in [task.view, *_envs_helpers(task.view)]:
        docs.append(inspect.getdoc(fn) or "")
        module = inspect.getmodule(fn)
        docs.append(inspect.getdoc(module) or "" if module is not None else "")
    bullets: dict[str, str] = {}
    mentions: dict[str, str] = {}
    for doc in docs:
        items: list[str] = []
        for line in doc.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                items.append(stripped[2:])
            elif stripped and items and line.startswith((" ", "\t")):
                items[-1] += " " + stripped
            elif not stripped and items:
                items.append("")
        for item in items:
            head, sep, rest = item.partition(": ")
            paren = re.search(r"\(([^)]*)\)", head)
            bare = re.sub(r"\([^)]*\)", "", head)
            if not sep or not _BULLET_HEAD.match(bare):
                continue
            meaning = _clean_rst(rest)
            if paren:
                meaning = f"({paren.group(1)}) {meaning}"
            for name in re.findall(r"``(\w+)``", bare):
                bullets.setdefault(name, meaning)
        flat = " ".join(doc.split())
        for sentence in re.split(r"(?<=[.;])\s+(?=[A-Z(`])", flat):
            for name in re.findall(r"``(\w+)``", sentence):
                mentions.setdefault(name, _clean_rst(sentence)[:400])
    return bullets, mentions
