import numpy as np

def compute_reward(s):
    distance = -np.abs(0.5 - s.x).astype(np.float64)
    goal = 10.0 * (s.x >= 0.5).astype(np.float64)
    return distance + goal, {"distance": distance, "goal": goal}
