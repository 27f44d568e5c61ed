"""``llm:path/reward.py`` reward specs: LLM-written reward code loaded for training.

The code is statically checked again and executed with the sandbox's restricted builtins inside
the training process (itself a separate worker process of the executor).
"""

from __future__ import annotations

from pathlib import Path

from envs.registry import Task
from rewardlab.rewards.base import RewardSource
from rewardlab.rewards.registry import RewardSpecError


def reward_from_spec(path: str, task: Task) -> RewardSource:
    from llm_reward.sandbox import RewardCodeError, load_trusted_reward

    p = Path(path)
    if not p.is_file():
        raise RewardSpecError(f"LLM reward file {path!r} does not exist")
    try:
        src = load_trusted_reward(p.read_text(), "compute_reward", name=p.parent.name or "llm")
    except RewardCodeError as e:
        raise RewardSpecError(f"LLM reward {path}: {e}") from None
    src.source_file = str(p.resolve())  # type: ignore[attr-defined]
    return src
