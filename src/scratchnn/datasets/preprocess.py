"""Prepare arrays for training: split them, standardize the features, one-hot the labels."""

import math
import numbers

import numpy as np

from .._checks import int_at_least, rng_from_seed
from ..nn.core import feature_statistics


def train_test_split(X, y, test_size=0.2, random_state=None, stratify=None):
    """Shuffle with a seeded Generator, then split into train and test parts.

    test_size is a fraction in (0, 1) (rounded up to whole rows) or a number of rows.
    stratify=True splits every class of y in the same proportion, so a rare class
    still shows up in both parts. Returns X_train, X_test, y_train, y_test
    (scikit-learn's order).

        X_train, X_test, y_train, y_test = train_test_split(X, y, 0.25, random_state=0)
    """
    X, y = _as_array("X", X), _as_array("y", y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise ValueError(
            f"X and y must have the same number of rows, got shapes {X.shape} and {y.shape}"
        )
    n = len(X)
    n_test = _test_count(test_size, n)
    if not (stratify is None or stratify is True or stratify is False):
        raise TypeError(f"stratify must be None, True or False, got {stratify!r}")
    if stratify and y.ndim != 1:
        raise ValueError(f"stratify=True needs y of shape (n,) with class labels, got shape {y.shape}")
    rng = rng_from_seed(random_state, "random_state")

    if not stratify:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    else:
        classes, class_of_row = np.unique(y, return_inverse=True)
        members = [rng.permutation(np.flatnonzero(class_of_row == k)) for k in range(len(classes))]
        counts = _share_out(n_test, [len(rows) for rows in members])
        test = np.concatenate([rows[:c] for rows, c in zip(members, counts)])
        train = np.concatenate([rows[c:] for rows, c in zip(members, counts)])
        test, train = rng.permutation(test), rng.permutation(train)  # mix the classes again
    return X[train], X[test], y[train], y[test]


def _as_array(name, data):
    try:
        return np.asarray(data)
    except ValueError as error:        # ragged nested lists
        raise TypeError(f"{name} must be a rectangular array, got {data!r:.60}: {error}") from None


def _test_count(test_size, n):
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a fraction or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"test_size must be a fraction between 0 and 1 (exclusive), got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size!r} gives {n_test} test rows out of {n}; "
            "both parts need at least one row"
        )
    return n_test


def _share_out(total, sizes):
    """Split `total` over groups in proportion to `sizes` (largest remainders first)."""
    exact = [total * size / sum(sizes) for size in sizes]
    counts = [math.floor(share) for share in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda k: counts[k] - exact[k])
    for k in by_remainder[: total - sum(counts)]:
        counts[k] += 1
    return counts


class Standardizer:
    """Rescale each feature to mean 0 and standard deviation 1: x' = (x - mean) / scale.

    Fit on the training data only, then apply the same mean_ and scale_ to the test data.
    A constant column gets scale 1, so it becomes all zeros instead of dividing by zero. The
    statistics are `scratchnn.nn.core.feature_statistics`, the same as the model layer
    `scratchnn.Standardize.from_data` computes: use this class for arrays, the layer to keep
    the standardization inside a saved model.

        scaler = Standardizer().fit(X_train)
        X_train_std, X_test_std = scaler.transform(X_train), scaler.transform(X_test)
    """

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, X):
        """Learn each column's mean and standard deviation from X of shape (n, ...); return self."""
        X = _as_float_array("X", X)
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(
                f"X must have shape (n_samples, n_features) with n_samples >= 1, got {X.shape}"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X must hold only finite numbers, found NaN or infinity")
        self.mean_, self.scale_ = feature_statistics(X)
        return self

    def transform(self, X):
        """Return (X - mean_) / scale_ with X's float dtype (float64 for integer input)."""
        X = self._check_fitted_input(X)
        return ((X - self.mean_) / self.scale_).astype(_float_dtype(X))

    def fit_transform(self, X):
        """Fit on X, then transform it."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """Undo transform: return X * scale_ + mean_."""
        X = self._check_fitted_input(X)
        return (X * self.scale_ + self.mean_).astype(_float_dtype(X))

    def get_state(self):
        """The fitted statistics as a dict of plain arrays, to save next to a model."""
        if self.mean_ is None:
            raise RuntimeError("this Standardizer is not fitted yet: call fit(X) first")
        return {"mean": self.mean_.copy(), "scale": self.scale_.copy()}

    @classmethod
    def from_state(cls, state):
        """Rebuild a fitted Standardizer from get_state()'s dict (arrays or lists)."""
        if not isinstance(state, dict) or set(state) != {"mean", "scale"}:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state must be a dict with keys 'mean' and 'scale', got {got}")
        mean = np.asarray(state["mean"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if mean.shape != scale.shape:
            raise ValueError(
                "state['mean'] and state['scale'] must have one shape, "
                f"got {mean.shape} and {scale.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("state must hold finite means and scales > 0")
        standardizer = cls()
        standardizer.mean_, standardizer.scale_ = mean, scale
        return standardizer

    def _check_fitted_input(self, X):
        if self.mean_ is None:
            raise RuntimeError("this Standardizer is not fitted yet: call fit(X) first")
        X = _as_float_array("X", X)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"X must have shape (n, {', '.join(map(str, self.mean_.shape))}) like the "
                f"fitted data, got {X.shape}"
            )
        return X


def standardize(X_train, X_test=None):
    """Fit a Standardizer on X_train and apply it.

    Returns (X_train_std, standardizer), or (X_train_std, X_test_std, standardizer)
    when X_test is given: the test set is scaled with the training statistics.

        X_train_std, X_test_std, scaler = standardize(X_train, X_test)
    """
    standardizer = Standardizer().fit(X_train)
    if X_test is None:
        return standardizer.transform(X_train), standardizer
    return standardizer.transform(X_train), standardizer.transform(X_test), standardizer


def one_hot(labels, num_classes=None):
    """Turn integer class labels of shape (n,) into float32 rows of shape (n, num_classes).

    Row i is all zeros except a one in column labels[i]. num_classes defaults to max + 1.

        one_hot([0, 2, 1], num_classes=3)
        # [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    """
    if num_classes is not None:
        num_classes = int_at_least("num_classes", num_classes, minimum=1)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (n,), got {labels.shape}")
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)            # 1.0, 2.0 ... are fine as labels
    if labels.dtype.kind not in "iu":
        example = labels[:3].tolist()
        raise TypeError(f"labels must be integers, got dtype {labels.dtype} (e.g. {example})")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, found {labels.min()}")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("num_classes is needed when labels is empty")
        num_classes = int(labels.max()) + 1
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"labels must be < num_classes={num_classes}, found {labels.max()}")
    encoded = np.zeros((len(labels), num_classes), dtype=np.float32)
    encoded[np.arange(len(labels)), labels] = 1.0
    return encoded


def _as_float_array(name, X):
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def _float_dtype(X):
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
