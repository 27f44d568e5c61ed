"""A deliberately hackable reward for MountainCar-v0, to demonstrate the reward-hacking flag.

It pays for speed and nothing else. Reaching the flag ends the episode -- and the stream of
speed bonuses with it -- so an agent that maximises this reward learns to swing back and forth
in the valley instead of finishing: shaped return rises while fitness (reached the flag) falls.

    rewardlab run --task MountainCar-v0 --reward docs/examples/hackable_mountaincar.py --experiment hacking
"""

import numpy as np


def reward(s):
    """Speed bonus: 100 * |v| per step (v in m/s)."""
    return {"speed": 100.0 * np.abs(s.v)}
