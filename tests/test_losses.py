"""Tests for scratchnn.losses: values against naive loops, gradients against central finite
differences in float64, stability at huge logits, and the error paths."""

import math

import numpy as np
import pytest

from scratchnn.gradcheck import numerical_gradient, relative_error
from scratchnn.losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss, get_loss

from helpers import no_fp_trouble


# ---- naive references ---------------------------------------------------------------------

def reduce_reference(terms, reduction, count):
    total = math.fsum(terms)
    return total if reduction == "sum" else total / count


def mse_reference(p, y, reduction):
    terms = [0.5 * (float(a) - float(b)) ** 2 for a, b in zip(np.ravel(p), np.ravel(y))]
    return reduce_reference(terms, reduction, len(terms))


def mae_reference(p, y, reduction):
    terms = [abs(float(a) - float(b)) for a, b in zip(np.ravel(p), np.ravel(y))]
    return reduce_reference(terms, reduction, len(terms))


def bce_probability_reference(p, y, reduction):
    terms = [-(float(t) * math.log(float(q)) + (1 - float(t)) * math.log(1 - float(q)))
             for q, t in zip(np.ravel(p), np.ravel(y))]
    return reduce_reference(terms, reduction, len(terms))


def log_sigmoid(z):
    """log σ(z), computed without overflow."""
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def bce_logits_reference(z, y, reduction):
    # log(1 − σ(z)) = log σ(−z)
    terms = [-(float(t) * log_sigmoid(float(v)) + (1 - float(t)) * log_sigmoid(-float(v)))
             for v, t in zip(np.ravel(z), np.ravel(y))]
    return reduce_reference(terms, reduction, len(terms))


def log_sum_exp(row):
    top = max(float(v) for v in row)
    return top + math.log(math.fsum(math.exp(float(v) - top) for v in row))


def cross_entropy_reference(logits, targets, reduction):
    terms = []
    for n, row in enumerate(np.asarray(logits, dtype=np.float64)):
        lse = log_sum_exp(row)
        if np.ndim(targets) == 1:
            terms.append(lse - float(row[int(targets[n])]))          # −log softmax(z)_label
        else:
            terms.append(-math.fsum(float(t) * (float(v) - lse) for v, t in zip(row, targets[n])))
    return reduce_reference(terms, reduction, len(terms))


# ---- data -------------------------------------------------------------------------------------

def regression_data(seed, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    targets = rng.normal(size=shape)
    offset = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return targets + offset, targets                 # |p − y| >= 0.1: away from MAE's kink


def probability_data(seed, shape=(4, 3), soft=False):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, size=shape)
    y = rng.uniform(0, 1, size=shape) if soft else rng.integers(0, 2, size=shape).astype(float)
    return p, y


def logit_data(seed, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 2, size=shape), rng.integers(0, 2, size=shape).astype(float)


def class_data(seed, n=5, c=4, one_hot=False, soft=False):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    if soft:
        t = rng.uniform(size=(n, c))
        return logits, t / t.sum(axis=1, keepdims=True)
    return (logits, np.eye(c)[labels]) if one_hot else (logits, labels)


CASES = [  # (id, loss factory, data factory, reference)
    ("mse", MSE, regression_data, mse_reference),
    ("mae", MAE, regression_data, mae_reference),
    ("bce_probabilities", BinaryCrossEntropy, probability_data, bce_probability_reference),
    ("bce_probabilities_soft", BinaryCrossEntropy, lambda s: probability_data(s, soft=True),
     bce_probability_reference),
    ("bce_logits", lambda reduction: BinaryCrossEntropy(from_logits=True, reduction=reduction),
     logit_data, bce_logits_reference),
    ("cross_entropy_labels", CrossEntropy, class_data, cross_entropy_reference),
    ("cross_entropy_one_hot", CrossEntropy, lambda s: class_data(s, one_hot=True), cross_entropy_reference),
    ("cross_entropy_soft", CrossEntropy, lambda s: class_data(s, soft=True), cross_entropy_reference),
]
IDS = [case[0] for case in CASES]


def make_loss(factory, reduction):
    return factory(reduction=reduction)


# ---- values -------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, factory, data, reference", CASES, ids=IDS)
def test_value_matches_naive_reference(name, factory, data, reference, reduction):
    predictions, targets = data(10)
    loss = make_loss(factory, reduction)
    value = loss(predictions, targets)
    assert isinstance(value, float)
    assert value == pytest.approx(reference(predictions, targets, reduction), rel=1e-12)


@pytest.mark.parametrize("name, factory, data, reference", CASES, ids=IDS)
def test_sum_is_mean_times_count(name, factory, data, reference):
    predictions, targets = data(11)
    count = predictions.shape[0] if name.startswith("cross_entropy") else predictions.size
    mean = make_loss(factory, "mean")(predictions, targets)
    total = make_loss(factory, "sum")(predictions, targets)
    assert total == pytest.approx(mean * count, rel=1e-13)


def test_docstring_values():
    loss = MSE(reduction="sum")
    assert loss(np.array([[0.8]]), np.array([[1.0]])) == pytest.approx(0.02, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), [[-0.2]], rtol=1e-12)
    assert CrossEntropy()(np.array([[2.0, 0.0, -1.0]]), np.array([0])) == pytest.approx(
        math.log(1 + math.exp(-2) + math.exp(-3)), rel=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_on_two_classes_equals_bce_from_logits(reduction):
    """softmax([0, z])_1 = σ(z), so 2-class cross-entropy on logits [0, z] is BCE on z."""
    z, y = logit_data(12, shape=(6,))
    two_class = np.stack([np.zeros_like(z), z], axis=1)
    ce = CrossEntropy(reduction=reduction)(two_class, y.astype(int))
    bce = BinaryCrossEntropy(from_logits=True, reduction=reduction)(z.reshape(-1, 1), y.reshape(-1, 1))
    assert ce == pytest.approx(bce, rel=1e-13)


def test_cross_entropy_labels_equal_one_hot_and_whole_floats():
    logits, labels = class_data(13)
    by_label = CrossEntropy()(logits, labels)
    assert CrossEntropy()(logits, np.eye(4)[labels]) == pytest.approx(by_label, rel=1e-14)
    assert CrossEntropy()(logits, labels.astype(float)) == by_label


def test_bce_from_logits_equals_bce_on_probabilities():
    z, y = logit_data(14)
    p = 1 / (1 + np.exp(-z))
    assert BinaryCrossEntropy(from_logits=True)(z, y) == pytest.approx(BinaryCrossEntropy()(p, y), rel=1e-10)


# ---- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, factory, data, reference", CASES, ids=IDS)
def test_backward_matches_finite_differences(name, factory, data, reference, reduction):
    predictions, targets = data(20)
    loss = make_loss(factory, reduction)
    loss(predictions, targets)
    analytic = loss.backward().copy()
    assert analytic.shape == predictions.shape
    checked = loss.check_targets(predictions, targets)
    numeric = numerical_gradient(lambda: float(loss.forward(predictions, checked)), predictions)
    error = relative_error(analytic, numeric).max()
    assert error < 1e-6, f"{name}/{reduction}: relative error {error:.3g}"


def test_mse_sum_gradient_is_exactly_the_blogs():
    p, y = regression_data(21)
    loss = MSE(reduction="sum")
    loss(p, y)
    np.testing.assert_array_equal(loss.backward(), -(y - p))


def test_mse_mean_and_mae_gradients_closed_form():
    p, y = regression_data(22)
    mse, mae = MSE(), MAE()
    mse(p, y)
    mae(p, y)
    np.testing.assert_allclose(mse.backward(), (p - y) / p.size, rtol=1e-15)
    np.testing.assert_array_equal(mae.backward(), np.sign(p - y) / p.size)


def test_cross_entropy_gradient_is_softmax_minus_target():
    logits, labels = class_data(23)
    loss = CrossEntropy(reduction="sum")
    loss(logits, labels)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss.backward(), softmax - np.eye(4)[labels], rtol=1e-12, atol=1e-15)


# ---- stability ----------------------------------------------------------------------------------

HUGE = [1e4, -1e4, 1e30, -1e30]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_from_logits_is_finite_at_huge_logits(dtype, reduction):
    z = np.repeat(np.array(HUGE, dtype=dtype), 2).reshape(-1, 1)    # each logit with y = 0 and 1
    y = np.array([[0], [1]] * 4, dtype=dtype)
    loss = BinaryCrossEntropy(from_logits=True, reduction=reduction)
    with no_fp_trouble():
        value = loss(z, y)
        grad = loss.backward()
    assert math.isfinite(value)
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype
    # a confident mistake costs |z|, a confident right answer costs e^-|z| ≈ 0
    per_element = [1e4, 0, 0, 1e4, 1e30, 0, 0, 1e30]
    expected = sum(per_element) / (1 if reduction == "sum" else 8)
    assert value == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(np.abs(grad).max(), 1 if reduction == "sum" else 1 / 8, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_is_finite_at_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 0], [1e30, -1e30, 0], [-1e30, 1e30, 1e30]], dtype=dtype)
    labels = np.array([0, 0, 1, 2])
    for targets in (labels, np.eye(3, dtype=dtype)[labels]):
        loss = CrossEntropy(reduction="sum")
        with no_fp_trouble():
            value = loss(logits, targets)
            grad = loss.backward()
        assert math.isfinite(value)
        assert value == pytest.approx(0 + 2e4 + 2e30 + math.log(2), rel=1e-6)
        assert np.all(np.isfinite(grad)) and grad.dtype == dtype
        np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_on_a_huge_gap(dtype):
    logits = np.array([[1e4, 0.0]], dtype=dtype)
    with no_fp_trouble():
        right = CrossEntropy()(logits, np.array([0]))
        wrong = CrossEntropy()(logits, np.array([1]))
    assert 0 <= right < 1e-30
    assert wrong == pytest.approx(1e4, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_on_probabilities_exactly_zero_and_one_is_finite(dtype):
    p = np.array([[0.0], [1.0], [0.0], [1.0]], dtype=dtype)
    y = np.array([[1.0], [0.0], [0.0], [1.0]], dtype=dtype)
    loss = BinaryCrossEntropy(reduction="sum")
    with no_fp_trouble():
        value = loss(p, y)
        grad = loss.backward()
    eps = np.finfo(dtype).eps
    assert math.isfinite(value)
    assert value == pytest.approx(-2 * math.log(eps), rel=1e-3)      # two confident mistakes, clipped
    assert np.all(np.isfinite(grad))


# ---- error paths --------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", [MSE(), MAE(), BinaryCrossEntropy(), CrossEntropy()], ids=repr)
def test_mismatched_shapes_are_refused(loss):
    with pytest.raises(ValueError, match=r"targets of shape \(3, 1\) do not match predictions of shape \(3, 2\)"):
        loss(np.full((3, 2), 0.5), np.zeros((3, 1)))


@pytest.mark.parametrize("labels, message", [
    ([0, 3, 1], r"labels must be in \[0, 2\] for 3 logits per row, got values from 0 to 3"),
    ([0, -1, 1], r"labels must be in \[0, 2\] .* got values from -1 to 1"),
    ([0.5, 1.0, 2.0], "labels of shape \\(N,\\) must be whole numbers"),
    ([0, 1], "2 labels for 3 rows of logits"),
    ([0, 1, 2, 0], "4 labels for 3 rows of logits"),
])
def test_cross_entropy_refuses_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        CrossEntropy()(np.zeros((3, 3)), np.array(labels))


def test_cross_entropy_refuses_non_numeric_labels():
    with pytest.raises(TypeError, match="labels must be integers, got dtype <U1"):
        CrossEntropy()(np.zeros((3, 3)), np.array(["a", "b", "c"]))


def test_cross_entropy_refuses_one_dimensional_logits():
    with pytest.raises(ValueError, match=r"CrossEntropy expects logits of shape \(N, C\), got shape \(3,\)"):
        CrossEntropy()(np.zeros(3), np.array([0, 1, 2]))


@pytest.mark.parametrize("factory", [MSE, MAE, BinaryCrossEntropy, CrossEntropy])
def test_unknown_reduction_is_refused(factory):
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum'; got 'avg'"):
        factory(reduction="avg")


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_from_logits_must_be_a_bool(flag):
    with pytest.raises(TypeError, match="from_logits must be True or False"):
        BinaryCrossEntropy(from_logits=flag)


def test_get_loss():
    assert isinstance(get_loss("mse"), MSE)
    assert isinstance(get_loss("cross_entropy"), CrossEntropy)
    assert isinstance(get_loss("binary_cross_entropy"), BinaryCrossEntropy)
    own = MAE(reduction="sum")
    assert get_loss(own) is own
    assert isinstance(own, Loss)
    assert repr(BinaryCrossEntropy(from_logits=True)) == "BinaryCrossEntropy(from_logits=True, reduction='mean')"


def test_get_loss_refuses_unknown_name():
    with pytest.raises(ValueError, match="loss must be one of 'mse', .*; got 'bogus'"):
        get_loss("bogus")


@pytest.mark.parametrize("thing", [3, None, MSE])
def test_get_loss_refuses_non_loss(thing):
    with pytest.raises(TypeError, match="loss must be a scratchnn loss"):
        get_loss(thing)
