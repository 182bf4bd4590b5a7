"""Batch normalization (Ioffe & Szegedy, 2015) and layer normalization (`LayerNorm`), with
PyTorch's conventions.

In training, each channel is normalized with the mean and variance of the batch,

    x̂ = (x − μ_B) / √(σ²_B + ε),    y = γ · x̂ + β,

and running estimates of μ and σ² are kept for inference, where the batch statistics are
replaced by them. γ (``weight``) and β (``bias``) are trainable `Parameter`s; the running
statistics are not trained, so they are plain arrays ("buffers", registered with
`Layer.add_buffer`), which ``state_dict()`` saves with the weights and ``load_state_dict``
writes back in place.

`LayerNorm` normalizes each sample (each step of a sequence) with its own statistics over its
last axes instead, the same in training and at inference, so it keeps no running statistics.

>>> norm = BatchNorm(3)
>>> norm.build(np.random.default_rng(0), np.float64)
>>> y = norm.forward(np.random.default_rng(1).normal(5.0, 2.0, size=(64, 3)), training=True)
>>> np.allclose(y.mean(axis=0), 0), np.allclose(y.std(axis=0), 1, atol=1e-3)
(True, True)
"""

import numbers

import numpy as np

from .. import kernels
from .._checks import boolean, describe, number_in_range, positive_int, positive_number
from ..kernels import normalization as compiled
from .base import LOCAL, Layer, not_built


class BatchNorm(Layer):
    """Batch normalization over axis 1, for inputs (N, C) (after a Dense layer) or
    (N, C, H, W) (after a Conv2D: the statistics of a channel then pool the batch and all pixels).

    In training (``forward(x, training=True)``): y = γ · (x − μ_B) / √(σ²_B + ε) + β with the
    batch mean μ_B and the biased batch variance σ²_B, and the running statistics move
    towards the batch's, as in PyTorch:

        running_mean ← (1 − momentum) · running_mean + momentum · μ_B
        running_var  ← (1 − momentum) · running_var  + momentum · σ²_B · m / (m − 1)

    (m values per channel: the unbiased variance). At inference (``training=False``):
    y = γ · (x − running_mean) / √(running_var + ε) + β. γ starts at 1, β at 0, the running
    mean at 0 and the running variance at 1.

    ``fused="auto"`` (the default) runs forward and backward as compiled passes over x
    viewed as (N, C, H·W) when Numba is installed and x has at least 4096 values
    (`scratchnn.kernels.normalization`; the same equations, the per-channel sums in another
    order: equal to float rounding); True always, False keeps the NumPy lines below. A
    runtime choice, not saved in the config.

    ``get_buffers()`` returns ``{"running_mean": ..., "running_var": ...}``, the arrays a
    model file keeps beside the weights; ``set_buffers(buffers)`` copies such a dict back in
    (for a layer used on its own; a model's `load_state_dict` does it for every layer).

    >>> norm = BatchNorm(16)            # e.g. after Conv2D(8, 16, 3)
    >>> norm.build(np.random.default_rng(0), np.float32)
    >>> norm.forward(np.ones((2, 16, 5, 5), np.float32)).shape
    (2, 16, 5, 5)
    """

    uses_batch_statistics = True

    def __init__(self, num_features, momentum=0.1, epsilon=1e-5, fused="auto"):
        self.fused = kernels.check_option(fused)
        self.num_features = positive_int("num_features", num_features)
        self.momentum = number_in_range("momentum", momentum, 0.0, 1.0)
        self.epsilon = positive_number("epsilon", epsilon)
        self.weight = None
        self.bias = None
        self.running_mean = None
        self.running_var = None
        self.reduction = LOCAL           # sums over the batch; data-parallel training hands another
        self.compiled = False            # whether the last forward ran the compiled passes

    def __getstate__(self):
        state = dict(self.__dict__)
        state["reduction"] = LOCAL               # threads and locks are not copied or pickled
        return state

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = self.add_parameter("weight", np.ones(self.num_features))       # γ
        self.bias = self.add_parameter("bias", np.zeros(self.num_features))          # β
        self.running_mean = self.add_buffer("running_mean", np.zeros(self.num_features))
        self.running_var = self.add_buffer("running_var", np.ones(self.num_features))

    def set_reduction(self, reduction):
        self.reduction = LOCAL if reduction is None else reduction

    def output_shape(self, input_shape):
        channels = self.num_features
        if len(input_shape) not in (2, 4) or input_shape[1] != channels:
            raise ValueError(f"BatchNorm({channels}) expects input of shape (N, {channels}) or "
                             f"(N, {channels}, H, W), got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def set_buffers(self, buffers):
        """Copy arrays from a dict shaped like `get_buffers()` into the running statistics."""
        own = self.get_buffers()
        if not own:
            raise not_built(self)
        if not isinstance(buffers, dict) or set(buffers) != set(own):
            got = sorted(buffers) if isinstance(buffers, dict) else describe(buffers)
            raise ValueError(f"set_buffers expects a dict with keys {sorted(own)}, got {got}")
        for name, value in own.items():
            new = np.asarray(buffers[name])
            if new.shape != value.shape:
                raise ValueError(f"buffer {name!r} must have shape {value.shape}, got shape {new.shape}")
        for name, value in own.items():
            value[...] = buffers[name]                  # in place: the arrays stay the same objects

    def get_config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "epsilon": self.epsilon}

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        if not isinstance(x, np.ndarray):
            raise ValueError(f"BatchNorm({self.num_features}) expects an array, got {describe(x)}")
        self.output_shape(x.shape)
        channels = self.num_features
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)          # statistics over all but the channel axis
        self.shape = (1, channels) + (1,) * (x.ndim - 2)        # to broadcast per-channel values
        self.training = training
        if training:
            # m: values per channel in the whole batch (its rows may be split over replicas)
            self.count = int(self.reduction.sum(np.array([float(x.size // channels)]))[0])
            if self.count < 2:
                raise ValueError(f"BatchNorm({channels}) needs more than one value per channel in training, "
                                 f"got input of shape {x.shape}")
        small = 0 if self.fused is True else 4096            # "auto": the kernels pay from ~4096 values
        self.compiled = kernels.use_compiled(self.fused, x, minimum_size=small)
        if self.compiled:
            return self._forward_compiled(x, training)
        if training:
            mean = self.reduction.sum(x.sum(axis=self.axes)) / self.count            # μ_B = Σ x / m
            centered = x - mean.reshape(self.shape)
            variance = self.reduction.sum(np.square(centered).sum(axis=self.axes)) / self.count   # σ²_B (biased)
            self._update_running(mean, variance)
        else:
            centered = x - self.running_mean.reshape(self.shape)
            variance = self.running_var
        self.inverse_std = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)    # 1 / √(σ² + ε)
        self.x_hat = centered * self.inverse_std.reshape(self.shape)          # x̂ = (x − μ) / √(σ² + ε)
        gamma, beta = self.weight.value.reshape(self.shape), self.bias.value.reshape(self.shape)
        return self.x_hat * gamma + beta                                      # y = γ x̂ + β

    def backward(self, grad_output):
        if self.compiled and kernels.same_layout(grad_output, self.x_hat):
            return self._backward_compiled(grad_output)
        grad_bias = grad_output.sum(axis=self.axes)                        # Σ dL/dy
        grad_weight = (grad_output * self.x_hat).sum(axis=self.axes)       # Σ dL/dy · x̂
        self.bias.grad += grad_bias                                        # dL/dβ = Σ dL/dy
        self.weight.grad += grad_weight                                    # dL/dγ = Σ dL/dy · x̂
        scale = (self.weight.value * self.inverse_std).reshape(self.shape)  # γ / √(σ² + ε)
        if not self.training:
            return grad_output * scale        # statistics fixed: dL/dx = dL/dy · γ / √(σ² + ε)
        # μ_B and σ²_B depend on x too; with m values per channel, the full derivative is
        # dL/dx = γ / √(σ² + ε) · (dL/dy − Σ dL/dy / m − x̂ · Σ (dL/dy · x̂) / m)
        # The sums run over the whole batch. With its rows split over replicas, each replica's
        # dL/dy is the gradient of its own mean loss, n / n_i times its share of the batch's:
        # weight by the share n_i / n to add them up, and scale back for this replica's rows.
        grad_bias, grad_weight = self._batch_sums(grad_bias, grad_weight).astype(grad_output.dtype, copy=False)
        mean_grad = (grad_bias / self.count).reshape(self.shape)
        mean_grad_x_hat = (grad_weight / self.count).reshape(self.shape)
        return scale * (grad_output - mean_grad - self.x_hat * mean_grad_x_hat)

    def _update_running(self, mean, variance):
        momentum = self.momentum
        self.running_mean *= 1 - momentum
        self.running_mean += momentum * mean                 # running ← (1 − m)·running + m·μ_B
        self.running_var *= 1 - momentum
        self.running_var += momentum * variance * (self.count / (self.count - 1))   # unbiased σ²

    def _batch_sums(self, grad_bias, grad_weight):
        """[Σ dL/dy, Σ dL/dy · x̂] over the whole batch, from this replica's sums (see backward)."""
        share = self.reduction.share
        return self.reduction.sum(np.stack([grad_bias, grad_weight]) * share) / share

    # The same equations in compiled passes over x viewed as (N, C, S) (`fused`; see
    # scratchnn.kernels.normalization): each row of a channel summed in x's dtype, the
    # per-channel totals in float64, the rest in x's dtype.

    def _forward_compiled(self, x, training):
        rows = x.reshape(x.shape[0], self.num_features, -1)                  # (N, C, S)
        if training:
            sums, squares = np.zeros(self.num_features), np.zeros(self.num_features)
            compiled.batch_norm_sums(rows, np.zeros(self.num_features, x.dtype), sums, None)
            mean = self.reduction.sum(sums) / self.count                     # μ_B = Σ x / m
            compiled.batch_norm_sums(rows, mean.astype(x.dtype), np.zeros(self.num_features), squares)
            variance = self.reduction.sum(squares) / self.count              # σ²_B = Σ (x − μ)² / m
            self._update_running(mean, variance)
        else:
            mean, variance = self.running_mean, self.running_var
        self.inverse_std = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)    # 1 / √(σ² + ε)
        self.x_hat, y = np.empty_like(x), np.empty_like(x)
        compiled.batch_norm_normalize(rows, mean.astype(x.dtype), self.inverse_std, self.weight.value,
                                      self.bias.value, self.x_hat.reshape(rows.shape), y.reshape(rows.shape))
        return y                                                             # y = γ x̂ + β

    def _backward_compiled(self, grad_output):
        shape = (grad_output.shape[0], self.num_features, -1)
        rows, x_hat = grad_output.reshape(shape), self.x_hat.reshape(shape)
        grad_bias, grad_weight = np.zeros(self.num_features), np.zeros(self.num_features)
        compiled.batch_norm_gradient_sums(rows, x_hat, grad_bias, grad_weight)   # Σ dL/dy, Σ dL/dy · x̂
        self.bias.grad += grad_bias                                          # dL/dβ
        self.weight.grad += grad_weight                                      # dL/dγ
        scale = self.weight.value * self.inverse_std                         # γ / √(σ² + ε)
        if self.training:
            grad_bias, grad_weight = self._batch_sums(grad_bias, grad_weight)    # the whole batch's sums
            mean_grad, mean_grad_x_hat = grad_bias / self.count, grad_weight / self.count
        else:
            mean_grad = mean_grad_x_hat = np.zeros(self.num_features)        # statistics fixed
        dtype = grad_output.dtype
        grad_input = np.empty_like(grad_output)
        compiled.batch_norm_grad_input(rows, x_hat, scale.astype(dtype), mean_grad.astype(dtype),
                                       mean_grad_x_hat.astype(dtype), grad_input.reshape(rows.shape))
        return grad_input


class LayerNorm(Layer):
    """Layer normalization (Ba et al., 2016) over the last axes, PyTorch's ``nn.LayerNorm``.

    Each sample (each position of a sequence) is normalized with its own statistics over the
    trailing ``normalized_shape`` axes, so nothing depends on the rest of the batch:

        μ = mean of x over the normalized axes,   σ² = mean of (x − μ)² (biased),
        x̂ = (x − μ) / √(σ² + ε),                  y = γ · x̂ + β,

    the same in training and at inference. γ (``weight``) and β (``bias``) have the shape
    ``normalized_shape`` and start at 1 and 0 (none with ``elementwise_affine=False``).

    Shapes: x (N, ..., *normalized_shape) -> y of the same shape; e.g. LayerNorm(64) on a
    sequence (N, T, 64). A ValueError names the shapes when x's trailing axes differ.

    At any finite input, nothing overflows: each sample is first divided by a power of two
    near its largest |x| (exact in floating point, and x̂ does not change when x is scaled).

    ``fused="auto"`` (the default) runs forward and backward over one normalized axis as one
    compiled pass per sample when Numba is installed (`scratchnn.kernels.normalization`; the
    same equations, summed in eight lanes rather than pairwise: equal to float rounding); False
    keeps the NumPy lines below. A runtime choice, not saved in the config.

    >>> norm = LayerNorm(4)
    >>> norm.build(np.random.default_rng(0), np.float64)
    >>> y = norm.forward(np.random.default_rng(1).normal(5.0, 2.0, size=(2, 3, 4)))
    >>> np.allclose(y.mean(axis=-1), 0), np.allclose(y.std(axis=-1), 1, atol=1e-3)
    (True, True)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, fused="auto"):
        self.fused = kernels.check_option(fused)
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if not isinstance(shape, (list, tuple)) or not shape:
            raise TypeError(f"normalized_shape must be a positive int or a tuple of them, "
                            f"got {describe(normalized_shape)}")
        self.normalized_shape = tuple(positive_int("normalized_shape", n) for n in shape)
        self.eps = positive_number("eps", eps)
        self.elementwise_affine = boolean("elementwise_affine", elementwise_affine)
        self.weight = None
        self.bias = None
        self.built = False

    def build(self, rng, dtype):
        super().build(rng, dtype)
        if self.elementwise_affine:
            self.weight = self.add_parameter("weight", np.ones(self.normalized_shape))    # γ
            self.bias = self.add_parameter("bias", np.zeros(self.normalized_shape))       # β
        self.built = True

    def get_config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine}

    def output_shape(self, input_shape):
        shape, count = self.normalized_shape, len(self.normalized_shape)
        if len(input_shape) <= count or tuple(input_shape[-count:]) != shape:
            expected = ", ".join(map(str, shape))
            raise ValueError(f"LayerNorm({list(shape) if count > 1 else shape[0]}) expects input of shape "
                             f"(N, ..., {expected}), got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x, training=False):
        if not self.built:
            raise not_built(self)
        if not isinstance(x, np.ndarray):
            raise ValueError(f"LayerNorm expects an array, got {describe(x)}")
        self.output_shape(x.shape)
        self.axes = tuple(range(x.ndim - len(self.normalized_shape), x.ndim))    # the normalized axes
        self.compiled = len(self.axes) == 1 and kernels.use_compiled(self.fused, x)
        if self.compiled:                     # the same equations, one compiled pass per row
            return self._forward_compiled(x)
        self.scale = _power_of_two_scale(x, self.axes)                # s: |x / s| < 2, s >= 1
        scaled = x / self.scale                                       # x / s (exact)
        centered = scaled - scaled.mean(axis=self.axes, keepdims=True)               # (x − μ) / s
        variance = np.square(centered).mean(axis=self.axes, keepdims=True)           # σ² / s²
        # 1 / √(σ²/s² + ε/s²) = s / √(σ² + ε); ε / s / s rather than ε / s², which could overflow
        self.inverse_std = 1.0 / np.sqrt(variance + self.eps / self.scale / self.scale)
        self.x_hat = centered * self.inverse_std                      # x̂ = (x − μ) / √(σ² + ε)
        if not self.elementwise_affine:
            return self.x_hat
        return self.x_hat * self.weight.value + self.bias.value       # y = γ x̂ + β

    def _forward_compiled(self, x):
        dtype, width = x.dtype.type, x.shape[-1]
        rows = x.reshape(-1, width)
        y, self.x_hat = np.empty_like(x), np.empty_like(x)
        self.scale, self.inverse_std = np.empty(x.shape[:-1] + (1,), x.dtype), np.empty(x.shape[:-1] + (1,), x.dtype)
        weight, bias = (self.weight.value, self.bias.value) if self.elementwise_affine else (None, None)
        compiled.layer_norm_forward(rows, weight, bias, dtype(self.eps), dtype(width), dtype(1), y.reshape(-1, width),
                                    self.x_hat.reshape(-1, width), self.scale.reshape(-1), self.inverse_std.reshape(-1))
        return y if self.elementwise_affine else self.x_hat

    def _backward_compiled(self, grad_output):
        width = grad_output.shape[-1]
        grad_output = np.ascontiguousarray(grad_output)
        grad_input = np.empty_like(grad_output) if self.needs_input_grad else None
        weight, grad_weight, grad_bias = ((self.weight.value, self.weight.grad, self.bias.grad)
                                          if self.elementwise_affine else (None, None, None))
        compiled.layer_norm_backward(grad_output.reshape(-1, width), self.x_hat.reshape(-1, width), weight,
                                     self.scale.reshape(-1), self.inverse_std.reshape(-1),
                                     grad_output.dtype.type(width), grad_weight, grad_bias,
                                     None if grad_input is None else grad_input.reshape(-1, width))
        return grad_input

    def backward(self, grad_output):
        if self.compiled and grad_output.dtype == self.x_hat.dtype:
            return self._backward_compiled(grad_output)
        if self.elementwise_affine:
            batch_axes = tuple(range(grad_output.ndim - len(self.normalized_shape)))
            self.bias.grad += grad_output.sum(axis=batch_axes)                       # dL/dβ = Σ dL/dy
            self.weight.grad += (grad_output * self.x_hat).sum(axis=batch_axes)      # dL/dγ = Σ dL/dy · x̂
            grad_output = grad_output * self.weight.value                            # dL/dx̂ = dL/dy · γ
        if not self.needs_input_grad:
            return None
        # μ and σ² depend on every x of the sample; with n normalized values per sample,
        # dL/dx = (dL/dx̂ − mean(dL/dx̂) − x̂ · mean(dL/dx̂ · x̂)) / √(σ² + ε)
        mean_grad = grad_output.mean(axis=self.axes, keepdims=True)
        mean_grad_x_hat = (grad_output * self.x_hat).mean(axis=self.axes, keepdims=True)
        inverse_std = self.inverse_std / self.scale                   # 1 / √(σ² + ε) = (s / √(σ² + ε)) / s
        return (grad_output - mean_grad - self.x_hat * mean_grad_x_hat) * inverse_std


def _power_of_two_scale(x, axes):
    """2^max(e − 1, 0) per sample, with 2^(e − 1) <= max |x| < 2^e: dividing by it is exact,
    leaves every |x| below 2 (so squares and sums cannot overflow) and never scales up."""
    largest = np.abs(x).max(axis=axes, keepdims=True)
    _, exponent = np.frexp(largest)                                   # largest = m · 2^e, 0.5 <= m < 1
    return np.ldexp(x.dtype.type(1), np.maximum(exponent - 1, 0))
