"""A batched gridworld: MiniGrid's mechanics over thousands of copies, in numpy or torch.

>>> from envs.batched import make_batched
>>> env = make_batched("MiniGrid-DoorKey-8x8-v0", 4096)              # numpy
>>> env = make_batched("MiniGrid-DoorKey-8x8-v0", 4096, "torch", device="cuda")

Observations are what the lab's MiniGrid tasks feed agents (:mod:`envs.minigrid_tasks`: the
flattened 7x7x3 view and heading, ``(n, 151)`` float32) and ``info`` carries the task's
privileged fields as ``(n,)`` arrays. Steps match minigrid's own envs exactly
(``tests/test_batched_grid.py``). Modules: :mod:`.codes` (cell codes, tables), :mod:`.levels`
(vectorised level generators), :mod:`.multiroom` (MultiRoom's per-level generator),
:mod:`.loading` (minigrid state as arrays), :mod:`.env`
(state, step, view), :mod:`.tasks` (one class per task).
"""

from envs.batched.grid.env import FIELDS, BatchedGrid
from envs.batched.grid.levels import Layout, locate
from envs.batched.grid.loading import minigrid_state
from envs.batched.grid.tasks import GRID_CLASSES

__all__ = ["FIELDS", "GRID_CLASSES", "BatchedGrid", "Layout", "locate", "minigrid_state"]
