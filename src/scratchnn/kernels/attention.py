"""Compiled kernels of the attention (see `scratchnn.nn.attention`): the softmax's
arithmetic around NumPy's exp in the forward pass, and its backward."""

import numpy as np

from ._numba import compiled

SUMMED_IN_NUMPY_ORDER = 128     # `divide_rows_by_sum` takes rows up to this long


@compiled(nogil=True)
def scale_mask_shift_rows(scores, scale, causal):
    """The softmax's steps before e^·, over (R, T) rows of S (row r is query i = r mod T),
    in place, with the bits of the NumPy lines of `MultiHeadAttention.forward`: S · scale;
    if `causal`, −∞ at the keys j > i; then S − max_j S (a NaN in the row makes the max NaN,
    as np.maximum does). One pass per row while it is in cache, instead of four over all of S;
    the max by eight running maxima (the same value in any order), which the compiler can
    vectorize."""
    steps = scores.shape[1]
    whole = steps - steps % 8
    for row in range(scores.shape[0]):
        s = scores[row]
        seen = row % steps + 1 if causal else steps                 # keys j < seen are kept
        nans = 0
        for j in range(seen):
            s[j] = s[j] * scale
            nans += s[j] != s[j]
        for j in range(seen, steps):                                # the future keys (causal)
            s[j] = -np.inf
        largest = s[0]
        if whole:
            m0, m1, m2, m3, m4, m5, m6, m7 = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
            for j in range(8, whole, 8):
                m0 = s[j] if s[j] > m0 else m0
                m1 = s[j + 1] if s[j + 1] > m1 else m1
                m2 = s[j + 2] if s[j + 2] > m2 else m2
                m3 = s[j + 3] if s[j + 3] > m3 else m3
                m4 = s[j + 4] if s[j + 4] > m4 else m4
                m5 = s[j + 5] if s[j + 5] > m5 else m5
                m6 = s[j + 6] if s[j + 6] > m6 else m6
                m7 = s[j + 7] if s[j + 7] > m7 else m7
            largest = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
        for j in range(whole, steps):
            largest = s[j] if s[j] > largest else largest
        if nans:
            largest = s[0] - s[0] + np.nan * scale               # NaN, in the dtype
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
