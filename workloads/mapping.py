"""Mapping spaces: the knobs a schedule takes and the values each may legally take.

A *mapping* is one way to run a workload: the algorithm, the schedule options
:func:`workloads.dispatch.schedule` accepts for it (``chunk``, ``inner``/``outer``, ``block``,
``tile``, ``circuit``) and the simulator's fusion ``policy`` — as a plain dict,
``{"algorithm": "chunked", "chunk": 128, "policy": "fused"}``, or for a shipped kernel
``{"impl": "mamba2-ssd", "algorithm": "chunked", "chunk": 256, "policy": "auto"}``.  This module
declares, per family and per implementation, which knobs exist and their values; it is data
only, next to the schedules it describes, and imports nothing of the simulator (the search
over a space is :func:`simulator.tune.tune`, the one entry point: a ``schedule(..., tune=True)``
cannot exist, as ``workloads`` may not import the simulator).

Knobs by algorithm:

* ``chunked`` matmul forms (SSD, GLA, mLSTM, the delta-rule family): ``chunk`` ∈ {16, 32, 64,
  128, 256}, none above T (the smallest kept when T < 16);
* ``chunked`` prefix circuit (diagonal, dense, permutation-diagonal, RWKV-7): ``chunk`` as
  above, ``inner`` and ``outer`` any non-chunked circuit of :data:`workloads.circuits.CIRCUITS`
  (:func:`workloads.circuits.chunked`) — by default the three of :data:`CHUNK_CIRCUITS`;
* ``blocked`` attention: ``block`` ∈ {64, 128, 256} query rows;
* ``tiled`` GEMM: ``tile`` ∈ {32, 64, 128, 256};
* ``deer`` / ``quasi-deer``: ``circuit``, the prefix circuit of the linear solve;
* every family's schedule: the simulator's ``policy``, ``unfused`` or ``fused`` (``auto``, the
  faster of the two, is what an untuned run takes, so the search covers it).

A shipped kernel (:data:`workloads.implementations.IMPLEMENTATIONS`) exposes only the options
its ``build`` takes (``Implementation.options``) and of those only the ones that are mappings
(:data:`IMPLEMENTATION_KNOBS`; ``causal``, ``gated`` and ``circular`` change what is computed,
not how, so they are fixed by the workload, never searched).  Its *shipped configuration* is
its ``build``'s keyword defaults (Mamba-2's ``mamba2-ssd``: chunk 256; ``fla-chunk``: its
state and output tiles, 64 and 128, the largest of their autotuning lists; FlashAttention-2/3:
the tile ``hopper/tile_size.h`` picks for the head dimension, ``rows`` = ``cols`` = 0, beside
the other tiles each generation runs); a kernel with no
mapping knob — ``selective-scan`` (its launcher picks
threads × items from T), cuDNN's and the persistent RNN, the FFT convolutions — has a space of
exactly that one point.  A shipped kernel's stages are kept as built under every policy
(:mod:`simulator.policy`), so its space has ``policy`` ``auto`` only.

What the chip forbids: a knob value whose working set (:func:`working_set_bytes`) does not fit
one core's on-chip memory — the shared memory its blocks may hold on a GPU, the innermost
SRAM elsewhere — is illegal there (:func:`illegal`; the caller gives the capacity, as
``workloads`` knows no chips).  Whatever a schedule itself refuses with
:class:`~workloads.errors.WorkloadError` (FlashFFTConv's transform lengths, a chunk that is not
a power of two for ``mamba2-ssd``) is illegal too; the search treats such a refusal as an
illegal point.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from dataclasses import dataclass
from typing import Iterator

from workloads.catalog import Workload, algorithms
from workloads.circuits import CIRCUITS
from workloads.errors import WorkloadError
from workloads.families import carry_element
from workloads.implementations import IMPLEMENTATIONS, flash_attention
from workloads.schedule import DTYPE_BYTES

__all__ = ["Knob", "Choice", "MappingSpace", "mapping_space", "default_mapping", "shipped_configuration",
           "working_set_bytes", "illegal", "CHUNKS", "CHUNK_CIRCUITS", "SUB_CIRCUITS", "BLOCKS", "TILES",
           "POLICY_VALUES", "IMPLEMENTATION_KNOBS",
           "KNOB_DEFAULTS"]

#: chunk sizes of the chunked forms (FLA's and Mamba-2's kernels run 16 … 256)
CHUNKS = (16, 32, 64, 128, 256)
#: query-block rows of blocked attention (FlashAttention's tiles are 64 … 192 rows)
BLOCKS = (64, 128, 256)
#: output tiles of a GEMM (CUTLASS threadblock shapes 64 … 256, and 32 for small cores)
TILES = (32, 64, 128, 256)
#: the simulator's fusion policies a search takes; ``auto`` is the faster of the two
POLICY_VALUES = ("unfused", "fused")
#: the circuits DEER's ``circuit`` may be: every non-chunked prefix circuit
SUB_CIRCUITS = tuple(c for c in CIRCUITS if c != "chunked")
#: the circuits a chunked circuit's ``inner`` and ``outer`` take by default: the corners of the
#: depth–work trade-off — sequential (n − 1 combines, depth n), Brent–Kung (< 2n combines,
#: depth 2 log₂ n) and Kogge–Stone (n log₂ n combines, depth log₂ n); Sklansky, Ladner–Fischer
#: and Han–Carlson lie between them.  Building a chunked circuit takes ~50 ms at T = 8192, so
#: the 36 pairs of all six would make one search of a diagonal scan take seconds; pass
#: ``chunk_circuits=SUB_CIRCUITS`` to :func:`mapping_space` for all of them.
CHUNK_CIRCUITS = ("sequential", "brent-kung", "kogge-stone")
#: an implementation option that is a mapping knob, and its candidate values
IMPLEMENTATION_KNOBS = {"chunk": CHUNKS, "block": BLOCKS, "tile": TILES,
                        # fla-chunk's state and output programs' BK = BV (its autotuning lists)
                        "state_tile": (32, 64), "out_tile": (32, 64, 128),
                        # FlashAttention's query rows and key columns (0: the tile tile_size.h picks)
                        "rows": (), "cols": ()}
#: a kernel's own values of a knob, where they differ from :data:`IMPLEMENTATION_KNOBS`'s
_KERNEL_VALUES = {("flash-attention-2", "rows"): flash_attention.FA2_ROWS,
                  ("flash-attention-2", "cols"): flash_attention.FA2_COLS,
                  ("flash-attention-3", "rows"): flash_attention.FA3_ROWS,
                  ("flash-attention-3", "cols"): flash_attention.FA3_COLS}
#: what a family schedule takes when an option is not given (``workloads.families``)
KNOB_DEFAULTS = {"chunk": 64, "inner": "sequential", "outer": "sequential", "block": 128, "tile": 128,
                 "circuit": "kogge-stone"}

#: families whose ``chunked`` is the chunked prefix circuit, not a matmul form
_CIRCUIT_CHUNKED = ("diagonal", "dense", "permutation-diagonal", "rwkv7")
#: the channel tile a chunked matmul kernel holds at once (FLA's BK = BV = 64, chunk_h.py)
_CHANNEL_TILE = 64
_FP32 = 4
#: a GEMM block's operands in flight: the A and B panels of one K step of 32, double-buffered
#: (the obvious kernel of :mod:`simulator.core`; CUTLASS's SM80 default holds three of 64)
_GEMM_K_STEP, _GEMM_STAGES = 32, 2


@dataclass(frozen=True)
class Knob:
    """One schedule option and the values a search may give it."""

    name: str
    values: tuple


@dataclass(frozen=True)
class Choice:
    """One algorithm (or shipped kernel) of a space and its knobs."""

    algorithm: str
    knobs: tuple[Knob, ...] = ()
    impl: str | None = None

    @property
    def size(self) -> int:
        return math.prod(len(k.values) for k in self.knobs)


@dataclass(frozen=True)
class MappingSpace:
    """Every mapping of one workload a search may try: its choices, each with its knobs, times
    the ``policies``; ``fixed`` are schedule options every point takes that are not mappings
    (``causal``: what is computed, not how)."""

    workload: str
    choices: tuple[Choice, ...]
    policies: tuple[str, ...] = POLICY_VALUES
    fixed: tuple[tuple[str, object], ...] = ()

    @property
    def size(self) -> int:
        return sum(c.size for c in self.choices) * len(self.policies)

    def points(self) -> Iterator[dict]:
        """Every mapping of the space, in a stable order."""
        for choice in self.choices:
            names = [k.name for k in choice.knobs]
            for values in itertools.product(*(k.values for k in choice.knobs)):
                for policy in self.policies:
                    head = {"impl": choice.impl} if choice.impl else {}
                    yield {**head, "algorithm": choice.algorithm, **dict(zip(names, values)), "policy": policy}

    def restricted(self, *, algorithms: tuple[str, ...] | None = None, policies: tuple[str, ...] | None = None,
                   **values) -> MappingSpace:
        """The space with only ``algorithms``, ``policies`` and, per knob named in ``values``,
        that one value (a knob a choice lacks is ignored for it)."""
        choices = self.choices
        if algorithms is not None:
            choices = tuple(c for c in choices if c.algorithm in algorithms)
            if not choices:
                raise WorkloadError(f"algorithm: the space of {self.workload!r} holds "
                                    f"{', '.join(c.algorithm for c in self.choices)}; got {', '.join(algorithms)}")
        if values:
            choices = tuple(dataclasses.replace(c, knobs=tuple(
                Knob(k.name, (values[k.name],)) if k.name in values else k for k in c.knobs)) for c in choices)
        return dataclasses.replace(self, choices=choices, policies=policies or self.policies)

    def with_fixed(self, **options) -> MappingSpace:
        """The space with schedule options that every point takes (not searched)."""
        return dataclasses.replace(self, fixed=tuple(sorted({**dict(self.fixed), **options}.items())))


def _chunks(T: int) -> tuple[int, ...]:
    return tuple(c for c in CHUNKS if c <= T) or CHUNKS[:1]


def _family_choice(w: Workload, algorithm: str, chunk_circuits: tuple[str, ...] = CHUNK_CIRCUITS) -> Choice:
    T = w.seq_len
    if algorithm == "chunked" and w.family in _CIRCUIT_CHUNKED:
        return Choice(algorithm, (Knob("chunk", _chunks(T)), Knob("inner", chunk_circuits),
                                  Knob("outer", chunk_circuits)))
    if algorithm == "chunked":
        return Choice(algorithm, (Knob("chunk", _chunks(T)),))
    if algorithm == "blocked":
        return Choice(algorithm, (Knob("block", tuple(b for b in BLOCKS if b <= T) or BLOCKS[:1]),))
    if algorithm == "tiled":
        return Choice(algorithm, (Knob("tile", TILES),))
    if algorithm in ("deer", "quasi-deer"):
        return Choice(algorithm, (Knob("circuit", SUB_CIRCUITS),))
    return Choice(algorithm)


def shipped_configuration(impl: str) -> dict:
    """A shipped kernel's mapping knobs as it ships: its ``build``'s keyword defaults."""
    kernel = IMPLEMENTATIONS[impl]
    params = inspect.signature(kernel.build).parameters
    return {o: params[o].default for o in kernel.options
            if o in IMPLEMENTATION_KNOBS and o in params and params[o].default is not inspect.Parameter.empty}


def mapping_space(workload: Workload, impl: str | None = None, *,
                  chunk_circuits: tuple[str, ...] = CHUNK_CIRCUITS) -> MappingSpace:
    """The mappings of ``workload``: every algorithm of its family with its knobs (a chunked
    circuit's ``inner`` and ``outer`` from ``chunk_circuits``), or with ``impl`` the shipped
    kernel's own knobs (one point, its shipped configuration, if it has none)."""
    if impl is None:
        return MappingSpace(workload.name, tuple(_family_choice(workload, a, chunk_circuits)
                                                 for a in algorithms(workload)))
    if impl not in IMPLEMENTATIONS:
        raise WorkloadError(f"impl: unknown implementation {impl!r}, expected one of {', '.join(IMPLEMENTATIONS)}")
    kernel = IMPLEMENTATIONS[impl]
    shipped = shipped_configuration(impl)
    knobs = []
    for name in kernel.options:
        if name not in IMPLEMENTATION_KNOBS:
            continue  # a semantic option (causal, gated, circular): fixed, not searched
        values = (_chunks(workload.seq_len) if name == "chunk"
                  else _KERNEL_VALUES.get((impl, name), IMPLEMENTATION_KNOBS[name]))
        if name in shipped and shipped[name] not in values:
            values = tuple(sorted({*values, shipped[name]}))
        knobs.append(Knob(name, values))
    return MappingSpace(workload.name, (Choice(kernel.algorithm, tuple(knobs), impl),), policies=("auto",))


def default_mapping(workload: Workload, algorithm: str | None = None, impl: str | None = None) -> dict:
    """What an untuned run takes: ``algorithm`` (default: the family's first, as
    :func:`workloads.dispatch.schedule` picks) with each knob's schedule default and the
    ``auto`` policy; with ``impl`` the kernel's shipped configuration."""
    if impl is not None:
        kernel = IMPLEMENTATIONS[impl]
        return {"impl": impl, "algorithm": kernel.algorithm, **shipped_configuration(impl), "policy": "auto"}
    algorithm = algorithm or algorithms(workload)[0]
    choice = _family_choice(workload, algorithm)
    return {"algorithm": algorithm, **{k.name: KNOB_DEFAULTS[k.name] for k in choice.knobs}, "policy": "auto"}


def working_set_bytes(workload: Workload, mapping: dict, dtype: str) -> float:
    """Bytes one core must hold at once for ``mapping``'s knobs (0 where no knob sizes it):

    * a chunked matmul form's chunk C: the chunk's rows of q, k and v for one 64-channel tile
      of keys and values, ``C·(2·BK + BV)·e``, and that tile of the state in fp32, ``BK·BV·4`` —
      the operands FLA's ``chunk_fwd_h``/``chunk_fwd_o`` programs (and Mamba-2's chunk-state
      kernels) keep on chip together; the C × C scores are tiled by the kernel, not counted;
    * a chunked circuit's chunk C: C elements (A, b) of one independent copy, scanned in place;
    * blocked attention's block B: a query tile and one key and one value tile,
      ``B·(2D + E)·e``;
    * a GEMM's tile t: the A and B panels of one K step of 32, double-buffered, ``2·2t·32·e``
      (the least a pipelined tile needs; CUTLASS's three stages of 64 hold three times more).
    """
    e = DTYPE_BYTES[dtype]
    algorithm = mapping.get("algorithm")
    if "chunk" in mapping and (mapping.get("impl") or algorithm == "chunked"):
        C = int(mapping["chunk"])
        if workload.family in _CIRCUIT_CHUNKED and not mapping.get("impl"):
            cost = carry_element(workload, dtype)
            return C * (cost.a_bytes + cost.b_bytes)
        bk, bv = min(workload.state, _CHANNEL_TILE), min(workload.value, _CHANNEL_TILE)
        return C * (2 * bk + bv) * e + bk * bv * _FP32
    if "block" in mapping and algorithm == "blocked":
        return int(mapping["block"]) * (2 * workload.state + workload.value) * e
    if "rows" in mapping and mapping.get("impl") in flash_attention.TILES:
        # FlashAttention's shared memory: the query tile and two stages of key and value tiles
        # (its mainloop's kStages = 2), at the tile tile_size.h picks where rows or cols is 0
        shipped = flash_attention.TILES[mapping["impl"]](workload.state, bool(dict(mapping).get("causal", 1)))
        rows, cols = int(mapping["rows"]) or shipped[0], int(mapping.get("cols", 0)) or shipped[1]
        return (rows * workload.state + 2 * cols * (workload.state + workload.value)) * e
    if "tile" in mapping and algorithm == "tiled":
        return _GEMM_STAGES * 2 * int(mapping["tile"]) * _GEMM_K_STEP * e
    return 0.0


def illegal(workload: Workload, mapping: dict, dtype: str, core_bytes: float) -> str | None:
    """Why ``mapping`` cannot run on a chip whose cores hold ``core_bytes`` on chip (None: it
    can, as far as its working set goes)."""
    need = working_set_bytes(workload, mapping, dtype)
    if need > core_bytes:
        knob = next(k for k in ("chunk", "block", "tile", "rows") if k in mapping)
        return (f"{knob} {mapping[knob]}: a working set of {need:,.0f} bytes, more than the "
                f"{core_bytes:,.0f} bytes a core holds")
    return None
