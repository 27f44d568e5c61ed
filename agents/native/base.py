"""What the native agents share: arrays at the env boundary, TensorBoard scalars, the checkpoint layout.

A checkpoint folder holds ``agent.json`` (name, spec, num_steps) beside the agent's torch state files
(``ppo.pt``; ``sac.pt`` and optionally ``replay.pt``), written before ``agent.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import torch

from agents.native.presets import NativeConfig
from rewardlab.experiment.agents import Agent

AGENT_FILE = "agent.json"

C = TypeVar("C", bound=NativeConfig)


def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


class NativeAgent(Agent):
    """A native agent's env boundary (numpy or torch observations in, the same kind of actions out), its
    training scalars and its checkpoint files."""

    spec: Any
    device: torch.device
    act_dtype: Any
    num_steps: int
    _logged_at: int
    _writer: Any

    def _tensor(self, x: Any) -> torch.Tensor:
        """Raw observations ``(n, ...)`` -> float32 ``(n, obs_dim)`` on the agent's device."""
        return torch.as_tensor(x, device=self.device).reshape(x.shape[0], -1).float()

    def _like(self, a: torch.Tensor, like: Any) -> Any:
        """Actions for the env: on ``like``'s device when it is a tensor, else numpy in the action space's dtype."""
        if _is_torch(like):
            return a.to(like.device)
        return a.cpu().numpy().astype(self.act_dtype, copy=False)

    def _write_scalars(self, log_dir: Any, scalars: dict[str, Any]) -> None:
        """``train/<name>`` scalars at the current step into TensorBoard (the writer opens on first use)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir))
        for k, v in scalars.items():
            self._writer.add_scalar(f"train/{k}", v, self.num_steps)
        self._writer.flush()
        self._logged_at = self.num_steps

    def _save_files(self, path: Path, states: dict[str, Any]) -> None:
        """Each ``file -> state`` with ``torch.save``, then ``agent.json`` (name, spec, num_steps)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for file, state in states.items():
            torch.save(state, path / file)
        doc = {"name": self.spec.name, "spec": self.spec.to_dict(), "num_steps": int(self.num_steps)}
        (path / AGENT_FILE).write_text(json.dumps(doc, indent=2))


def saved_spec(path: Path, spec: C | None, cls: type[C], state_file: str, agent: str) -> C:
    """``spec``, or the one saved in ``path`` when None; :class:`FileNotFoundError` without ``state_file`` there."""
    if not (path / state_file).exists():
        raise FileNotFoundError(f"no saved {agent} agent ({state_file}) in {path}")
    if spec is None:
        spec = cls.from_dict(json.loads((path / AGENT_FILE).read_text())["spec"])
    return spec


def load_state(file: Path, device: torch.device) -> Any:
    """A torch state file, tensors only (``weights_only``), onto ``device``."""
    return torch.load(file, map_location=device, weights_only=True)
