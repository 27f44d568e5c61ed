"""Rollout videos of a trained run: what a person watches to rank candidates (ICPL) or to spot reward hacking.

One deterministic episode of the run's policy is rendered (``render_mode="rgb_array"``) and written as an
animated GIF with Pillow (no ffmpeg needed; every browser and image viewer plays it). MuJoCo renders
off-screen through EGL unless ``MUJOCO_GL`` is already set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from envs.registry import get_task
from rewardlab.experiment.store import RunDir


class VideoError(RuntimeError):
    pass


def record_rollout(
    run_dir: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    max_frames: int = 300,
    frame_skip: int | None = None,
    width: int = 320,
    fps: int = 25,
) -> dict[str, Any]:
    """Render one episode of the policy in ``run_dir`` to the GIF ``out``.

    :param seed: the episode's reset seed.
    :param max_frames: frames kept at most (after ``frame_skip``); a long episode is cut there.
    :param frame_skip: keep every k-th frame (default: enough to fit the task's episode in ``max_frames``).
    :param width: frames are scaled to this width (aspect kept).
    :returns: ``{"path", "frames", "steps", "fitness"}`` of the rendered episode.
    :raises VideoError: the run has no policy, or the task cannot render here.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    from PIL import Image

    from rewardlab.experiment.agents import load_agent
    from rewardlab.rewards.base import EnvReward
    from rewardlab.wrappers import make_vector_env

    rd = RunDir(Path(run_dir))
    cfg = rd.read("config.json")["run"] if (rd.path / "config.json").exists() else None
    if cfg is None or not (rd.path / "summary.json").exists():
        raise VideoError(f"{run_dir} has no finished policy (config.json and summary.json)")
    task = get_task(cfg["task"])
    if frame_skip is None:
        frame_skip = max(1, -(-int(task.max_episode_steps or max_frames) // max_frames))
    try:
        venv = make_vector_env(task, 1, EnvReward(), render_mode="rgb_array")
    except Exception as e:  # any backend failure means "cannot render here"
        raise VideoError(f"{task.id} cannot render here: {e}") from e
    try:
        agent = load_agent(rd.path, cfg["agent"], venv.single_observation_space, venv.single_action_space, "cpu")
    except (FileNotFoundError, ValueError) as e:
        venv.close()
        raise VideoError(f"{run_dir} has no finished policy: {e}") from e
    frames: list[Image.Image] = []
    obs, _ = venv.reset(seed=seed)
    steps, fitness = 0, None
    try:
        while True:
            if steps % frame_skip == 0 and len(frames) < max_frames:
                rendered = venv.render()
                if rendered is None:
                    raise VideoError(f"{task.id} rendered nothing")
                frames.append(_frame(rendered[0], width))
            obs, _, term, trunc, _ = venv.step(agent.act(obs, deterministic=True))
            steps += 1
            if term[0] or trunc[0]:
                ep = venv.accountant.episodes[-1] if venv.accountant.episodes else None
                fitness = None if ep is None else float(ep.fitness[0])
                break
    except Exception as e:
        raise VideoError(f"rendering {task.id} failed: {e}") from e
    finally:
        venv.close()
    if not frames:
        raise VideoError(f"{task.id} rendered no frames")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.gif")
    frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=max(20, 1000 // fps), loop=0)
    os.replace(tmp, out)
    return {"path": str(out), "frames": len(frames), "steps": steps, "fitness": fitness}


def _frame(rgb: Any, width: int) -> Any:
    from PIL import Image

    a = np.asarray(rgb, dtype=np.uint8)
    img = Image.fromarray(a)
    if img.width != width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.BILINEAR)
    return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=128)
