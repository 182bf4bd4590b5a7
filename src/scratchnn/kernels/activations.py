"""Compiled kernels of the activation layers (see `scratchnn.nn.activations`)."""

import math

import numpy as np

from ._numba import compiled, compiled_ufunc


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


# erf(x) ≈ x·P(x²)/Q(x²) on |x| < 3.92, ±1 beyond (where float32's erf is exactly ±1): the
# rational approximation Eigen and XLA use for float32 (a few ulp), evaluated by Horner.
ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
         -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
         -1.42647390514189e-02)
ERF_SATURATES = 3.92


@compiled(nogil=True)
def gelu_float32(x, x_safe, p, q, saturates, y, cdf):
    """GELU of float32 1-D arrays in one pass: erf(x_safe/√2) by the rational approximation above
    (p, q: its 7 and 5 coefficients as float32 arrays, highest power first), Φ = (1 + erf)/2 into
    `cdf`, y = x·Φ; the twin of `scratchnn.nn.activations._gelu_float32` (the same bits)."""
    half, one, root_half = np.float32(0.5), np.float32(1.0), np.float32(math.sqrt(0.5))
    p0, p1, p2, p3, p4, p5, p6 = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    q0, q1, q2, q3, q4 = q[0], q[1], q[2], q[3], q[4]
    for k in range(x.shape[0]):
        u = x_safe[k] * root_half                             # x/√2, x clipped to ±40
        u2 = u * u
        num = (((((p0 * u2 + p1) * u2 + p2) * u2 + p3) * u2 + p4) * u2 + p5) * u2 + p6
        den = (((q0 * u2 + q1) * u2 + q2) * u2 + q3) * u2 + q4                # Horner, unrolled
        e = (u * num) / den
        e = one if u > saturates else e
        e = -one if u < -saturates else e
        phi = half * (one + e)
        cdf[k] = phi
        y[k] = x[k] * phi


@compiled(nogil=True)
def gelu_backward(grad, x, cdf, grad_output, root_two_pi):
    """GELU's dL/dx over 1-D arrays, written over `grad`, which holds e^(−x²/2): ((grad / √(2π))
    · x + Φ) · dL/dy, the four in-place NumPy lines of `GELU.backward` in one pass (the same
    bits); `root_two_pi` is √(2π) in the arrays' dtype."""
    for k in range(grad.shape[0]):
        grad[k] = ((grad[k] / root_two_pi) * x[k] + cdf[k]) * grad_output[k]
