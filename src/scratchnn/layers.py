"""Layers: the building blocks of a network.

Every layer follows one protocol (the nnfs book's):

- ``forward(x, training=False)`` computes the output and keeps what backward will need;
- ``backward(grad_output)`` receives dL/d(output), adds dL/d(parameter) into each
  ``Parameter.grad`` and returns dL/d(input).

Layers with parameters create them in ``build(rng, dtype)``, which `Sequential` calls in
layer order, so that the random draws happen in the same order as in a hand-written script.
"""

import numbers

import numpy as np

from ._checks import as_float_array, describe, number_in_range, positive_int
from .init import check_init_name, initialize


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Optimizers update ``value`` in place; layers add into ``grad`` in ``backward``.

    >>> p = Parameter(np.zeros((2, 3)), name="weight")
    >>> p.value.shape, p.grad.shape
    ((2, 3), (2, 3))
    """

    def __init__(self, value, name=""):
        self.value = value
        self.grad = np.zeros_like(value)
        self.name = name

    def __repr__(self):
        return f"Parameter(name={self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base class: a layer without parameters, whose forward and backward subclasses write.

    ``needs_input_grad`` is set to False by `Sequential.backward` on a first layer whose
    dL/d(input) nobody will read; layers may then skip computing it and return None.
    """

    needs_input_grad = True

    def build(self, rng, dtype):
        """Create parameters (none here) and keep what the layer needs; called by Sequential."""
        self.dtype = np.dtype(dtype)

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def named_parameters(self):
        """The layer's parameters as a dict name -> Parameter, in a fixed order."""
        return {}

    def parameters(self):
        """The layer's parameters as a list, in a fixed order (weight, then bias)."""
        return list(self.named_parameters().values())

    def get_config(self):
        """The constructor arguments, as JSON-friendly values (used for saving)."""
        return {}

    def get_buffers(self):
        """Arrays that are saved with the model but not trained (e.g. running statistics),
        as a dict name -> array; `Sequential.load_state_dict` writes into them in place."""
        return {}

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Dense(Layer):
    """Fully connected layer: y = x @ W + b, the blog's ``np.dot(X, W) + b``.

    Shapes: x (N, in_features) -> y (N, out_features); W is (in_features, out_features),
    laid out as in the blog, and b is (out_features,), initialized to zeros.

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
        self.weight = Parameter(initialize(self.init, shape, rng, dtype), name="weight")
        self.bias = Parameter(np.zeros(self.out_features, dtype=dtype), name="bias")

    def forward(self, x, training=False):
        if self.weight is None:
            raise RuntimeError("Dense layer is not built: put it in a Sequential or call build(rng, dtype)")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features}, {self.out_features}) expects input of shape "
                f"(N, {self.in_features}), got shape {x.shape}"
            )
        self.x = x                                         # kept for backward
        y = x @ self.weight.value                          # y = x W + b, with b added in place
        y += self.bias.value                               # (saves allocating a second array)
        return y

    def backward(self, grad_output):
        self.weight.grad += self.x.T @ grad_output         # dL/dW = x^T · dL/dy
        self.bias.grad += grad_output.sum(axis=0)          # dL/db = sum of dL/dy over the batch
        if not self.needs_input_grad:
            return None
        return grad_output @ self.weight.value.T           # dL/dx = dL/dy · W^T

    def named_parameters(self):
        if self.weight is None:
            return {}
        return {"weight": self.weight, "bias": self.bias}

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init}


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
        self.rng = rng

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            self.mask = None
            return x
        if self.rng is None:
            raise RuntimeError("Dropout is not built: put it in a Sequential or call build(rng, dtype)")
        keep = self.rng.random(x.shape) >= self.rate
        self.mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.rate)   # 0 or 1/(1-rate)
        return x * self.mask                                                # y = x · mask

    def backward(self, grad_output):
        if self.mask is None:
            return grad_output
        return grad_output * self.mask                                      # dL/dx = dL/dy · mask

    def get_config(self):
        return {"rate": self.rate}


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
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(self.shape)):
            raise ValueError(f"Reshape to (N, {', '.join(map(str, self.shape))}) needs "
                             f"{int(np.prod(self.shape))} values per sample, got shape {x.shape}")
        self.input_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, grad_output):
        return grad_output.reshape(self.input_shape)

    def get_config(self):
        return {"shape": list(self.shape)}


class Standardize(Layer):
    """Standardize inputs with fixed statistics: y = (x − mean) / scale.

    A preprocessing step that lives inside the model, so a saved model takes the same raw
    inputs that the data loaders return. ``mean`` and ``scale`` are saved with the weights
    and never trained. Build it from training data with `Standardize.from_data`.

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
        layer.mean[...] = X.mean(axis=0)
        std = X.std(axis=0)
        layer.scale[...] = np.where(std > 0, std, 1.0)
        return layer

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.mean = self.mean.astype(dtype)
        self.scale = self.scale.astype(dtype)

    def forward(self, x, training=False):
        if x.shape[1:] != self.shape:
            raise ValueError(f"Standardize expects input of shape (N, {', '.join(map(str, self.shape))}), "
                             f"got shape {x.shape}")
        return (x - self.mean) / self.scale                     # y = (x − μ) / σ

    def backward(self, grad_output):
        return grad_output / self.scale                         # dL/dx = dL/dy / σ

    def get_config(self):
        return {"shape": list(self.shape)}

    def get_buffers(self):
        return {"mean": self.mean, "scale": self.scale}


def check_layer(name, layer):
    """Raise a TypeError unless `layer` follows the layer protocol."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a scratchnn layer (e.g. Dense, ReLU), got {describe(layer)}")
    return layer
