"""Tests for train_test_split, Standardizer, standardize and one_hot."""

import json

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.datasets import Standardizer, one_hot, standardize, train_test_split

# ----------------------------------------------------------------------------- train_test_split


def numbered(n=50, n_features=3):
    """Row i of X holds i everywhere, so a split can be checked against y."""
    X = np.repeat(np.arange(n, dtype=np.float32)[:, None], n_features, axis=1)
    return X, np.arange(n)


def test_split_sizes_order_and_no_lost_rows():
    X, y = numbered(50)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    assert X_train.shape == (40, 3) and X_test.shape == (10, 3)
    np.testing.assert_array_equal(X_train[:, 0], y_train)
    np.testing.assert_array_equal(X_test[:, 0], y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(50))
    assert not np.array_equal(y_train, np.sort(y_train)), "rows must be shuffled"


def test_fraction_rounds_up_and_int_counts_rows():
    X, y = numbered(11)
    assert len(train_test_split(X, y, test_size=0.25, random_state=0)[1]) == 3
    assert len(train_test_split(X, y, test_size=4, random_state=0)[1]) == 4


def test_split_is_seeded_and_works_on_images():
    X = np.random.default_rng(0).normal(size=(30, 1, 4, 4))
    y = np.arange(30)
    first = train_test_split(X, y, random_state=7)
    second = train_test_split(X, y, random_state=np.random.default_rng(7))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape == (24, 1, 4, 4)


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    X = np.arange(100)[:, None]
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=3, stratify=True)
    assert np.bincount(y_test).tolist() == [16, 3, 1]
    assert np.bincount(y_train).tolist() == [64, 12, 4]
    assert not np.all(np.diff(y_test) >= 0), "classes must be mixed after the split"


def test_stratified_split_hits_the_requested_size_with_remainders():
    y = np.array(["a"] * 7 + ["b"] * 7 + ["c"] * 7)
    _, X_test, _, y_test = train_test_split(np.zeros((21, 2)), y, test_size=5, random_state=0, stratify=True)
    assert len(y_test) == 5 and sorted(np.unique(y_test, return_counts=True)[1].tolist()) == [1, 2, 2]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"y": np.arange(9)}, ValueError, r"X and y must have the same number of rows, got shapes \(10, 2\) and \(9,\)"),
        ({"test_size": 0.0}, ValueError, r"test_size must be a fraction between 0 and 1 \(exclusive\), got 0.0"),
        ({"test_size": 1.5}, ValueError, r"test_size must be a fraction .* got 1.5"),
        ({"test_size": 10}, ValueError, r"test_size=10 gives 10 test rows out of 10; both parts need at least one row"),
        ({"test_size": 0}, ValueError, r"test_size=0 gives 0 test rows"),
        ({"test_size": "20%"}, TypeError, r"test_size must be a fraction or an int, got '20%'"),
        ({"stratify": "y"}, TypeError, r"stratify must be None, True or False, got 'y'"),
        ({"y": np.zeros((10, 2)), "stratify": True}, ValueError, r"stratify=True needs y of shape \(n,\) .* got shape \(10, 2\)"),
        ({"random_state": 1.5}, TypeError, r"random_state must be None, an int"),
    ],
)
def test_split_argument_errors(kwargs, error, message):
    arguments = {"X": np.zeros((10, 2)), "y": np.arange(10), **kwargs}
    with pytest.raises(error, match=message):
        train_test_split(**arguments)


# ----------------------------------------------------------------------------- Standardizer


def test_standardizer_gives_mean_zero_std_one_and_inverts():
    X = np.random.default_rng(0).normal(loc=[5, -3, 100], scale=[2, 0.1, 30], size=(200, 3)).astype(np.float32)
    scaler = Standardizer()
    Z = scaler.fit_transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(scaler.mean_, X.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X, rtol=1e-5)


def test_constant_columns_get_scale_one():
    X = np.array([[1.0, 0.0, 0.1], [2.0, 0.0, 0.1], [3.0, 0.0, 0.1]])
    scaler = Standardizer().fit(X)
    np.testing.assert_array_equal(scaler.scale_[1:], [1.0, 1.0])
    np.testing.assert_allclose(scaler.transform(X)[:, 1:], 0.0, atol=1e-12)


def test_integer_input_gives_float64():
    assert Standardizer().fit_transform(np.array([[1], [3]])).dtype == np.float64


def test_state_round_trips_through_json():
    X = np.random.default_rng(1).normal(size=(20, 4))
    scaler = Standardizer().fit(X)
    state = {key: value.tolist() for key, value in scaler.get_state().items()}
    restored = Standardizer.from_state(json.loads(json.dumps(state)))
    np.testing.assert_array_equal(restored.transform(X), scaler.transform(X))


def test_standardize_uses_training_statistics_for_the_test_set():
    X_train = np.array([[0.0], [2.0]])
    X_test = np.array([[4.0]])
    X_train_std, X_test_std, scaler = standardize(X_train, X_test)
    np.testing.assert_allclose(X_train_std, [[-1.0], [1.0]])
    np.testing.assert_allclose(X_test_std, [[3.0]])
    only_train, scaler_again = standardize(X_train)
    np.testing.assert_array_equal(only_train, X_train_std)
    assert isinstance(scaler_again, Standardizer)


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match=r"not fitted yet: call fit\(X\) first"):
        Standardizer().transform(np.zeros((2, 2)))
    with pytest.raises(RuntimeError, match=r"not fitted yet"):
        Standardizer().get_state()
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, n_features\) with n_samples >= 1, got \(5,\)"):
        Standardizer().fit(np.zeros(5))
    with pytest.raises(ValueError, match=r"got \(0, 3\)"):
        Standardizer().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"X must hold only finite numbers"):
        Standardizer().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(TypeError, match=r"X must hold numbers, got dtype <U1"):
        Standardizer().fit(np.array([["a"], ["b"]]))
    scaler = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\) like the fitted data, got \(3, 4\)"):
        scaler.transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"state must be a dict with keys 'mean' and 'scale', got \['mean'\]"):
        Standardizer.from_state({"mean": [0.0]})
    with pytest.raises(ValueError, match=r"got list"):
        Standardizer.from_state([1, 2])
    with pytest.raises(ValueError, match=r"must have one shape, got \(2,\) and \(3,\)"):
        Standardizer.from_state({"mean": [0, 0], "scale": [1, 1, 1]})
    with pytest.raises(ValueError, match=r"finite means and scales > 0"):
        Standardizer.from_state({"mean": [0.0], "scale": [0.0]})


# ----------------------------------------------------------------------------- one_hot


def test_one_hot_matches_a_naive_loop():
    labels = np.array([2, 0, 1, 2])
    expected = np.zeros((4, 3), dtype=np.float32)
    for row, label in enumerate(labels):
        expected[row, label] = 1.0
    result = one_hot(labels)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)
    assert one_hot([1, 0], num_classes=5).shape == (2, 5)
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    assert one_hot(np.array([], dtype=np.int64), num_classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    "labels, kwargs, error, message",
    [
        ([0, -1, 2], {}, ValueError, r"labels must be >= 0, found -1"),
        ([0.5, 1.0], {}, TypeError, r"labels must be integers, got dtype float64"),
        (["cat", "dog"], {}, TypeError, r"labels must be integers, got dtype <U3"),
        ([True, False], {}, TypeError, r"labels must be integers, got dtype bool"),
        ([[0, 1]], {}, ValueError, r"labels must have shape \(n,\), got \(1, 2\)"),
        ([0, 3], {"num_classes": 3}, ValueError, r"labels must be < num_classes=3, found 3"),
        ([0, 1], {"num_classes": 0}, ValueError, r"num_classes must be an int >= 1, got 0"),
        ([0, 1], {"num_classes": 2.0}, TypeError, r"num_classes must be an int, got float 2.0"),
        ([], {}, ValueError, r"num_classes is needed when labels is empty"),
    ],
)
def test_one_hot_errors(labels, kwargs, error, message):
    with pytest.raises(error, match=message):
        one_hot(labels, **kwargs)


def test_the_layer_and_the_standardizer_share_one_definition():
    X = np.random.default_rng(0).normal(5.0, 2.0, size=(50, 3))
    X[:, 1] = 7.0                                              # a constant column: scale 1
    X[:, 2] = 1e8 + np.random.default_rng(1).normal(size=50) * 1e-9   # constant up to rounding
    scaler = Standardizer().fit(X)
    layer = sn.Standardize.from_data(X)
    np.testing.assert_array_equal(layer.mean, scaler.mean_)
    np.testing.assert_array_equal(layer.scale, scaler.scale_)
    assert scaler.scale_[1] == scaler.scale_[2] == 1.0
