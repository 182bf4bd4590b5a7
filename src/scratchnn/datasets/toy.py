"""Small 2-D data sets to watch a decision boundary form, like TensorFlow Playground's.

Every maker has the signature `name(n_samples=200, noise=0.1, random_state=None)` and
returns `(X, y)`: X float32 of shape (n_samples, 2), y int64 class labels of shape (n_samples,).
Classes are balanced (their sizes differ by at most one), the rows are shuffled, and
Gaussian noise of standard deviation `noise` is added to every point. The same int seed
gives the same data every time.
"""

import numbers

import numpy as np

from .._checks import int_at_least, noise_level, rng_from_seed


def xor(n_samples=200, noise=0.1, random_state=None):
    """Four squares around the origin; label 1 where exactly one of x > 0, y > 0 holds.

    The blog's XOR truth table, spread out in the plane: no straight line separates it.

        X, y = xor(200, noise=0.1, random_state=0)
        X.shape, y.shape   # (200, 2), (200,)
    """
    sizes, noise, rng = _start(n_samples, noise, random_state, n_classes=2)
    parts = []
    for label, n in enumerate(sizes):
        magnitude = rng.uniform(0.1, 1.0, size=(n, 2))   # a small margin from the axes
        sign_x = rng.choice([-1.0, 1.0], size=n)
        sign_y = sign_x if label == 0 else -sign_x   # label 1: signs differ, x > 0 XOR y > 0
        parts.append(magnitude * np.stack([sign_x, sign_y], axis=1))
    return _finish(parts, noise, rng)


def circles(n_samples=200, noise=0.1, random_state=None, factor=0.5):
    """A ring (label 0, radius 1) around a smaller ring (label 1, radius `factor`).

        X, y = circles(200, noise=0.05, random_state=0, factor=0.5)
        np.hypot(X[:, 0], X[:, 1])[y == 1].mean()   # about 0.5
    """
    sizes, noise, rng = _start(n_samples, noise, random_state, n_classes=2)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"factor must be a number between 0 and 1 (exclusive), got {factor!r}")
    parts = []
    for radius, n in zip((1.0, float(factor)), sizes):
        angle = rng.uniform(0, 2 * np.pi, size=n)
        parts.append(radius * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _finish(parts, noise, rng)


def moons(n_samples=200, noise=0.1, random_state=None):
    """Two interleaving half circles: an upper moon (label 0) and a lower one (label 1).

        X, y = moons(200, noise=0.1, random_state=0)
    """
    sizes, noise, rng = _start(n_samples, noise, random_state, n_classes=2)
    angle_upper = rng.uniform(0, np.pi, size=sizes[0])
    angle_lower = rng.uniform(0, np.pi, size=sizes[1])
    upper = np.stack([np.cos(angle_upper), np.sin(angle_upper)], axis=1)
    lower = np.stack([1 - np.cos(angle_lower), 0.5 - np.sin(angle_lower)], axis=1)
    return _finish([upper, lower], noise, rng)


def spirals(n_samples=200, noise=0.1, random_state=None, n_classes=2):
    """`n_classes` spiral arms winding out from the origin, one class per arm.

    Arm k is r = t, angle = 1.75 turns * t + k/n_classes of a turn, for t in [0, 1].

        X, y = spirals(300, noise=0.05, random_state=0, n_classes=3)
        np.bincount(y)   # array([100, 100, 100])
    """
    n_classes = int_at_least("n_classes", n_classes, minimum=2)
    sizes, noise, rng = _start(n_samples, noise, random_state, n_classes)
    parts = []
    for k, n in enumerate(sizes):
        t = rng.uniform(0.05, 1.0, size=n)
        angle = 1.75 * 2 * np.pi * t + 2 * np.pi * k / n_classes
        parts.append(t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _finish(parts, noise, rng)


def gaussians(n_samples=200, noise=0.1, random_state=None, n_classes=None, centers=None, spread=0.3):
    """Round Gaussian blobs, one per class, each of standard deviation `spread`.

    `centers` is an array of shape (n_classes, 2); by default the centres sit evenly on the
    unit circle. `n_classes` defaults to len(centers), or 2 without centers.

        X, y = gaussians(200, random_state=0, centers=[[-1, 0], [1, 0], [0, 1]])
        np.bincount(y)   # array([67, 67, 66])
    """
    if centers is not None:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[1] != 2 or not np.all(np.isfinite(centers)):
            raise ValueError(
                f"centers must be finite numbers of shape (n_classes, 2), got shape {centers.shape}"
            )
        if n_classes is None:
            n_classes = len(centers)
    n_classes = int_at_least("n_classes", 2 if n_classes is None else n_classes, minimum=2)
    if centers is not None and len(centers) != n_classes:
        raise ValueError(f"centers has {len(centers)} rows but n_classes is {n_classes}")
    spread = noise_level("spread", spread)
    sizes, noise, rng = _start(n_samples, noise, random_state, n_classes)
    if centers is None:
        angle = 2 * np.pi * np.arange(n_classes) / n_classes + np.pi / 4
        centers = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    parts = [center + spread * rng.normal(size=(n, 2)) for center, n in zip(centers, sizes)]
    return _finish(parts, noise, rng)


DATASETS = {"circles": circles, "gaussians": gaussians, "moons": moons, "spirals": spirals, "xor": xor}


def make_dataset(name, **kwargs):
    """Make a toy data set by name: one of 'circles', 'gaussians', 'moons', 'spirals', 'xor'.

    Keyword arguments go to the maker, e.g. n_samples, noise, random_state.

        X, y = make_dataset("moons", n_samples=100, random_state=0)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
    if name not in DATASETS:
        raise ValueError(f"unknown data set name {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name](**kwargs)


def _start(n_samples, noise, random_state, n_classes):
    """Check the common arguments; return the class sizes, the noise and a Generator."""
    n_samples = int_at_least("n_samples", n_samples, minimum=1)
    if n_samples < n_classes:
        raise ValueError(f"n_samples must be at least n_classes={n_classes}, got {n_samples}")
    noise = noise_level("noise", noise)
    rng = rng_from_seed(random_state, "random_state")
    sizes = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    return sizes, noise, rng


def _finish(parts, noise, rng):
    """Stack the per-class points, add noise, shuffle; return float32 X and int64 y."""
    X = np.concatenate(parts)
    y = np.repeat(np.arange(len(parts)), [len(part) for part in parts])
    X = X + noise * rng.normal(size=X.shape)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order].astype(np.int64)
