"""Compiled kernels of the activation layers (see `scratchnn.nn.activations`)."""

import math

import numpy as np

from ._numba import compiled, compiled_ufunc, helper


@compiled(nogil=True)
def relu_backward(grad_output, x, zero, grad_input):
    """dL/dx = dL/dy · [x > 0] over 1-D arrays, in one pass: g where x > 0, else g · 0 (a
    signed zero, or NaN for an infinite g, as NumPy's g · False gives)."""
    for k in range(x.shape[0]):
        g = grad_output[k]
        grad_input[k] = g if x[k] > 0 else g * zero


@compiled_ufunc("float64(float32)", "float64(float64)")
def erf(x):
    """erf of each entry, in float64, as math.erf computes it (the same bits; NumPy has no
    erf, and np.frompyfunc(math.erf) makes a Python float per entry)."""
    return math.erf(np.float64(x))


@compiled(nogil=True)
def gelu_forward(x, x_safe, root_two, half, one, y, cdf):
    """GELU's forward over 1-D arrays in one pass, the NumPy lines of `GELU.forward` with the
    same bits: erf(x_safe / √2) by math.erf in float64, rounded to the arrays' dtype (as
    ``erf(scaled).astype(x.dtype)``), Φ = ½(1 + erf) into `cdf`, y = x · Φ. The scalars carry
    the arrays' dtype. (float32 arrays take `gelu_forward_float32`, the same bits, faster.)"""
    for k in range(x.shape[0]):
        cdf[k] = math.erf(np.float64(x_safe[k] / root_two))    # stored: rounded to the dtype
        phi = half * (one + cdf[k])
        cdf[k] = phi
        y[k] = x[k] * phi


# erf in float64 near z, from a grid: erf(c + u) = erf(c) + erf'(c) · (u − c u² + (2c² − 1)/3 u³),
# the Taylor series to u³ about the grid point c = round(512 |z|) / 512 nearest |z| (|u| <= 1/1024;
# erf'(c) = 2/√π · e^(−c²), and the coefficients are erf's derivatives over erf'(c): −2c/2!,
# (4c² − 2)/3!). Its error is at most 8.2e-13 relative (measured against math.erf over float32 z,
# largest near z = 0); ERF_TRUSTED bounds it with a margin of 12x. Beyond z = 6, erf is 1.
# ERF_TABLE holds the pairs (erf(c), erf'(c)) side by side: one look-up reads one cache line.
ERF_GRID_STEPS = 512                                             # grid points per unit of z
_GRID = np.arange(6 * ERF_GRID_STEPS + 1) / ERF_GRID_STEPS       # c = 0, 1/512, ..., 6
ERF_TABLE = np.stack([[math.erf(c) for c in _GRID],              # erf(c)
                      2 / math.sqrt(math.pi) * np.exp(-_GRID * _GRID)], axis=1)    # erf'(c)
ERF_TRUSTED = 1e-11                                              # relative error bound
_CHUNK = 1024                                                    # entries per pass, kept in cache


@compiled(nogil=True)
def gelu_forward_float32(x, root_two, half, one, erf_table, y, cdf):
    """`gelu_forward` for float32 arrays (the scalars float32 too), with math.erf's bits, taking
    x itself and clipping it to [−40, 40] as it goes (`GELU.forward`'s np.clip, the same
    values); returns how many entries needed math.erf itself.

    The float32 erf is math.erf's float64 value e rounded to float32. Its Taylor estimate ê
    (see ERF_TABLE) is within ε = ERF_TRUSTED · |ê| of e, so when ê − ε and ê + ε round to
    the same float32, e rounds to it too; otherwise (e near the midpoint between two float32,
    a few in ten thousand, and NaN) that entry takes math.erf. Chunk by chunk, in three loops:
    z and its grid point, the table look-up (one entry at a time: the one loop the compiler
    does not vectorize), then the estimate, the test and the outputs."""
    n = x.shape[0]
    top = np.float64(erf_table.shape[0] - 1)
    steps = top / 6.0                                            # grid points per unit of z
    spacing = 1.0 / steps                                        # 1/512: c = point · spacing exactly
    z, point, erf_c, slope_c = np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK)
    unsure = np.empty(_CHUNK, np.bool_)
    recomputed = 0
    for start in range(0, n, _CHUNK):
        end = min(start + _CHUNK, n)
        xs, ys, cdfs, m = x[start:end], y[start:end], cdf[start:end], end - start
        _grid_points(xs, root_two, steps, top, z[:m], point[:m])
        for j in range(m):                                       # the look-up
            i = int(point[j])
            erf_c[j], slope_c[j] = erf_table[i, 0], erf_table[i, 1]
        if _estimated_outputs(xs, z[:m], point[:m], erf_c[:m], slope_c[:m], spacing, half, one, ys, cdfs, unsure[:m]):
            for j in range(m):
                if unsure[j]:                                    # too near a midpoint (or NaN)
                    phi = half * (one + np.float32(math.erf(z[j])))   # z[j]: the clipped x/√2
                    cdfs[j] = phi
                    ys[j] = xs[j] * phi
                    recomputed += 1
    return recomputed


@helper
def _grid_points(x, root_two, steps, top, z, point):
    """z = clip(x, −40, 40)/√2 (NaN kept; in float32, then exact in float64) and the index
    of the grid point nearest |z| (as a float), for each entry."""
    for j in range(x.shape[0]):
        v = x[j]
        v = np.float32(-40.0) if v < -40.0 else v                # float32 constants: v / √2 stays in float32
        v = np.float32(40.0) if v > 40.0 else v
        zj = np.float64(v / root_two)
        z[j] = zj
        point[j] = min(np.floor(abs(zj) * steps + 0.5), top)    # NaN: the comparison gives top


@helper
def _estimated_outputs(x, z, point, erf_c, slope_c, spacing, half, one, y, cdf, unsure):
    """Φ = ½(1 + ê) into cdf and y = x · Φ, in float32, from the estimate ê of erf(z) at each
    entry; unsure[j] where ê ± ε round to different float32; returns how many are unsure."""
    count = 0
    for j in range(x.shape[0]):
        size = abs(z[j])
        c = point[j] * spacing                                   # (a product: a division would be slow)
        u = size - c                                             # |u| <= 1/1024, exact
        a3 = (2.0 * (c * c) - 1.0) * (1.0 / 3.0)                 # the u³ coefficient over erf'(c)
        e = erf_c[j] + slope_c[j] * (u * (1.0 + u * (u * a3 - c)))
        e = 1.0 if size >= 6.0 else e                            # (a NaN z stays NaN)
        margin = e * ERF_TRUSTED
        doubt = np.float32(e - margin) != np.float32(e + margin)
        unsure[j] = doubt
        count += doubt
        phi = half * (one + np.float32(math.copysign(e, z[j])))  # Φ = ½(1 + erf), erf(−z) = −erf(z)
        cdf[j] = phi
        y[j] = x[j] * phi
    return count


@compiled(nogil=True)
def gelu_exponent(x, limit, minus_half, out):
    """−v²/2 over 1-D arrays into `out`, v = clip(x, −limit, limit), as ``np.clip``, then
    ``np.multiply(v, v)`` and ``*= −0.5`` (the same bits), in one pass; `limit` and
    `minus_half` in the arrays' dtype."""
    for k in range(x.shape[0]):
        v = x[k]
        v = -limit if v < -limit else v
        v = limit if v > limit else v
        out[k] = (v * v) * minus_half


@compiled(nogil=True)
def gelu_backward(grad, x, cdf, grad_output, limit, root_two_pi):
    """GELU's dL/dx over 1-D arrays, written over `grad`, which holds e^(−v²/2) for v =
    clip(x, −limit, limit): ((grad / √(2π)) · v + Φ) · dL/dy, the four in-place NumPy lines
    of `GELU.backward` in one pass (the same bits); `limit` and `root_two_pi` (√(2π)) in the
    arrays' dtype."""
    for k in range(grad.shape[0]):
        v = x[k]
        v = -limit if v < -limit else v
        v = limit if v > limit else v
        grad[k] = ((grad[k] / root_two_pi) * v + cdf[k]) * grad_output[k]
