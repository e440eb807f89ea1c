"""What it runs on: accelerator specs, shipped presets, and their strict YAML loader."""

from hwmodels.loader import (
    SpecError,
    dump_accelerator,
    load_accelerator,
    parse_accelerator,
    preset_names,
    spec_schema,
)
from hwmodels.spec import DTYPES, Accelerator, MemoryLevel, VectorUnit

__all__ = ["Accelerator", "MemoryLevel", "VectorUnit", "DTYPES", "SpecError",
           "load_accelerator", "parse_accelerator", "preset_names", "dump_accelerator", "spec_schema"]
