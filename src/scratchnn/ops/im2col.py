"""A convolution's copies as pure functions of arrays: im2col, its adjoint col2im, and the
shapes and views they use.

A 2-D convolution (strictly, cross-correlation) with a kh x kw kernel and stride (s_h, s_w)
reads, at output position (r, s) and kernel offset (i, j), the padded input at
(s_h·r + i, s_w·s + j). im2col copies what each kernel offset meets into columns,

    cols[..., i, j, ..., r, s] = x_pad[..., s_h·r + i, s_w·s + j],

so that the convolution becomes one matrix product; col2im is its adjoint (the transpose of
that linear map), which adds the columns back where they came from:

    grad_pad[..., s_h·r + i, s_w·s + j] += grad_cols[..., i, j, ..., r, s]   over all i, j, r, s.

Both loop over the kh·kw kernel offsets, never over pixels: each step is one slice copy or
one slice addition of a strided view (`window`). With stride 1 a flat layout (`RunLayout`)
makes each of those views one contiguous run of memory (`im2col_runs`, `col2im_runs`);
`scratchnn.kernels.conv` compiles the same copies.

>>> x_pad = np.arange(16.0).reshape(1, 1, 4, 4)
>>> cols = np.empty((1, 1, 3, 3, 2, 2))
>>> im2col(x_pad, cols)[0, 0, :, :, 0, 0]        # the 3x3 patch at output position (0, 0)
array([[ 0.,  1.,  2.],
       [ 4.,  5.,  6.],
       [ 8.,  9., 10.]])
"""

from typing import NamedTuple


def output_size(size, kernel, stride=1, padding=(0, 0)):
    """The output length along one axis: (size + before + after − kernel) // stride + 1,
    with `padding` = (before, after); 0 or less when the kernel does not fit."""
    return (size + padding[0] + padding[1] - kernel) // stride + 1


def same_padding(kernel):
    """'same' padding for stride 1, as (before, after): kernel − 1 zeros in all, the odd one
    after (at the bottom or right) for an even kernel, as TensorFlow and PyTorch do."""
    return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2


def interior(x_pad, padding):
    """The view of x_pad (..., H_pad, W_pad) where the unpadded input goes:
    x_pad[..., top : H_pad − bottom, left : W_pad − right], with padding ((top, bottom), (left, right))."""
    (top, bottom), (left, right) = padding
    height, width = x_pad.shape[-2] - top - bottom, x_pad.shape[-1] - left - right
    return x_pad[..., top:top + height, left:left + width]


def window(array, i, j, out_size, stride):
    """What kernel offset (i, j) meets: the view array[..., s_h·r + i, s_w·s + j] over the
    output positions (r, s) < out_size, of shape (..., H_out, W_out); no copy."""
    (out_h, out_w), (stride_h, stride_w) = out_size, stride
    return array[..., i:i + stride_h * (out_h - 1) + 1:stride_h, j:j + stride_w * (out_w - 1) + 1:stride_w]


def im2col(x_pad, cols, stride=(1, 1), offset_axis=2):
    """Fill `cols` from the padded input and return it:

        cols[a, i, j, b, r, s] = x_pad[a, b, s_h·r + i, s_w·s + j],

    where `a` stands for the first `offset_axis` axes and `b` for the rest before the last two.
    x_pad: (..., H_pad, W_pad); cols: (kh, kw) inserted at `offset_axis` into the shape of
    ``window(x_pad, 0, 0, (H_out, W_out), stride)``, e.g. (N, C, kh, kw, H_out, W_out) for an
    NCHW x_pad (offset_axis=2) or (C, kh, kw, N, H_out, W_out) for a (C, N, H, W) one
    (offset_axis=1). One slice copy per kernel offset, in row-major order.
    """
    kh, kw = cols.shape[offset_axis:offset_axis + 2]
    out_size, leading = cols.shape[-2:], (slice(None),) * offset_axis
    for i in range(kh):
        for j in range(kw):
            cols[leading + (i, j)] = window(x_pad, i, j, out_size, stride)
    return cols


def col2im(grad_cols, grad_pad, stride=(1, 1), offset_axis=2):
    """The adjoint of `im2col`, into `grad_pad` (returned): grad_pad = 0, then

        grad_pad[a, b, s_h·r + i, s_w·s + j] += grad_cols[a, i, j, b, r, s]

    for the kernel offsets in row-major order (overlapping windows add up; pixels no window
    meets stay 0). Shapes as in `im2col`, grad_pad in the place of x_pad.
    """
    kh, kw = grad_cols.shape[offset_axis:offset_axis + 2]
    out_size, leading = grad_cols.shape[-2:], (slice(None),) * offset_axis
    grad_pad.fill(0)
    for i in range(kh):
        for j in range(kw):
            target = window(grad_pad, i, j, out_size, stride)
            target += grad_cols[leading + (i, j)]
    return grad_pad


class RunLayout(NamedTuple):
    """Where the padded images of a stride-1 convolution sit in one flat row per channel,
    x_flat (C, length), so that every kernel offset meets one contiguous run (see `run_layout`)."""

    images: int         # N
    height: int         # H and W of the input, unpadded
    width: int
    rows: int           # rows per image in the flat layout, padding included (>= H_out)
    pitch: int          # entries per row, padding included (>= W_out)
    origin: int         # flat index of pixel (0, 0) of image 0
    run: int            # N · rows · pitch: one entry per output position of the (rows, pitch) grid
    length: int         # entries per channel: room for the run of every kernel offset

    def interior(self, x_flat):
        """The view of x_flat (C, length) where the input goes, as (C, N, H, W)."""
        images = x_flat[:, self.origin:self.origin + self.run].reshape(-1, self.images, self.rows, self.pitch)
        return images[:, :, :self.height, :self.width]


def run_layout(input_shape, kernel_size, padding):
    """The flat layout of a stride-1 convolution's input (N, C, H, W) with padding
    ((top, bottom), (left, right)).

    The images of a channel are stacked in one flat array, row after row, each row followed by
    max(left, right) zeros and each image by max(top, bottom) rows of zeros, so that
    neighbours share their zero border (the zeros after a row are also the left padding of
    the next one). Output position (n, r, s) then reads the input at flat index
    (n·rows + r)·pitch + s + i·pitch + j for offset (i, j): over ALL positions this is one
    contiguous run starting at i·pitch + j. The positions past H_out rows or W_out columns of
    each image (the grid is rows x pitch) are computed too, and dropped by the caller.
    """
    n, _, height, width = input_shape
    (top, bottom), (left, right) = padding
    kh, kw = kernel_size
    out_h = output_size(height, kh, 1, (top, bottom))
    out_w = output_size(width, kw, 1, (left, right))
    pitch = max(width + max(left, right), out_w)
    rows = max(height + max(top, bottom), out_h)
    run, origin = n * rows * pitch, top * pitch + left
    return RunLayout(n, height, width, rows, pitch, origin, run, run + max(origin, (kh - 1) * pitch + kw - 1))


def im2col_runs(x_flat, cols, pitch):
    """`im2col` in a `RunLayout`, into `cols` (returned): cols[ch, i, j] =
    x_flat[ch, i·pitch + j : i·pitch + j + run], the run kernel offset (i, j) meets.
    x_flat: (C, length); cols: (C, kh, kw, run)."""
    _, kh, kw, run = cols.shape
    for i in range(kh):
        for j in range(kw):
            start = i * pitch + j
            cols[:, i, j] = x_flat[:, start:start + run]
    return cols


def col2im_runs(grad_cols, grad_flat, pitch):
    """The adjoint of `im2col_runs`, into `grad_flat` (returned): grad_flat = 0, then
    grad_flat[ch, i·pitch + j : i·pitch + j + run] += grad_cols[ch, i, j] for the offsets in
    row-major order."""
    _, kh, kw, run = grad_cols.shape
    grad_flat.fill(0)
    for i in range(kh):
        for j in range(kw):
            start = i * pitch + j
            target = grad_flat[:, start:start + run]    # flat: NumPy adds 2-D runs faster than 4-D views
            target += grad_cols[:, i, j]
    return grad_flat
