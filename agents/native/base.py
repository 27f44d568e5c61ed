"""What the native agents share: arrays at the env boundary, TensorBoard scalars, the checkpoint layout.

A checkpoint folder holds ``agent.json`` (name, spec, num_steps) beside the agent's torch state files
(``ppo.pt``; ``sac.pt`` and optionally ``replay.pt``), written before ``agent.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch

from agents.native.presets import NativeConfig
from rewardlab.experiment.agents import Agent

if TYPE_CHECKING:
    import gymnasium as gym

AGENT_FILE = "agent.json"

A = TypeVar("A", bound="NativeAgent")


def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def load_state(file: Path, device: torch.device) -> Any:
    """A torch state file, tensors only (``weights_only``), onto ``device``."""
    return torch.load(file, map_location=device, weights_only=True)


class NativeAgent(Agent):
    """A native agent's env boundary (numpy or torch observations in, the same kind of actions out), its
    training scalars and its checkpoint.

    A subclass names its agent, its config class and state file, and lists what its ``state_dict`` holds:
    ``stateful`` attributes by their own ``state_dict`` (networks, optimisers, normalisers), ``counters`` as ints.
    """

    agent_name: ClassVar[str]  # the registry name, in messages ("ppo-native")
    config: ClassVar[type[NativeConfig]]
    state_file: ClassVar[str]
    stateful: ClassVar[tuple[str, ...]]
    counters: ClassVar[tuple[str, ...]]

    def __init__(self, spec: Any, observation_space: gym.Space, action_space: gym.Space, device: str) -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.obs_dim = int(np.prod(observation_space.shape))
        self.act_dtype = action_space.dtype
        self.gen = torch.Generator(device=self.device)
        self.num_steps = 0
        self._logged_at = 0
        self._writer: Any = None

    # -- observations and actions at the env boundary ----------------------------------------------

    def _tensor(self, x: Any) -> torch.Tensor:
        """Raw observations ``(n, ...)`` -> float32 ``(n, obs_dim)`` on the agent's device."""
        return torch.as_tensor(x, device=self.device).reshape(x.shape[0], -1).float()

    def _like(self, a: torch.Tensor, like: Any) -> Any:
        """Actions for the env: on ``like``'s device when it is a tensor, else numpy in the action space's dtype."""
        if _is_torch(like):
            return a.to(like.device)
        return a.cpu().numpy().astype(self.act_dtype, copy=False)

    # -- training scalars ---------------------------------------------------------------------------

    def _write_scalars(self, log_dir: Any, scalars: dict[str, Any]) -> None:
        """``train/<name>`` scalars at the current step into TensorBoard (the writer opens on first use)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir))
        for k, v in scalars.items():
            self._writer.add_scalar(f"train/{k}", v, self.num_steps)
        self._writer.flush()
        self._logged_at = self.num_steps

    # -- persistence ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = {k: getattr(self, k).state_dict() for k in self.stateful}
        state.update({k: getattr(self, k) for k in self.counters})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self.stateful:
            getattr(self, k).load_state_dict(state[k])
        for k in self.counters:
            setattr(self, k, int(state[k]))
        self._logged_at = self.num_steps

    def _files(self) -> dict[str, Any]:
        """The torch files of a checkpoint: file name -> what ``torch.save`` writes there."""
        return {self.state_file: self.state_dict()}

    def save(self, path: Path) -> None:
        """The torch files (:meth:`_files`), then ``agent.json`` (name, spec, num_steps)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for file, state in self._files().items():
            torch.save(state, path / file)
        doc = {"name": self.spec.name, "spec": self.spec.to_dict(), "num_steps": int(self.num_steps)}
        (path / AGENT_FILE).write_text(json.dumps(doc, indent=2))

    @classmethod
    def seeded(
        cls: type[A], spec: Any, observation_space: gym.Space, action_space: gym.Space, seed: int, device: str
    ) -> A:
        """A new agent: weights from ``torch.manual_seed(seed)``, its own sampling generator seeded with ``seed``."""
        torch.manual_seed(int(seed))
        agent = cls(spec, observation_space, action_space, device)
        agent.gen.manual_seed(int(seed))
        return agent

    @classmethod
    def restore(
        cls: type[A], path: Path, spec: Any, observation_space: gym.Space, action_space: gym.Space, device: str
    ) -> A:
        """The agent saved in ``path`` (``spec`` None: the one saved with it), from its state file."""
        path = Path(path)
        if not (path / cls.state_file).exists():
            raise FileNotFoundError(f"no saved {cls.agent_name} agent ({cls.state_file}) in {path}")
        if spec is None:
            spec = cls.config.from_dict(json.loads((path / AGENT_FILE).read_text())["spec"])
        agent = cls(spec, observation_space, action_space, device)
        agent.load_state_dict(load_state(path / cls.state_file, agent.device))
        return agent
