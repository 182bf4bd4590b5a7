"""The core layers: Dense (the blog's layer), Dropout, Flatten, Reshape, Standardize."""

import numbers

import numpy as np

from .._checks import as_float_array, describe, number_in_range, positive_int
from .base import Layer, not_built
from .init import check_init_name, initialize


class Dense(Layer):
    """Fully connected layer: y = x @ W + b, the blog's ``np.dot(X, W) + b``.

    Shapes: x (N, in_features) -> y (N, out_features); W is (in_features, out_features),
    laid out as in the blog, and b is (out_features,), initialized to zeros. Like PyTorch's
    Linear, any leading axes are allowed: x (N, ..., in_features) -> y (N, ..., out_features),
    the same map applied to each row x[n, ..., :] (each time step of a sequence), computed as
    one product over the rows. PyTorch's Linear.weight is W transposed.

    >>> layer = Dense(2, 3, init="he_normal")
    >>> layer.build(np.random.default_rng(0), np.float64)
    >>> layer.forward(np.ones((4, 2))).shape
    (4, 3)
    """

    def __init__(self, in_features, out_features, init="glorot_uniform"):
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.init = check_init_name(init)
        self.weight = None
        self.bias = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        shape = (self.in_features, self.out_features)
        self.weight = self.add_parameter("weight", initialize(self.init, shape, rng, dtype))
        self.bias = self.add_parameter("bias", np.zeros(self.out_features))

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        self.input_shape = x.shape
        if x.ndim != 2 or x.shape[1] != self.in_features:
            self.output_shape(x.shape)                     # raises unless x is (N, ..., in_features)
            x = x.reshape(-1, self.in_features)            # (N, ..., in) -> rows (N·..., in)
        self.x = x                                         # kept for backward
        y = x @ self.weight.value                          # y = x W + b, with b added in place
        y += self.bias.value                               # (saves allocating a second array)
        if len(self.input_shape) == 2:
            return y
        return y.reshape(*self.input_shape[:-1], self.out_features)     # rows -> (N, ..., out)

    def backward(self, grad_output):
        if grad_output.ndim != 2:
            grad_output = grad_output.reshape(-1, self.out_features)   # (N, ..., out) -> rows
        self.weight.grad += self.x.T @ grad_output         # dL/dW = x^T · dL/dy
        self.bias.grad += grad_output.sum(axis=0)          # dL/db = sum of dL/dy over the batch
        if not self.needs_input_grad:
            return None
        grad_input = grad_output @ self.weight.value.T     # dL/dx = dL/dy · W^T
        return grad_input if len(self.input_shape) == 2 else grad_input.reshape(self.input_shape)

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init}

    def output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] != self.in_features:
            raise ValueError(f"Dense({self.in_features}, {self.out_features}) expects input of shape "
                             f"(N, {self.in_features}), got shape {tuple(input_shape)} (or, with more "
                             f"axes, (N, ..., {self.in_features}))")
        return (*input_shape[:-1], self.out_features)


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability `rate` and scale the
    rest by 1 / (1 - rate), so nothing changes at inference (``training=False`` is identity).

    >>> drop = Dropout(0.5)
    >>> drop.build(np.random.default_rng(0), np.float32)
    >>> drop.forward(np.ones((2, 4), np.float32), training=True)   # zeros and 2.0s
    """

    def __init__(self, rate):
        self.rate = number_in_range("rate", rate, 0.0, 1.0, high_open=True)
        self.rng = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.rng = rng                       # the masks' generator (`Layer.set_rng` replaces it)

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        if self.rng is None:
            raise not_built(self)
        keep = self.rng.random(x.shape) >= self.rate
        self.mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate)   # 0 or 1/(1-rate)
        return x * self.mask                                                # y = x · mask

    def backward(self, grad_output):
        if self.mask is None:
            return grad_output
        return grad_output * self.mask                                      # dL/dx = dL/dy · mask

    def get_config(self):
        return {"rate": self.rate}

    def output_shape(self, input_shape):
        return tuple(input_shape)


class Flatten(Layer):
    """Flatten every axis but the first: (N, d1, d2, ...) -> (N, d1·d2·...).

    >>> Flatten().forward(np.zeros((5, 1, 28, 28))).shape
    (5, 784)
    """

    def forward(self, x, training=False):
        if x.ndim < 2:
            raise ValueError(f"Flatten expects input of shape (N, ...), got shape {x.shape}")
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output):
        return grad_output.reshape(self.input_shape)

    def output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Flatten expects input of shape (N, ...), got shape {tuple(input_shape)}")
        return (input_shape[0], int(np.prod(input_shape[1:])))


class Reshape(Layer):
    """Reshape each sample: (N, d1, d2, ...) -> (N, *shape), e.g. flat 784-pixel rows into
    (1, 28, 28) images for a convolution.

    >>> Reshape((1, 28, 28)).forward(np.zeros((5, 784))).shape
    (5, 1, 28, 28)
    """

    def __init__(self, shape):
        if not isinstance(shape, (list, tuple)) or not shape or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape):
            raise ValueError(f"shape must be a list of positive ints (one sample's shape), got {describe(shape)}")
        self.shape = tuple(int(n) for n in shape)

    def forward(self, x, training=False):
        self.input_shape = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, grad_output):
        return grad_output.reshape(self.input_shape)

    def get_config(self):
        return {"shape": list(self.shape)}

    def output_shape(self, input_shape):
        if len(input_shape) < 2 or int(np.prod(input_shape[1:])) != int(np.prod(self.shape)):
            raise ValueError(f"Reshape to (N, {', '.join(map(str, self.shape))}) needs "
                             f"{int(np.prod(self.shape))} values per sample, got shape {tuple(input_shape)}")
        return (input_shape[0], *self.shape)


def feature_statistics(X):
    """Each feature's mean and scale over the rows of X (N, ...), in float64: the one
    definition of standardization, used by `Standardize.from_data` (inside a model) and
    `scratchnn.datasets.Standardizer` (on arrays). scale is the standard deviation, or 1 for a
    feature that is constant up to rounding (so it becomes zeros instead of a division by 0)."""
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    constant = (scale == 0) | (scale <= 10 * np.finfo(np.float64).eps * np.abs(mean))
    return mean, np.where(constant, 1.0, scale)


class Standardize(Layer):
    """Standardize inputs with fixed statistics: y = (x − mean) / scale.

    A preprocessing step that lives inside the model, so a saved model takes the same raw
    inputs that the data loaders return. ``mean`` and ``scale`` are saved with the weights
    and never trained. Build it from training data with `Standardize.from_data` (the
    statistics of `feature_statistics`, as `scratchnn.datasets.Standardizer` computes them
    for arrays outside a model).

    >>> layer = Standardize.from_data(X_train)          # per-feature mean and std
    >>> net = Sequential(layer, Dense(X_train.shape[1], 10), seed=0)
    """

    def __init__(self, shape):
        if not isinstance(shape, (list, tuple)) or not all(
                isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape):
            raise ValueError(f"shape must be a list of positive ints (one sample's shape), got {describe(shape)}")
        self.shape = tuple(int(n) for n in shape)
        self.mean = np.zeros(self.shape)
        self.scale = np.ones(self.shape)

    @classmethod
    def from_data(cls, X):
        """Per-feature mean and standard deviation of X (N, ...); a constant feature gets scale 1."""
        X = as_float_array("X", X, np.float64)
        if X.ndim < 2:
            raise ValueError(f"X must have shape (n_samples, ...) with at least one row, got shape {X.shape}")
        layer = cls(list(X.shape[1:]))
        layer.mean[...], layer.scale[...] = feature_statistics(X)
        return layer

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.mean = self.add_buffer("mean", self.mean)
        self.scale = self.add_buffer("scale", self.scale)

    def output_shape(self, input_shape):
        if tuple(input_shape[1:]) != self.shape:
            raise ValueError(f"Standardize expects input of shape (N, {', '.join(map(str, self.shape))}), "
                             f"got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        self.output_shape(x.shape)
        return (x - self.mean) / self.scale                     # y = (x − μ) / σ

    def backward(self, grad_output):
        return grad_output / self.scale                         # dL/dx = dL/dy / σ

    def get_config(self):
        return {"shape": list(self.shape)}
