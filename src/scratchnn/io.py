"""Saving and loading models: one ``.npz`` file, no pickle.

The file holds the architecture as JSON (``__config__``) and one array per parameter, named
as in ``state_dict()`` (``"0.weight"``, ``"0.bias"``, ...). Loading reads it with
``allow_pickle=False`` and builds layers only from a fixed list of classes, so a model file
cannot run code. Writing goes to a temporary file that is renamed over the target, so a crash
never leaves a half-written model where a good one was.

>>> net.save("xor.npz")
>>> same = load("xor.npz")
"""

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from ._checks import describe, file_path

FORMAT = "scratchnn.sequential"
VERSION = 1


def layer_classes():
    """The layer classes a model file may name: every layer scratchnn defines, nothing else."""
    from . import activations, conv, layers, normalization

    return {cls.__name__: cls
            for module in (layers, activations, conv, normalization)
            for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, layers.Layer) and cls is not layers.Layer
            and not cls.__name__.startswith("_")}


def save(model, path, training=None):
    """Write `model`'s configuration and weights to `path` atomically; with `training` (a
    running `fit`), also what resuming needs (see `save_checkpoint`)."""
    path = file_path("path", path)
    arrays = dict(model.state_dict())
    if training is not None:
        optimizer = training.optimizer
        state = {
            "epoch": training.epoch,
            "history": training.history.history,
            "history_epochs": training.history.epoch,
            "rng": rng_state(model.rng),
            "optimizer": {"class": type(optimizer).__name__, "learning_rate": optimizer.learning_rate,
                          "iterations": optimizer.iterations},
            "callbacks": [{"class": type(c).__name__, "state": c.get_state()}
                          for c in _resumable(training.callbacks)],
        }
        arrays["__training__"] = _json_array(state)
        for key, array in optimizer.state_arrays([model.flat_parameter]).items():
            arrays[f"optimizer.{key}"] = array
        for index, callback in enumerate(_resumable(training.callbacks)):
            for key, array in callback.get_arrays().items():
                arrays[f"callbacks.{index}.{key}"] = array
    config = {"format": FORMAT, "version": VERSION, **model.get_config(), "checksums": checksums(arrays)}
    arrays["__config__"] = _json_array(config)
    write_npz_atomically(path, arrays)


def save_checkpoint(training, path):
    """Write a checkpoint of a running `fit`: the model file plus the epoch, the history,
    the optimizer's state, the random generator's state and the callbacks' state."""
    save(training.model, path, training=training)


def _json_array(value):
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _resumable(callbacks):
    from .callbacks import ProgressLogger

    return [c for c in callbacks if not isinstance(c, ProgressLogger)]


def rng_state(rng):
    """The state of a Generator or RandomState as JSON-friendly values."""
    if isinstance(rng, np.random.RandomState):
        state = rng.get_state(legacy=False)
        state["state"]["key"] = state["state"]["key"].tolist()
        return {"kind": "RandomState", "state": state}
    return {"kind": "Generator", "state": rng.bit_generator.state}


def set_rng_state(rng, saved):
    """Put back a state given by `rng_state` into a generator of the same kind."""
    kind = "RandomState" if isinstance(rng, np.random.RandomState) else "Generator"
    if saved["kind"] != kind:
        raise ValueError(f"the checkpoint's random generator is a {saved['kind']}, the model's a {kind}")
    state = saved["state"]
    if kind == "RandomState":
        state = {**state, "state": {**state["state"], "key": np.array(state["state"]["key"], dtype=np.uint32)}}
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


def write_npz_atomically(path, arrays):
    """Write a dict of arrays as an .npz at `path` via a temporary file and a rename."""
    path = file_path("path", path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    prefix = f".{os.path.basename(path)}.tmp-"
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())      # mkstemp makes it 0600; give it the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    for name in os.listdir(directory):      # left by a process killed in the middle of a save
        if name.startswith(prefix) and name.endswith(".npz"):
            os.remove(os.path.join(directory, name))


MAX_ARRAY_BYTES = 8 * 2**30     # refuse an array declaring more than 8 GiB


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_npz(path):
    """Read every array of an .npz without pickle; clear errors for what is not one.

    Each member's .npy header is read and checked before its data: no object dtype (which
    would need pickle), and a declared shape that matches the bytes actually stored, so a
    hostile file cannot make us allocate an absurd amount of memory.
    """
    path = file_path("path", path)
    if not os.path.isfile(path):
        raise ValueError(f"no model file at {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a readable scratchnn model file: not an .npz (zip) archive")
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.filename.endswith(".npy"):
                    raise ValueError(f"{path!r}: unexpected entry {member.filename!r} (not an array)")
                with archive.open(member) as file:
                    arrays[member.filename[:-4]] = _read_member(path, member, file)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path!r} is not a readable scratchnn model file (.npz): {error}") from None
    return arrays


def _read_member(path, member, file):
    name = member.filename[:-4]
    try:
        version = np.lib.format.read_magic(file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(file)
    except ValueError as error:
        raise ValueError(f"{path!r}: array {name!r} has a bad header: {error}") from None
    if dtype.hasobject:
        raise ValueError(f"{path!r}: array {name!r} holds Python objects, which would need pickle; refused")
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    stored = member.file_size - file.tell()
    if declared > MAX_ARRAY_BYTES or declared != stored:
        raise ValueError(f"{path!r}: array {name!r} declares shape {shape} ({declared:,} bytes) "
                         f"but holds {stored:,} bytes; refused")
    data = np.frombuffer(file.read(declared), dtype=dtype)
    return data.reshape(shape, order="F" if fortran_order else "C").copy()


def checksums(arrays):
    """SHA-256 of each array's bytes, by name (stored in the config, checked on load)."""
    return {name: hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
            for name, array in arrays.items()}


def verify_checksums(path, config, arrays):
    expected = config.get("checksums")
    if not isinstance(expected, dict):
        raise ValueError(f"{path!r}: the configuration has no checksums")
    actual = checksums(arrays)
    if set(expected) != set(actual):
        raise ValueError(f"{path!r}: arrays {sorted(actual)} do not match the checksummed {sorted(expected)}")
    for name, digest in actual.items():
        if expected[name] != digest:
            raise ValueError(f"{path!r} is corrupted: array {name!r} fails its SHA-256 checksum")


def load(path):
    """Load a model saved with `save` / `Sequential.save`; return a `Sequential`."""
    from .model import Sequential

    path = file_path("path", path)
    arrays = read_npz(path)
    config = read_config(path, arrays.pop("__config__", None))
    verify_checksums(path, config, arrays)
    arrays = {name: array for name, array in arrays.items()
              if name != "__training__" and not name.startswith(("optimizer.", "callbacks."))}
    classes = layer_classes()
    built = []
    for index, entry in enumerate(config["layers"]):
        name = entry.get("class") if isinstance(entry, dict) else None
        if name not in classes:
            raise ValueError(f"{path!r}: layer {index} has unknown type {describe(name)}; "
                             f"known types: {', '.join(sorted(classes))}")
        arguments = entry.get("config", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"{path!r}: layer {index} config must be a JSON object, got {describe(arguments)}")
        try:
            built.append(classes[name](**arguments))
        except TypeError as error:
            raise ValueError(f"{path!r}: layer {index} ({name}) has bad arguments: {error}") from None
    model = Sequential(*built, dtype=config["dtype"])
    classes = config.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, (str, int)) for c in classes)):
        raise ValueError(f"{path!r}: classes must be a list of names, got {describe(classes)}")
    model.classes = classes
    try:
        model.load_state_dict(arrays)
    except ValueError as error:
        raise ValueError(f"{path!r}: {error}") from None
    return model


class Checkpoint:
    """A checkpoint read from disk and checked against the model and optimizer; `restore`
    puts it into a starting `fit`."""

    def __init__(self, path, arrays, state):
        self.path, self.arrays, self.state = path, arrays, state

    def restore(self, training):
        from .callbacks import History

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
    arrays = read_npz(path)
    config = read_config(path, arrays.pop("__config__", None))
    verify_checksums(path, config, arrays)
    raw = arrays.pop("__training__", None)
    if raw is None:
        raise ValueError(f"{path!r} is a model file without training state; resume_from needs a "
                         "checkpoint written by ModelCheckpoint")
    state = json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))
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
    kind = "RandomState" if isinstance(model.rng, np.random.RandomState) else "Generator"
    if state["rng"]["kind"] != kind:
        raise ValueError(f"{path!r} was trained with a {state['rng']['kind']} seed, this model has a "
                         f"{kind}: build it with the same kind of seed to resume")
    return Checkpoint(path, arrays, state)


def read_config(path, raw):
    """Decode and check the JSON configuration array of a model file."""
    if raw is None:
        raise ValueError(f"{path!r} is not a scratchnn model file: it has no __config__ entry")
    try:
        config = json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r}: the configuration is not valid JSON: {error}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a scratchnn model file (format {describe(config)})")
    if config.get("version") != VERSION:
        raise ValueError(f"{path!r} has format version {config.get('version')!r}; this scratchnn reads {VERSION}")
    if config.get("dtype") not in ("float32", "float64") or not isinstance(config.get("layers"), list):
        raise ValueError(f"{path!r}: the configuration needs a dtype (float32/float64) and a list of layers")
    return config
