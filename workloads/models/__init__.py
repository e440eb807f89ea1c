"""Whole models from the configs users have, as the layers scansim costs.

One module per concern, imported one way (model ← configs, model_file ← loader;
model ← parameters ← phases; model ← sharding):

- :mod:`~workloads.models.model`: the model value, its components, the phases and kinds of layer;
- :mod:`~workloads.models.configs`: Hugging Face ``config.json`` readers, one per architecture;
- :mod:`~workloads.models.model_file`: scansim's own model YAML for hypothetical models;
- :mod:`~workloads.models.loader`: either of the two, by the file's suffix;
- :mod:`~workloads.models.parameters`: weight counts and shared projection widths;
- :mod:`~workloads.models.phases`: a pass (prefill, decode, training step) as components;
- :mod:`~workloads.models.sharding`: one chip's share under tensor and expert parallelism, and
  the all-reduces and all-to-alls they add.
"""

from workloads.models.loader import load_model
from workloads.models.model import FEED_FORWARDS, MIXERS, PHASES, Component, Model, ModelError
from workloads.models.parameters import parameters
from workloads.models.phases import RECOMPUTE, checkpointed_layers, components, recompute_mode, routed_experts
from workloads.models.sharding import all_reduces, all_to_alls, expert_sharded, sharded

__all__ = ["Model", "Component", "ModelError", "load_model", "parameters", "components", "routed_experts",
           "all_reduces", "all_to_alls", "expert_sharded", "sharded", "PHASES", "MIXERS", "FEED_FORWARDS",
           "RECOMPUTE", "recompute_mode", "checkpointed_layers"]
