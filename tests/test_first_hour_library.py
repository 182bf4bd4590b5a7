"""Issue #18, "The first hour", library side: the progress line, schedules on resume, class
names, the input range, the lazy Numba import and CrossEntropy's probability targets."""

import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.kernels import _numba
from scratchnn.model import from_model_file


# --- Numba is imported when a kernel is first used, not with scratchnn -------------------------

def test_import_scratchnn_does_not_import_numba():
    code = "import sys, scratchnn; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(not _numba.available, reason="Numba is not installed")
def test_numba_is_imported_by_the_first_kernel_call():
    code = ("import sys, numpy as np, scratchnn as sn\n"
            "layer = sn.MaxPool2D(2)\n"
            "layer.forward(np.ones((1, 1, 4, 4), dtype=np.float32))\n"
            "print('numba' in sys.modules, type(sn.kernels.pooling.max_pool_2x2_forward.compiled).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "CPUDispatcher"]


def test_a_kernel_without_numba_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(_numba, "load", lambda: None)
    kernel = _numba.compiled()(lambda x: x)
    with pytest.raises(ImportError, match="needs Numba: pip install scratchnn"):
        kernel(1)


# --- CrossEntropy differentiates what it computes, for any probability targets -----------------

def _numerical_gradient(f, z, step=1e-6):
    grad = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        plus, minus = z.copy(), z.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (f(plus) - f(minus)) / (2 * step)
    return grad


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("targets", [
    [[1.0, 1.0, 0.0]],                                    # the issue's example: rows summing to 2
    [[0.2, 0.3, 0.1], [0.0, 0.0, 0.0]],                   # to 0.6, and to 0
    [[0.0, 1.0, 0.0], [0.1, 0.8, 0.1]],                   # to 1: softmax − t, as always
])
def test_cross_entropy_gradient_matches_finite_differences_for_any_target_rows(targets, reduction):
    targets = np.array(targets)
    z = np.array([[1.0, -0.5, 0.25], [0.3, 2.0, -1.0]])[:len(targets)]
    loss = sn.CrossEntropy(reduction=reduction)
    loss(z, targets)
    analytic = loss.backward()
    numeric = _numerical_gradient(lambda logits: sn.CrossEntropy(reduction=reduction)(logits, targets), z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_cross_entropy_gradient_of_the_issues_example():
    z, t = np.array([[1.0, -0.5, 0.25]]), np.array([[1.0, 1.0, 0.0]])
    loss = sn.CrossEntropy()
    loss(z, t)
    softmax = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(loss.backward(), 2 * softmax - t)


def test_cross_entropy_one_hot_rows_keep_the_bits_of_integer_labels():
    z = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 2, 2, 0])
    by_label, by_row = sn.CrossEntropy(), sn.CrossEntropy()
    assert by_label(z, labels) == by_row(z, np.eye(4, dtype=np.float32)[labels])
    np.testing.assert_array_equal(by_label.backward(), by_row.backward())


# --- the progress line shows every logged quantity --------------------------------------------

class _Terminal:
    """A text stream that says it is a terminal; its fileno is a pseudo-terminal of `columns`
    columns, where tqdm asks for the width."""

    def __init__(self, columns=None):
        self.parts = []
        if columns is not None:
            termios, fcntl = pytest.importorskip("termios"), pytest.importorskip("fcntl")
            self.master, self.slave = os.openpty()
            fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))

    def fileno(self):
        return self.slave

    def close(self):
        os.close(self.master)
        os.close(self.slave)

    def write(self, text):
        self.parts.append(text)

    def flush(self):
        pass

    def isatty(self):
        return True

    def text(self):
        return "".join(self.parts)


def _moons_fit(verbose, file, epochs=2):
    X, y = sn.datasets.moons(200, random_state=0)
    net = sn.Sequential(sn.Dense(2, 8), sn.ReLU(), sn.Dense(8, 2), seed=0)
    logger = sn.ProgressLogger(verbose=verbose, file=file)
    net.fit(X, y, sn.CrossEntropy(), sn.Adam(0.01), epochs=epochs, batch_size=20, validation_split=0.2,
            metrics=["accuracy"], callbacks=[logger], verbose=0)


def test_the_final_progress_line_of_an_epoch_shows_every_metric_on_an_80_column_terminal():
    pytest.importorskip("tqdm")
    terminal = _Terminal(columns=80)
    try:
        _moons_fit(1, terminal)
    finally:
        terminal.close()
    finals = [line.split("\r")[-1] for line in terminal.text().split("\n") if line.split("\r")[-1].strip()]
    assert len(finals) == 2, terminal.text()
    for epoch, line in enumerate(finals, 1):
        assert line.startswith(f"epoch {epoch}/2") and "100%" in line
        for name in ("loss: ", "accuracy: ", "val_loss: ", "val_accuracy: ", "learning_rate: "):
            assert name in line, line
        assert len(line) > 80


def test_progress_off_a_terminal_is_one_line_per_epoch_with_every_metric(capsys):
    class File(_Terminal):
        def isatty(self):
            return False
    for verbose in (1, 2):
        stream = File()
        _moons_fit(verbose, stream, epochs=3)
        lines = stream.text().splitlines()
        assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
        assert all("val_accuracy: " in line and "\r" not in line for line in lines)


# --- learning-rate schedules on resume ---------------------------------------------------------

def _blobs(n=60):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 2)) + 3 * np.eye(3)[y][:, :2], y


def _rates(schedule, epochs, **kwargs):
    X, y = _blobs()
    net = sn.Sequential(sn.Dense(2, 3), seed=0)
    history = net.fit(X, y, loss="cross_entropy", optimizer=sn.SGD(0.1), epochs=epochs, callbacks=[schedule],
                      verbose=0, **kwargs)
    return history.history["learning_rate"]


def _cosine(epochs, period, low=0.0, high=0.1):
    return [low + (high - low) * (1 + np.cos(np.pi * min(e, period) / period)) / 2 for e in range(epochs)]


def test_cosine_annealing_past_t_max_at_rate_zero_is_refused_before_any_epoch(tmp_path):
    X, y = _blobs()
    net = sn.Sequential(sn.Dense(2, 3), seed=0)
    before = net.flat_parameter.value.copy()
    with pytest.raises(ValueError, match=r"CosineAnnealingLR\(T_max=20\) would train epochs 21 to 30 of "
                                         r"fit\(epochs=30\) at learning rate 0: pass T_max=None"):
        net.fit(X, y, loss="cross_entropy", optimizer=sn.SGD(0.1), epochs=30,
                callbacks=[sn.CosineAnnealingLR(T_max=20)], verbose=0)
    assert np.array_equal(net.flat_parameter.value, before)


def test_the_resume_example_of_the_issue_is_refused_before_any_epoch(tmp_path):
    X, y = _blobs()
    path = tmp_path / "ckpt.npz"
    setup = dict(loss=sn.CrossEntropy(), optimizer=sn.SGD(0.1), verbose=0)
    net = sn.Sequential(sn.Dense(2, 3), seed=0)
    net.fit(X, y, epochs=3, callbacks=[sn.ModelCheckpoint(path), sn.CosineAnnealingLR(T_max=3)], **setup)
    with pytest.raises(ValueError, match=r"T_max=3\) would train epochs 4 to 5 of fit\(epochs=5\)"):
        net.fit(X, y, epochs=5, resume_from=path, callbacks=[sn.ModelCheckpoint(path), sn.CosineAnnealingLR(T_max=3)],
                **setup)


def test_cosine_annealing_without_t_max_spans_each_fit_and_resumes_onto_the_new_total(tmp_path):
    np.testing.assert_allclose(_rates(sn.CosineAnnealingLR(), 6), _cosine(6, 6))
    X, y = _blobs()
    path = tmp_path / "ckpt.npz"
    setup = dict(loss=sn.CrossEntropy(), optimizer=sn.SGD(0.1), verbose=0)
    net = sn.Sequential(sn.Dense(2, 3), seed=0)
    net.fit(X, y, epochs=4, callbacks=[sn.ModelCheckpoint(path), sn.CosineAnnealingLR()], **setup)
    history = net.fit(X, y, epochs=6, resume_from=path, callbacks=[sn.ModelCheckpoint(path), sn.CosineAnnealingLR()],
                      **setup)
    np.testing.assert_allclose(history.history["learning_rate"], _cosine(4, 4) + _cosine(6, 6)[4:])


def test_cosine_annealing_past_t_max_stays_at_a_given_min_lr_even_zero():
    np.testing.assert_allclose(_rates(sn.CosineAnnealingLR(T_max=4, min_lr=0.01), 7), _cosine(7, 4, low=0.01))
    rates = _rates(sn.CosineAnnealingLR(T_max=4, min_lr=0), 6)
    np.testing.assert_allclose(rates, _cosine(6, 4))
    assert rates[4:] == [0.0, 0.0]


def test_cosine_annealing_arguments_are_checked():
    with pytest.raises(TypeError, match="T_max must be a positive integer or None, got"):
        sn.CosineAnnealingLR(T_max=2.5)
    with pytest.raises(ValueError, match=r"min_lr must be a finite number >= 0, got -1"):
        sn.CosineAnnealingLR(5, min_lr=-1)


# --- class names are checked when assigned -----------------------------------------------------

def _classifier(outputs=10, inputs=4):
    return sn.Sequential(sn.Dense(inputs, 8), sn.ReLU(), sn.Dense(8, outputs), seed=0)


def test_class_names_with_an_ellipsis_are_refused_on_assignment():
    net = _classifier()
    with pytest.raises(TypeError, match=r"classes\[2\] must be a str or int name \(saved as JSON\), got "
                                        r"Ellipsis.*sn.datasets.FASHION_MNIST_CLASSES"):
        net.classes = ["T-shirt/top", "Trouser", ...]
    assert net.classes is None


def test_too_few_class_names_are_refused_on_assignment():
    net = _classifier()
    with pytest.raises(ValueError, match=r"classes has 3 names, but the network has 10 output columns: "
                                         r"give 10 names, one per output"):
        net.classes = ["cat", "dog", "emu"]
    with pytest.raises(ValueError, match=r"network has 1 output column: give 2 names \(output > 0.5"):
        _classifier(outputs=1).classes = ["yes"]


@pytest.mark.parametrize("names, error, fragment", [
    ("abc", TypeError, r"classes must be a list of class names \(str or int\), one per output, or None, got 'abc'"),
    ([1.5, 2.5], TypeError, r"classes\[0\] must be a str or int name"),
    (["a", "b", "a"], ValueError, r"classes has 'a' twice \(at 0 and 2\)"),
])
def test_class_names_must_be_distinct_str_or_int(names, error, fragment):
    with pytest.raises(error, match=fragment):
        _classifier(outputs=len(names) if isinstance(names, list) else 3).classes = names


def test_class_names_of_the_data_sets_and_of_numpy_are_kept_as_json_values(tmp_path):
    net = _classifier()
    net.classes = sn.datasets.FASHION_MNIST_CLASSES
    assert net.classes == list(sn.datasets.FASHION_MNIST_CLASSES)
    net.classes = sn.datasets.MNIST_CLASSES
    assert net.classes == [str(digit) for digit in range(10)]
    net.classes = np.arange(10)
    assert net.classes == list(range(10)) and all(type(name) is int for name in net.classes)
    net.save(tmp_path / "m.npz")
    assert sn.load(tmp_path / "m.npz").classes == list(range(10))
    binary = _classifier(outputs=1)
    binary.classes = ["no", "yes"]
    assert list(binary.predict_classes(np.zeros((2, 4)))) in (["no", "no"], ["yes", "yes"])


def test_class_names_for_a_network_of_unknown_width_are_checked_by_predict_classes():
    net = sn.Sequential(sn.Conv2D(1, 2, 3), sn.Flatten(), seed=0)     # outputs 2·(H−2)·(W−2) columns
    net.classes = ["a", "b", "c"]                                       # unknown width: accepted
    with pytest.raises(ValueError, match=r"classes has 3 names, but the network has 8 output columns"):
        net.predict_classes(np.zeros((1, 1, 4, 4)))


def test_a_pickled_network_keeps_its_class_names():
    import pickle

    net = _classifier(outputs=3)
    net.classes = ["cat", "dog", "emu"]
    assert pickle.loads(pickle.dumps(net)).classes == ["cat", "dog", "emu"]


# --- predict warns about inputs far outside the training range ---------------------------------

def _pixels():
    rng = np.random.default_rng(0)
    X = rng.random((60, 4)).astype(np.float32)                 # "pixels / 255", in [0, 1]
    return X, (X.sum(axis=1) > 2).astype(int)


def _trained():
    X, y = _pixels()
    net = _classifier(outputs=2)
    net.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=2, verbose=0)
    return net, X


def test_predict_warns_once_about_raw_pixels_for_a_model_trained_on_0_1():
    net, X = _trained()
    assert net.input_range == (float(X.min()), float(X.max()))
    with pytest.warns(UserWarning, match=r"X holds values from [\d.]+ to 25\d\.\d, far outside the range the model "
                                         r"was trained on, 0\.00\d+ to 0\.99\d+: .*divide them by 255") as caught:
        net.predict_classes(X * 255)
    assert len(caught) == 1


def test_predict_stays_quiet_for_inputs_near_the_training_range():
    net, X = _trained()
    net.predict(X)
    net.predict(np.clip(X * 1.8 - 0.4, -0.5, 1.5))    # within one width beyond the range
    sn.Sequential(sn.Dense(4, 2), seed=0).predict(X * 255)   # untrained: no range, no warning


def test_the_training_range_is_saved_and_files_without_it_load(tmp_path):
    net, X = _trained()
    net.save(tmp_path / "m.npz")
    loaded = sn.load(tmp_path / "m.npz")
    assert loaded.input_range == net.input_range
    with pytest.warns(UserWarning, match="far outside the range"):
        loaded.predict(X * 255)
    untrained = _classifier(outputs=2)
    untrained.save(tmp_path / "u.npz")
    assert "input_range" not in untrained.get_config() and sn.load(tmp_path / "u.npz").input_range is None


def test_a_checkpoint_records_the_training_range(tmp_path):
    X, y = _pixels()
    net = _classifier(outputs=2)
    net.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=1, verbose=0,
            callbacks=[sn.ModelCheckpoint(tmp_path / "ck.npz")])
    assert sn.load(tmp_path / "ck.npz").input_range == net.input_range


def test_a_wrong_training_range_in_a_file_is_a_clear_error():
    config = _classifier(outputs=2).get_config()
    weights = _classifier(outputs=2).state_dict()
    for bad in ([1.0], [2.0, 1.0], ["a", 1.0], [0.0, float("nan")]):
        with pytest.raises(ValueError, match=r"'f.npz': input_range must be \[low, high\], finite, low <= high"):
            from_model_file("f.npz", {**config, "input_range": bad}, weights)
