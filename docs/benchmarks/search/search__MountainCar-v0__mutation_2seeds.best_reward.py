import numpy as np

def compute_reward(s):
    components = {
        "x_square": -0.5553 * (s.x ** 2),
        "v_neg_abs": -3.404 * (-np.abs(s.v)),
        "x_abs_gain": 11.78 * (np.abs(s.x) - np.abs(s.prev.x)),
        "x_rise": 53.52 * (np.maximum(s.x - s.prev.x, 0.0)),
    }
    total = sum(components.values())
    return total, components
