"""Tests for the 2-D toy data sets in scratchnn.datasets.toy."""

import numpy as np
import pytest

from scratchnn.datasets import circles, gaussians, make_dataset, moons, spirals, xor

MAKERS = [xor, circles, moons, spirals, gaussians]


@pytest.mark.parametrize("maker", MAKERS)
def test_shapes_dtypes_and_balanced_classes(maker):
    X, y = maker(n_samples=101, noise=0.1, random_state=0)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 101
    assert np.all(np.isfinite(X))


@pytest.mark.parametrize("maker", MAKERS)
def test_same_seed_same_data_and_generators_accepted(maker):
    X1, y1 = maker(random_state=42)
    X2, y2 = maker(random_state=np.random.default_rng(42))
    X3, y3 = maker(random_state=np.random.RandomState(42))
    X4, y4 = maker(random_state=np.random.RandomState(42))
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(X3, X4)
    np.testing.assert_array_equal(y3, y4)
    assert not np.array_equal(X1, maker(random_state=43)[0])


@pytest.mark.parametrize("maker", MAKERS)
def test_rows_are_shuffled(maker):
    _, y = maker(n_samples=200, random_state=0)
    assert np.any(np.diff(y) < 0), "labels must not come sorted by class"


def test_xor_labels_follow_the_signs_without_noise():
    X, y = xor(300, noise=0.0, random_state=1)
    np.testing.assert_array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))


def test_circles_radii_without_noise():
    X, y = circles(200, noise=0.0, random_state=1, factor=0.3)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-6)


def test_moons_lie_on_their_half_circles_without_noise():
    X, y = moons(200, noise=0.0, random_state=1)
    upper, lower = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, rtol=1e-6)
    assert upper[:, 1].min() >= 0 and lower[:, 1].max() <= 0.5 + 1e-6


def test_spirals_many_arms_within_the_unit_disc():
    X, y = spirals(300, noise=0.0, random_state=1, n_classes=3)
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.hypot(X[:, 0], X[:, 1]).max() <= 1.0 + 1e-6


def test_gaussians_centers_and_spread():
    centers = [[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]]
    X, y = gaussians(3000, noise=0.0, random_state=1, centers=centers, spread=0.2)
    for k, center in enumerate(centers):
        np.testing.assert_allclose(X[y == k].mean(axis=0), center, atol=0.05)
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.2, atol=0.03)
    X, y = gaussians(40, random_state=1, n_classes=4)
    assert np.bincount(y).tolist() == [10, 10, 10, 10]


def test_noise_moves_the_points():
    X_clean, _ = circles(200, noise=0.0, random_state=3)
    X_noisy, _ = circles(200, noise=0.2, random_state=3)
    offset = np.hypot(X_noisy[:, 0], X_noisy[:, 1]) - np.hypot(X_clean[:, 0], X_clean[:, 1])
    assert 0.05 < np.abs(offset).mean() < 0.4


def test_make_dataset_by_name():
    X, y = make_dataset("moons", n_samples=50, random_state=0)
    X_direct, y_direct = moons(n_samples=50, random_state=0)
    np.testing.assert_array_equal(X, X_direct)
    np.testing.assert_array_equal(y, y_direct)
    assert make_dataset("spirals", n_samples=30, n_classes=3, random_state=0)[1].max() == 2


@pytest.mark.parametrize("maker", MAKERS)
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_samples": 0}, ValueError, r"n_samples must be an int >= 1, got 0"),
        ({"n_samples": -5}, ValueError, r"n_samples must be an int >= 1, got -5"),
        ({"n_samples": 1}, ValueError, r"n_samples must be at least n_classes=2, got 1"),
        ({"n_samples": 20.0}, TypeError, r"n_samples must be an int, got float 20.0"),
        ({"n_samples": True}, TypeError, r"n_samples must be an int, got bool True"),
        ({"noise": -0.1}, ValueError, r"noise must be a finite number in \[0, 1e\+06\], got -0.1"),
        ({"noise": float("nan")}, ValueError, r"noise must be a finite number in \[0, 1e\+06\], got nan"),
        ({"noise": float("inf")}, ValueError, r"noise must be a finite number in \[0, 1e\+06\], got inf"),
        ({"noise": "0.1"}, TypeError, r"noise must be a number, got str '0.1'"),
        ({"random_state": "seed"}, TypeError, r"random_state must be None, an int, a numpy Generator or a RandomState, got str 'seed'"),
        ({"random_state": -1}, ValueError, r"random_state must be an int >= 0, got -1"),
    ],
)
def test_common_argument_errors(maker, kwargs, error, message):
    with pytest.raises(error, match=message):
        maker(**kwargs)


@pytest.mark.parametrize(
    "maker, kwargs, error, message",
    [
        (circles, {"factor": 1.0}, ValueError, r"factor must be a number between 0 and 1 \(exclusive\), got 1.0"),
        (circles, {"factor": 0}, ValueError, r"factor must be .* got 0"),
        (spirals, {"n_classes": 1}, ValueError, r"n_classes must be an int >= 2, got 1"),
        (spirals, {"n_classes": 2.5}, TypeError, r"n_classes must be an int, got float 2.5"),
        (spirals, {"n_classes": 5, "n_samples": 4}, ValueError, r"n_samples must be at least n_classes=5, got 4"),
        (gaussians, {"centers": [1, 2, 3]}, ValueError, r"centers must be finite numbers of shape \(n_classes, 2\), got shape \(3,\)"),
        (gaussians, {"centers": [[0, 0], [1, 1]], "n_classes": 3}, ValueError, r"centers has 2 rows but n_classes is 3"),
        (gaussians, {"spread": -1}, ValueError, r"spread must be a finite number in \[0, 1e\+06\], got -1"),
    ],
)
def test_specific_argument_errors(maker, kwargs, error, message):
    with pytest.raises(error, match=message):
        maker(**kwargs)


def test_make_dataset_errors():
    with pytest.raises(ValueError, match=r"unknown data set name 'moon'; valid names: circles, gaussians, moons, spirals, xor"):
        make_dataset("moon")
    with pytest.raises(TypeError, match=r"name must be a str, got int 3"):
        make_dataset(3)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'factor'"):
        make_dataset("xor", factor=0.5)
