"""Tests for scratchnn.gradcheck: whole networks pass a float64 finite-difference check, the
network checked is left untouched, and a wrong backward is caught."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.gradcheck import gradcheck, numerical_gradient, relative_error


def data(seed, n=4, features=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features))


def int_labels(seed, n=4, classes=3):
    return np.random.default_rng(seed).integers(0, classes, size=n)


def stacks():
    """(id, layers, loss, X, y): small random networks and data, all seeded."""
    X = data(1)
    binary = np.random.default_rng(2).integers(0, 2, size=(4, 1)).astype(float)
    return [
        ("dense_tanh_dense_cross_entropy",
         [sn.Dense(3, 5), sn.Tanh(), sn.Dense(5, 3)], sn.CrossEntropy(), X, int_labels(3)),
        ("dense_tanh_dense_cross_entropy_sum_one_hot",
         [sn.Dense(3, 5), sn.Tanh(), sn.Dense(5, 3)], sn.CrossEntropy(reduction="sum"), X,
         np.eye(3)[int_labels(4)]),
        ("blog_sigmoid_mse",                       # the blog's 2-2-1 network with uniform weights
         [sn.Dense(2, 2, init="uniform"), sn.Sigmoid(), sn.Dense(2, 1, init="uniform"), sn.Sigmoid()],
         sn.MSE(reduction="sum"), np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]),
         np.array([[0.0], [1.0], [1.0], [0.0]])),
        ("blog_sigmoid_mse_mean",
         [sn.Dense(3, 4), sn.Sigmoid(), sn.Dense(4, 2), sn.Sigmoid()], sn.MSE(), X,
         np.random.default_rng(5).uniform(size=(4, 2))),
        ("elu_gelu_bce_logits",
         [sn.Dense(3, 4), sn.ELU(), sn.Dense(4, 4), sn.GELU(), sn.Dense(4, 1)],
         sn.BinaryCrossEntropy(from_logits=True), X, binary),
        ("elu_half_gelu_tanh_bce_logits",
         [sn.Dense(3, 4), sn.ELU(alpha=0.5), sn.Dense(4, 4), sn.GELU(approximate="tanh"), sn.Dense(4, 1)],
         sn.BinaryCrossEntropy(from_logits=True, reduction="sum"), X, binary),
        ("leaky_relu_softmax_mse",
         [sn.Dense(3, 5, init="he_normal"), sn.LeakyReLU(0.1), sn.Dense(5, 3), sn.Softmax()],
         sn.MSE(reduction="sum"), X, np.eye(3)[int_labels(6)]),
        ("flatten_dense_cross_entropy",
         [sn.Flatten(), sn.Dense(6, 4), sn.Tanh(), sn.Dense(4, 3)], sn.CrossEntropy(),
         np.random.default_rng(7).normal(size=(4, 2, 3)), int_labels(8)),
        # MAE: targets far from the outputs (no kink at p = y), and one sign per column, so
        # that no bias gradient is an exact 0 that only finite-difference noise would "miss"
        ("mae",
         [sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 2)], sn.MAE(), X, np.tile([5.0, -5.0], (4, 1))),
        ("sigmoid_bce_probabilities",
         [sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 1), sn.Sigmoid()], sn.BinaryCrossEntropy(), X, binary),
        ("relu_identity_mse",                        # checked below: no pre-activation near 0
         [sn.Dense(3, 6, init="he_normal"), sn.ReLU(), sn.Dense(6, 2), sn.Identity()], sn.MSE(), X,
         np.random.default_rng(10).normal(size=(4, 2))),
    ]


STACKS = stacks()
IDS = [case[0] for case in STACKS]


@pytest.mark.parametrize("index", range(len(STACKS)), ids=IDS)
def test_random_stacks_pass_in_float64(index):
    name, layers, loss, X, y = stacks()[index]              # fresh layers for each test
    net = sn.Sequential(*layers, seed=index, dtype=np.float64)
    if isinstance(net.layers[1], (sn.ReLU, sn.LeakyReLU)):
        assert np.abs(net.layers[0].forward(X)).min() > 1e-3     # away from the kink at 0
    error = gradcheck(net, loss, X, y)
    assert error < 1e-6, f"{name}: relative error {error:.3g}"


def test_float32_network_is_checked_on_a_copy_and_left_unchanged():
    net = sn.Sequential(sn.Dense(3, 5), sn.Tanh(), sn.Dense(5, 3), seed=0, dtype=np.float32)
    X, y = data(11).astype(np.float32), int_labels(12)
    before = {name: value.copy() for name, value in net.state_dict().items()}
    grads_before = [p.grad.copy() for p in net.parameters()]
    X_before = X.copy()
    error = gradcheck(net, sn.CrossEntropy(), X, y)
    assert error < 1e-6, error
    assert net.dtype == np.float32
    for name, value in net.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, before[name])
    for parameter, grad in zip(net.parameters(), grads_before):
        np.testing.assert_array_equal(parameter.grad, grad)
    np.testing.assert_array_equal(X, X_before)


def test_loss_by_name():
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 3), seed=1, dtype=np.float64)
    assert gradcheck(net, "cross_entropy", data(13), int_labels(14)) < 1e-6


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.5, -1.0, 2.0])
    numeric = numerical_gradient(lambda: float(np.sum(np.sin(x) * x**2)), x)
    analytic = np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert relative_error(analytic, numeric).max() < 1e-8
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])       # restored after perturbing


def test_relative_error_floor():
    assert relative_error(np.array([0.0]), np.array([0.0]))[0] == 0.0
    assert relative_error(np.array([1e-12]), np.array([0.0]))[0] == pytest.approx(1e-4)
    assert relative_error(np.array([1.0]), np.array([2.0]))[0] == 0.5


# ---- the check can fail ------------------------------------------------------------------------

class DoubledBiasDense(sn.Dense):
    """A Dense layer whose backward adds twice the correct bias gradient: a planted bug."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.bias.grad += grad_output.sum(axis=0)              # now 2 · Σ dL/dy: wrong
        return grad_input


def test_the_planted_bug_is_real():
    layer = DoubledBiasDense(3, 2)
    layer.build(np.random.default_rng(0), np.float64)
    X, upstream = data(19), np.random.default_rng(20).normal(size=(4, 2))
    layer.forward(X)
    layer.backward(upstream)
    numeric = numerical_gradient(lambda: float(np.sum(upstream * layer.forward(X))), layer.bias.value)
    np.testing.assert_allclose(layer.bias.grad, 2 * numeric, rtol=1e-8)


def test_a_wrong_layer_gives_a_large_error():
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), DoubledBiasDense(4, 2), seed=0, dtype=np.float64)
    X, y = data(15), np.random.default_rng(16).normal(size=(4, 2))
    error = gradcheck(net, sn.MSE(), X, y)
    assert error > 1e-2, error


def test_a_wrong_layer_named_like_a_library_layer_is_still_checked():
    """gradcheck must check the layers it is given, whatever their class is called."""
    wrong = type("Dense", (DoubledBiasDense,), {})            # a user's own class named Dense
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), wrong(4, 2), seed=0, dtype=np.float64)
    X, y = data(17), np.random.default_rng(18).normal(size=(4, 2))
    error = gradcheck(net, sn.MSE(), X, y)
    assert error > 1e-2, error
