"""`Sequential`: a stack of layers, trained by backpropagation; `load` reads one back.

>>> net = Sequential(Dense(2, 4), Tanh(), Dense(4, 1), Sigmoid(), seed=0)
>>> history = net.fit(X, y, loss=BinaryCrossEntropy(), optimizer=Adam(0.05), epochs=500, verbose=0)
>>> net.predict(X)
>>> net.save("xor.npz"); same = load("xor.npz")
"""

import sys
import warnings

import numpy as np

from . import serialization, training
from ._checks import as_float_array, as_index_array, describe, positive_int, rng_from_seed
from .losses import CrossEntropy
from .metrics import predicted_classes
from .nn.base import Layer, check_layer, check_registered, gather_parameters
from .nn.core import Dense, Standardize


PREDICT_BATCH = 2048      # rows per forward pass in predict when no batch_size is given


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
        try:
            known = np.dtype(dtype) in (np.float32, np.float64)
        except TypeError:
            known = False
        if not known:
            raise ValueError(f"dtype must be float32 or float64, got {describe(dtype)}")
        _check_widths(layers)
        self.layers = list(layers)
        self.dtype = np.dtype(dtype)
        self.rng = rng_from_seed(seed)
        for layer in self.layers:
            layer.build(self.rng, self.dtype)
        self._parameters = [p for layer in self.layers for p in layer.parameters()]
        self.flat_parameter = gather_parameters(self._parameters, self.dtype)
        self._first_trainable = next((i for i, layer in enumerate(self.layers) if layer.parameters()), 0)
        self.loss = None
        self.optimizer = None
        self.classes = None      # class names for the output columns, kept in the model file
        self.input_range = None  # (lowest, highest) entry of the inputs of the last fit, kept too
        self.input_shape = None  # one sample's shape in the last forward pass (for summary)

    def __setstate__(self, state):
        """After pickle or copy.deepcopy each parameter holds its own array instead of a view
        of the shared buffer: gather them into one buffer again (older pickles: their classes
        are the property's, their input range unknown)."""
        state = {"input_range": None, "input_shape": None, **state,
                 "_classes": state.get("_classes", state.pop("classes", None))}
        self.__dict__.update(state)
        self.flat_parameter = gather_parameters(self._parameters, self.dtype)

    @property
    def classes(self):
        """The output classes' names (saved with the model, given by `predict_classes`), or
        None. Assigned as a list, tuple or 1-D array of distinct str or int names, one per
        output column (two for a single column), checked then (TypeError, ValueError) or, when
        the output width is unknown until an input is, by `predict_classes`."""
        return self._classes

    @classes.setter
    def classes(self, names):
        self._classes = None if names is None else self._check_classes(names, self._output_width())

    # --- the network as a function -----------------------------------------------------

    def forward(self, x, training=False, upto=None):
        """Run every layer on a batch ``x`` and return the output of the last one.

        ``upto=k`` runs only the first k layers, ``layers[:k]``, and returns the output of
        ``layers[k - 1]`` (the scikit-learn estimators train on the logits before the output
        activation this way); None runs them all.
        """
        self.input_shape = x.shape[1:]
        for layer in self.layers[:upto]:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_output, input_grad=True, upto=None):
        """Backpropagate dL/d(output) through every layer, filling each ``Parameter.grad``;
        return dL/d(input).

        Training needs no dL/d(input): with ``input_grad=False`` backpropagation stops at the
        first layer that has parameters, which skips that layer's largest product (for a
        784-256 first layer, its largest product), and returns None.
        ``upto=k`` goes with ``forward(..., upto=k)``: ``grad_output`` is then dL/d(output of
        ``layers[k - 1]``) and backpropagation starts there.
        """
        stop = 0 if input_grad else self._first_trainable
        last = len(self.layers) if upto is None else upto
        for index in range(last - 1, stop - 1, -1):
            layer = self.layers[index]
            layer.needs_input_grad = input_grad or index > stop
            grad_output = layer.backward(grad_output)
        return grad_output if input_grad else None

    def zero_grad(self):
        """Set every parameter gradient to zero (gradients accumulate in ``backward``)."""
        self.flat_parameter.grad.fill(0)             # one pass: every grad is a view into this buffer

    def parameters(self):
        """The trainable parameters in layer order (each layer's weight, then its bias)."""
        return list(self._parameters)

    def state_dict(self):
        """Every array the model needs, by name ``"<layer index>.<name>"`` (tinygrad's style):
        the parameter values, then non-trainable buffers such as running statistics."""
        state = {}
        for index, layer in enumerate(self.layers):
            for name, parameter in layer.named_parameters().items():
                state[f"{index}.{name}"] = parameter.value
            for name, buffer in layer.get_buffers().items():
                state[f"{index}.{name}"] = buffer
        return state

    def load_state_dict(self, state):
        """Copy values from a dict shaped like `state_dict()` into the parameters."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of name -> array, got {describe(state)}")
        own = self.state_dict()
        if set(state) != set(own):
            missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise ValueError(f"state dict does not match the model: missing {missing}, unexpected {unexpected}")
        checked = {}                       # check every entry before writing any
        for name, value in own.items():
            new = np.asarray(state[name])
            if new.shape != value.shape:
                raise ValueError(f"state dict entry {name!r} has shape {new.shape}, the model expects {value.shape}")
            checked[name] = as_float_array(f"state dict entry {name!r}", new, value.dtype)
        for name, value in own.items():
            value[...] = checked[name]

    def get_config(self):
        """The architecture as JSON-friendly values: the layers' classes and arguments, the
        class names, and the training inputs' range when a `fit` recorded one."""
        config = {"dtype": self.dtype.name,
                  "classes": self.classes,
                  "layers": [{"class": check_registered(layer), "config": layer.get_config()}
                             for layer in self.layers]}
        if self.input_range is not None:
            config["input_range"] = list(self.input_range)
        return config

    # --- training --------------------------------------------------------------------------

    def fit(self, X, y, loss, optimizer, epochs=1, batch_size=32, shuffle=True, verbose=1,
            validation_data=None, validation_split=0.0, metrics=None, callbacks=None, resume_from=None,
            threads="auto", distributed=None, shard=False):
        """Train on (X, y) by mini-batch gradient descent; return a `History`.

        - ``loss``, ``optimizer``: instances (``sn.CrossEntropy()``, ``sn.Adam(1e-3)``) or names.
        - ``batch_size=None`` uses the whole data set at each step (the blog's full batch).
          With ``shuffle=True`` the order is drawn afresh each epoch from the model's seed.
        - ``validation_data=(X_val, y_val)``, or ``validation_split=0.1`` to hold out 10% of the
          rows, shuffled with the seed and stratified for class labels; logs ``val_*``.
        - ``metrics=["accuracy"]`` (also "mae", "mse"); ``callbacks=[EarlyStopping(...), ...]``.
        - ``verbose``: 0 silent, 1 a progress bar on a terminal, 2 one line per epoch (see
          `ProgressLogger` for what prints where stderr is not a terminal).
        - ``resume_from=path``: continue from a `ModelCheckpoint` file up to ``epochs`` in all,
          exactly as if training had never stopped (same seed, same data, same arguments).
        - ``threads=2``: split each batch over 2 threads, one replica of the network each, and
          sum their gradients (`scratchnn.training.parallel`; needs threadpoolctl; BatchNorm
          still uses the whole batch's statistics). The same gradient up to rounding.
          ``"auto"`` (the default, as the command line's): one thread per core for a network
          with a convolution (at most one per 64 rows of a batch) or a recurrent or attention
          layer (one per 32 sequences), when threadpoolctl is
          installed (`training.parallel.automatic_threads`); otherwise, and with None or 1,
          one thread, BLAS as configured. The same machine (core count) and thread count give
          the same bits; pass ``threads=1`` for results that do not depend on the machine.
        - ``distributed="mpi"``: under ``mpirun -n N``, every rank runs the script and computes
          its part of each batch; one all-reduce adds the gradients (`training.distributed`,
          needs scratchnn[mpi]; docs/distributed.md). Every rank passes the same (X, y), and the
          result is one process's up to rounding; or, with ``shard=True``, its own rows, and
          each step's batch is the union of the ranks' batches. Only rank 0 prints and writes.

        A loss that becomes NaN or infinite raises `DivergedError` naming the epoch and batch;
        the weights are then the last finite ones: the current weights if they are finite,
        else those at the start of that epoch.

        Once the arguments are checked, ``input_range`` becomes X's lowest and highest entry
        (saved with the model): `predict` warns about inputs far outside it.
        """
        return training.fit(self, X, y, loss, optimizer, epochs=epochs, batch_size=batch_size,
                         shuffle=shuffle, verbose=verbose, validation_data=validation_data,
                         validation_split=validation_split, metrics=metrics, callbacks=callbacks,
                         resume_from=resume_from, threads=threads, distributed=distributed, shard=shard)

    def check_data(self, X, y, loss, names=("X", "y")):
        """Validate X and y against the network and the loss before any work; return arrays
        (X in the model's dtype; y as integer labels for CrossEntropy, else as floats)."""
        x_name, y_name = names
        X = self.as_inputs(x_name, X)
        if X.ndim < 2:
            raise ValueError(f"{x_name} must have shape (n_samples, n_features), got shape {X.shape}")
        outputs = self._output_of(x_name, X[:1])
        y_array = np.asarray(y)
        if y_array.ndim == 0 or len(y_array) != len(X):
            raise ValueError(f"{x_name} and {y_name} must have the same number of samples, got "
                             f"{x_name} of shape {X.shape} and {y_name} of shape {y_array.shape}")
        if isinstance(loss, CrossEntropy) and y_array.ndim == outputs.ndim - 1:      # labels (N,), (N, T)
            as_float_array(y_name, y_array, np.float64)               # numeric and finite
            return X, loss.check_targets(np.broadcast_to(outputs, (len(X),) + outputs.shape[1:]), y_array)
        y = as_float_array(y_name, y_array, self.dtype)
        if y.ndim == 1 and outputs.shape[1:] == (1,):
            y = y.reshape(-1, 1)
        if y.shape[1:] != outputs.shape[1:]:
            raise ValueError(f"{y_name} has shape {y.shape} but the network outputs shape "
                             f"(N, {', '.join(map(str, outputs.shape[1:]))})")
        try:                                # the loss's own rules, e.g. targets in [0, 1]
            y = loss.check_targets(np.broadcast_to(outputs, y.shape), y)
        except ValueError as error:
            raise ValueError(f"{y_name}: {error}") from None
        return X, y

    def as_inputs(self, name, X):
        """X checked and converted for the first layer: floats in the model's dtype, or, for a
        first layer that ``takes_indices`` (Embedding), integer indices it has checked."""
        first = self.layers[0]
        if getattr(first, "takes_indices", False):
            return first.check_indices(name, as_index_array(name, X))
        return as_float_array(name, X, self.dtype)

    def _output_of(self, name, sample):
        try:
            return self.forward(sample, training=False)
        except ValueError as error:
            raise ValueError(f"{name} of shape (N, {', '.join(map(str, sample.shape[1:]))}) "
                             f"does not fit the network: {error}") from None

    # --- using a trained network -------------------------------------------------------------

    def predict(self, X, batch_size=None):
        """The network's outputs for X (inference mode: dropout off).

        Rows go through in batches of ``batch_size``; None means batches of
        `PREDICT_BATCH` (2048) rows, which keeps a CNN's activations for 10,000 images from
        needing gigabytes, and keeps an MLP's batch in the CPU cache.

        A UserWarning (once a call) when X reaches beyond ``input_range``, the training
        inputs' [low, high], by more than its width (or by max(|low|, 1) if low = high), as raw
        0-255 pixels do for a model trained on pixels / 255.
        """
        X = self.as_inputs("X", X)
        batch_size = positive_int("batch_size", batch_size, allow_none=True) or PREDICT_BATCH
        if X.ndim < 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got shape {X.shape}")
        if self.input_range is not None and X.dtype.kind == "f":     # (indices are checked above)
            _warn_if_far_outside(X, self.input_range)
        if batch_size >= len(X):
            return self._output_of("X", X)          # inference changes nothing: no dry run needed
        return np.concatenate([self._output_of("X", X[start:start + batch_size])
                               for start in range(0, len(X), batch_size)])

    def evaluate(self, X, y, loss=None, metrics=None, batch_size=None):
        """The mean loss over (X, y), in inference mode; with ``metrics=["accuracy", ...]`` a
        dict {"loss": ..., "accuracy": ...}. ``loss`` defaults to the one of the last `fit`."""
        return training.evaluate(self, X, y, loss=loss, metrics=metrics, batch_size=batch_size)

    def predict_classes(self, X, batch_size=None):
        """Predicted class for each row (each step of a sequence model's (N, T, C) outputs):
        argmax of the outputs (or output > 0.5 for a single output column), mapped to
        ``self.classes`` when the model has class names (ValueError if their number does not
        fit the outputs)."""
        outputs = self.predict(X, batch_size=batch_size)
        if self.classes is None:
            return predicted_classes(outputs)
        self._check_classes(self.classes, outputs.shape[-1] if outputs.ndim >= 2 else None)
        return np.asarray(self.classes)[predicted_classes(outputs)]

    def summary(self, file=None, input_shape=None):
        """Print each layer, its output shape and its number of parameters.

        ``input_shape`` is one sample's shape, e.g. ``(1, 28, 28)``; None uses the shape of
        the last input the network saw, or the shape a first Standardize layer takes (a Dense
        layer's input width is known wherever it stands).
        Shapes print with None for the batch axis; "?" where no input shape is known.
        """
        file = file or sys.stdout
        if not callable(getattr(file, "write", None)):
            raise TypeError(f"file must be a writable text stream such as sys.stdout, got {describe(file)}")
        rows = []
        for index, (layer, shape) in enumerate(zip(self.layers, self.output_shapes(input_shape))):
            shape = "?" if shape is None else "(" + ", ".join(map(str, shape)) + ")"
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

    def output_shapes(self, input_shape=None):
        """Each layer's output shape (batch axis None) for samples of `input_shape`, as in
        `summary`; None for a layer whose input shape is unknown. ValueError if the shape
        does not fit the network, naming the layer."""
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None and isinstance(self.layers[0], Standardize):
            input_shape = self.layers[0].shape
        if input_shape is not None:
            if not isinstance(input_shape, (tuple, list)) or not all(
                    isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_shape):
                raise ValueError(f"input_shape must be one sample's shape, a tuple of positive ints such as "
                                 f"(1, 28, 28), got {describe(input_shape)}")
        shape = None if input_shape is None else (None, *map(int, input_shape))
        shapes = []
        for index, layer in enumerate(self.layers):
            if shape is None and isinstance(layer, Dense):
                shape = (None, layer.in_features)
            if shape is not None:
                try:
                    shape = tuple(layer.output_shape(shape))
                except ValueError as error:
                    raise ValueError(f"input_shape {tuple(input_shape or ())} does not fit layer {index}: "
                                     f"{error}") from None
            shapes.append(shape)
        return shapes

    def _output_width(self):
        try:
            last = self.output_shapes()[-1]
        except ValueError:             # the last input's shape no longer fits: width unknown
            return None
        return last[1] if last is not None and len(last) == 2 else None

    @staticmethod
    def _check_classes(names, width):
        """`names` as a list of str/int class names, for `width` output columns (None: unknown)."""
        if isinstance(names, np.ndarray) and names.ndim == 1:
            names = names.tolist()
        if not isinstance(names, (list, tuple)):
            raise TypeError(f"classes must be a list of class names (str or int), one per output, or None, "
                            f"got {describe(names)}")
        checked = []
        for index, name in enumerate(names):
            if isinstance(name, (np.str_, np.integer)):
                name = name.item()
            if not isinstance(name, (str, int)):
                raise TypeError(f"classes[{index}] must be a str or int name (saved as JSON), got "
                                f"{describe(name)}; give every class its name, e.g. sn.datasets.FASHION_MNIST_CLASSES")
            if name in checked:
                raise ValueError(f"classes has {name!r} twice (at {checked.index(name)} and {index}): one name a class")
            checked.append(name)
        if width is not None and len(checked) != (2 if width == 1 else width):
            expected = "2 names (output > 0.5 means the second)" if width == 1 else f"{width} names, one per output"
            raise ValueError(f"classes has {len(checked)} names, but the network has {width} output "
                             f"column{'s' if width != 1 else ''}: give {expected}")
        return checked

    def save(self, path):
        """Save the architecture and weights to one ``.npz`` file (no pickle), atomically."""
        serialization.save(self, path)

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n    {inner},\n    dtype={self.dtype.name})"


def _warn_if_far_outside(X, input_range):
    """A UserWarning when X reaches beyond `input_range` by more than its width (see predict)."""
    low, high = input_range
    margin = high - low if high > low else max(abs(low), 1.0)
    seen_low, seen_high = float(X.min()), float(X.max())
    if seen_low < low - margin or seen_high > high + margin:
        hint = " (pixels in 0-255 for a model trained on 0-1? divide them by 255)" if high <= 1 < seen_high else ""
        warnings.warn(f"X holds values from {seen_low:.4g} to {seen_high:.4g}, far outside the range the model "
                      f"was trained on, {low:.4g} to {high:.4g}: give inputs scaled as the training data "
                      f"were{hint}", UserWarning, stacklevel=3)


def _check_widths(layers):
    """Raise, before anything is built, if a layer cannot take the (N, width) rows, or the
    (N, T, width) sequences, that a Dense layer before it outputs (Dense keeps its input's
    leading axes): the width is followed through every layer that states its output shape in
    closed form (`Layer.output_shape`), and forgotten at one that does not (whose default
    would need the layer built) or that outputs more than rows."""
    width, source = None, None
    for index, layer in enumerate(layers):
        if isinstance(layer, Dense):
            if width is not None and layer.in_features != width:
                raise ValueError(f"layer {index} {layer!r} expects {layer.in_features} inputs, but "
                                 f"layer {source} outputs {width}")
            width, source = layer.out_features, index
        elif width is not None:
            if type(layer).output_shape is Layer.output_shape:
                width = None
                continue
            try:
                shape = layer.output_shape((None, width))
            except ValueError as error:
                try:                                              # sequences (N, T, width)?
                    shape = layer.output_shape((None, None, width))
                except ValueError:
                    raise ValueError(f"layer {index} {layer!r} cannot take the output of layer {source} "
                                     f"(N, {width}): {error}") from None
            if len(shape) != 2 or shape[1] != width:               # the layer that set the width is named
                width, source = (shape[1] if len(shape) == 2 else None), index


def load(path):
    """Load a model saved with `save` / `Sequential.save` (or a checkpoint); return a `Sequential`.

    Only layer classes already defined in this process can be named by the file (see
    `scratchnn.serialization`); anything else is a ValueError naming the file and the problem.
    """
    config, weights, _ = serialization.read_model_file(path)
    return from_model_file(path, config, weights)


def from_model_file(source, config, weights, seed=None):
    """The `Sequential` that a checked model file's configuration and weights describe
    (`scratchnn.serialization.check_model_arrays`); errors name `source`."""
    model = Sequential(*serialization.build_layers(source, config), dtype=config["dtype"], seed=seed)
    try:
        model.classes = config.get("classes")                     # checked by the property
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source!r}: {error}") from None
    model.input_range = serialization.check_input_range(source, config.get("input_range"))
    try:
        model.load_state_dict(weights)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source!r}: {error}") from None
    return model
