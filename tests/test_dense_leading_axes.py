"""Dense on (N, ..., in_features), as PyTorch's Linear: outputs, gradients and weights after
SGD steps equal torch's in float64; finite differences; shapes and errors."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn import Dense


@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 3, 2, 4)])
def test_equals_pytorchs_linear(shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 6).double()
    net = sn.Sequential(Dense(4, 6), seed=0, dtype=np.float64)
    layer = net.layers[0]
    layer.weight.value[...] = linear.weight.detach().numpy().T         # our W is Linear.weight^T
    layer.bias.value[...] = linear.bias.detach().numpy()
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    x_torch = torch.tensor(x, requires_grad=True)
    expected = linear(x_torch)
    y = net.forward(x, training=True)
    assert y.shape == shape[:-1] + (6,)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=1e-10)
    grad_output = rng.normal(size=y.shape)
    (expected * torch.tensor(grad_output)).sum().backward()
    net.zero_grad()
    grad_x = net.backward(grad_output)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.weight.grad, linear.weight.grad.numpy().T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, linear.bias.grad.numpy(), rtol=0, atol=1e-10)

    target = rng.normal(size=y.shape)
    net.fit(x, target, loss=sn.MSE(), optimizer=sn.SGD(0.2), epochs=3, batch_size=None, shuffle=False, verbose=0)
    optimizer = torch.optim.SGD(linear.parameters(), lr=0.2)
    for _ in range(3):
        optimizer.zero_grad()
        (0.5 * torch.nn.functional.mse_loss(linear(torch.tensor(x)), torch.tensor(target))).backward()
        optimizer.step()
    np.testing.assert_allclose(layer.weight.value, linear.weight.detach().numpy().T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.bias.value, linear.bias.detach().numpy(), rtol=0, atol=1e-10)


def test_every_row_gets_the_2d_map():
    net = sn.Sequential(Dense(4, 3), seed=0, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(2, 5, 4))
    y = net.predict(x)
    for t in range(5):
        np.testing.assert_allclose(y[:, t], net.predict(x[:, t]), rtol=1e-14, atol=1e-14)


def test_gradients_match_finite_differences_on_sequences():
    rng = np.random.default_rng(3)
    net = sn.Sequential(Dense(3, 4), sn.Tanh(), Dense(4, 2), seed=0, dtype=np.float64)
    assert sn.gradcheck(net, sn.MSE(), rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 2))) < 1e-6


def test_output_shape_and_errors():
    layer = Dense(4, 3)
    assert layer.output_shape((None, 7, 4)) == (None, 7, 3)
    assert layer.output_shape((None, 2, 7, 4)) == (None, 2, 7, 3)
    with pytest.raises(ValueError, match=r"Dense\(4, 3\) expects input of shape \(N, 4\), got shape \(None, 7, 5\) "
                                         r"\(or, with more axes, \(N, \.\.\., 4\)\)"):
        layer.output_shape((None, 7, 5))
    net = sn.Sequential(layer, seed=0)
    with pytest.raises(ValueError, match=r"X of shape \(N, 7, 5\) does not fit the network"):
        net.predict(np.zeros((2, 7, 5)))
