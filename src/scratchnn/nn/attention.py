"""Multi-head self-attention (Vaswani et al., 2017), PyTorch's ``nn.MultiheadAttention`` used
as self-attention (query = key = value = x), with its backward pass written out.

For a sequence x (N, T, dim), with H heads of d = dim / H features each:

    [Q K V] = x W_inᵀ + b_in                 Q, K, V (N, T, dim), split into H heads (N, H, T, d)
    S = Q Kᵀ / √d                            scores (N, H, T, T): how much position i looks at j
    P = softmax(S) over j                    each row sums to 1 (future j > i removed if causal)
    O = P V                                  (N, H, T, d), heads put back side by side: (N, T, dim)
    y = O W_outᵀ + b_out

The weights keep PyTorch's names, shapes and layout (out, in), so they copy across as they are:
``in_proj_weight`` (3·dim, dim) = torch's ``in_proj_weight`` (rows: the Q, then K, then V
projection), ``in_proj_bias`` (3·dim,), ``out_proj_weight`` (dim, dim) = ``out_proj.weight``,
``out_proj_bias`` (dim,) = ``out_proj.bias``.
"""

import math

import numpy as np

from .. import kernels
from .._checks import boolean, describe, positive_int
from ..kernels import attention as compiled
from .base import Layer, not_built
from .init import initialize


class MultiHeadAttention(Layer):
    """Self-attention over a sequence: x (N, T, dim) -> y (N, T, dim), scaled dot-product,
    `heads` heads of dim / heads features each; no dropout.

    ``causal=True`` lets position i attend only to positions j <= i (PyTorch's
    ``attn_mask=nn.Transformer.generate_square_subsequent_mask(T)`` or ``is_causal=True``):
    the scores of later positions are set to −∞ before the softmax, so their weights are
    exactly 0, without any inf − inf.

    Initialized as PyTorch: ``in_proj_weight`` Glorot-uniform (xavier_uniform_), the biases 0,
    ``out_proj_weight`` U(−1/√dim, 1/√dim) (nn.Linear's default), drawn from the build rng.

    ``fused="auto"`` computes dL/dS from dL/dP in one compiled pass when Numba is installed
    (`scratchnn.kernels.attention`, equal to the NumPy lines to float rounding), and the
    forward's softmax around NumPy's e^· in two (the same bits, for T up to 128); a runtime
    choice, not saved in the config.

    Errors (ValueError, naming the layer and the shapes): dim not divisible by heads, an input
    that is not (N, T, dim). Nothing overflows as long as the scores Q Kᵀ / √d are finite in
    the dtype (inputs up to about 1e30 in float64, with weights of the usual size).

    >>> attention = MultiHeadAttention(8, heads=2, causal=True)
    >>> attention.build(np.random.default_rng(0), np.float64)
    >>> attention.forward(np.ones((4, 5, 8))).shape
    (4, 5, 8)
    """

    def __init__(self, dim, heads, causal=False, fused="auto"):
        self.fused = kernels.check_option(fused)
        self.dim = positive_int("dim", dim)
        self.heads = positive_int("heads", heads)
        if self.dim % self.heads:
            raise ValueError(f"dim must be divisible by heads, got dim={self.dim} and heads={self.heads}")
        self.causal = boolean("causal", causal)
        self.head_dim = self.dim // self.heads
        self.in_proj_weight = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        dim = self.dim
        self.in_proj_weight = self.add_parameter(                                   # W_in = [W_q; W_k; W_v]
            "in_proj_weight", initialize("glorot_uniform", (3 * dim, dim), rng, dtype))
        self.in_proj_bias = self.add_parameter("in_proj_bias", np.zeros(3 * dim))  # b_in
        self.out_proj_weight = self.add_parameter(                                  # W_out
            "out_proj_weight", linear_default_uniform((dim, dim), dim, rng))
        self.out_proj_bias = self.add_parameter("out_proj_bias", np.zeros(dim))    # b_out

    def get_config(self):
        return {"dim": self.dim, "heads": self.heads, "causal": self.causal}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.dim:
            raise ValueError(f"{self!r} expects input of shape (N, T, {self.dim}), got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        if self.in_proj_weight is None:
            raise not_built(self)
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self!r} expects an array of shape (N, T, {self.dim}), got {describe(x)}")
        self.output_shape(x.shape)
        batch, steps, dim = x.shape
        self.x = x.reshape(-1, dim)                 # kept for backward; the steps as rows (N·T, dim),
        # which NumPy multiplies in one BLAS call (a 3-D operand would loop over the batch)
        qkv = self.x @ self.in_proj_weight.value.T                          # [Q K V] = x W_inᵀ + b_in,
        qkv += self.in_proj_bias.value                                       # the bias added in place
        self.q, self.k, self.v = self._split_heads(qkv.reshape(batch, steps, 3 * dim))   # (N, H, T, d) each
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = self.q @ self.k.swapaxes(-1, -2)                            # S = Q Kᵀ / √d
        if kernels.use_compiled(self.fused, scores) and steps <= compiled.SUMMED_IN_NUMPY_ORDER:
            self.p = _softmax_compiled(scores, scores.dtype.type(scale), self.causal)   # the lines below
        else:
            scores *= scale                                                  # scaled in place (T×T arrays are large)
            if self.causal:
                np.copyto(scores, -np.inf, where=_future(steps))           # j > i: e^−∞ = 0 below
            self.p = _softmax_in_place(scores)                               # P = softmax(S), max-subtracted
        self.o = np.empty((batch * steps, dim), dtype=self.p.dtype)          # heads side by side, as rows:
        heads_out = self.o.reshape(batch, steps, self.heads, self.head_dim).transpose(0, 2, 1, 3)
        np.matmul(self.p, self.v, out=heads_out)                             # O = P V, written into them
        y = self.o @ self.out_proj_weight.value.T                            # y = O W_outᵀ + b_out
        y += self.out_proj_bias.value
        return y.reshape(batch, steps, dim)

    def backward(self, grad_output):
        batch, steps, dim = grad_output.shape
        grad_rows = grad_output.reshape(-1, dim)                             # (N·T, dim), as in forward
        self.out_proj_weight.grad += grad_rows.T @ self.o                    # dL/dW_out = Σ dyᵀ O
        self.out_proj_bias.grad += grad_rows.sum(axis=0)                     # dL/db_out = Σ dy
        grad_o = grad_rows @ self.out_proj_weight.value                      # dL/dO = dy W_out
        grad_o = grad_o.reshape(batch, steps, self.heads, self.head_dim).transpose(0, 2, 1, 3)
        scale = 1.0 / math.sqrt(self.head_dim)
        # dQ, dK, dV are written straight into the rows [dQ dK dV] (N·T, 3·dim), through views
        # (N, H, T, d) of them: no stacking and transposing afterwards
        grad_qkv = np.empty((batch * steps, 3 * dim), dtype=grad_o.dtype)
        grad_q, grad_k, grad_v = self._split_heads(grad_qkv.reshape(batch, steps, 3 * dim))
        np.matmul(self.p.swapaxes(-1, -2), grad_o, out=grad_v)              # dL/dV = Pᵀ dL/dO
        grad_scores = grad_o @ self.v.swapaxes(-1, -2)                       # dL/dP = dL/dO Vᵀ, then in place:
        if kernels.use_compiled(self.fused, grad_scores, self.p):           # the lines below, one pass
            compiled.softmax_backward_rows(grad_scores.reshape(-1, steps), self.p.reshape(-1, steps),
                                           grad_scores.dtype.type(scale))
        else:
            row_sums = np.einsum("...ij,...ij->...i", grad_scores, self.p)[..., None]   # r_i = Σ_j dL/dP_ij P_ij
            grad_scores -= row_sums
            grad_scores *= self.p                                            # dL/dS_ij = P_ij (dL/dP_ij − r_i)
            grad_scores *= scale                                             # dL/dS / √d, used twice below
        np.matmul(grad_scores, self.k, out=grad_q)                           # dL/dQ = dL/dS K / √d
        np.matmul(grad_scores.swapaxes(-1, -2), self.q, out=grad_k)          # dL/dK = dL/dSᵀ Q / √d
        self.in_proj_weight.grad += grad_qkv.T @ self.x                     # dL/dW_in = Σ d[Q K V]ᵀ x
        self.in_proj_bias.grad += grad_qkv.sum(axis=0)                       # dL/db_in = Σ d[Q K V]
        if not self.needs_input_grad:
            return None
        return (grad_qkv @ self.in_proj_weight.value).reshape(batch, steps, dim)   # dL/dx = d[Q K V] W_in

    def _split_heads(self, qkv):
        """(N, T, 3·dim) -> Q, K, V, each (N, H, T, d): the last axis holds Q, K, V, each the
        H heads side by side (PyTorch's layout)."""
        batch, steps, _ = qkv.shape
        heads = qkv.reshape(batch, steps, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        return heads[0], heads[1], heads[2]


def _softmax_in_place(scores):
    """softmax over the last axis, written over `scores` (T×T per head: the largest arrays of
    the layer, so no temporaries): e^(S − max S) / Σ e^(S − max S), as `activations.softmax`."""
    with np.errstate(over="ignore"):                 # see activations._shift_by_max
        scores -= _row_max(scores)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def _softmax_compiled(scores, scale, causal):
    """The forward's scaling, causal mask and `_softmax_in_place`, the same bits, in three
    passes over S instead of about a dozen: the arithmetic around NumPy's e^· compiled. The
    passes run block by block (whole T×T matrices, about 1 MB), each block staying in cache
    across the three."""
    steps = scores.shape[-1]
    rows = scores.reshape(-1, steps)
    block = steps * max(1, (1 << 18) // (steps * steps))                  # rows: whole matrices, so row mod T = i
    for start in range(0, rows.shape[0], block):
        part = rows[start:start + block]
        compiled.scale_mask_shift_rows(part, scale, causal)               # S·scale, −∞ if j > i, S − max S
        np.exp(part, out=part)
        compiled.divide_rows_by_sum(part)                                   # e^S / Σ e^S
    return scores


def _row_max(x):
    """x.max(axis=-1, keepdims=True), the same values, by folding the last axis in halves with
    np.maximum: NumPy's max along a short contiguous axis (T = 64) runs one small reduction
    per row, about 5x slower than these few long elementwise passes."""
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        folded = np.maximum(x[..., :half], x[..., half:2 * half])
        if x.shape[-1] % 2:                          # an odd width: its last column joins the first
            np.maximum(folded[..., :1], x[..., -1:], out=folded[..., :1])
        x = folded
    return x


def _future(steps):
    """The (T, T) mask of the pairs (i, j) with j > i: what a causal position may not see."""
    return np.triu(np.ones((steps, steps), dtype=bool), k=1)


def linear_default_uniform(shape, fan_in, rng):
    """PyTorch's nn.Linear default, kaiming_uniform_(a=√5): U(−1/√fan_in, 1/√fan_in)."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape)
