"""Convolution and pooling layers for images, in PyTorch's NCHW layout: x[n, c, h, w].

A convolution is a sum over the kernel and the input channels,

    y[n, o, r, c] = b[o] + Σ_{ch, i, j} W[o, ch, i, j] · x_pad[n, ch, s·r + i, s·c + j],

and we compute it as ONE matrix product (im2col): copy the inputs that each kernel offset
(i, j) meets into a matrix ``cols`` with one row per (ch, i, j) and one column per output
position (n, r, c); then ``Y = W_mat · cols`` with W_mat = W reshaped to (out, in·kh·kw).
Building ``cols`` takes kh·kw slice copies (a loop over kernel offsets, never over pixels),
and backward runs the same loop in reverse (col2im), adding instead of copying:

    dL/dW_mat = dY · colsᵀ,   dL/db = Σ dY,   dL/dcols = W_matᵀ · dY  -> col2im -> dL/dx.

The bias rides along in the product: a row of ones under cols and b as an extra column of
W_mat, so ``Y = [W_mat | b] · [cols; 1]`` and dL/db comes out of the dL/dW product.

For speed, the buffers are allocated once per batch shape and reused, channels come first in
them (so that every copy is a plain slice), and with stride 1 the images are laid out so
that each of the kh·kw copies is one contiguous run (see `Conv2D._workspace`); dL/dcols is
written over cols once dL/dW has used it, and dY over Y: the less memory a batch sweeps
through, the more of it stays in the CPU cache (on the benchmark CNN with ``fit(threads=2)``,
the sharing and the bias row took a batch from 33 to 29 ms). Shallow kernels
(in_channels·kh·kw <= 32, such as a first layer on gray or RGB images) instead run one
product per image, whose result is already in NCHW order (see `Conv2D._per_image`).
Pooling takes maxima and sums over the same kernel-offset views, without copies.

>>> conv = Conv2D(1, 8, kernel_size=3, padding=1)
>>> conv.build(np.random.default_rng(0), np.float32)
>>> conv.forward(np.zeros((2, 1, 28, 28), np.float32)).shape
(2, 8, 28, 28)
"""

import numbers

import numpy as np

from .. import kernels
from .._checks import describe, positive_int
from .base import Layer, not_built
from .init import check_init_name, initialize

_PER_IMAGE_DEPTH = 32      # in_channels·kh·kw up to this: one product per image (see Conv2D._per_image)
_INFERENCE_CHUNK = 256      # forward(training=False) on more than 2 chunks of samples runs chunk by chunk


def _pair(name, value, minimum=1):
    """An int or a (height, width) pair of ints, each >= minimum, as a tuple of two ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {describe(value)}")
    if min(items) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {describe(value)}")
    return int(items[0]), int(items[1])


def _config_pair(pair):
    """A pair as it was most likely written: 3 for (3, 3), [3, 2] otherwise (JSON-friendly)."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def _same_padding(kernel):
    """'same' padding for stride 1: k − 1 zeros in all, the odd one at the end (bottom or
    right) for even kernels, as TensorFlow and PyTorch do."""
    return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2


def _window(array, i, j, out_size, stride):
    """The entries that kernel offset (i, j) meets: array[..., s·r + i, s·c + j] for every
    output position (r, c), as a view (no copy)."""
    (out_h, out_w), (stride_h, stride_w) = out_size, stride
    return array[..., i:i + stride_h * (out_h - 1) + 1:stride_h, j:j + stride_w * (out_w - 1) + 1:stride_w]


class _Spatial(Layer):
    """Shared input checks of the 2-D layers: rank 4, channel count, size against the kernel."""

    def _check_input(self, x, channels=None, min_size=(1, 1), after=""):
        expected = "(N, C, H, W)" if channels is None else f"(N, {channels}, H, W)"
        if not isinstance(x, np.ndarray) or x.ndim != 4 or (channels is not None and x.shape[1] != channels):
            got = f"shape {x.shape}" if isinstance(x, np.ndarray) else describe(x)
            raise ValueError(f"{self._short_repr()} expects input of shape {expected}, got {got}")
        if x.shape[0] == 0 or x.shape[2] < min_size[0] or x.shape[3] < min_size[1]:
            raise ValueError(f"{self._short_repr()} needs at least one image of at least {min_size[0]}x{min_size[1]} "
                             f"pixels{after}, got shape {x.shape}")

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


class Conv2D(_Spatial):
    """2-D convolution (strictly, cross-correlation, as in every framework):
    y[n, o] = b[o] + Σ_ch W[o, ch] ⋆ x[n, ch].

    Shapes: x (N, in_channels, H, W) -> y (N, out_channels, H_out, W_out) with
    H_out = (H + pad_top + pad_bottom − kh) // stride_h + 1 (and the same for W_out).
    W is (out_channels, in_channels, kh, kw), b is (out_channels,), both as in PyTorch.

    ``kernel_size``, ``stride`` and ``padding`` are ints or (height, width) pairs.
    ``padding="same"`` keeps H and W (stride 1 only, as in PyTorch); an even kernel then gets
    its extra row and column of zeros at the bottom and right (TensorFlow and PyTorch do the
    same). ``padding="valid"`` means 0. ``init`` names an initializer of `scratchnn.init`,
    computed with fan_in = in_channels·kh·kw and fan_out = out_channels·kh·kw.

    With stride 1, ``fused="auto"`` (the default) runs the im2col and col2im copies in compiled
    loops, channel by channel, when Numba is installed (``pip install scratchnn[fast]``): the
    same bits as the NumPy slice copies (tests check), in about half the time (on the benchmark
    CNN's second layer, 64 images: im2col 1.16 → 0.68 ms, col2im 1.22 → 0.64 ms).
    ``fused=False`` always runs the NumPy code.

    >>> conv = Conv2D(3, 16, kernel_size=3, stride=2, padding=1)
    >>> conv.build(np.random.default_rng(0), np.float32)
    >>> conv.forward(np.zeros((4, 3, 32, 32), np.float32)).shape
    (4, 16, 16, 16)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, init="he_uniform", fused="auto"):
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be an int >= 0, a pair of them, 'same' or 'valid'; got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={describe(stride)}")
            self._padding_config = padding
            self.padding = (tuple(map(_same_padding, self.kernel_size)) if padding == "same" else ((0, 0), (0, 0)))
        else:
            pad_h, pad_w = _pair("padding", padding, minimum=0)
            self._padding_config = _config_pair((pad_h, pad_w))
            self.padding = ((pad_h, pad_h), (pad_w, pad_w))      # ((top, bottom), (left, right))
        self.init = check_init_name(init)
        self.fused = kernels.check_option(fused)
        self.weight = None
        self.bias = None
        self._workspaces = {}
        self._cache = None

    def build(self, rng, dtype):
        super().build(rng, dtype)
        shape = (self.out_channels, self.in_channels, *self.kernel_size)      # fans: in·kh·kw, out·kh·kw
        self.weight = self.add_parameter("weight", initialize(self.init, shape, rng, dtype))
        self.bias = self.add_parameter("bias", np.zeros(self.out_channels))

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": _config_pair(self.kernel_size), "stride": _config_pair(self.stride),
                "padding": self._padding_config, "init": self.init}

    def _short_repr(self):
        text = f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={_config_pair(self.kernel_size)!r}"
        if self.stride != (1, 1):
            text += f", stride={_config_pair(self.stride)!r}"
        if self._padding_config != 0:
            text += f", padding={self._padding_config!r}"
        return text + ")"

    def output_shape(self, input_shape):
        """(N, out_channels, H_out, W_out) for an input of shape (N, in_channels, H, W)."""
        (top, bottom), (left, right) = self.padding
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        height, width = input_shape[2] + top + bottom, input_shape[3] + left + right
        return (input_shape[0], self.out_channels, (height - kh) // sh + 1, (width - kw) // sw + 1)

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        (top, bottom), (left, right) = self.padding
        kh, kw = self.kernel_size
        self._check_input(x, self.in_channels, (max(kh - top - bottom, 1), max(kw - left - right, 1)),
                          after=f" (a {kh}x{kw} kernel after padding)" if top + bottom + left + right else "")
        if not training and len(x) > 2 * _INFERENCE_CHUNK:    # bounded memory for predict(X_test)
            outputs = [self._forward(x[start:start + _INFERENCE_CHUNK])
                       for start in range(0, len(x), _INFERENCE_CHUNK)]
            self._cache = None
            return np.concatenate(outputs)
        return self._forward(x)

    def _forward(self, x):
        dtype = np.result_type(x.dtype, self.weight.value.dtype)
        if self._per_image(x.shape):
            return self._forward_per_image(x, self._workspace_per_image(x.shape, dtype))
        work = self._workspace(x.shape, dtype)
        n = x.shape[0]
        out_h, out_w = work.out_size
        # x_pad[ch, n] = x[n, ch] among zeros (the padding, zeroed once when allocated):
        # channels first, so that each im2col copy below is a plain slice
        work.interior(work.x_pad)[...] = x.transpose(1, 0, 2, 3)
        self._im2col(work)
        weight_bias = self._weight_bias(work)
        np.matmul(weight_bias, work.cols_matrix, out=work.y_matrix)  # Y = [W_mat | b] · [cols; 1], into a reused buffer
        y = np.empty((n, self.out_channels, out_h, out_w), dtype=work.dtype)
        y_grid = work.y_matrix.reshape((self.out_channels, n) + work.grid)[:, :, :out_h, :out_w]
        np.copyto(y, y_grid.transpose(1, 0, 2, 3))                    # y[n, o] = Y[o, n]
        self._cache = work
        return y

    def _im2col(self, work):
        """Fill cols from x_pad (channels first): the kh·kw copies of the docstring above."""
        if self._use_fused(work):        # the same copies, compiled (see kernels.im2col_runs)
            kernels.im2col_runs(work.x_pad, work.cols, work.pitch)
        else:
            for i, j in work.offsets:    # cols[(ch,i,j), (n,r,c)] = x_pad[n, ch, s·r+i, s·c+j]
                work.cols[:, i, j] = work.window(work.x_pad, i, j)
        work.cols_hold_input = True

    def _use_fused(self, work):
        """Whether im2col / col2im run compiled: stride 1 (whose copies are runs), Numba."""
        return bool(self.fused) and kernels.available and work.pitch is not None

    def _weight_bias(self, work):
        """[W_mat | b]: the kernel as a matrix (out, in·kh·kw) and the bias as its last column,
        which meets the row of ones under cols, so that the product adds the bias."""
        depth = work.depth
        work.weight_bias[:, :depth] = self.weight.value.reshape(self.out_channels, depth)
        work.weight_bias[:, depth] = self.bias.value
        return work.weight_bias

    def backward(self, grad_output):
        work = self._cache
        if work is None:
            raise RuntimeError("Conv2D.backward needs the forward pass of the same batch first (a forward "
                               f"with training=False on more than {2 * _INFERENCE_CHUNK} samples keeps nothing)")
        n = work.input_shape[0]
        out_h, out_w = work.out_size
        if grad_output.shape != (n, self.out_channels, out_h, out_w):
            raise ValueError(f"{self._short_repr()}.backward expects a gradient of shape "
                             f"{(n, self.out_channels, out_h, out_w)}, got shape {grad_output.shape}")
        if work.per_image:
            return self._backward_per_image(grad_output, work)
        depth = work.depth
        # dY in the layout of Y: grad_y[o, n, r, c] = dL/dy[n, o, r, c]. grad_y shares its memory
        # with Y, so the extra positions of the stride-1 grid (see _workspace) are set to 0: they
        # must add nothing below
        out_rows, out_columns = work.grid
        grad_y = work.y_matrix.reshape((self.out_channels, n) + work.grid)
        grad_y[:, :, :out_h, :out_w] = grad_output.transpose(1, 0, 2, 3)
        if out_rows > out_h:
            grad_y[:, :, out_h:] = 0
        if out_columns > out_w:
            grad_y[:, :, :out_h, out_w:] = 0
        grad_matrix = work.y_matrix
        if not work.cols_hold_input:             # a second backward after one forward (see below)
            self._im2col(work)
        # dL/d[W_mat | b] = dY · [cols; 1]ᵀ (the row of ones gives dL/db = Σ_(n,r,c) dY), computed
        # as ([cols; 1] · dYᵀ)ᵀ: the same numbers, and BLAS is faster this way round
        grad_weight_bias = work.cols_matrix @ grad_matrix.T
        self.weight.grad += grad_weight_bias[:depth].T.reshape(self.weight.grad.shape)
        self.bias.grad += grad_weight_bias[depth]
        if not self.needs_input_grad:        # a first layer: nobody reads dL/dx (see Sequential.backward)
            return None
        # dL/dcols = W_matᵀ · dY, written over cols, which dL/dW no longer needs: one buffer
        # for both keeps the memory this layer sweeps through, and so cache misses, lower
        grad_cols_matrix = work.cols_matrix[:depth]
        np.matmul(self.weight.value.reshape(self.out_channels, depth).T, grad_matrix, out=grad_cols_matrix)
        work.cols_hold_input = False
        grad_cols = work.cols                    # now dL/dcols, in the layout of cols
        if self._use_fused(work):        # the same additions in the same order, compiled
            kernels.col2im_runs(grad_cols, work.grad_pad, work.pitch)
        else:
            work.grad_pad.fill(0)
            for i, j in work.offsets:    # col2im: dx_pad[n, ch, s·r+i, s·c+j] += dcols[(ch,i,j), (n,r,c)]
                target = work.window(work.grad_pad, i, j)
                target += grad_cols[:, i, j]
        grad_input = np.empty(work.input_shape, dtype=work.dtype)
        np.copyto(grad_input, work.interior(work.grad_pad).transpose(1, 0, 2, 3))
        return grad_input

    def _per_image(self, input_shape):
        """Whether to run the products image by image (`_forward_per_image`): for a shallow
        kernel (in_channels·kh·kw <= _PER_IMAGE_DEPTH, a first layer on gray or RGB images),
        whose columns are cheap to build and whose output is large next to its input: there
        the transposes into and out of the channels-first layout cost more than the product."""
        kh, kw = self.kernel_size
        return self.in_channels * kh * kw <= _PER_IMAGE_DEPTH

    def _forward_per_image(self, x, work):
        """y[n] = [W_mat | b] · [cols[n]; 1] for each image n: one product per image, whose
        result is already image n's output in NCHW (no transpose), the bias added by the product
        (the row of ones under cols[n])."""
        n = x.shape[0]
        out_h, out_w = work.out_size
        work.interior(work.x_pad)[...] = x
        for i, j in work.offsets:        # cols[n, (ch,i,j), (r,c)] = x_pad[n, ch, s·r+i, s·c+j]
            work.cols_grid[:, :, i, j] = _window(work.x_pad, i, j, work.out_size, self.stride)
        y = np.empty((n, self.out_channels, out_h, out_w), dtype=work.dtype)
        np.matmul(self._weight_bias(work), work.cols, out=y.reshape(n, self.out_channels, out_h * out_w))
        self._cache = work
        return y

    def _backward_per_image(self, grad_output, work):
        """The products of `backward`, image by image: dL/d[W_mat | b] = Σ_n dY[n] · [cols[n]; 1]ᵀ
        (the row of ones gives dL/db = Σ dY), dL/dcols[n] = W_matᵀ · dY[n], then col2im."""
        n, depth = work.input_shape[0], work.depth
        grad_matrix = grad_output.reshape(n, self.out_channels, -1)
        each_image = np.matmul(grad_matrix, work.cols.transpose(0, 2, 1))  # (N, out, depth + 1)
        total = each_image.sum(axis=0)
        self.weight.grad += total[:, :depth].reshape(self.weight.grad.shape)
        self.bias.grad += total[:, depth]
        if not self.needs_input_grad:
            return None
        weight_matrix = self.weight.value.reshape(self.out_channels, depth)
        grad_cols = np.matmul(weight_matrix.T, grad_matrix)                         # (N, depth, positions)
        grad_grid = grad_cols.reshape(work.cols_grid.shape)
        work.grad_pad.fill(0)
        for i, j in work.offsets:        # col2im: dx_pad[n, ch, s·r+i, s·c+j] += dcols[n, (ch,i,j), (r,c)]
            target = _window(work.grad_pad, i, j, work.out_size, self.stride)
            target += grad_grid[:, :, i, j]
        return work.interior(work.grad_pad).copy()

    def _workspace_per_image(self, input_shape, dtype):
        """Buffers of `_forward_per_image`, reused for batches of the same shape: x_pad, the
        padded input (NCHW), and cols[n, (ch, i, j), (r, c)] with a last row of ones."""
        return self._cached(("per image", input_shape, np.dtype(dtype)),
                            lambda: self._new_workspace_per_image(input_shape, dtype))

    def _new_workspace_per_image(self, input_shape, dtype):
        n, channels, height, width = input_shape
        (top, bottom), (left, right) = self.padding
        kh, kw = self.kernel_size
        _, _, out_h, out_w = self.output_shape(input_shape)
        work = _Workspace()
        work.per_image, work.input_shape, work.out_size, work.dtype = True, input_shape, (out_h, out_w), dtype
        work.depth = channels * kh * kw
        work.offsets = [(i, j) for i in range(kh) for j in range(kw)]
        work.x_pad = np.zeros((n, channels, height + top + bottom, width + left + right), dtype)
        work.grad_pad = np.zeros_like(work.x_pad)
        work.interior = lambda padded: padded[:, :, top:top + height, left:left + width]
        work.cols = np.empty((n, work.depth + 1, out_h * out_w), dtype)
        work.cols[:, work.depth] = 1                                   # the row of ones, for the bias
        work.cols_grid = work.cols[:, :work.depth].reshape(n, channels, kh, kw, out_h, out_w)
        work.weight_bias = np.empty((self.out_channels, work.depth + 1), dtype)
        return work

    def _workspace(self, input_shape, dtype):
        """Buffers reused from batch to batch of the same shape (allocating ~100 MB per batch
        costs page faults); the two most recent shapes are kept (a last, smaller batch).

        ``x_pad`` holds the padded input, channels first; ``cols[ch, i, j, n, r, c]`` the input
        that kernel offset (i, j) meets at output position (r, c) of image n, on a grid of
        ``grid`` = (rows, columns) positions per image; ``interior(x_pad)`` is the view of
        x_pad where x goes, ``window(x_pad, i, j)`` the view that offset (i, j) meets.
        """
        return self._cached(("channels first", input_shape, np.dtype(dtype)),
                            lambda: self._new_workspace(input_shape, dtype))

    def _cached(self, key, build):
        """The workspace stored under `key`, built by `build()` the first time; the two most
        recent are kept (a training batch and a smaller last one, say)."""
        if key not in self._workspaces:
            if len(self._workspaces) >= 2:
                del self._workspaces[next(iter(self._workspaces))]
            self._workspaces[key] = build()
        return self._workspaces[key]

    def _new_workspace(self, input_shape, dtype):
        n, channels, height, width = input_shape
        (top, bottom), (left, right) = self.padding
        (kh, kw), stride = self.kernel_size, self.stride
        _, _, out_h, out_w = self.output_shape(input_shape)
        if stride == (1, 1):
            # Stride 1: the images of a channel are stacked in one flat array, row after row,
            # each row followed by max(left, right) zeros and each image by max(top, bottom)
            # rows of zeros, so that neighbours share their zero border (the zeros after a row
            # are also the left padding of the next one). Output position (n, r, c) then reads
            # the input at flat index (n·rows + r)·pitch + c + i·pitch + j for offset (i, j):
            # over ALL positions this is one contiguous run starting at i·pitch + j, and
            # im2col is kh·kw plain slice copies. The positions past out_h rows or out_w
            # columns of each image are computed too and dropped (a few % more work).
            pitch = max(width + max(left, right), out_w)
            rows = max(height + max(top, bottom), out_h)
            grid, run = (rows, pitch), n * rows * pitch
            flat_pitch = pitch
            origin = top * pitch + left                        # flat index of pixel (0, 0) of image 0
            x_pad_shape = (channels, run + max(origin, (kh - 1) * pitch + kw - 1))   # room for every run

            def interior(padded):
                images = padded[:, origin:origin + run].reshape(channels, n, rows, pitch)
                return images[:, :, :height, :width]

            def window(padded, i, j):
                start = i * pitch + j
                return padded[:, start:start + run]     # flat: NumPy adds 2-D runs faster than 4-D views
        else:
            grid, flat_pitch = (out_h, out_w), None
            x_pad_shape = (channels, n, height + top + bottom, width + left + right)

            def interior(padded):
                return padded[:, :, top:top + height, left:left + width]

            def window(padded, i, j):
                return _window(padded, i, j, (out_h, out_w), stride)
        positions = n * grid[0] * grid[1]
        work = _Workspace()
        work.per_image, work.pitch = False, flat_pitch
        work.input_shape, work.out_size, work.grid, work.dtype = input_shape, (out_h, out_w), grid, dtype
        work.interior, work.window = interior, window
        work.offsets = [(i, j) for i in range(kh) for j in range(kw)]
        work.depth = channels * kh * kw
        work.x_pad = np.zeros(x_pad_shape, dtype)
        work.grad_pad = np.zeros_like(work.x_pad)
        work.cols_matrix = np.empty((work.depth + 1, positions), dtype)   # [cols; 1] as a matrix
        work.cols_matrix[work.depth] = 1                                      # the row of ones, for the bias
        # cols[ch, i, j] has the shape of window(x_pad, i, j): (N, rows, columns), or flat
        work.cols = work.cols_matrix[:work.depth].reshape((channels, kh, kw) + window(work.x_pad, 0, 0).shape[1:])
        work.cols_hold_input = False
        work.weight_bias = np.empty((self.out_channels, work.depth + 1), dtype)
        work.y_matrix = np.empty((self.out_channels, positions), dtype)       # Y, and later dY
        return work


class _Workspace:
    """A bag of preallocated arrays for one input shape (see Conv2D._workspace)."""


class _Pool2D(_Spatial):
    """Shared arguments of the pooling layers: kernel and stride (default: the kernel)."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride)
        self._stride_config = stride if stride is None else _config_pair(self.stride)

    def get_config(self):
        return {"kernel_size": _config_pair(self.kernel_size), "stride": self._stride_config}

    def _short_repr(self):
        text = f"{type(self).__name__}(kernel_size={_config_pair(self.kernel_size)!r}"
        return text + ("" if self._stride_config is None else f", stride={self._stride_config!r}") + ")"

    def _begin(self, x):
        """Check x and return the output size and the kernel offsets, in row-major order."""
        self._check_input(x, min_size=self.kernel_size, after=" (the pooling window)")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        self.input_shape = x.shape
        self.out_size = ((x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1)
        return self.out_size, [(i, j) for i in range(kh) for j in range(kw)]

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
        # branch-free (np.where with a random mask is several times slower)
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
    forward and one over dL/dx backward instead of a dozen NumPy passes: on the benchmark
    CNN's first pooling layer 2.1x faster forward and 1.9x backward. It gives the same bits (tests check);
    ``fused=False`` always runs the NumPy code.

    >>> MaxPool2D(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    def __init__(self, kernel_size, stride=None, fused="auto"):
        super().__init__(kernel_size, stride)
        self.fused = kernels.check_option(fused)

    def _use_fused(self, x):
        return (bool(self.fused) and kernels.available and self.kernel_size == self.stride == (2, 2)
                and x.dtype in (np.float32, np.float64))

    def forward(self, x, training=False):
        (out_h, out_w), _ = self._begin(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        y = np.empty(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
        if self._use_fused(x):
            self.argmax = np.empty(y.shape, np.uint8)
            kernels.max_pool_2x2_forward(x, y, self.argmax)
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
            kernels.max_pool_2x2_backward(grad_output, self.argmax, grad_input)
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
            work = self._work = _Workspace()
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
        out_size, offsets = self._begin(x)
        y = _window(x, 0, 0, out_size, self.stride).copy()
        for i, j in offsets[1:]:
            y += _window(x, i, j, out_size, self.stride)                        # Σ over the window
        y *= y.dtype.type(1.0 / len(offsets))                                   # y = Σ / (kh·kw)
        return y

    def backward(self, grad_output):
        grad_input, overlapping = self._new_grad_input(grad_output.dtype)
        share = grad_output * grad_output.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1]))
        for i in range(self.kernel_size[0]):
            for j in range(self.kernel_size[1]):
                target = _window(grad_input, i, j, self.out_size, self.stride)
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
