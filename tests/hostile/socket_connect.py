# ruff: noqa
# Phones home.
# expect: forbidden_import
# message: socket
import socket

import numpy as np


def compute_reward(s):
    socket.create_connection(("127.0.0.1", int("@PORT@")), timeout=2).sendall(b"leak")
    return s.x, {"x": s.x}
