"""Optional fused kernels (the Adam, SGD-momentum, RMSprop and Adagrad steps, 2x2 max pooling,
the ReLU gradient, Conv2D's im2col / col2im copies, GELU's erf), compiled by Numba when it is
installed.

The NumPy form of an Adam step makes a dozen passes over the weights (one per operation);
here each weight is read and written once, in one vectorized loop on one core (BLAS keeps the
cores busy with the matrix products; a parallel loop here fought it for them and lost).
``error_model="numpy"`` lets division skip Python's zero check, which would block
vectorization. The kernel does the same float
operations in the same order as `optim.Adam.update`'s NumPy code (no fused multiply-add, no
fast-math), so both give bit-identical weights; tests check that.

Install with ``pip install scratchnn[fast]``; without Numba, `available` is False and the
optimizers use NumPy alone.
"""

import math

import numpy as np

from .._checks import describe

try:
    import numba
except ImportError:          # the optional extra is not installed
    numba = None

available = numba is not None


def check_option(fused):
    """A layer's or optimizer's ``fused`` argument: "auto" (compiled when Numba is installed),
    True (compiled, Numba required) or False (NumPy only)."""
    if not ((isinstance(fused, str) and fused == "auto") or fused is True or fused is False):
        raise ValueError(f"fused must be 'auto', True or False, got {describe(fused)}")
    if fused is True and not available:
        raise ValueError("fused=True needs Numba: pip install scratchnn[fast]")
    return fused


def same_layout(*arrays, minimum_size=0):
    """Whether the arrays are C-contiguous float32/float64 of one shape and dtype, with at
    least `minimum_size` entries (below that, calling a kernel costs more than it saves)."""
    first = arrays[0]
    return (first.size >= minimum_size and first.dtype in (np.float32, np.float64)
            and all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.shape == first.shape
                    and a.dtype == first.dtype for a in arrays))

if available:
    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def adam_step(value, grad, m, v, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2,
                  correction_2, epsilon, step_size, tiny):
        """One Adam update of 1-D arrays, in place; the scalars carry the arrays' dtype."""
        zero = tiny - tiny
        for i in range(value.size):
            g = grad[i]
            m_i = m[i] * beta_1 + g * one_minus_beta_1            # m = β1 m + (1 − β1) g
            v_i = v[i] * beta_2 + (g * g) * one_minus_beta_2      # v = β2 v + (1 − β2) g²
            if abs(m_i) < tiny:                                   # subnormal: flush (see optim.Adam)
                m_i = zero
            if v_i < tiny:
                v_i = zero
            m[i] = m_i
            v[i] = v_i
            denominator = np.sqrt(v_i) / correction_2 + epsilon   # √v̂ + ε, v̂ = v / (1 − β2^t)
            value[i] -= (m_i / denominator) * step_size           # w ← w − lr · m̂ / (√v̂ + ε)

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def sgd_momentum_step(value, grad, velocity, momentum, weight_decay, nesterov, learning_rate, tiny):
        """One SGD step with momentum, in place, as `optim.SGD.update`'s NumPy code does it."""
        zero = tiny - tiny
        for i in range(value.size):
            g = grad[i]
            if weight_decay != zero:
                g = g + weight_decay * value[i]                   # g = ∇L + λ w
            v_i = velocity[i] * momentum + g                      # v = μ v + g
            if abs(v_i) < tiny:                                   # subnormal: flush (see optim.Adam)
                v_i = zero
            velocity[i] = v_i
            step = g + momentum * v_i if nesterov else v_i
            value[i] -= learning_rate * step                      # w ← w − lr · step

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def rmsprop_step(value, grad, average, buffer, rho, one_minus_rho, epsilon, momentum, use_momentum,
                     learning_rate, tiny):
        """One RMSprop step, in place, as `optim.RMSprop.update`'s NumPy code does it."""
        zero = tiny - tiny
        for i in range(value.size):
            g = grad[i]
            a = average[i] * rho + one_minus_rho * (g * g)        # v = ρ v + (1 − ρ) g²
            if a < tiny:                                          # subnormal: flush
                a = zero
            average[i] = a
            scaled = g / (np.sqrt(a) + epsilon)                   # g / (√v + ε)
            if use_momentum:
                b = buffer[i] * momentum + scaled                 # b = μ b + g / (√v + ε)
                if abs(b) < tiny:
                    b = zero
                buffer[i] = b
                scaled = b
            value[i] -= learning_rate * scaled

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def adagrad_step(value, grad, total, epsilon, learning_rate):
        """One Adagrad step, in place, as `optim.Adagrad.update`'s NumPy code does it."""
        for i in range(value.size):
            g = grad[i]
            s = total[i] + g * g                                  # s = s + g²
            total[i] = s
            value[i] -= (learning_rate * g) / (np.sqrt(s) + epsilon)   # w ← w − lr · g / (√s + ε)

    @numba.njit(cache=True, fastmath=False, error_model="numpy")
    def scikit_learn_adam_step(value, grad, l2, use_l2, rows, clear, m, v, beta_1, one_minus_beta_1, beta_2,
                               one_minus_beta_2, minus_learning_rate, epsilon, tiny, upcast):
        """scikit-learn's Adam update, operation for operation (see sklearn_network.ScikitLearnAdam):
        m, v and √v + ε in the arrays' dtype, then −lr · m / (√v + ε) and w + update in float64
        when ``upcast`` (NumPy 2 computes them so, lr being a NumPy float64), else in the dtype.
        Subnormal m and v are flushed to 0, as in `adam_step`: they move no weight either way.
        The gradient comes unscaled, as scikit-learn's backprop leaves it: first
        g = (g + l2 · w) / rows (with ``use_l2``; l2 is α on weights, 0 on biases), stored back;
        with ``clear``, 0 is stored instead, ready for the next backward pass to add into."""
        zero = tiny - tiny
        for i in range(value.size):
            g = grad[i]
            if use_l2:
                g = g + l2[i] * value[i]
            g = g / rows
            grad[i] = zero if clear else g
            m_i = beta_1 * m[i] + one_minus_beta_1 * g
            v_i = beta_2 * v[i] + one_minus_beta_2 * (g * g)
            if abs(m_i) < tiny:                                   # subnormal: flush (see optim.Adam)
                m_i = zero
            if v_i < tiny:
                v_i = zero
            m[i] = m_i
            v[i] = v_i
            denominator = np.sqrt(v_i) + epsilon
            if upcast:                     # minus_learning_rate is then a float64
                value[i] = np.float64(value[i]) + (minus_learning_rate * np.float64(m_i)) / np.float64(denominator)
            else:                          # ... else a scalar of the arrays' dtype
                value[i] += (minus_learning_rate * m_i) / denominator

    @numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def max_pool_2x2_forward(x, y, argmax):
        """2x2 max pooling, stride 2: y[n, c, r, s] = max of x[n, c, 2r:2r+2, 2s:2s+2], and
        argmax = the position (0 1 / 2 3) of its first maximum in row-major order. Selects
        instead of branches, so the loop vectorizes; a NaN makes y NaN, as np.maximum does."""
        images, channels, out_h, out_w = y.shape
        for n in range(images):
            for c in range(channels):
                for r in range(out_h):
                    top, bottom = x[n, c, 2 * r], x[n, c, 2 * r + 1]
                    y_row, argmax_row = y[n, c, r], argmax[n, c, r]
                    for s in range(out_w):
                        a, b, d, e = top[2 * s], top[2 * s + 1], bottom[2 * s], bottom[2 * s + 1]
                        best, where = a, 0
                        larger = b > best
                        best, where = (b if larger else best), (1 if larger else where)
                        larger = d > best
                        best, where = (d if larger else best), (2 if larger else where)
                        larger = e > best
                        best, where = (e if larger else best), (3 if larger else where)
                        nan = (a != a) | (b != b) | (d != d) | (e != e)
                        y_row[s] = best if not nan else best + np.nan
                        argmax_row[s] = where

    @numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def max_pool_2x2_backward(grad_output, argmax, grad_input):
        """dL/dx = dL/dy at each 2x2 window's argmax and dL/dy · 0 at its other three pixels
        (the NumPy path's g · [argmax == k], signed zeros included). Pixels no window covers
        (an odd last row or column) are left as they are: zeros from the caller."""
        images, channels, out_h, out_w = grad_output.shape
        for n in range(images):
            for c in range(channels):
                for r in range(out_h):
                    top, bottom = grad_input[n, c, 2 * r], grad_input[n, c, 2 * r + 1]
                    grad_row, argmax_row = grad_output[n, c, r], argmax[n, c, r]
                    for s in range(out_w):
                        g, where = grad_row[s], argmax_row[s]
                        top[2 * s] = g * (1.0 if where == 0 else 0.0)
                        top[2 * s + 1] = g * (1.0 if where == 1 else 0.0)
                        bottom[2 * s] = g * (1.0 if where == 2 else 0.0)
                        bottom[2 * s + 1] = g * (1.0 if where == 3 else 0.0)

    @numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def relu_backward(grad_output, x, zero, grad_input):
        """dL/dx = dL/dy · [x > 0] over 1-D arrays, in one pass: g where x > 0, else g · 0 (a
        signed zero, or NaN for an infinite g, as NumPy's g · False gives)."""
        for k in range(x.shape[0]):
            g = grad_output[k]
            grad_input[k] = g if x[k] > 0 else g * zero

    @numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def im2col_runs(x_pad, cols, pitch):
        """Conv2D's stride-1 im2col (see conv.Conv2D._workspace): cols[ch, i, j] =
        x_pad[ch, i·pitch + j : i·pitch + j + run], the run each kernel offset meets. Channel by
        channel, so that a channel's padded images stay in the CPU cache for its kh·kw copies
        (NumPy's slice copies sweep all channels once per offset)."""
        channels, kh, kw, run = cols.shape
        for ch in range(channels):
            for i in range(kh):
                for j in range(kw):
                    source = x_pad[ch, i * pitch + j:i * pitch + j + run]
                    target = cols[ch, i, j]
                    for p in range(run):
                        target[p] = source[p]

    @numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
    def col2im_runs(grad_cols, grad_pad, pitch):
        """The reverse of `im2col_runs`: grad_pad[ch] = 0, then grad_pad[ch, i·pitch + j + p]
        += grad_cols[ch, i, j, p] for the offsets in row-major order, as NumPy's slice adds do
        (the same additions in the same order, so the same bits), channel by channel."""
        channels, kh, kw, run = grad_cols.shape
        for ch in range(channels):
            target_row = grad_pad[ch]
            target_row[:] = 0
            for i in range(kh):
                for j in range(kw):
                    target = target_row[i * pitch + j:i * pitch + j + run]
                    source = grad_cols[ch, i, j]
                    for p in range(run):
                        target[p] += source[p]

    @numba.vectorize(["float64(float32)", "float64(float64)"], cache=True)
    def erf(x):
        """erf of each entry, in float64, as math.erf computes it (the same bits; NumPy has no
        erf, and np.frompyfunc(math.erf) makes a Python float per entry, ~10x slower)."""
        return math.erf(np.float64(x))
else:
    erf = None
    adam_step = scikit_learn_adam_step = max_pool_2x2_forward = max_pool_2x2_backward = relu_backward = None
    im2col_runs = col2im_runs = sgd_momentum_step = rmsprop_step = adagrad_step = None
