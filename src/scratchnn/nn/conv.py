"""Convolution layers for images, in PyTorch's NCHW layout: x[n, c, h, w].

A convolution is a sum over the kernel and the input channels,

    y[n, o, r, c] = b[o] + Σ_{ch, i, j} W[o, ch, i, j] · x_pad[n, ch, s·r + i, s·c + j],

and we compute it as ONE matrix product (im2col, see `scratchnn.ops.im2col`): copy the inputs
that each kernel offset (i, j) meets into a matrix ``cols`` with one row per (ch, i, j) and one
column per output position (n, r, c); then ``Y = W_mat · cols`` with W_mat = W reshaped to
(out, in·kh·kw). Building ``cols`` takes kh·kw slice copies (a loop over kernel offsets, never
over pixels), and backward runs the same loop in reverse (col2im), adding instead of copying:

    dL/dW_mat = dY · colsᵀ,   dL/db = Σ dY,   dL/dcols = W_matᵀ · dY  -> col2im -> dL/dx.

The bias rides along in the product: a row of ones under cols and b as an extra column of
W_mat, so ``Y = [W_mat | b] · [cols; 1]`` and dL/db comes out of the dL/dW product.

For speed, the buffers are allocated once per batch shape and reused, channels come first in
them (so that every copy is a plain slice), and with stride 1 the images are laid out so
that each of the kh·kw copies is one contiguous run (`scratchnn.ops.im2col.run_layout`);
dL/dcols is written over cols once dL/dW has used it, and dY over Y: the less memory a batch
sweeps through, the more of it stays in the CPU cache. Shallow kernels (in_channels·kh·kw
<= 32, such as a first layer on gray or RGB images) instead run one product per image, whose
result is already in NCHW order (see `Conv2D._per_image`).

>>> conv = Conv2D(1, 8, kernel_size=3, padding=1)
>>> conv.build(np.random.default_rng(0), np.float32)
>>> conv.forward(np.zeros((2, 1, 28, 28), np.float32)).shape
(2, 8, 28, 28)
"""

import numpy as np

from .. import kernels
from .._checks import describe, positive_int
from ..kernels import conv as compiled
from ..ops.im2col import (col2im, col2im_runs, im2col, im2col_runs, interior, output_size, run_layout,
                          same_padding)
from .base import not_built
from .init import check_init_name, initialize
from .spatial import Workspace, _Spatial, config_pair, pair

_PER_IMAGE_DEPTH = 32      # in_channels·kh·kw up to this: one product per image (see Conv2D._per_image)
_INFERENCE_CHUNK = 256      # forward(training=False) on more than 2 chunks of samples runs chunk by chunk


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
    same bits as the NumPy slice copies (tests check). ``fused=False`` always runs the NumPy code.

    >>> conv = Conv2D(3, 16, kernel_size=3, stride=2, padding=1)
    >>> conv.build(np.random.default_rng(0), np.float32)
    >>> conv.forward(np.zeros((4, 3, 32, 32), np.float32)).shape
    (4, 16, 16, 16)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, init="he_uniform", fused="auto"):
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = pair("stride", stride)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be an int >= 0, a pair of them, 'same' or 'valid'; got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={describe(stride)}")
            self._padding_config = padding
            self.padding = (tuple(map(same_padding, self.kernel_size)) if padding == "same" else ((0, 0), (0, 0)))
        else:
            pad_h, pad_w = pair("padding", padding, minimum=0)
            self._padding_config = config_pair((pad_h, pad_w))
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
                "kernel_size": config_pair(self.kernel_size), "stride": config_pair(self.stride),
                "padding": self._padding_config, "init": self.init}

    def _short_repr(self):
        text = f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={config_pair(self.kernel_size)!r}"
        if self.stride != (1, 1):
            text += f", stride={config_pair(self.stride)!r}"
        if self._padding_config != 0:
            text += f", padding={self._padding_config!r}"
        return text + ")"

    def _channels(self):
        return self.in_channels

    def output_shape(self, input_shape):
        """(N, out_channels, H_out, W_out) for an input of shape (N, in_channels, H, W), N may
        be None: H_out = (H + pad_top + pad_bottom − kh) // stride_h + 1, W_out likewise.
        ValueError, naming the layer and the shapes, for another rank or channel count, no
        image, or an image smaller than the kernel after padding."""
        (top, bottom), (left, right) = self.padding
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        n, _, height, width = self._check_shape(
            input_shape, (max(kh - top - bottom, 1), max(kw - left - right, 1)),
            after=f" (a {kh}x{kw} kernel after padding)" if top + bottom + left + right else "")
        return (n, self.out_channels, output_size(height, kh, sh, (top, bottom)),
                output_size(width, kw, sw, (left, right)))

    def forward(self, x, training=False):
        if self.weight is None:
            raise not_built(self)
        self._check_input(x)
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
        self._interior(work, work.x_pad)[...] = x.transpose(1, 0, 2, 3)
        self._im2col(work)
        weight_bias = self._weight_bias(work)
        np.matmul(weight_bias, work.cols_matrix, out=work.y_matrix)  # Y = [W_mat | b] · [cols; 1], into a reused buffer
        y = np.empty((n, self.out_channels, out_h, out_w), dtype=work.dtype)
        y_grid = work.y_matrix.reshape((self.out_channels, n) + work.grid)[:, :, :out_h, :out_w]
        np.copyto(y, y_grid.transpose(1, 0, 2, 3))                    # y[n, o] = Y[o, n]
        self._cache = work
        return y

    def _im2col(self, work):
        """Fill cols from x_pad (channels first): cols[(ch,i,j), (n,r,c)] = x_pad[n, ch, s·r+i, s·c+j]."""
        if work.runs is None:
            im2col(work.x_pad, work.cols, self.stride, offset_axis=1)
        elif self._compiled(work):       # the same copies, compiled
            compiled.im2col_runs(work.x_pad, work.cols, work.runs.pitch)
        else:
            im2col_runs(work.x_pad, work.cols, work.runs.pitch)
        work.cols_hold_input = True

    def _compiled(self, work):
        """Whether im2col / col2im run compiled: stride 1 (whose copies are runs), Numba."""
        return work.runs is not None and kernels.use_compiled(self.fused, work.x_pad, work.grad_pad)

    def _interior(self, work, padded):
        """The view of a padded buffer of `work` (x_pad or grad_pad) where x or dL/dx goes."""
        return interior(padded, self.padding) if work.runs is None else work.runs.interior(padded)

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
        # col2im: dx_pad[n, ch, s·r+i, s·c+j] += dcols[(ch,i,j), (n,r,c)]
        if work.runs is None:
            col2im(grad_cols, work.grad_pad, self.stride, offset_axis=1)
        elif self._compiled(work):       # the same additions in the same order, compiled
            compiled.col2im_runs(grad_cols, work.grad_pad, work.runs.pitch)
        else:
            col2im_runs(grad_cols, work.grad_pad, work.runs.pitch)
        grad_input = np.empty(work.input_shape, dtype=work.dtype)
        np.copyto(grad_input, self._interior(work, work.grad_pad).transpose(1, 0, 2, 3))
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
        interior(work.x_pad, self.padding)[...] = x
        im2col(work.x_pad, work.cols_grid, self.stride)       # cols[n, (ch,i,j), (r,c)] = x_pad[n, ch, s·r+i, s·c+j]
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
        # col2im: dx_pad[n, ch, s·r+i, s·c+j] += dcols[n, (ch,i,j), (r,c)]
        col2im(grad_cols.reshape(work.cols_grid.shape), work.grad_pad, self.stride)
        return interior(work.grad_pad, self.padding).copy()

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
        work = Workspace()
        work.per_image, work.input_shape, work.out_size, work.dtype = True, input_shape, (out_h, out_w), dtype
        work.depth = channels * kh * kw
        work.x_pad = np.zeros((n, channels, height + top + bottom, width + left + right), dtype)
        work.grad_pad = np.zeros_like(work.x_pad)
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
        ``grid`` = (rows, columns) positions per image (with stride 1 in the flat layout
        ``runs``, a `scratchnn.ops.im2col.RunLayout`, else None); `_interior` gives the view
        of x_pad where x goes.
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
        kh, kw = self.kernel_size
        _, _, out_h, out_w = self.output_shape(input_shape)
        work = Workspace()
        if self.stride == (1, 1):
            # stride 1: one flat row per channel, in which every kernel offset meets one
            # contiguous run (see ops.im2col.run_layout); the grid is rows x pitch per image
            work.runs = run_layout(input_shape, self.kernel_size, self.padding)
            work.grid = (work.runs.rows, work.runs.pitch)
            x_pad_shape, window_shape = (channels, work.runs.length), (work.runs.run,)
        else:
            work.runs, work.grid = None, (out_h, out_w)
            x_pad_shape = (channels, n, height + top + bottom, width + left + right)
            window_shape = (n, out_h, out_w)
        positions = n * work.grid[0] * work.grid[1]
        work.per_image = False
        work.input_shape, work.out_size, work.dtype = input_shape, (out_h, out_w), dtype
        work.depth = channels * kh * kw
        work.x_pad = np.zeros(x_pad_shape, dtype)
        work.grad_pad = np.zeros_like(work.x_pad)
        work.cols_matrix = np.empty((work.depth + 1, positions), dtype)   # [cols; 1] as a matrix
        work.cols_matrix[work.depth] = 1                                      # the row of ones, for the bias
        # cols[ch, i, j] has the shape of what offset (i, j) meets: (N, H_out, W_out), or a flat run
        work.cols = work.cols_matrix[:work.depth].reshape((channels, kh, kw) + window_shape)
        work.cols_hold_input = False
        work.weight_bias = np.empty((self.out_channels, work.depth + 1), dtype)
        work.y_matrix = np.empty((self.out_channels, positions), dtype)       # Y, and later dY
        return work
