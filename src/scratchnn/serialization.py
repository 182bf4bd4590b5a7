"""Model files: one ``.npz`` holding the architecture as JSON and the arrays, no pickle.

The file holds the architecture as JSON (``__config__``: the dtype, the class names and the
layers, each as its class name and constructor arguments) and one array per entry of
``state_dict()`` (``"0.weight"``, ``"0.bias"``, ...), with a SHA-256 checksum of each array in
the config. Reading uses ``allow_pickle=False``, checks every array's header before its data,
checks the checksums, and builds layers only from classes already defined in the process
(`scratchnn.nn.base`'s registry): a model file cannot run code or import anything.
Writing is atomic (`scratchnn._files`). Checkpoints (`scratchnn.training.checkpoint`) are
model files with more arrays: the training state.

>>> save(net, "xor.npz")                    # or net.save("xor.npz")
>>> config, weights, training_state = read_model_file("xor.npz")
"""

import hashlib
import json
import math
import numbers
import os
import zipfile

import numpy as np

from ._checks import describe, file_path
from ._files import write_atomically
from .nn.base import layer_class

FORMAT = "scratchnn.sequential"
VERSION = 1
MAX_ARRAY_BYTES = 8 * 2**30     # refuse an array declaring more than 8 GiB


def save(model, path, extra_arrays=None):
    """Write `model`'s configuration and weights to `path` atomically (no pickle).

    `extra_arrays` (name -> array) are stored and checksummed beside the weights: a
    checkpoint's training state. `model` is anything with ``state_dict()`` and
    ``get_config()`` (a `Sequential`).
    """
    path = file_path("path", path)
    write_npz_atomically(path, model_file_arrays(model, extra_arrays))
    return path


def model_file_arrays(model, extra_arrays=None):
    """The arrays a model file holds, by name: ``state_dict()``, `extra_arrays`, and
    ``__config__`` (the architecture and the checksums of all the others)."""
    if not callable(getattr(model, "state_dict", None)) or not callable(getattr(model, "get_config", None)):
        raise TypeError(f"model must be a scratchnn.Sequential, got {describe(model)}")
    arrays = {**model.state_dict(), **(extra_arrays or {})}
    config = {"format": FORMAT, "version": VERSION, **model.get_config(), "checksums": checksums(arrays)}
    arrays["__config__"] = json_array(config)
    return arrays


def json_array(value):
    """`value` as JSON text in a uint8 array (how JSON travels inside an .npz)."""
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def write_npz_atomically(path, arrays):
    """Write a dict of arrays as an .npz at `path` via a temporary file and a rename."""
    write_atomically(path, lambda file: np.savez(file, **arrays))


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


def read_model_file(path):
    """Read and check a model file: return (config, weights, training state), the last two
    dicts of arrays by name (the training state is empty but in a checkpoint). ValueError
    for anything that is not a sound model file."""
    path = file_path("path", path)
    return check_model_arrays(path, read_npz(path))


def check_model_arrays(source, arrays):
    """Check the arrays of a model file (as `model_file_arrays` gives them, read from `source`,
    which error messages name): the configuration and every checksum. Return (config,
    weights, training state) as `read_model_file` does."""
    arrays = dict(arrays)
    config = read_config(source, arrays.pop("__config__", None))
    verify_checksums(source, config, arrays)
    weights = {name: array for name, array in arrays.items() if not is_training_state(name)}
    return config, weights, {name: array for name, array in arrays.items() if is_training_state(name)}


def read_json(source, raw, name):
    """Decode the JSON object stored in the uint8 array `raw` (entry `name` of `source`)."""
    if raw is None:
        raise ValueError(f"{source!r} has no {name} entry")
    try:
        value = json.loads(np.asarray(raw).astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source!r}: {name} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source!r}: {name} must hold a JSON object, got {describe(value)}")
    return value


def is_training_state(name):
    """Whether an array of a model file is a checkpoint's training state, not a weight."""
    return name == "__training__" or name.startswith(("optimizer.", "callbacks."))


def build_layers(path, config):
    """The layers a configuration names, each built from the registry of defined classes."""
    layers = []
    for index, entry in enumerate(config["layers"]):
        name = entry.get("class") if isinstance(entry, dict) else None
        try:
            cls = layer_class(name)
        except ValueError as error:
            raise ValueError(f"{path!r}: layer {index}: {error}") from None
        arguments = entry.get("config", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"{path!r}: layer {index} config must be a JSON object, got {describe(arguments)}")
        try:
            layers.append(cls(**arguments))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path!r}: layer {index} ({name}) has bad arguments: {error}") from None
    return layers


def read_config(path, raw):
    """Decode and check the JSON configuration array of a model file."""
    if raw is None:
        raise ValueError(f"{path!r} is not a scratchnn model file: it has no __config__ entry")
    config = read_json(path, raw, "the configuration (__config__)")
    if config.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a scratchnn model file (format {describe(config)})")
    if config.get("version") != VERSION:
        raise ValueError(f"{path!r} has format version {config.get('version')!r}; this scratchnn reads {VERSION}")
    if config.get("dtype") not in ("float32", "float64") or not isinstance(config.get("layers"), list):
        raise ValueError(f"{path!r}: the configuration needs a dtype (float32/float64) and a list of layers")
    return config


def check_input_range(source, value):
    """A model file's input_range: absent (None) or [low, high], finite numbers, low <= high."""
    if value is not None and not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            and value[0] <= value[1]):
        raise ValueError(f"{source!r}: input_range must be [low, high], finite, low <= high, got {describe(value)}")
    return None if value is None else (float(value[0]), float(value[1]))
