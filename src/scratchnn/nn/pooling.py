"""Pooling layers for images, in PyTorch's NCHW layout: x[n, c, h, w].

Max and average pooling take maxima and sums over the views each kernel offset (i, j) meets,
x[..., s_h·r + i, s_w·s + j] for output position (r, s) (`scratchnn.ops.im2col.window`),
without copying the windows; backward sends dL/dy back through the same views. Global
average pooling averages each channel over all of its pixels.

>>> MaxPool2D(2).output_shape((None, 8, 28, 28))
(None, 8, 14, 14)
"""

import numpy as np

from .. import kernels
from ..kernels import pooling as compiled
from ..ops.im2col import output_size, window
from .spatial import Workspace, _Spatial, config_pair, pair


class _Pool2D(_Spatial):
    """Shared arguments of the pooling layers: kernel and stride (default: the kernel)."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair("stride", stride)
        self._stride_config = stride if stride is None else config_pair(self.stride)

    def get_config(self):
        return {"kernel_size": config_pair(self.kernel_size), "stride": self._stride_config}

    def _short_repr(self):
        text = f"{type(self).__name__}(kernel_size={config_pair(self.kernel_size)!r}"
        return text + ("" if self._stride_config is None else f", stride={self._stride_config!r}") + ")"

    def output_shape(self, input_shape):
        """(N, C, H_out, W_out) for an input of shape (N, C, H, W), N may be None:
        H_out = (H − kh) // stride_h + 1, W_out likewise. ValueError, naming the layer and the
        shapes, for another rank, no image, or an image smaller than the window."""
        n, channels, height, width = self._check_shape(input_shape, self.kernel_size, after=" (the pooling window)")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return (n, channels, output_size(height, kh, sh), output_size(width, kw, sw))

    def _begin(self, x):
        """Check x and keep its shape and the output size for backward; return the output size."""
        self.out_size = self._check_input(x)[2:]
        self.input_shape = x.shape
        return self.out_size

    def _new_grad_input(self, dtype):
        """An array for dL/dx, and whether windows overlap (then gradients must be added).
        Zeros unless the windows tile the input exactly (stride = kernel and no pixel left over)."""
        (kh, kw), (sh, sw), (out_h, out_w) = self.kernel_size, self.stride, self.out_size
        tiles = (sh, sw) == (kh, kw) and self.input_shape[2:] == (out_h * kh, out_w * kw)
        overlapping = sh < kh or sw < kw
        return (np.empty if tiles else np.zeros)(self.input_shape, dtype=dtype), overlapping


def _cache_sized_chunks(array, size=1 << 20):
    """Slices of the batch axis covering about `size` bytes of `array` each: a pass that reads
    several strided views of one chunk then finds it in the CPU cache after the first."""
    step = max(1, size // max(1, array[0].nbytes))
    return [slice(start, start + step) for start in range(0, len(array), step)]


def _max_of_views(views, out, argmax):
    """out = the elementwise max of `views`; argmax = the index of the first view holding it."""
    if len(views) == 1:
        np.copyto(out, views[0])
        argmax.fill(0)
        return
    better = np.greater(views[1], views[0])          # strictly larger: ties keep the first, as PyTorch
    np.maximum(views[0], views[1], out=out)
    np.copyto(argmax, better)
    for k in range(2, len(views)):
        np.greater(views[k], out, out=better)
        np.maximum(out, views[k], out=out)
        # argmax = k where views[k] is larger; k only grows, so this is max(argmax, k·better),
        # branch-free (np.where with a random mask is slower)
        np.maximum(argmax, np.multiply(better, argmax.dtype.type(k)), out=argmax)


def _route(grad, argmax, targets, accumulate):
    """Send grad to the view that held the max: targets[k] (+)= grad · [argmax == k]."""
    for k, target in enumerate(targets):
        if accumulate:
            target += grad * (argmax == k)
        else:
            np.multiply(grad, argmax == k, out=target)


class MaxPool2D(_Pool2D):
    """Max pooling: y[n, c, r, s] = max over the window x[n, c, s_h·r : s_h·r + kh, s_w·s : s_w·s + kw].

    ``stride`` defaults to ``kernel_size`` (non-overlapping windows). The gradient goes to the
    first maximum of each window (row-major order), as in PyTorch.

    The max over a window is the max over its rows of each row's max, so we take the max
    along the width first (kw − 1 comparisons per output column, for every input row), then
    along the height (kh − 1): two passes over strided views, no copy of the windows.

    For the common 2x2 window with stride 2, ``fused="auto"`` (the default) uses a compiled
    loop instead when Numba is installed (``pip install scratchnn[fast]``): one pass over x
    forward and one over dL/dx backward instead of a dozen NumPy passes, with the same bits
    (tests check); ``fused=False`` always runs the NumPy code.

    >>> MaxPool2D(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    def __init__(self, kernel_size, stride=None, fused="auto"):
        super().__init__(kernel_size, stride)
        self.fused = kernels.check_option(fused)

    def forward(self, x, training=False):
        out_h, out_w = self._begin(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        y = np.empty(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
        if self.kernel_size == self.stride == (2, 2) and kernels.use_compiled(self.fused, x):
            self.argmax = np.empty(y.shape, np.uint8)
            compiled.max_pool_2x2_forward(x, y, self.argmax)
            return y
        self.argmax = None
        work = self._workspace(x.shape, x.dtype)
        row_max, self.column_argmax, self.row_argmax = work.row_max, work.column_argmax, work.row_argmax
        for batch in _cache_sized_chunks(x):       # the views of a chunk stay in the CPU cache
            # row_max[n, c, h, s] = max_j x[n, c, h, s_w·s + j]: the max along each window row
            _max_of_views([x[batch, ..., j:j + sw * (out_w - 1) + 1:sw] for j in range(kw)],
                          row_max[batch], self.column_argmax[batch])
            # y[n, c, r, s] = max_i row_max[n, c, s_h·r + i, s]: the max of the row maxima
            _max_of_views([row_max[batch, :, i:i + sh * (out_h - 1) + 1:sh] for i in range(kh)],
                          y[batch], self.row_argmax[batch])
        return y

    def backward(self, grad_output):
        (kh, kw), (sh, sw), (out_h, out_w) = self.kernel_size, self.stride, self.out_size
        if getattr(self, "argmax", None) is not None:       # the forward pass ran fused
            grad_input, _ = self._new_grad_input(grad_output.dtype)
            compiled.max_pool_2x2_backward(grad_output, self.argmax, grad_input)
            return grad_input
        height, width = self.input_shape[2:]
        # the same two steps in reverse: dL/dy to the row that held the max, then to its column;
        # windows that overlap add up, and pixels no window covers get 0
        grad_rows = self._work.grad_rows
        if not (sh == kh and out_h * kh == height):          # rows between or under the windows
            grad_rows.fill(0)
        column_tiles = sw == kw and out_w * kw == width
        grad_input = (np.empty if column_tiles else np.zeros)(self.input_shape, dtype=grad_output.dtype)
        for batch in _cache_sized_chunks(grad_input):
            _route(grad_output[batch], self.row_argmax[batch],
                   [grad_rows[batch, :, i:i + sh * (out_h - 1) + 1:sh] for i in range(kh)], accumulate=sh < kh)
            _route(grad_rows[batch], self.column_argmax[batch],
                   [grad_input[batch, ..., j:j + sw * (out_w - 1) + 1:sw] for j in range(kw)], accumulate=sw < kw)
        return grad_input

    def _workspace(self, input_shape, dtype):
        """Buffers reused from batch to batch of the same shape (see Conv2D._workspace)."""
        key = (input_shape, np.dtype(dtype))
        if getattr(self, "_work", None) is None or self._work.key != key:
            n, channels, height, _ = input_shape
            out_h, out_w = self.out_size
            index_type = np.uint8 if max(self.kernel_size) <= 256 else np.intp
            work = self._work = Workspace()
            work.key = key
            work.row_max = np.empty((n, channels, height, out_w), dtype)
            work.grad_rows = np.empty_like(work.row_max)
            work.column_argmax = np.empty((n, channels, height, out_w), index_type)
            work.row_argmax = np.empty((n, channels, out_h, out_w), index_type)
        return self._work


class AvgPool2D(_Pool2D):
    """Average pooling: y[n, c, r, s] = mean of the window x[n, c, s_h·r : s_h·r + kh, s_w·s : s_w·s + kw].

    >>> AvgPool2D(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """

    def forward(self, x, training=False):
        out_size = self._begin(x)
        (kh, kw), stride = self.kernel_size, self.stride
        offsets = [(i, j) for i in range(kh) for j in range(kw)]                # row-major order
        y = window(x, 0, 0, out_size, stride).copy()
        for i, j in offsets[1:]:
            y += window(x, i, j, out_size, stride)                              # Σ over the window
        y *= y.dtype.type(1.0 / len(offsets))                                   # y = Σ / (kh·kw)
        return y

    def backward(self, grad_output):
        grad_input, overlapping = self._new_grad_input(grad_output.dtype)
        share = grad_output * grad_output.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        for i in range(self.kernel_size[0]):
            for j in range(self.kernel_size[1]):
                target = window(grad_input, i, j, self.out_size, self.stride)
                if overlapping:
                    target += share                                             # dL/dx += dL/dy / (kh·kw)
                else:
                    target[...] = share
        return grad_input


class GlobalAvgPool2D(_Spatial):
    """Global average pooling: y[n, c] = mean over h, w of x[n, c, h, w]; (N, C, H, W) -> (N, C).

    >>> GlobalAvgPool2D().forward(np.ones((2, 3, 5, 5))).shape
    (2, 3)
    """

    def _short_repr(self):
        return "GlobalAvgPool2D()"

    def output_shape(self, input_shape):
        """(N, C) for an input of shape (N, C, H, W), N may be None; ValueError, naming the
        layer and the shapes, for another rank or no image."""
        return self._check_shape(input_shape)[:2]

    def forward(self, x, training=False):
        self._check_input(x)
        self.input_shape = x.shape
        return x.mean(axis=(2, 3))                                              # y = Σ_hw x / (H·W)

    def backward(self, grad_output):
        height, width = self.input_shape[2:]
        share = grad_output * grad_output.dtype.type(1.0 / (height * width))
        grad_input = np.empty(self.input_shape, dtype=grad_output.dtype)
        grad_input[...] = share[:, :, None, None]                  # dL/dx = dL/dy / (H·W) at every pixel
        return grad_input
