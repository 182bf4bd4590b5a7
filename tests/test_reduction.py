"""BatchNorm's reduction context (the layer protocol's `set_reduction`): a layer that sees
part of a batch sums over the whole batch through the `Reduction` it is handed, as threads
do today and MPI ranks will. Checked with a reduction that stands for an identical twin
replica: the statistics and gradients must be those of the batch that holds the rows twice."""

import copy

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn.base import LOCAL, Reduction


class Twin(Reduction):
    """Another replica holds exactly the same rows: every sum doubles, this one has half."""

    share = 0.5

    def sum(self, array):
        return array + array


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5)])
def test_batch_norm_over_a_reduction_equals_the_whole_batch(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=shape)
    grad = rng.normal(size=shape)
    whole, part = sn.BatchNorm(3), sn.BatchNorm(3)
    for layer in (whole, part):
        layer.build(np.random.default_rng(1), np.float64)
    part.set_reduction(Twin())
    y_whole = whole.forward(np.concatenate([x, x]), training=True)
    y_part = part.forward(x, training=True)
    np.testing.assert_allclose(y_part, y_whole[:len(x)], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(part.running_var, whole.running_var, rtol=1e-12)
    np.testing.assert_allclose(part.running_mean, whole.running_mean, rtol=1e-12)
    # dL/dy of the twin's own mean loss is twice its share of the whole batch's
    grad_whole = whole.backward(np.concatenate([grad, grad]) / 2)
    grad_part = part.backward(grad)
    np.testing.assert_allclose(grad_part / 2, grad_whole[:len(x)], rtol=1e-10, atol=1e-12)


def test_a_reduction_of_none_puts_back_the_local_one():
    layer = sn.BatchNorm(2)
    layer.set_reduction(Twin())
    layer.set_reduction(None)
    assert layer.reduction is LOCAL


def test_the_reduction_is_not_copied_with_the_layer():
    layer = sn.BatchNorm(2)
    layer.set_reduction(Twin())
    assert copy.deepcopy(layer).reduction is LOCAL


def test_layers_without_batch_statistics_ignore_reductions_and_generators():
    for layer in (sn.Dense(2, 2), sn.ReLU(), sn.Flatten()):
        assert not layer.uses_batch_statistics
        layer.set_reduction(Twin())
        layer.set_rng(np.random.default_rng(0))
    assert sn.BatchNorm(2).uses_batch_statistics
