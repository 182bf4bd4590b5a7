"""The transformer encoder block and a learned positional embedding, on sequences (N, T, dim).

`TransformerBlock` is PyTorch's ``nn.TransformerEncoderLayer`` (batch_first=True, dropout=0),
made of the library's own layers: `LayerNorm`, `MultiHeadAttention`, two `Dense` layers and
an activation. Its backward pass is the chain rule through the two residual connections: a
residual y = x + f(x) passes dL/dy straight through and adds f's backward of it.
"""

import numpy as np

from .._checks import boolean, describe, one_of, positive_int
from .activations import GELU, ReLU
from .attention import MultiHeadAttention, linear_default_uniform
from .base import Layer, not_built
from .core import Dense
from .normalization import LayerNorm


class TransformerBlock(Layer):
    """One transformer encoder layer: self-attention and a feed-forward network, each with a
    residual connection and a LayerNorm. x (N, T, dim) -> y (N, T, dim).

    With ``norm_first=True`` (pre-norm, GPT-2's):     with ``norm_first=False`` (post-norm, 2017's):
        h = x + attention(norm1(x))                       h = norm1(x + attention(x))
        y = h + ff(norm2(h))                              y = norm2(h + ff(h))
    where ff(h) = linear2(activation(linear1(h))), linear1: dim -> ff_dim, linear2: ff_dim -> dim,
    activation "gelu" (exact, erf) or "relu". ``causal=True`` masks the attention (position i sees
    j <= i), as PyTorch's ``src_mask=generate_square_subsequent_mask(T)`` / ``is_causal=True``.

    It equals ``nn.TransformerEncoderLayer(d_model=dim, nhead=heads, dim_feedforward=ff_dim,
    dropout=0, activation=activation, batch_first=True, norm_first=norm_first)``. The
    parameters, in PyTorch's order and under its names: ``self_attn.in_proj_weight``,
    ``self_attn.in_proj_bias``, ``self_attn.out_proj_weight`` (torch's ``out_proj.weight``),
    ``self_attn.out_proj_bias``, ``linear1.weight`` (dim, ff_dim), ``linear1.bias``,
    ``linear2.weight`` (ff_dim, dim), ``linear2.bias``, ``norm1.weight``, ``norm1.bias``,
    ``norm2.weight``, ``norm2.bias``. The Dense weights are (in, out), the transpose of
    torch's Linear weights; the rest copy across as they are. Initialized as PyTorch:
    the attention's (see `MultiHeadAttention`), the Linear weights and biases
    U(−1/√in, 1/√in), the norms 1 and 0.

    >>> block = TransformerBlock(16, heads=4, ff_dim=64, causal=True)
    >>> block.build(np.random.default_rng(0), np.float64)
    >>> block.forward(np.ones((2, 10, 16))).shape
    (2, 10, 16)
    """

    def __init__(self, dim, heads, ff_dim, norm_first=True, activation="gelu", causal=False):
        self.dim = positive_int("dim", dim)
        self.heads = positive_int("heads", heads)
        self.ff_dim = positive_int("ff_dim", ff_dim)
        self.norm_first = boolean("norm_first", norm_first)
        self.activation_name = one_of("activation", activation, ("gelu", "relu"))
        self.causal = boolean("causal", causal)
        self.self_attn = MultiHeadAttention(dim, heads, causal=causal)      # checks dim % heads
        self.linear1 = Dense(dim, ff_dim)
        self.activation = GELU() if activation == "gelu" else ReLU()
        self.linear2 = Dense(ff_dim, dim)
        self.norm1 = LayerNorm(dim)
        self.norm2 = LayerNorm(dim)
        self.built = False

    def sublayers(self):
        """The layers inside, by name, in PyTorch's order of parameters."""
        return {"self_attn": self.self_attn, "linear1": self.linear1, "linear2": self.linear2,
                "norm1": self.norm1, "norm2": self.norm2}

    def build(self, rng, dtype):
        super().build(rng, dtype)
        for layer in (*self.sublayers().values(), self.activation):
            layer.build(rng, dtype)
        for linear in (self.linear1, self.linear2):                  # nn.Linear's default init
            fan_in = linear.in_features
            linear.weight.value[...] = linear_default_uniform(linear.weight.value.shape, fan_in, rng)
            linear.bias.value[...] = linear_default_uniform(linear.bias.value.shape, fan_in, rng)
        self.built = True

    def named_parameters(self):
        return {f"{prefix}.{name}": parameter for prefix, layer in self.sublayers().items()
                for name, parameter in layer.named_parameters().items()}

    def get_config(self):
        return {"dim": self.dim, "heads": self.heads, "ff_dim": self.ff_dim, "norm_first": self.norm_first,
                "activation": self.activation_name, "causal": self.causal}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.dim:
            raise ValueError(f"TransformerBlock(dim={self.dim}, ...) expects input of shape (N, T, {self.dim}), "
                             f"got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not self.built:
            raise not_built(self)
        if not isinstance(x, np.ndarray):
            raise ValueError(f"TransformerBlock expects an array of shape (N, T, {self.dim}), got {describe(x)}")
        self.output_shape(x.shape)
        attention, norm1, norm2 = self.self_attn, self.norm1, self.norm2
        # The residual sums are added in place into the branch's output, a fresh array that no
        # layer keeps (a + b = b + a exactly, so the same bits as x + f(x)).
        if self.norm_first:
            h = _add_into(attention.forward(norm1.forward(x, training), training), x)   # h = x + attention(norm1(x))
            return _add_into(self._feed_forward(norm2.forward(h, training), training), h)  # y = h + ff(norm2(h))
        h = norm1.forward(_add_into(attention.forward(x, training), x), training)   # h = norm1(x + attention(x))
        return norm2.forward(_add_into(self._feed_forward(h, training), h), training)  # y = norm2(h + ff(h))

    def backward(self, grad_output):
        attention, norm1, norm2 = self.self_attn, self.norm1, self.norm2
        if self.norm_first:
            grad_h = _add_into(norm2.backward(self._feed_forward_backward(grad_output)), grad_output)
            # dL/dh = dL/dy + norm2ᵀ(ffᵀ(dL/dy)): the residual passes dL/dy through
            grad_x = _add_into(norm1.backward(attention.backward(grad_h)), grad_h)
            # dL/dx = dL/dh + norm1ᵀ(attentionᵀ(dL/dh))
        else:
            grad_sum = norm2.backward(grad_output)                        # dL/d(h + ff(h)) = norm2ᵀ(dL/dy)
            grad_h = _add_into(self._feed_forward_backward(grad_sum), grad_sum)   # dL/dh = that + ffᵀ(that)
            grad_sum = norm1.backward(grad_h)                             # dL/d(x + attention(x)) = norm1ᵀ(dL/dh)
            grad_x = _add_into(attention.backward(grad_sum), grad_sum)    # dL/dx = that + attentionᵀ(that)
        return grad_x if self.needs_input_grad else None

    def _feed_forward(self, h, training):
        """ff(h) = linear2(activation(linear1(h))), each step's vector on its own: (N, T, dim) -> (N, T, dim)."""
        hidden = self.activation.forward(self.linear1.forward(h, training), training)    # (N, T, ff_dim)
        return self.linear2.forward(hidden, training)

    def _feed_forward_backward(self, grad_output):
        """ffᵀ: dL/d(ff's input) from dL/d(ff's output), through linear2, the activation, linear1."""
        return self.linear1.backward(self.activation.backward(self.linear2.backward(grad_output)))


def _add_into(branch, residual):
    """branch + residual, written over `branch` (a fresh array from a layer) when it has the
    sum's shape and dtype; otherwise a new array."""
    if isinstance(branch, np.ndarray) and branch.shape == np.broadcast_shapes(branch.shape, residual.shape) \
            and branch.dtype == np.result_type(branch, residual) and branch.flags.writeable:
        branch += residual
        return branch
    return branch + residual


class PositionalEmbedding(Layer):
    """A learned position vector added to each step: y[n, t] = x[n, t] + weight[t].

    Shapes: x (N, T, dim) with T <= max_len -> y (N, T, dim); ``weight`` is (max_len, dim),
    drawn from N(0, 1) as PyTorch's nn.Embedding (a table of positions 0 .. max_len − 1).
    dL/dweight[t] = Σ_n dL/dy[n, t] for t < T (rows of later positions get nothing).

    A ValueError, before any work, for an input that is not (N, T, dim) and for a sequence
    longer than ``max_len``.

    >>> positions = PositionalEmbedding(max_len=32, dim=16)
    >>> positions.build(np.random.default_rng(0), np.float64)
    >>> positions.forward(np.zeros((2, 10, 16))).shape
    (2, 10, 16)
    """

    def __init__(self, max_len, dim):
        self.max_len = positive_int("max_len", max_len)
        self.dim = positive_int("dim", dim)
        self.weight = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = self.add_parameter("weight", rng.normal(0.0, 1.0, size=(self.max_len, self.dim)))

    def get_config(self):
        return {"max_len": self.max_len, "dim": self.dim}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[2] != self.dim:
            raise ValueError(f"{self!r} expects input of shape (N, T, {self.dim}), got shape {tuple(input_shape)}")
        if input_shape[1] is not None and input_shape[1] > self.max_len:
            raise ValueError(f"{self!r} has positions for sequences of up to {self.max_len} steps, got "
                             f"{input_shape[1]} steps (input of shape {tuple(input_shape)})")
        return tuple(input_shape)

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self!r} expects an array of shape (N, T, {self.dim}), got {describe(x)}")
        self.output_shape(x.shape)
        self.steps = x.shape[1]
        return x + self.weight.value[:self.steps]                  # y[n, t] = x[n, t] + weight[t]

    def backward(self, grad_output):
        self.weight.grad[:self.steps] += grad_output.sum(axis=0)    # dL/dweight[t] = Σ_n dL/dy[n, t]
        return grad_output                                          # dL/dx = dL/dy
