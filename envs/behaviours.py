"""New-behaviour MuJoCo tasks: the env gives no reward, only the fitness says what success is.

- ``rewardlab/HalfCheetahBackflip-v0``: as many backward somersaults as possible.
- ``rewardlab/HopperJump-v0``: jump as high as possible.
- ``rewardlab/AntCircle-v0``: walk counter-clockwise around the origin in a ring.

Each is a gymnasium v5 env class with :class:`~envs.wrappers.ZeroEnvReward` and the same
privileged ``info`` fields as its benchmark task. Termination rules, per task:

- HalfCheetah has no termination in v5; that is what the backflip needs (it may land on its back).
- HopperJump switches v5's healthy termination off: a jump that ends in a fall still counts, and
  an episode keeps running so a policy can also learn to recover and jump again.
- AntCircle switches it off too (v5 would end the episode whenever the torso rises above 1 m);
  a flipped ant simply stops making progress. Its observation keeps the torso's x and y
  (``exclude_current_positions_from_observation=False``, 107 dims): circling the origin is not
  observable without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from envs.mujoco_tasks import (
    ANT_FIELDS_UNITS,
    HALF_CHEETAH_SCHEMA,
    HALF_CHEETAH_UNITS,
    HOPPER_SCHEMA,
    HOPPER_UNITS,
    ant_fields,
    ant_info,
    ant_schema,
    effort,
    half_cheetah_view,
    hopper_view,
    planar_info,
    schema_units,
)
from envs.registry import Fitness, HandReward, Task, register_task
from envs.wrappers import InfoFields, ZeroEnvReward

TWO_PI = 2.0 * np.pi

# -- HalfCheetah backflip --------------------------------------------------------------------

BACKFLIP_ID = "rewardlab/HalfCheetahBackflip-v0"
# SB3 PPO (defaults, 4 envs) on the "hand" reward reached 10-17 flips per episode after 600k steps.
BACKFLIP_THRESHOLD = 10.0


def make_backflip_env(**kw: Any) -> gym.Env:
    from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

    return InfoFields(ZeroEnvReward(HalfCheetahEnv(**kw)), planar_info)


def completed_backflips(torso_angle: Any) -> Any:
    """Whole backward turns of the torso. The pitch is unwrapped and negative = nose up, so a
    backflip (nose up, over the back, upright again) takes it from 0 to -2*pi."""
    return np.floor(np.maximum(-torso_angle, 0.0) / TWO_PI)


def _backflip_sparse(s: Any) -> dict[str, Any]:
    """1 each time another backward turn completes (-1 if one is undone)."""
    return {"flip": completed_backflips(s.torso_angle) - completed_backflips(s.prev.torso_angle)}


def _backflip_hand(s: Any) -> dict[str, Any]:
    """Backward pitch rate, height off the ground, torque cost."""
    return {
        "spin": -s.angular_velocity,
        "lift": 2.0 * np.maximum(s.torso_z - 0.7, 0.0),
        "ctrl_cost": -0.1 * effort(s),
    }


HALF_CHEETAH_BACKFLIP = Task(
    id=BACKFLIP_ID,
    family="behaviour",
    make_env=lambda **kw: gym.make(BACKFLIP_ID, **kw),
    description=(
        "The planar HalfCheetah must do as many complete backflips as it can in 1000 steps (50 s). A "
        "backflip is a backward somersault: the nose rises, the body turns over its back and comes round "
        "to upright again. Turning forwards undoes backward turns. The episode never ends early, so the "
        "cheetah may land on its back and carry on. The env gives no reward."
    ),
    action_doc="Box(6) in [-1, 1]: torques on back hip, back knee, back ankle, front hip, front knee, front ankle.",
    obs_schema=HALF_CHEETAH_SCHEMA,
    view=half_cheetah_view,
    units=HALF_CHEETAH_UNITS,
    fitness=Fitness(
        lambda s: completed_backflips(s.torso_angle),
        "max",
        BACKFLIP_THRESHOLD,
        "flips",
        "completed backward somersaults (net backward torso rotation in whole turns)",
    ),
    rewards={
        "sparse": HandReward(
            "1 each time another backward turn completes (-1 if one is undone)",
            components=_backflip_sparse,
        ),
        "hand": HandReward("backward spin rate + lift + torque cost", components=_backflip_hand),
    },
    has_env_reward=False,
    info_keys=("x_position",),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 500_000},
    max_episode_steps=1000,
)

# -- Hopper jump ---------------------------------------------------------------------------

JUMP_ID = "rewardlab/HopperJump-v0"
HOPPER_STAND_Z = 1.25
# Open-loop CEM reached 1.46 m; SB3 PPO on the "hand" reward averaged 1.45 m, peaking at 1.77 m, by 600k steps.
JUMP_HEIGHT_M = 1.6


def make_jump_env(**kw: Any) -> gym.Env:
    from gymnasium.envs.mujoco.hopper_v5 import HopperEnv

    kw.setdefault("terminate_when_unhealthy", False)
    return InfoFields(ZeroEnvReward(HopperEnv(**kw)), planar_info)


def _jump_hand(s: Any) -> dict[str, Any]:
    """Height above standing, upward speed, upright torso, small torque cost."""
    return {
        "height": 10.0 * np.maximum(s.torso_z - HOPPER_STAND_Z, 0.0),
        "rise": 0.5 * np.maximum(s.z_velocity, 0.0),
        "posture": -0.5 * s.torso_angle**2,
        "ctrl_cost": -1e-3 * effort(s),
    }


HOPPER_JUMP = Task(
    id=JUMP_ID,
    family="behaviour",
    make_env=lambda **kw: gym.make(JUMP_ID, **kw),
    description=(
        "The one-legged planar Hopper must jump as high as it can: what counts is the greatest height its "
        "torso reaches at any moment of the 1000-step (8 s) episode (the torso centre is at 1.25 m when "
        "standing). Where it lands does not matter, and falling does not end the episode. The env gives no "
        "reward."
    ),
    action_doc="Box(3) in [-1, 1]: torques on the hip, knee and ankle (motor gear 200).",
    obs_schema=HOPPER_SCHEMA,
    view=hopper_view,
    units=HOPPER_UNITS,
    fitness=Fitness(
        lambda s: s.torso_z, "max", JUMP_HEIGHT_M, "m", "greatest torso-centre height in the episode (1.25 m standing)"
    ),
    rewards={
        "sparse": HandReward(
            f"1 on each step the torso centre is at least {JUMP_HEIGHT_M} m high",
            components=lambda s: {"high": (s.torso_z >= JUMP_HEIGHT_M).astype(np.float64)},
        ),
        "hand": HandReward("height above standing + upward speed + posture + torque cost", components=_jump_hand),
    },
    has_env_reward=False,
    info_keys=("x_position",),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 500_000},
    max_episode_steps=1000,
)

# -- Ant circle ----------------------------------------------------------------------------

CIRCLE_ID = "rewardlab/AntCircle-v0"
CIRCLE_RADIUS_M = 3.0
CIRCLE_BAND_M = (2.0, 4.0)


def make_circle_env(**kw: Any) -> gym.Env:
    from gymnasium.envs.mujoco.ant_v5 import AntEnv

    kw.setdefault("exclude_current_positions_from_observation", False)
    kw.setdefault("terminate_when_unhealthy", False)
    return InfoFields(ZeroEnvReward(AntEnv(**kw)), ant_info)


ANT_CIRCLE_SCHEMA = ant_schema(with_xy=True)
ANT_CIRCLE_UNITS = schema_units(
    ANT_CIRCLE_SCHEMA,
    **ANT_FIELDS_UNITS,
    radius="m",
    polar_angle="rad",
    tangential_velocity="m/s",
    in_ring="bool",
)


def ant_circle_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    f = ant_fields(ANT_CIRCLE_SCHEMA, obs)
    x, y = f["x_position"], f["y_position"]
    f["radius"] = np.hypot(x, y)
    f["polar_angle"] = np.arctan2(y, x)
    # counter-clockwise speed around the origin (seen from above)
    f["tangential_velocity"] = (x * f["y_velocity"] - y * f["x_velocity"]) / np.maximum(f["radius"], 1e-6)
    f["in_ring"] = (f["radius"] >= CIRCLE_BAND_M[0]) & (f["radius"] <= CIRCLE_BAND_M[1])
    return f


def _wrap(angle: Any) -> Any:
    return (angle + np.pi) % TWO_PI - np.pi


def _circle_progress(s: Any) -> Any:
    """Counter-clockwise change of the polar angle on steps that start and end inside the ring."""
    both_in = s.in_ring & s.prev.in_ring
    return np.where(both_in, _wrap(s.polar_angle - s.prev.polar_angle), 0.0)


def _quarter(s: Any) -> Any:
    return np.floor(s.polar_angle / (np.pi / 2.0))


def _circle_sparse(s: Any) -> dict[str, Any]:
    """+1 for crossing into the next quarter of the ring counter-clockwise, -1 clockwise."""
    turn = (_quarter(s) - _quarter(s.prev)) % 4
    both_in = s.in_ring & s.prev.in_ring
    return {"quarter": np.where(both_in, np.where(turn == 1, 1.0, np.where(turn == 3, -1.0, 0.0)), 0.0)}


def _circle_hand(s: Any) -> dict[str, Any]:
    """Counter-clockwise speed, distance from the 3 m circle, staying upright, torque cost."""
    return {
        "orbit": s.tangential_velocity * np.exp(-((s.radius - CIRCLE_RADIUS_M) ** 2)),
        "radius": -0.5 * np.abs(s.radius - CIRCLE_RADIUS_M),
        "healthy": (s.healthy & (s.upright > 0.0)).astype(np.float64),
        "ctrl_cost": -0.5 * effort(s),
    }


ANT_CIRCLE = Task(
    id=CIRCLE_ID,
    family="behaviour",
    make_env=lambda **kw: gym.make(CIRCLE_ID, **kw),
    description=(
        "The Ant starts at the origin and must walk counter-clockwise (seen from above, from +x towards +y) "
        "around the origin, staying in a ring between 2 m and 4 m from it, and cover as much angle around "
        "the origin as possible in 1000 steps (50 s). Only movement inside the ring counts, and going "
        "clockwise undoes progress. Its own x, y position is part of the observation. Falling or flipping "
        "does not end the episode. The env gives no reward."
    ),
    action_doc=(
        "Box(8) in [-1, 1]: torques (gear 150) on hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3 "
        "(leg 1 front-left, 2 back-left, 3 back-right, 4 front-right)."
    ),
    obs_schema=ANT_CIRCLE_SCHEMA,
    view=ant_circle_view,
    units=ANT_CIRCLE_UNITS,
    fitness=Fitness(
        _circle_progress,
        "sum",
        TWO_PI,
        "rad",
        "counter-clockwise angle covered around the origin inside the 2-4 m ring (2*pi = one lap)",
    ),
    rewards={
        "sparse": HandReward(
            "1 per quarter lap completed counter-clockwise inside the ring (-1 clockwise)", components=_circle_sparse
        ),
        "hand": HandReward(
            "counter-clockwise speed near 3 m + ring keeping + upright + torque cost", components=_circle_hand
        ),
    },
    has_env_reward=False,
    info_keys=("x_position", "y_position"),
    budgets={"default": 2_000_000, "ppo": 2_000_000, "sac": 1_000_000},
    max_episode_steps=1000,
)

register_task(HALF_CHEETAH_BACKFLIP, gym_entry_point=make_backflip_env)
register_task(HOPPER_JUMP, gym_entry_point=make_jump_env)
register_task(ANT_CIRCLE, gym_entry_point=make_circle_env)
