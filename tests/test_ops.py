"""Tests for scratchnn.ops.im2col on its own: im2col against naive loops, col2im as its adjoint
(<im2col(x), g> = <x, col2im(g)>), in both layouts Conv2D uses, with strides and paddings;
the stride-1 flat layout (runs) against the plain one, and the compiled runs bit for bit."""

import itertools

import numpy as np
import pytest

from scratchnn import kernels
from scratchnn.kernels import conv as compiled
from scratchnn.ops.im2col import (col2im, col2im_runs, im2col, im2col_runs, interior, output_size, run_layout,
                                  same_padding, window)

CASES = [
    # kernel, stride, padding ((top, bottom), (left, right)), input H x W
    ((3, 3), (1, 1), ((0, 0), (0, 0)), (5, 6)),
    ((3, 3), (1, 1), ((1, 1), (1, 1)), (5, 5)),
    ((3, 2), (2, 1), ((1, 0), (0, 2)), (7, 6)),
    ((2, 2), (2, 2), ((0, 1), (0, 1)), (5, 7)),
    ((1, 1), (3, 2), ((2, 2), (0, 0)), (4, 5)),
    ((4, 3), (1, 2), ((1, 2), (2, 1)), (6, 6)),
    ((2, 1), (1, 1), (same_padding(2), (0, 0)), (3, 4)),       # "same" for an even kernel
]


def padded(x, padding):
    (top, bottom), (left, right) = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def out_size(size, kernel, stride, padding):
    return tuple(output_size(size[a], kernel[a], stride[a], padding[a]) for a in range(2))


def random_case(kernel, stride, padding, size, seed, n=2, channels=3):
    x = np.random.default_rng(seed).normal(size=(n, channels) + size)
    return x, padded(x, padding), out_size(size, kernel, stride, padding)


def test_output_size_and_same_padding():
    assert output_size(28, 3, 1, (1, 1)) == 28
    assert output_size(7, 3, 2) == 3
    assert output_size(7, 2, 3, (0, 1)) == 3
    assert output_size(2, 5, 1, (1, 1)) == 0              # the kernel does not fit
    assert same_padding(3) == (1, 1) and same_padding(4) == (1, 2) and same_padding(1) == (0, 0)
    for kernel in range(1, 8):                              # stride 1 keeps the size
        assert output_size(10, kernel, 1, same_padding(kernel)) == 10


def test_interior_and_window_are_views():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    x_pad = padded(x, ((1, 2), (0, 3)))
    inner = interior(x_pad, ((1, 2), (0, 3)))
    assert np.shares_memory(inner, x_pad)
    np.testing.assert_array_equal(inner, x)
    view = window(x_pad, 1, 2, (3, 2), (2, 3))
    assert np.shares_memory(view, x_pad) and view.shape == (2, 3, 3, 2)
    for r, s in itertools.product(range(3), range(2)):
        np.testing.assert_array_equal(view[..., r, s], x_pad[..., 2 * r + 1, 3 * s + 2])


@pytest.mark.parametrize("kernel, stride, padding, size", CASES)
def test_im2col_matches_naive_loops_per_image(kernel, stride, padding, size):
    """NCHW: cols[n, c, i, j, r, s] = x_pad[n, c, stride_h·r + i, stride_w·s + j]."""
    x, x_pad, (out_h, out_w) = random_case(kernel, stride, padding, size, seed=1)
    n, channels = x.shape[:2]
    cols = im2col(x_pad, np.full((n, channels) + kernel + (out_h, out_w), np.nan), stride)
    for n_, c, i, j, r, s in itertools.product(range(n), range(channels), range(kernel[0]), range(kernel[1]),
                                               range(out_h), range(out_w)):
        assert cols[n_, c, i, j, r, s] == x_pad[n_, c, stride[0] * r + i, stride[1] * s + j]


@pytest.mark.parametrize("kernel, stride, padding, size", CASES)
def test_im2col_channels_first_is_the_convolution_matrix(kernel, stride, padding, size):
    """(C, N, H, W) with the offsets after the channel axis: as a matrix,
    cols[(c, i, j), (n, r, s)] = x_pad[n, c, stride_h·r + i, stride_w·s + j]."""
    x, x_pad, (out_h, out_w) = random_case(kernel, stride, padding, size, seed=2)
    n, channels = x.shape[:2]
    cols = np.full((channels,) + kernel + (n, out_h, out_w), np.nan)
    im2col(x_pad.transpose(1, 0, 2, 3), cols, stride, offset_axis=1)
    matrix = cols.reshape(channels * kernel[0] * kernel[1], n * out_h * out_w)
    for (c, i, j), (n_, r, s) in itertools.product(
            itertools.product(range(channels), range(kernel[0]), range(kernel[1])),
            itertools.product(range(n), range(out_h), range(out_w))):
        row, column = (c * kernel[0] + i) * kernel[1] + j, (n_ * out_h + r) * out_w + s
        assert matrix[row, column] == x_pad[n_, c, stride[0] * r + i, stride[1] * s + j]


@pytest.mark.parametrize("kernel, stride, padding, size", CASES)
def test_col2im_matches_naive_loops(kernel, stride, padding, size):
    x, x_pad, (out_h, out_w) = random_case(kernel, stride, padding, size, seed=3)
    n, channels = x.shape[:2]
    grad_cols = np.random.default_rng(4).normal(size=(n, channels) + kernel + (out_h, out_w))
    expected = np.zeros_like(x_pad)
    for n_, c, i, j, r, s in itertools.product(range(n), range(channels), range(kernel[0]), range(kernel[1]),
                                               range(out_h), range(out_w)):
        expected[n_, c, stride[0] * r + i, stride[1] * s + j] += grad_cols[n_, c, i, j, r, s]
    grad_pad = col2im(grad_cols, np.full_like(x_pad, np.nan), stride)      # overwrites, then adds
    np.testing.assert_allclose(grad_pad, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("offset_axis", [1, 2])
@pytest.mark.parametrize("kernel, stride, padding, size", CASES)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, size, offset_axis):
    """<im2col(pad(x)), g> = <x, interior(col2im(g))> in float64, for the map from the
    unpadded x (padding included in the map) and for the map from x_pad itself."""
    x, x_pad, (out_h, out_w) = random_case(kernel, stride, padding, size, seed=5)
    n, channels = x.shape[:2]
    if offset_axis == 1:                                   # channels first, as Conv2D's product runs
        x, x_pad = x.transpose(1, 0, 2, 3), x_pad.transpose(1, 0, 2, 3)
        cols_shape = (channels,) + kernel + (n, out_h, out_w)
    else:
        cols_shape = (n, channels) + kernel + (out_h, out_w)
    g = np.random.default_rng(6).normal(size=cols_shape)
    cols = im2col(x_pad, np.empty(cols_shape), stride, offset_axis)
    grad_pad = col2im(g, np.empty(x_pad.shape), stride, offset_axis)
    left = np.vdot(cols, g)
    assert abs(left - np.vdot(x, interior(grad_pad, padding))) <= 1e-12 * max(1.0, abs(left))
    assert abs(left - np.vdot(x_pad, grad_pad)) <= 1e-12 * max(1.0, abs(left))


RUN_CASES = [
    # kernel, padding, input H x W (stride 1)
    ((3, 3), ((1, 1), (1, 1)), (6, 5)),
    ((3, 3), ((0, 0), (0, 0)), (7, 9)),
    ((3, 2), ((2, 2), (2, 2)), (5, 8)),
    ((2, 2), ((0, 1), (0, 1)), (6, 7)),
    ((1, 1), ((0, 0), (0, 0)), (4, 4)),
    ((5, 5), ((2, 2), (1, 1)), (9, 6)),
    ((1, 3), ((0, 0), (2, 3)), (3, 3)),
]


def flat_case(kernel, padding, size, seed, n=3, channels=4):
    x = np.random.default_rng(seed).normal(size=(n, channels) + size)
    layout = run_layout(x.shape, kernel, padding)
    x_flat = np.zeros((channels, layout.length))
    layout.interior(x_flat)[...] = x.transpose(1, 0, 2, 3)
    return x, layout, x_flat


@pytest.mark.parametrize("kernel, padding, size", RUN_CASES)
def test_runs_give_the_plain_im2col_on_their_grid(kernel, padding, size):
    """With stride 1, the flat layout's runs hold the plain (C, kh, kw, N, H_out, W_out)
    columns on the first H_out rows and W_out columns of each image's (rows, pitch) grid."""
    x, layout, x_flat = flat_case(kernel, padding, size, seed=7)
    n, channels = x.shape[:2]
    out_h, out_w = out_size(size, kernel, (1, 1), padding)
    assert layout.rows >= out_h and layout.pitch >= out_w and layout.run == n * layout.rows * layout.pitch
    cols = im2col_runs(x_flat, np.empty((channels,) + kernel + (layout.run,)), layout.pitch)
    plain = im2col(padded(x, padding).transpose(1, 0, 2, 3), np.empty((channels,) + kernel + (n, out_h, out_w)),
                   offset_axis=1)
    grid = cols.reshape((channels,) + kernel + (n, layout.rows, layout.pitch))
    np.testing.assert_array_equal(grid[..., :out_h, :out_w], plain)


@pytest.mark.parametrize("kernel, padding, size", RUN_CASES)
def test_col2im_runs_is_the_adjoint_of_im2col_runs(kernel, padding, size):
    x, layout, x_flat = flat_case(kernel, padding, size, seed=8)
    channels = x.shape[1]
    g = np.random.default_rng(9).normal(size=(channels,) + kernel + (layout.run,))
    cols = im2col_runs(x_flat, np.empty_like(g), layout.pitch)
    grad_flat = col2im_runs(g, np.full_like(x_flat, np.nan), layout.pitch)
    left = np.vdot(cols, g)
    assert abs(left - np.vdot(x_flat, grad_flat)) <= 1e-12 * max(1.0, abs(left))
    # the interior alone: the map from x (its zeros around fixed) and its adjoint
    assert abs(left - np.vdot(x.transpose(1, 0, 2, 3), layout.interior(grad_flat))) <= 1e-12 * max(1.0, abs(left))


@pytest.mark.skipif(not kernels.available, reason="Numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, padding, size", RUN_CASES)
def test_compiled_runs_give_the_numpy_bits(kernel, padding, size, dtype):
    x, layout, x_flat = flat_case(kernel, padding, size, seed=10)
    x_flat = x_flat.astype(dtype)
    shape = (x.shape[1],) + kernel + (layout.run,)
    expected = im2col_runs(x_flat, np.empty(shape, dtype), layout.pitch)
    got = np.empty(shape, dtype)
    compiled.im2col_runs(x_flat, got, layout.pitch)
    assert got.tobytes() == expected.tobytes()
    g = np.random.default_rng(11).normal(size=shape).astype(dtype)
    expected = col2im_runs(g, np.empty_like(x_flat), layout.pitch)
    got = np.full_like(x_flat, np.nan)
    compiled.col2im_runs(g, got, layout.pitch)
    assert got.tobytes() == expected.tobytes()
