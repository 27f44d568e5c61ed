import numpy as np

def compute_reward(s):
    height = 1.0 * s.torso_z
    return height, {"height": height}
