"""Pickling an estimator's network through the checks a model file gets.

A Sequential keeps every weight as a view into one flat buffer (`nn.base.gather_parameters`). Pickle
copies views as separate arrays, so an unpickled network would train its flat buffer while
its layers read stale copies. The estimators therefore pickle the network as the arrays a
model file holds (`scratchnn.serialization`: ``__config__``, the JSON architecture with a
SHA-256 checksum per array; one array per ``state_dict()`` entry) plus, as a checkpoint
does, ``__training__`` (JSON: the random generator's state, the optimizer's class name,
arguments and step count) and ``optimizer.*`` (its state arrays). Unpickling reads them
back with the model file's checks: the configuration's format, the checksums, layers built
only from registered classes, ``load_state_dict``'s shape checks, and optimizers only from
the solvers' classes, with state arrays shaped as the optimizer's own. Anything else is a
ValueError naming the problem.
"""

import numpy as np

from .. import serialization
from .._checks import describe
from ..model import from_model_file
from ..optim import SGD, Adagrad, AdamW, RMSprop
from ..training.checkpoint import rng_state, set_rng_state
from .network import ScikitLearnAdam

SOURCE = "pickled network_"        # what error messages name where a model file's path would be
OPTIMIZERS = {cls.__name__: cls for cls in (ScikitLearnAdam, SGD, AdamW, RMSprop, Adagrad)}


def network_to_state(network, optimizer):
    """The network (and `optimizer`, if not None) as a dict of arrays: those of a model file
    of it, plus the training state (see the module's docstring). Picklable, pickle-free
    contents (no object arrays)."""
    training = {"rng": rng_state(network.rng), "optimizer": None}
    extra = {}
    if optimizer is not None:
        training["optimizer"] = {"class": type(optimizer).__name__, "config": _plain(optimizer.get_config()),
                                 "iterations": int(optimizer.iterations)}
        for key, array in optimizer.state_arrays([network.flat_parameter]).items():
            extra[f"optimizer.{key}"] = array.copy()
    extra["__training__"] = serialization.json_array(training)
    arrays = serialization.model_file_arrays(network, extra)
    return {name: array.copy() for name, array in arrays.items()}      # no views of the live network


def network_from_state(arrays):
    """Rebuild what `network_to_state` gave: (network, optimizer or None).

    ValueError if `arrays` is not such a dict, fails a checksum, names a layer class that is
    not registered or an optimizer that is not a solver's, or holds an array of the wrong
    shape."""
    if not isinstance(arrays, dict) or not all(isinstance(name, str) and isinstance(array, np.ndarray)
                                               and not array.dtype.hasobject for name, array in arrays.items()):
        raise ValueError(f"{SOURCE!r}: expected a dict of name -> numeric array (written by this "
                         "version of scratchnn.sklearn); refit the estimator")
    config, weights, state = serialization.check_model_arrays(SOURCE, arrays)
    training = serialization.read_json(SOURCE, state.get("__training__"), "__training__")
    if not isinstance(training.get("rng"), dict):
        raise ValueError(f"{SOURCE!r}: __training__ needs the random generator's state")
    try:
        rng = np.random.RandomState() if training["rng"]["kind"] == "RandomState" else np.random.default_rng()
        network = from_model_file(SOURCE, config, weights, seed=rng)
        set_rng_state(rng, training["rng"])          # after the build, which may draw from rng
    except (KeyError, TypeError) as error:
        raise ValueError(f"{SOURCE!r}: bad network or random state: {error!r}") from None
    optimizer_arrays = {name[len("optimizer."):]: array for name, array in state.items()
                        if name.startswith("optimizer.")}
    return network, _optimizer(network, training.get("optimizer"), optimizer_arrays)


def _optimizer(network, saved, arrays):
    if saved is None:
        if arrays:
            raise ValueError(f"{SOURCE!r}: optimizer arrays {sorted(arrays)} without an optimizer")
        return None
    name = saved.get("class") if isinstance(saved, dict) else None
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"{SOURCE!r}: unknown optimizer {describe(name)}; known: {', '.join(sorted(OPTIMIZERS))}")
    cls = OPTIMIZERS[name]
    try:
        optimizer = cls(**saved["config"])
        iterations = int(saved["iterations"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{SOURCE!r}: bad {name} arguments or step count in {saved!r}: {error!r}") from None
    if arrays:                                       # empty before the first step
        parameter = network.flat_parameter
        expected = {f"0.{name}": array.shape for name, array in optimizer.initial_state(parameter).items()}
        given = {name: array.shape for name, array in arrays.items()}
        if given != expected:
            raise ValueError(f"{SOURCE!r}: {cls.__name__} state arrays {given} do not match "
                             f"the network's, {expected}")
    optimizer.load_state_arrays([network.flat_parameter], arrays, iterations)
    return optimizer


def _plain(config):
    """A config's NumPy scalars as Python numbers (same values), for JSON."""
    return {key: value.item() if isinstance(value, np.generic) else value for key, value in config.items()}
