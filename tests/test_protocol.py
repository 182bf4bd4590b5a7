"""The layer protocol, as a user's own layer meets it: training, gradients, threads, saving.

- A layer written to the first release's protocol (Parameters made by hand in ``build``,
  ``named_parameters`` overridden) and one written to the current protocol (`add_parameter`,
  `add_buffer`) both train, pass a gradient check, train on threads, save and load.
- Model files can name only layer classes defined in the process; a class that merely shares a
  library class's name neither replaces it nor gets saved under its name.
- Callbacks hear every batch; `summary` and `output_shape` agree with what `forward` returns.
"""

import copy
import io
import json
import re
import sys

import numpy as np
import pytest

import scratchnn as sn
import scratchnn.nn
from scratchnn.nn.base import layer_class, registered_layers


# --- a user's layers ---------------------------------------------------------------------------

class FirstReleaseScale(sn.Layer):
    """y = x · w + b with one w and one b per feature, written as the first release's docs taught."""

    def __init__(self, features):
        self.features = features

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = sn.Parameter(rng.uniform(0.5, 1.5, size=self.features).astype(dtype), name="weight")
        self.bias = sn.Parameter(rng.uniform(-0.1, 0.1, size=self.features).astype(dtype), name="bias")

    def forward(self, x, training=False):
        self.x = x
        return x * self.weight.value + self.bias.value          # y = x · w + b

    def backward(self, grad_output):
        self.weight.grad += (grad_output * self.x).sum(axis=0)  # dL/dw = Σ_batch dL/dy · x
        self.bias.grad += grad_output.sum(axis=0)               # dL/db = Σ_batch dL/dy
        return grad_output * self.weight.value                  # dL/dx = dL/dy · w

    def named_parameters(self):
        return {"weight": self.weight, "bias": self.bias}

    def get_config(self):
        return {"features": self.features}


class NewProtocolShiftScale(sn.Layer):
    """y = (x − shift) · w + b: w and b trained (`add_parameter`), shift saved (`add_buffer`)."""

    def __init__(self, features):
        self.features = features

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = self.add_parameter("weight", rng.uniform(0.5, 1.5, size=self.features))
        self.bias = self.add_parameter("bias", np.zeros(self.features))
        self.shift = self.add_buffer("shift", np.zeros(self.features))

    def forward(self, x, training=False):
        self.centered = x - self.shift
        return self.centered * self.weight.value + self.bias.value      # y = (x − shift) · w + b

    def backward(self, grad_output):
        self.weight.grad += (grad_output * self.centered).sum(axis=0)   # dL/dw = Σ_batch dL/dy · (x − shift)
        self.bias.grad += grad_output.sum(axis=0)                       # dL/db = Σ_batch dL/dy
        return grad_output * self.weight.value                          # dL/dx = dL/dy · w

    def get_config(self):
        return {"features": self.features}


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)


def network(custom, seed=3):
    layer = custom(4)
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), layer, sn.Dense(4, 2), seed=seed, dtype=np.float64)
    if isinstance(layer, NewProtocolShiftScale):
        layer.shift[...] = [0.1, -0.2, 0.3, 0.05]
    return net


def train(net, threads=None, epochs=5):
    X, y = data()
    return net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.05), epochs=epochs, batch_size=16,
                   verbose=0, threads=threads)


CUSTOM = [FirstReleaseScale, NewProtocolShiftScale]


@pytest.mark.parametrize("custom", CUSTOM)
def test_own_layer_lists_its_parameters_and_buffers(custom):
    net = network(custom)
    layer = net.layers[2]
    assert list(layer.named_parameters()) == ["weight", "bias"]
    assert [p.value.shape for p in layer.parameters()] == [(4,), (4,)]
    assert [p.value.dtype for p in layer.parameters()] == [np.float64, np.float64]
    expected = {"0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"}
    if custom is NewProtocolShiftScale:
        expected.add("2.shift")
        np.testing.assert_array_equal(layer.get_buffers()["shift"], [0.1, -0.2, 0.3, 0.05])
    assert set(net.state_dict()) == expected
    assert net.flat_parameter.value.size == 3 * 4 + 4 + 4 + 4 + 4 * 2 + 2


@pytest.mark.parametrize("custom", CUSTOM)
def test_own_layer_trains(custom):
    history = train(network(custom), epochs=20)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("custom", CUSTOM)
def test_own_layer_passes_the_gradient_check(custom):
    X, y = data(8)
    net = network(custom)
    assert sn.gradcheck(net, "cross_entropy", X, y) < 1e-6


@pytest.mark.parametrize("custom", CUSTOM)
def test_own_layer_trains_on_two_threads_as_on_one(custom):
    pytest.importorskip("threadpoolctl")
    one, two = network(custom), network(custom)
    train(one, threads=1)
    train(two, threads=2)
    assert not np.array_equal(two.flat_parameter.value, network(custom).flat_parameter.value)   # it trained
    np.testing.assert_allclose(two.flat_parameter.value, one.flat_parameter.value, rtol=0, atol=1e-6)


@pytest.mark.parametrize("custom", CUSTOM)
def test_own_layer_saves_and_loads_by_being_defined(custom, tmp_path):
    assert layer_class(custom.__name__) is custom
    net = network(custom)
    train(net, epochs=2)
    path = str(tmp_path / "own.npz")
    net.save(path)
    loaded = sn.load(path)
    assert type(loaded.layers[2]) is custom and loaded.layers[2].features == 4
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], value)
    X, _ = data(10, seed=1)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


# --- what a model file may name ----------------------------------------------------------------

def with_layer_class(source, target, name):
    """Copy the model file `source` to `target`, its layer 1 renamed to class `name`."""
    with np.load(source, allow_pickle=False) as file:
        arrays = {key: file[key] for key in file.files}
    config = json.loads(arrays["__config__"].tobytes().decode("utf-8"))
    config["layers"][1]["class"] = name
    arrays["__config__"] = np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)
    np.savez(target, **arrays)
    return str(target)


@pytest.fixture
def model_file(tmp_path):
    path = str(tmp_path / "model.npz")
    sn.Sequential(sn.Dense(2, 3), sn.ReLU(), sn.Dense(3, 1), seed=0).save(path)
    sn.load(path)                                 # anything loading needs is imported from here on
    return path


NOT_LAYERS = ["NotDefinedAnywhere", "os.system", "subprocess.Popen", "ctypes.CDLL", "smtplib.SMTP",
              "builtins.eval", "Layer", "Parameter", "Sequential", "_Pool2D", "", "relu"]


@pytest.mark.parametrize("name", NOT_LAYERS)
def test_a_model_file_cannot_name_a_class_that_is_not_a_defined_layer(model_file, tmp_path, name):
    path = with_layer_class(model_file, tmp_path / "hostile.npz", name)
    modules = set(sys.modules)
    with pytest.raises(ValueError, match=re.escape(f"layer 1: unknown layer type {name!r}")):
        sn.load(path)
    assert set(sys.modules) == modules, f"loading imported {sorted(set(sys.modules) - modules)}"


def test_a_model_file_naming_a_defined_layer_still_loads(model_file, tmp_path):
    path = with_layer_class(model_file, tmp_path / "tanh.npz", "Tanh")     # ReLU -> Tanh: no weights to change
    assert type(sn.load(path).layers[1]) is sn.Tanh


def test_a_class_sharing_a_library_name_does_not_replace_it(tmp_path):
    class Dense(sn.Layer):                        # the user's own "Dense", in the test's module
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, grad_output):
            return 2 * grad_output

    assert layer_class("Dense") is sn.Dense
    assert registered_layers()["Dense"] is sn.Dense
    net = sn.Sequential(sn.Dense(2, 3), Dense(), seed=0)
    np.testing.assert_array_equal(net.predict(np.ones((1, 2))), 2 * net.layers[0].forward(np.ones((1, 2))))
    with pytest.raises(ValueError, match=r"cannot save a .*Dense layer: .*'Dense' names scratchnn\.nn\.core\.Dense; "
                                         r"give the class a name of its own"):
        net.save(str(tmp_path / "shadow.npz"))
    assert not (tmp_path / "shadow.npz").exists()
    library = sn.Sequential(sn.Dense(2, 3), seed=0)
    library.save(str(tmp_path / "library.npz"))
    assert type(sn.load(str(tmp_path / "library.npz")).layers[0]) is sn.Dense
    before = net.flat_parameter.value.copy()
    with pytest.raises(ValueError, match="give the class a name of its own"):      # before the first epoch
        net.fit(np.ones((4, 2)), np.ones((4, 3)), loss="mse", optimizer="sgd", epochs=2, verbose=0,
                callbacks=[sn.ModelCheckpoint(str(tmp_path / "checkpoint.npz"))])
    np.testing.assert_array_equal(net.flat_parameter.value, before)


# --- callbacks ---------------------------------------------------------------------------------

class BatchRecorder(sn.Callback):
    def __init__(self):
        self.batches = []

    def on_batch_end(self, training, batch, logs):
        self.batches.append((training.epoch + 1, batch, logs["loss"]))


@pytest.mark.parametrize("verbose", [0, 2])
def test_on_batch_end_hears_every_batch_at_any_verbosity(verbose, capsys):
    X, y = data(50)                                         # batches of 16, 16, 16, 2
    recorder = BatchRecorder()
    sn.Sequential(sn.Dense(3, 2), seed=0).fit(X, y, loss="cross_entropy", optimizer="sgd", epochs=3,
                                              batch_size=16, verbose=verbose, callbacks=[recorder])
    assert len(recorder.batches) == 3 * 4
    assert [(epoch, batch) for epoch, batch, _ in recorder.batches] == [(e, b) for e in range(3) for b in range(4)]
    assert all(np.isfinite(loss) for _, _, loss in recorder.batches)


# --- shapes ------------------------------------------------------------------------------------

def cnn():
    return sn.Sequential(sn.Conv2D(1, 8, 3, padding="same"), sn.BatchNorm(8), sn.ReLU(), sn.MaxPool2D(2),
                         sn.Flatten(), sn.Dense(8 * 14 * 14, 10), sn.Softmax(), seed=0)


CNN_SHAPES = ["(None, 8, 28, 28)", "(None, 8, 28, 28)", "(None, 8, 28, 28)", "(None, 8, 14, 14)",
              "(None, 1568)", "(None, 10)", "(None, 10)"]


def summary_rows(net, **kwargs):
    out = io.StringIO()
    net.summary(file=out, **kwargs)
    text = out.getvalue()
    assert "?" not in text, text
    return text.splitlines()[2:2 + len(net.layers)]


def test_summary_prints_every_layers_output_shape_for_an_input_shape():
    net = cnn()
    rows = summary_rows(net, input_shape=(1, 28, 28))
    assert net.output_shapes((1, 28, 28)) == [(None, 8, 28, 28)] * 3 + [(None, 8, 14, 14), (None, 1568),
                                                                          (None, 10), (None, 10)]
    for index, (row, shape) in enumerate(zip(rows, CNN_SHAPES)):
        assert row.startswith(f"{index}: ") and shape in row, rows


def test_summary_remembers_the_last_input_shape():
    net = cnn()
    net.predict(np.zeros((2, 1, 28, 28), dtype=np.float32))
    for row, shape in zip(summary_rows(net), CNN_SHAPES):
        assert shape in row


def test_summary_with_a_wrong_input_shape_names_the_layer():
    with pytest.raises(ValueError, match=r"input_shape \(3, 28, 28\) does not fit layer 0: Conv2D"):
        cnn().summary(file=io.StringIO(), input_shape=(3, 28, 28))
    with pytest.raises(ValueError, match=r"input_shape \(1, 28, 27\) does not fit layer 5: .*Dense"):
        cnn().summary(file=io.StringIO(), input_shape=(1, 28, 27))


# Each layer of scratchnn.nn with an input it accepts (one sample's shape).
SHAPE_CASES = {
    "AvgPool2D": (lambda: sn.AvgPool2D(2), (3, 7, 6)),
    "BatchNorm": (lambda: sn.BatchNorm(3), (3, 5, 4)),
    "Conv2D": (lambda: sn.Conv2D(3, 4, 3, stride=2, padding=1), (3, 7, 6)),
    "Dense": (lambda: sn.Dense(5, 2), (5,)),
    "Dropout": (lambda: sn.Dropout(0.5), (3, 4)),
    "RandomFlip": (lambda: sn.RandomFlip("horizontal_and_vertical"), (3, 5, 4)),
    "RandomTranslation": (lambda: sn.RandomTranslation(2), (3, 5, 4)),
    "ELU": (lambda: sn.ELU(), (5,)),
    "Embedding": (lambda: sn.Embedding(6, 3), (5,)),
    "GRU": (lambda: sn.GRU(4, 3, bidirectional=True), (5, 4)),
    "LSTM": (lambda: sn.LSTM(4, 3, num_layers=2, return_sequences=False), (5, 4)),
    "LastStep": (lambda: sn.LastStep(), (5, 4)),
    "RNN": (lambda: sn.RNN(4, 3, nonlinearity="relu"), (5, 4)),
    "Flatten": (lambda: sn.Flatten(), (3, 4, 2)),
    "GELU": (lambda: sn.GELU(), (5,)),
    "GlobalAvgPool2D": (lambda: sn.GlobalAvgPool2D(), (3, 5, 4)),
    "Identity": (lambda: sn.Identity(), (2, 3)),
    "LayerNorm": (lambda: sn.LayerNorm(4), (3, 4)),
    "LeakyReLU": (lambda: sn.LeakyReLU(), (5,)),
    "MaxPool2D": (lambda: sn.MaxPool2D(3, stride=2), (2, 8, 7)),
    "MultiHeadAttention": (lambda: sn.MultiHeadAttention(4, 2, causal=True), (3, 4)),
    "PositionalEmbedding": (lambda: sn.PositionalEmbedding(5, 4), (3, 4)),
    "ReLU": (lambda: sn.ReLU(), (3, 4, 4)),
    "Reshape": (lambda: sn.Reshape((2, 6)), (12,)),
    "Sigmoid": (lambda: sn.Sigmoid(), (5,)),
    "Softmax": (lambda: sn.Softmax(), (5,)),
    "Standardize": (lambda: sn.Standardize([3, 4]), (3, 4)),
    "Tanh": (lambda: sn.Tanh(), (5,)),
    "TransformerBlock": (lambda: sn.TransformerBlock(4, 2, 8), (3, 4)),
}
LAYER_NAMES = sorted(name for name in scratchnn.nn.__all__
                     if isinstance(getattr(scratchnn.nn, name), type)
                     and issubclass(getattr(scratchnn.nn, name), sn.Layer) and name != "Layer")


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_output_shape_agrees_with_forward(name):
    assert name in SHAPE_CASES, f"scratchnn.nn.{name} has no case here: add one to SHAPE_CASES"
    make, sample_shape = SHAPE_CASES[name]
    layer = make()
    assert type(layer) is getattr(scratchnn.nn, name)
    sn.Sequential(layer, seed=0, dtype=np.float64)                        # builds it
    x = np.random.default_rng(0).normal(size=(4, *sample_shape))
    if getattr(layer, "takes_indices", False):                             # Embedding: token ids
        x = np.random.default_rng(0).integers(0, 3, size=(4, *sample_shape))
    for training in (False, True):
        out = layer.forward(x, training=training)
        assert layer.output_shape(x.shape) == out.shape
        assert layer.output_shape((None, *sample_shape)) == (None, *out.shape[1:])


# Inputs that forward refuses; output_shape must refuse them too (a ValueError naming the layer),
# so that summary(input_shape=...) reports the layer that does not fit instead of a wrong shape.
WRONG_SHAPE_CASES = [
    pytest.param(lambda: sn.Conv2D(3, 4, 3), (2, 7, 6), id="Conv2D-channels"),
    pytest.param(lambda: sn.Conv2D(3, 4, 3), (3, 2, 2), id="Conv2D-image-smaller-than-kernel"),
    pytest.param(lambda: sn.Conv2D(3, 4, 3), (3, 7), id="Conv2D-not-images"),
    pytest.param(lambda: sn.Dense(5, 2), (4,), id="Dense-width"),
    pytest.param(lambda: sn.BatchNorm(3), (2, 5, 4), id="BatchNorm-channels"),
    pytest.param(lambda: sn.Standardize([3, 4]), (4, 3), id="Standardize-shape"),
    pytest.param(lambda: sn.Reshape((2, 6)), (11,), id="Reshape-size"),
    pytest.param(lambda: sn.MaxPool2D(3), (2, 2, 2), id="MaxPool2D-image-smaller-than-kernel"),
    pytest.param(lambda: sn.AvgPool2D(3), (2, 2, 2), id="AvgPool2D-image-smaller-than-kernel"),
    pytest.param(lambda: sn.MaxPool2D(2), (4,), id="MaxPool2D-not-images"),
    pytest.param(lambda: sn.GlobalAvgPool2D(), (4,), id="GlobalAvgPool2D-not-images"),
    pytest.param(lambda: sn.Flatten(), (), id="Flatten-no-sample-axis"),
    pytest.param(lambda: sn.RandomFlip(), (28, 28), id="RandomFlip-not-images"),
    pytest.param(lambda: sn.RandomTranslation(2), (1, 2, 2), id="RandomTranslation-wrong-rank"),
    pytest.param(lambda: sn.LayerNorm(4), (3, 5), id="LayerNorm-width"),
    pytest.param(lambda: sn.MultiHeadAttention(4, 2), (4,), id="MultiHeadAttention-not-sequences"),
    pytest.param(lambda: sn.TransformerBlock(4, 2, 8), (3, 5), id="TransformerBlock-width"),
    pytest.param(lambda: sn.PositionalEmbedding(2, 4), (3, 4), id="PositionalEmbedding-too-long"),
    pytest.param(lambda: sn.LSTM(4, 3), (5, 3), id="LSTM-width"),
    pytest.param(lambda: sn.GRU(4, 3), (4,), id="GRU-not-sequences"),
    pytest.param(lambda: sn.RNN(4, 3), (2, 5, 4), id="RNN-too-many-axes"),
    pytest.param(lambda: sn.LastStep(), (4,), id="LastStep-not-sequences"),
]


@pytest.mark.parametrize("make, sample_shape", WRONG_SHAPE_CASES)
def test_output_shape_refuses_what_forward_refuses(make, sample_shape):
    layer = make()
    sn.Sequential(layer, seed=0, dtype=np.float64)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=name):
        layer.forward(np.ones((2, *sample_shape)))
    with pytest.raises(ValueError, match=name):
        layer.output_shape((None, *sample_shape))


# --- edge cases of the protocol (found in review) ---------------------------------------------

class _TwoArrays(sn.Layer):
    def __init__(self, clash=False):
        self.clash = clash

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.weight = self.add_parameter("w", np.ones(2))
        self.stat = self.add_buffer("w" if self.clash else "s", np.zeros(2))

    def forward(self, x, training=False):
        return x * self.weight.value

    def backward(self, grad_output):
        return grad_output * self.weight.value


def test_a_parameter_and_a_buffer_cannot_share_a_name():
    with pytest.raises(ValueError, match="already has a parameter or buffer named 'w'"):
        sn.Sequential(_TwoArrays(clash=True), seed=0)
    net = sn.Sequential(_TwoArrays(), seed=0)
    assert list(net.state_dict()) == ["0.w", "0.s"]
    again = sn.Sequential(*copy.deepcopy(net.layers), seed=0)          # built again: registered afresh
    assert list(again.state_dict()) == ["0.w", "0.s"]


def test_add_parameter_outside_build_is_a_clear_error():
    layer = _TwoArrays()
    with pytest.raises(RuntimeError, match=r"add_parameter\('late'\) must be called in build"):
        layer.add_parameter("late", np.ones(2))


class FirstReleaseNoise(sn.Layer):
    """A first-release layer that keeps the generator from build, as the old Dropout did."""

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.rng = rng

    def forward(self, x, training=False):
        self.noise = self.rng.normal(size=x.shape) if training else 0.0
        return x + self.noise

    def backward(self, grad_output):
        return grad_output


def test_threads_give_a_first_release_layer_its_own_generator_per_replica():
    pytest.importorskip("threadpoolctl")
    from scratchnn.training.parallel import ThreadedBatches

    net = sn.Sequential(sn.Dense(3, 4), FirstReleaseNoise(), sn.Dense(4, 2), seed=0, dtype=np.float64)
    batches = ThreadedBatches(net, sn.MSE(), threads=2)
    try:
        batches.new_epoch()
        mine, theirs = net.layers[1].rng, batches.replicas[1].layers[1].rng
        assert mine is net.rng and theirs is batches.replicas[1].rng and theirs is not mine
        assert not np.array_equal(mine.normal(size=8), theirs.normal(size=8))     # not one stream twice
    finally:
        batches.close()
