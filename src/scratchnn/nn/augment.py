"""Data augmentation as layers: RandomFlip and RandomTranslation, on images x[n, c, h, w].

In training (``training=True``) each image of the batch is transformed at random, afresh in
every batch, so the network never sees quite the same picture twice; at inference
(``training=False``: `predict`, `evaluate`, validation) the layers are the identity, so a
saved model takes the same inputs as one trained without them. Put them first in the
network, on images in their loaded scale (e.g. [0, 1]):

>>> net = Sequential(RandomFlip("horizontal"), RandomTranslation(2),
...                  Conv2D(1, 32, 3, padding=1), BatchNorm(32), ReLU(), ..., seed=0)

Both draw from the generator that ``build`` or ``set_rng`` hands them (the model's, seeded
by its ``seed``; each thread of ``fit(threads=N)`` its own), never from NumPy's global one.
Both are linear maps of x with the draws fixed, so backward applies their adjoint to dL/dy
(the draws of the last training forward pass are kept for it).
"""

import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._checks import describe, one_of
from .base import not_built
from .spatial import _Spatial, config_pair, pair

FLIP_MODES = {"horizontal": (3,), "vertical": (2,), "horizontal_and_vertical": (2, 3)}   # axes of (N, C, H, W)


class _RandomImageLayer(_Spatial):
    """What both share: the generator, identity at inference, the input check."""

    rng = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        self.rng = rng

    def set_rng(self, rng):
        self.rng = rng

    def output_shape(self, input_shape):
        """The input's shape, (N, C, H, W) with N possibly None; ValueError naming the layer
        and the shapes for another rank or no image."""
        return self._check_shape(input_shape)

    def _begin(self, x, training):
        """Check x; return whether to transform it (training, and the layer has been built)."""
        self._check_input(x)
        if training and self.rng is None:
            raise not_built(self)
        return training


class RandomFlip(_RandomImageLayer):
    """Flip each image at random in training: left-right (``mode="horizontal"``), upside down
    (``"vertical"``) or each of the two independently (``"horizontal_and_vertical"``), each
    with probability 1/2; the identity at inference (Keras' ``RandomFlip``).

    Shapes: x (N, C, H, W) -> y of the same shape and dtype. With f_n the flip drawn for
    image n, y[n] = f_n(x[n]); a flip is its own inverse and its own adjoint, so
    dL/dx[n] = f_n(dL/dy[n]). ``flipped`` (N, number of axes) holds the draws of the last
    training pass (True: flipped; columns in the order vertical, horizontal).

    Raises ValueError for an unknown mode, and (naming the layer) for input that is not
    (N, C, H, W); RuntimeError for training before the layer is built.

    >>> flip = RandomFlip("horizontal")
    >>> flip.build(np.random.default_rng(0), np.float32)
    >>> flip.forward(np.arange(3.0).reshape(1, 1, 1, 3), training=True)   # [0 1 2] or [2 1 0]
    """

    def __init__(self, mode="horizontal"):
        self.mode = one_of("mode", mode, tuple(FLIP_MODES))
        self.axes = FLIP_MODES[self.mode]
        self.flipped = None

    def forward(self, x, training=False):
        if not self._begin(x, training):
            self.flipped = None
            return x
        self.flipped = self.rng.random((len(x), len(self.axes))) < 0.5     # one fair coin per image and axis
        return self._flip(x)

    def backward(self, grad_output):
        if self.flipped is None:
            return grad_output                                            # identity: dL/dx = dL/dy
        if not self.needs_input_grad:
            return None
        return self._flip(grad_output)                                    # dL/dx[n] = f_n(dL/dy[n])

    def _flip(self, array):
        """array with image n flipped along axis a where ``flipped[n, column of a]``."""
        out = array.copy()                                                # y[n] = x[n], ...
        for column, axis in enumerate(self.axes):
            chosen = self.flipped[:, column]
            out[chosen] = np.flip(out[chosen], axis=axis)                 # ... flipped where drawn
        return out

    def get_config(self):
        return {"mode": self.mode}


class RandomTranslation(_RandomImageLayer):
    """Shift each image at random in training by whole pixels, up to ``max_shift`` in each
    direction; pixels shifted in from outside the image are ``fill_value`` (0 by default:
    the black background of MNIST-like images in [0, 1]); the identity at inference.

    ``max_shift`` is an int or a (height, width) pair of ints >= 0, in pixels (not Keras'
    fractions of the image size). Image n is shifted down by dy_n and right by dx_n, drawn
    uniformly from the integers in [−max_h, max_h] and [−max_w, max_w]:

        y[n, c, i, j] = x[n, c, i − dy_n, j − dx_n]   where that pixel exists, else fill_value

    With the shifts fixed, y is linear in x (plus a constant), and its adjoint shifts the
    gradient back, the pixels that fell off the image receiving none:

        dL/dx[n, c, i, j] = dL/dy[n, c, i + dy_n, j + dx_n]   where that pixel exists, else 0

    Shapes: x (N, C, H, W) with H > max_h and W > max_w -> y of the same shape and dtype.
    ``shifts`` (N, 2) holds the (dy, dx) of the last training pass.

    Raises TypeError / ValueError for a max_shift that is not one or two ints >= 0 or a
    fill_value that is not a finite number, and (naming the layer) for input that is not
    (N, C, H, W) or images not larger than the shift; RuntimeError for training before the
    layer is built.

    >>> shift = RandomTranslation(max_shift=2)
    >>> shift.build(np.random.default_rng(0), np.float32)
    >>> shift.forward(np.ones((4, 1, 28, 28), np.float32), training=True).shape
    (4, 1, 28, 28)
    """

    def __init__(self, max_shift=2, fill_value=0.0):
        self.max_shift = pair("max_shift", max_shift, minimum=0)
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise TypeError(f"fill_value must be a number, got {describe(fill_value)}")
        if not math.isfinite(fill_value):
            raise ValueError(f"fill_value must be a finite number, got {describe(fill_value)}")
        self.fill_value = float(fill_value)
        self.shifts = None

    def output_shape(self, input_shape):
        """The input's shape, (N, C, H, W), N possibly None; ValueError naming the layer and
        the shapes for another rank, no image, or H <= max_h or W <= max_w."""
        max_h, max_w = self.max_shift
        return self._check_shape(input_shape, (max_h + 1, max_w + 1), after=" (more than max_shift)")

    def forward(self, x, training=False):
        if not self._begin(x, training) or self.max_shift == (0, 0):
            self.shifts = None
            return x
        max_h, max_w = self.max_shift
        low, high = (-max_h, -max_w), (max_h + 1, max_w + 1)
        if isinstance(self.rng, np.random.Generator):
            self.shifts = self.rng.integers(low, high, size=(len(x), 2))    # (dy_n, dx_n), uniform
        else:                                                               # a RandomState (the blog's)
            self.shifts = self.rng.randint(low, high, size=(len(x), 2))
        framed = self._frame(x, self.fill_value)
        return translate(x, self.shifts, self.max_shift, self.fill_value, framed)   # y[n] = x[n] shifted by (dy, dx)

    def backward(self, grad_output):
        if self.shifts is None:
            return grad_output                                              # identity: dL/dx = dL/dy
        if not self.needs_input_grad:
            return None
        framed = self._frame(grad_output, 0.0)
        return translate(grad_output, -self.shifts, self.max_shift, 0.0, framed)   # dL/dx[n] = dL/dy[n] shifted back

    def _frame(self, array, fill_value):
        """A buffer for `translate` to frame `array` in, kept between batches: allocating a
        fresh one per batch costs more (in page faults) than the copy itself. Its border,
        written once, stays `fill_value`; copies of the layer leave it behind (`_Spatial`)."""
        max_h, max_w = self.max_shift
        n, channels, height, width = array.shape
        key = (array.shape, array.dtype, fill_value)
        buffers = self.__dict__.setdefault("_work", {})
        if key not in buffers:
            if len(buffers) >= 4:                           # the batch size changed: start afresh
                buffers.clear()
            buffers[key] = np.full((n, channels, height + 2 * max_h, width + 2 * max_w), fill_value, array.dtype)
        return buffers[key]

    def get_config(self):
        return {"max_shift": config_pair(self.max_shift), "fill_value": self.fill_value}


def translate(images, shifts, max_shift, fill_value, framed=None):
    """Image n of `images` (N, C, H, W) shifted down by shifts[n, 0] and right by shifts[n, 1]
    (each within ±max_shift), `fill_value` where nothing was shifted in:
    out[n, :, i, j] = images[n, :, i − dy_n, j − dx_n].

    One gather, no loop: the images are framed by max_shift pixels of fill_value, and the
    framed image's H x W window at offset (max_h − dy, max_w − dx) is the shifted image.
    `framed`, if given, is the frame to use: shape (N, C, H + 2·max_h, W + 2·max_w), images'
    dtype, its border already fill_value (its inside is overwritten)."""
    n, channels, height, width = images.shape
    max_h, max_w = max_shift
    if framed is None:
        framed = np.full((n, channels, height + 2 * max_h, width + 2 * max_w), fill_value, dtype=images.dtype)
    framed[:, :, max_h:max_h + height, max_w:max_w + width] = images       # the border stays fill_value
    windows = sliding_window_view(framed, (height, width), axis=(2, 3))     # [n, c, a, b] = framed[n, c, a:a+H, b:b+W]
    return windows[np.arange(n), :, max_h - shifts[:, 0], max_w - shifts[:, 1]]
