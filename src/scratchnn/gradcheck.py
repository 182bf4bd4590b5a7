"""Gradient checking: compare backpropagation with central finite differences.

For every parameter entry w (and every input entry x), the numerical derivative is

    dL/dw ≈ (L(w + h) − L(w − h)) / 2h,

computed in float64 on a copy of the network, so the model you pass is never changed.

>>> net = Sequential(Dense(3, 4), Tanh(), Dense(4, 2), seed=0, dtype=np.float64)
>>> gradcheck(net, CrossEntropy(), X, labels) < 1e-6
True
"""

import copy as copy_module

import numpy as np

from ._checks import as_float_array, describe, positive_number
from .losses import get_loss
from .model import Sequential


def relative_error(analytic, numeric, floor=1e-8):
    """Entrywise |a − n| / max(|a|, |n|, floor); the floor keeps true zeros from dividing by 0."""
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def numerical_gradient(f, array, step=1e-6):
    """Central differences of the scalar function f() with respect to each entry of `array`,
    which is changed in place and restored."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + step
        upper = f()
        flat[i] = original - step
        lower = f()
        flat[i] = original
        flat_grad[i] = (upper - lower) / (2 * step)
    return grad


def gradcheck(net, loss, X, y, step=1e-6, training=False):
    """The largest relative error between backprop and central finite differences, over all
    parameters and the input X, evaluated in float64 on a copy of `net`.

    A correct implementation gives about 1e-7 or less; errors near 1 mean a wrong derivative.
    The copy is a deep copy of your layers (custom layer classes included), converted to
    float64. Central differences cannot resolve a derivative below their own rounding noise,
    about 1e-16 · |L| / step; entries smaller than a million times that are compared
    in absolute terms (the floor of `relative_error`). Keep inputs away from kinks (ReLU at 0):
    a finite difference across a kink is meaningless.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a scratchnn.Sequential, got {describe(net)}")
    loss = get_loss(loss)
    step = positive_number("step", step)
    copy = Sequential(*copy_module.deepcopy(net.layers), dtype=np.float64, seed=0)
    copy.load_state_dict(net.state_dict())
    X = np.array(as_float_array("X", X, np.float64))
    X, y = copy.check_data(X, y, loss)

    def value():
        return loss.forward(copy.forward(X, training=training), y)

    floor = max(1e-8, 1e6 * np.finfo(np.float64).eps * abs(value()) / step)
    copy.zero_grad()
    grad_input = copy.backward(loss.backward())
    worst = relative_error(grad_input, numerical_gradient(value, X, step), floor).max()
    for parameter in copy.parameters():
        analytic = parameter.grad.copy()
        numeric = numerical_gradient(value, parameter.value, step)
        worst = max(worst, relative_error(analytic, numeric, floor).max())
    return float(worst)
