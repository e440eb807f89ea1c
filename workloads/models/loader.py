"""One entry point for a model description: a Hugging Face ``config.json``
(:mod:`workloads.models.configs`) or scansim's own model YAML (:mod:`workloads.models.model_file`)."""

from __future__ import annotations

from pathlib import Path

from workloads.models.configs import read_config
from workloads.models.model import Model
from workloads.models.model_file import load_model_file

__all__ = ["load_model"]


def load_model(path: str | Path) -> Model:
    """A :class:`Model` from a Hugging Face ``config.json`` or a model YAML (by its suffix);
    :class:`~workloads.models.model.ModelError` naming the file and field when it cannot be
    read or its architecture is not one scansim costs."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        return load_model_file(path)
    return read_config(path)
