"""Embedding: a table of learned vectors, looked up by integer index (a token's id)."""

import numpy as np

from .. import kernels
from .._checks import describe, positive_int
from ..kernels import embedding as compiled
from .base import Layer, not_built


class Embedding(Layer):
    """A learned table W of `num_embeddings` rows of `dim` numbers; index i gives row W[i].

    Shapes: indices x (N, ...) of integers in [0, num_embeddings), typically (N, T) token ids,
    -> y (N, ..., dim) with y[n, t] = W[x[n, t]]. W is (num_embeddings, dim), drawn from
    N(0, 1) as PyTorch's ``nn.Embedding`` does, and means the same as its ``weight``.

    Looking a row up is multiplying a one-hot vector by W, so the backward pass is that
    product's: dL/dW[i] = Σ of dL/dy[n, t] over every position where x[n, t] = i, a
    scatter-add (``np.add.at``, which adds repeated indices instead of keeping one; with
    ``fused="auto"`` and Numba, a compiled loop doing the same additions in the same order). The
    indices are not differentiable: ``backward`` returns None, so an Embedding comes first
    in a network (and `scratchnn.gradcheck`, which perturbs the input, does not apply to one).

    ``takes_indices = True`` tells `Sequential` to pass X as integers (np.intp) instead of
    converting it to floats; `check_indices` refuses the whole X before any work when an
    index is out of range. Float input is a TypeError, an out-of-range index a ValueError.

    >>> layer = Embedding(10, 4)
    >>> layer.build(np.random.default_rng(0), np.float64)
    >>> layer.forward(np.array([[1, 2, 2]])).shape
    (1, 3, 4)
    """

    takes_indices = True

    def __init__(self, num_embeddings, dim, fused="auto"):
        self.fused = kernels.check_option(fused)
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.dim = positive_int("dim", dim)
        self.weight = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = self.add_parameter("weight", rng.normal(0.0, 1.0, size=(self.num_embeddings, self.dim)))

    def check_indices(self, name, indices):
        """Return `indices` if it is an integer array with every entry in [0, num_embeddings),
        else raise (TypeError for non-integers, ValueError naming the first bad index)."""
        if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer indices for {self!r}, got {describe(indices)}")
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            where = tuple(int(i) for i in np.argwhere((indices < 0) | (indices >= self.num_embeddings))[0])
            raise ValueError(f"{name} holds index {int(indices[where])} at position {where}, but {self!r} "
                             f"has rows 0 to {self.num_embeddings - 1}")
        return indices

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        self.x = self.check_indices("Embedding input", x)       # kept for backward
        return self.weight.value[x]                              # y[n, t] = W[x[n, t]]

    def backward(self, grad_output):
        grad_rows = grad_output.reshape(-1, self.dim)
        indices, grad = self.x.reshape(-1), self.weight.grad
        if kernels.use_compiled(self.fused, grad) and kernels.same_layout(grad_rows):   # same bits, 10x faster
            compiled.scatter_add_rows(grad, indices, np.ascontiguousarray(grad_rows, dtype=grad.dtype))
        else:
            np.add.at(grad, indices, grad_rows)             # dL/dW[i] += dL/dy[n, t] where x[n, t] = i
        return None                                                 # indices have no gradient

    def get_config(self):
        return {"num_embeddings": self.num_embeddings, "dim": self.dim}

    def output_shape(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{self!r} expects indices of shape (N, ...), got shape {tuple(input_shape)}")
        return (*input_shape, self.dim)
