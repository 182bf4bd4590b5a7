"""Batch normalization (Ioffe & Szegedy, 2015), with PyTorch's conventions.

In training, each channel is normalized with the mean and variance of the batch,

    x̂ = (x − μ_B) / √(σ²_B + ε),    y = γ · x̂ + β,

and running estimates of μ and σ² are kept for inference, where the batch statistics are
replaced by them. γ (``weight``) and β (``bias``) are trainable `Parameter`s; the running
statistics are not trained, so they are plain arrays ("buffers"), which `get_buffers` and
`set_buffers` expose to the code that saves and loads models.

>>> norm = BatchNorm(3)
>>> norm.build(np.random.default_rng(0), np.float64)
>>> y = norm.forward(np.random.default_rng(1).normal(5.0, 2.0, size=(64, 3)), training=True)
>>> np.allclose(y.mean(axis=0), 0), np.allclose(y.std(axis=0), 1, atol=1e-3)
(True, True)
"""

import numpy as np

from ._checks import describe, number_in_range, positive_int, positive_number
from .layers import Layer, Parameter


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

    ``get_buffers()`` returns ``{"running_mean": ..., "running_var": ...}`` and
    ``set_buffers(buffers)`` copies such a dict back in: save and load them with the weights.

    >>> norm = BatchNorm(16)            # e.g. after Conv2D(8, 16, 3)
    >>> norm.build(np.random.default_rng(0), np.float32)
    >>> norm.forward(np.ones((2, 16, 5, 5), np.float32)).shape
    (2, 16, 5, 5)
    """

    def __init__(self, num_features, momentum=0.1, epsilon=1e-5):
        self.num_features = positive_int("num_features", num_features)
        self.momentum = number_in_range("momentum", momentum, 0.0, 1.0)
        self.epsilon = positive_number("epsilon", epsilon)
        self.weight = None
        self.bias = None
        self.running_mean = None
        self.running_var = None
        # set by scratchnn.parallel while fit(threads=N) runs: the other replicas of this layer
        # (a `BatchGroup`), this replica's index in it, and its share n_i / n of the batch
        self.batch_group, self.replica, self.batch_weight = None, 0, 1.0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["batch_group"] = None              # threads and locks are not copied or pickled
        return state

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype), name="weight")    # γ
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype), name="bias")       # β
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)

    def named_parameters(self):
        if self.weight is None:
            return {}
        return {"weight": self.weight, "bias": self.bias}

    def get_buffers(self):
        """The running statistics, name -> array (the arrays themselves, not copies); empty
        before `build`. They are not parameters: no gradient, no optimizer, but they belong
        in a saved model."""
        if self.running_mean is None:
            return {}
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def set_buffers(self, buffers):
        """Copy arrays from a dict shaped like `get_buffers()` into the running statistics."""
        own = self.get_buffers()
        if not own:
            raise RuntimeError("BatchNorm is not built: put it in a Sequential or call build(rng, dtype)")
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
            raise RuntimeError("BatchNorm is not built: put it in a Sequential or call build(rng, dtype)")
        channels = self.num_features
        if not isinstance(x, np.ndarray) or x.ndim not in (2, 4) or x.shape[1] != channels:
            got = f"shape {x.shape}" if isinstance(x, np.ndarray) else describe(x)
            raise ValueError(f"BatchNorm({channels}) expects input of shape (N, {channels}) or "
                             f"(N, {channels}, H, W), got {got}")
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)          # statistics over all but the channel axis
        self.shape = (1, channels) + (1,) * (x.ndim - 2)        # to broadcast per-channel values
        self.count = x.size // channels                         # m: values per channel
        self.training = training
        if training:
            if self.batch_group is not None:      # fit(threads=N): count every replica's rows
                self.count = int(self.batch_group.sum(self.replica, np.array([float(self.count)]))[0])
            if self.count < 2:
                raise ValueError(f"BatchNorm({channels}) needs more than one value per channel in training, "
                                 f"got input of shape {x.shape}")
            if self.batch_group is None:
                mean = x.mean(axis=self.axes)                                # μ_B
                centered = x - mean.reshape(self.shape)
                variance = np.square(centered).mean(axis=self.axes)          # σ²_B (biased)
            else:                     # fit(threads=N): the batch's rows are spread over replicas
                mean = self._batch_sum(x) / self.count                  # μ_B over every replica's rows
                centered = x - mean.reshape(self.shape)
                variance = self._batch_sum(np.square(centered)) / self.count    # σ²_B
            momentum = self.momentum
            self.running_mean *= 1 - momentum
            self.running_mean += momentum * mean                 # running ← (1 − m)·running + m·μ_B
            self.running_var *= 1 - momentum
            self.running_var += momentum * variance * (self.count / (self.count - 1))   # unbiased σ²
        else:
            centered = x - self.running_mean.reshape(self.shape)
            variance = self.running_var
        self.inverse_std = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)    # 1 / √(σ² + ε)
        self.x_hat = centered * self.inverse_std.reshape(self.shape)          # x̂ = (x − μ) / √(σ² + ε)
        gamma, beta = self.weight.value.reshape(self.shape), self.bias.value.reshape(self.shape)
        return self.x_hat * gamma + beta                                      # y = γ x̂ + β

    def backward(self, grad_output):
        grad_bias = grad_output.sum(axis=self.axes)                        # Σ dL/dy
        grad_weight = (grad_output * self.x_hat).sum(axis=self.axes)       # Σ dL/dy · x̂
        self.bias.grad += grad_bias                                        # dL/dβ = Σ dL/dy
        self.weight.grad += grad_weight                                    # dL/dγ = Σ dL/dy · x̂
        scale = (self.weight.value * self.inverse_std).reshape(self.shape)  # γ / √(σ² + ε)
        if not self.training:
            return grad_output * scale        # statistics fixed: dL/dx = dL/dy · γ / √(σ² + ε)
        # μ_B and σ²_B depend on x too; with m values per channel, the full derivative is
        # dL/dx = γ / √(σ² + ε) · (dL/dy − Σ dL/dy / m − x̂ · Σ (dL/dy · x̂) / m)
        if self.batch_group is not None:
            # fit(threads=N): the sums run over the whole batch. Each replica's dL/dy is the
            # gradient of its own mean loss, n / n_i times its share of the batch's: weight by
            # n_i / n to add them up, and scale back for this replica's rows.
            sums = self.batch_group.sum(self.replica, np.stack([grad_bias, grad_weight]) * self.batch_weight)
            grad_bias, grad_weight = (sums / self.batch_weight).astype(grad_output.dtype)
        mean_grad = (grad_bias / self.count).reshape(self.shape)
        mean_grad_x_hat = (grad_weight / self.count).reshape(self.shape)
        return scale * (grad_output - mean_grad - self.x_hat * mean_grad_x_hat)

    def _batch_sum(self, values):
        """Σ of `values` over the batch axes and over every replica's rows (fit(threads=N))."""
        local = values.sum(axis=self.axes, dtype=np.float64)
        return self.batch_group.sum(self.replica, local).astype(values.dtype)
