"""Argument checks shared by the public API.

Every public entry point validates before it does any work, and every error names the
argument, what it got and what it expected (scikit-learn's habit).
"""

import math
import numbers
import os

import numpy as np

MAX_NOISE = 1e6     # far beyond any useful noise, and far from overflowing float32 data


def describe(value):
    """A short, readable rendering of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_typed(value):
    """`describe` with the type's name first ("int 3", "str 'a'"), for type errors."""
    return f"{type(value).__name__} {describe(value)}"


def positive_number(name, value, allow_zero=False):
    """Return `value` as a float, or raise if it is not a finite number > 0 (>= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def number_in_range(name, value, low, high, low_open=False, high_open=False):
    """Return `value` as a float, or raise if it is not in [low, high] (ends open as asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def positive_int(name, value, allow_none=False):
    """Return `value` as an int, or raise if it is not an integer >= 1 (or None if allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise TypeError(f"{name} must be {expected}, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def one_of(name, value, choices):
    """Return `value` if it is one of `choices`, else raise naming the valid ones."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {describe(value)}")
    return value


def instance_or_name(name, value, base, registry, example):
    """`value` itself if it is a `base` instance, else a new instance of the class the
    registry gives for the name `value`; a clear error otherwise (used for losses and optimizers)."""
    if isinstance(value, base):
        return value
    if isinstance(value, str):
        return registry[one_of(name, value, tuple(registry))]()
    raise TypeError(f"{name} must be a scratchnn {name} (e.g. {example}) or its name, got {describe(value)}")


def as_float_array(name, data, dtype, ndim=None):
    """Convert `data` to a float array of `dtype`, refusing non-numeric, empty or non-finite data."""
    if isinstance(data, np.ndarray) and (data.dtype == object or data.dtype.kind in "USV"):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {data.dtype}")
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {describe(data)}: {error}") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if ndim is not None and array.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        raise ValueError(f"{name} must be a {_ndim_words(ndim)} array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if array.dtype.kind == "f" and not _all_finite(array):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} contains NaN or infinity (first at index {where}, value {array[where]})")
    largest = np.finfo(dtype).max
    if array.dtype.kind == "f" and np.dtype(dtype).itemsize < array.dtype.itemsize:
        too_large = np.abs(array) > largest
        if too_large.any():
            where = tuple(int(i) for i in np.argwhere(too_large)[0])
            raise ValueError(f"{name} has values beyond the {np.dtype(dtype).name} range ±{largest:.3g} "
                             f"(first at index {where}, value {array[where]:g}); use dtype=np.float64")
    return array.astype(dtype, copy=False)


def as_index_array(name, data):
    """Convert `data` to an array of integer indices (np.intp), refusing floats (even whole
    ones: a float where an index belongs is usually a mistake), booleans, non-numbers and
    empty data. The range is the caller's to check."""
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of integer indices, got {describe(data)}: {error}") from None
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer indices (the first layer looks rows up by index), got an "
                        f"array of dtype {array.dtype}; convert whole numbers with .astype(int)")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array.astype(np.intp, copy=False)


def _all_finite(array):
    """Whether every entry is finite. A NaN or an infinity makes any sum it enters non-finite,
    so summing the entries settles the common case without a temporary array the size of the
    data; only a non-finite sum, which finite but huge values can also give, needs the
    entry-by-entry test. For a float32/float64 array the sums are row sums, one matrix-vector
    product with a vector of ones, which BLAS spreads over the cores (``array.sum()`` runs on
    one)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if array.ndim >= 2 and array.dtype in (np.float32, np.float64) and array.flags.c_contiguous:
            rows = array.reshape(array.shape[0], -1)
            sums = rows @ np.ones(rows.shape[1], dtype=array.dtype)     # Σ_j x[i, j] for each row i
        else:
            sums = array.sum()
        if np.isfinite(sums).all():
            return True
    return bool(np.all(np.isfinite(array)))


def _ndim_words(ndim):
    if isinstance(ndim, tuple):
        return " or ".join(f"{n}-D" for n in ndim)
    return f"{ndim}-D"


def rng_from_seed(seed, name="seed"):
    """The one seed rule of the library: turn None, an int, a np.random.Generator or a
    np.random.RandomState into the generator to draw from.

    None gives a fresh, unpredictable Generator; an int >= 0 seeds a new `np.random.Generator`
    (PCG64), so the same int gives the same numbers every run; a Generator or a RandomState
    is used as it is, its draws continuing its stream (so the blog's `np.random.seed(s)` draws
    are reproduced by `np.random.RandomState(s)`). Code that draws uses only what both kinds
    have (uniform, normal, permutation, choice).
    """
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"{name} must be an int >= 0, got {seed}")
        return np.random.default_rng(None if seed is None else int(seed))
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    raise TypeError(
        f"{name} must be None, an int, a numpy Generator or a RandomState, got {describe_typed(seed)}"
    )


def int_at_least(name, value, minimum=1):
    """Return `value` as an int, or raise if it is not an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe_typed(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def noise_level(name, value):
    """Return `value` as a float, or raise if it is not a finite number in [0, MAX_NOISE]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe_typed(value)}")
    if not math.isfinite(value) or value < 0 or value > MAX_NOISE:
        raise ValueError(f"{name} must be a finite number in [0, {MAX_NOISE:g}], got {value!r}")
    return float(value)


def file_path(name, value):
    """Return `value` as a str path, or raise a TypeError naming the argument."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {describe_typed(value)}")
    return os.fspath(value)


def boolean(name, value):
    """Return `value` if it is True or False, else raise a TypeError naming the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)
