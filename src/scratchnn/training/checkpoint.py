"""Checkpoints: a model file plus what resuming a `fit` needs.

A checkpoint is a model file (`scratchnn.serialization`; `sn.load` reads it) with more
arrays: ``__training__`` (JSON: the epoch, the history, the random generator's state, the
optimizer's class, learning rate and step count, each callback's state), ``optimizer.*``
(the optimizer's state arrays) and ``callbacks.<i>.*`` (arrays callbacks keep, such as
EarlyStopping's best weights). ``fit(..., resume_from=path)`` reads it back with
`read_checkpoint` and `Checkpoint.restore`, so training continues exactly as if it had never
stopped.
"""

import numpy as np

from .._checks import file_path
from ..serialization import check_model_arrays, json_array, read_json, read_npz, save
from .history import History


def save_checkpoint(training, path):
    """Write a checkpoint of a running `fit` (a `Training`) to `path`, atomically."""
    model, optimizer = training.model, training.optimizer
    state = {
        "epoch": training.epoch,
        "history": training.history.history,
        "history_epochs": training.history.epoch,
        "rng": rng_state(model.rng),
        "optimizer": {"class": type(optimizer).__name__, "learning_rate": optimizer.learning_rate,
                      "iterations": optimizer.iterations},
        "callbacks": [{"class": type(c).__name__, "state": c.get_state()} for c in _resumable(training.callbacks)],
    }
    arrays = {"__training__": json_array(state)}
    for key, array in optimizer.state_arrays([model.flat_parameter]).items():
        arrays[f"optimizer.{key}"] = array
    for index, callback in enumerate(_resumable(training.callbacks)):
        for key, array in callback.get_arrays().items():
            arrays[f"callbacks.{index}.{key}"] = array
    return save(model, path, extra_arrays=arrays)


def _resumable(callbacks):
    """The callbacks whose state a checkpoint keeps: all but the progress display."""
    return [c for c in callbacks if c.checkpointed]


def rng_kind(rng):
    """"RandomState" or "Generator": the two kinds of generator a model may draw from."""
    return "RandomState" if isinstance(rng, np.random.RandomState) else "Generator"


def rng_state(rng):
    """The state of a Generator or RandomState as JSON-friendly values."""
    if rng_kind(rng) == "RandomState":
        state = rng.get_state(legacy=False)
        state["state"]["key"] = state["state"]["key"].tolist()
        return {"kind": "RandomState", "state": state}
    return {"kind": "Generator", "state": rng.bit_generator.state}


def set_rng_state(rng, saved):
    """Put back a state given by `rng_state` into a generator of the same kind."""
    kind = rng_kind(rng)
    if saved["kind"] != kind:
        raise ValueError(f"the checkpoint's random generator is a {saved['kind']}, the model's a {kind}")
    state = saved["state"]
    if kind == "RandomState":
        state = {**state, "state": {**state["state"], "key": np.array(state["state"]["key"], dtype=np.uint32)}}
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


class Checkpoint:
    """A checkpoint read from disk and checked against the model and optimizer; `restore`
    puts it into a starting `fit`."""

    def __init__(self, path, arrays, state):
        self.path, self.arrays, self.state = path, arrays, state

    def restore(self, training):
        model, optimizer, state = training.model, training.optimizer, self.state
        model.load_state_dict({k: v for k, v in self.arrays.items() if k in model.state_dict()})
        optimizer.learning_rate = state["optimizer"]["learning_rate"]
        optimizer.load_state_arrays(
            [model.flat_parameter],
            {k[len("optimizer."):]: v for k, v in self.arrays.items() if k.startswith("optimizer.")},
            state["optimizer"]["iterations"])
        for index, (callback, saved) in enumerate(zip(_resumable(training.callbacks), state["callbacks"])):
            callback.set_state(saved["state"])
            prefix = f"callbacks.{index}."
            callback.set_arrays({k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)})
        set_rng_state(model.rng, state["rng"])
        training.history = History(state["history"], state["history_epochs"])
        training.epoch = state["epoch"]


def read_checkpoint(path, model, optimizer, callbacks):
    """Read a checkpoint written by `ModelCheckpoint` and check that it fits this model,
    optimizer and list of callbacks; return a `Checkpoint`."""
    path = file_path("resume_from", path)
    config, weights, training_state = check_model_arrays(path, read_npz(path))
    raw = training_state.pop("__training__", None)
    if raw is None:
        raise ValueError(f"{path!r} is a model file without training state; resume_from needs a "
                         "checkpoint written by ModelCheckpoint")
    state = _check_training_state(path, read_json(path, raw, "__training__"))
    arrays = {**weights, **training_state}
    own = model.get_config()
    if config["layers"] != own["layers"] or config["dtype"] != own["dtype"]:
        raise ValueError(f"{path!r} holds a different network than this model: {config['layers']} "
                         f"({config['dtype']}) vs {own['layers']} ({own['dtype']})")
    if state["optimizer"]["class"] != type(optimizer).__name__:
        raise ValueError(f"{path!r} was trained with {state['optimizer']['class']}, "
                         f"but fit got {type(optimizer).__name__}")
    saved = [c["class"] for c in state["callbacks"]]
    given = [type(c).__name__ for c in sorted(_resumable(callbacks), key=lambda c: c.runs_last)]
    if saved != given:
        raise ValueError(f"{path!r} was written with callbacks {saved}, but fit got {given}")
    kind = rng_kind(model.rng)
    if state["rng"]["kind"] != kind:
        raise ValueError(f"{path!r} was trained with a {state['rng']['kind']} seed, this model has a "
                         f"{kind}: build it with the same kind of seed to resume")
    return Checkpoint(path, arrays, state)


def _check_training_state(path, state):
    """The checkpoint's ``__training__`` entry, with every key resuming reads, of the right kind."""
    expected = {"epoch": int, "history": dict, "history_epochs": list, "rng": dict, "optimizer": dict,
                "callbacks": list}
    wrong = [key for key, kind in expected.items() if not isinstance(state.get(key), kind)]
    optimizer, rng = state.get("optimizer"), state.get("rng")
    if isinstance(optimizer, dict):
        wrong += [f"optimizer.{key}" for key, kind in (("class", str), ("learning_rate", (int, float)),
                                                        ("iterations", int)) if not isinstance(optimizer.get(key), kind)]
    if isinstance(rng, dict) and rng.get("kind") not in ("RandomState", "Generator"):
        wrong.append("rng.kind")
    if isinstance(state.get("callbacks"), list) and not all(
            isinstance(c, dict) and isinstance(c.get("class"), str) for c in state["callbacks"]):
        wrong.append("callbacks")
    if wrong:
        raise ValueError(f"{path!r}: the training state (__training__) is missing or has wrong entries: "
                         f"{', '.join(wrong)}; it was not written by ModelCheckpoint")
    return state
