"""The MiniGrid tasks as batched envs, keyed by minigrid's (and the lab's) task ids.

Each class is :class:`~envs.batched.grid.env.BatchedGrid` with minigrid's geometry, view
setting and step limit for the task, its level generator, and the info fields the lab's task
declares (:mod:`envs.minigrid_tasks`).
"""

from __future__ import annotations

from typing import ClassVar

from envs.batched.core import BatchedEnv
from envs.batched.grid.env import BASE_INFO_KEYS, BatchedGrid
from envs.batched.grid.levels import Generator, door_key, empty, key_corridor, lava_gap
from envs.batched.grid.multiroom import multi_room

KEY_DOOR_KEYS = (*BASE_INFO_KEYS, "key_x", "key_y", "door_x", "door_y")
DOOR_KEYS = (*BASE_INFO_KEYS, "door_x", "door_y")


class BatchedEmpty8x8(BatchedGrid):
    """``MiniGrid-Empty-8x8-v0``: one fixed level; minigrid's EmptyEnv sees through walls."""

    task_id = "MiniGrid-Empty-8x8-v0"
    width = height = 8
    see_through_walls = True
    default_max_episode_steps = 256

    @classmethod
    def level_generator(cls) -> Generator:
        return empty(8)


class BatchedDoorKey5x5(BatchedGrid):
    """``MiniGrid-DoorKey-5x5-v0`` (vectorised generator)."""

    task_id = "MiniGrid-DoorKey-5x5-v0"
    width = height = 5
    default_max_episode_steps = 250
    info_keys: ClassVar[tuple[str, ...]] = KEY_DOOR_KEYS

    @classmethod
    def level_generator(cls) -> Generator:
        return door_key(cls.width)


class BatchedDoorKey8x8(BatchedDoorKey5x5):
    """``MiniGrid-DoorKey-8x8-v0`` (vectorised generator)."""

    task_id = "MiniGrid-DoorKey-8x8-v0"
    width = height = 8
    default_max_episode_steps = 640


class BatchedKeyCorridorS3R1(BatchedGrid):
    """``MiniGrid-KeyCorridorS3R1-v0``: success is picking up the ball (vectorised generator)."""

    task_id = "MiniGrid-KeyCorridorS3R1-v0"
    width, height = 7, 3
    target = "object"
    default_max_episode_steps = 270
    info_keys: ClassVar[tuple[str, ...]] = KEY_DOOR_KEYS

    @classmethod
    def level_generator(cls) -> Generator:
        return key_corridor((cls.height - 1) // 2)


class BatchedKeyCorridorS3R2(BatchedKeyCorridorS3R1):
    """``MiniGrid-KeyCorridorS3R2-v0`` (vectorised generator)."""

    task_id = "MiniGrid-KeyCorridorS3R2-v0"
    width, height = 7, 5


class BatchedMultiRoomN2S4(BatchedGrid):
    """``MiniGrid-MultiRoom-N2-S4-v0``: levels from a pool of per-level draws (:mod:`.multiroom`)."""

    task_id = "MiniGrid-MultiRoom-N2-S4-v0"
    width = height = 25
    default_max_episode_steps = 40
    pooled = True
    # evaluation stays on minigrid's envs: a reset draws the level pool, which costs more than the episodes
    same_episodes = False
    info_keys: ClassVar[tuple[str, ...]] = DOOR_KEYS

    @classmethod
    def level_generator(cls) -> Generator:
        return multi_room(2, 2, 4)


class BatchedMultiRoomN4S5(BatchedMultiRoomN2S4):
    """``MiniGrid-MultiRoom-N4-S5-v0`` as the installed minigrid registers it: six rooms of up to
    5x5 (a legacy id kept for compatibility; ``-v1`` has four), 120 steps."""

    task_id = "MiniGrid-MultiRoom-N4-S5-v0"
    default_max_episode_steps = 120
    info_keys: ClassVar[tuple[str, ...]] = BASE_INFO_KEYS  # five doors: the lab's task names none of them

    @classmethod
    def level_generator(cls) -> Generator:
        return multi_room(6, 6, 5)


class BatchedLavaGapS5(BatchedGrid):
    """``MiniGrid-LavaGapS5-v0`` (vectorised generator)."""

    task_id = "MiniGrid-LavaGapS5-v0"
    width = height = 5
    default_max_episode_steps = 100
    info_keys: ClassVar[tuple[str, ...]] = (*BASE_INFO_KEYS, "in_lava")

    @classmethod
    def level_generator(cls) -> Generator:
        return lava_gap(5)


GRID_CLASSES: dict[str, type[BatchedEnv]] = {
    c.task_id: c
    for c in (
        BatchedEmpty8x8,
        BatchedDoorKey5x5,
        BatchedDoorKey8x8,
        BatchedKeyCorridorS3R1,
        BatchedKeyCorridorS3R2,
        BatchedMultiRoomN2S4,
        BatchedMultiRoomN4S5,
        BatchedLavaGapS5,
    )
}
"""minigrid task id -> batched gridworld class."""
