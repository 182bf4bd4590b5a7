"""`Sequential`: a stack of layers, trained by backpropagation.

>>> net = Sequential(Dense(2, 4), Tanh(), Dense(4, 1), Sigmoid(), seed=0)
>>> history = net.fit(X, y, loss=BinaryCrossEntropy(), optimizer=Adam(0.05), epochs=500, verbose=0)
>>> net.predict(X)
"""

import math
import sys

import numpy as np

from . import io
from ._checks import as_float_array, describe, positive_int, rng_from_seed
from .callbacks import History
from .layers import Dense, Flatten, Parameter, check_layer
from .losses import CrossEntropy, get_loss
from .optim import get_optimizer


class DivergedError(RuntimeError):
    """Training produced a loss that is NaN or infinite; the model keeps its last finite weights."""


class Sequential:
    """Layers applied one after the other: ``y = layer_n(... layer_2(layer_1(x)))``.

    ``seed`` is None, an int (seeds a `np.random.Generator`), a `np.random.Generator` or a
    `np.random.RandomState`; it drives weight initialization (layer by layer, in order),
    shuffling and dropout. ``dtype`` is float32 (default) or float64.

    >>> net = Sequential(Dense(2, 2, init="uniform"), Sigmoid(), Dense(2, 1, init="uniform"),
    ...                  Sigmoid(), seed=np.random.RandomState(0), dtype=np.float64)
    """

    def __init__(self, *layers, seed=None, dtype=np.float32):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Sequential needs at least one layer, got none")
        for index, layer in enumerate(layers):
            check_layer(f"layer {index}", layer)
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {describe(dtype)}")
        _check_widths(layers)
        self.layers = list(layers)
        self.dtype = np.dtype(dtype)
        self.rng = rng_from_seed(seed)
        for layer in self.layers:
            layer.build(self.rng, self.dtype)
        self._parameters = [p for layer in self.layers for p in layer.parameters()]
        self._all = _gather(self._parameters, self.dtype)
        self.loss = None
        self.optimizer = None

    # --- the network as a function -----------------------------------------------------

    def forward(self, x, training=False):
        """Run every layer on a batch ``x`` and return the output of the last one."""
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_output):
        """Backpropagate dL/d(output) through every layer, filling each ``Parameter.grad``;
        return dL/d(input)."""
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def zero_grad(self):
        """Set every parameter gradient to zero (gradients accumulate in ``backward``)."""
        self._all.grad.fill(0)             # one pass: every grad is a view into this buffer

    def parameters(self):
        """The trainable parameters in layer order (each layer's weight, then its bias)."""
        return list(self._parameters)

    def state_dict(self):
        """Parameter values by name, ``"<layer index>.<name>"`` -> array (tinygrad's style)."""
        return {f"{index}.{name}": parameter.value
                for index, layer in enumerate(self.layers)
                for name, parameter in layer.named_parameters().items()}

    def load_state_dict(self, state):
        """Copy values from a dict shaped like `state_dict()` into the parameters."""
        own = self.state_dict()
        if set(state) != set(own):
            missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise ValueError(f"state dict does not match the model: missing {missing}, unexpected {unexpected}")
        for name, value in own.items():
            new = np.asarray(state[name])
            if new.shape != value.shape:
                raise ValueError(f"state dict entry {name!r} has shape {new.shape}, the model expects {value.shape}")
        for name, value in own.items():
            value[...] = state[name]

    def get_config(self):
        """The architecture as JSON-friendly values: the layers' classes and arguments."""
        return {"dtype": self.dtype.name,
                "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}

    # --- training --------------------------------------------------------------------------

    def fit(self, X, y, loss, optimizer, epochs=1, batch_size=32, shuffle=True, verbose=1):
        """Train on (X, y) by mini-batch gradient descent; return a `History`.

        ``batch_size=None`` uses the whole data set at each step (the blog's full batch).
        With ``shuffle=True`` the order is drawn afresh each epoch from the model's seed.
        ``verbose``: 0 silent, 1 a progress line now and then, 2 one line per epoch.
        A loss that becomes NaN or infinite raises `DivergedError` naming the epoch and batch;
        the weights are then the last finite ones.
        """
        loss, optimizer = get_loss(loss), get_optimizer(optimizer)
        epochs = positive_int("epochs", epochs)
        batch_size = positive_int("batch_size", batch_size, allow_none=True)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False, got {describe(shuffle)}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {describe(verbose)}")
        X, y = self._check_data(X, y, loss)
        self.loss, self.optimizer = loss, optimizer

        history = History()
        n_samples = X.shape[0]
        batch_size = n_samples if batch_size is None else min(batch_size, n_samples)
        last_finite = np.empty_like(self._all.value)
        # Overflow shows up as a non-finite loss, which stops training with a clear error
        # below; NumPy's own overflow warnings would only repeat it less clearly.
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(epochs):
                order = self.rng.permutation(n_samples) if shuffle else None
                total = 0.0
                for batch, start in enumerate(range(0, n_samples, batch_size)):
                    if batch_size == n_samples and order is None:
                        X_batch, y_batch = X, y
                    elif order is None:
                        X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
                    else:
                        rows = order[start:start + batch_size]
                        X_batch, y_batch = X[rows], y[rows]
                    value = loss.forward(self.forward(X_batch, training=True), y_batch)
                    if not math.isfinite(value):
                        if not np.all(np.isfinite(self._all.value)):
                            np.copyto(self._all.value, last_finite)
                        raise DivergedError(
                            f"loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training "
                            "stopped with the last finite weights (try a smaller learning_rate)")
                    total += float(value) * X_batch.shape[0]
                    self.zero_grad()
                    self.backward(loss.backward())
                    np.copyto(last_finite, self._all.value)
                    optimizer.step([self._all])    # one update over all weights at once, see _gather
                history.append(epoch, {"loss": total / n_samples})
                if verbose:
                    _report(epoch, epochs, history, verbose)
        return history

    def _check_data(self, X, y, loss):
        """Validate X and y against the network and the loss before any work; return arrays."""
        X = as_float_array("X", X, self.dtype)
        if X.ndim < 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got shape {X.shape}")
        outputs = self._output_of("X", X[:1])
        y_array = np.asarray(y)
        if y_array.ndim == 0 or len(y_array) != len(X):
            raise ValueError(f"X and y must have the same number of samples, got X of shape "
                             f"{X.shape} and y of shape {y_array.shape}")
        if isinstance(loss, CrossEntropy) and y_array.ndim == 1:
            as_float_array("y", y_array, np.float64)                  # numeric and finite
            return X, loss.check_targets(np.broadcast_to(outputs, (len(X),) + outputs.shape[1:]), y_array)
        y = as_float_array("y", y_array, self.dtype)
        if y.ndim == 1 and outputs.shape[1:] == (1,):
            y = y.reshape(-1, 1)
        if y.shape[1:] != outputs.shape[1:]:
            raise ValueError(f"y has shape {y.shape} but the network outputs shape "
                             f"(N, {', '.join(map(str, outputs.shape[1:]))})")
        return X, y

    def _output_of(self, name, sample):
        try:
            return self.forward(sample, training=False)
        except ValueError as error:
            raise ValueError(f"{name} of shape (N, {', '.join(map(str, sample.shape[1:]))}) "
                             f"does not fit the network: {error}") from None

    # --- using a trained network -------------------------------------------------------------

    def predict(self, X, batch_size=None):
        """The network's outputs for X (inference mode: dropout off), in batches if asked."""
        X = as_float_array("X", X, self.dtype)
        batch_size = positive_int("batch_size", batch_size, allow_none=True)
        if X.ndim < 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got shape {X.shape}")
        self._output_of("X", X[:1])
        if batch_size is None or batch_size >= len(X):
            return self.forward(X, training=False)
        return np.concatenate([self.forward(X[start:start + batch_size], training=False)
                               for start in range(0, len(X), batch_size)])

    def evaluate(self, X, y, loss=None, batch_size=None):
        """The mean loss over (X, y); `loss` defaults to the one used by the last `fit`."""
        if loss is None and self.loss is None:
            raise ValueError("evaluate needs loss= (this model has not been trained with fit)")
        loss = get_loss(loss if loss is not None else self.loss)
        X, y = self._check_data(X, y, loss)
        batch_size = positive_int("batch_size", batch_size, allow_none=True) or len(X)
        total = 0.0
        for start in range(0, len(X), batch_size):
            stop = start + batch_size
            total += loss.forward(self.forward(X[start:stop]), y[start:stop]) * len(X[start:stop])
        return total / len(X)

    def summary(self, file=None):
        """Print each layer, its output width where known, and its number of parameters."""
        file = file or sys.stdout
        rows, width = [], None
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                width = layer.out_features
            elif isinstance(layer, Flatten):
                width = None
            shape = f"(None, {width})" if width is not None else "?"
            count = sum(p.value.size for p in layer.parameters())
            rows.append((f"{index}: {layer!r}", shape, f"{count:,}"))
        header = ("Layer", "Output shape", "Parameters")
        widths = [max(len(row[i]) for row in rows + [header]) for i in range(3)]
        line = "  ".join("{:<%d}" % w for w in widths)
        print(line.format(*header), file=file)
        print("-" * (sum(widths) + 4), file=file)
        for row in rows:
            print(line.format(*row), file=file)
        total = sum(p.value.size for p in self._parameters)
        print(f"Total parameters: {total:,} ({self.dtype.name})", file=file)

    def save(self, path):
        """Save the architecture and weights to one ``.npz`` file (no pickle), atomically."""
        io.save(self, path)

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n    {inner},\n    dtype={self.dtype.name})"


def _gather(parameters, dtype):
    """Move all parameters into one flat buffer (and their grads into another); each
    ``Parameter.value`` / ``.grad`` becomes a view of its slice. Return a Parameter over the
    whole buffers.

    Every optimizer here updates each number independently, so one step over the flat buffer
    gives the same numbers as one step per parameter, with a few large NumPy calls instead of
    many small ones. Zeroing the gradients is one call too.
    """
    total = sum(p.value.size for p in parameters)
    everything = Parameter(np.empty(total, dtype=dtype), name="all")
    offset = 0
    for parameter in parameters:
        shape, size = parameter.value.shape, parameter.value.size
        everything.value[offset:offset + size] = parameter.value.reshape(-1)
        parameter.value = everything.value[offset:offset + size].reshape(shape)
        parameter.grad = everything.grad[offset:offset + size].reshape(shape)
        offset += size
    return everything


def _check_widths(layers):
    """Raise if one Dense layer's input width differs from the previous Dense output width."""
    width, source = None, None
    for index, layer in enumerate(layers):
        if isinstance(layer, Dense):
            if width is not None and layer.in_features != width:
                raise ValueError(f"layer {index} {layer!r} expects {layer.in_features} inputs, but "
                                 f"layer {source} outputs {width}")
            width, source = layer.out_features, index
        elif isinstance(layer, Flatten):
            width = None


def _report(epoch, epochs, history, verbose):
    every = max(1, epochs // 10)
    if verbose == 2 or (epoch + 1) % every == 0 or epoch + 1 == epochs:
        logs = "  ".join(f"{name}: {values[-1]:.6g}" for name, values in history.history.items())
        print(f"epoch {epoch + 1}/{epochs}  {logs}", file=sys.stderr)
