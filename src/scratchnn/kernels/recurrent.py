"""Compiled kernels of the LSTM cell (see `scratchnn.nn.lstm.LSTM`): the elementwise work of
one time step between its tanh passes, forward (`lstm_step_gates`) and backward
(`lstm_step_backward`), each in one pass over (N, H) rows.

Their NumPy twins are `scratchnn.nn.lstm._step_gates` and `_step_backward`: the same float
operations in the same order, so both give the same bits (tests check). The tanh passes stay
in NumPy, which runs them on SIMD, while a compiled loop would call libm's tanh entry by
entry (50x slower without Intel's SVML).
"""

from ._numba import compiled


@compiled(nogil=True)
def lstm_step_backward(grad_h, carry_h, carry_c, gate, c_previous, tanh_c, delta, one):
    """grad = grad_h + carry_h; grad_c = carry_c + grad·o·(1 − tanh_c²); the four blocks of
    delta = dL/da_i, dL/da_f, dL/da_g, dL/da_o; carry_c = grad_c·f, written over. `one` is 1
    in the arrays' dtype (a literal 1 would make Numba compute float32 in float64)."""
    batch, hidden = carry_c.shape
    for n in range(batch):
        for k in range(hidden):
            i, f, g, o = gate[n, k], gate[n, hidden + k], gate[n, 2 * hidden + k], gate[n, 3 * hidden + k]
            t = tanh_c[n, k]
            grad = grad_h[n, k] + carry_h[n, k]
            grad_c = carry_c[n, k] + grad * o * (one - t * t)
            delta[n, k] = grad_c * g * i * (one - i)
            delta[n, hidden + k] = grad_c * c_previous[n, k] * f * (one - f)
            delta[n, 2 * hidden + k] = grad_c * i * (one - g * g)
            delta[n, 3 * hidden + k] = grad * t * o * (one - o)
            carry_c[n, k] = grad_c * f


@compiled(nogil=True)
def lstm_step_gates(gate, c_previous, c, half):
    """After the tanh pass of `LSTM.run`: i, f, o = tanh(a/2)·½ + ½ (σ(a)) written over their
    blocks of `gate`, and c = f·c_previous + i·g. `half` is ½ in the arrays' dtype."""
    batch, hidden = c.shape
    for n in range(batch):
        for k in range(hidden):
            i = gate[n, k] * half + half
            f = gate[n, hidden + k] * half + half
            o = gate[n, 3 * hidden + k] * half + half
            gate[n, k], gate[n, hidden + k], gate[n, 3 * hidden + k] = i, f, o
            c[n, k] = f * c_previous[n, k] + i * gate[n, 2 * hidden + k]
