"""Weight initializers, chosen by name.

Each takes the shape (fan_in, fan_out), a random generator and a dtype, and returns an array.
The generator may be a `np.random.Generator` or a `np.random.RandomState`; both have
`uniform` and `normal`, so `RandomState(s)` reproduces `np.random.seed(s)` draws exactly.

>>> rng = np.random.RandomState(0)
>>> initialize("uniform", (2, 2), rng, np.float64)     # the blog's np.random.uniform(size=(2, 2))
"""

import numpy as np

from ._checks import one_of


def uniform(shape, rng):
    """U[0, 1): the blog's `np.random.uniform(size=shape)`."""
    return rng.uniform(size=shape)


def glorot_uniform(shape, rng):
    """U[-a, a] with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(shape, rng):
    """N(0, s²) with s = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = shape
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_uniform(shape, rng):
    """U[-a, a] with a = sqrt(6 / fan_in) (He et al., 2015), for ReLU layers."""
    limit = np.sqrt(6.0 / shape[0])
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, rng):
    """N(0, s²) with s = sqrt(2 / fan_in), for ReLU layers."""
    return rng.normal(0.0, np.sqrt(2.0 / shape[0]), size=shape)


def zeros(shape, rng):
    """All zeros (draws nothing from rng)."""
    return np.zeros(shape)


INITIALIZERS = {
    "uniform": uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "zeros": zeros,
}


def check_init_name(name):
    """Raise a clear error if `name` is not a known initializer."""
    return one_of("init", name, tuple(INITIALIZERS))


def initialize(name, shape, rng, dtype):
    """Draw an array of `shape` with the named initializer, in `dtype`."""
    return INITIALIZERS[check_init_name(name)](shape, rng).astype(dtype)
