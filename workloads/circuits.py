"""Parallel prefix circuits over n positions.

A circuit is a list of levels; a level is a pair of int64 arrays ``(src, dst)`` meaning
``x[dst] = x[src] ⊕ x[dst]`` for every pair, all reads of a level taking the values from
before that level (synchronous semantics).  After the last level ``x[i]`` is the inclusive
prefix ``e_0 ⊕ … ⊕ e_i``.  ``⊕`` need only be associative: the left operand is always the
earlier segment.

Every generator works for any n ≥ 1, not only powers of two, and every circuit can prove
itself correct with :meth:`Circuit.validate` (interval algebra: each value covers a segment
``[lo, hi]`` of the input; a combine needs ``hi[src] + 1 == lo[dst]``; at the end every
position ``i`` covers ``[0, i]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

import numpy as np

from workloads._jit import njit_on_first_call

__all__ = ["Circuit", "CircuitError", "CIRCUITS", "prefix_circuit"]

Level = tuple[np.ndarray, np.ndarray]


class CircuitError(ValueError):
    """A circuit does not compute the inclusive prefix, or was asked for with bad arguments."""


@dataclass(frozen=True, eq=False)
class Circuit:
    """An immutable prefix circuit over ``n`` positions.

    Stored flat, the form kernels take: level ``j`` is the pairs ``src[ptr[j]:ptr[j+1]]``,
    ``dst[ptr[j]:ptr[j+1]]`` (int32 while n < 2^31, to halve the memory of a 2^20-position
    circuit; :attr:`levels` hands out int64), sorted by descending ``dst`` within the level.  Because
    every source lies before its destination in a valid circuit (``src < dst``), an in-place
    executor that walks a level in this order reads every source before the level overwrites
    it — the synchronous semantics without a copy.  Build one with :meth:`from_levels`.
    """

    name: str
    n: int
    ptr: np.ndarray = field(repr=False)
    src: np.ndarray = field(repr=False)
    dst: np.ndarray = field(repr=False)

    @classmethod
    def from_levels(cls, name: str, n: int, levels: Iterable[tuple[np.ndarray, np.ndarray]],
                    sizes: list[int] | None = None) -> Circuit:
        """Build from ``(src, dst)`` pairs of arrays, one per level; empty levels are dropped.

        A list passed in is consumed (its entries are released as they are copied); given the
        level ``sizes`` up front, an iterator is consumed one level at a time — so a circuit
        over 2^20 positions never holds its levels twice.
        """
        if sizes is None:
            levels = levels if isinstance(levels, list) else list(levels)
            sizes = [len(dst) for _, dst in levels]
        else:
            levels = iter(levels)
        kept = [k for k in sizes if k]
        ptr = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)]).astype(np.int64)
        index = _index_dtype(n)
        src_all = np.empty(int(ptr[-1]), dtype=index)  # pages are touched only as filled
        dst_all = np.empty(int(ptr[-1]), dtype=index)
        j = 0
        for i in range(len(sizes)):
            if isinstance(levels, list):
                src, dst = levels[i]
                levels[i] = None  # release the caller's copy as soon as it is ours
            else:
                src, dst = next(levels)
            if np.shape(src) != np.shape(dst) or np.ndim(dst) != 1 or len(dst) != sizes[i]:
                raise CircuitError(f"circuit {name!r}: src and dst of a level must be 1-D and of equal length")
            if not len(dst):
                continue
            src, dst = np.asarray(src), np.asarray(dst)
            if np.all(dst[1:] > dst[:-1]):  # generators emit ascending levels: just reverse
                order = slice(None, None, -1)
            else:
                order = np.argsort(-dst, kind="stable")
            src_all[ptr[j] : ptr[j + 1]] = src[order]
            dst_all[ptr[j] : ptr[j + 1]] = dst[order]
            j += 1
        return cls._from_flat(name, n, ptr, [src_all], [dst_all])

    @classmethod
    def _from_flat(cls, name, n, ptr, srcs, dsts) -> Circuit:
        index = _index_dtype(n)

        def join(parts):
            if len(parts) == 1:
                return np.asarray(parts[0], dtype=index)
            return np.concatenate(parts).astype(index) if len(parts) else np.zeros(0, dtype=index)

        src, dst = join(srcs), join(dsts)
        for a in (ptr, src, dst):
            a.setflags(write=False)
        return cls(name, int(n), ptr, src, dst)

    @property
    def depth(self) -> int:
        """Number of levels (combines on the longest path)."""
        return len(self.ptr) - 1

    @property
    def size(self) -> int:
        """Total number of ⊕ combines."""
        return len(self.dst)

    @property
    def level_sizes(self) -> np.ndarray:
        """Combines per level, shape (depth,)."""
        return np.diff(self.ptr)

    @cached_property
    def levels(self) -> tuple[Level, ...]:
        """``(src, dst)`` int64 arrays per level (copies of the flat arrays' slices)."""
        p = self.ptr
        return tuple(
            (self.src[p[j] : p[j + 1]].astype(np.int64), self.dst[p[j] : p[j + 1]].astype(np.int64))
            for j in range(self.depth)
        )

    @cached_property
    def max_fanout(self) -> int:
        """Largest fan-out of any value in any level, counted as in Harris (2003): uses + 1."""
        if self.size == 0:
            return 1
        level = np.repeat(np.arange(self.depth, dtype=np.int64), self.level_sizes)
        _, counts = np.unique(level * self.n + self.src, return_counts=True)
        return int(counts.max()) + 1

    def validate(self) -> Circuit:
        """Prove the circuit computes every inclusive prefix; raise :class:`CircuitError` if not.

        Interval algebra: position ``i`` covers ``[lo[i], i]`` (a combine never changes the
        right end of its destination); a combine ``src -> dst`` needs ``src + 1 == lo[dst]``
        and sets ``lo[dst] = lo[src]`` from the values before the level.  At the end every
        ``lo`` must be 0.  Returns the circuit itself.
        """
        code, j, k, a, b = _check_intervals(self.n, self.ptr, self.src, self.dst)
        where = f"circuit {self.name!r} (n={self.n})"
        if code == _BAD_INDEX:
            raise CircuitError(f"{where} level {j}: combine {a}->{b} has an index outside 0..{self.n - 1}")
        if code == _WRITTEN_TWICE:
            raise CircuitError(f"{where} level {j}: position {b} is written twice in one level")
        if code == _NOT_ADJACENT:
            raise CircuitError(
                f"{where} level {j}: combine {a}->{b} joins segments ending at {a} and "
                f"starting at {k}, which are not adjacent"
            )
        if code == _INCOMPLETE:
            raise CircuitError(f"{where}: position {b} ends covering [{k},{b}], expected [0,{b}]")
        return self


def _index_dtype(n: int):
    return np.int32 if n < 2**31 else np.int64


_OK, _BAD_INDEX, _WRITTEN_TWICE, _NOT_ADJACENT, _INCOMPLETE = range(5)


@njit_on_first_call(cache=True)
def _check_intervals(n, ptr, src, dst):
    """Return (code, level, lo, src, dst) of the first violation, code 0 if none."""
    lo = np.arange(n)
    stamp = np.full(n, -1)
    for j in range(len(ptr) - 1):
        p0, p1 = ptr[j], ptr[j + 1]
        new_lo = np.empty(p1 - p0, dtype=np.int64)
        for p in range(p0, p1):
            s, d = src[p], dst[p]
            if s < 0 or d < 0 or s >= n or d >= n:
                return _BAD_INDEX, j, 0, s, d
            if stamp[d] == j:
                return _WRITTEN_TWICE, j, 0, s, d
            stamp[d] = j
            if s + 1 != lo[d]:
                return _NOT_ADJACENT, j, lo[d], s, d
            new_lo[p - p0] = lo[s]
        for p in range(p0, p1):
            lo[dst[p]] = new_lo[p - p0]
    for i in range(n):
        if lo[i] != 0:
            return _INCOMPLETE, -1, lo[i], 0, i
    return _OK, -1, 0, 0, 0


def sequential(n: int) -> Circuit:
    """Left-to-right chain: n − 1 levels of one combine each (built flat: n may be 2^20)."""
    ptr = np.arange(n, dtype=np.int64)
    return Circuit._from_flat("sequential", n, ptr, [np.arange(n - 1)], [np.arange(1, n)])


def kogge_stone(n: int) -> Circuit:
    """Kogge–Stone (Hillis–Steele): level j combines every i ≥ 2^j with i − 2^j."""
    strides = [1 << j for j in range(max(0, int(n) - 1).bit_length())]
    levels = ((np.arange(0, n - s), np.arange(s, n)) for s in strides)  # made one at a time
    return Circuit.from_levels("kogge-stone", n, levels, sizes=[n - s for s in strides])


def sklansky(n: int) -> Circuit:
    """Sklansky (divide and conquer): level j adds the last value of each left half-block."""
    pairs = []
    stride = 1
    i = np.arange(n)
    while stride < n:
        dst = i[(i & stride) != 0]
        src = (dst // (2 * stride)) * (2 * stride) + stride - 1
        pairs.append((src, dst))
        stride *= 2
    return Circuit.from_levels("sklansky", n, pairs)


def brent_kung(n: int) -> Circuit:
    """Brent–Kung (Blelloch's up-sweep then down-sweep, inclusive form)."""
    pairs = []
    i = np.arange(n)
    stride = 1
    while stride < n:  # up-sweep: reduce blocks of 2·stride into their last position
        dst = i[(i + 1) % (2 * stride) == 0]
        pairs.append((dst - stride, dst))
        stride *= 2
    stride //= 2
    while stride >= 1:  # down-sweep: push block totals into the middle of the next block
        dst = i[((i + 1) % (2 * stride) == stride) & (i >= 2 * stride)]
        pairs.append((dst - stride, dst))
        stride //= 2
    return Circuit.from_levels("brent-kung", n, pairs)


def _sparse(name: str, n: int, inner: Callable[[int], Circuit]) -> Circuit:
    """Combine pairs, run ``inner`` over the odd positions, then fix up the even ones.

    Han–Carlson is this with Kogge–Stone inside; the depth-(log n + 1) Ladner–Fischer member
    is this with Sklansky inside.
    """
    odd = np.arange(1, n, 2)
    pairs = [(odd - 1, odd)]
    for src, dst in inner(len(odd)).levels:
        pairs.append((2 * src + 1, 2 * dst + 1))
    even = np.arange(2, n, 2)
    pairs.append((even - 1, even))
    return Circuit.from_levels(name, n, pairs)


def han_carlson(n: int) -> Circuit:
    """Han–Carlson: Kogge–Stone on odd positions, one extra level for the even ones."""
    return _sparse("han-carlson", n, kogge_stone)


def ladner_fischer(n: int) -> Circuit:
    """Ladner–Fischer (the depth log n + 1 member): Sklansky on odd positions, then evens."""
    return _sparse("ladner-fischer", n, sklansky)


def chunked(n: int, chunk: int = 64, inner: str = "sequential", outer: str = "sequential") -> Circuit:
    """Chunked scan: ``inner`` within chunks of ``chunk``, ``outer`` across chunk totals, fix-up.

    The shape of reduce-then-scan kernels: every chunk scans locally (all chunks in
    parallel), the chunk totals are scanned, then each position of chunk c ≥ 1 other than
    its last takes the running total of chunk c − 1.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise CircuitError(f"chunked: chunk must be an integer ≥ 1, got {chunk!r}")
    chunk = int(chunk)
    inner_fn, outer_fn = _generator(inner), _generator(outer)
    if inner == "chunked" or outer == "chunked":
        raise CircuitError("chunked: inner and outer must be non-chunked circuit names")
    starts = np.arange(0, n, chunk)
    # every full chunk runs the same inner circuit: build it once and place it at each start
    full = starts[starts + chunk <= n]
    merged: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    if len(full):
        for j, (src, dst) in enumerate(inner_fn(chunk).levels):
            merged.setdefault(j, []).append((np.add.outer(full, src).ravel(), np.add.outer(full, dst).ravel()))
    if len(full) < len(starts):  # the last, partial chunk
        start = int(starts[-1])
        for j, (src, dst) in enumerate(inner_fn(n - start).levels):
            merged.setdefault(j, []).append((src + start, dst + start))
    pairs = [
        (np.concatenate([s for s, _ in merged[j]]), np.concatenate([d for _, d in merged[j]]))
        for j in sorted(merged)
    ]
    ends = np.minimum(starts + chunk, n) - 1
    for src, dst in outer_fn(len(ends)).levels:
        pairs.append((ends[src], ends[dst]))
    pos = np.arange(chunk, n)
    pos = pos[(pos % chunk != chunk - 1) & (pos != n - 1)]
    pairs.append(((pos // chunk) * chunk - 1, pos))
    return Circuit.from_levels(f"chunked({chunk},{inner},{outer})", n, pairs)


CIRCUITS: dict[str, Callable[..., Circuit]] = {
    "sequential": sequential,
    "kogge-stone": kogge_stone,
    "sklansky": sklansky,
    "brent-kung": brent_kung,
    "han-carlson": han_carlson,
    "ladner-fischer": ladner_fischer,
    "chunked": chunked,
}


def _generator(name: str) -> Callable[..., Circuit]:
    try:
        return CIRCUITS[name]
    except KeyError:
        raise CircuitError(
            f"unknown circuit {name!r}: expected one of {', '.join(CIRCUITS)}"
        ) from None


#: the most combines a circuit may have (two int32 indices each: 2 GiB)
MAX_COMBINES = 1 << 28
#: the most memory building one circuit may take: 16 bytes per combine (its two indices, and
#: the int64 ranges they are built from) and 8 per level (the level offsets)
MAX_CIRCUIT_BYTES = 2 << 30


def prefix_circuit(name: str, n: int, **options) -> Circuit:
    """Build the named prefix circuit over ``n`` ≥ 1 positions.

    ``options`` go to the generator; only ``chunked`` takes any (``chunk``, ``inner``,
    ``outer``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise CircuitError(f"n must be an integer ≥ 1, got {n!r}")
    generator = _generator(name)
    # refuse before allocating: a circuit holds two int32 indices per combine, at most
    # n·⌈log₂ n⌉ combines (Kogge–Stone's count; the sequential chain has n − 1)
    bound = n - 1 if name == "sequential" else n * max(1, math.ceil(math.log2(n)))
    levels = n - 1 if name == "sequential" else 2 * max(1, math.ceil(math.log2(n)))
    if bound > MAX_COMBINES:
        raise CircuitError(f"circuit {name!r} over n = {n} positions: up to {bound:.3g} combines, more than "
                           f"the {MAX_COMBINES:.3g} ({8 * MAX_COMBINES / 2**30:.0f} GiB of indices) "
                           "scansim builds; expected a shorter sequence")
    if 16 * bound + 8 * levels > MAX_CIRCUIT_BYTES:
        raise CircuitError(f"circuit {name!r} over n = {n} positions: building it takes about "
                           f"{(16 * bound + 8 * levels) / 2**30:.1f} GiB, more than the "
                           f"{MAX_CIRCUIT_BYTES >> 30} GiB scansim allows; expected a shorter sequence")
    try:
        return generator(int(n), **options)
    except TypeError as exc:
        raise CircuitError(f"circuit {name!r}: bad options {options}: {exc}") from None
