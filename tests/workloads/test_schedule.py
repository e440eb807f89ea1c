import math

import pytest

from workloads.catalog import CATALOG, WorkloadError, get_workload
from workloads.dispatch import schedule
from workloads.circuits import prefix_circuit


def diag(T, channels=1, batch=1):
    return get_workload("diagonal-d64").with_params(seq_len=T, state=channels, batch=batch)


@pytest.mark.parametrize("T", [2, 16, 1024, 1000])
@pytest.mark.parametrize("c", [1, 64])
def test_kogge_stone_combines_closed_form(T, c):
    s = schedule(diag(T, c), "kogge-stone")
    k = math.ceil(math.log2(T))
    combines = sum(st.total_ops for st in s.stages)
    assert combines == prefix_circuit("kogge-stone", T).size * c
    if T == 2**k:
        assert combines == (T * k - T + 1) * c
    assert len(s.stages) == k and s.depth_ops == k


def test_sequential_is_one_chain_stage_of_fmas():
    T, c = 1000, 8
    s = schedule(diag(T, c), "sequential", "fp32")
    (st,) = s.stages
    assert (st.ops, st.steps) == (c, T - 1)
    # h_t = a_t h_{t-1} + b_t: one multiply-add; the carry stays in a register, so each step
    # reads a_t, b_t and writes h_t — the running product of the a's is never needed
    assert st.flops_per_op == 2
    assert (st.bytes_read_per_op, st.bytes_written_per_op) == (8, 4)
    assert s.work_flops == 2 * (T - 1) * c
    assert s.dram_bytes == 12 * (T - 1) * c
    assert s.depth_ops == T - 1


def test_last_level_never_forms_products():
    # Kogge–Stone over 4: level 0 = {0→1, 1→2, 2→3}, level 1 = {0→2, 1→3}. No level after 1,
    # so level 1 is b-only; in level 0, the products into 2 and 3 are read by level 1
    # (as A_d of 0→2 and 1→3: always needed), and the product into 1 is read as A_s of 1→3
    # only if that combine's product is needed — it is not.  So level 0 forms 2 products.
    s = schedule(diag(4), "kogge-stone")
    level0, level1 = s.stages
    assert level0.flops == 3 * 2 + 2 * 1
    assert level1.flops == 2 * 2
    assert level1.bytes_written == 2 * 4  # b only, fp32


def test_dtype_sets_bytes():
    s32 = schedule(diag(256, 4), "brent-kung", "fp32")
    s16 = schedule(diag(256, 4), "brent-kung", "bf16")
    assert s32.dram_bytes == 2 * s16.dram_bytes
    assert s32.work_flops == s16.work_flops


def test_dense_family_costs_matrix_products():
    w = get_workload("iterated-3x3").with_params(seq_len=2, heads=1)
    (st,) = schedule(w, "kogge-stone").stages
    # the only combine is the last, b-only: A_d b_s + b_d = 2·3² flops, spread over the 3²
    # lanes a 3×3 product keeps busy; an output entry is a dot-product chain of length 3
    assert st.ops == 9 and st.flops == 2 * 3**2
    assert st.latency_ops == 3


def test_catalog_has_sources_and_bad_requests_fail():
    for w in CATALOG.values():
        assert w.source and w.description
    with pytest.raises(WorkloadError, match="unknown workload 'x'"):
        get_workload("x")
    with pytest.raises(WorkloadError, match="seq_len must be an integer ≥ 1, got 0"):
        diag(0)
    with pytest.raises(WorkloadError, match="unknown parameter 'width'"):
        diag(8).with_params(width=3)
    with pytest.raises(WorkloadError, match="algorithm: family 'diagonal' runs sequential"):
        schedule(diag(8), "fft")
    with pytest.raises(WorkloadError, match="dtype: expected one of"):
        schedule(diag(8), "sequential", "fp4")


def test_mamba2_groups_share_b_and_c():
    """Mamba-2's heads of a group share B and C (keys and queries): each is read once per group,
    and C·Bᵀ formed once per group (state-spaces/mamba ssd_bmm.py), so against one group per
    head the chunked form reads (H − G)·2K elements less per token and does (H − G)·2C²K fewer
    flops per chunk; groups that do not divide the heads are refused."""
    w = get_workload("mamba2-2.7b").with_params(seq_len=1024, batch=2)
    H, K, T, B, C, e = w.heads, w.state, w.seq_len, w.batch, 64, 2
    per_head, grouped = (schedule(w.with_params(groups=g), "chunked", "bf16", chunk=C) for g in (0, 1))
    qk_reads = B * T * 2 * K * e  # one head's queries and keys, read by the intra-chunk stage
    q_reads = B * T * K * e  # and its queries again by the output stage
    assert per_head.dram_bytes - grouped.dram_bytes == pytest.approx((H - 1) * (qk_reads + q_reads))
    assert per_head.work_flops - grouped.work_flops == pytest.approx((H - 1) * B * (T // C) * 2 * C * C * K)
    seq = [schedule(w.with_params(groups=g), "sequential", "bf16") for g in (0, 4)]
    assert seq[0].dram_bytes - seq[1].dram_bytes == pytest.approx((H - 4) * B * T * 2 * K * e)
    with pytest.raises(WorkloadError, match="groups 3 does not divide heads 80"):
        schedule(w.with_params(groups=3), "chunked", "bf16")
