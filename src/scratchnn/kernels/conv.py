"""Compiled kernels of Conv2D's stride-1 copies: `scratchnn.ops.im2col.im2col_runs` and
`col2im_runs`, the same copies and additions in the same order (so the same bits), channel by
channel, so that a channel's padded images stay in the CPU cache for its kh·kw copies (NumPy's
slice copies sweep all channels once per kernel offset)."""

from ._numba import compiled


@compiled(nogil=True)
def im2col_runs(x_pad, cols, pitch):
    """cols[ch, i, j] = x_pad[ch, i·pitch + j : i·pitch + j + run], the run each kernel
    offset (i, j) meets; x_pad (C, length), cols (C, kh, kw, run)."""
    channels, kh, kw, run = cols.shape
    for ch in range(channels):
        for i in range(kh):
            for j in range(kw):
                source = x_pad[ch, i * pitch + j:i * pitch + j + run]
                target = cols[ch, i, j]
                for p in range(run):
                    target[p] = source[p]


@compiled(nogil=True)
def col2im_runs(grad_cols, grad_pad, pitch):
    """The adjoint of `im2col_runs`: grad_pad[ch] = 0, then grad_pad[ch, i·pitch + j + p]
    += grad_cols[ch, i, j, p] for the offsets in row-major order."""
    channels, kh, kw, run = grad_cols.shape
    for ch in range(channels):
        target_row = grad_pad[ch]
        target_row[:] = 0
        for i in range(kh):
            for j in range(kw):
                target = target_row[i * pitch + j:i * pitch + j + run]
                source = grad_cols[ch, i, j]
                for p in range(run):
                    target[p] += source[p]
