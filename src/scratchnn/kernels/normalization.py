"""Compiled kernels of the normalization layers (see `scratchnn.nn.normalization`): LayerNorm
over the last axis, forward and backward, each one pass per row (a row: one sample's D values,
(R, D) arrays); BatchNorm over the channels, its sums, normalization and input gradient as
passes over x viewed as (N, C, S).

The NumPy code in the layers is the twin: the same equations, but NumPy sums pairwise (or, over
several axes, in its own order) where these loops add in order or in lanes, so the two agree to
float rounding, not bit for bit (tests check to about 1e-6 in float32, 1e-13 in float64).
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


# BatchNorm over axis 1: x viewed as (N, C, S) (S = H·W after a convolution, 1 after a Dense
# layer), statistics per channel c over n and s. Each row x[n, c] is summed in eight running
# partial sums (lanes j mod 8, added up in a fixed order), in x's dtype: eight independent
# additions can run side by side in one vector register, where one running sum would wait for
# each addition in turn. The rows' totals are added in float64. NumPy sums over several axes
# in another order, so the two paths agree to rounding, not bit for bit.

@compiled(nogil=True)
def batch_norm_sums(x, center, sums, squares):
    """sums[c] += Σ_{n,s} (x[n, c, s] − center[c]) and, when `squares` is not None,
    squares[c] += Σ_{n,s} (x[n, c, s] − center[c])² (`center` in x's dtype, zeros for plain
    sums; `sums`, `squares` float64)."""
    batch, channels, size = x.shape
    whole = size - size % 8
    for n in range(batch):
        for c in range(channels):
            row, mu = x[n, c], center[c]
            zero = mu - mu
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
            q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = zero
            for j in range(0, whole, 8):
                d0, d1, d2, d3 = row[j] - mu, row[j + 1] - mu, row[j + 2] - mu, row[j + 3] - mu
                d4, d5, d6, d7 = row[j + 4] - mu, row[j + 5] - mu, row[j + 6] - mu, row[j + 7] - mu
                s0, s1, s2, s3, s4, s5, s6, s7 = s0 + d0, s1 + d1, s2 + d2, s3 + d3, s4 + d4, s5 + d5, s6 + d6, s7 + d7
                if squares is not None:
                    q0, q1, q2, q3 = q0 + d0 * d0, q1 + d1 * d1, q2 + d2 * d2, q3 + d3 * d3
                    q4, q5, q6, q7 = q4 + d4 * d4, q5 + d5 * d5, q6 + d6 * d6, q7 + d7 * d7
            for j in range(whole, size):
                d0 = row[j] - mu
                s0 += d0
                q0 += d0 * d0
            sums[c] += float(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
            if squares is not None:
                squares[c] += float(((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7)))


@compiled(nogil=True)
def batch_norm_normalize(x, mean, inverse_std, weight, bias, x_hat, y):
    """x̂ = (x − μ) · inverse_std and y = γ x̂ + β per channel, in x's dtype (`mean`,
    `inverse_std`, `weight`, `bias`: (C,) arrays of that dtype)."""
    batch, channels, size = x.shape
    for n in range(batch):
        for c in range(channels):
            mu, inverse, gamma, beta = mean[c], inverse_std[c], weight[c], bias[c]
            for j in range(size):
                normalized = (x[n, c, j] - mu) * inverse          # x̂ = (x − μ) / √(σ² + ε)
                x_hat[n, c, j] = normalized
                y[n, c, j] = normalized * gamma + beta            # y = γ x̂ + β


@compiled(nogil=True)
def batch_norm_gradient_sums(grad_output, x_hat, grad_bias, grad_weight):
    """grad_bias[c] += Σ_{n,s} dL/dy and grad_weight[c] += Σ_{n,s} dL/dy · x̂ (float64 totals
    of rows summed in eight lanes of x's dtype, as in `batch_norm_sums`)."""
    batch, channels, size = grad_output.shape
    whole = size - size % 8
    for n in range(batch):
        for c in range(channels):
            g, h = grad_output[n, c], x_hat[n, c]
            zero = g[0] - g[0]
            b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = zero
            w0 = w1 = w2 = w3 = w4 = w5 = w6 = w7 = zero
            for j in range(0, whole, 8):
                b0, b1, b2, b3 = b0 + g[j], b1 + g[j + 1], b2 + g[j + 2], b3 + g[j + 3]
                b4, b5, b6, b7 = b4 + g[j + 4], b5 + g[j + 5], b6 + g[j + 6], b7 + g[j + 7]
                w0, w1, w2, w3 = w0 + g[j] * h[j], w1 + g[j + 1] * h[j + 1], w2 + g[j + 2] * h[j + 2], w3 + g[j + 3] * h[j + 3]
                w4, w5, w6, w7 = w4 + g[j + 4] * h[j + 4], w5 + g[j + 5] * h[j + 5], w6 + g[j + 6] * h[j + 6], w7 + g[j + 7] * h[j + 7]
            for j in range(whole, size):
                b0 += g[j]
                w0 += g[j] * h[j]
            grad_bias[c] += float(((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7)))
            grad_weight[c] += float(((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7)))


@compiled(nogil=True)
def batch_norm_grad_input(grad_output, x_hat, scale, mean_grad, mean_grad_x_hat, grad_input):
    """dL/dx = scale · (dL/dy − mean_grad − x̂ · mean_grad_x_hat) per channel, in x's dtype."""
    batch, channels, size = grad_output.shape
    for n in range(batch):
        for c in range(channels):
            k, m, mh = scale[c], mean_grad[c], mean_grad_x_hat[c]
            for j in range(size):
                grad_input[n, c, j] = k * (grad_output[n, c, j] - m - x_hat[n, c, j] * mh)
