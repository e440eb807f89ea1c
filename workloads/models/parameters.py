"""How many weights a model holds, and the projection widths its pieces share."""

from __future__ import annotations

from workloads.models.model import Model

__all__ = ["parameters", "widths"]


def widths(m: Model) -> dict[str, int]:
    """Projection widths the pieces share: attention's query (with its gate) and key/value
    outputs, Mamba-2's input projection and conv channels, Gated DeltaNet's q, k, v (and z)."""
    qk = m.linear_key_heads * m.linear_key_dim
    v = m.linear_heads * m.linear_value_dim
    ssd_heads = m.d_inner // m.ssm_head_dim if m.ssm_head_dim else 0
    return {"q": m.heads * m.head_dim * (2 if m.attention_gate else 1), "kv": 2 * m.kv_heads * m.head_dim,
            "mamba2_in": 2 * m.d_inner + 2 * m.groups * m.d_state + ssd_heads,
            "mamba2_conv": m.d_inner + 2 * m.groups * m.d_state,
            "gdn_in": 2 * qk + 2 * v + 2 * m.linear_heads, "gdn_conv": 2 * qk + v, "gdn_v": v}


def _mixer_parameters(m: Model, mixer: str) -> int:
    d, w = m.d_model, widths(m)
    if mixer == "attention":
        return d * (w["q"] + w["kv"]) + m.heads * m.head_dim * d + (2 * m.head_dim if m.qk_norm else 0)
    if mixer == "mamba":
        di, n, r = m.d_inner, m.d_state, m.dt_rank
        # in_proj, conv (+bias), x_proj, dt_proj (+bias), A, D, out_proj
        return d * 2 * di + di * m.d_conv + di + di * (r + 2 * n) + r * di + di + di * n + di + di * d
    if mixer == "none":
        return 0
    if mixer == "rwkv7":  # r, k, v, o; each low-rank map down and up (+ a bias but the gate's);
        # token-shift mixes (6), k_k, k_a, r_k and the group norm's weight and bias (5)
        return 4 * d * d + sum(2 * d * r for r in m.lora_ranks) + 3 * d + 11 * d
    if mixer == "mamba2":
        heads = m.d_inner // m.ssm_head_dim
        conv = w["mamba2_conv"]
        return d * w["mamba2_in"] + conv * m.d_conv + conv + 3 * heads + m.d_inner + m.d_inner * d
    # Gated DeltaNet: in_proj_qkvz and in_proj_ba, conv, A and dt bias, gated norm, out_proj
    return d * w["gdn_in"] + w["gdn_conv"] * m.d_conv + 2 * m.linear_heads + m.linear_value_dim + w["gdn_v"] * d


def _ffn_parameters(m: Model, ffn: str, active: bool) -> int:
    d = m.d_model
    if ffn == "mlp":
        return (3 if m.mlp_gated else 2) * d * m.d_ff
    if ffn == "moe":
        held = m.experts // m.expert_shards  # under expert parallelism, this chip's experts
        routed = (m.experts_per_token if active else held) * 3 * d * m.expert_d_ff
        shared = 3 * d * m.shared_expert_d_ff + d if m.shared_expert_d_ff else 0  # and its sigmoid gate
        return d * m.experts + routed + shared  # the router
    return 0


def parameters(m: Model, active: bool = False) -> int:
    """Weights: embeddings (and an untied LM head), every layer's mixer, feed-forward part and
    norms, and the final norm; ``active``: with only the experts a token is routed to."""
    embed = m.vocab * m.d_model * (1 if m.tied_embeddings else 2)
    layers = sum(_mixer_parameters(m, mixer) + _ffn_parameters(m, ffn, active) for mixer, ffn in m.layout)
    return embed + layers + m.d_model * (m.sublayers + 1)  # the pre-norms and the final norm
