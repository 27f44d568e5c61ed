"""Classic-control tasks (CartPole, MountainCar, MountainCarContinuous, Acrobot, Pendulum)
and the CartPole keep-left new-behaviour task."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs import xp
from envs.registry import Fitness, HandReward, ObsField, Task, register_task
from envs.wrappers import ZeroEnvReward

# -- CartPole -------------------------------------------------------------------------------

CARTPOLE_SCHEMA = (
    ObsField("x", 0, "m", "cart position along the track, 0 = centre, episode ends beyond +-2.4", -4.8, 4.8),
    ObsField("x_dot", 1, "m/s", "cart velocity, positive = moving right"),
    ObsField("theta", 2, "rad", "pole angle from upright, positive = leaning right; ends beyond +-0.2095", -0.42, 0.42),
    ObsField("theta_dot", 3, "rad/s", "pole angular velocity"),
)
CARTPOLE_UNITS = {"x": "m", "x_dot": "m/s", "theta": "rad", "theta_dot": "rad/s", "step": "steps"}


def cartpole_view(obs: np.ndarray, info: Any) -> dict[str, Any]:
    return {"x": obs[:, 0], "x_dot": obs[:, 1], "theta": obs[:, 2], "theta_dot": obs[:, 3]}


def _cartpole_survived(s: Any) -> Any:
    return xp.as_float((s.step >= 500) & ~s.terminated)


def _cartpole_hand(s: Any) -> dict[str, Any]:
    """Alive bonus, pole uprightness, and a mild pull to the centre of the track."""
    return {
        "alive": xp.where_float(s.terminated, 0.0, 1.0),
        "upright": 0.5 * xp.cos(s.theta) - 0.5,
        "centered": -0.05 * (s.x / 2.4) ** 2,
    }


CARTPOLE = Task(
    id="CartPole-v1",
    family="classic",
    make_env=lambda **kw: gym.make("CartPole-v1", **kw),
    description=(
        "A pole is hinged to a cart that moves along a frictionless track. The agent pushes the cart "
        "left or right and must keep the pole upright and the cart on the track for 500 steps."
    ),
    action_doc="Discrete(2): 0 = push cart left, 1 = push cart right (10 N).",
    obs_schema=CARTPOLE_SCHEMA,
    view=cartpole_view,
    units=CARTPOLE_UNITS,
    fitness=Fitness(lambda s: xp.ones_like(s.x), "sum", 475.0, "steps", "steps balanced (max 500)"),
    rewards={
        "sparse": HandReward(
            "1 on the last step of an episode that survives all 500 steps",
            components=lambda s: {"survived": _cartpole_survived(s)},
        ),
        "hand": HandReward("alive bonus + uprightness + centring", components=_cartpole_hand),
        "potential": HandReward(
            "env reward shaped with phi = -(|theta|/0.21 + |x|/2.4)",
            potential=lambda s: -(xp.abs_(s.theta) / 0.21 + xp.abs_(s.x) / 2.4),
            base="env",
        ),
    },
    budgets={"default": 100_000, "ppo": 100_000, "a2c": 200_000, "dqn": 100_000},
    max_episode_steps=500,
)

# -- CartPole keep-left (new behaviour: no built-in reward) ---------------------------------


def _make_keep_left(**kw: Any) -> gym.Env:
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    return ZeroEnvReward(CartPoleEnv(**kw))


KEEP_LEFT_X = -0.5

CARTPOLE_KEEP_LEFT = Task(
    id="rewardlab/CartPoleKeepLeft-v0",
    family="behaviour",
    make_env=lambda **kw: gym.make("rewardlab/CartPoleKeepLeft-v0", **kw),
    description=(
        "CartPole, but the cart must spend its time in the left part of the track (x < -0.5 m) while "
        "keeping the pole upright for as long as possible (500 steps). The env gives no reward."
    ),
    action_doc="Discrete(2): 0 = push cart left, 1 = push cart right (10 N).",
    obs_schema=CARTPOLE_SCHEMA,
    view=cartpole_view,
    units=CARTPOLE_UNITS,
    fitness=Fitness(
        lambda s: (s.x < KEEP_LEFT_X).astype(np.float64) / 500.0,
        "sum",
        0.5,
        "fraction",
        "fraction of the 500 steps spent balanced with the cart left of x = -0.5 m",
    ),
    rewards={
        "sparse": HandReward(
            "1 for every step the cart is left of -0.5 m (the success event itself)",
            components=lambda s: {"left": (s.x < KEEP_LEFT_X).astype(np.float64)},
        ),
        "hand": HandReward(
            "alive + upright + a pull towards x = -1.0 m",
            components=lambda s: {
                "alive": np.where(s.terminated, 0.0, 1.0),
                "upright": 0.5 * np.cos(s.theta) - 0.5,
                "left": -np.abs(s.x + 1.0) / 2.4,
            },
        ),
    },
    has_env_reward=False,
    budgets={"default": 150_000},
    max_episode_steps=500,
)

# -- MountainCar ----------------------------------------------------------------------------

MOUNTAINCAR_SCHEMA = (
    ObsField(
        "x", 0, "m", "car position along the valley; the flag is at x = 0.5, the valley bottom near -0.52", -1.2, 0.6
    ),
    ObsField("v", 1, "m/s", "car velocity, positive = moving right (towards the flag)", -0.07, 0.07),
)
MOUNTAINCAR_UNITS = {"x": "m", "v": "m/s", "height": "m", "step": "steps"}
GOAL_X = 0.5


def mountaincar_view(obs: np.ndarray, info: Any) -> dict[str, Any]:
    x = obs[:, 0]
    return {"x": x, "v": obs[:, 1], "height": 0.45 * xp.sin(3.0 * x) + 0.55}


def _mc_energy(s: Any) -> Any:
    """Mechanical energy per unit mass, scaled so the goal state has about 1."""
    # gravity 0.0025 per step on sin(3x) slopes: potential energy ~ 0.0025 * sin(3x) / 3 * ... ;
    # kinetic 0.5 v^2. Both scaled to O(1) at the flag.
    return (0.0025 * xp.sin(3.0 * s.x) + 0.5 * s.v**2 * 3.0) / 0.0025


def _mc_hand(s: Any) -> dict[str, Any]:
    """Energy pumping: reward the gain in mechanical energy, a bonus at the flag, a step cost."""
    return {
        "energy_gain": 10.0 * (_mc_energy(s) - _mc_energy(s.prev)),
        "goal": xp.where_float(s.x >= GOAL_X, 10.0, 0.0),
        "time": xp.full_like(s.x, -0.1),
    }


def _mc_fitness(s: Any) -> Any:
    return xp.as_float(s.x >= GOAL_X)


MC_FITNESS = Fitness(_mc_fitness, "max", 1.0, "reached (0/1)", "reached the flag (x >= 0.5) within the episode")

MOUNTAINCAR = Task(
    id="MountainCar-v0",
    family="classic",
    make_env=lambda **kw: gym.make("MountainCar-v0", **kw),
    description=(
        "An under-powered car sits in a valley between two hills. It must drive back and forth to build "
        "momentum and reach the flag on top of the right hill (x >= 0.5) within 200 steps."
    ),
    action_doc="Discrete(3): 0 = accelerate left, 1 = no push, 2 = accelerate right.",
    obs_schema=MOUNTAINCAR_SCHEMA,
    view=mountaincar_view,
    units=MOUNTAINCAR_UNITS,
    fitness=MC_FITNESS,
    rewards={
        "sparse": HandReward("1 on reaching the flag, else 0", components=lambda s: {"goal": _mc_fitness(s)}),
        "hand": HandReward("energy gain + goal bonus + small time cost", components=_mc_hand),
        "potential": HandReward(
            "sparse shaped with phi = scaled mechanical energy", potential=_mc_energy, base="sparse", gamma=0.99
        ),
    },
    budgets={"default": 100_000, "ppo": 100_000, "dqn": 120_000, "a2c": 200_000},
    max_episode_steps=200,
)


def _mcc_hand(s: Any) -> dict[str, Any]:
    comps = _mc_hand(s)
    comps["effort"] = -0.1 * xp.sum_squares_float(s.action)
    return comps


MOUNTAINCAR_CONTINUOUS = Task(
    id="MountainCarContinuous-v0",
    family="classic",
    make_env=lambda **kw: gym.make("MountainCarContinuous-v0", **kw),
    description=(
        "An under-powered car in a valley applies a continuous force and must reach the flag on the right "
        "hill (x >= 0.45) within 999 steps, spending as little force as possible."
    ),
    action_doc="Box(1) in [-1, 1]: force applied to the car, positive = right.",
    obs_schema=MOUNTAINCAR_SCHEMA,
    view=mountaincar_view,
    units=MOUNTAINCAR_UNITS,
    fitness=Fitness(lambda s: xp.as_float(s.x >= 0.45), "max", 1.0, "reached (0/1)", "reached the flag (x >= 0.45)"),
    rewards={
        "sparse": HandReward("1 on reaching the flag, else 0", components=lambda s: {"goal": xp.as_float(s.x >= 0.45)}),
        "hand": HandReward("energy gain + goal bonus + time and effort costs", components=_mcc_hand),
        "potential": HandReward("sparse shaped with phi = scaled mechanical energy", potential=_mc_energy),
    },
    budgets={"default": 50_000, "sac": 50_000, "td3": 50_000, "ppo": 100_000},
    max_episode_steps=999,
)

# -- Acrobot --------------------------------------------------------------------------------

ACROBOT_SCHEMA = (
    ObsField("cos_theta1", 0, "1", "cosine of the first joint angle (0 rad = hanging down)", -1, 1),
    ObsField("sin_theta1", 1, "1", "sine of the first joint angle", -1, 1),
    ObsField("cos_theta2", 2, "1", "cosine of the second joint angle, relative to the first link", -1, 1),
    ObsField("sin_theta2", 3, "1", "sine of the second joint angle", -1, 1),
    ObsField("theta1_dot", 4, "rad/s", "angular velocity of the first joint", -4 * np.pi, 4 * np.pi),
    ObsField("theta2_dot", 5, "rad/s", "angular velocity of the second joint", -9 * np.pi, 9 * np.pi),
)


def acrobot_view(obs: np.ndarray, info: Any) -> dict[str, Any]:
    c1, s1, c2, s2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    cos12 = c1 * c2 - s1 * s2  # cos(theta1 + theta2)
    return {
        "cos_theta1": c1,
        "sin_theta1": s1,
        "cos_theta2": c2,
        "sin_theta2": s2,
        "theta1_dot": obs[:, 4],
        "theta2_dot": obs[:, 5],
        "tip_height": -c1 - cos12,
    }


ACROBOT = Task(
    id="Acrobot-v1",
    family="classic",
    make_env=lambda **kw: gym.make("Acrobot-v1", **kw),
    description=(
        "Two links hang from a fixed pivot; only the joint between them is actuated. The agent must swing "
        "the free end above a line one link-length above the pivot (tip height > 1) as fast as possible."
    ),
    action_doc="Discrete(3): torque -1, 0, +1 N m on the middle joint.",
    obs_schema=ACROBOT_SCHEMA,
    view=acrobot_view,
    units={"tip_height": "link lengths", "theta1_dot": "rad/s", "theta2_dot": "rad/s", "step": "steps"},
    fitness=Fitness(
        lambda s: xp.full_float(s.tip_height, -1.0),
        "sum",
        -150.0,
        "-steps",
        "minus the number of steps taken to swing the tip above height 1 (-500 if never)",
    ),
    rewards={
        "sparse": HandReward(
            "1 on swinging the tip above height 1", components=lambda s: {"goal": xp.as_float(s.terminated)}
        ),
        "hand": HandReward(
            "tip height + goal bonus + step cost",
            components=lambda s: {
                "height": 0.25 * s.tip_height,
                "goal": xp.where_float(s.terminated, 10.0, 0.0),
                "time": xp.full_like(s.tip_height, -1.0),
            },
        ),
        "potential": HandReward(
            "env reward shaped with phi = tip height", potential=lambda s: s.tip_height, base="env"
        ),
    },
    budgets={"default": 100_000},
    max_episode_steps=500,
)

# -- Pendulum -------------------------------------------------------------------------------

PENDULUM_SCHEMA = (
    ObsField("cos_theta", 0, "1", "cosine of the pendulum angle (1 = upright)", -1, 1),
    ObsField("sin_theta", 1, "1", "sine of the pendulum angle", -1, 1),
    ObsField("theta_dot", 2, "rad/s", "angular velocity", -8, 8),
)
UPRIGHT_RAD = 0.3


def pendulum_view(obs: np.ndarray, info: Any) -> dict[str, Any]:
    return {
        "cos_theta": obs[:, 0],
        "sin_theta": obs[:, 1],
        "theta_dot": obs[:, 2],
        "theta": xp.arctan2(obs[:, 1], obs[:, 0]),
    }


def _pendulum_upright(s: Any) -> Any:
    return xp.as_float(xp.abs_(s.theta) < UPRIGHT_RAD)


PENDULUM = Task(
    id="Pendulum-v1",
    family="classic",
    make_env=lambda **kw: gym.make("Pendulum-v1", **kw),
    description=(
        "A pendulum starts at a random angle. The agent applies torque to swing it up and keep it "
        "balanced upright (theta = 0) with little effort, for 200 steps."
    ),
    action_doc="Box(1) in [-2, 2]: torque in N m.",
    obs_schema=PENDULUM_SCHEMA,
    view=pendulum_view,
    units={"theta": "rad", "theta_dot": "rad/s", "cos_theta": "1", "sin_theta": "1", "step": "steps"},
    fitness=Fitness(_pendulum_upright, "mean", 0.5, "fraction", f"fraction of steps with |theta| < {UPRIGHT_RAD} rad"),
    rewards={
        "sparse": HandReward(
            f"1 while |theta| < {UPRIGHT_RAD} rad", components=lambda s: {"upright": _pendulum_upright(s)}
        ),
        "hand": HandReward(
            "cos(theta) + slow spin near the top + effort cost",
            components=lambda s: {
                "height": xp.cos(s.theta),
                "spin": -0.1 * s.theta_dot**2 * (xp.cos(s.theta) > 0.8),
                "effort": -0.001 * xp.sum_squares_float(s.action),
            },
        ),
        "potential": HandReward("sparse shaped with phi = cos(theta)", potential=lambda s: xp.cos(s.theta)),
    },
    budgets={"default": 20_000, "sac": 20_000, "td3": 20_000, "ppo": 200_000},
    max_episode_steps=200,
)

for _t in (CARTPOLE, MOUNTAINCAR, MOUNTAINCAR_CONTINUOUS, ACROBOT, PENDULUM):
    register_task(_t)
register_task(CARTPOLE_KEEP_LEFT, gym_entry_point=_make_keep_left)
