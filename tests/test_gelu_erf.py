"""GELU's float32 erf by a float64 Taylor estimate with a math.erf fallback
(`kernels.activations.gelu_forward_float32`): math.erf's bits at every float32 input.

The kernel rounds its estimate to float32 only where the estimate's error bound cannot cross
a rounding midpoint, and takes math.erf elsewhere; these tests compare its Φ and y, bit for
bit, with `gelu_forward` (math.erf at every entry, itself equal to the NumPy lines: see
test_activations.py) over float32 inputs densely (fast) and exhaustively (slow)."""

import math
import os

import numpy as np
import pytest

from scratchnn.nn.activations import GELU

pytest.importorskip("numba")
from scratchnn.kernels import activations as compiled  # noqa: E402  (after the skip: needs Numba)

SCALARS = (np.float32(math.sqrt(2)), np.float32(0.5), np.float32(1))
FORTY = int(np.float32(40).view(np.int32))      # bit pattern of 40.0: GELU clips its input there


def both_kernels(x):
    """(Φ, y, recomputed) from the fast kernel and (Φ, y) from math.erf at every entry."""
    fast_cdf, fast_y, cdf, y = (np.empty_like(x) for _ in range(4))
    recomputed = compiled.gelu_forward_float32(x, *SCALARS, compiled.ERF_TABLE, fast_y, fast_cdf)
    compiled.gelu_forward(x, np.clip(x, -40, 40), *SCALARS, y, cdf)
    return (fast_cdf, fast_y, recomputed), (cdf, y)


def assert_same_bits(x):
    (fast_cdf, fast_y, recomputed), (cdf, y) = both_kernels(x)
    for fast, exact in ((fast_cdf, cdf), (fast_y, y)):
        differ = np.flatnonzero(fast.view(np.int32) != exact.view(np.int32))
        assert differ.size == 0, f"x = {x[differ[:5]]}: {fast[differ[:5]]} against math.erf's {exact[differ[:5]]}"
    return recomputed


def test_float32_erf_has_math_erfs_bits_over_a_dense_sweep():
    """Every 509th float32 in [0, 40] and their negatives (about 2.2 million inputs, every
    binade), random normals, and the special values: the same bits as math.erf, and only a
    few entries (those whose erf lies too near a rounding midpoint) needed math.erf."""
    patterns = np.arange(0, FORTY + 1, 509, dtype=np.int32)
    sweep = patterns.view(np.float32)
    x = np.concatenate([sweep, -sweep, np.random.default_rng(0).normal(scale=3, size=200_000).astype(np.float32),
                        np.array([0.0, -0.0, 1e-45, -1e-45, 40.0, -40.0, 8.5, -8.5, 45.0, -1e30, np.inf, -np.inf,
                                  np.nan], np.float32)])
    recomputed = assert_same_bits(x)
    assert 1 <= recomputed < 1e-3 * x.size       # the fallback ran (the NaN at least), and rarely


def test_float32_erf_near_the_grid_and_its_midpoints():
    """Inputs whose z = x/√2 lies near a grid point c = k/512 or halfway between two (the ends
    of the Taylor estimate's range, where its error is largest, and where the nearest grid
    point changes), a few float32 steps either side."""
    halves = 2 * compiled.ERF_GRID_STEPS
    grid = np.arange(0, 6 * halves + 3) / halves * math.sqrt(2)
    centre = grid.astype(np.float32).view(np.int32)
    x = (centre[:, None] + np.arange(-20, 21)[None, :]).ravel().view(np.float32)
    x = x[x >= 0]
    assert_same_bits(np.concatenate([x, -x]))


@pytest.mark.parametrize("shape, dtype", [((4, 64, 512), np.float32), ((5, 30011), np.float32),
                                          ((3, 30011), np.float64)])
def test_gelu_layer_fused_and_plain_agree_bit_for_bit(shape, dtype):
    """The layer at the transformer's shape and at one of odd size (the compiled backward runs
    in blocks of 65,536 entries, the last one shorter): GELU(fused=True) (the fast kernel in
    float32) against GELU(fused=False) (np.frompyfunc(math.erf)), outputs and gradients."""
    x = np.random.default_rng(5).normal(scale=2, size=shape).astype(dtype)
    upstream = np.random.default_rng(6).normal(size=x.shape).astype(dtype)
    fused, plain = GELU(fused=True), GELU(fused=False)
    assert fused.forward(x).tobytes() == plain.forward(x).tobytes()
    assert fused.backward(upstream).tobytes() == plain.backward(upstream).tobytes()


def test_gelu_float32_backward_without_the_kernel_clips_the_kept_input():
    """The fast forward keeps x unclipped; a backward that cannot take the compiled pass (a
    strided dL/dy) clips it itself: the same gradient, bit for bit, huge inputs included."""
    x = np.random.default_rng(7).normal(scale=30, size=(16, 40)).astype(np.float32)
    x[0, :3] = [1e30, -1e30, 45.0]
    upstream = np.random.default_rng(8).normal(size=(16, 80)).astype(np.float32)[:, ::2]    # not contiguous
    fused, plain = GELU(fused=True), GELU(fused=False)
    assert fused.forward(x).tobytes() == plain.forward(x).tobytes()
    assert fused.backward(upstream).tobytes() == plain.backward(upstream).tobytes()
    assert fused.backward(np.ascontiguousarray(upstream)).tobytes() == plain.backward(upstream).tobytes()


@pytest.mark.slow
def test_float32_erf_has_math_erfs_bits_at_every_float32_input():
    """Every 13th float32 in [0, 40] (about 83 million; negatives follow, as both the estimate
    and math.erf are odd: erf(−z) = −erf(z) bit for bit, which the dense sweep checks), in
    blocks; with SCRATCHNN_EXHAUSTIVE=1 in the environment, every one of the 1.1 billion.
    Beyond 40 GELU clips its input."""
    step = 1 if os.environ.get("SCRATCHNN_EXHAUSTIVE") == "1" else 13
    block = step << 24
    for start in range(0, FORTY + 1, block):
        assert_same_bits(np.arange(start, min(start + block, FORTY + 1), step, dtype=np.int32).view(np.float32))
