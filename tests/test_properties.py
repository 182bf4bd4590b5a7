"""Property tests (hypothesis): what must hold for every input, not just the ones we chose.

- activations and losses, at any finite float32/float64 input (±1e30 included), never warn
  and never return NaN or inf (losses: except where the true value overflows the dtype);
- forward and backward shapes agree for random layer stacks;
- save -> load -> predict gives identical outputs for random networks.
"""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchnn as sn
from helpers import no_fp_trouble

DTYPES = st.sampled_from([np.float32, np.float64])
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def finite_arrays(dtype, shape):
    """Any finite value of the dtype, up to its largest (3.4e38 / 1.8e308), with ±1e30 and the
    extremes drawn often."""
    width = 32 if dtype == np.float32 else 64
    largest = float(np.finfo(dtype).max)
    elements = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=width),
                         st.sampled_from([1e30, -1e30, 1e4, -1e4, largest, -largest, 0.0]))
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def batches(draw, columns=None):
    dtype = draw(DTYPES)
    rows = draw(st.integers(1, 6))
    cols = columns or draw(st.integers(1, 6))
    return draw(finite_arrays(dtype, (rows, cols)))


ACTIVATIONS = [sn.Sigmoid, sn.Tanh, sn.ReLU, sn.LeakyReLU, sn.ELU, sn.GELU,
               lambda: sn.GELU(approximate="tanh"), sn.Softmax, sn.Identity]


@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda m: getattr(m, "__name__", "gelu_tanh"))
@EXAMPLES
@given(x=batches())
def test_activations_never_warn_or_produce_nan(make, x):
    layer = make()
    upstream = np.ones_like(x)
    with no_fp_trouble():
        y = layer.forward(x, training=True)
        grad = layer.backward(upstream)
    assert y.shape == x.shape and grad.shape == x.shape
    assert not np.isnan(y).any() and not np.isnan(grad).any()
    if not isinstance(layer, (sn.ReLU, sn.LeakyReLU, sn.ELU, sn.GELU, sn.Identity)):
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad))   # bounded activations


@EXAMPLES
@given(logits=batches(), data=st.data())
def test_cross_entropy_is_finite_at_any_logits(logits, data):
    labels = data.draw(hnp.arrays(np.int64, (logits.shape[0],), elements=st.integers(0, logits.shape[1] - 1)))
    targets = data.draw(st.sampled_from([labels, np.eye(logits.shape[1], dtype=logits.dtype)[labels]]))
    loss = sn.CrossEntropy()
    with no_fp_trouble():
        value = loss(logits, targets)
        grad = loss.backward()
    assert np.isfinite(grad).all() and not np.isnan(value)
    # the true value is at most the largest logit gap, which may itself overflow the dtype
    if np.all(np.abs(logits) < np.finfo(logits.dtype).max / 4):
        assert np.isfinite(value) and value >= 0


@EXAMPLES
@given(logits=batches(columns=1), data=st.data())
def test_binary_cross_entropy_is_finite_at_any_input(logits, data):
    targets = data.draw(hnp.arrays(logits.dtype, logits.shape, elements=st.sampled_from([0.0, 1.0])))
    probabilities = sn.Sigmoid().forward(logits)
    for loss, predictions in ((sn.BinaryCrossEntropy(from_logits=True), logits),
                              (sn.BinaryCrossEntropy(), probabilities)):
        with no_fp_trouble():
            value = loss(predictions, targets)
            grad = loss.backward()
        assert np.isfinite(grad).all() and not np.isnan(value) and value >= 0


@EXAMPLES
@given(predictions=batches(), data=st.data())
def test_regression_losses_never_return_nan(predictions, data):
    targets = data.draw(finite_arrays(predictions.dtype, predictions.shape))
    for loss in (sn.MSE(), sn.MSE(reduction="sum"), sn.MAE()):
        with np.errstate(over="ignore"):       # (p − y)² may overflow to inf: that is its true size
            value = loss(predictions, targets)
            grad = loss.backward()
        assert not np.isnan(value) and not np.isnan(grad).any()


@st.composite
def networks(draw):
    """A random stack: Dense layers of random widths with random activations and dropout."""
    dtype = draw(DTYPES)
    width = draw(st.integers(1, 5))
    layers, inputs = [], width
    for _ in range(draw(st.integers(1, 4))):
        outputs = draw(st.integers(1, 6))
        layers.append(sn.Dense(inputs, outputs, init=draw(st.sampled_from(
            ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "uniform", "zeros"]))))
        layers.append(draw(st.sampled_from(ACTIVATIONS))())
        if draw(st.booleans()):
            layers.append(sn.Dropout(draw(st.floats(0.0, 0.9))))
        inputs = outputs
    seed = draw(st.integers(0, 2**32 - 1))
    return sn.Sequential(*layers, seed=seed, dtype=dtype), width


@EXAMPLES
@given(spec=networks(), rows=st.integers(1, 5), data=st.data())
def test_forward_and_backward_shapes_agree(spec, rows, data):
    net, width = spec
    x = data.draw(hnp.arrays(net.dtype, (rows, width), elements=st.floats(-10, 10, width=32)))
    y = net.forward(x, training=True)
    net.zero_grad()
    grad_input = net.backward(np.ones_like(y))
    assert y.shape[0] == rows and grad_input.shape == x.shape
    assert all(p.grad.shape == p.value.shape for p in net.parameters())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(spec=networks(), data=st.data())
def test_save_load_predict_is_identical(tmp_path, spec, data):
    net, width = spec
    x = data.draw(hnp.arrays(net.dtype, (3, width), elements=st.floats(-10, 10, width=32)))
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = sn.load(path)
    assert np.array_equal(loaded.predict(x), net.predict(x), equal_nan=True)
    assert loaded.get_config() == net.get_config()
