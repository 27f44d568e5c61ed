"""The lab's six MuJoCo v5 tasks as batched envs: gymnasium's ``step`` expressions over arrays.

Each class transcribes its gymnasium 1.x env (``gymnasium/envs/mujoco/*_v5.py``, default
arguments) with the same floating-point operations in the same order and dtypes, so that from
the same state and actions the observations, rewards, terminations and ``info`` fields are
bit-identical (``tests/test_batched_mujoco.py``). Two details that keep them so:

- Euclidean norms (Reacher's distance, the Ant's ``distance_from_origin``) are per-row dot
  products through ``np.matmul``, which reaches the same BLAS ``ddot`` as ``np.linalg.norm`` of
  one vector; a row-wise ``np.sum`` of squares rounds differently.
- The Ant's contact forces come from ``mj_rnePostConstraint`` after the step, as gymnasium
  computes them, so its physics is a :class:`~envs.batched.mujoco_sim.DataSim`; the other
  five run on :class:`~envs.batched.mujoco_sim.BatchSim`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from envs.batched.mujoco_core import BatchedMujocoEnv, Rows


def _norm(v: np.ndarray) -> np.ndarray:
    """Row norms of ``(n, d)``, rounded as ``np.linalg.norm`` rounds one row."""
    return np.sqrt(np.matmul(v[:, None, :], v[:, :, None])[:, 0, 0])


def _ctrl_cost(weight: float, action: np.ndarray) -> np.ndarray:
    """``weight * sum(action**2)`` per env, in the action's dtype (as gymnasium's ``control_cost``)."""
    return weight * np.sum(np.square(action), axis=1)


class BatchedInvertedPendulum(BatchedMujocoEnv):
    """InvertedPendulum-v5: reward 1 per step while the pole is within 0.2 rad of vertical."""

    task_id = "InvertedPendulum-v5"
    xml_file = "inverted_pendulum.xml"
    frame_skip = 2
    default_reset_noise_scale = 0.01
    default_max_episode_steps = 1000
    info_keys = ("reward_survive",)

    def _observe(self, rows: Rows) -> np.ndarray:
        return np.concatenate([self._take(self.sim.qpos, rows), self._take(self.sim.qvel, rows)], axis=1)

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        obs = self._observe(None)
        terminated = ~np.isfinite(obs).all(axis=1) | (np.abs(obs[:, 1]) > 0.2)
        survive = (~terminated).astype(np.int64)
        return survive.astype(np.float64), terminated, {"reward_survive": survive}


class BatchedReacher(BatchedMujocoEnv):
    """Reacher-v5: a two-link arm brings its fingertip to a random target within 50 steps."""

    task_id = "Reacher-v5"
    xml_file = "reacher.xml"
    frame_skip = 2
    default_max_episode_steps = 50
    fields = ("xpos",)
    info_keys = ("reward_dist", "reward_ctrl")
    reward_dist_weight: ClassVar[float] = 1.0
    reward_control_weight: ClassVar[float] = 1.0

    def _setup(self) -> None:
        self._fingertip = self.model.body("fingertip").id
        self._target = self.model.body("target").id

    def _tip_minus_target(self, rows: Rows) -> np.ndarray:
        """``get_body_com("fingertip") - get_body_com("target")``, ``(k, 3)``."""
        xpos = self._take(self.sim.field("xpos"), rows)
        return xpos[:, self._fingertip] - xpos[:, self._target]

    def _observe(self, rows: Rows) -> np.ndarray:
        qpos, qvel = self._take(self.sim.qpos, rows), self._take(self.sim.qvel, rows)
        theta = qpos[:, :2]
        vec = self._tip_minus_target(rows)
        return np.concatenate([np.cos(theta), np.sin(theta), qpos[:, 2:], qvel[:, :2], vec[:, :2]], axis=1)

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        reward_dist = -_norm(self._tip_minus_target(None)) * self.reward_dist_weight
        reward_ctrl = -np.square(action).sum(axis=1) * self.reward_control_weight
        reward = reward_dist + reward_ctrl
        return reward, np.zeros(self.num_envs, dtype=bool), {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl}

    def _sample_reset(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self._rng
        qpos = rng.uniform(low=-0.1, high=0.1, size=(k, self.nq)) + self.init_qpos
        goal = np.empty((k, 2))
        todo = np.arange(k)
        while todo.size:  # gymnasium's rejection sampling, for all pending envs at once
            draw = rng.uniform(low=-0.2, high=0.2, size=(todo.size, 2))
            ok = _norm(draw) < 0.2
            goal[todo[ok]] = draw[ok]
            todo = todo[~ok]
        qpos[:, -2:] = goal
        qvel = self.init_qvel + rng.uniform(low=-0.005, high=0.005, size=(k, self.nv))
        qvel[:, -2:] = 0
        return qpos, qvel


class BatchedHalfCheetah(BatchedMujocoEnv):
    """HalfCheetah-v5: run forward; never terminates."""

    task_id = "HalfCheetah-v5"
    xml_file = "half_cheetah.xml"
    frame_skip = 5
    default_reset_noise_scale = 0.1
    qvel_noise = "normal"
    default_max_episode_steps = 1000
    info_keys = ("x_position", "x_velocity", "reward_forward", "reward_ctrl")
    reset_info_keys = ("x_position",)
    forward_reward_weight: ClassVar[float] = 1.0
    ctrl_cost_weight: ClassVar[float] = 0.1

    def _observe(self, rows: Rows) -> np.ndarray:
        return np.concatenate([self._take(self.sim.qpos, rows)[:, 1:], self._take(self.sim.qvel, rows)], axis=1)

    def _before_step(self) -> Any:
        return self.sim.qpos[:, 0].copy()

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        x_after = self.sim.qpos[:, 0].copy()
        x_velocity = (x_after - before) / self.dt
        forward_reward = self.forward_reward_weight * x_velocity
        ctrl_cost = _ctrl_cost(self.ctrl_cost_weight, action)
        reward = forward_reward - ctrl_cost
        info = {
            "x_position": x_after,
            "x_velocity": x_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
        }
        return reward, np.zeros(self.num_envs, dtype=bool), info

    def _reset_info(self, rows: Rows) -> dict[str, np.ndarray]:
        return {"x_position": self._take(self.sim.qpos, rows)[:, 0].copy()}


class _PlanarWalker(BatchedMujocoEnv):
    """Hopper-v5 and Walker2d-v5: hop or walk forward; the episode ends when unhealthy."""

    frame_skip = 4
    default_reset_noise_scale = 5e-3
    default_max_episode_steps = 1000
    info_keys = (
        "x_position",
        "z_distance_from_origin",
        "x_velocity",
        "reward_forward",
        "reward_ctrl",
        "reward_survive",
    )
    reset_info_keys = ("x_position", "z_distance_from_origin")
    forward_reward_weight: ClassVar[float] = 1.0
    ctrl_cost_weight: ClassVar[float] = 1e-3
    healthy_reward: ClassVar[float] = 1.0
    healthy_state_range: ClassVar[tuple[float, float] | None] = None
    """Open bounds on ``state_vector()[2:]`` (Hopper only)."""
    healthy_z_range: ClassVar[tuple[float, float]] = (-np.inf, np.inf)
    healthy_angle_range: ClassVar[tuple[float, float]] = (-np.inf, np.inf)

    def _observe(self, rows: Rows) -> np.ndarray:
        qpos, qvel = self._take(self.sim.qpos, rows), self._take(self.sim.qvel, rows)
        return np.concatenate([qpos[:, 1:], np.clip(qvel, -10, 10)], axis=1)

    def _before_step(self) -> Any:
        return self.sim.qpos[:, 0].copy()

    def is_healthy(self) -> np.ndarray:
        """``(n,)`` bool: gymnasium's ``is_healthy`` (open ranges; NaN is unhealthy)."""
        qpos = self.sim.qpos
        z, angle = qpos[:, 1], qpos[:, 2]
        (min_z, max_z), (min_a, max_a) = self.healthy_z_range, self.healthy_angle_range
        healthy = (min_z < z) & (z < max_z) & (min_a < angle) & (angle < max_a)
        if self.healthy_state_range is not None:
            lo, hi = self.healthy_state_range
            state = np.concatenate([qpos[:, 2:], self.sim.qvel], axis=1)
            healthy &= ((lo < state) & (state < hi)).all(axis=1)
        return healthy

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        qpos = self.sim.qpos
        x_after = qpos[:, 0].copy()
        x_velocity = (x_after - before) / self.dt
        healthy = self.is_healthy()
        forward_reward = self.forward_reward_weight * x_velocity
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = _ctrl_cost(self.ctrl_cost_weight, action)
        reward = (forward_reward + healthy_reward) - ctrl_cost
        info = {
            "x_position": x_after,
            "z_distance_from_origin": qpos[:, 1] - self.init_qpos[1],
            "x_velocity": x_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_survive": healthy_reward,
        }
        return reward, ~healthy, info

    def _reset_info(self, rows: Rows) -> dict[str, np.ndarray]:
        qpos = self._take(self.sim.qpos, rows)
        return {"x_position": qpos[:, 0].copy(), "z_distance_from_origin": qpos[:, 1] - self.init_qpos[1]}


class BatchedHopper(_PlanarWalker):
    """Hopper-v5: ends when the torso drops below 0.7 m, tilts beyond 0.2 rad, or a state leaves +-100."""

    task_id = "Hopper-v5"
    xml_file = "hopper.xml"
    healthy_state_range = (-100.0, 100.0)
    healthy_z_range = (0.7, float("inf"))
    healthy_angle_range = (-0.2, 0.2)


class BatchedWalker2d(_PlanarWalker):
    """Walker2d-v5: ends when the torso leaves 0.8..2.0 m or tilts beyond 1 rad."""

    task_id = "Walker2d-v5"
    xml_file = "walker2d_v5.xml"
    healthy_z_range = (0.8, 2.0)
    healthy_angle_range = (-1.0, 1.0)


class BatchedAnt(BatchedMujocoEnv):
    """Ant-v5: walk along +x; ends when the torso leaves 0.2..1.0 m (or the state is not finite)."""

    task_id = "Ant-v5"
    xml_file = "ant.xml"
    frame_skip = 5
    default_reset_noise_scale = 0.1
    qvel_noise = "normal"
    default_max_episode_steps = 1000
    fields = ("xpos", "cfrc_ext")
    post_constraint = True
    info_keys = (
        "x_position", "y_position", "distance_from_origin", "x_velocity", "y_velocity",
        "reward_forward", "reward_ctrl", "reward_contact", "reward_survive",
    )  # fmt: skip
    reset_info_keys = ("x_position", "y_position", "distance_from_origin")
    main_body: ClassVar[int] = 1
    forward_reward_weight: ClassVar[float] = 1.0
    ctrl_cost_weight: ClassVar[float] = 0.5
    contact_cost_weight: ClassVar[float] = 5e-4
    healthy_reward: ClassVar[float] = 1.0
    healthy_z_range: ClassVar[tuple[float, float]] = (0.2, 1.0)
    contact_force_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def _contact_forces(self, rows: Rows) -> np.ndarray:
        lo, hi = self.contact_force_range
        return np.clip(self._take(self.sim.field("cfrc_ext"), rows), lo, hi)

    def _observe(self, rows: Rows) -> np.ndarray:
        qpos, qvel = self._take(self.sim.qpos, rows), self._take(self.sim.qvel, rows)
        contact = self._contact_forces(rows)[:, 1:].reshape(qpos.shape[0], -1)
        return np.concatenate([qpos[:, 2:], qvel, contact], axis=1)

    def _before_step(self) -> Any:
        return self.sim.field("xpos")[:, self.main_body, :2].copy()

    def _outcome(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        qpos, qvel, n = self.sim.qpos, self.sim.qvel, self.num_envs
        xy_velocity = (self.sim.field("xpos")[:, self.main_body, :2] - before) / self.dt
        x_velocity, y_velocity = xy_velocity[:, 0].copy(), xy_velocity[:, 1].copy()
        min_z, max_z = self.healthy_z_range
        finite = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
        healthy = finite & (min_z <= qpos[:, 2]) & (qpos[:, 2] <= max_z)
        forward_reward = x_velocity * self.forward_reward_weight
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = _ctrl_cost(self.ctrl_cost_weight, action)
        contact_cost = self.contact_cost_weight * np.sum(np.square(self._contact_forces(None)).reshape(n, -1), axis=1)
        reward = (forward_reward + healthy_reward) - (ctrl_cost + contact_cost)
        info = {
            **self._reset_info(None),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": healthy_reward,
        }
        return reward, ~healthy, info

    def _reset_info(self, rows: Rows) -> dict[str, np.ndarray]:
        qpos = self._take(self.sim.qpos, rows)
        return {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            "distance_from_origin": _norm(np.ascontiguousarray(qpos[:, 0:2])),
        }


MUJOCO_CLASSES: dict[str, type[BatchedMujocoEnv]] = {
    cls.task_id: cls
    for cls in (
        BatchedHalfCheetah,
        BatchedHopper,
        BatchedWalker2d,
        BatchedAnt,
        BatchedInvertedPendulum,
        BatchedReacher,
    )
}
"""The batched MuJoCo envs by gymnasium id."""
