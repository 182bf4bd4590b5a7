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


@compiled(nogil=True)
def gelu_forward(x, x_safe, root_two, half, one, y, cdf):
    """GELU's forward over 1-D arrays in one pass, the NumPy lines of `GELU.forward` with the
    same bits: erf(x_safe / √2) by math.erf in float64, rounded to the arrays' dtype (as
    ``erf(scaled).astype(x.dtype)``), Φ = ½(1 + erf) into `cdf`, y = x · Φ. The scalars carry
    the arrays' dtype."""
    for k in range(x.shape[0]):
        cdf[k] = math.erf(np.float64(x_safe[k] / root_two))    # stored: rounded to the dtype
        phi = half * (one + cdf[k])
        cdf[k] = phi
        y[k] = x[k] * phi


@compiled(nogil=True)
def gelu_backward(grad, x, cdf, grad_output, root_two_pi):
    """GELU's dL/dx over 1-D arrays, written over `grad`, which holds e^(−x²/2): ((grad / √(2π))
    · x + Φ) · dL/dy, the four in-place NumPy lines of `GELU.backward` in one pass (the same
    bits); `root_two_pi` is √(2π) in the arrays' dtype."""
    for k in range(grad.shape[0]):
        grad[k] = ((grad[k] / root_two_pi) * x[k] + cdf[k]) * grad_output[k]
