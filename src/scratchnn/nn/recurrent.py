"""Recurrent layers: what RNN, LSTM (nn/lstm.py) and GRU (nn/gru.py) share, the plain RNN,
and LastStep.

Every recurrent layer reads a batch-first sequence x (N, T, input_size) one time step at a
time, carrying a hidden state h_t (N, hidden_size) from step to step, h_{-1} = 0:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh       (the pre-activations, G blocks of H rows)
    h_t = cell(a_t, ...)                              (tanh for the RNN; gates for LSTM and GRU)

The weights mean exactly what PyTorch's mean, under the same names: ``weight_ih_l{k}``
(G·H, in), ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G·H,), the G gate
blocks stacked in PyTorch's order, a ``_reverse`` suffix for the backward direction. So a
state dict converts both ways by name alone.

Backpropagation through time is backpropagation through the unrolled loop: going from the
last step to the first, dL/dh_t is what the output y_t receives plus what h_{t+1} passes back
through W_hh; every step's pre-activation gradient δ_t = dL/da_t is kept, and the weight
gradients are then sums over the steps, one matrix product each:

    dL/dW_ih = Σ_t δ_tᵀ x_t      dL/db_ih = Σ_t δ_t      dL/dx_t = δ_t W_ih
    dL/dW_hh = Σ_t δ_tᵀ h_{t-1}  dL/db_hh = Σ_t δ_t      dL/dh_{t-1} += δ_t W_hh

(for the GRU, the hidden part of the candidate gate differs; see nn/gru.py).
"""

import numpy as np

from .._checks import boolean, describe, one_of, positive_int
from .base import Layer, not_built


class _Recurrent(Layer):
    """The plumbing RNN, LSTM and GRU share: stacked layers, two directions, the parameters
    and their initialization, the input and output shapes, return_sequences.

    A subclass sets ``gates`` (G, the blocks of H rows its weights stack) and writes the cell
    for one direction of one layer: ``run(projected, w_hh, b_hh)`` gets the input part of the
    pre-activations for every step, projected = x W_ihᵀ + b_ih (T, N, G·H; from ``project``,
    which a cell may override to fold more into the product), and returns the
    hidden states h (T, N, H) and what its backward needs; ``backprop(grad_h, h, cache, w_hh)``
    gets dL/dh (T, N, H) from the layer's output and returns two (T, N, G·H) arrays: dL/d of
    the input part of the pre-activations, and of the hidden part (the same array except in
    the GRU). Inside a cell the arrays are time-major, (T, N, ...), so that each step's
    slice [t] is one contiguous block (the step loop's products and elementwise passes
    run on contiguous memory); the layer's input and output stay batch-first.
    """

    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, return_sequences=True):
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        self.bidirectional = boolean("bidirectional", bidirectional)
        self.return_sequences = boolean("return_sequences", return_sequences)
        self.directions = 2 if self.bidirectional else 1
        self.cells = None

    def build(self, rng, dtype):
        """PyTorch's initialization: every weight and bias from U(-k, k), k = 1/√hidden_size,
        drawn in PyTorch's parameter order (layer by layer, forward direction first; within a
        cell weight_ih, weight_hh, bias_ih, bias_hh)."""
        super().build(rng, dtype)
        hidden, rows, bound = self.hidden_size, self.gates * self.hidden_size, 1 / np.sqrt(self.hidden_size)
        self.cells = []                       # per layer, per direction: (W_ih, W_hh, b_ih, b_hh)
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else hidden * self.directions
            for suffix in ("", "_reverse")[:self.directions]:
                shapes = {"weight_ih": (rows, width), "weight_hh": (rows, hidden), "bias_ih": (rows,),
                          "bias_hh": (rows,)}
                self.cells.append(tuple(self.add_parameter(f"{name}_l{layer}{suffix}",
                                                           rng.uniform(-bound, bound, size=shape))
                                        for name, shape in shapes.items()))

    # --- shapes ---------------------------------------------------------------------------

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.input_size:
            raise ValueError(f"{type(self).__name__}({self.input_size}, {self.hidden_size}) expects sequences "
                             f"of shape (N, T, {self.input_size}), got shape {tuple(input_shape)}")
        width = self.hidden_size * self.directions
        return (input_shape[0], input_shape[1], width) if self.return_sequences else (input_shape[0], width)

    def _check_input(self, x):
        if self.cells is None:
            raise not_built(self)
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__} expects a float array (N, T, {self.input_size}), "
                            f"got {describe(x)}")
        self.output_shape(x.shape)                       # raises, naming the shapes
        if x.shape[1] == 0:
            raise ValueError(f"{type(self).__name__} needs sequences of at least one step, got shape {x.shape}")

    # --- forward and backward through layers and directions ------------------------------------

    def forward(self, x, training=False):
        """Each layer runs its forward direction on x_0 … x_{T-1} and its backward direction on
        x_{T-1} … x_0; their outputs, put back in time order, are concatenated along the
        features (forward first) and feed the next layer. Returns the last layer's outputs
        (N, T, H·directions), or with ``return_sequences=False`` the final states (N,
        H·directions): the forward direction's output at step T-1, then the backward
        direction's at step 0 (which has read the whole sequence): PyTorch's h_n of the last
        layer, its directions concatenated."""
        self._check_input(x)
        self.saved = []                                 # per cell: (its input, h, cell cache)
        cells = iter(self.cells)
        for _ in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                weights = [p.value for p in next(cells)]
                inputs = x if direction == 0 else x[:, ::-1]            # backward: reversed time
                h = self._run_cell(inputs, *weights)
                outputs.append(h if direction == 0 else h[:, ::-1])     # back in time order
            x = outputs[0] if self.directions == 1 else np.concatenate(outputs, axis=2)
        self.steps = x.shape[1]
        if self.return_sequences:
            return x
        return self._final_states(x)

    def _run_cell(self, inputs, w_ih, w_hh, b_ih, b_hh):
        batch, steps, width = inputs.shape
        rows = np.empty((steps * batch, width + 1), dtype=inputs.dtype)   # [x_t 1] for every (t, n), time-major:
        rows.reshape(steps, batch, width + 1)[:, :, :width] = inputs.transpose(1, 0, 2)
        rows[:, width] = 1                  # the 1 makes the bias part of the products, forward and backward
        projected = self.project(rows, w_ih, b_ih, b_hh).reshape(steps, batch, -1)   # all t at once
        h, cache = self.run(projected, w_hh, b_hh)                       # h (T, N, H)
        self.saved.append((rows, h, cache))
        return h.transpose(1, 0, 2)                                      # batch-first again (a view)

    def project(self, rows, w_ih, b_ih, b_hh):
        """The input part of every step's pre-activations, W_ih x_t + b_ih, for the rows
        [x_t 1] (T·N, in + 1) at once: one product with [W_ih b_ih] (a cell may fold more into
        it, as the LSTM does)."""
        return rows @ np.concatenate([w_ih, b_ih[:, None]], axis=1).T    # [W_ih b_ih] [x_t 1] = W_ih x_t + b_ih

    def _final_states(self, outputs):
        hidden = self.hidden_size
        last = outputs[:, -1, :hidden]                          # forward direction: step T-1
        if self.directions == 1:
            return last.copy()
        return np.concatenate([last, outputs[:, 0, hidden:]], axis=1)   # backward direction: step 0

    def backward(self, grad_output):
        """Backpropagation through the layers from the last to the first, and within each
        through time (``backprop``); the two directions' input gradients add up, the
        backward direction's put back in time order."""
        grad = grad_output if self.return_sequences else self._spread_final(grad_output)
        hidden, cell = self.hidden_size, len(self.cells)
        for layer in reversed(range(self.num_layers)):
            grad_input = None
            for direction in reversed(range(self.directions)):
                cell -= 1
                grad_h = grad[:, :, direction * hidden:(direction + 1) * hidden]
                grad_x = self._backprop_cell(grad_h if direction == 0 else grad_h[:, ::-1], cell,
                                             needs_input=layer > 0 or self.needs_input_grad)
                if grad_x is not None:
                    grad_x = grad_x if direction == 0 else grad_x[:, ::-1]
                    grad_input = grad_x if grad_input is None else grad_input + grad_x   # x feeds both
            grad = grad_input
        return grad

    def _spread_final(self, grad_final):
        """dL/d(outputs) (N, T, H·directions) from dL/d(final states): zero except at the steps
        `_final_states` took."""
        grad = np.zeros((grad_final.shape[0], self.steps, grad_final.shape[1]), dtype=grad_final.dtype)
        hidden = self.hidden_size
        grad[:, -1, :hidden] = grad_final[:, :hidden]
        if self.directions == 2:
            grad[:, 0, hidden:] = grad_final[:, hidden:]
        return grad

    def _backprop_cell(self, grad_h, cell, needs_input):
        w_ih, w_hh, b_ih, b_hh = self.cells[cell]
        rows, h, cache = self.saved[cell]
        steps, batch, hidden = h.shape
        grad_h = np.ascontiguousarray(grad_h.transpose(1, 0, 2))       # time-major (T, N, H), as h
        grad_x_part, grad_h_part = self.backprop(grad_h, h, cache, w_hh.value)
        shared = grad_h_part is grad_x_part                            # one δ for both parts (not the GRU)
        grad_x_part = grad_x_part.reshape(steps * batch, -1)           # δ_t for every (t, n), as rows
        grad_h_part = grad_h_part.reshape(steps, batch, -1)
        both = grad_x_part.T @ rows                                    # Σ_t δ_tᵀ [x_t 1], one product:
        w_ih.grad += both[:, :-1]                                      # dL/dW_ih = Σ_t δ_tᵀ x_t
        grad_b_ih = both[:, -1]                                        # dL/db_ih = Σ_t δ_t
        b_ih.grad += grad_b_ih
        # dL/dW_hh = Σ_t δ_tᵀ h_{t-1}, for t >= 1 (h_{-1} = 0 adds nothing): steps 1..T-1 of δ
        # against steps 0..T-2 of h, both contiguous blocks of rows in the time-major layout
        w_hh.grad += grad_h_part[1:].reshape(-1, grad_h_part.shape[2]).T @ h[:-1].reshape(-1, hidden)
        # dL/db_hh = Σ_t δ_t: the same sum when the parts share δ
        b_hh.grad += grad_b_ih if shared else grad_h_part.reshape(steps * batch, -1).sum(axis=0)
        if not needs_input:
            return None
        return (grad_x_part @ w_ih.value).reshape(steps, batch, -1).transpose(1, 0, 2)   # dL/dx_t = δ_t W_ih

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bidirectional": self.bidirectional, "return_sequences": self.return_sequences}


class RNN(_Recurrent):
    """The plain (Elman) recurrent layer, PyTorch's ``nn.RNN``:

        h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (or relu, ``nonlinearity="relu"``)

    Shapes: x (N, T, input_size) -> the hidden states (N, T, hidden_size · directions), or
    with ``return_sequences=False`` the final states (N, hidden_size · directions); see
    `_Recurrent.forward` for the bidirectional order. ``num_layers`` stacks layers, each
    reading the one before's outputs. Weights and their names: see this module's docstring.

    >>> layer = RNN(3, 8)
    >>> layer.build(np.random.default_rng(0), np.float64)
    >>> layer.forward(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    """

    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bidirectional=False,
                 return_sequences=True):
        super().__init__(input_size, hidden_size, num_layers, bidirectional, return_sequences)
        self.nonlinearity = one_of("nonlinearity", nonlinearity, ("tanh", "relu"))

    def run(self, projected, w_hh, b_hh):
        steps, batch, hidden = projected.shape
        projected += b_hh                                   # W_ih x_t + b_ih + b_hh, for every t
        h = np.zeros((batch, hidden), dtype=projected.dtype)      # h_{-1} = 0
        states = np.empty_like(projected)
        for t in range(steps):
            a = projected[t] + h @ w_hh.T                   # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
            h = np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)   # h_t = tanh(a_t) or relu(a_t)
            states[t] = h
        return states, None

    def backprop(self, grad_h, h, cache, w_hh):
        steps, batch, hidden = h.shape
        delta = np.empty_like(h)
        carry = np.zeros((batch, hidden), dtype=h.dtype)    # dL/dh_t through h_{t+1}; none after T-1
        for t in reversed(range(steps)):
            grad = grad_h[t] + carry                        # dL/dh_t = ∂L/∂y_t + δ_{t+1} W_hh
            if self.nonlinearity == "tanh":
                delta[t] = grad * (1 - h[t] * h[t])         # δ_t = dL/dh_t · (1 − h_t²)
            else:
                delta[t] = grad * (h[t] > 0)                # δ_t = dL/dh_t · [a_t > 0]
            carry = delta[t] @ w_hh                         # dL/dh_{t-1} (through this step) = δ_t W_hh
        return delta, delta                                 # the input and hidden parts share a_t

    def get_config(self):
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


class LastStep(Layer):
    """The last time step of a sequence: (N, T, F) -> (N, F), y = x[:, T-1].

    For a one-directional recurrent layer this is its final state; for a bidirectional one
    the backward direction's half at T-1 has read only x_{T-1}: use its
    ``return_sequences=False`` instead, which takes the backward direction at step 0.

    >>> LastStep().forward(np.zeros((2, 5, 3))).shape
    (2, 3)
    """

    def forward(self, x, training=False):
        self.output_shape(x.shape)
        self.input_shape = x.shape
        return x[:, -1].copy()                              # y = x_{T-1}

    def backward(self, grad_output):
        grad = np.zeros(self.input_shape, dtype=grad_output.dtype)
        grad[:, -1] = grad_output                           # dL/dx_{T-1} = dL/dy; 0 at the other steps
        return grad

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] == 0:
            raise ValueError(f"LastStep expects sequences of shape (N, T, features) with T >= 1, "
                             f"got shape {tuple(input_shape)}")
        return (input_shape[0], input_shape[2])
