"""Tests for scratchnn.loss_surface, TrajectoryRecorder, plot_loss_surface and `scratchnn surface`."""

import os
import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli.main import main
from scratchnn.surface import random_directions


def classification_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


def small_net(dtype=np.float64, seed=0):
    return sn.Sequential(sn.Dense(3, 6), sn.Tanh(), sn.Dense(6, 2), seed=seed, dtype=dtype)


def trained_with_path(every=None, epochs=12):
    X, y = classification_data()
    net = small_net()
    recorder = sn.TrajectoryRecorder(every=every)
    net.fit(X, y, "cross_entropy", sn.Adam(0.05), epochs=epochs, batch_size=40, callbacks=[recorder], verbose=0)
    return net, X, y, recorder


# ---- the value at the weights, and the weights left alone ------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_origin_equals_evaluate_and_weights_are_bit_identical(dtype):
    X, y = classification_data()
    net = small_net(dtype)
    net.fit(X, y, "cross_entropy", sn.Adam(0.05), epochs=3, verbose=0)
    before = net.flat_parameter.value.copy()
    views = [p.value for p in net.parameters()]
    surface = sn.loss_surface(net, X, y, sn.CrossEntropy(), resolution=7, span=0.5, batch_size=50)
    expected = net.evaluate(X, y, sn.CrossEntropy(), batch_size=50)
    assert abs(surface.values[3, 3] - expected) <= 1e-9
    assert abs(surface.origin_loss - expected) <= 1e-9
    assert surface.alphas[3] == surface.betas[3] == 0.0
    assert np.array_equal(net.flat_parameter.value, before)
    assert net.flat_parameter.value.tobytes() == before.tobytes()
    assert all(p.value is view for p, view in zip(net.parameters(), views))     # still views of the buffer
    assert not np.all(surface.values == surface.values[3, 3])                   # the grid did move


class FailingLoss(sn.MSE):
    """MSE that raises at its `fail_at`-th evaluation (an interruption mid-grid)."""

    def __init__(self, fail_at, error=RuntimeError):
        super().__init__()
        self.calls, self.fail_at, self.error = 0, fail_at, error

    def forward(self, predictions, targets):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error("stopped mid-grid")
        return super().forward(predictions, targets)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_weights_bit_identical_after_an_exception_mid_grid(error):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 1), seed=0, dtype=np.float32)
    before = net.flat_parameter.value.copy()
    loss = FailingLoss(fail_at=20, error=error)
    with pytest.raises(error, match="mid-grid"):
        sn.loss_surface(net, X, y, loss, resolution=9)
    assert loss.calls == 20
    assert net.flat_parameter.value.tobytes() == before.tobytes()


# ---- the linear-regression paraboloid --------------------------------------------------

def test_linear_regression_equals_the_analytic_paraboloid():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4))
    y = X @ rng.normal(size=(4, 1)) + 0.3 + 0.1 * rng.normal(size=(50, 1))
    net = sn.Sequential(sn.Dense(4, 1), seed=2, dtype=np.float64)
    net.fit(X, y, "mse", sn.SGD(0.05), epochs=5, verbose=0)
    surface = sn.loss_surface(net, X, y, "mse", resolution=9, span=2.0, seed=5)
    # L(θ) = 1/(2N) ‖A θ − y‖², A = [X 1], θ = [w; b]: the flat parameter vector's layout
    A = np.hstack([X, np.ones((50, 1))])
    theta = net.flat_parameter.value.copy()
    r, u, v = A @ theta - y[:, 0], A @ surface.directions[0], A @ surface.directions[1]
    a, b = np.meshgrid(surface.alphas, surface.betas, indexing="ij")
    expected = (r @ r + 2 * a * (r @ u) + 2 * b * (r @ v) + a**2 * (u @ u) + 2 * a * b * (u @ v)
                + b**2 * (v @ v)) / (2 * len(X))
    np.testing.assert_allclose(surface.values, expected, rtol=0, atol=1e-9)
    assert surface.values.max() > 2 * surface.values.min()          # a real paraboloid, not flat


def test_directions_are_filter_normalized_and_leave_biases():
    net = sn.Sequential(sn.Conv2D(1, 3, 3), sn.BatchNorm(3), sn.Flatten(), sn.Dense(12, 5), seed=0,
                        dtype=np.float64)
    directions = random_directions(net, seed=4)
    assert directions.shape == (2, net.flat_parameter.value.size)
    names = [f"{index}.{name}" for index, layer in enumerate(net.layers) for name in layer.named_parameters()]
    slices = dict(zip(names, sn.nn.base.flat_slices(net.parameters())))
    conv, dense = net.layers[0].weight.value, net.layers[3].weight.value
    for d in directions:
        d_conv = d[slices["0.weight"]].reshape(conv.shape)          # per filter: axis 0
        np.testing.assert_allclose(np.linalg.norm(d_conv.reshape(3, -1), axis=1),
                                   np.linalg.norm(conv.reshape(3, -1), axis=1), rtol=1e-12)
        d_dense = d[slices["3.weight"]].reshape(dense.shape)        # per output unit: columns
        np.testing.assert_allclose(np.linalg.norm(d_dense, axis=0), np.linalg.norm(dense, axis=0), rtol=1e-12)
        for name in ("0.bias", "1.weight", "1.bias", "3.bias"):      # biases, BatchNorm's γ and β
            assert not d[slices[name]].any()
    assert not np.allclose(directions[0], directions[1])


def test_seeds_are_reproducible():
    X, y = classification_data()
    net = small_net()
    first = sn.loss_surface(net, X, y, "cross_entropy", resolution=5, seed=7)
    again = sn.loss_surface(net, X, y, "cross_entropy", resolution=5, seed=7)
    other = sn.loss_surface(net, X, y, "cross_entropy", resolution=5, seed=8)
    assert np.array_equal(first.values, again.values) and np.array_equal(first.directions, again.directions)
    assert not np.allclose(first.values, other.values)
    assert np.array_equal(first.directions, random_directions(net, 7))


# ---- a recorded trajectory's principal directions --------------------------------------

def test_pca_directions_are_orthonormal_and_project_the_path():
    net, X, y, recorder = trained_with_path()
    path = recorder.path
    assert path.shape == (13, net.flat_parameter.value.size)          # the start, then each epoch
    assert np.array_equal(path[-1], net.flat_parameter.value)
    surface = sn.loss_surface(net, X, y, "cross_entropy", resolution=6, path=recorder)
    d = surface.directions
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(surface.trajectory, (path - path[-1]) @ d.T, atol=1e-12)
    assert np.all(surface.trajectory[0] <= 0) and np.all(surface.trajectory[-1] == 0)
    assert surface.method == "pca" and 0 < surface.explained_variance[1] <= surface.explained_variance[0] < 1
    # the grid covers the whole trajectory, and the weights themselves
    for k, axis in enumerate((surface.alphas, surface.betas)):
        assert axis[0] < surface.trajectory[:, k].min() and axis[-1] > surface.trajectory[:, k].max()
    # the directions are the leading principal axes: their variances are the two largest
    # eigenvalues of the points' Gram matrix (computed here without an SVD)
    centred = path - path.mean(axis=0)
    eigenvalues = np.sort(np.linalg.eigvalsh(centred @ centred.T))[::-1]
    np.testing.assert_allclose(np.linalg.norm(centred @ d.T, axis=0) ** 2, eigenvalues[:2], rtol=1e-9)
    # an array works as well as the recorder, and the origin is the weights
    same = sn.loss_surface(net, X, y, "cross_entropy", resolution=6, path=path)
    assert np.array_equal(same.values, surface.values)
    assert abs(surface.origin_loss - net.evaluate(X, y, "cross_entropy")) <= 1e-9


def test_recorder_every_k_batches():
    net, _, _, recorder = trained_with_path(every=2, epochs=2)       # 3 batches an epoch: 6 batches
    assert len(recorder.points) == 1 + 3
    with pytest.raises(ValueError, match="recorded nothing"):
        sn.TrajectoryRecorder().path
    with pytest.raises(ValueError, match="every must be >= 1"):
        sn.TrajectoryRecorder(every=0)


# ---- bad input: one-line errors before any work ----------------------------------------

@pytest.mark.parametrize("arguments, error, message", [
    ({"resolution": 1}, ValueError, "resolution must be an int >= 2"),
    ({"resolution": 0}, ValueError, "resolution must be >= 1"),
    ({"resolution": 2.5}, TypeError, "resolution must be a positive integer"),
    ({"span": 0}, ValueError, "span must be a finite number > 0"),
    ({"span": -1.0}, ValueError, "span must be a finite number > 0"),
    ({"seed": -1}, ValueError, "seed must be an int >= 0"),
    ({"path": np.zeros((1, 38))}, ValueError, "at least 2 points"),
    ({"path": np.zeros((3, 5))}, ValueError, r"path must have shape \(n_points, 38\)"),
    ({"path": np.zeros((3, 38))}, ValueError, "all equal"),
    ({"verbose": 2}, ValueError, "verbose must be 0 or 1"),
])
def test_bad_arguments(arguments, error, message):
    X, y = classification_data()
    net = small_net()
    loss = FailingLoss(fail_at=1)                # any evaluation would raise "stopped mid-grid"
    with pytest.raises(error, match=message):
        sn.loss_surface(net, X, np.zeros((len(X), 2)), loss, **arguments)
    assert loss.calls == 0


def test_bad_network_and_data():
    X, y = classification_data()
    with pytest.raises(TypeError, match="net must be a built scratchnn Sequential"):
        sn.loss_surface(sn.Dense(3, 2), X, y, "cross_entropy")
    with pytest.raises(TypeError, match="net must be a built scratchnn Sequential"):
        random_directions([sn.Dense(3, 2)])
    with pytest.raises(ValueError, match="net has no parameters"):
        sn.loss_surface(sn.Sequential(sn.Tanh()), X, y, "mse")
    with pytest.raises(ValueError, match=r"X of shape \(N, 4\) does not fit the network"):
        sn.loss_surface(small_net(), np.zeros((5, 4)), np.zeros(5, dtype=int), "cross_entropy")
    with pytest.raises(ValueError, match="needs loss="):
        sn.loss_surface(small_net(), X, y)


# ---- the plot and the command line -----------------------------------------------------

def assert_real_png(path):
    """A PNG of a sensible size that is not one colour."""
    from matplotlib.image import imread
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert min(pixels.shape[:2]) >= 300 and np.any(pixels != pixels[0, 0], axis=2).mean() > 0.05


def test_plot_loss_surface_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    net, X, y, recorder = trained_with_path()
    surface = sn.loss_surface(net, X, y, "cross_entropy", resolution=8, path=recorder)
    fig = sn.plot.plot_loss_surface(surface, path=tmp_path / "surface.png", title="small net")
    assert_real_png(tmp_path / "surface.png")
    contours = fig.axes[0]
    assert len(contours.lines[0].get_xdata()) == len(recorder.points)      # the trajectory is drawn
    random = sn.loss_surface(net, X, y, "cross_entropy", resolution=5)
    sn.plot.plot_loss_surface(random, trajectory=surface.trajectory[:, ::-1], path=tmp_path / "r.png")
    assert_real_png(tmp_path / "r.png")
    with pytest.raises(TypeError, match="surface must be what scratchnn.loss_surface returns"):
        sn.plot.plot_loss_surface({"values": 1})
    with pytest.raises(ValueError, match="trajectory must be an array"):
        sn.plot.plot_loss_surface(random, trajectory=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="trajectory must be an array of .* got 'ab'"):
        sn.plot.plot_loss_surface(random, trajectory="ab")


def test_cli_surface(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = tmp_path / "model.npz"
    assert main(["train", "moons", "--hidden", "8", "--epochs", "3", "--out", str(model), "--verbose", "0"]) == 0
    before = model.read_bytes()
    capsys.readouterr()
    plots = tmp_path / "plots"
    assert main(["surface", str(model), "moons", "--plots", str(plots), "--resolution", "5",
                 "--samples", "50", "--span", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "moons: 50 training rows, 5x5 grid, span 0.5" in out
    assert (plots / "loss_surface.png").exists() and model.read_bytes() == before
    loss = float(out.split("Loss at the model's weights: ")[1].split()[0])
    assert 0 < loss < 1.5
    assert main(["surface", str(model), "moons", "--plots", str(plots), "--resolution", "1"]) == 2
    assert "--resolution must be at least 2" in capsys.readouterr().err
    assert main(["surface", str(model), "moons", "--plots", str(plots), "--span", "0"]) == 2
    assert "--span must be a finite number > 0" in capsys.readouterr().err
    assert main(["surface", str(model), "circles", "--plots", str(plots), "--samples", "0"]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err
    assert main(["surface", str(model), "moons", "--plots", str(model)]) == 2        # a file, not a folder
    assert capsys.readouterr().err == f"scratchnn: error: --plots must be a directory, got the file {str(model)!r}\n"
    assert main(["train", "moons", "--epochs", "1", "--plots", str(model), "--verbose", "0"]) == 2
    assert "--plots must be a directory" in capsys.readouterr().err and model.read_bytes() == before


@pytest.mark.slow
def test_lesson_4_script_writes_its_figures(tmp_path):
    pytest.importorskip("matplotlib")
    root = os.path.join(os.path.dirname(__file__), "..")
    done = subprocess.run([sys.executable, os.path.join(root, "examples", "learn_4_loss_surfaces.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.path.join(root, "src")})
    assert done.returncode == 0, done.stderr
    assert "XOR, blog's network, seed 28" in done.stdout and "Fashion-MNIST MLP" in done.stdout
    names = ["learn_4_xor_trajectory.png", "learn_4_xor_stuck.png", "learn_4_xor_random.png",
             "learn_4_fashion_random.png", "learn_4_fashion_trajectory.png", "loss_surface.png"]
    for name in names:
        assert_real_png(tmp_path / name)
        assert (tmp_path / name).stat().st_size < 150_000
