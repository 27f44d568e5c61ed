"""The prompt of one iteration: the task (in the configured context), few-shot rewards of similar tasks, the
person's notes, and, after the first iteration, the best reward so far with its reflection (and a ranking)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.registry import Task
from llm_reward import prompts
from llm_reward.fewshot import load_library, retrieve
from llm_reward.search.config import SearchConfig


def iteration_messages(
    task: Task,
    cfg: SearchConfig,
    best_code: str | None,
    best_reflection: dict[str, Any] | None,
    preference: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """The chat messages of one iteration, checked to leak nothing of the task's fitness."""
    feedback = None
    if best_code is not None and best_reflection is not None:
        feedback = (
            prompts.preference_block(preference["ranking"], preference["note"], preference["worst_code"]) + "\n"
            if preference
            else ""
        ) + (
            "Here is the best reward function so far:\n```python\n"
            + best_code
            + "```\n"
            + best_reflection["text"]
            + "\nStatistics as JSON:\n```json\n"
            + json.dumps(best_reflection["stats"])
            + "\n```\n"
            "Write an improved reward function. Keep components that correlate with fitness, fix or drop "
            "the others, and rescale components whose magnitude dominates without helping."
        )
    fewshot: list[Any] = []
    if cfg.fewshot_library and Path(cfg.fewshot_library).is_file():
        fewshot = list(retrieve(task, load_library(cfg.fewshot_library), k=cfg.fewshot_k).examples)
    msgs = prompts.build_messages(task, cfg.context, fewshot=fewshot, feedback=feedback, human_notes=cfg.human_notes)
    prompts.assert_no_leak(msgs, task)
    return msgs
