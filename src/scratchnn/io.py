"""Saving and loading models: one ``.npz`` file, no pickle.

The file holds the architecture as JSON (``__config__``) and one array per parameter, named
as in ``state_dict()`` (``"0.weight"``, ``"0.bias"``, ...). Loading reads it with
``allow_pickle=False`` and builds layers only from a fixed list of classes, so a model file
cannot run code. Writing goes to a temporary file that is renamed over the target, so a crash
never leaves a half-written model where a good one was.

>>> net.save("xor.npz")
>>> same = load("xor.npz")
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from ._checks import describe

FORMAT = "scratchnn.sequential"
VERSION = 1


def layer_classes():
    """The layer classes a model file may name: every layer scratchnn defines, nothing else."""
    from . import activations, layers

    return {cls.__name__: cls
            for module in (layers, activations)
            for cls in vars(module).values()
            if isinstance(cls, type) and issubclass(cls, layers.Layer) and cls is not layers.Layer}


def save(model, path):
    """Write `model`'s configuration and weights to `path` atomically."""
    config = {"format": FORMAT, "version": VERSION, **model.get_config()}
    arrays = {"__config__": np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)}
    arrays.update(model.state_dict())
    write_npz_atomically(path, arrays)


def write_npz_atomically(path, arrays):
    """Write a dict of arrays as an .npz at `path` via a temporary file and a rename."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot save to {path!r}: directory {directory!r} does not exist")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_npz(path):
    """Read every array of an .npz without pickle; clear errors for what is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"no model file at {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a readable scratchnn model file: not an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path!r} is not a readable scratchnn model file (.npz): {error}") from None
    except ValueError as error:          # e.g. an object array, which would need pickle
        raise ValueError(f"{path!r} holds data that cannot be loaded safely: {error}") from None


def load(path):
    """Load a model saved with `save` / `Sequential.save`; return a `Sequential`."""
    from .model import Sequential

    arrays = read_npz(path)
    config = read_config(path, arrays.pop("__config__", None))
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
    try:
        model.load_state_dict(arrays)
    except ValueError as error:
        raise ValueError(f"{path!r}: {error}") from None
    return model


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
