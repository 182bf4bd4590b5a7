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
