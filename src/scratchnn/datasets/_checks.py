"""Argument checks shared by the data modules: fail early, name the argument."""

import math
import numbers
import os

import numpy as np


def check_int(name, value, minimum=1):
    """Return `value` as an int, or raise if it is not an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


MAX_NOISE = 1e6     # far beyond any useful noise, and far from overflowing float32 data


def check_noise(name, value):
    """Return `value` as a float, or raise if it is not a finite number in [0, 1e6]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0 or value > MAX_NOISE:
        raise ValueError(f"{name} must be a finite number in [0, {MAX_NOISE:g}], got {value!r}")
    return float(value)


def check_path(name, value):
    """Return `value` as a str path, or raise if it is not a str or os.PathLike."""
    if not isinstance(value, (str, os.PathLike)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a str or os.PathLike path, got {kind} {value!r}")
    return os.fspath(value)


def as_generator(random_state):
    """Turn None, an int seed, a Generator or a RandomState into a numpy Generator.

    None gives a fresh unpredictable Generator; an int gives the same numbers every run;
    a RandomState is asked for a seed, so the same RandomState state gives the same data.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be an int >= 0, got {random_state!r}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or a RandomState, "
        f"got {type(random_state).__name__} {random_state!r}"
    )
