"""Compiled kernel of the attention's backward pass (see `scratchnn.nn.attention`)."""

from ._numba import compiled


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
