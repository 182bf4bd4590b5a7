"""Tests for scratchnn.normalization.BatchNorm: training and inference against naive loops,
the running statistics against PyTorch's update rule, finite-difference gradients, the
buffers, the argument checks, and BatchNorm inside networks that learn."""

import math

import numpy as np
import pytest

import scratchnn
from scratchnn.nn.conv import Conv2D
from scratchnn.nn.pooling import MaxPool2D
from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.nn.normalization import BatchNorm


def built(num_features, dtype=np.float64, seed=0, **keywords):
    layer = BatchNorm(num_features, **keywords)
    layer.build(np.random.default_rng(seed), dtype)
    rng = np.random.default_rng(seed + 1)
    layer.weight.value[...] = rng.uniform(0.5, 1.5, num_features)      # γ and β away from 1 and 0
    layer.bias.value[...] = rng.normal(size=num_features)
    return layer


def channel_values(x, channel):
    """Every value of one channel, by loops over the batch (and the pixels)."""
    if x.ndim == 2:
        return [float(x[n, channel]) for n in range(x.shape[0])]
    return [float(x[n, channel, h, w])
            for n in range(x.shape[0]) for h in range(x.shape[2]) for w in range(x.shape[3])]


def naive_batch_norm(x, gamma, beta, epsilon, mean=None, variance=None):
    """y = γ (x − μ) / √(σ² + ε) + β, channel by channel; μ and σ² (biased) are the batch's
    unless given."""
    y = np.zeros_like(x, dtype=np.float64)
    for channel in range(x.shape[1]):
        values = channel_values(x, channel)
        mu = sum(values) / len(values) if mean is None else float(mean[channel])
        var = sum((v - mu) ** 2 for v in values) / len(values) if variance is None else float(variance[channel])
        y[:, channel] = gamma[channel] * (x[:, channel] - mu) / math.sqrt(var + epsilon) + beta[channel]
    return y


SHAPES = [(6, 3), (4, 3, 5, 6)]
# fused=False: the NumPy lines; True: the compiled passes of kernels/normalization.py (Numba)
FUSED = [False, pytest.param(True, marks=pytest.mark.skipif(not scratchnn.kernels.available,
                                                            reason="needs numba"))]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fused", FUSED)
def test_training_forward_matches_naive_loops(shape, fused):
    layer = built(shape[1], fused=fused)
    x = np.random.default_rng(2).normal(3.0, 2.0, size=shape)
    y = layer.forward(x, training=True)
    expected = naive_batch_norm(x, layer.weight.value, layer.bias.value, 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    normalized = (y - layer.bias.value.reshape(per_channel)) / layer.weight.value.reshape(per_channel)
    np.testing.assert_allclose(normalized.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(normalized.var(axis=axes), 1, atol=1e-3)           # 1 up to ε


@pytest.mark.parametrize("shape", SHAPES)
def test_running_statistics_follow_pytorch_rule(shape):
    momentum = 0.2
    layer = built(shape[1], momentum=momentum)
    running_mean, running_var = np.zeros(shape[1]), np.ones(shape[1])
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(1.0, 3.0, size=shape)
        layer.forward(x, training=True)
        for channel in range(shape[1]):
            values = channel_values(x, channel)
            mean = sum(values) / len(values)
            unbiased = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
            running_mean[channel] = (1 - momentum) * running_mean[channel] + momentum * mean
            running_var[channel] = (1 - momentum) * running_var[channel] + momentum * unbiased
        np.testing.assert_allclose(layer.running_mean, running_mean, rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, running_var, rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_inference_uses_running_statistics_and_changes_nothing(shape):
    layer = built(shape[1])
    rng = np.random.default_rng(4)
    for _ in range(2):
        layer.forward(rng.normal(2.0, 1.5, size=shape), training=True)
    before = {name: value.copy() for name, value in layer.get_buffers().items()}
    x = rng.normal(size=shape)
    y = layer.forward(x)                                           # training=False
    expected = naive_batch_norm(x, layer.weight.value, layer.bias.value, 1e-5,
                                mean=layer.running_mean, variance=layer.running_var)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    for name, value in layer.get_buffers().items():
        np.testing.assert_array_equal(value, before[name])
    assert not np.allclose(y, layer.forward(x, training=True))     # batch statistics differ


def test_momentum_extremes():
    x = np.random.default_rng(5).normal(4.0, 2.0, size=(10, 2))
    frozen = built(2, momentum=0.0)
    frozen.forward(x, training=True)
    np.testing.assert_array_equal(frozen.running_mean, 0)
    np.testing.assert_array_equal(frozen.running_var, 1)
    follower = built(2, momentum=1.0)
    follower.forward(x, training=True)
    np.testing.assert_allclose(follower.running_mean, x.mean(axis=0))
    np.testing.assert_allclose(follower.running_var, x.var(axis=0, ddof=1))


def gradient_errors(layer, x, training, step=1e-5, seed=6):
    upstream = np.random.default_rng(seed).normal(size=x.shape)
    running = {name: value.copy() for name, value in layer.get_buffers().items()}

    def loss():
        value = float(np.sum(upstream * layer.forward(x, training=training)))
        layer.set_buffers(running)                   # keep the running statistics still
        return value

    layer.weight.grad[...] = 0
    layer.bias.grad[...] = 0
    loss()
    grad_input = layer.backward(upstream)
    analytic = {"input": grad_input, "weight": layer.weight.grad.copy(), "bias": layer.bias.grad.copy()}
    numeric = {"input": x, "weight": layer.weight.value, "bias": layer.bias.value}
    errors = {}
    for name, array in numeric.items():
        estimate = numerical_gradient(loss, array, step)
        errors[name] = relative_error(analytic[name], estimate).max()
    return errors


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("fused", FUSED)
def test_gradients_match_finite_differences(shape, training, fused):
    layer = built(shape[1], fused=fused)
    layer.forward(np.random.default_rng(7).normal(1.0, 2.0, size=shape), training=True)   # non-trivial running stats
    x = np.random.default_rng(8).normal(0.5, 1.5, size=shape)
    errors = gradient_errors(layer, x, training)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("shape", SHAPES)
def test_float32_matches_float64(shape):
    layer64, layer32 = built(shape[1], np.float64), built(shape[1], np.float32)
    x = np.random.default_rng(9).normal(2.0, 3.0, size=shape)
    upstream = np.random.default_rng(10).normal(size=shape)
    for training in (True, False):
        y64 = layer64.forward(x, training=training)
        y32 = layer32.forward(x.astype(np.float32), training=training)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
        g64, g32 = layer64.backward(upstream), layer32.backward(upstream.astype(np.float32))
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(layer32.running_var, layer64.running_var, rtol=1e-5)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("shape", [(64, 8, 14, 14), (300, 40), (5, 4, 3, 3)])
def test_compiled_batch_norm_equals_the_numpy_equations(shape, dtype, tolerance):
    """fused="auto" (compiled from ~4096 values: the first two shapes) and fused=True (any
    size) against fused=False: outputs, input and parameter gradients and running statistics
    the same to float rounding, in training and at inference, through several steps."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(11)
    x = rng.normal(3.0, 2.0, size=shape).astype(dtype)
    upstream = rng.normal(size=shape).astype(dtype)
    results = {}
    for fused in (False, "auto", True):
        layer, values = built(shape[1], dtype, fused=fused), []
        for training in (True, True, False):
            values += [layer.forward(x, training=training), layer.backward(upstream)]
        values += [layer.weight.grad, layer.bias.grad, layer.running_mean, layer.running_var]
        results[fused] = values
    for fused in ("auto", True):
        for plain, compiled in zip(results[False], results[fused]):
            assert compiled.dtype == plain.dtype and compiled.shape == plain.shape
            np.testing.assert_allclose(compiled, plain, rtol=tolerance, atol=tolerance * np.abs(plain).max())


def test_compiled_batch_norm_takes_strided_input_through_numpy():
    """An input that is not C-contiguous (a transposed view) goes through the NumPy lines,
    with the same result as its contiguous copy through the compiled passes."""
    pytest.importorskip("numba")
    x = np.random.default_rng(12).normal(size=(6, 5, 8, 64)).transpose(0, 1, 3, 2)
    strided, contiguous = built(5, fused="auto"), built(5, fused="auto")
    np.testing.assert_allclose(strided.forward(x, training=True),
                               contiguous.forward(np.ascontiguousarray(x), training=True), rtol=1e-12, atol=1e-12)
    assert not strided.compiled and contiguous.compiled


def test_buffers_round_trip_in_place():
    layer = built(3)
    assert BatchNorm(3).get_buffers() == {}
    buffers = layer.get_buffers()
    assert list(buffers) == ["running_mean", "running_var"]
    assert buffers["running_mean"] is layer.running_mean
    layer.set_buffers({"running_mean": [1.0, 2.0, 3.0], "running_var": np.full(3, 4.0)})
    assert buffers["running_mean"] is layer.running_mean                     # same arrays, new values
    np.testing.assert_array_equal(layer.running_mean, [1, 2, 3])
    np.testing.assert_array_equal(layer.running_var, [4, 4, 4])
    assert list(layer.named_parameters()) == ["weight", "bias"]               # buffers are not parameters
    with pytest.raises(ValueError, match=r"set_buffers expects a dict with keys "
                                         r"\['running_mean', 'running_var'\], got \['running_mean'\]"):
        layer.set_buffers({"running_mean": np.zeros(3)})
    with pytest.raises(ValueError, match=r"buffer 'running_var' must have shape \(3,\), got shape \(4,\)"):
        layer.set_buffers({"running_mean": np.zeros(3), "running_var": np.ones(4)})
    np.testing.assert_array_equal(layer.running_mean, [1, 2, 3])             # unchanged after a refusal
    with pytest.raises(RuntimeError, match="not built"):
        BatchNorm(3).set_buffers({})
    assert BatchNorm(3, momentum=0.05, epsilon=1e-3).get_config() == {
        "num_features": 3, "momentum": 0.05, "epsilon": 1e-3}


@pytest.mark.parametrize("arguments, error, fragment", [
    ({"num_features": 0}, ValueError, "num_features must be >= 1, got 0"),
    ({"num_features": 2.0}, TypeError, "num_features must be a positive integer"),
    ({"num_features": 2, "momentum": 1.5}, ValueError, "momentum must be in [0.0, 1.0], got 1.5"),
    ({"num_features": 2, "epsilon": 0}, ValueError, "epsilon must be a finite number > 0, got 0.0"),
])
def test_bad_arguments(arguments, error, fragment):
    with pytest.raises(error) as raised:
        BatchNorm(**arguments)
    assert fragment in str(raised.value)


def test_bad_inputs_name_the_shape():
    layer = built(3)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) expects input of shape \(N, 3\) or "
                                         r"\(N, 3, H, W\), got shape \(4, 5\)"):
        layer.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"got shape \(4, 3, 5\)"):
        layer.forward(np.zeros((4, 3, 5)))
    with pytest.raises(ValueError, match=r"needs more than one value per channel in training, "
                                         r"got input of shape \(1, 3\)"):
        layer.forward(np.zeros((1, 3)), training=True)
    assert layer.forward(np.zeros((1, 3))).shape == (1, 3)                   # fine at inference
    with pytest.raises(RuntimeError, match="not built"):
        BatchNorm(3).forward(np.zeros((2, 3)))


def test_batch_norm_in_sequential_networks_learns():
    rng = np.random.default_rng(11)
    X = rng.normal(5.0, 3.0, size=(128, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    net = scratchnn.Sequential(scratchnn.Dense(4, 16), BatchNorm(16), scratchnn.ReLU(), scratchnn.Dense(16, 2),
                               seed=0)
    assert len(net.parameters()) == 6                                        # no running statistics among them
    norm = net.layers[1]
    history = net.fit(X, y, loss=scratchnn.CrossEntropy(), optimizer=scratchnn.Adam(1e-2),
                      epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert not np.allclose(norm.running_mean, 0) and np.mean(net.predict(X).argmax(axis=1) == y) > 0.9

    images = rng.normal(size=(64, 1, 6, 6))
    labels = (images[:, 0, :3].sum(axis=(1, 2)) > images[:, 0, 3:].sum(axis=(1, 2))).astype(int)
    cnn = scratchnn.Sequential(Conv2D(1, 4, 3, padding=1), BatchNorm(4), scratchnn.ReLU(), MaxPool2D(2),
                               scratchnn.Flatten(), scratchnn.Dense(36, 2), seed=0)
    history = cnn.fit(images, labels, loss=scratchnn.CrossEntropy(), optimizer=scratchnn.Adam(1e-2),
                      epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
