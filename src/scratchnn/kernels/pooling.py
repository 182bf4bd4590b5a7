"""Compiled kernels of 2x2 max pooling with stride 2 (see `scratchnn.nn.pooling.MaxPool2D`)."""

import numpy as np

from ._numba import compiled


@compiled(nogil=True)
def max_pool_2x2_forward(x, y, argmax):
    """2x2 max pooling, stride 2: y[n, c, r, s] = max of x[n, c, 2r:2r+2, 2s:2s+2], and
    argmax = the position (0 1 / 2 3) of its first maximum in row-major order. Selects
    instead of branches, so the loop vectorizes; a NaN makes y NaN, as np.maximum does."""
    images, channels, out_h, out_w = y.shape
    for n in range(images):
        for c in range(channels):
            for r in range(out_h):
                top, bottom = x[n, c, 2 * r], x[n, c, 2 * r + 1]
                y_row, argmax_row = y[n, c, r], argmax[n, c, r]
                for s in range(out_w):
                    a, b, d, e = top[2 * s], top[2 * s + 1], bottom[2 * s], bottom[2 * s + 1]
                    best, where = a, 0
                    larger = b > best
                    best, where = (b if larger else best), (1 if larger else where)
                    larger = d > best
                    best, where = (d if larger else best), (2 if larger else where)
                    larger = e > best
                    best, where = (e if larger else best), (3 if larger else where)
                    nan = (a != a) | (b != b) | (d != d) | (e != e)
                    y_row[s] = best if not nan else best + np.nan
                    argmax_row[s] = where


@compiled(nogil=True)
def max_pool_2x2_backward(grad_output, argmax, grad_input):
    """dL/dx = dL/dy at each 2x2 window's argmax and dL/dy · 0 at its other three pixels
    (the NumPy path's g · [argmax == k], signed zeros included). Pixels no window covers
    (an odd last row or column) are left as they are: zeros from the caller."""
    images, channels, out_h, out_w = grad_output.shape
    for n in range(images):
        for c in range(channels):
            for r in range(out_h):
                top, bottom = grad_input[n, c, 2 * r], grad_input[n, c, 2 * r + 1]
                grad_row, argmax_row = grad_output[n, c, r], argmax[n, c, r]
                for s in range(out_w):
                    g, where = grad_row[s], argmax_row[s]
                    top[2 * s] = g * (1.0 if where == 0 else 0.0)
                    top[2 * s + 1] = g * (1.0 if where == 1 else 0.0)
                    bottom[2 * s] = g * (1.0 if where == 2 else 0.0)
                    bottom[2 * s + 1] = g * (1.0 if where == 3 else 0.0)
