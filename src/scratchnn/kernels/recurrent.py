"""Compiled kernels of the LSTM cell (see `scratchnn.nn.lstm.LSTM`): the elementwise work of
one time step between its tanh passes, forward (`lstm_step_cell`, then `lstm_step_output`)
and backward (`lstm_step_backward`), each in one pass over (N, H) rows.

The forward leaves the i, f, o blocks of the gates as tanh(a/2) (σ(a) = tanh(a/2)·½ + ½ is
computed where it is used, the same operations each time, so the same bits), and the backward
writes δ_t over that step's gates: fewer passes over (N, 4H) memory per step.

Their NumPy twins are `scratchnn.nn.lstm._step_cell`, `_step_output` and `_step_backward`: the
same float operations in the same order, so both give the same bits (tests check). The tanh
passes stay in NumPy, which runs them on SIMD, while a compiled loop would call libm's tanh
entry by entry (50x slower without Intel's SVML).
"""

from ._numba import compiled


@compiled(nogil=True)
def lstm_step_backward(grad_h, carry_h, carry_c, gate, c_previous, tanh_c, half, one):
    """i, f, o = tanh(a/2)·½ + ½ from `gate`'s blocks; grad = grad_h + carry_h;
    grad_c = carry_c + grad·o·(1 − tanh_c²); the four blocks of δ = dL/da_i, dL/da_f, dL/da_g,
    dL/da_o written over `gate`; carry_c = grad_c·f, written over. `half` and `one` are ½ and 1
    in the arrays' dtype (a literal would make Numba compute float32 in float64)."""
    batch, hidden = carry_c.shape
    for n in range(batch):
        for k in range(hidden):
            i = gate[n, k] * half + half
            f = gate[n, hidden + k] * half + half
            g = gate[n, 2 * hidden + k]
            o = gate[n, 3 * hidden + k] * half + half
            t = tanh_c[n, k]
            grad = grad_h[n, k] + carry_h[n, k]
            grad_c = carry_c[n, k] + grad * o * (one - t * t)
            gate[n, k] = grad_c * g * i * (one - i)
            gate[n, hidden + k] = grad_c * c_previous[n, k] * f * (one - f)
            gate[n, 2 * hidden + k] = grad_c * i * (one - g * g)
            gate[n, 3 * hidden + k] = grad * t * o * (one - o)
            carry_c[n, k] = grad_c * f


@compiled(nogil=True)
def lstm_step_cell(gate, c_previous, c, half):
    """After the tanh pass of `LSTM.run`: c = f·c_previous + i·g with i, f = tanh(a/2)·½ + ½
    (σ(a)) from `gate`'s blocks, which stay as they are. `half` is ½ in the arrays' dtype."""
    batch, hidden = c.shape
    for n in range(batch):
        for k in range(hidden):
            i = gate[n, k] * half + half
            f = gate[n, hidden + k] * half + half
            c[n, k] = f * c_previous[n, k] + i * gate[n, 2 * hidden + k]


@compiled(nogil=True)
def lstm_step_output(gate, tanh_c, h, half):
    """h = o·tanh_c with o = tanh(a_o/2)·½ + ½ (σ(a_o)) from `gate`'s last block."""
    batch, hidden = h.shape
    for n in range(batch):
        for k in range(hidden):
            h[n, k] = (gate[n, 3 * hidden + k] * half + half) * tanh_c[n, k]
