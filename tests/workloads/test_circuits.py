import math

import numpy as np
import pytest

from workloads.circuits import CIRCUITS, Circuit, CircuitError, prefix_circuit

# (depth, size, max fan-out) for n = 2^k, from Harris (2003) and Brent & Kung (1982)
FORMULAS = {
    "sequential": lambda n, k: (n - 1, n - 1, 2),
    "kogge-stone": lambda n, k: (k, n * k - n + 1, 2),
    "sklansky": lambda n, k: (k, n // 2 * k, n // 2 + 1),
    "brent-kung": lambda n, k: (2 * k - 1, 2 * n - 2 - k, 2),
    "han-carlson": lambda n, k: (k + 1, n // 2 * k, 2),
    "ladner-fischer": lambda n, k: (k + 1, n - 1 + n // 4 * (k - 1), n // 4 + 1),
}


def test_kogge_stone_16_by_hand():
    c = prefix_circuit("kogge-stone", 16)
    assert (c.depth, c.size) == (4, 49)  # 15 + 14 + 12 + 8
    assert [len(d) for _, d in c.levels] == [15, 14, 12, 8]


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("k", [2, 3, 4, 5, 8, 10])
def test_known_formulas_for_powers_of_two(name, k):
    n = 2**k
    c = prefix_circuit(name, n)
    assert (c.depth, c.size, c.max_fanout) == FORMULAS[name](n, k)


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_every_generator_validates_for_n_up_to_1100(name):
    for n in range(1, 1101):
        c = prefix_circuit(name, n).validate()
        assert c.n == n
        if name != "sequential":
            assert c.depth <= max(n - 1, 0)


@pytest.mark.parametrize("chunk,inner,outer", [(1, "sequential", "sequential"), (7, "kogge-stone", "sequential"),
                                               (16, "sequential", "brent-kung"), (64, "sklansky", "han-carlson")])
def test_chunked_variants_validate(chunk, inner, outer):
    for n in (1, 2, 63, 64, 65, 97, 1000):
        prefix_circuit("chunked", n, chunk=chunk, inner=inner, outer=outer).validate()


def test_chunked_depth_is_inner_plus_outer_plus_fixup():
    c = prefix_circuit("chunked", 1024, chunk=32, inner="kogge-stone", outer="kogge-stone")
    assert c.depth == 5 + 5 + 1


def test_levels_are_int64_and_synchronous_order():
    c = prefix_circuit("kogge-stone", 37)
    for src, dst in c.levels:
        assert src.dtype == np.int64 and dst.dtype == np.int64
        assert np.all(src < dst)
        assert np.all(np.diff(dst) < 0)  # descending: in-place execution is synchronous


def test_validate_rejects_wrong_circuits():
    skip = Circuit.from_levels("gap", 3, [(np.array([0]), np.array([2]))])
    with pytest.raises(CircuitError, match="not adjacent"):
        skip.validate()
    short = Circuit.from_levels("short", 3, [(np.array([0]), np.array([1]))])
    with pytest.raises(CircuitError, match=r"position 2 ends covering \[2,2\], expected \[0,2\]"):
        short.validate()
    twice = Circuit.from_levels("twice", 3, [(np.array([1, 1]), np.array([2, 2]))])
    with pytest.raises(CircuitError, match="written twice"):
        twice.validate()
    outside = Circuit.from_levels("outside", 2, [(np.array([0]), np.array([5]))])
    with pytest.raises(CircuitError, match="outside"):
        outside.validate()


def test_synchronous_semantics_matter():
    # x1 = x0+x1 and x2 = x1+x2 in one level: with synchronous reads x2 covers only [1,2]
    c = Circuit.from_levels("sync", 3, [(np.array([0, 1]), np.array([1, 2]))])
    with pytest.raises(CircuitError, match=r"\[1,2\]"):
        c.validate()


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_bad_n(bad):
    with pytest.raises(CircuitError, match="n must be an integer"):
        prefix_circuit("kogge-stone", bad)


def test_bad_names_and_options():
    with pytest.raises(CircuitError, match="unknown circuit 'nope'"):
        prefix_circuit("nope", 8)
    with pytest.raises(CircuitError, match="chunk must be an integer"):
        prefix_circuit("chunked", 8, chunk=0)
    with pytest.raises(CircuitError, match="bad options"):
        prefix_circuit("kogge-stone", 8, chunk=4)


def test_large_sequential_is_cheap():
    c = prefix_circuit("sequential", 1 << 20)
    assert c.depth == (1 << 20) - 1 and c.size == (1 << 20) - 1
    assert math.isclose(c.ptr.nbytes, 8 << 20)
