"""What a run keeps about its reward: ``reward.json`` (spec, description, what held while it ran), a copy of
the reward's code file (``reward_source.py``) and its learned state (``reward_state.pt``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from rewardlab.experiment.store import RunDir
from rewardlab.rewards.base import RewardSource

REWARD_STATE = "reward_state.pt"


def write_reward_info(run_dir: RunDir, spec: str, source: RewardSource) -> None:
    """``reward.json``: the spec, the source's name and description, its :meth:`~RewardSource.info`; the code
    file a source was read from is copied beside it as ``reward_source.py``."""
    info: dict[str, Any] = {"spec": spec, "name": source.name, "description": source.describe()}
    src_file = source.source_file
    if src_file:
        shutil.copyfile(src_file, run_dir.path / "reward_source.py")
        info["source_file"] = src_file
        info["copied_to"] = "reward_source.py"
    info.update(source.info())
    run_dir.write_json("reward.json", info)


def save_reward_state(source: RewardSource, where: Path) -> None:
    """A source's learned state (tensors, running statistics) with ``torch.save``, atomically."""
    import torch

    sd = source.state_dict()
    if not sd:
        return
    tmp = where / (REWARD_STATE + ".tmp")
    torch.save(sd, tmp)
    os.replace(tmp, where / REWARD_STATE)


def load_reward_state(source: RewardSource, where: Path) -> None:
    """Restore what :func:`save_reward_state` wrote in ``where`` (nothing when it wrote nothing)."""
    import torch

    if (where / REWARD_STATE).exists():  # tensors and plain containers only: nothing in it can run code
        source.load_state_dict(torch.load(where / REWARD_STATE, weights_only=True, map_location="cpu"))
    elif (where / "reward_state.json").exists():  # checkpoints written before reward state was torch.save'd
        source.load_state_dict(json.loads((where / "reward_state.json").read_text()))
