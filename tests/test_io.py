"""Saving and loading: one npz file, no pickle, atomic writes, clear refusals."""

import json
import os
import zipfile

import numpy as np
import pytest

import scratchnn as sn
from scratchnn import serialization
from scratchnn.nn.base import registered_layers


def every_layer_net():
    return sn.Sequential(
        sn.Flatten(), sn.Dense(6, 8, init="he_normal"), sn.ReLU(), sn.Dropout(0.25),
        sn.Dense(8, 8), sn.LeakyReLU(0.2), sn.Dense(8, 8), sn.ELU(0.5), sn.Dense(8, 8),
        sn.GELU(approximate="tanh"), sn.Dense(8, 8), sn.Tanh(), sn.Dense(8, 4), sn.Sigmoid(),
        sn.Dense(4, 3), sn.Softmax(), sn.Identity(), seed=0, dtype=np.float64)


def test_save_load_round_trip_keeps_every_layer_and_prediction(tmp_path):
    net = every_layer_net()
    X = np.random.default_rng(0).normal(size=(5, 2, 3))
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = sn.load(path)
    assert [repr(layer) for layer in loaded.layers] == [repr(layer) for layer in net.layers]
    assert loaded.dtype == np.float64
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]          # no temporary file left


def test_a_model_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    sn.Sequential(sn.Dense(2, 1), seed=0).save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"__config__", "0.weight", "0.bias"}
        config = json.loads(archive["__config__"].tobytes())
    assert config["format"] == "scratchnn.sequential" and config["layers"][0]["class"] == "Dense"


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    first = sn.Sequential(sn.Dense(2, 1), seed=0)
    first.save(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        sn.Sequential(sn.Dense(2, 1), seed=1).save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def write_npz(path, arrays):
    """Write a model file as given, adding correct checksums to a config that has none, so
    each hostile file below reaches the check it is meant to trip."""
    arrays = dict(arrays)
    try:
        config = json.loads(arrays["__config__"].tobytes())
    except (KeyError, ValueError):                             # no config, or not JSON
        config = None
    if isinstance(config, dict):
        if "checksums" not in config:
            others = {k: v for k, v in arrays.items() if k != "__config__" and v.dtype != object}
            config["checksums"] = serialization.checksums(others)
            arrays["__config__"] = config_array(config)
    np.savez(path, **arrays)
    return path


def config_array(config):
    return np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)


GOOD_CONFIG = {"format": "scratchnn.sequential", "version": 1, "dtype": "float32",
               "layers": [{"class": "Dense", "config": {"in_features": 2, "out_features": 1}}]}
GOOD_ARRAYS = {"0.weight": np.zeros((2, 1), np.float32), "0.bias": np.zeros(1, np.float32)}


@pytest.mark.parametrize("name, arrays, message", [
    ("unknown_layer", {"__config__": config_array({**GOOD_CONFIG, "layers": [{"class": "os.system", "config": {}}]})},
     "unknown layer type 'os.system'"),
    ("bad_args", {"__config__": config_array({**GOOD_CONFIG, "layers": [{"class": "Dense", "config": {"evil": 1}}]}), **GOOD_ARRAYS},
     r"layer 0 \(Dense\) has bad arguments"),
    ("wrong_shape", {"__config__": config_array(GOOD_CONFIG), "0.weight": np.zeros((3, 1)), "0.bias": np.zeros(1)},
     r"'0.weight' has shape \(3, 1\), the model expects \(2, 1\)"),
    ("missing_array", {"__config__": config_array(GOOD_CONFIG), "0.weight": np.zeros((2, 1))},
     r"missing \['0.bias'\]"),
    ("no_config", GOOD_ARRAYS, "has no __config__ entry"),
    ("not_json", {"__config__": np.frombuffer(b"{not json", dtype=np.uint8), **GOOD_ARRAYS}, "not valid JSON"),
    ("other_format", {"__config__": config_array({**GOOD_CONFIG, "format": "keras"}), **GOOD_ARRAYS},
     "is not a scratchnn model file"),
    ("future_version", {"__config__": config_array({**GOOD_CONFIG, "version": 99}), **GOOD_ARRAYS},
     "format version 99"),
    ("bad_dtype", {"__config__": config_array({**GOOD_CONFIG, "dtype": "int8"}), **GOOD_ARRAYS},
     "needs a dtype"),
    ("pickled_object", {"__config__": config_array(GOOD_CONFIG), "0.weight": np.array([object()], dtype=object),
                        "0.bias": np.zeros(1)}, "holds Python objects, which would need pickle; refused"),
])
def test_bad_model_files_are_refused_clearly(tmp_path, name, arrays, message):
    path = write_npz(tmp_path / f"{name}.npz", arrays)
    with pytest.raises(ValueError, match=message):
        sn.load(path)


def test_non_npz_files_are_refused(tmp_path):
    text = tmp_path / "model.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a readable scratchnn model file"):
        sn.load(text)
    with pytest.raises(ValueError, match="no model file at"):
        sn.load(tmp_path / "missing.npz")
    good = tmp_path / "good.npz"
    sn.Sequential(sn.Dense(2, 1), seed=0).save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match="is not a readable scratchnn model file"):
        sn.load(truncated)


def test_save_into_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="directory .* does not exist"):
        sn.Sequential(sn.Dense(2, 1), seed=0).save(tmp_path / "nope" / "model.npz")


def test_the_registry_holds_every_library_layer_and_only_layer_classes():
    classes = registered_layers()
    assert set(sn.nn.__all__) - {"Layer", "Parameter", "Reduction"} <= set(classes)
    assert all(issubclass(cls, sn.Layer) and cls is not sn.Layer for cls in classes.values())
    assert not any(name.startswith("_") for name in classes)      # private bases are not layers


def test_a_flipped_bit_is_caught_by_the_checksum(tmp_path):
    path = tmp_path / "model.npz"
    sn.Sequential(sn.Dense(2, 1), seed=0).save(path)
    arrays = dict(np.load(path))
    arrays["0.weight"] = arrays["0.weight"].copy()
    arrays["0.weight"].view(np.uint32)[0] ^= 1                 # one bit of one weight
    np.savez(path, **arrays)                                   # zip CRCs are fresh; ours is not
    with pytest.raises(ValueError, match="is corrupted: array '0.weight' fails its SHA-256 checksum"):
        sn.load(path)
    arrays["__config__"] = config_array(GOOD_CONFIG)           # no checksums at all
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="the configuration has no checksums"):
        sn.load(path)


def test_a_byte_flipped_on_disk_is_caught(tmp_path):
    path = tmp_path / "model.npz"
    sn.Sequential(sn.Dense(20, 10), seed=0).save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.npz"):
        sn.load(path)


def test_an_absurd_declared_size_is_refused_before_allocating(tmp_path):
    path = tmp_path / "model.npz"
    sn.Sequential(sn.Dense(2, 1), seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["0.weight.npy"]
    members["0.weight.npy"] = header.replace(b"(2, 1)", b"(100000000000, 1)", 1)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"array '0.weight' declares shape \(100000000000, 1\).*refused"):
        sn.load(path)


def test_an_archive_with_a_non_array_entry_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(ValueError, match="unexpected entry 'payload.pkl'"):
        sn.load(path)


def test_a_save_removes_temporary_files_left_by_a_killed_save(tmp_path):
    orphan = tmp_path / ".model.npz.tmp-abc123.npz"
    orphan.write_bytes(b"half a file")
    other = tmp_path / ".other.npz.tmp-xyz.npz"
    other.write_bytes(b"not ours")
    sn.Sequential(sn.Dense(2, 1), seed=0).save(tmp_path / "model.npz")
    assert not orphan.exists() and other.exists()


def test_save_beside_load_in_the_public_api(tmp_path):
    net = sn.Sequential(sn.Dense(2, 3), sn.ReLU(), sn.Dense(3, 1), seed=0)
    path = sn.save(net, tmp_path / "net.npz")
    assert path == str(tmp_path / "net.npz")
    for (name, mine), theirs in zip(sn.load(path).state_dict().items(), net.state_dict().values()):
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    with pytest.raises(TypeError, match=r"model must be a scratchnn.Sequential, got \[1\]"):
        sn.save([1], tmp_path / "list.npz")
    assert sorted(os.listdir(tmp_path)) == ["net.npz"]
