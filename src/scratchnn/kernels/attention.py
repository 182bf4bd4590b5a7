"""Compiled kernels of the attention (see `scratchnn.nn.attention`): the softmax's
arithmetic around NumPy's exp in the forward pass, and its backward."""

import numpy as np

from ._numba import compiled

SUMMED_IN_NUMPY_ORDER = 128     # `divide_rows_by_sum` takes rows up to this long


@compiled(nogil=True)
def scale_mask_shift_rows(scores, scale, causal):
    """The softmax's steps before e^·, over (R, T) rows of S (row r is query i = r mod T),
    in place, with the bits of the NumPy lines of `MultiHeadAttention.forward`: S · scale;
    if `causal`, −∞ at the keys j > i; then S − max_j S (a NaN in the row gives NaN, as
    np.maximum does). One pass per row while it is in cache, instead of four over all of S."""
    steps = scores.shape[1]
    for row in range(scores.shape[0]):
        s = scores[row]
        query = row % steps
        for j in range(steps):
            s[j] = s[j] * scale
        if causal:
            for j in range(query + 1, steps):
                s[j] = -np.inf
        largest = s[0]
        for j in range(1, steps):
            if s[j] > largest or s[j] != s[j]:               # NaN wins, as in np.maximum
                largest = s[j] if largest == largest else largest
        for j in range(steps):
            s[j] = s[j] - largest


@compiled(nogil=True)
def divide_rows_by_sum(exps):
    """Each (R, T) row over its sum, in place, T <= SUMMED_IN_NUMPY_ORDER: the sum in the
    order NumPy's ``exps.sum(axis=-1)`` takes for such rows (eight running sums over the
    row's blocks of eight, combined pairwise, then the rest in order), hence the same bits."""
    steps = exps.shape[1]
    whole = steps - steps % 8
    for row in range(exps.shape[0]):
        e = exps[row]
        if steps < 8:
            total = e[0]                                     # NumPy: 0 + e_0 + e_1 + ...
            for j in range(1, steps):
                total += e[j]
        else:
            r0, r1, r2, r3, r4, r5, r6, r7 = e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]
            for j in range(8, whole, 8):
                r0 += e[j]
                r1 += e[j + 1]
                r2 += e[j + 2]
                r3 += e[j + 3]
                r4 += e[j + 4]
                r5 += e[j + 5]
                r6 += e[j + 6]
                r7 += e[j + 7]
            total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            for j in range(whole, steps):
                total += e[j]
        for j in range(steps):
            e[j] = e[j] / total


@compiled(nogil=True)
def softmax_backward_rows(grad, p, scale):
    """dL/dS from dL/dP through P = softmax(S), times `scale`, per row of (R, T) arrays,
    written over `grad`: r = Σ_j dL/dP_j P_j, then ((dL/dP_j − r) · P_j) · scale. The NumPy
    twin is `MultiHeadAttention.backward`'s lines: the same operations per entry, but r summed
    in order rather than by einsum (equal to float rounding). `scale` in the arrays' dtype."""
    for row in range(grad.shape[0]):
        g, q = grad[row], p[row]
        total = scale - scale
        for j in range(g.shape[0]):
            total += g[j] * q[j]
        for j in range(g.shape[0]):
            g[j] = ((g[j] - total) * q[j]) * scale
