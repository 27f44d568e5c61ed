"""The five classic-control tasks as array-batched environments (numpy or torch).

Each class transcribes gymnasium's own ``step`` (gymnasium 1.x, ``envs/classic_control``)
expression by expression, against ``self.xp`` (numpy or torch), so that from the same state and
action the same floating-point operations run in the same order and dtype:

- CartPole, MountainCar, Acrobot and Pendulum integrate in float64 (as gymnasium does);
  Acrobot's reset state is rounded to float32 first, as gymnasium's is.
- MountainCarContinuous keeps its state in float32, as gymnasium stores it after every step
  (its velocity update is the float32 arithmetic gymnasium's scalar code performs).

States are component-major ``(state_dim, n)`` rows; actions arrive validated, ``(n,)``
(integers for discrete tasks, float32 for continuous ones).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from envs.batched.core import BatchedEnv

pi = math.pi


def _bounds(options: dict[str, Any] | None, low: float, high: float) -> tuple[float, float]:
    """gymnasium's ``maybe_parse_reset_bounds``: ``options["low"]``/``["high"]`` override the defaults."""
    if options is None:
        return low, high
    lo = float(options.get("low", low))
    hi = float(options.get("high", high))
    if lo > hi:
        raise ValueError(f"reset bounds: low ({lo}) must not exceed high ({hi})")
    return lo, hi


def _gym_spaces(env_cls: type) -> tuple[Any, Any]:
    """gymnasium's own single-env ``(observation_space, action_space)``, read off an instance once."""
    env = env_cls()
    return env.observation_space, env.action_space


class BatchedCartPole(BatchedEnv):
    """CartPole-v1: push a cart left/right to keep a pole upright; reward 1 per step."""

    task_id = "CartPole-v1"
    same_episodes = True
    state_dim = obs_dim = 4
    default_max_episode_steps = 500
    gym_single_observation_space, gym_single_action_space = _gym_spaces(CartPoleEnv)

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        lo, hi = _bounds(options, -0.05, 0.05)
        return [lo] * 4, [hi] * 4

    def _dynamics(self, state: Any, action: Any) -> tuple[Any, Any, Any, Any]:
        xp = self.xp
        x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
        force = self.force_mag * (2 * self._cast(action) - 1)  # exactly +-10
        costheta = xp.cos(theta)
        sintheta = xp.sin(theta)
        temp = (force + self.polemass_length * theta_dot**2 * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta**2 / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        terminated = (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold_radians)
            | (theta > self.theta_threshold_radians)
        )
        return xp.stack((x, x_dot, theta, theta_dot)), self._constant(1.0), terminated, None

    def _observe(self, state: Any) -> Any:
        return state


class _MountainCarTrack(BatchedEnv):
    """What MountainCar-v0 and MountainCarContinuous-v0 share: the track, the reset draw, and
    gymnasium's ``step`` but for how the action accelerates the car and the reward."""

    state_dim = obs_dim = 2
    min_position = -1.2
    max_position = 0.6
    max_speed = 0.07
    goal_position: float
    goal_velocity = 0

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        lo, hi = _bounds(options, -0.6, -0.4)
        return [lo, 0.0], [hi, 0.0]

    def _accelerate(self, position: Any, velocity: Any, action: Any) -> Any:
        """The velocity after the action's push and gravity's pull, before it is clipped."""
        raise NotImplementedError

    def _step_reward(self, action: Any, terminated: Any) -> Any:
        raise NotImplementedError

    def _dynamics(self, state: Any, action: Any) -> tuple[Any, Any, Any, Any]:
        xp = self.xp
        position, velocity = state[0], state[1]
        velocity = self._accelerate(position, velocity, action)
        velocity = xp.clip(velocity, -self.max_speed, self.max_speed)
        position = position + velocity
        position = xp.clip(position, self.min_position, self.max_position)
        velocity = xp.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        return xp.stack((position, velocity)), self._step_reward(action, terminated), terminated, None

    def _observe(self, state: Any) -> Any:
        return state


class BatchedMountainCar(_MountainCarTrack):
    """MountainCar-v0: drive an under-powered car up the right hill; reward -1 per step."""

    task_id = "MountainCar-v0"
    same_episodes = True
    default_max_episode_steps = 200
    gym_single_observation_space, gym_single_action_space = _gym_spaces(MountainCarEnv)

    goal_position = 0.5
    force = 0.001
    gravity = 0.0025

    def _accelerate(self, position: Any, velocity: Any, action: Any) -> Any:
        return velocity + ((self._cast(action) - 1) * self.force + self.xp.cos(3 * position) * (-self.gravity))

    def _step_reward(self, action: Any, terminated: Any) -> Any:
        return self._constant(-1.0)


class BatchedMountainCarContinuous(_MountainCarTrack):
    """MountainCarContinuous-v0: continuous force; +100 at the flag, -0.1 a^2 per step."""

    task_id = "MountainCarContinuous-v0"
    same_episodes = True
    default_max_episode_steps = 999
    state_dtype = np.float32
    gym_single_observation_space, gym_single_action_space = _gym_spaces(Continuous_MountainCarEnv)

    min_action = -1.0
    max_action = 1.0
    goal_position = 0.45
    power = 0.0015

    def _accelerate(self, position: Any, velocity: Any, action: Any) -> Any:
        force = self.xp.clip(self._cast(action), self.min_action, self.max_action)
        # gymnasium: math.cos of the float32 argument in double, the product rounded to float32
        slope = self._cast(0.0025 * self.xp.cos(self._f64(3 * position)))
        return velocity + (force * self.power - slope)

    def _step_reward(self, action: Any, terminated: Any) -> Any:
        a = self._f64(action)  # the reward uses the unclipped action, in double
        return self._reward(self.xp.where(terminated, 100.0, 0.0) - a**2 * 0.1)


class BatchedAcrobot(BatchedEnv):
    """Acrobot-v1: swing a two-link chain's tip above height 1; reward -1 per step, 0 at the goal.

    State ``(theta1, theta2, dtheta1, dtheta2)``; one RK4 step of 0.2 s per action, as gymnasium.
    """

    task_id = "Acrobot-v1"
    state_dim = 4
    obs_dim = 6
    default_max_episode_steps = 500
    gym_single_observation_space, gym_single_action_space = _gym_spaces(AcrobotEnv)

    dt = 0.2
    LINK_LENGTH_1 = 1.0
    LINK_MASS_1 = 1.0
    LINK_MASS_2 = 1.0
    LINK_COM_POS_1 = 0.5
    LINK_COM_POS_2 = 0.5
    LINK_MOI = 1.0
    MAX_VEL_1 = 4 * pi
    MAX_VEL_2 = 9 * pi

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        lo, hi = _bounds(options, -0.1, 0.1)
        return [lo] * 4, [hi] * 4

    def _post_sample(self, state: Any) -> Any:
        return self._round_f32(state)  # gymnasium's reset state is float32

    def _dsdt(self, theta1: Any, theta2: Any, dtheta1: Any, dtheta2: Any, a: Any) -> tuple[Any, Any, Any, Any]:
        cos, sin = self.xp.cos, self.xp.sin
        cos_theta2, sin_theta2 = cos(theta2), sin(theta2)  # each used more than once
        m1 = self.LINK_MASS_1
        m2 = self.LINK_MASS_2
        l1 = self.LINK_LENGTH_1
        lc1 = self.LINK_COM_POS_1
        lc2 = self.LINK_COM_POS_2
        I1 = self.LINK_MOI
        I2 = self.LINK_MOI
        g = 9.8
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos_theta2) + I1 + I2
        d2 = m2 * (lc2**2 + l1 * lc2 * cos_theta2) + I2
        phi2 = m2 * lc2 * g * cos(theta1 + theta2 - pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * sin_theta2
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_theta2
            + (m1 * lc1 + m2 * l1) * g * cos(theta1 - pi / 2)
            + phi2
        )
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin_theta2 - phi2) / (
            m2 * lc2**2 + I2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return dtheta1, dtheta2, ddtheta1, ddtheta2

    def _wrap(self, x: Any, m: float, big_m: float) -> Any:
        """gymnasium's ``wrap`` (repeated +-(M - m) into [m, M]); one wrap is the same subtraction."""
        xp, diff = self.xp, big_m - m
        x = xp.where(x > big_m, x - diff * xp.ceil((x - big_m) / diff), x)
        return xp.where(x < m, x + diff * xp.ceil((m - x) / diff), x)

    def _dynamics(self, state: Any, action: Any) -> tuple[Any, Any, Any, Any]:
        xp = self.xp
        torque = self._cast(action) - 1.0  # AVAIL_TORQUE = [-1, 0, +1]
        y0 = (state[0], state[1], state[2], state[3])
        # rk4(self._dsdt, s_augmented, [0, dt]) with the torque held constant
        dt = self.dt - 0
        dt2 = dt / 2.0

        def ahead(k: tuple[Any, Any, Any, Any], h: float) -> tuple[Any, Any, Any, Any]:
            return y0[0] + h * k[0], y0[1] + h * k[1], y0[2] + h * k[2], y0[3] + h * k[3]

        k1 = self._dsdt(*y0, torque)
        k2 = self._dsdt(*ahead(k1, dt2), torque)
        k3 = self._dsdt(*ahead(k2, dt2), torque)
        k4 = self._dsdt(*ahead(k3, dt), torque)
        ns = [y + dt / 6.0 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(y0, k1, k2, k3, k4, strict=True)]
        ns[0] = self._wrap(ns[0], -pi, pi)
        ns[1] = self._wrap(ns[1], -pi, pi)
        ns[2] = xp.clip(ns[2], -self.MAX_VEL_1, self.MAX_VEL_1)
        ns[3] = xp.clip(ns[3], -self.MAX_VEL_2, self.MAX_VEL_2)
        cos0 = xp.cos(ns[0])
        terminated = -cos0 - xp.cos(ns[1] + ns[0]) > 1.0
        rows = xp.stack((cos0, xp.sin(ns[0]), xp.cos(ns[1]), xp.sin(ns[1]), ns[2], ns[3]))
        return xp.stack(ns), self._reward(xp.where(terminated, 0.0, -1.0)), terminated, rows

    def _observe(self, state: Any) -> Any:
        xp = self.xp
        s0, s1 = state[0], state[1]
        return xp.stack((xp.cos(s0), xp.sin(s0), xp.cos(s1), xp.sin(s1), state[2], state[3]))


class BatchedPendulum(BatchedEnv):
    """Pendulum-v1: swing up and balance; reward -(angle^2 + 0.1 thdot^2 + 0.001 u^2). Never terminates."""

    task_id = "Pendulum-v1"
    same_episodes = True
    state_dim = 2
    obs_dim = 3
    default_max_episode_steps = 200
    gym_single_observation_space, gym_single_action_space = _gym_spaces(PendulumEnv)

    max_speed = 8
    max_torque = 2.0
    dt = 0.05
    g = 10.0
    m = 1.0
    l = 1.0  # noqa: E741  (gymnasium's name)

    def _reset_bounds(self, options: dict[str, Any] | None) -> tuple[Sequence[float], Sequence[float]]:
        x, y = pi, 1.0
        if options is not None:
            x = float(options.get("x_init", x))
            y = float(options.get("y_init", y))
        return [-x, -y], [x, y]

    def _dynamics(self, state: Any, action: Any) -> tuple[Any, Any, Any, Any]:
        xp = self.xp
        th, thdot = state[0], state[1]
        g, m, l, dt = self.g, self.m, self.l, self.dt  # noqa: E741
        u = xp.clip(action, -self.max_torque, self.max_torque)  # float32, as gymnasium's
        costs = ((th + pi) % (2 * pi) - pi) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)
        newthdot = thdot + (3 * g / (2 * l) * xp.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = xp.clip(newthdot, -self.max_speed, self.max_speed)
        newth = th + newthdot * dt
        return xp.stack((newth, newthdot)), self._reward(-costs), self._falses(), None  # never terminates

    def _observe(self, state: Any) -> Any:
        xp = self.xp
        th = state[0]
        return xp.stack((xp.cos(th), xp.sin(th), state[1]))


BATCHED_CLASSES: dict[str, type[BatchedEnv]] = {
    cls.task_id: cls
    for cls in (BatchedCartPole, BatchedMountainCar, BatchedMountainCarContinuous, BatchedAcrobot, BatchedPendulum)
}
