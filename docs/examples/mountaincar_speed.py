"""An example user reward for MountainCar-v0: reward speed, and reaching the flag.

    rewardlab run --task MountainCar-v0 --reward docs/examples/mountaincar_speed.py --steps 50000

``s`` is the task's state view: batched arrays over all envs (``s.x`` in m, ``s.v`` in m/s,
``s.prev`` for the previous state). Return named components; the total is their sum.
"""

import numpy as np

import rewardlab


@rewardlab.reward("speed", tasks="MountainCar-v0")
def speed(s):
    """|velocity| bonus plus a flag bonus."""
    return {
        "speed": 10.0 * np.abs(s.v),
        "goal": np.where(s.x >= 0.5, 10.0, 0.0),
    }
