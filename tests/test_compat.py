"""Files written by the first release load and behave as they did, to the bit.

tests/data holds a model file and a checkpoint written by the first release's code (see
tests/data/make_first_release_files.py, which must never be run again), with what that release
predicted from them and the weights that resuming the checkpoint gave.
"""

import hashlib
import io
import os
import shutil

import numpy as np
import pytest

import scratchnn as sn

DATA = os.path.join(os.path.dirname(__file__), "data")
MODEL = os.path.join(DATA, "first_release_model.npz")
CHECKPOINT = os.path.join(DATA, "first_release_checkpoint.npz")

# The files as the first release wrote them: a changed digest means someone rewrote them.
SHA256 = {
    "first_release_model.npz": "0334029592ded99a6b5483e4faf8a40b1b9468429f7bc7d4f3a462ab9ed64a0d",
    "first_release_checkpoint.npz": "bcde124b8a4ec41e1b5be5bef17c7d56793fe7a66e06474c989bd727c4478c61",
    "first_release_expected.npz": "8d196a69bcc83187765f90a4e54f416e10f5a0e6febabefc257064a03dcfa289",
}


@pytest.fixture(scope="module", autouse=True)
def first_release_files():
    missing = [name for name in SHA256 if not os.path.isfile(os.path.join(DATA, name))]
    if missing:
        pytest.fail(f"tests/data lacks {', '.join(missing)}: these files were written once by the first release "
                    "and must be in the repository (.gitignore ignores *.npz: add them with git add -f)")


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(DATA, "first_release_expected.npz"), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_the_first_release_files_are_as_it_wrote_them(name):
    with open(os.path.join(DATA, name), "rb") as file:
        assert hashlib.sha256(file.read()).hexdigest() == SHA256[name], f"tests/data/{name} was rewritten"


def test_first_release_model_predicts_the_same_bits(expected):
    net = sn.load(MODEL)
    assert net.dtype == np.float32
    assert [type(layer).__name__ for layer in net.layers] == [
        "Standardize", "Conv2D", "BatchNorm", "ReLU", "MaxPool2D", "Dropout", "Flatten", "Dense", "GELU", "Dense",
        "Softmax"]
    assert net.classes == ["neither", "top", "left", "both"]
    np.testing.assert_array_equal(net.predict(expected["X_cnn"]), expected["predict_cnn"])
    classes = net.predict_classes(expected["X_cnn"])
    np.testing.assert_array_equal(classes, np.asarray(net.classes)[expected["predict_cnn"].argmax(axis=1)])


def test_first_release_model_summary_shows_every_shape(expected):
    net = sn.load(MODEL)
    net.predict(expected["X_cnn"][:2])                       # summary remembers the last input's shape
    out = io.StringIO()
    net.summary(file=out)
    text = out.getvalue()
    for shape in ("(None, 1, 8, 8)", "(None, 4, 8, 8)", "(None, 4, 4, 4)", "(None, 64)", "(None, 16)", "(None, 4)"):
        assert shape in text, text
    assert "?" not in text, text
    assert "Total parameters: 1,156 (float32)" in text


def test_first_release_checkpoint_loads_as_a_model(expected):
    net = sn.load(CHECKPOINT)
    assert net.dtype == np.float64
    np.testing.assert_array_equal(net.predict(expected["X_mlp"]), expected["predict_checkpoint"])


def test_resuming_the_first_release_checkpoint_gives_the_same_weights(expected, tmp_path):
    checkpoint = str(tmp_path / "first_release_checkpoint.npz")      # a copy: the original stays untouched
    shutil.copyfile(CHECKPOINT, checkpoint)
    X = expected["X_mlp"]
    y = (X[:, 0] * X[:, 1] > 0).astype(int)                          # make_first_release_files.mlp_data
    net = sn.Sequential(sn.Dense(5, 16), sn.Tanh(), sn.Dense(16, 2), seed=11, dtype=np.float64)
    callbacks = [sn.StepLR(step_size=1, gamma=0.5), sn.EarlyStopping("val_loss", patience=3),
                 sn.ModelCheckpoint(str(tmp_path / "scratch_checkpoint.npz"))]
    history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(1e-2), epochs=4, batch_size=16,
                      validation_split=0.25, metrics=["accuracy"], callbacks=callbacks, resume_from=checkpoint,
                      verbose=0)
    np.testing.assert_array_equal(net.flat_parameter.value, expected["resumed_flat"])
    assert history.epoch == [0, 1, 2, 3]                             # epochs 1-2 restored, 3-4 trained
    assert history.history["learning_rate"] == pytest.approx([1e-2, 5e-3, 2.5e-3, 1.25e-3])   # StepLR halves
