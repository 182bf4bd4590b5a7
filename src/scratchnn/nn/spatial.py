"""What the 2-D layers (`scratchnn.nn.conv`, `scratchnn.nn.pooling`) share: their (height,
width) arguments and the check of their NCHW input, x[n, c, h, w]."""

import numbers

import numpy as np

from .._checks import describe
from .base import Layer


def pair(name, value, minimum=1):
    """An int or a (height, width) pair of ints, each >= minimum, as a tuple of two ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {describe(value)}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {describe(value)}")
    return int(items[0]), int(items[1])


def config_pair(pair):
    """A pair as it was most likely written: 3 for (3, 3), [3, 2] otherwise (JSON-friendly)."""
    return pair[0] if pair[0] == pair[1] else list(pair)


class Workspace:
    """A bag of preallocated arrays for one input shape (see Conv2D._workspace)."""


class _Spatial(Layer):
    """Shared input checks of the 2-D layers: rank 4, channel count, size against the kernel.

    A subclass's ``output_shape`` validates the shape with `_check_shape`; its ``forward``
    calls `_check_input`, which checks that x is an array and then runs ``output_shape`` on
    its shape: one check, one set of messages for both.
    """

    def _check_input(self, x):
        """Raise a ValueError naming the layer unless x is an array that fits; return
        ``output_shape(x.shape)``."""
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self._short_repr()} expects input of shape {self._expected_shape()}, "
                             f"got {describe(x)}")
        return self.output_shape(x.shape)

    def _check_shape(self, input_shape, min_size=(1, 1), after=""):
        """Raise a ValueError naming the layer, the shape got and the shape expected unless
        `input_shape` is (N, C, H, W) with the layer's channel count, at least one image (N
        may be None: any batch) and H, W at least `min_size`; `after` explains the minimum."""
        shape = tuple(input_shape)
        channels = self._channels()
        if len(shape) != 4 or (channels is not None and shape[1] != channels):
            raise ValueError(f"{self._short_repr()} expects input of shape {self._expected_shape()}, "
                             f"got shape {shape}")
        if shape[0] == 0 or shape[2] < min_size[0] or shape[3] < min_size[1]:
            raise ValueError(f"{self._short_repr()} needs at least one image of at least {min_size[0]}x{min_size[1]} "
                             f"pixels{after}, got shape {shape}")
        return shape

    def _channels(self):
        """The channel count the input must have; None: any."""
        return None

    def _expected_shape(self):
        channels = self._channels()
        return "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"

    def _short_repr(self):
        return repr(self)

    def __getstate__(self):
        """Copies and pickles leave the reusable buffers behind: they hold views of each other,
        which copy.deepcopy would turn into separate arrays."""
        state = dict(self.__dict__)
        state.pop("_work", None)
        if "_workspaces" in state:
            state["_workspaces"], state["_cache"] = {}, None
        return state
