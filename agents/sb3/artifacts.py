"""Save and load SB3 models, with their VecNormalize statistics beside them."""

from __future__ import annotations

from pathlib import Path

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

from agents.sb3.algos import ALGO_CLASSES, check_algo


def _stats_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".zip") + ".vecnormalize.pkl")


def save_model(model: BaseAlgorithm, path: str | Path) -> Path:
    """Save ``model`` to ``path`` (``.zip``), and its VecNormalize statistics beside it when it has any."""
    path = Path(path)
    model.save(path)
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        vec_normalize.save(str(_stats_path(path)))
    return path if path.suffix == ".zip" else path.with_name(path.name + ".zip")


def load_model(
    algo: str, path: str | Path, env: VecEnv | None = None, device: str | torch.device = "auto"
) -> BaseAlgorithm:
    """Load a model saved by SB3 (or :func:`save_model`).

    With ``env`` given and VecNormalize statistics saved beside the model, ``env`` is wrapped
    with them (still in training mode; set ``.training = False`` and ``.norm_reward = False``
    to evaluate).
    """
    cls = ALGO_CLASSES[check_algo(algo)]
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".zip").exists():
        path = path.with_name(path.name + ".zip")
    if not path.exists():
        raise FileNotFoundError(f"no saved {algo} model at {path}")
    stats = _stats_path(path)
    if env is not None and stats.exists() and unwrap_vec_normalize(env) is None:
        env = VecNormalize.load(str(stats), env)
    return cls.load(path, env=env, device=device)
