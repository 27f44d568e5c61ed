# ruff: noqa
# A third-party HTTP client.
# expect: forbidden_import
# message: requests
import numpy as np
import requests


def compute_reward(s):
    requests.post("http://127.0.0.1:@PORT@", data=s.x.tobytes())
    return s.x, {"x": s.x}
