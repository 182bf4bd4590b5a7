"""Activation functions, as layers without parameters.

Each is stable at every finite input, in float32 and float64: nothing overflows, so NumPy
never warns and nothing turns into inf or NaN.

>>> Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
array([0. , 0.5, 1. ])
"""

import math

import numpy as np

from .. import kernels
from .._checks import number_in_range, one_of
from ..kernels import activations as compiled
from .base import Layer


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed without overflow at any finite x.

    The blog's ``1 / (1 + np.exp(-x))`` overflows below about -709 in float64 (-88 in
    float32). With z = e^-|x|, which lies in (0, 1] and never overflows:
    σ(x) = 1 / (1 + z) for x >= 0 (the blog's formula), and z / (1 + z) for x < 0.
    """
    z = np.exp(-np.abs(x))                                 # e^-|x|
    s = 1 / (1 + z)
    np.multiply(s, z, out=s, where=x < 0)                  # z / (1 + z) where x < 0
    return s


def softmax(x, axis=-1):
    """softmax(x)_i = e^(x_i - max x) / Σ_j e^(x_j - max x): subtracting the max avoids overflow."""
    exps = np.exp(_shift_by_max(x, axis))
    return exps / exps.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log softmax(x)_i = (x_i - max x) - log Σ_j e^(x_j - max x), never log(0)."""
    shifted = _shift_by_max(x, axis)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _shift_by_max(x, axis):
    """x − max x, every entry <= 0. Only when the entries of a row span more than the dtype's
    range (3.4e38 − (−3.4e38) in float32) does the difference round to −inf, which is then the
    right answer: e^−inf = 0, as the true value underflows anyway."""
    with np.errstate(over="ignore"):
        return x - x.max(axis=axis, keepdims=True)


class _Elementwise(Layer):
    """An activation applied entry by entry: the output has the input's shape."""

    def output_shape(self, input_shape):
        return tuple(input_shape)


class Sigmoid(_Elementwise):
    """Sigmoid: y = σ(x) = 1 / (1 + e^-x), the blog's activation."""

    def forward(self, x, training=False):
        self.y = sigmoid(x)
        return self.y

    def backward(self, grad_output):
        return grad_output * self.y * (1 - self.y)        # dσ/dx = σ(x)·(1 − σ(x)), the blog's p·(1 − p)


class Tanh(_Elementwise):
    """Hyperbolic tangent: y = tanh(x)."""

    def forward(self, x, training=False):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_output):
        return grad_output * (1 - self.y * self.y)         # d tanh/dx = 1 − tanh²(x)


class ReLU(_Elementwise):
    """Rectified linear unit: y = max(0, x).

    ``fused="auto"`` computes the gradient of large inputs in one compiled pass when Numba is
    installed (the same bits; ``fused=False``: always the NumPy line below)."""

    def __init__(self, fused="auto"):
        self.fused = kernels.check_option(fused)

    def forward(self, x, training=False):
        self.x = x                                          # kept for backward
        return np.maximum(x, 0)

    def backward(self, grad_output):
        if kernels.use_compiled(self.fused, grad_output, self.x, minimum_size=1 << 14):
            grad_input = np.empty_like(grad_output)
            compiled.relu_backward(grad_output.reshape(-1), self.x.reshape(-1), grad_output.dtype.type(0),
                                  grad_input.reshape(-1))
            return grad_input
        return grad_output * (self.x > 0)                   # dy/dx = 1 if x > 0 else 0


class LeakyReLU(_Elementwise):
    """Leaky ReLU: y = x if x > 0 else negative_slope · x."""

    def __init__(self, negative_slope=0.01):
        self.negative_slope = number_in_range("negative_slope", negative_slope, 0.0, 1.0)

    def forward(self, x, training=False):
        self.slope = np.where(x > 0, 1, self.negative_slope).astype(x.dtype)
        return x * self.slope

    def backward(self, grad_output):
        return grad_output * self.slope                    # dy/dx = 1 or negative_slope

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """Exponential linear unit: y = x if x > 0 else alpha · (e^x − 1)."""

    def __init__(self, alpha=1.0):
        self.alpha = number_in_range("alpha", alpha, 0.0, math.inf, low_open=True, high_open=True)

    def forward(self, x, training=False):
        self.x = x
        negative_part = self.alpha * np.expm1(np.minimum(x, 0))   # e^x only where x <= 0: no overflow
        return np.where(x > 0, x, negative_part)

    def backward(self, grad_output):
        slope = np.where(self.x > 0, 1, self.alpha * np.exp(np.minimum(self.x, 0)))
        return grad_output * slope                         # dy/dx = 1 or alpha · e^x

    def get_config(self):
        return {"alpha": self.alpha}


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_BLOCK = 1 << 16            # entries per block of GELU's compiled backward: 4 arrays of it fit in L2
_erf = np.frompyfunc(math.erf, 1, 1)


class GELU(_Elementwise):
    """Gaussian error linear unit: y = x · Φ(x), Φ the standard normal CDF.

    ``approximate="none"`` (PyTorch's default) uses the exact erf; ``approximate="tanh"`` uses
    0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³))). NumPy has no erf: we take Python's
    ``math.erf``, entry by entry, and with ``fused="auto"`` and Numba installed a compiled
    loop over the same ``math.erf`` (the same bits; in float32, a float64 estimate of erf that
    falls back on ``math.erf`` wherever the estimate could round differently, the same bits).
    """

    def __init__(self, approximate="none", fused="auto"):
        self.approximate = one_of("approximate", approximate, ("none", "tanh"))
        self.fused = kernels.check_option(fused)

    def forward(self, x, training=False):
        # Beyond |x| = 40, Φ is exactly 0 or 1 and φ exactly 0 in float32 and float64; clipping
        # there keeps x² and x³ from overflowing without changing any result.
        self.x = x                                      # kept for backward
        if self.approximate == "none" and x.dtype == np.float32 and kernels.use_compiled(self.fused, x):
            return self._forward_float32(x)
        self.x_safe = x_safe = np.clip(x, -40, 40)
        if self.approximate == "tanh":
            cube = x_safe * x_safe * x_safe            # as PyTorch; x**3 would run pow entry by entry
            inner = _SQRT_2_OVER_PI * (x_safe + 0.044715 * cube)
            self.tanh_inner = np.tanh(inner)
            return 0.5 * x * (1 + self.tanh_inner)
        if kernels.use_compiled(self.fused, x, x_safe):    # the three lines below in one pass, same bits
            y, self.cdf = np.empty_like(x), np.empty_like(x)
            dtype = x.dtype.type
            compiled.gelu_forward(x.reshape(-1), x_safe.reshape(-1), dtype(math.sqrt(2)), dtype(0.5), dtype(1),
                                  y.reshape(-1), self.cdf.reshape(-1))
            return y
        scaled = x_safe / math.sqrt(2)
        erf = compiled.erf if kernels.use_compiled(self.fused, scaled) else _erf
        self.cdf = 0.5 * (1 + erf(scaled).astype(x.dtype))    # Φ(x) = (1 + erf(x/√2)) / 2
        return x * self.cdf

    def _forward_float32(self, x):
        """The clip and the three lines of `forward` in one compiled pass, the same bits: erf
        from a float64 estimate, and from math.erf wherever the estimate could round otherwise.
        The clipped x is not stored (one array fewer to write): backward clips again."""
        self.x_safe = None
        y, self.cdf = np.empty_like(x), np.empty_like(x)
        compiled.gelu_forward_float32(x.reshape(-1), np.float32(math.sqrt(2)), np.float32(0.5), np.float32(1),
                                      compiled.ERF_TABLE, y.reshape(-1), self.cdf.reshape(-1))
        return y

    def backward(self, grad_output):
        if self.approximate == "tanh":
            x, t = self.x_safe, self.tanh_inner
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad_output * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        if kernels.use_compiled(self.fused, self.x, self.cdf, grad_output):
            return self._backward_compiled(grad_output)     # the lines below, the same bits
        x = self.x_safe if self.x_safe is not None else np.clip(self.x, -40, 40)
        # in place on one buffer (each pass on a fresh array of the layer's size costs as much again)
        grad = np.multiply(x, x)
        grad *= -0.5                                        # −x²/2 (the same bits as (−x/2)·x: ½ is exact)
        np.exp(grad, out=grad)                              # e^(−x²/2), NumPy's SIMD exp
        root_two_pi = x.dtype.type(math.sqrt(2 * math.pi))
        grad /= root_two_pi                                 # φ(x) = e^(−x²/2) / √(2π)
        grad *= x
        grad += self.cdf                                    # d(xΦ)/dx = Φ(x) + x·φ(x)
        grad *= grad_output
        return grad

    def _backward_compiled(self, grad_output):
        """`backward`'s lines as two compiled passes around NumPy's exp (clip and −x²/2, then
        the rest), block by block, so that each block stays in cache between the three passes
        instead of the three running over arrays larger than the cache."""
        dtype = self.x.dtype.type
        grad = np.empty_like(self.x)
        flat = (self.x.reshape(-1), self.cdf.reshape(-1), grad_output.reshape(-1), grad.reshape(-1))
        for start in range(0, grad.size, _BLOCK):
            x, cdf, grad_y, block = (array[start:start + _BLOCK] for array in flat)
            compiled.gelu_exponent(x, dtype(40), dtype(-0.5), block)                   # −x²/2, x clipped
            np.exp(block, out=block)                                                    # e^(−x²/2)
            compiled.gelu_backward(block, x, cdf, grad_y, dtype(40), dtype(math.sqrt(2 * math.pi)))
        return grad

    def get_config(self):
        return {"approximate": self.approximate}


class Softmax(_Elementwise):
    """Softmax over the last axis: y_i = e^(x_i) / Σ_j e^(x_j).

    For classification, prefer leaving logits to `CrossEntropy`, which fuses softmax and log.
    """

    def forward(self, x, training=False):
        self.y = softmax(x)
        return self.y

    def backward(self, grad_output):
        # dL/dx_i = y_i · (dL/dy_i − Σ_j dL/dy_j · y_j)
        return self.y * (grad_output - (grad_output * self.y).sum(axis=-1, keepdims=True))


class Identity(_Elementwise):
    """Identity: y = x (a linear output layer, or a placeholder)."""

    def forward(self, x, training=False):
        return x

    def backward(self, grad_output):
        return grad_output


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "gelu": GELU,
    "softmax": Softmax,
    "identity": Identity,
}


def activation(name):
    """An activation layer by name, e.g. ``activation("relu")``."""
    return ACTIVATIONS[one_of("activation", name, tuple(ACTIVATIONS))]()
