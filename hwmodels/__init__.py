"""What it runs on: accelerator specs, shipped presets, and their strict YAML loader."""

from hwmodels.loader import SpecError, load_accelerator, parse_accelerator, preset_names
from hwmodels.spec import DTYPES, Accelerator, MemoryLevel, VectorUnit

__all__ = ["Accelerator", "MemoryLevel", "VectorUnit", "DTYPES", "SpecError",
           "load_accelerator", "parse_accelerator", "preset_names"]
