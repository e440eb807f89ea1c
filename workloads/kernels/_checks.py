"""Argument checks shared by the kernel wrappers: one clear ValueError per bad argument."""

from __future__ import annotations

import numpy as np

from workloads.circuits import Circuit

FLOAT_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def check_array(name: str, x, ndim: int, expected: str, dtypes=FLOAT_DTYPES,
                finite: bool = True) -> np.ndarray:
    """``x`` as a C-contiguous array of ``ndim`` dimensions, one of ``dtypes``, all finite
    (unless ``finite=False``: the caller's kernel then checks as it goes)."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape {expected}, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected shape {expected}, got {x.shape}")
    if x.dtype.type not in dtypes:
        names = ", ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name}: expected dtype {names}, got {x.dtype}")
    if finite:
        check_finite(**{name: x})
    return np.ascontiguousarray(x)


def check_finite(**arrays: np.ndarray) -> None:
    """ValueError naming the first array that holds a NaN or an Inf."""
    for name, x in arrays.items():
        if x.dtype.kind in "fc" and not np.all(np.isfinite(x)):
            raise ValueError(f"{name}: contains NaN or Inf")


def check_shape(name: str, x: np.ndarray, shape: tuple, names: str) -> None:
    """``x.shape == shape``, else a ValueError that spells the expected shape ``names``."""
    if x.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {names} = {tuple(shape)}, got {x.shape}")


def check_same_dtype(name: str, x: np.ndarray, like: np.ndarray, like_name: str) -> None:
    if x.dtype != like.dtype:
        raise ValueError(f"{name}: expected dtype {like.dtype} (the dtype of {like_name}), got {x.dtype}")


def check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")
    return int(value)


def check_circuit(circuit, T: int) -> Circuit | None:
    if circuit is None:
        return None
    if not isinstance(circuit, Circuit):
        raise ValueError(f"circuit: expected a Circuit or None, got {type(circuit).__name__}")
    if circuit.n != T:
        raise ValueError(f"circuit: built for n={circuit.n}, but the inputs have T={T} steps")
    return circuit


REAL = (np.float32, np.float64)


def check_heads(q, k, v, key: str = "K", value: str = "V", **per_step) -> tuple:
    """Validate multi-head inputs: q and k of shape (B, T, H, key), v of (B, T, H, value), and
    each ``per_step`` array of (B, T, H); all real and of q's dtype.  Returns them, checked,
    in the order given."""
    q = check_array("q", q, 4, f"(B, T, H, {key})", dtypes=REAL)
    Bn, T, H, _ = q.shape
    if T < 1:
        raise ValueError("q: expected T ≥ 1")
    k = check_array("k", k, 4, f"(B, T, H, {key})", dtypes=REAL)
    check_shape("k", k, q.shape, f"(B, T, H, {key})")
    v = check_array("v", v, 4, f"(B, T, H, {value})", dtypes=REAL)
    if v.shape[:3] != (Bn, T, H):
        raise ValueError(f"v: expected shape (B, T, H, {value}) with (B, T, H) = {(Bn, T, H)}, got {v.shape}")
    checked = []
    for name, x in per_step.items():
        x = check_array(name, x, 3, "(B, T, H)", dtypes=REAL)
        check_shape(name, x, (Bn, T, H), "(B, T, H)")
        checked.append(x)
    for name, x in (("k", k), ("v", v), *zip(per_step, checked)):
        check_same_dtype(name, x, q, "q")
    return (q, k, v, *checked)


def check_log_decays(g: np.ndarray) -> None:
    if np.any(g > 0):
        raise ValueError("g: expected log-decays ≤ 0 (decays α = exp(g) in (0, 1])")
