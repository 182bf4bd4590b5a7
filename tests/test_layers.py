"""Tests for scratchnn.layers and scratchnn.init: Dense against a naive loop and finite
differences, gradient accumulation, Dropout's mask, Flatten, Parameter, the initializers."""

import math

import numpy as np
import pytest

from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.nn.init import INITIALIZERS, initialize
from scratchnn.nn.base import Parameter
from scratchnn.nn.core import Dense, Dropout, Flatten


def built_dense(in_features, out_features, seed=0, dtype=np.float64, init="glorot_uniform"):
    layer = Dense(in_features, out_features, init=init)
    layer.build(np.random.default_rng(seed), dtype)
    layer.bias.value[...] = np.random.default_rng(seed + 100).normal(size=out_features)  # non-zero b
    return layer


# ---- Dense --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_dense_forward_matches_triple_loop(dtype, rtol):
    layer = built_dense(4, 3, dtype=dtype)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(dtype)
    y = layer.forward(x)
    assert y.shape == (5, 3) and y.dtype == dtype
    W, b = layer.weight.value.astype(float), layer.bias.value.astype(float)
    expected = np.zeros((5, 3))
    for n in range(5):
        for j in range(3):
            total = float(b[j])
            for i in range(4):
                total += float(x[n, i]) * float(W[i, j])      # y_nj = b_j + Σ_i x_ni W_ij
            expected[n, j] = total
    np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol)


def dense_gradient_errors(layer, x, upstream):
    layer.weight.grad[...] = 0
    layer.bias.grad[...] = 0
    layer.forward(x)
    grad_input = layer.backward(upstream)

    def value():
        return float(np.sum(upstream * layer.forward(x)))

    return {
        "input": relative_error(grad_input, numerical_gradient(value, x)).max(),
        "weight": relative_error(layer.weight.grad.copy(), numerical_gradient(value, layer.weight.value)).max(),
        "bias": relative_error(layer.bias.grad.copy(), numerical_gradient(value, layer.bias.value)).max(),
    }


def test_dense_backward_matches_finite_differences():
    layer = built_dense(4, 3)
    rng = np.random.default_rng(2)
    x, upstream = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    errors = dense_gradient_errors(layer, x, upstream)
    assert max(errors.values()) < 1e-6, errors


def test_dense_backward_closed_form():
    layer = built_dense(3, 2)
    rng = np.random.default_rng(3)
    x, upstream = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer.forward(x)
    grad_input = layer.backward(upstream)
    np.testing.assert_allclose(layer.weight.grad, x.T @ upstream, rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, upstream.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(grad_input, upstream @ layer.weight.value.T, rtol=1e-14)


def test_dense_gradients_accumulate_across_backward_calls():
    layer = built_dense(3, 2)
    rng = np.random.default_rng(4)
    x1, g1, x2, g2 = rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    layer.forward(x1)
    layer.backward(g1)
    first_weight, first_bias = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer.forward(x2)
    layer.backward(g2)
    np.testing.assert_allclose(layer.weight.grad, first_weight + x2.T @ g2, rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, first_bias + g2.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(layer.weight.grad, x1.T @ g1 + x2.T @ g2, rtol=1e-13)


def test_dense_backward_does_not_change_weights():
    layer = built_dense(3, 2)
    before = layer.weight.value.copy(), layer.bias.value.copy()
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(layer.weight.value, before[0])
    np.testing.assert_array_equal(layer.bias.value, before[1])


def test_dense_build_shapes_and_parameters():
    layer = Dense(3, 5, init="he_normal")
    assert layer.parameters() == [] and layer.named_parameters() == {}
    layer.build(np.random.default_rng(0), np.float32)
    assert layer.weight.value.shape == (3, 5) and layer.weight.value.dtype == np.float32
    assert layer.bias.value.shape == (5,) and np.all(layer.bias.value == 0)
    assert list(layer.named_parameters()) == ["weight", "bias"]
    assert layer.parameters() == [layer.weight, layer.bias]
    assert repr(layer) == "Dense(in_features=3, out_features=5, init='he_normal')"


def test_dense_uniform_init_reproduces_blog_draws():
    state = np.random.get_state()
    try:
        np.random.seed(0)
        blog = np.random.uniform(size=(2, 2))
    finally:
        np.random.set_state(state)
    layer = Dense(2, 2, init="uniform")
    layer.build(np.random.RandomState(0), np.float64)
    np.testing.assert_array_equal(layer.weight.value, blog)


def test_dense_refuses_wrong_input_width():
    layer = built_dense(3, 2)
    with pytest.raises(ValueError, match=r"Dense\(3, 2\) expects input of shape \(N, 3\), got shape \(4, 5\)"):
        layer.forward(np.zeros((4, 5)))


def test_dense_refuses_one_dimensional_input():
    layer = built_dense(3, 2)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3\), got shape \(3,\)"):
        layer.forward(np.zeros(3))


def test_dense_refuses_three_dimensional_input_of_the_wrong_width():
    layer = built_dense(3, 2)                  # (N, T, 3) is allowed (tests/test_dense_leading_axes.py)
    with pytest.raises(ValueError, match=r"got shape \(2, 1, 4\) \(or, with more axes, \(N, \.\.\., 3\)\)"):
        layer.forward(np.zeros((2, 1, 4)))


@pytest.mark.parametrize("in_features, out_features, error, message", [
    (0, 3, ValueError, "in_features must be >= 1, got 0"),
    (2, -1, ValueError, "out_features must be >= 1, got -1"),
    (2.5, 3, TypeError, "in_features must be a positive integer, got 2.5"),
    (2, "3", TypeError, "out_features must be a positive integer"),
    (True, 3, TypeError, "in_features must be a positive integer, got True"),
])
def test_dense_refuses_bad_sizes(in_features, out_features, error, message):
    with pytest.raises(error, match=message):
        Dense(in_features, out_features)


def test_dense_refuses_unknown_init():
    with pytest.raises(ValueError, match="init must be one of .*'glorot_uniform'.*; got 'bogus'"):
        Dense(2, 3, init="bogus")


def test_unbuilt_dense_raises():
    with pytest.raises(RuntimeError, match="Dense is not built"):
        Dense(2, 3).forward(np.zeros((1, 2)))


# ---- Dropout --------------------------------------------------------------------------------

def built_dropout(rate, seed=0, dtype=np.float64):
    layer = Dropout(rate)
    layer.build(np.random.default_rng(seed), dtype)
    return layer


def test_dropout_inference_is_identity():
    layer = built_dropout(0.5)
    x = np.random.default_rng(0).normal(size=(4, 5))
    y = layer.forward(x, training=False)
    assert y is x
    g = np.ones_like(x)
    assert layer.backward(g) is g
    assert Dropout(0.5).forward(x) is x            # unbuilt is fine when not training


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9])
def test_dropout_zeroes_about_rate_and_scales_survivors(rate, dtype):
    layer = built_dropout(rate, seed=1, dtype=dtype)
    x = np.ones((400, 500), dtype=dtype)
    y = layer.forward(x, training=True)
    assert y.dtype == dtype and y.shape == x.shape
    dropped = np.mean(y == 0)
    assert abs(dropped - rate) < 0.005, dropped            # std of the fraction is < 0.0012
    survivors = y[y != 0]
    np.testing.assert_allclose(survivors, 1 / (1 - rate), rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_dropout_preserves_the_mean():
    layer = built_dropout(0.4, seed=2)
    x = np.random.default_rng(3).normal(1.0, 0.5, size=(500, 400))
    y = layer.forward(x, training=True)
    assert abs(y.mean() - x.mean()) < 0.01 * x.mean()


def test_dropout_draws_a_new_mask_each_call():
    layer = built_dropout(0.5, seed=3)
    x = np.ones((10, 10))
    assert not np.array_equal(layer.forward(x, training=True), layer.forward(x, training=True))


def test_dropout_backward_uses_the_forward_mask():
    layer = built_dropout(0.3, seed=4)
    rng = np.random.default_rng(5)
    x, upstream = rng.normal(size=(6, 7)) + 3.0, rng.normal(size=(6, 7))
    y = layer.forward(x, training=True)
    grad = layer.backward(upstream)
    np.testing.assert_array_equal(grad == 0, y == 0)
    np.testing.assert_allclose(grad, upstream * (y / x), rtol=1e-14)


def test_dropout_backward_matches_finite_differences_with_mask_fixed():
    layer = built_dropout(0.3)
    rng = np.random.default_rng(6)
    x, upstream = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))

    def value():
        layer.rng = np.random.default_rng(42)      # the same mask on every call
        return float(np.sum(upstream * layer.forward(x, training=True)))

    value()
    analytic = layer.backward(upstream).copy()
    assert np.any(analytic == 0) and np.any(analytic != 0)
    numeric = numerical_gradient(value, x)
    assert relative_error(analytic, numeric).max() < 1e-6


def test_dropout_rate_zero_is_identity_in_training():
    layer = built_dropout(0.0)
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert layer.forward(x, training=True) is x
    g = np.ones_like(x)
    assert layer.backward(g) is g


@pytest.mark.parametrize("rate", [1, 1.0, -0.1, 1.5, float("nan")])
def test_dropout_refuses_rate_outside_0_1(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0.0, 1.0\)"):
        Dropout(rate)


def test_dropout_refuses_non_number_rate():
    with pytest.raises(TypeError, match="rate must be a number"):
        Dropout("0.5")


def test_unbuilt_dropout_raises_in_training():
    with pytest.raises(RuntimeError, match="Dropout is not built"):
        Dropout(0.5).forward(np.ones((2, 2)), training=True)


# ---- Flatten --------------------------------------------------------------------------------

def test_flatten_forward_and_backward_shapes():
    x = np.arange(5 * 2 * 3 * 4, dtype=float).reshape(5, 2, 3, 4)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (5, 24)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    grad = layer.backward(y * 2)
    assert grad.shape == x.shape
    np.testing.assert_array_equal(grad, x * 2)
    assert Flatten().forward(np.zeros((3, 7))).shape == (3, 7)


def test_flatten_refuses_one_dimensional_input():
    with pytest.raises(ValueError, match=r"Flatten expects input of shape \(N, \.\.\.\), got shape \(6,\)"):
        Flatten().forward(np.zeros(6))


# ---- Parameter ------------------------------------------------------------------------------

def test_parameter_repr_and_grad():
    p = Parameter(np.ones((2, 3), dtype=np.float32), name="weight")
    assert repr(p) == "Parameter(name='weight', shape=(2, 3), dtype=float32)"
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32
    assert np.all(p.grad == 0)
    assert p.grad is not p.value
    assert repr(Parameter(np.zeros(4))) == "Parameter(name='', shape=(4,), dtype=float64)"


# ---- initializers -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_shape_and_dtype(name, dtype):
    for rng in (np.random.default_rng(0), np.random.RandomState(0)):
        array = initialize(name, (4, 3), rng, dtype)
        assert array.shape == (4, 3) and array.dtype == dtype
        assert np.all(np.isfinite(array))


FAN_IN, FAN_OUT = 400, 250           # 100,000 draws: sample std within ~0.3 % of the truth


def big_draw(name, seed=0):
    return initialize(name, (FAN_IN, FAN_OUT), np.random.default_rng(seed), np.float64)


def test_uniform_statistics():
    w = big_draw("uniform")
    assert w.min() >= 0 and w.max() < 1
    assert abs(w.mean() - 0.5) < 0.005
    assert abs(w.std() - 1 / math.sqrt(12)) < 0.02 / math.sqrt(12)


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(6 / FAN_IN)),
])
def test_uniform_initializer_bounds_and_statistics(name, limit):
    w = big_draw(name)
    assert np.all(np.abs(w) <= limit)
    assert np.abs(w).max() > 0.999 * limit                 # the bound is reached, not smaller
    assert abs(w.mean()) < 0.01 * limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.02 * limit / math.sqrt(3)


@pytest.mark.parametrize("name, std", [
    ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", math.sqrt(2 / FAN_IN)),
])
def test_normal_initializer_statistics(name, std):
    w = big_draw(name)
    assert abs(w.mean()) < 0.02 * std
    assert abs(w.std() - std) < 0.02 * std
    assert np.abs(w).max() > 3 * std                       # normal tails, not a bounded uniform


def test_zeros_initializer_draws_nothing():
    rng = np.random.default_rng(0)
    w = initialize("zeros", (FAN_IN, FAN_OUT), rng, np.float32)
    assert w.dtype == np.float32 and np.all(w == 0)
    assert rng.random() == np.random.default_rng(0).random()


def test_uniform_with_random_state_equals_blog_global_draws():
    state = np.random.get_state()
    try:
        for seed, shape in [(0, (2, 2)), (1, (2, 1)), (42, (5, 3))]:
            np.random.seed(seed)
            blog = np.random.uniform(size=shape)
            np.testing.assert_array_equal(initialize("uniform", shape, np.random.RandomState(seed), np.float64),
                                          blog)
    finally:
        np.random.set_state(state)


def test_uniform_with_generator_equals_default_rng_draws():
    for seed, shape in [(0, (2, 2)), (7, (3, 4))]:
        expected = np.random.default_rng(seed).uniform(size=shape)
        np.testing.assert_array_equal(initialize("uniform", shape, np.random.default_rng(seed), np.float64),
                                      expected)


def test_initialize_refuses_unknown_name():
    with pytest.raises(ValueError, match="init must be one of .*'he_normal'.*; got 'xavier'"):
        initialize("xavier", (2, 2), np.random.default_rng(0), np.float64)


def test_reshape_round_trips_and_names_bad_shapes():
    from scratchnn.nn.core import Reshape

    layer = Reshape((1, 28, 28))
    x = np.arange(2 * 784, dtype=np.float64).reshape(2, 784)
    y = layer.forward(x)
    assert y.shape == (2, 1, 28, 28) and np.array_equal(y.reshape(2, -1), x)
    assert np.array_equal(layer.backward(y), x)
    with pytest.raises(ValueError, match=r"Reshape to \(N, 1, 28, 28\) needs 784 values per sample, got shape \(2, 10\)"):
        layer.forward(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="shape must be a list of positive ints"):
        Reshape((0, 28))
