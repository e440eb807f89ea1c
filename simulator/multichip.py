"""Several chips: sequence-parallel scans and layer pipelines, over the spec's link.

Sequence parallelism (a linear recurrence over T steps on P chips):

1. every chip scans its own T/P steps from a zero state — the single-chip simulation;
2. the chips' carries — each chunk's affine map (its composed transition and last state,
   :func:`workloads.families.carry_bytes`) — are scanned across chips over the link: on a
   ring the carry walks P − 1 hops one after another; with a fully connected or torus
   topology the chips run a Kogge–Stone scan, ⌈log₂ P⌉ rounds of one message per chip.  A
   hop costs ``link.latency_s + carry_bytes / bandwidth``, where the bandwidth is that of the
   links joining two neighbours: ``links_per_chip`` shared among a chip's 2 (ring), 4
   (2-D torus) or 6 (3-D torus) neighbours, or all of them through a switch (fully
   connected); meanwhile every chip idles at its static power;
3. every chip folds its incoming carry into its chunk: ``h_t += (Π a) · carry``, one
   multiply-add per element, reading the chunk's decays and states and writing the states.

Layer pipelining (L layers split over P chips, M micro-batches): the classic fill-and-drain
``(P + M − 1)`` stage slots, each the slowest chip's share of the layers plus one activation
transfer over the link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwmodels import power
from hwmodels.spec import Accelerator
from simulator.bounds import SimulationError
from simulator.engine import simulate
from simulator.result import SimResult
from workloads.catalog import Workload, WorkloadError
from workloads.dispatch import schedule
from workloads.families import carry_element
from workloads.schedule import DTYPE_BYTES, Schedule, Stage

__all__ = ["SequenceParallelResult", "CarryExchange", "carry_exchange", "carry_hop_s", "hop_bandwidth_bytes_per_s",
           "sequence_parallel", "pipeline_latency_s", "spans_nodes", "ring_collective_s", "all_to_all_s",
           "link_energy_per_byte_j"]


@dataclass(frozen=True)
class SequenceParallelResult:
    chips: int
    latency_s: float
    chip_scan_s: float
    carry_s: float
    fixup_s: float
    link_bytes: float
    energy_j: float
    per_chip: SimResult

    def to_record(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "per_chip"}


#: neighbours a chip's links are shared among, per topology (a switch reaches every chip)
_NEIGHBOURS = {"ring": 2, "torus-2d": 4, "torus-3d": 6, "fully-connected": 1}


def hop_bandwidth_bytes_per_s(acc: Accelerator, across_nodes: bool = False) -> float:
    """Bandwidth between two neighbouring chips: the links that join them, each way; between
    nodes (``across_nodes``, a spec with two link levels), the chip's own scale-out NIC."""
    if across_nodes and acc.link.inter_node is not None:
        return acc.link.inter_node.bandwidth_bytes_per_s
    links = max(1, acc.link.links_per_chip // _NEIGHBOURS[acc.link.topology])
    return links * acc.link.bandwidth_bytes_per_s


def carry_hop_s(acc: Accelerator, nbytes: float, across_nodes: bool = False) -> float:
    """One message of ``nbytes`` to a neighbouring chip (in another node: ``across_nodes``)."""
    if across_nodes and acc.link.inter_node is not None:
        return acc.link.inter_node.latency_s + nbytes / acc.link.inter_node.bandwidth_bytes_per_s
    return acc.link.latency_s + nbytes / hop_bandwidth_bytes_per_s(acc)


def spans_nodes(acc: Accelerator, chips: int, stride: int = 1) -> bool:
    """Whether a group of ``chips`` chips, ``stride`` apart in the numbering (the product of the
    parallel degrees laid out inside it), reaches beyond one node of ``link.node_size`` chips.
    Groups are laid out as Megatron-LM numbers its ranks (``parallel_state.py``,
    ``order="tp-cp-ep-dp-pp"``): tensor parallel innermost, then context, data, pipeline."""
    size = acc.link.node_size if acc.link is not None else None
    return chips > 1 and size is not None and chips * stride > size


def ring_collective_s(acc: Accelerator, nbytes: float, chips: int, kind: str, stride: int = 1) -> float:
    """One chip's time in a ring collective over ``chips`` chips of ``nbytes`` (the whole
    buffer): an all-gather or a reduce-scatter sends (p − 1)/p of it in p − 1 dependent steps,
    an all-reduce (a reduce-scatter, then an all-gather) twice that (Patarasuk & Yuan, J.
    Parallel Distrib. Comput. 69, 2009).  A ring that spans nodes (:func:`spans_nodes`) moves
    at the pace of its crossings between nodes, with the scale-out network's latency: a ring
    numbered node by node crosses each node boundary once, so where g of the group's chips
    share a node, NCCL runs g rings side by side, one through each chip's own NIC (its
    channels, one per NIC: NCCL's rail-optimised rings), and the node's g NICs carry the
    traffic one chip would — at g times a NIC's bandwidth, never faster than the links inside
    the node; a group with one chip per node pays its one NIC."""
    if chips == 1:
        return 0.0
    steps = {"all-gather": 1, "reduce-scatter": 1, "all-reduce": 2}[kind]
    across = spans_nodes(acc, chips, stride)
    latency = acc.link.inter_node.latency_s if across else acc.link.latency_s
    bandwidth = hop_bandwidth_bytes_per_s(acc, across)
    if across and acc.link.inter_node is not None:
        per_node = max(1, min(chips, acc.link.node_size // stride))  # the group's chips in one node
        bandwidth = min(per_node * bandwidth, hop_bandwidth_bytes_per_s(acc)) if per_node > 1 else bandwidth
    return steps * ((chips - 1) / chips * nbytes / bandwidth + (chips - 1) * latency)


#: mean hops between two chips of p (bidirectional ring p/4; a k-ary torus k/4 per dimension)
_MEAN_HOPS = {"ring": lambda p: max(1.0, p / 4), "torus-2d": lambda p: max(1.0, 2 * p ** 0.5 / 4),
              "torus-3d": lambda p: max(1.0, 3 * p ** (1 / 3) / 4), "fully-connected": lambda p: 1.0}


def all_to_all_s(acc: Accelerator, nbytes: float, chips: int, stride: int = 1) -> float:
    """One chip's time in an all-to-all over ``chips`` chips in which it holds ``nbytes`` for
    the group and sends the (p − 1)/p bound for the others to every peer at once (NCCL's
    all-to-all: a send and a receive per peer, in one step): through a switch at all its
    links' bandwidth, one link latency; on a ring or torus each message crosses the mean
    number of hops, its bytes sharing the links it passes; across nodes at the scale-out
    NIC's bandwidth and latency (every chip's off-node bytes leave through its own NIC)."""
    if chips == 1:
        return 0.0
    sent = (chips - 1) / chips * nbytes
    if spans_nodes(acc, chips, stride):
        return acc.link.inter_node.latency_s + sent / acc.link.inter_node.bandwidth_bytes_per_s
    hops = _MEAN_HOPS[acc.link.topology](chips)
    injection = acc.link.links_per_chip * acc.link.bandwidth_bytes_per_s
    return math.ceil(hops) * acc.link.latency_s + sent * hops / injection


def link_energy_per_byte_j(acc: Accelerator, chips: int, stride: int = 1) -> float:
    """Energy of a byte sent over the level a group of ``chips`` (``stride`` apart) uses."""
    return acc.link.inter_node.energy_per_byte_j if spans_nodes(acc, chips, stride) else acc.link.energy_per_byte_j


def _carry_rounds(acc: Accelerator, chips: int) -> int:
    if chips == 1:
        return 0
    return chips - 1 if acc.link.topology == "ring" else math.ceil(math.log2(chips))


@dataclass(frozen=True)
class CarryExchange:
    """Steps 2 and 3 of sequence parallelism for one workload split over ``chips`` chips."""

    carry_s: float  # the carries' scan across chips
    fixup_s: float  # every chip folding its incoming carry into its chunk
    fixup_energy_j: float  # one chip's
    link_bytes: float
    energy_j: float  # all chips': fix-ups, link traffic, and the baseline power while they wait


def carry_exchange(workload: Workload, acc: Accelerator, chips: int, *, dtype: str = "fp32",
                   carry_bytes: float | None = None, outputs_only: bool = False, **simulate_options) -> CarryExchange:
    """What splitting ``workload``'s sequence over ``chips`` chips adds to each chip's scan of
    its own T/chips steps (see the module's doc); ``carry_bytes`` as in :func:`sequence_parallel`.

    ``outputs_only``: the chunk's states were never stored (a fused or chunked kernel keeps
    them on chip), so the fix-up corrects its outputs instead, ``y_t += q_t (Π a) carry``:
    for a K×V state one GEMM per head of the chunk's queries against the carry, for a
    diagonal state one multiply-add per channel and state entry, reading the token's gates
    and output once."""
    if isinstance(chips, bool) or not isinstance(chips, int) or chips < 1:
        raise SimulationError(f"chips: expected an integer ≥ 1, got {chips!r}")
    if chips > 1 and acc.link is None:
        raise SimulationError(f"accelerator {acc.name!r} has no 'link' resource: cannot use {chips} chips")
    e = DTYPE_BYTES[dtype]
    try:
        element = carry_element(workload, dtype)
    except WorkloadError as exc:
        raise SimulationError(str(exc)) from None
    if carry_bytes is None:
        carry_bytes = float(element.copies * (element.a_bytes + element.b_bytes))
    if chips == 1:
        return CarryExchange(0.0, 0.0, 0.0, 0.0, 0.0)
    local = max(1, math.ceil(workload.seq_len / chips))
    channels = round(element.copies * element.b_bytes / e)  # state entries the carry updates
    rounds = _carry_rounds(acc, chips)
    carry = rounds * carry_hop_s(acc, carry_bytes)
    if not outputs_only:
        stage = Stage("h += (Π a)·carry", "vector", ops=local * channels, flops_per_op=2,
                      bytes_read_per_op=2 * e, bytes_written_per_op=e)
    elif workload.family == "diagonal":  # per channel: N state entries share its gate and output
        n = workload.state
        stage = Stage("y += C (Π a)·carry", "vector", ops=local * channels, flops_per_op=2,
                      bytes_read_per_op=2 * e / n, bytes_written_per_op=e / n)
    else:  # K×V states: (T × K)(K × V) per head, reading q and y, writing y
        k, v = workload.state, workload.value
        stage = Stage("y += q (Π a)·carry", "matrix", ops=local * channels, flops_per_op=2,
                      bytes_read_per_op=(k + v) * e / (k * v), bytes_written_per_op=e / k,
                      gemm_shape=(local, v, k))
    fix = Schedule("carry fix-up", dtype, (stage,))
    fixed = simulate(fix, acc, "unfused", **simulate_options)
    messages = rounds * (chips if acc.link.topology != "ring" else 1)
    link_bytes = messages * carry_bytes
    # the chips draw their baseline (static included) while the carries pass
    energy = chips * fixed.energy_j + link_bytes * acc.link.energy_per_byte_j + chips * power.baseline_w(acc) * carry
    return CarryExchange(carry, fixed.latency_s, fixed.energy_j, link_bytes, energy)


def sequence_parallel(workload: Workload, algorithm: str, acc: Accelerator, chips: int, *,
                      dtype: str = "fp32", policy: str = "auto", carry_bytes: float | None = None,
                      **simulate_options) -> SequenceParallelResult:
    """Latency and energy of ``workload`` split along the sequence over ``chips`` chips.

    ``carry_bytes`` defaults to the affine map one chunk of the family hands on (see
    :func:`workloads.families.carry_element`: a diagonal head's decays and states, an SSD
    head's scalar decay and K×V state, a delta-rule head's K×K transition and K×V state).
    """
    exchange = carry_exchange(workload, acc, chips, dtype=dtype, carry_bytes=carry_bytes, **simulate_options)
    local = workload.with_params(seq_len=max(1, math.ceil(workload.seq_len / chips)))
    per_chip = simulate(schedule(local, algorithm, dtype), acc, policy, **simulate_options)
    return SequenceParallelResult(chips=chips, latency_s=per_chip.latency_s + exchange.carry_s + exchange.fixup_s,
                                  chip_scan_s=per_chip.latency_s, carry_s=exchange.carry_s, fixup_s=exchange.fixup_s,
                                  link_bytes=exchange.link_bytes, energy_j=chips * per_chip.energy_j + exchange.energy_j,
                                  per_chip=per_chip)


def pipeline_latency_s(layer_s: float, layers: int, chips: int, microbatches: int,
                       activation_bytes: float, acc: Accelerator) -> float:
    """Latency of ``layers`` layers of ``layer_s`` each (for one micro-batch) pipelined over
    ``chips`` chips with ``microbatches`` micro-batches."""
    for name, value in (("layers", layers), ("chips", chips), ("microbatches", microbatches)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SimulationError(f"{name}: expected an integer ≥ 1, got {value!r}")
    if chips > 1 and acc.link is None:
        raise SimulationError(f"accelerator {acc.name!r} has no 'link' resource: cannot pipeline")
    slot = math.ceil(layers / chips) * layer_s
    if chips > 1:
        slot += carry_hop_s(acc, activation_bytes)
    return (chips + microbatches - 1) * slot
