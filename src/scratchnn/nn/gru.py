"""GRU: the gated recurrent unit, PyTorch's ``nn.GRU``, on the plumbing of
`scratchnn.nn.recurrent` (layers, directions, parameters, shapes)."""

import numpy as np

from .activations import sigmoid
from .recurrent import _Recurrent


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al., 2014), with PyTorch's equations and gate order r, z, n
    (the three blocks of H rows of every weight and bias):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          (reset gate)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          (update gate)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))   (candidate)
        h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}                   (h_{-1} = 0)

    The reset gate multiplies the hidden part of the candidate only, so the input part
    (W_in x_t + b_in) and the hidden part (W_hn h_{t-1} + b_hn) of n's pre-activation get
    different gradients: ``backprop`` returns both.

    Shapes: x (N, T, input_size) -> h (N, T, hidden_size · directions), or with
    ``return_sequences=False`` the final states (N, hidden_size · directions) (see
    `scratchnn.nn.recurrent._Recurrent.forward`). Weights and their names: PyTorch's
    (``weight_ih_l0`` (3H, input_size), ...), see `scratchnn.nn.recurrent`.

    >>> layer = GRU(3, 8)
    >>> layer.build(np.random.default_rng(0), np.float64)
    >>> layer.forward(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    """

    gates = 3

    def run(self, projected, w_hh, b_hh):
        steps, batch, _ = projected.shape
        H = self.hidden_size
        h = np.zeros((batch, H), dtype=projected.dtype)     # h_{-1} = 0
        states, gates = np.empty((steps, batch, H), h.dtype), np.empty_like(projected)
        hidden_n = np.empty((steps, batch, H), h.dtype)     # W_hn h_{t-1} + b_hn, kept for backward
        for t in range(steps):
            x_part = projected[t]                        # W_ih x_t + b_ih, blocks r, z, n
            h_part = h @ w_hh.T + b_hh                      # W_hh h_{t-1} + b_hh, blocks r, z, n
            gate = gates[t]
            gate[:, :2 * H] = sigmoid(x_part[:, :2 * H] + h_part[:, :2 * H])   # r_t, z_t
            r, z = gate[:, :H], gate[:, H:2 * H]
            hidden_n[t] = h_part[:, 2 * H:]
            gate[:, 2 * H:] = np.tanh(x_part[:, 2 * H:] + r * h_part[:, 2 * H:])   # n_t
            n = gate[:, 2 * H:]
            h = (1 - z) * n + z * h                         # h_t = (1 − z_t) n_t + z_t h_{t-1}
            states[t] = h
        return states, (gates, hidden_n)

    def backprop(self, grad_h, h, cache, w_hh):
        gates, hidden_n = cache
        steps, batch, H = h.shape
        delta_x = np.empty_like(gates)                      # dL/d(input part), blocks r, z, n
        delta_h = np.empty_like(gates)                      # dL/d(hidden part), blocks r, z, n
        carry = np.zeros((batch, H), dtype=h.dtype)         # dL/dh_t through step t+1 (0 after T-1)
        zeros = np.zeros((batch, H), dtype=h.dtype)
        for t in reversed(range(steps)):
            gate = gates[t]
            r, z, n = gate[:, :H], gate[:, H:2 * H], gate[:, 2 * H:]
            h_previous = h[t - 1] if t > 0 else zeros
            grad = grad_h[t] + carry                     # dL/dh_t = ∂L/∂y_t + what step t+1 passes back
            grad_a_n = grad * (1 - z) * (1 - n * n)         # δ_n = dL/dh_t (1 − z_t)(1 − n_t²)
            grad_r = grad_a_n * hidden_n[t]              # dL/dr_t = that · (W_hn h_{t-1} + b_hn)
            grad_z = grad * (h_previous - n)                # dL/dz_t = dL/dh_t · (h_{t-1} − n_t)
            dx, dh = delta_x[t], delta_h[t]
            dx[:, :H] = grad_r * r * (1 - r)                # dL/da_r = dL/dr_t · σ'(a_r), σ' = σ(1 − σ)
            dx[:, H:2 * H] = grad_z * z * (1 - z)           # dL/da_z = dL/dz_t · σ'(a_z)
            dx[:, 2 * H:] = grad_a_n                        # input part of n: W_in x_t + b_in
            dh[:, :2 * H] = dx[:, :2 * H]                   # r and z: the same a as the input part
            dh[:, 2 * H:] = grad_a_n * r                    # hidden part of n: dL/d(W_hn h + b_hn) = · r_t
            carry = grad * z + dh @ w_hh                    # dL/dh_{t-1} = dL/dh_t z_t + δh_t W_hh
        return delta_x, delta_h
