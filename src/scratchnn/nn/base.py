"""The layer protocol: `Parameter`, `Layer`, and the registry of layer classes.

Every layer follows one protocol (the nnfs book's, completed):

- ``build(rng, dtype)`` creates the parameters (`Sequential` calls it in layer order, so the
  random draws happen in the order of a hand-written script);
- ``forward(x, training=False)`` computes the output and keeps what backward will need;
- ``backward(grad_output)`` receives dL/d(output), adds dL/d(parameter) into each
  ``Parameter.grad`` and returns dL/d(input);
- ``named_parameters()`` and ``get_buffers()`` list the trained and the saved-but-not-trained
  arrays, ``get_config()`` the constructor arguments, ``output_shape(input_shape)`` the shape
  that ``forward`` returns.

A layer class is known by being defined: subclassing `Layer` registers the class under its
name, so a model file can name it and `scratchnn.load` can rebuild it, in any process that
has defined it. Nothing else can be named: a file never makes us import or unpickle anything.
"""

import numpy as np

from .._checks import describe

_REGISTRY = {}      # class name -> Layer subclass, filled by Layer.__init_subclass__


def layer_class(name):
    """The layer class registered under `name`; ValueError naming the known ones otherwise."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown layer type {describe(name)}; known types: {', '.join(sorted(_REGISTRY))} "
                         "(a layer class of your own must be defined before a model that uses it is loaded)")
    return _REGISTRY[name]


def check_registered(layer):
    """Raise a ValueError unless the registry gives `layer`'s own class for its name (what
    saving needs: a file names classes by name, and loading must build the same class)."""
    cls, name = type(layer), type(layer).__name__
    if name.startswith("_"):
        raise ValueError(f"cannot save a {cls.__module__}.{cls.__qualname__} layer: a class whose name starts "
                         "with '_' is private and not registered; give it a public name")
    known = _REGISTRY.get(name)
    if known is not cls:
        where = f"{known.__module__}.{known.__qualname__}" if known else "no class"
        raise ValueError(f"cannot save a {cls.__module__}.{cls.__qualname__} layer: model files name layer "
                         f"classes by name, and {name!r} names {where}; give the class a name of its own")
    return name


def registered_layers():
    """Every registered layer class, by name (a copy: the registry changes only by subclassing)."""
    return dict(_REGISTRY)


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


def gather_parameters(parameters, dtype):
    """Move all parameters into one flat buffer (and their grads into another); each
    ``Parameter.value`` / ``.grad`` becomes a view of its slice. Return a Parameter over the
    whole buffers.

    Every optimizer here updates each number independently, so one step over the flat buffer
    gives the same numbers as one step per parameter, with a few large NumPy calls instead of
    many small ones. Zeroing the gradients is one call too.
    """
    total = sum(p.value.size for p in parameters)
    everything = Parameter(np.empty(total, dtype=dtype), name="all")
    for parameter, part in zip(parameters, flat_slices(parameters)):
        shape = parameter.value.shape
        everything.value[part] = parameter.value.reshape(-1)
        parameter.value = everything.value[part].reshape(shape)
        parameter.grad = everything.grad[part].reshape(shape)
    return everything


def flat_slices(parameters):
    """Where each parameter lies in the flat buffer of `gather_parameters`: a list of slices,
    one per parameter, in order."""
    slices, offset = [], 0
    for parameter in parameters:
        slices.append(slice(offset, offset + parameter.value.size))
        offset += parameter.value.size
    return slices


class Layer:
    """Base class of every layer; the defaults fit a layer without parameters.

    Subclasses write ``forward`` and ``backward``; a layer with parameters creates them in
    ``build`` with `add_parameter` (then ``named_parameters`` lists them without more code),
    a layer with saved statistics registers them with `add_buffer`. A layer that changes the
    shape of its input says how in ``output_shape``; the default runs ``forward`` on one
    sample of zeros.

    ``needs_input_grad`` is set to False by `Sequential.backward` on a first layer whose
    dL/d(input) nobody will read; layers may then skip computing it and return None.
    ``uses_batch_statistics`` is True for layers whose training output depends on the whole
    batch (BatchNorm): training refuses a batch of one row for them, and data-parallel
    training hands them a reduction context (`set_reduction`).
    """

    needs_input_grad = True
    uses_batch_statistics = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        if name.startswith("_"):                # private helpers (shared bases) are not layers
            return
        known = _REGISTRY.get(name)
        if known is None or (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__):
            _REGISTRY[name] = cls               # redefinition in the same place (a re-run cell) replaces
        # else another class has the name: this one works, but cannot be saved (`check_registered`)

    # --- building ----------------------------------------------------------------------------

    def build(self, rng, dtype):
        """Create parameters (none here) and keep what the layer needs; called by Sequential.
        Building again (a copy put in another network) starts the registered arrays afresh."""
        self.dtype = np.dtype(dtype)
        self.__dict__.pop("_parameters", None)
        self.__dict__.pop("_buffers", None)

    def add_parameter(self, name, value):
        """Register a trained array under `name` (as ``named_parameters`` lists it) and
        return its `Parameter`; call in ``build``, after ``super().build(rng, dtype)``, in the
        order the parameters should have (`Sequential` gathers them right after ``build``)."""
        parameter = Parameter(np.asarray(value, dtype=self._building("add_parameter", name)), name=name)
        self.__dict__.setdefault("_parameters", {})[name] = parameter
        return parameter

    def add_buffer(self, name, value):
        """Register an array that is saved with the model but not trained (such as running
        statistics) under `name` and return it; call in ``build`` like `add_parameter`.
        `Sequential.load_state_dict` writes into it in place."""
        buffer = np.array(value, dtype=self._building("add_buffer", name))
        self.__dict__.setdefault("_buffers", {})[name] = buffer
        return buffer

    def _building(self, method, name):
        """The dtype being built, after checking that `name` is new in this layer."""
        if "dtype" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.{method}({name!r}) must be called in build(rng, dtype), "
                               "after super().build(rng, dtype)")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{method} needs a name like 'weight' (letters, digits, _), got {describe(name)}")
        taken = {**self.__dict__.get("_parameters", {}), **self.__dict__.get("_buffers", {})}
        if name in taken:
            raise ValueError(f"{type(self).__name__} already has a parameter or buffer named {name!r}: "
                             "the state dict names each array once")
        return self.dtype

    # --- the protocol ------------------------------------------------------------------------

    def forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} must define forward(x, training=False)")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} must define backward(grad_output)")

    def named_parameters(self):
        """The layer's parameters as a dict name -> Parameter, in a fixed order."""
        return dict(self.__dict__.get("_parameters", {}))

    def parameters(self):
        """The layer's parameters as a list, in a fixed order (weight, then bias)."""
        return list(self.named_parameters().values())

    def get_buffers(self):
        """Arrays that are saved with the model but not trained (e.g. running statistics),
        as a dict name -> array (the arrays themselves); `Sequential.load_state_dict` writes
        into them in place."""
        return dict(self.__dict__.get("_buffers", {}))

    def get_config(self):
        """The constructor arguments, as JSON-friendly values (used for saving)."""
        return {}

    def output_shape(self, input_shape):
        """The shape of ``forward``'s output for an input of `input_shape` (batch axis first,
        None allowed for it). The default runs ``forward`` on one sample of zeros, in
        inference mode; layers override it with the closed form."""
        sample = np.zeros((1, *input_shape[1:]), dtype=getattr(self, "dtype", np.float64))
        return (input_shape[0], *self.forward(sample, training=False).shape[1:])

    def set_rng(self, rng):
        """Hand the layer the generator it draws from in training (Dropout's masks); a copy
        of the network for another thread gets its own. The default replaces an ``rng``
        attribute kept from ``build`` (the first release's convention, which Dropout follows);
        layers that keep none draw nothing and ignore it."""
        if "rng" in self.__dict__:
            self.rng = rng

    def set_reduction(self, reduction):
        """Hand the layer a `Reduction`: how to sum over the whole batch when its rows are
        split over replicas (threads, or MPI ranks). Only layers with
        ``uses_batch_statistics`` use it; None puts back the local default."""

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Reduction:
    """Sums over the whole batch for a layer that sees only its own rows of it.

    ``sum(array)`` adds `array` over every replica that holds a part of the batch (each gets
    the same bits); ``share`` is this replica's fraction n_i / n of the batch's rows (its
    gradients are of its own mean loss, so they weigh n_i / n in the batch's). This local one
    is the whole batch: the sum is the array itself and the share 1. Data-parallel training
    (`scratchnn.training.parallel`) hands replicas one that reaches the others.
    """

    share = 1.0

    def sum(self, array):
        return array


class _Local(Reduction):
    """The local reduction; copies and pickles of a layer keep this one object."""

    def __reduce__(self):
        return "LOCAL"


LOCAL = _Local()


def check_layer(name, layer):
    """Raise a TypeError unless `layer` follows the layer protocol."""
    if not isinstance(layer, Layer):
        raise TypeError(f"{name} must be a scratchnn layer (e.g. Dense, ReLU), got {describe(layer)}")
    return layer


def not_built(layer):
    """The RuntimeError for a layer used before `build`."""
    return RuntimeError(f"{type(layer).__name__} is not built: put it in a Sequential or call build(rng, dtype)")
