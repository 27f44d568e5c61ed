import numpy as np

def compute_reward(s):
    components = {
        "x_position_neg_abs": -14.05 * (-np.abs(s.x_position)),
        "thigh_angle_abs_gain": 139.7 * (np.abs(s.thigh_angle) - np.abs(s.prev.thigh_angle)),
        "x_position_rise": 73.98 * (np.maximum(s.x_position - s.prev.x_position, 0.0)),
    }
    total = sum(components.values())
    return total, components
