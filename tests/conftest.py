"""Shared fixtures: small hand-checkable accelerators built from plain dicts."""

from __future__ import annotations

import pytest

from hwmodels.spec import Accelerator


def toy_spec(**overrides) -> dict:
    """A 1-core, 1-lane machine at 1 Hz with free memory: times are cycle counts; its DRAM
    sustains its peak, and it gives no occupancy limits (a core holds whatever it is given)."""
    spec = {
        "name": "toy",
        "cores": 1,
        "clock_hz": 1.0,
        "vector": {
            "lanes": 1,
            "flops_per_lane_per_cycle": {"fp32": 1.0},
            "op_latency_cycles": 1.0,
            "energy_per_flop_j": {"fp32": 1.0},
        },
        "memory": [
            {"name": "sram", "scope": "core", "capacity_bytes": 1e6,
             "bandwidth_bytes_per_s": 1e9, "latency_s": 0.0, "energy_per_byte_j": 0.0},
            {"name": "dram", "scope": "chip", "capacity_bytes": 1e9,
             "bandwidth_bytes_per_s": 1.0, "latency_s": 0.0, "energy_per_byte_j": 0.5,
             "sustained_fraction": 1.0},
        ],
        "kernel_launch_s": 0.0,
        "static_power_w": 0.0,
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def toy() -> Accelerator:
    return Accelerator.model_validate(toy_spec())


# The property tests run on a fixed seed sequence so that a green run stays green (in CI and
# for a user's `make test` alike); SCANSIM_EXPLORE=1 makes each run explore new examples.
import os  # noqa: E402

from hypothesis import Phase, settings  # noqa: E402

# … and does not shrink a failure it finds (shrinking once took over five minutes of CI's time
# budget): the printed blob reproduces the example, to shrink at leisure
settings.register_profile("ci", derandomize=True, print_blob=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
if not os.environ.get("SCANSIM_EXPLORE"):
    settings.load_profile("ci")
