"""Error measures shared by the kernel tests: the RMSE ratio ‖x − y‖ / ‖y‖ against an oracle,
and the bounds float64 / float32 arithmetic allows, with room for the reassociation of
parallel forms."""

import numpy as np

RMSE = {np.float32: 2e-5, np.float64: 1e-11}


def rmse(x, ref):
    return float(np.linalg.norm(np.asarray(x, float) - ref) / max(np.linalg.norm(ref), 1e-300))
