"""Compiled kernels of the normalization layers (see `scratchnn.nn.normalization`): LayerNorm
over the last axis, forward and backward, each one pass per row (a row: one sample's D values,
(R, D) arrays); BatchNorm over the channels, its sums, normalization and input gradient as
passes over x viewed as (N, C, S).

The NumPy code in the layers is the twin: the same equations, but NumPy sums pairwise (or, over
several axes, in its own order) where these loops add in eight lanes, so the two agree to
float rounding, not bit for bit (tests check to about 1e-6 in float32, 1e-13 in float64).
"""

import math

import numpy as np

from ._numba import compiled, helper


# Row sums in eight lanes: entry j goes into running sum j mod 8, in the row's dtype, and the
# lanes are added up in a fixed order at the end. Eight independent additions can run side by
# side in one vector register, where one running sum would wait for each addition in turn.

@helper
def _lane_sums(row, factor, center):
    """(Σ d, Σ d²) over d = row[j] · factor − center, in eight lanes (factor 1 for plain
    differences: x · 1 is x)."""
    zero = center - center
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = zero
    whole = row.shape[0] - row.shape[0] % 8
    for j in range(0, whole, 8):
        d0, d1, d2, d3 = row[j] * factor - center, row[j + 1] * factor - center, row[j + 2] * factor - center, row[j + 3] * factor - center
        d4, d5, d6, d7 = row[j + 4] * factor - center, row[j + 5] * factor - center, row[j + 6] * factor - center, row[j + 7] * factor - center
        s0, s1, s2, s3, s4, s5, s6, s7 = s0 + d0, s1 + d1, s2 + d2, s3 + d3, s4 + d4, s5 + d5, s6 + d6, s7 + d7
        q0, q1, q2, q3 = q0 + d0 * d0, q1 + d1 * d1, q2 + d2 * d2, q3 + d3 * d3
        q4, q5, q6, q7 = q4 + d4 * d4, q5 + d5 * d5, q6 + d6 * d6, q7 + d7 * d7
    for j in range(whole, row.shape[0]):
        d0 = row[j] * factor - center
        s0 += d0
        q0 += d0 * d0
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), ((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))


@helper
def _lane_dots(g, h):
    """(Σ g, Σ g · h) in eight lanes."""
    zero = g[0] - g[0]
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = zero
    w0 = w1 = w2 = w3 = w4 = w5 = w6 = w7 = zero
    whole = g.shape[0] - g.shape[0] % 8
    for j in range(0, whole, 8):
        b0, b1, b2, b3 = b0 + g[j], b1 + g[j + 1], b2 + g[j + 2], b3 + g[j + 3]
        b4, b5, b6, b7 = b4 + g[j + 4], b5 + g[j + 5], b6 + g[j + 6], b7 + g[j + 7]
        w0, w1, w2, w3 = w0 + g[j] * h[j], w1 + g[j + 1] * h[j + 1], w2 + g[j + 2] * h[j + 2], w3 + g[j + 3] * h[j + 3]
        w4, w5, w6, w7 = w4 + g[j + 4] * h[j + 4], w5 + g[j + 5] * h[j + 5], w6 + g[j + 6] * h[j + 6], w7 + g[j + 7] * h[j + 7]
    for j in range(whole, g.shape[0]):
        b0 += g[j]
        w0 += g[j] * h[j]
    return ((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7)), ((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7))


@compiled(nogil=True)
def layer_norm_forward(x, weight, bias, eps, count, one, y, x_hat, scale, inverse_std):
    """Per row r of x (R, D): s = 2^max(e − 1, 0) with 2^(e−1) <= max|x| < 2^e (scale[r]),
    μ and σ² of x/s, inverse_std[r] = 1 / √(σ²/s² + ε/s/s), x̂ = (x/s − μ/s) · inverse_std,
    y = γ x̂ + β. `weight`/`bias` None for no affine part (then y is not written). eps, count
    (= D) and one are scalars in x's dtype (a Python number would make Numba use float64).
    The row's max and sums run in eight lanes (entries j mod 8), as `batch_norm_sums` does."""
    rows, width = x.shape
    whole = width - width % 8
    zero = one - one
    for r in range(rows):
        row = x[r]
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = zero            # max |x|, lane by lane
        for j in range(0, whole, 8):
            m0, m1, m2, m3 = max(m0, abs(row[j])), max(m1, abs(row[j + 1])), max(m2, abs(row[j + 2])), max(m3, abs(row[j + 3]))
            m4, m5, m6, m7 = max(m4, abs(row[j + 4])), max(m5, abs(row[j + 5])), max(m6, abs(row[j + 6])), max(m7, abs(row[j + 7]))
        for j in range(whole, width):
            m0 = max(m0, abs(row[j]))
        largest = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
        _, exponent = math.frexp(largest)                     # largest = m · 2^e, 0.5 <= m < 1
        s = math.ldexp(one, max(exponent - 1, 0))
        over_s = one / s                                       # x · (1/s) = x / s exactly: s = 2^k
        mean = _lane_sums(row, over_s, zero)[0] / count       # μ / s
        variance = _lane_sums(row, over_s, mean)[1] / count    # σ² / s²
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
    x̂)) · inverse_std / s into grad_input (None: not computed); the row sums in eight lanes."""
    rows, width = grad_output.shape
    grad_x_hat = np.empty(width, grad_output.dtype)
    for r in range(rows):
        g, h = grad_output[r], x_hat[r]
        if weight is not None:
            for j in range(width):
                grad_bias[j] += g[j]
                grad_weight[j] += g[j] * h[j]
        if grad_input is None:
            continue
        if weight is not None:
            for j in range(width):
                grad_x_hat[j] = g[j] * weight[j]               # dL/dx̂ = dL/dy · γ
        d = grad_x_hat if weight is not None else g
        total, total_x_hat = _lane_dots(d, h)                  # Σ dL/dx̂, Σ dL/dx̂ · x̂
        mean_grad, mean_grad_x_hat = total / count, total_x_hat / count
        inverse = inverse_std[r] / scale[r]                     # 1 / √(σ² + ε)
        for j in range(width):
            grad_input[r, j] = (d[j] - mean_grad - h[j] * mean_grad_x_hat) * inverse


# BatchNorm over axis 1: x viewed as (N, C, S) (S = H·W after a convolution, 1 after a Dense
# layer), statistics per channel c over n and s. Each row x[n, c] is summed in eight lanes
# (`_lane_sums`, `_lane_dots`) in x's dtype, and the rows' totals are added in float64. NumPy
# sums over several axes in another order, so the two paths agree to rounding, not bit for bit.

@compiled(nogil=True)
def batch_norm_sums(x, center, sums, squares):
    """sums[c] += Σ_{n,s} (x[n, c, s] − center[c]) and, when `squares` is not None,
    squares[c] += Σ_{n,s} (x[n, c, s] − center[c])² (`center` in x's dtype, zeros for plain
    sums; `sums`, `squares` float64)."""
    batch, channels, size = x.shape
    one = np.ones(1, x.dtype)[0]                                  # 1 in x's dtype
    for n in range(batch):
        for c in range(channels):
            total, total_squares = _lane_sums(x[n, c], one, center[c])
            sums[c] += float(total)
            if squares is not None:
                squares[c] += float(total_squares)


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
    for n in range(batch):
        for c in range(channels):
            total, total_x_hat = _lane_dots(grad_output[n, c], x_hat[n, c])
            grad_bias[c] += float(total)
            grad_weight[c] += float(total_x_hat)


@compiled(nogil=True)
def batch_norm_grad_input(grad_output, x_hat, scale, mean_grad, mean_grad_x_hat, grad_input):
    """dL/dx = scale · (dL/dy − mean_grad − x̂ · mean_grad_x_hat) per channel, in x's dtype."""
    batch, channels, size = grad_output.shape
    for n in range(batch):
        for c in range(channels):
            k, m, mh = scale[c], mean_grad[c], mean_grad_x_hat[c]
            for j in range(size):
                grad_input[n, c, j] = k * (grad_output[n, c, j] - m - x_hat[n, c, j] * mh)
