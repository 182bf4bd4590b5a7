"""LSTM: the long short-term memory layer, PyTorch's ``nn.LSTM``, on the plumbing of
`scratchnn.nn.recurrent` (layers, directions, parameters, shapes)."""

import numpy as np

from .. import kernels
from ..kernels import recurrent as compiled
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

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, return_sequences=True,
                 fused="auto"):
        super().__init__(input_size, hidden_size, num_layers, bidirectional, return_sequences)
        self.fused = kernels.check_option(fused)

    # σ(a) = (1 + tanh(a/2)) / 2: one tanh pass gives all four gates. Halving the σ blocks' rows
    # of W_ih, W_hh and the biases (exact: a power of two) gives a/2 straight from the products.
    # The saved gates keep tanh(a/2) in the σ blocks; σ is computed where it is used (the same
    # operations each time), and the backward writes δ_t over each step's gates in place.

    def _halves(self, dtype):
        """½ for the rows of the σ blocks i, f, o, 1 for the g block: (4H,)."""
        return np.where(np.arange(4 * self.hidden_size) // self.hidden_size == 2, 1.0, 0.5).astype(dtype)

    def project(self, rows, w_ih, b_ih, b_hh):
        weights = np.concatenate([w_ih, (b_ih + b_hh)[:, None]], axis=1)   # [W_ih  b_ih + b_hh]
        weights *= self._halves(rows.dtype)[:, None]        # σ rows halved
        return rows @ weights.T                             # W_ih x_t + b_ih + b_hh, both biases in the product

    def run(self, projected, w_hh, b_hh):
        steps, batch, G = projected.shape                   # projected: a_t's input part, b_hh included
        H = self.hidden_size
        half = self._halves(projected.dtype)
        w_hh_half = np.ascontiguousarray((w_hh * half[:, None]).T)   # (W_hh, σ rows halved)ᵀ (H, 4H),
        # contiguous: the product with it runs 25% faster than with a transposed view
        h = np.zeros((batch, H), dtype=projected.dtype)     # h_{-1} = 0
        c = np.zeros((batch, H), dtype=projected.dtype)     # c_{-1} = 0
        states, cells, tanh_cells = (np.empty((steps, batch, H), h.dtype) for _ in range(3))
        gates, recurrent = projected, np.empty((batch, G), h.dtype)
        # (gates written over the projections: preallocated buffers and out=, no array per step)
        compiled_steps = kernels.use_compiled(self.fused, gates)
        cell_step = compiled.lstm_step_cell if compiled_steps else _step_cell
        output_step = compiled.lstm_step_output if compiled_steps else _step_output
        half_scalar = h.dtype.type(0.5)
        for t in range(steps):
            gate = gates[t]                                 # i, f, g, o side by side
            np.matmul(h, w_hh_half, out=recurrent)          # W_hh h_{t-1} (σ blocks halved)
            gate += recurrent                               # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh (a/2 for σ)
            np.tanh(gate, out=gate)                         # g_t = tanh(a_g); tanh(a/2) in the σ blocks (kept)
            cell_step(gate, c, cells[t], half_scalar)       # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t, σ = tanh(a/2)·½ + ½
            c = cells[t]
            np.tanh(c, out=tanh_cells[t])
            h = states[t]
            output_step(gate, tanh_cells[t], h, half_scalar)    # h_t = o_t ⊙ tanh(c_t)
        return states, [gates, cells, tanh_cells]

    def backprop(self, grad_h, h, cache, w_hh):
        gates, cells, tanh_cells = cache
        if gates is None:
            raise RuntimeError("LSTM.backward was called twice after one forward: each forward's saved "
                               "gates serve one backward (it writes dL/da over them)")
        cache[0] = None                                     # consumed: δ_t is written over the gates
        steps, batch, H = h.shape
        delta = gates                                       # δ_t = dL/da_t, blocks i, f, g, o, step by step
        carry_h = np.zeros((batch, H), dtype=h.dtype)       # dL/dh_t through step t+1 (0 after T-1)
        carry_c = np.zeros((batch, H), dtype=h.dtype)       # dL/dc_t through step t+1
        zeros = np.zeros((batch, H), dtype=h.dtype)
        step = compiled.lstm_step_backward if kernels.use_compiled(self.fused, gates) else _step_backward
        half, one = h.dtype.type(0.5), h.dtype.type(1)
        for t in reversed(range(steps)):
            step(grad_h[t], carry_h, carry_c, gates[t], cells[t - 1] if t > 0 else zeros, tanh_cells[t],
                 half, one)                                 # δ_t over gates[t], carry_c = dL/dc_{t-1} (through c_t)
            np.matmul(delta[t], w_hh, out=carry_h)          # dL/dh_{t-1} (through a_t) = δ_t W_hh
        return delta, delta                                 # the input and hidden parts share a_t


def _sigmoid(tanh_half, half):
    """σ(a) = tanh(a/2)·½ + ½ from tanh(a/2), as the compiled kernels compute it (same bits)."""
    sigma = tanh_half * half
    sigma += half
    return sigma


def _step_cell(gate, c_previous, c, half):
    """The cell state of one step in NumPy, the twin of the compiled
    `scratchnn.kernels.recurrent.lstm_step_cell`: `gate` holds tanh(a/2) in the i, f, o blocks
    and g_t (left as they are); writes c_t into `c`."""
    H = c.shape[1]
    i, f, g = _sigmoid(gate[:, :H], half), _sigmoid(gate[:, H:2 * H], half), gate[:, 2 * H:3 * H]
    np.multiply(f, c_previous, out=c)
    c += i * g                                              # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t


def _step_output(gate, tanh_c, h, half):
    """h_t = o_t ⊙ tanh(c_t) in NumPy, the twin of `scratchnn.kernels.recurrent.lstm_step_output`."""
    H = h.shape[1]
    np.multiply(_sigmoid(gate[:, 3 * H:], half), tanh_c, out=h)


def _step_backward(grad_h, carry_h, carry_c, gate, c_previous, tanh_c, half, one):
    """One step of backpropagation through time in NumPy, the twin of the compiled
    `scratchnn.kernels.recurrent.lstm_step_backward` (the same operations in the same order):
    writes δ_t over `gate` and dL/dc_{t-1} (through c_t) over `carry_c`; `half` and `one` are ½
    and 1 in the dtype."""
    H = carry_c.shape[1]
    i, f, o = _sigmoid(gate[:, :H], half), _sigmoid(gate[:, H:2 * H], half), _sigmoid(gate[:, 3 * H:], half)
    g = gate[:, 2 * H:3 * H].copy()                         # (gate is overwritten below)
    grad = grad_h + carry_h                                 # dL/dh_t = ∂L/∂y_t + δ_{t+1} W_hh
    # dL/dc_t = what c_{t+1} sends back + dL/dh_t · o_t · (1 − tanh² c_t)
    grad_c = carry_c + grad * o * (one - tanh_c * tanh_c)
    gate[:, :H] = grad_c * g * i * (one - i)                # dL/da_i = dL/dc_t · g_t · σ'(a_i), σ' = σ(1 − σ)
    gate[:, H:2 * H] = grad_c * c_previous * f * (one - f)  # dL/da_f = dL/dc_t · c_{t-1} · σ'(a_f)
    gate[:, 2 * H:3 * H] = grad_c * i * (one - g * g)       # dL/da_g = dL/dc_t · i_t · (1 − g_t²)
    gate[:, 3 * H:] = grad * tanh_c * o * (one - o)         # dL/da_o = dL/dh_t · tanh(c_t) · σ'(a_o)
    np.multiply(grad_c, f, out=carry_c)                     # dL/dc_{t-1} (through c_t) = dL/dc_t · f_t
