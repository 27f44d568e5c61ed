"""The new-behaviour MuJoCo tasks (:mod:`envs.behaviours`) as batched envs.

Each is its v5 batched env (:mod:`envs.batched.mujoco_envs`) with the behaviour's variant, as the
gymnasium env is the v5 class with keyword arguments under two wrappers:

- ``ZeroEnvReward``: the reward is 0 on every step. The v5 env's own ``info`` is left as it is, so its
  reward terms (``reward_forward``, ``reward_ctrl``, ``reward_survive``, ...) still come in ``info``;
  they are kept here too.
- ``InfoFields`` (``planar_info`` / ``ant_info``): ``x_position`` (and the Ant's ``y_position``) from
  ``qpos``, the values the v5 ``info`` already holds under those names; nothing to add.

Termination and observation, per task:

- ``rewardlab/HalfCheetahBackflip-v0``: plain HalfCheetah (it never terminates).
- ``rewardlab/HopperJump-v0``: ``terminate_when_unhealthy=False``; ``reward_survive`` still says
  whether it is healthy (v5's ``healthy_reward`` does not depend on the flag).
- ``rewardlab/AntCircle-v0``: ``terminate_when_unhealthy=False`` and
  ``exclude_current_positions_from_observation=False``: the observation starts with the torso's x and
  y (107 dims).

Trajectories are bit-identical to ``gym.make(task_id)`` from the same states
(``tests/test_batched_behaviours.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from envs.batched.mujoco_core import BatchedMujocoEnv, Rows
from envs.batched.mujoco_envs import BatchedAnt, BatchedHalfCheetah, BatchedHopper


class _Behaviour(BatchedMujocoEnv):
    """The v5 env's outcome with the reward replaced by 0 (``ZeroEnvReward``) and, when
    :attr:`terminate_when_unhealthy` is off, no termination; ``info`` unchanged."""

    terminate_when_unhealthy: ClassVar[bool] = True

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        reward, terminated, info = super()._outcome(action, before)
        if not self.terminate_when_unhealthy:
            terminated = np.zeros_like(terminated)
        return np.zeros_like(reward), terminated, info


class BatchedHalfCheetahBackflip(_Behaviour, BatchedHalfCheetah):
    """rewardlab/HalfCheetahBackflip-v0: HalfCheetah-v5 with no reward."""

    task_id = "rewardlab/HalfCheetahBackflip-v0"


class BatchedHopperJump(_Behaviour, BatchedHopper):
    """rewardlab/HopperJump-v0: Hopper-v5 with no reward that never terminates (a fall goes on)."""

    task_id = "rewardlab/HopperJump-v0"
    terminate_when_unhealthy = False


class BatchedAntCircle(_Behaviour, BatchedAnt):
    """rewardlab/AntCircle-v0: Ant-v5 with no reward, no termination and the torso's x, y first in the
    observation (107 dims)."""

    task_id = "rewardlab/AntCircle-v0"
    terminate_when_unhealthy = False

    def _observe(self, rows: Rows) -> np.ndarray:
        qpos, qvel = self._take(self.sim.qpos, rows), self._take(self.sim.qvel, rows)
        contact = self._contact_forces(rows)[:, 1:].reshape(qpos.shape[0], -1)
        return np.concatenate([qpos, qvel, contact], axis=1)


BEHAVIOUR_CLASSES: dict[str, type[BatchedMujocoEnv]] = {
    cls.task_id: cls for cls in (BatchedHalfCheetahBackflip, BatchedHopperJump, BatchedAntCircle)
}
"""The batched new-behaviour MuJoCo envs by task id."""
