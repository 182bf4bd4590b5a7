"""L1 regularization, the ``l1=`` option every optimizer takes (`Optimizer`): each step adds
λ · sign(w) to the gradient before the optimizer's own rule, leaves ``Parameter.grad`` as
it was, is saved in the config, and makes the weights of inputs that do not matter 0."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn.base import Parameter
from scratchnn.optim import OPTIMIZERS

MAKERS = {
    "sgd": lambda **kw: sn.SGD(0.05, **kw),
    "sgd-momentum-decay": lambda **kw: sn.SGD(0.05, momentum=0.9, weight_decay=1e-3, **kw),
    "adam": lambda **kw: sn.Adam(0.01, **kw),
    "adamw": lambda **kw: sn.AdamW(0.01, **kw),
    "rmsprop": lambda **kw: sn.RMSprop(0.01, momentum=0.5, **kw),
    "adagrad": lambda **kw: sn.Adagrad(0.05, **kw),
}


@pytest.mark.parametrize("fused", [False, "auto"])
@pytest.mark.parametrize("name", MAKERS)
def test_l1_is_the_optimizer_stepped_on_grad_plus_lambda_sign_w(name, fused):
    rng = np.random.default_rng(0)
    with_l1 = Parameter(rng.normal(size=(6, 5)))
    with_l1.value[0, 0] = 0.0                              # sign(0) = 0: no pull on a zero weight
    by_hand = Parameter(with_l1.value.copy())
    ours, reference = MAKERS[name](l1=0.03, fused=fused), MAKERS[name](fused=fused)
    for _ in range(6):
        grad = rng.normal(size=(6, 5))
        with_l1.grad[...] = grad
        by_hand.grad[...] = grad + 0.03 * np.sign(by_hand.value)      # g = ∇L + λ sign(w)
        ours.step([with_l1])
        reference.step([by_hand])
        np.testing.assert_array_equal(with_l1.grad, grad)               # the gradient is left alone
    np.testing.assert_array_equal(with_l1.value, by_hand.value)


def test_l1_is_in_the_config_when_on_and_the_config_rebuilds_it():
    assert "l1" not in sn.Adam(0.01).get_config()
    optimizer = sn.SGD(0.1, momentum=0.9, l1=1e-3)
    assert optimizer.get_config()["l1"] == 1e-3 and "l1=0.001" in repr(optimizer)
    rebuilt = OPTIMIZERS["sgd"](**optimizer.get_config())
    assert rebuilt.l1 == 1e-3 and rebuilt.get_config() == optimizer.get_config()


@pytest.mark.parametrize("value", [-0.1, float("nan"), "0.1"])
def test_l1_must_be_a_number_at_least_0(value):
    with pytest.raises((ValueError, TypeError), match="l1"):
        sn.Adam(0.01, l1=value)


def test_l1_makes_the_weights_of_unused_inputs_zero():
    """y depends on 2 of 8 inputs: with L1 the other 6 weights end near 0 (the subgradient
    makes them hover there: measured at most 0.002), without it they keep the noise they fitted
    (measured up to 0.030)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = (2 * X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=200)).reshape(-1, 1)
    weights = {}
    for l1 in (0.0, 0.05):
        net = sn.Sequential(sn.Dense(8, 1), seed=0, dtype=np.float64)
        net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(0.02, l1=l1), epochs=60, batch_size=20, verbose=0)
        weights[l1] = net.layers[0].weight.value[:, 0]
    unused_plain, unused_l1 = np.abs(weights[0.0][2:]), np.abs(weights[0.05][2:])
    assert unused_l1.max() < 0.2 * unused_plain.max() and unused_l1.mean() < 0.2 * unused_plain.mean()
    np.testing.assert_allclose(weights[0.05][:2], [2 - 0.025, -1 + 0.05], atol=0.1)   # shrunk by ~λ/2 / var
