"""The batch loop's strategies (`training.strategy`), the flat parameter layout and the one
compiled-or-NumPy helper, each through its contract."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn import kernels
from scratchnn.nn.base import flat_slices, gather_parameters
from scratchnn.training import Strategy, Training, run_epoch


class CountingSteps(Strategy):
    """A strategy of one's own: the textbook step, counting the calls run_epoch makes."""

    def __init__(self, model, loss):
        super().__init__(model)
        self.loss, self.calls = loss, []

    def new_epoch(self):
        self.calls.append("epoch")

    def gradient(self, X_batch, y_batch):
        self.calls.append(len(X_batch))
        outputs = self.model.forward(X_batch, training=True)
        value = self.loss.forward(outputs, y_batch)
        self.model.zero_grad()
        self.model.backward(self.loss.backward(), input_grad=False)
        return value, outputs


def test_run_epoch_drives_any_strategy_and_steps_through_its_update():
    net = sn.Sequential(sn.Dense(3, 1), seed=0, dtype=np.float64)
    X, y = np.random.default_rng(0).normal(size=(10, 3)), np.ones((10, 1))
    steps, optimizer = CountingSteps(net, sn.MSE()), sn.SGD(0.1)
    before = net.flat_parameter.value.copy()
    logs = run_epoch(Training(net, steps.loss, optimizer, 1, 3, ["loss"]), X, y, None, 4, steps)
    assert steps.calls == ["epoch", 4, 4, 2] and optimizer.iterations == 3
    assert not np.array_equal(net.flat_parameter.value, before)
    assert logs["loss"] > 0
    with pytest.raises(NotImplementedError):
        Strategy(net).gradient(X, y)


def test_flat_slices_are_where_gather_parameters_puts_each_parameter():
    parameters = [sn.Parameter(np.arange(6.0).reshape(2, 3)), sn.Parameter(np.array([7.0, 8.0]))]
    everything = gather_parameters(parameters, np.float64)
    slices = flat_slices(parameters)
    assert slices == [slice(0, 6), slice(6, 8)]
    for parameter, part in zip(parameters, slices):
        np.testing.assert_array_equal(everything.value[part], parameter.value.reshape(-1))
        assert np.shares_memory(everything.value, parameter.value)


def test_use_compiled_asks_for_the_option_numba_and_one_layout():
    a, b = np.zeros(64, np.float32), np.zeros(64, np.float32)
    assert not kernels.use_compiled(False, a, b)
    assert not kernels.use_compiled("auto", a, np.zeros(64, np.float64))          # two dtypes
    assert not kernels.use_compiled("auto", a, np.zeros(128, np.float32)[::2])    # not contiguous
    assert not kernels.use_compiled("auto", a, b, minimum_size=65)                # too small to pay
    assert not kernels.use_compiled("auto", np.zeros(64, np.int64))               # not a float array
    assert kernels.use_compiled("auto", a, b) == kernels.available
    with pytest.raises(ValueError, match="fused must be 'auto', True or False"):
        kernels.check_option("yes")
