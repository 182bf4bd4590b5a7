"""Compiled kernels of LayerNorm over the last axis (see `scratchnn.nn.normalization.LayerNorm`):
forward and backward, each one pass per row (a row: one sample's D values, (R, D) arrays).

The NumPy code in `LayerNorm` is the twin: the same equations, but NumPy sums a row pairwise
and these loops add in order, so the two agree to float rounding, not bit for bit (tests
check to 1e-6 in float32, 1e-13 in float64).
"""

import math

import numpy as np

from ._numba import compiled


@compiled(nogil=True)
def layer_norm_forward(x, weight, bias, eps, count, one, y, x_hat, scale, inverse_std):
    """Per row r of x (R, D): s = 2^max(e − 1, 0) with 2^(e−1) <= max|x| < 2^e (scale[r]),
    μ and σ² of x/s, inverse_std[r] = 1 / √(σ²/s² + ε/s/s), x̂ = (x/s − μ/s) · inverse_std,
    y = γ x̂ + β. `weight`/`bias` None for no affine part (then y is not written). eps, count
    (= D) and one are scalars in x's dtype (a Python number would make Numba use float64)."""
    rows, width = x.shape
    zero = one - one
    for r in range(rows):
        row = x[r]
        largest = abs(row[0])
        for j in range(1, width):
            largest = max(largest, abs(row[j]))
        _, exponent = math.frexp(largest)                     # largest = m · 2^e, 0.5 <= m < 1
        s = math.ldexp(one, max(exponent - 1, 0))
        over_s = one / s                                       # x · (1/s) = x / s exactly: s = 2^k
        total = zero
        for j in range(width):
            total += row[j] * over_s
        mean = total / count                                   # μ / s
        squares = zero
        for j in range(width):
            centered = row[j] * over_s - mean
            squares += centered * centered
        variance = squares / count                             # σ² / s²
        inverse = one / np.sqrt(variance + eps / s / s)       # s / √(σ² + ε)
        scale[r], inverse_std[r] = s, inverse
        for j in range(width):
            normalized = (row[j] * over_s - mean) * inverse    # x̂ = (x − μ) / √(σ² + ε)
            x_hat[r, j] = normalized
            if weight is not None:
                y[r, j] = normalized * weight[j] + bias[j]     # y = γ x̂ + β


@compiled(nogil=True)
def layer_norm_backward(grad_output, x_hat, weight, scale, inverse_std, count, grad_weight, grad_bias, grad_input):
    """Per row: dL/dβ += dL/dy, dL/dγ += dL/dy · x̂ (into grad_bias, grad_weight, when `weight`
    is not None; then dL/dx̂ = dL/dy · γ), and dL/dx = (dL/dx̂ − mean dL/dx̂ − x̂ · mean(dL/dx̂ ·
    x̂)) · inverse_std / s into grad_input (None: not computed)."""
    rows, width = grad_output.shape
    zero = count - count
    for r in range(rows):
        g, h = grad_output[r], x_hat[r]
        total, total_x_hat = zero, zero
        for j in range(width):
            grad_x_hat = g[j]
            if weight is not None:
                grad_bias[j] += g[j]
                grad_weight[j] += g[j] * h[j]
                grad_x_hat = g[j] * weight[j]
            total += grad_x_hat
            total_x_hat += grad_x_hat * h[j]
        if grad_input is None:
            continue
        mean_grad, mean_grad_x_hat = total / count, total_x_hat / count
        inverse = inverse_std[r] / scale[r]                     # 1 / √(σ² + ε)
        for j in range(width):
            grad_x_hat = g[j] * weight[j] if weight is not None else g[j]
            grad_input[r, j] = (grad_x_hat - mean_grad - h[j] * mean_grad_x_hat) * inverse
