"""Weight initializers, chosen by name, computed from a shape and its fans.

``fan_in`` is how many inputs feed each output unit, ``fan_out`` how many outputs each input
feeds: for a Dense weight (in_features, out_features) they are in and out; for a Conv2D
kernel (out, in, kh, kw) they are in·kh·kw and out·kh·kw (Keras' and PyTorch's count).
The generator may be a `np.random.Generator` or a `np.random.RandomState`; both have
``uniform`` and ``normal``, so `RandomState(s)` reproduces the blog's `np.random.seed(s)` draws.

>>> rng = np.random.RandomState(0)
>>> initialize("uniform", (2, 2), rng, np.float64)     # the blog's np.random.uniform(size=(2, 2))
"""

import numpy as np

from .._checks import one_of


def uniform(shape, fan_in, fan_out, rng):
    """U[0, 1): the blog's `np.random.uniform(size=shape)`."""
    return rng.uniform(size=shape)


def glorot_uniform(shape, fan_in, fan_out, rng):
    """U[-a, a] with a = √(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def glorot_normal(shape, fan_in, fan_out, rng):
    """N(0, s²) with s = √(2 / (fan_in + fan_out))."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def he_uniform(shape, fan_in, fan_out, rng):
    """U[-a, a] with a = √(6 / fan_in) (He et al., 2015), for ReLU layers."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, fan_in, fan_out, rng):
    """N(0, s²) with s = √(2 / fan_in), for ReLU layers."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def zeros(shape, fan_in, fan_out, rng):
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


def fans(shape):
    """(fan_in, fan_out) of a weight: (in, out) for a Dense weight (in, out); (in·k, out·k)
    for a kernel (out, in, *kernel) with k the kernel's size."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) < 2:
        raise ValueError(f"a weight needs at least 2 axes to have fans, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def initialize(name, shape, rng, dtype):
    """Draw an array of `shape` with the named initializer (fans from `fans(shape)`), in `dtype`."""
    fan_in, fan_out = fans(shape)
    return INITIALIZERS[check_init_name(name)](shape, fan_in, fan_out, rng).astype(dtype)
