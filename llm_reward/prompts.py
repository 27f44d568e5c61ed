"""Prompts for reward-writing LLMs, rendered from editable text templates.

:func:`build_messages` returns chat messages (one system, one user) for a task: the system message
states the code contract of ``compute_reward(s)``; the user message holds the task description,
the action documentation, one context block (:mod:`llm_reward.context`), few-shot examples,
researcher notes and, in later iterations, a feedback block (:func:`reflection_block`,
:func:`error_feedback`).

Templates are ``.txt`` files with :class:`string.Template` placeholders (``$name``), so code with
braces needs no escaping. The defaults live in ``llm_reward/templates/``; pass ``template_dir`` to
use your own: any file found there replaces the default of the same name, the rest fall back.

No prompt may show a task's fitness or its hand-written rewards. :func:`assert_no_leak`
(:mod:`llm_reward.leaks`, re-exported here) checks messages for their source (whole,
whitespace-insensitive, and line by line) and their descriptions; :func:`build_messages` runs it
on everything it returns.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward.context import build_context, normalize_kind, state_fields_summary
from llm_reward.fewshot import FewShotExample
from llm_reward.leaks import MIN_LINE_CHARS as MIN_LINE_CHARS  # the leak check, importable from here as before
from llm_reward.leaks import Leak as Leak
from llm_reward.leaks import PromptLeakError as PromptLeakError
from llm_reward.leaks import assert_no_leak as assert_no_leak
from llm_reward.leaks import find_leaks as find_leaks
from llm_reward.leaks import hidden_needles as hidden_needles

DEFAULT_TEMPLATE_DIR = Path(__file__).parent / "templates"

TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "system.txt": (),
    "user.txt": (
        "task_id",
        "task_description",
        "action_doc",
        "context_block",
        "fields_block",
        "fewshot_block",
        "notes_block",
        "feedback_block",
    ),
    "context_source.txt": ("context",),
    "context_class.txt": ("context",),
    "context_table.txt": ("context",),
    "fields.txt": ("fields",),
    "fewshot.txt": ("examples",),
    "fewshot_example.txt": ("task_id", "family", "description", "fitness", "code"),
    "human_notes.txt": ("notes",),
    "reflection.txt": ("code", "reflection"),
    "reflection_nocode.txt": ("reflection",),
    "error_feedback.txt": ("code", "trace"),
    "error_feedback_nocode.txt": ("trace",),
    "preference.txt": ("ranking", "note", "worst_code"),
    "critic.txt": ("task_id", "task_description", "code"),
}
"""Each template file and the placeholders it may use."""


class TemplateError(ValueError):
    """A prompt template is missing or uses a placeholder that is not provided."""


# -- templates --------------------------------------------------------------------------------


def template_path(name: str, template_dir: str | Path | None = None) -> Path:
    """``template_dir/name`` when it exists there, else the shipped default."""
    if template_dir is not None:
        custom = Path(template_dir) / name
        if custom.is_file():
            return custom
        if not Path(template_dir).is_dir():
            raise TemplateError(f"template directory {template_dir} does not exist")
    path = DEFAULT_TEMPLATE_DIR / name
    if not path.is_file():
        raise TemplateError(f"no template {name!r} (looked in {template_dir or '-'} and {DEFAULT_TEMPLATE_DIR})")
    return path


def render_template(name: str, template_dir: str | Path | None = None, **values: Any) -> str:
    """Fill template ``name`` with ``values``; a placeholder without a value is a :class:`TemplateError`."""
    path = template_path(name, template_dir)
    text = path.read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute({k: str(v) for k, v in values.items()})
    except KeyError as e:
        allowed = ", ".join(f"${k}" for k in TEMPLATE_FIELDS.get(name, tuple(values)))
        raise TemplateError(
            f"template {path} uses ${e.args[0]}, which is not provided; it may use: {allowed}"
        ) from None
    except ValueError as e:
        raise TemplateError(f"template {path}: {e} (write $$ for a literal dollar sign)") from None


def _tidy(text: str) -> str:
    """Strip trailing spaces and collapse the blank lines left by empty blocks."""
    lines = [ln.rstrip() for ln in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


# -- blocks -----------------------------------------------------------------------------------


def _fewshot_block(examples: Sequence[Any], template_dir: str | Path | None) -> str:
    if not examples:
        return ""
    rendered = []
    for ex in examples:
        if isinstance(ex, Mapping):
            ex = FewShotExample.from_dict(ex)
        if not isinstance(ex, FewShotExample):
            raise TypeError(f"few-shot examples must be FewShotExample or dicts, got {type(ex).__name__}")
        rendered.append(
            render_template(
                "fewshot_example.txt",
                template_dir,
                task_id=ex.task_id,
                family=ex.family,
                description=ex.description,
                fitness=ex.fitness_text() or "(not recorded)",
                code=ex.code.strip(),
            ).strip()
        )
    return render_template("fewshot.txt", template_dir, examples="\n\n".join(rendered))


def _notes_block(notes: str | Sequence[str] | None, template_dir: str | Path | None) -> str:
    if not notes:
        return ""
    items = [notes] if isinstance(notes, str) else [n for n in notes if n and n.strip()]
    if not items:
        return ""
    text = "\n".join(f"- {' '.join(n.split())}" for n in items)
    return render_template("human_notes.txt", template_dir, notes=text)


def trim_traceback(trace: str, max_lines: int = 40, max_chars: int = 4000) -> str:
    """The last Python traceback in ``trace`` (or its end), at most ``max_lines`` / ``max_chars``."""
    text = trace.strip()
    start = text.rfind("Traceback (most recent call last):")
    if start > 0:
        text = text[start:]
    lines = text.splitlines()
    if len(lines) > max_lines:
        head = max(2, max_lines // 5)
        lines = [*lines[:head], f"... ({len(lines) - max_lines} lines omitted) ...", *lines[-(max_lines - head) :]]
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = "... " + text[-max_chars:]
    return text


def error_feedback(trace: str, code: str | None = None, template_dir: str | Path | None = None) -> str:
    """A feedback block for code that failed: the trimmed error (and the code when given)."""
    trace = trim_traceback(trace)
    if code:
        return render_template("error_feedback.txt", template_dir, code=code.strip(), trace=trace)
    return render_template("error_feedback_nocode.txt", template_dir, trace=trace)


def preference_block(
    ranking: Sequence[str], note: str | None, worst_code: str | None, template_dir: str | Path | None = None
) -> str:
    """ICPL feedback: a person's ranking of the last round's rollouts (most preferred first)."""
    return render_template(
        "preference.txt",
        template_dir,
        ranking="\n".join(f"{i + 1}. {c}" for i, c in enumerate(ranking)),
        note=f"Their note: {note}\n" if note else "",
        worst_code=(worst_code or "").rstrip(),
    )


def critic_messages(task: Task, code: str, system: str, template_dir: str | Path | None = None) -> list[dict[str, str]]:
    """A critic pass (Auto MC-Reward style): review a candidate before it is trained."""
    user = render_template(
        "critic.txt", template_dir, task_id=task.id, task_description=task.description, code=code.rstrip()
    )
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    assert_no_leak(msgs, task)
    return msgs


def reflection_block(reflection: str, code: str | None = None, template_dir: str | Path | None = None) -> str:
    """A feedback block from a reflection text (training statistics written by the loop), with
    the reward code it is about when given."""
    if code:
        return render_template("reflection.txt", template_dir, code=code.strip(), reflection=reflection.strip())
    return render_template("reflection_nocode.txt", template_dir, reflection=reflection.strip())


# -- messages ---------------------------------------------------------------------------------


def build_messages(
    task: Task,
    context_kind: str,
    fewshot: Sequence[Any] = (),
    feedback: str | None = None,
    human_notes: str | Sequence[str] | None = None,
    template_dir: str | Path | None = None,
    *,
    check_leaks: bool = True,
) -> list[dict[str, str]]:
    """System and user messages asking for a reward function for ``task``.

    :param context_kind: ``"source"`` (pruned env code), ``"class"`` (state class abstraction) or
        ``"table"`` (observation table). With ``source`` and ``table`` a list of the fields of ``s``
        is added; the class already is one.
    :param fewshot: :class:`~llm_reward.fewshot.FewShotExample` (or dicts) from other tasks.
    :param feedback: a block from :func:`reflection_block` / :func:`error_feedback` (or any text).
    :param human_notes: free-text notes from a researcher (one string or several).
    :param template_dir: a folder of replacement templates.
    :param check_leaks: run :func:`assert_no_leak` on the result (on by default).
    :returns: ``[{"role": "system", "content": ...}, {"role": "user", "content": ...}]``.
    :raises PromptLeakError: when a part of the prompt shows the fitness or a hand-written reward.
    """
    kind = normalize_kind(context_kind)
    context_block = render_template(f"context_{kind}.txt", template_dir, context=build_context(task, kind))
    fields_block = (
        "" if kind == "class" else render_template("fields.txt", template_dir, fields=state_fields_summary(task))
    )
    user = render_template(
        "user.txt",
        template_dir,
        task_id=task.id,
        task_description=task.description,
        action_doc=task.action_doc or "see the `action` field below",
        context_block=context_block.strip(),
        fields_block=fields_block.strip(),
        fewshot_block=_fewshot_block(list(fewshot), template_dir).strip(),
        notes_block=_notes_block(human_notes, template_dir).strip(),
        feedback_block=(feedback or "").strip(),
    )
    messages = [
        {"role": "system", "content": _tidy(render_template("system.txt", template_dir))},
        {"role": "user", "content": _tidy(user)},
    ]
    if check_leaks:
        assert_no_leak(messages, task)
    return messages
