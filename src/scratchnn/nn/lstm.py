"""LSTM: the long short-term memory layer, PyTorch's ``nn.LSTM``, on the plumbing of
`scratchnn.nn.recurrent` (layers, directions, parameters, shapes)."""

import numpy as np

from .activations import sigmoid
from .recurrent import _Recurrent


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), with PyTorch's equations and
    gate order i, f, g, o (the four blocks of H rows of every weight and bias):

        i_t = σ(a_i)     f_t = σ(a_f)     g_t = tanh(a_g)     o_t = σ(a_o)
        (a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, split into its four blocks)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                 (the cell state, c_{-1} = 0)
        h_t = o_t ⊙ tanh(c_t)                            (the hidden state and output, h_{-1} = 0)

    Shapes: x (N, T, input_size) -> h (N, T, hidden_size · directions), or with
    ``return_sequences=False`` the final states (N, hidden_size · directions) (see
    `scratchnn.nn.recurrent._Recurrent.forward`). Weights and their names: PyTorch's
    (``weight_ih_l0`` (4H, input_size), ...), see `scratchnn.nn.recurrent`.

    >>> layer = LSTM(3, 8, num_layers=2, bidirectional=True)
    >>> layer.build(np.random.default_rng(0), np.float64)
    >>> layer.forward(np.zeros((2, 5, 3))).shape
    (2, 5, 16)
    """

    gates = 4

    def run(self, projected, w_hh, b_hh):
        batch, steps, _ = projected.shape
        H = self.hidden_size
        projected += b_hh                                   # W_ih x_t + b_ih + b_hh, for every t
        h = np.zeros((batch, H), dtype=projected.dtype)     # h_{-1} = 0
        c = np.zeros((batch, H), dtype=projected.dtype)     # c_{-1} = 0
        states, cells, gates = np.empty((batch, steps, H), h.dtype), np.empty((batch, steps, H), h.dtype), \
            np.empty_like(projected)
        for t in range(steps):
            a = projected[:, t] + h @ w_hh.T                # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
            gate = gates[:, t]                              # i, f, g, o side by side
            gate[:, :2 * H] = sigmoid(a[:, :2 * H])         # i_t = σ(a_i), f_t = σ(a_f)
            gate[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])   # g_t = tanh(a_g)
            gate[:, 3 * H:] = sigmoid(a[:, 3 * H:])         # o_t = σ(a_o)
            i, f, g, o = gate[:, :H], gate[:, H:2 * H], gate[:, 2 * H:3 * H], gate[:, 3 * H:]
            c = f * c + i * g                               # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
            h = o * np.tanh(c)                              # h_t = o_t ⊙ tanh(c_t)
            states[:, t], cells[:, t] = h, c
        return states, (gates, cells)

    def backprop(self, grad_h, h, cache, w_hh):
        gates, cells = cache
        batch, steps, H = h.shape
        delta = np.empty_like(gates)                        # δ_t = dL/da_t, blocks i, f, g, o
        carry_h = np.zeros((batch, H), dtype=h.dtype)       # dL/dh_t through step t+1 (0 after T-1)
        carry_c = np.zeros((batch, H), dtype=h.dtype)       # dL/dc_t through step t+1
        zeros = np.zeros((batch, H), dtype=h.dtype)
        for t in reversed(range(steps)):
            gate = gates[:, t]
            i, f, g, o = gate[:, :H], gate[:, H:2 * H], gate[:, 2 * H:3 * H], gate[:, 3 * H:]
            c_previous = cells[:, t - 1] if t > 0 else zeros
            tanh_c = np.tanh(cells[:, t])
            grad = grad_h[:, t] + carry_h                   # dL/dh_t = ∂L/∂y_t + δ_{t+1} W_hh
            # dL/dc_t = what c_{t+1} sends back + dL/dh_t · o_t · (1 − tanh² c_t)
            grad_c = carry_c + grad * o * (1 - tanh_c * tanh_c)
            d = delta[:, t]
            d[:, :H] = grad_c * g * i * (1 - i)             # dL/da_i = dL/dc_t · g_t · σ'(a_i), σ' = σ(1 − σ)
            d[:, H:2 * H] = grad_c * c_previous * f * (1 - f)     # dL/da_f = dL/dc_t · c_{t-1} · σ'(a_f)
            d[:, 2 * H:3 * H] = grad_c * i * (1 - g * g)    # dL/da_g = dL/dc_t · i_t · (1 − g_t²)
            d[:, 3 * H:] = grad * tanh_c * o * (1 - o)      # dL/da_o = dL/dh_t · tanh(c_t) · σ'(a_o)
            carry_c = grad_c * f                            # dL/dc_{t-1} (through c_t) = dL/dc_t · f_t
            carry_h = d @ w_hh                              # dL/dh_{t-1} (through a_t) = δ_t W_hh
        return delta, delta                                 # the input and hidden parts share a_t
