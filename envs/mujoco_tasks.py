"""MuJoCo locomotion and manipulation tasks on gymnasium's v5 environments.

InvertedPendulum, Reacher, Hopper, HalfCheetah, Walker2d and Ant, each with the v5 default
observation layout spelled out field by field. The planar walkers and the Ant are wrapped in
:class:`~envs.wrappers.InfoFields` so that ``info`` carries the torso position the observation
leaves out (``x_position``, and ``y_position`` for the Ant) on reset and on every step.

Sign conventions (checked against the models): every hinge about the world y axis follows the
right-hand rule, so a positive pitch (``torso_angle``) tips the front of the body *down* --
the cheetah's nose dips, the hopper's and walker's torso leans forward.

The schemas, views and info functions here are reused by :mod:`envs.behaviours`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from envs.registry import Fitness, HandReward, ObsField, Task, register_task
from envs.wrappers import InfoFields, route_mujoco_warnings

route_mujoco_warnings()

# -- shared helpers ------------------------------------------------------------------------


def obs_fields(schema: Sequence[ObsField], obs: Any) -> dict[str, Any]:
    """Slice a batch of observations ``(n, dim)`` into the schema's named columns ``(n,)``
    (slice fields keep their trailing dimension)."""
    obs = np.asarray(obs)
    out: dict[str, Any] = {}
    for f in schema:
        if isinstance(f.index, tuple):
            out[f.name] = obs[:, f.index[0] : f.index[1]]
        else:
            out[f.name] = obs[:, f.index]
    return out


def schema_units(schema: Sequence[ObsField], **extra: str) -> dict[str, str]:
    """Units of the schema fields plus derived/info fields; ``step`` is in steps."""
    return {**{f.name: f.unit for f in schema}, **extra, "step": "steps"}


def effort(s: Any) -> Any:
    """Squared action norm per env, ``(n,)``."""
    return np.sum(np.square(np.asarray(s.action, dtype=np.float64)), axis=-1)


def alive(s: Any) -> Any:
    return np.where(np.asarray(s.terminated, dtype=bool), 0.0, 1.0)


def planar_info(env: Any) -> dict[str, float]:
    """Privileged state of a planar walker: the torso's x position (the observation omits it)."""
    return {"x_position": float(env.data.qpos[0])}


def ant_info(env: Any) -> dict[str, float]:
    """Privileged state of the Ant: the torso's x and y position (the observation omits them)."""
    return {"x_position": float(env.data.qpos[0]), "y_position": float(env.data.qpos[1])}


def _with_info(fields: dict[str, Any], info: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    for k in keys:
        if k in info and k not in fields:
            fields[k] = np.asarray(info[k], dtype=np.float64)
    return fields


def make_v5(env_id: str, info_fn: Callable[[Any], dict[str, float]] | None = None, **kw: Any) -> gym.Env:
    """``gym.make(env_id, **kw)``, with ``info_fn``'s fields added to ``info`` when given."""
    env = gym.make(env_id, **kw)
    return InfoFields(env, info_fn) if info_fn is not None else env


def metre_milestones(s: Any) -> dict[str, Any]:
    """+1 for each whole metre of x the torso crosses forwards, -1 backwards.

    Needs ``x_position`` in the view of both ``s`` and ``s.prev`` (``info`` and the previous
    step's ``info``). Over an episode it sums to the whole metres gained, so it cannot be
    farmed by walking back and forth.
    """
    return {"milestone": np.floor(s.x_position) - np.floor(s.prev.x_position)}


def forward_distance(s: Any) -> Any:
    """Torso x position; with ``reduce="last"`` the distance travelled (episodes start near x = 0)."""
    return s.x_position


# -- InvertedPendulum ----------------------------------------------------------------------

PENDULUM_FALL_RAD = 0.2

INVERTED_PENDULUM_SCHEMA = (
    ObsField("cart_x", 0, "m", "cart position along the rail, 0 = centre; the rail ends at +-1 m"),
    ObsField(
        "pole_angle",
        1,
        "rad",
        "pole angle from vertical, positive = tip leaning towards +x; the episode ends beyond +-0.2 rad",
    ),
    ObsField("cart_velocity", 2, "m/s", "cart velocity along the rail, positive = towards +x"),
    ObsField("pole_angular_velocity", 3, "rad/s", "pole angular velocity, positive = tipping towards +x"),
)


def inverted_pendulum_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    return obs_fields(INVERTED_PENDULUM_SCHEMA, obs)


def _pendulum_hand(s: Any) -> dict[str, Any]:
    """Alive bonus, pole uprightness, calm pole, cart near the centre of the rail."""
    return {
        "alive": alive(s),
        "upright": -((s.pole_angle / PENDULUM_FALL_RAD) ** 2),
        "calm": -0.01 * s.pole_angular_velocity**2,
        "centered": -0.1 * s.cart_x**2,
    }


INVERTED_PENDULUM = Task(
    id="InvertedPendulum-v5",
    family="mujoco",
    make_env=partial(make_v5, "InvertedPendulum-v5"),
    description=(
        "A pole is hinged on a cart that slides along a 2 m rail. The agent pushes the cart left or right "
        "and must keep the pole within 0.2 rad of vertical for 1000 steps (40 s); the episode ends when "
        "the pole tips further."
    ),
    action_doc="Box(1) in [-3, 3]: push on the cart along x (motor gear 100, so force = 100 * action N).",
    obs_schema=INVERTED_PENDULUM_SCHEMA,
    view=inverted_pendulum_view,
    units=schema_units(INVERTED_PENDULUM_SCHEMA),
    fitness=Fitness(alive, "sum", 950.0, "steps", "steps with the pole balanced (max 1000)"),
    rewards={
        "sparse": HandReward(
            "1 on the last step of an episode that keeps the pole up for all 1000 steps",
            components=lambda s: {
                "survived": ((s.step >= 1000) & ~np.asarray(s.terminated, dtype=bool)).astype(np.float64)
            },
        ),
        "hand": HandReward("alive bonus + uprightness + calm pole + centring", components=_pendulum_hand),
        "potential": HandReward(
            "env reward shaped with phi = 1 - (pole_angle / 0.2)^2 (>= 0 while up, so falling loses it)",
            potential=lambda s: 1.0 - (s.pole_angle / PENDULUM_FALL_RAD) ** 2,
            base="env",
        ),
    },
    budgets={"default": 200_000, "ppo": 200_000, "sac": 50_000},
    max_episode_steps=1000,
)

# -- Reacher -------------------------------------------------------------------------------

REACH_TOUCH_M = 0.02  # fingertip (r = 0.01 m) and target (r = 0.009 m) spheres touch at 0.019 m

REACHER_SCHEMA = (
    ObsField("cos_shoulder", 0, "1", "cosine of the shoulder angle (the first link's angle from the +x axis)", -1, 1),
    ObsField("cos_elbow", 1, "1", "cosine of the elbow angle (the second link relative to the first)", -1, 1),
    ObsField("sin_shoulder", 2, "1", "sine of the shoulder angle", -1, 1),
    ObsField("sin_elbow", 3, "1", "sine of the elbow angle", -1, 1),
    ObsField("target_x", 4, "m", "x of the target in the arena (the shoulder is at the origin)", -0.2, 0.2),
    ObsField("target_y", 5, "m", "y of the target; targets are drawn uniformly within 0.2 m of the origin", -0.2, 0.2),
    ObsField("shoulder_velocity", 6, "rad/s", "angular velocity of the shoulder joint"),
    ObsField("elbow_velocity", 7, "rad/s", "angular velocity of the elbow joint"),
    ObsField("dx", 8, "m", "x of the fingertip minus x of the target"),
    ObsField("dy", 9, "m", "y of the fingertip minus y of the target"),
)
REACHER_UNITS = schema_units(
    REACHER_SCHEMA,
    distance="m",
    shoulder_angle="rad",
    elbow_angle="rad",
    fingertip_x="m",
    fingertip_y="m",
)


def reacher_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    f = obs_fields(REACHER_SCHEMA, obs)
    f["distance"] = np.hypot(f["dx"], f["dy"])
    f["shoulder_angle"] = np.arctan2(f["sin_shoulder"], f["cos_shoulder"])
    f["elbow_angle"] = np.arctan2(f["sin_elbow"], f["cos_elbow"])
    f["fingertip_x"] = f["target_x"] + f["dx"]
    f["fingertip_y"] = f["target_y"] + f["dy"]
    return f


def _reach_touch(s: Any) -> Any:
    return (s.distance < REACH_TOUCH_M).astype(np.float64)


REACHER = Task(
    id="Reacher-v5",
    family="mujoco",
    make_env=partial(make_v5, "Reacher-v5"),
    description=(
        "A two-link planar arm (links 0.1 m and 0.11 m) is anchored at the origin. A target appears at a "
        "random point within 0.2 m; the agent drives the shoulder and elbow motors to bring the fingertip "
        "onto the target within 50 steps (1 s) and hold it there, using little torque."
    ),
    action_doc="Box(2) in [-1, 1]: torques on the shoulder and on the elbow (motor gear 200).",
    obs_schema=REACHER_SCHEMA,
    view=reacher_view,
    units=REACHER_UNITS,
    fitness=Fitness(
        lambda s: -s.distance,
        "last",
        -REACH_TOUCH_M,
        "-m",
        "minus the fingertip-target distance at the end of the episode (0.02 m = touching)",
    ),
    rewards={
        "sparse": HandReward(
            "1 on each step the fingertip touches the target (< 0.02 m)",
            components=lambda s: {"touch": _reach_touch(s)},
        ),
        "hand": HandReward(
            "distance penalty + touch bonus + torque cost",
            components=lambda s: {
                "distance": -s.distance,
                "touch": 0.1 * _reach_touch(s),
                "ctrl_cost": -0.1 * effort(s),
            },
        ),
        "potential": HandReward("sparse shaped with phi = -20 * distance", potential=lambda s: -20.0 * s.distance),
    },
    budgets={"default": 500_000, "ppo": 1_000_000, "sac": 300_000},
    max_episode_steps=50,
)

# -- planar walkers: Hopper, HalfCheetah, Walker2d -----------------------------------------

HOPPER_SCHEMA = (
    ObsField(
        "torso_z",
        0,
        "m",
        "height of the torso centre above the ground (1.25 at the start; v5 ends the episode below 0.7)",
    ),
    ObsField(
        "torso_angle",
        1,
        "rad",
        "torso pitch from vertical, positive = leaning forward (v5 ends the episode beyond +-0.2)",
    ),
    ObsField("thigh_angle", 2, "rad", "hip angle between torso and thigh, range -2.62..0"),
    ObsField("leg_angle", 3, "rad", "knee angle between thigh and leg, range -2.62..0"),
    ObsField("foot_angle", 4, "rad", "ankle angle between leg and foot, range -0.79..0.79"),
    ObsField(
        "x_velocity", 5, "m/s", "forward velocity of the torso, positive = forward (+x); clipped to +-10", -10, 10
    ),
    ObsField("z_velocity", 6, "m/s", "vertical velocity of the torso, positive = up; clipped to +-10", -10, 10),
    ObsField(
        "angular_velocity", 7, "rad/s", "pitch rate of the torso, positive = tipping forward; clipped to +-10", -10, 10
    ),
    ObsField("thigh_velocity", 8, "rad/s", "hip joint angular velocity; clipped to +-10", -10, 10),
    ObsField("leg_velocity", 9, "rad/s", "knee joint angular velocity; clipped to +-10", -10, 10),
    ObsField("foot_velocity", 10, "rad/s", "ankle joint angular velocity; clipped to +-10", -10, 10),
)
HOPPER_UNITS = schema_units(HOPPER_SCHEMA, x_position="m", healthy="bool")


def hopper_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    f = obs_fields(HOPPER_SCHEMA, obs)
    # v5's own health rule (its state-range check on |qpos, qvel| < 100 never binds in practice)
    f["healthy"] = (f["torso_z"] > 0.7) & (np.abs(f["torso_angle"]) < 0.2)
    return _with_info(f, info, ("x_position",))


CHEETAH_SPAWN_Z = 0.7  # the cheetah's root z joint is measured from the torso's spawn height

HALF_CHEETAH_SCHEMA = (
    ObsField(
        "root_z",
        0,
        "m",
        "vertical displacement of the torso from its spawn height; torso height = 0.7 + root_z (about 0.57 standing)",
    ),
    ObsField(
        "torso_angle",
        1,
        "rad",
        "torso pitch, not wrapped (counts whole turns); positive = nose down, negative = nose up; "
        "a full backward somersault takes it from 0 to -2*pi",
    ),
    ObsField("bthigh_angle", 2, "rad", "back hip angle, range -0.52..1.05"),
    ObsField("bshin_angle", 3, "rad", "back knee angle, range -0.78..0.78"),
    ObsField("bfoot_angle", 4, "rad", "back ankle angle, range -0.4..0.78"),
    ObsField("fthigh_angle", 5, "rad", "front hip angle, range -1.0..0.7"),
    ObsField("fshin_angle", 6, "rad", "front knee angle, range -1.2..0.87"),
    ObsField("ffoot_angle", 7, "rad", "front ankle angle, range -0.5..0.5"),
    ObsField("x_velocity", 8, "m/s", "forward velocity of the torso, positive = forward (+x)"),
    ObsField("z_velocity", 9, "m/s", "vertical velocity of the torso, positive = up"),
    ObsField(
        "angular_velocity",
        10,
        "rad/s",
        "pitch rate of the torso, positive = nose going down, negative = nose going up/backwards",
    ),
    ObsField("bthigh_velocity", 11, "rad/s", "back hip angular velocity"),
    ObsField("bshin_velocity", 12, "rad/s", "back knee angular velocity"),
    ObsField("bfoot_velocity", 13, "rad/s", "back ankle angular velocity"),
    ObsField("fthigh_velocity", 14, "rad/s", "front hip angular velocity"),
    ObsField("fshin_velocity", 15, "rad/s", "front knee angular velocity"),
    ObsField("ffoot_velocity", 16, "rad/s", "front ankle angular velocity"),
)
HALF_CHEETAH_UNITS = schema_units(HALF_CHEETAH_SCHEMA, torso_z="m", x_position="m")


def half_cheetah_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    f = obs_fields(HALF_CHEETAH_SCHEMA, obs)
    f["torso_z"] = CHEETAH_SPAWN_Z + f["root_z"]
    return _with_info(f, info, ("x_position",))


WALKER_SCHEMA = (
    ObsField(
        "torso_z",
        0,
        "m",
        "height of the torso centre above the ground (1.25 at the start; v5 ends the episode outside 0.8..2.0)",
    ),
    ObsField(
        "torso_angle",
        1,
        "rad",
        "torso pitch from vertical, positive = leaning forward (v5 ends the episode beyond +-1)",
    ),
    ObsField("right_thigh_angle", 2, "rad", "right hip angle, range -2.62..0"),
    ObsField("right_leg_angle", 3, "rad", "right knee angle, range -2.62..0"),
    ObsField("right_foot_angle", 4, "rad", "right ankle angle, range -0.79..0.79"),
    ObsField("left_thigh_angle", 5, "rad", "left hip angle, range -2.62..0"),
    ObsField("left_leg_angle", 6, "rad", "left knee angle, range -2.62..0"),
    ObsField("left_foot_angle", 7, "rad", "left ankle angle, range -0.79..0.79"),
    ObsField(
        "x_velocity", 8, "m/s", "forward velocity of the torso, positive = forward (+x); clipped to +-10", -10, 10
    ),
    ObsField("z_velocity", 9, "m/s", "vertical velocity of the torso, positive = up; clipped to +-10", -10, 10),
    ObsField(
        "angular_velocity", 10, "rad/s", "pitch rate of the torso, positive = tipping forward; clipped to +-10", -10, 10
    ),
    ObsField("right_thigh_velocity", 11, "rad/s", "right hip angular velocity; clipped to +-10", -10, 10),
    ObsField("right_leg_velocity", 12, "rad/s", "right knee angular velocity; clipped to +-10", -10, 10),
    ObsField("right_foot_velocity", 13, "rad/s", "right ankle angular velocity; clipped to +-10", -10, 10),
    ObsField("left_thigh_velocity", 14, "rad/s", "left hip angular velocity; clipped to +-10", -10, 10),
    ObsField("left_leg_velocity", 15, "rad/s", "left knee angular velocity; clipped to +-10", -10, 10),
    ObsField("left_foot_velocity", 16, "rad/s", "left ankle angular velocity; clipped to +-10", -10, 10),
)
WALKER_UNITS = schema_units(WALKER_SCHEMA, x_position="m", healthy="bool")


def walker_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    f = obs_fields(WALKER_SCHEMA, obs)
    f["healthy"] = (f["torso_z"] > 0.8) & (f["torso_z"] < 2.0) & (np.abs(f["torso_angle"]) < 1.0)
    return _with_info(f, info, ("x_position",))


def _walking_potential(s: Any) -> Any:
    """phi = healthy * (1 + max(x_velocity, 0) / 2): the value of a state grows with forward speed
    and is lost on falling (phi >= 0, and phi(terminal) = 0)."""
    return np.where(s.healthy, 1.0 + 0.5 * np.maximum(s.x_velocity, 0.0), 0.0)


def _walker_hand(posture_weight: float) -> Callable[[Any], dict[str, Any]]:
    """Forward speed, staying healthy, upright torso (``-posture_weight * torso_angle^2``), small
    torque cost: the Hopper's and the Walker2d's hand reward."""

    def components(s: Any) -> dict[str, Any]:
        return {
            "forward": s.x_velocity,
            "healthy": s.healthy.astype(np.float64),
            "posture": -posture_weight * s.torso_angle**2,
            "ctrl_cost": -1e-3 * effort(s),
        }

    return components


def _cheetah_hand(s: Any) -> dict[str, Any]:
    """Forward speed, torque cost, and a nudge against running on its back."""
    return {
        "forward": s.x_velocity,
        "upright": 0.5 * (np.cos(s.torso_angle) - 1.0),
        "ctrl_cost": -0.1 * effort(s),
    }


# the locomotion tasks' sparse reward, and the potential of those that can fall
_MILESTONES = HandReward(
    "1 for each whole metre of forward progress (-1 for each metre lost)", components=metre_milestones
)
_WALKING_POTENTIAL = HandReward(
    "sparse shaped with phi = healthy * (1 + forward speed / 2)", potential=_walking_potential
)

HOPPER = Task(
    id="Hopper-v5",
    family="mujoco",
    make_env=partial(make_v5, "Hopper-v5", planar_info),
    description=(
        "A one-legged planar robot (torso, thigh, leg, foot) must hop forward along +x as far as possible "
        "in 1000 steps (8 s) without falling: the episode ends if the torso drops below 0.7 m or tilts "
        "more than 0.2 rad."
    ),
    action_doc="Box(3) in [-1, 1]: torques on the hip, knee and ankle (motor gear 200).",
    obs_schema=HOPPER_SCHEMA,
    view=hopper_view,
    units=HOPPER_UNITS,
    fitness=Fitness(forward_distance, "last", 10.0, "m", "forward distance travelled by the torso (x at the end)"),
    rewards={
        "sparse": _MILESTONES,
        "hand": HandReward(
            "forward speed + healthy bonus + posture + torque cost", components=_walker_hand(posture_weight=0.5)
        ),
        "potential": _WALKING_POTENTIAL,
    },
    info_keys=("x_position",),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 1_000_000},
    max_episode_steps=1000,
)

HALF_CHEETAH = Task(
    id="HalfCheetah-v5",
    family="mujoco",
    make_env=partial(make_v5, "HalfCheetah-v5", planar_info),
    description=(
        "A planar two-legged 'cheetah' (torso, back leg and front leg, three joints each) must run "
        "forward along +x as far as possible in 1000 steps (50 s). It never falls over for good: "
        "episodes always last 1000 steps."
    ),
    action_doc="Box(6) in [-1, 1]: torques on back hip, back knee, back ankle, front hip, front knee, front ankle.",
    obs_schema=HALF_CHEETAH_SCHEMA,
    view=half_cheetah_view,
    units=HALF_CHEETAH_UNITS,
    fitness=Fitness(forward_distance, "last", 150.0, "m", "forward distance travelled by the torso (x at the end)"),
    rewards={
        "sparse": _MILESTONES,
        "hand": HandReward("forward speed + uprightness + torque cost", components=_cheetah_hand),
        "potential": HandReward(
            "sparse shaped with phi = forward speed / 2 (faster states are worth more)",
            potential=lambda s: 0.5 * s.x_velocity,
        ),
    },
    info_keys=("x_position",),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 1_000_000},
    max_episode_steps=1000,
)

WALKER2D = Task(
    id="Walker2d-v5",
    family="mujoco",
    make_env=partial(make_v5, "Walker2d-v5", planar_info),
    description=(
        "A planar biped (torso, two legs with thigh, leg and foot) must walk forward along +x as far as "
        "possible in 1000 steps (8 s) without falling: the episode ends if the torso leaves the 0.8-2.0 m "
        "height band or tilts more than 1 rad."
    ),
    action_doc="Box(6) in [-1, 1]: torques on right hip, right knee, right ankle, left hip, left knee, left ankle (gear 100).",
    obs_schema=WALKER_SCHEMA,
    view=walker_view,
    units=WALKER_UNITS,
    fitness=Fitness(forward_distance, "last", 15.0, "m", "forward distance travelled by the torso (x at the end)"),
    rewards={
        "sparse": _MILESTONES,
        "hand": HandReward(
            "forward speed + healthy bonus + posture + torque cost", components=_walker_hand(posture_weight=0.1)
        ),
        "potential": _WALKING_POTENTIAL,
    },
    info_keys=("x_position",),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 1_000_000},
    max_episode_steps=1000,
)

# -- Ant -----------------------------------------------------------------------------------

# Legs by position on the torso (the xml's body names are misleading): 1 = front-left (+x, +y),
# 2 = back-left (-x, +y), 3 = back-right (-x, -y), 4 = front-right (+x, -y).
_ANT_LEGS = {1: "front-left", 2: "back-left", 3: "back-right", 4: "front-right"}
_ANT_ANKLE_RANGE = {1: "0.52..1.22", 2: "-1.22..-0.52", 3: "-1.22..-0.52", 4: "0.52..1.22"}
ANT_HEALTHY_Z = (0.2, 1.0)


def ant_schema(with_xy: bool = False) -> tuple[ObsField, ...]:
    """The Ant-v5 layout; ``with_xy`` for ``exclude_current_positions_from_observation=False``."""
    fields: list[tuple[str, str, str]] = []
    if with_xy:
        fields += [
            ("x_position", "m", "x of the torso centre in the world (starts near 0)"),
            ("y_position", "m", "y of the torso centre in the world (starts near 0)"),
        ]
    fields += [
        ("torso_z", "m", "height of the torso centre (0.75 at spawn; v5 ends the episode outside 0.2..1.0)"),
        ("torso_qw", "1", "torso orientation quaternion, w part; (w, x, y, z) = (1, 0, 0, 0) is upright facing +x"),
        ("torso_qx", "1", "torso orientation quaternion, x part"),
        ("torso_qy", "1", "torso orientation quaternion, y part"),
        ("torso_qz", "1", "torso orientation quaternion, z part"),
    ]
    for leg in range(1, 5):
        fields += [
            (f"hip_{leg}", "rad", f"{_ANT_LEGS[leg]} hip angle (leg swing about the vertical), range -0.52..0.52"),
            (f"ankle_{leg}", "rad", f"{_ANT_LEGS[leg]} ankle angle (lower-leg lift), range {_ANT_ANKLE_RANGE[leg]}"),
        ]
    fields += [
        ("x_velocity", "m/s", "velocity of the torso along world x, positive = forward along +x"),
        ("y_velocity", "m/s", "velocity of the torso along world y"),
        ("z_velocity", "m/s", "velocity of the torso along world z, positive = up"),
        ("roll_rate", "rad/s", "angular velocity of the torso about its own x axis"),
        ("pitch_rate", "rad/s", "angular velocity of the torso about its own y axis"),
        ("yaw_rate", "rad/s", "angular velocity of the torso about its own z axis, positive = turning left"),
    ]
    for leg in range(1, 5):
        fields += [
            (f"hip_{leg}_velocity", "rad/s", f"{_ANT_LEGS[leg]} hip angular velocity"),
            (f"ankle_{leg}_velocity", "rad/s", f"{_ANT_LEGS[leg]} ankle angular velocity"),
        ]
    schema = [ObsField(name, i, unit, desc) for i, (name, unit, desc) in enumerate(fields)]
    start = len(fields)
    schema.append(
        ObsField(
            "contact_forces",
            (start, start + 78),
            "N, N m",
            "external contact wrench on each of the 13 bodies (torso, then per leg 1..4: hip, upper leg, "
            "lower leg), 6 numbers each (torque xyz, then force xyz), clipped to [-1, 1]; a (13, 6) array "
            "in the state view",
            -1.0,
            1.0,
        )
    )
    return tuple(schema)


ANT_SCHEMA = ant_schema()
ANT_FIELDS_UNITS = {"upright": "1", "heading": "rad", "healthy": "bool"}
"""Units of the fields :func:`ant_fields` derives."""
ANT_UNITS = schema_units(ANT_SCHEMA, x_position="m", y_position="m", **ANT_FIELDS_UNITS)


def ant_fields(schema: Sequence[ObsField], obs: Any) -> dict[str, Any]:
    """Ant schema columns plus orientation summaries, batched."""
    f = obs_fields(schema, obs)
    f["contact_forces"] = f["contact_forces"].reshape(-1, 13, 6)
    w, x, y, z = f["torso_qw"], f["torso_qx"], f["torso_qy"], f["torso_qz"]
    # z component of the torso's up axis: 1 upright, 0 on its side, -1 upside down
    f["upright"] = 1.0 - 2.0 * (x**2 + y**2)
    f["heading"] = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y**2 + z**2))
    f["healthy"] = (f["torso_z"] >= ANT_HEALTHY_Z[0]) & (f["torso_z"] <= ANT_HEALTHY_Z[1])
    return f


def ant_view(obs: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    return _with_info(ant_fields(ANT_SCHEMA, obs), info, ("x_position", "y_position"))


def _ant_hand(s: Any) -> dict[str, Any]:
    """Forward speed, staying healthy and upright, torque and contact costs."""
    return {
        "forward": s.x_velocity,
        "healthy": s.healthy.astype(np.float64),
        "upright": 0.2 * (s.upright - 1.0),
        "ctrl_cost": -0.5 * effort(s),
        "contact_cost": -5e-4 * np.sum(np.square(s.contact_forces), axis=(1, 2)),
    }


ANT = Task(
    id="Ant-v5",
    family="mujoco",
    make_env=partial(make_v5, "Ant-v5", ant_info),
    description=(
        "A four-legged 'ant' (a torso with four two-jointed legs) on open ground must walk along +x as far "
        "as possible in 1000 steps (50 s). The episode ends if the torso drops below 0.2 m or rises above "
        "1.0 m (a fall or a flip)."
    ),
    action_doc=(
        "Box(8) in [-1, 1]: torques (gear 150) on hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3 "
        "(leg 1 front-left, 2 back-left, 3 back-right, 4 front-right)."
    ),
    obs_schema=ANT_SCHEMA,
    view=ant_view,
    units=ANT_UNITS,
    fitness=Fitness(
        forward_distance, "last", 50.0, "m", "forward distance travelled along +x by the torso (x at the end)"
    ),
    rewards={
        "sparse": _MILESTONES,
        "hand": HandReward("forward speed + healthy + upright + torque and contact costs", components=_ant_hand),
        "potential": _WALKING_POTENTIAL,
    },
    info_keys=("x_position", "y_position"),
    budgets={"default": 1_000_000, "ppo": 1_000_000, "sac": 1_000_000},
    max_episode_steps=1000,
)

for _t in (INVERTED_PENDULUM, REACHER, HOPPER, HALF_CHEETAH, WALKER2D, ANT):
    register_task(_t)
