"""Tests for scratchnn.nn.normalization.LayerNorm: PyTorch's nn.LayerNorm in float64 (outputs,
gradients, SGD steps), finite differences, saving, huge inputs, and the argument checks."""

import numpy as np
import pytest

import scratchnn as sn
from helpers import no_fp_trouble

torch = pytest.importorskip("torch")


def built(shape, seed=0, dtype=np.float64, **keywords):
    layer = sn.LayerNorm(shape, **keywords)
    sn.Sequential(layer, seed=seed, dtype=dtype)
    if layer.elementwise_affine:
        rng = np.random.default_rng(seed + 1)
        layer.weight.value[...] = rng.uniform(0.5, 1.5, layer.weight.value.shape)    # γ and β away from 1, 0
        layer.bias.value[...] = rng.normal(size=layer.bias.value.shape)
    return layer


def torch_twin(layer):
    twin = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine,
                              dtype=torch.float64)
    if layer.elementwise_affine:
        with torch.no_grad():
            twin.weight.copy_(torch.from_numpy(layer.weight.value))
            twin.bias.copy_(torch.from_numpy(layer.bias.value))
    return twin


CASES = [(8, (4, 6, 8)), ((3, 5), (2, 4, 3, 5)), (6, (5, 6))]


@pytest.mark.parametrize("shape, input_shape", CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_equals_pytorch_outputs_and_gradients(shape, input_shape, affine):
    layer = built(shape, elementwise_affine=affine)
    twin = torch_twin(layer)
    rng = np.random.default_rng(2)
    x, grad = rng.normal(3.0, 2.0, size=input_shape), rng.normal(size=input_shape)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = twin(x_torch)
    y_torch.backward(torch.from_numpy(grad))
    y = layer.forward(x, training=True)
    grad_x = layer.backward(grad)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=0, atol=1e-10)
    if affine:
        np.testing.assert_allclose(layer.weight.grad, twin.weight.grad.numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.bias.grad, twin.bias.grad.numpy(), rtol=0, atol=1e-10)


def test_equals_pytorch_after_sgd_steps():
    rng = np.random.default_rng(3)
    net = sn.Sequential(sn.Dense(5, 6), sn.LayerNorm(6), sn.Dense(6, 2), seed=0, dtype=np.float64)
    twin = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 2)).double()
    with torch.no_grad():
        for index in (0, 2):
            twin[index].weight.copy_(torch.from_numpy(net.layers[index].weight.value.T))
            twin[index].bias.copy_(torch.from_numpy(net.layers[index].bias.value))
        twin[1].weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, 6)))
        twin[1].bias.copy_(torch.from_numpy(rng.normal(size=6)))
    net.layers[1].weight.value[...] = twin[1].weight.detach().numpy()
    net.layers[1].bias.value[...] = twin[1].bias.detach().numpy()
    optimizer, torch_optimizer = sn.SGD(0.1), torch.optim.SGD(twin.parameters(), lr=0.1)
    loss = sn.MSE()
    X, y = rng.normal(size=(16, 5)), rng.normal(size=(16, 2))
    for _ in range(5):
        net.zero_grad()
        loss(net.forward(X, training=True), y)
        net.backward(loss.backward())
        optimizer.step(net.parameters())
        torch_optimizer.zero_grad()
        (0.5 * ((twin(torch.from_numpy(X)) - torch.from_numpy(y)) ** 2).mean()).backward()   # MSE has a ½
        torch_optimizer.step()
    np.testing.assert_allclose(net.forward(X), twin(torch.from_numpy(X)).detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("affine", [True, False])
def test_gradients_match_finite_differences(affine):
    rng = np.random.default_rng(4)
    net = sn.Sequential(sn.LayerNorm((3, 4), elementwise_affine=affine), seed=0, dtype=np.float64)
    if affine:
        for parameter in net.parameters():
            parameter.value[...] += rng.normal(scale=0.3, size=parameter.value.shape)
    X, y = rng.normal(size=(2, 5, 3, 4)), rng.normal(size=(2, 5, 3, 4))
    assert sn.gradcheck(net, sn.MSE(), X, y) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_and_tiny_inputs_normalize_without_warnings(dtype):
    layer = built(4, dtype=dtype)
    largest = np.finfo(dtype).max
    x = np.array([[largest, -largest, 0, 1], [1e30, -1e30, 3, 0], [0, 0, 0, 0], [1e-40, 0, 0, 0]], dtype=dtype)
    with no_fp_trouble():
        y = layer.forward(x, training=True)
        grad = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad)) and y.dtype == dtype
    x_hat = (y - layer.bias.value) / layer.weight.value
    np.testing.assert_allclose(x_hat[:2, :2], [[np.sqrt(2), -np.sqrt(2)]] * 2, rtol=1e-6)   # ±√2 at ±max
    np.testing.assert_array_equal(x_hat[2], 0)                                          # a constant row: 0


def test_saves_and_loads(tmp_path):
    net = sn.Sequential(sn.Dense(3, 4), sn.LayerNorm(4, eps=1e-3), seed=0, dtype=np.float64)
    net.layers[1].weight.value[...] = [1.0, 2.0, 3.0, 4.0]
    net.save(tmp_path / "ln.npz")
    same = sn.load(tmp_path / "ln.npz")
    assert isinstance(same.layers[1], sn.LayerNorm) and same.layers[1].eps == 1e-3
    X = np.random.default_rng(5).normal(size=(6, 3))
    np.testing.assert_array_equal(same.predict(X), net.predict(X))


@pytest.mark.parametrize("arguments, error, fragment", [
    ((0,), ValueError, "normalized_shape must be >= 1"),
    (("4",), TypeError, "normalized_shape must be a positive int"),
    (((),), TypeError, "normalized_shape must be a positive int"),
    ((4, -1.0), ValueError, "eps must be a finite number > 0"),
    ((4, 1e-5, 1), TypeError, "elementwise_affine must be True or False"),
])
def test_bad_arguments_are_one_line_errors(arguments, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        sn.LayerNorm(*arguments)
    assert "\n" not in str(caught.value)


def test_wrong_width_is_a_one_line_error_before_any_work():
    layer = built(4)
    with pytest.raises(ValueError, match=r"LayerNorm\(4\) expects input of shape \(N, \.\.\., 4\), got shape \(2, 5\)"):
        layer.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="expects input of shape"):
        layer.forward(np.ones(4))                                  # no batch axis
    with pytest.raises(RuntimeError, match="not built"):
        sn.LayerNorm(4).forward(np.ones((2, 4)))


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("width", [5, 16, 13, 128])
def test_compiled_layer_norm_equals_the_numpy_equations(dtype, tolerance, affine, width):
    """fused="auto" runs one compiled pass per row (kernels/normalization.py), fused=False the
    NumPy lines: the same to float rounding (the compiled sums add in eight lanes, NumPy's
    pairwise), at ordinary and at huge inputs, for widths with and without a tail after the
    last whole group of eight."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    x = (rng.normal(2.0, 3.0, size=(4, 6, width))).astype(dtype)
    x[0, 0] *= 1e30 if dtype == np.float32 else 1e300
    upstream = rng.normal(size=x.shape).astype(dtype)
    gamma, beta = rng.normal(size=width), rng.normal(size=width)
    results = []
    for fused in (False, "auto"):
        norm = sn.LayerNorm(width, elementwise_affine=affine, fused=fused)
        norm.build(np.random.default_rng(0), dtype)
        if affine:
            norm.weight.value[...], norm.bias.value[...] = gamma, beta
        y = norm.forward(x)
        grads = [norm.backward(upstream)] + ([norm.weight.grad.copy(), norm.bias.grad.copy()] if affine else [])
        results.append((y, *grads))
    for plain, compiled in zip(*results):
        assert compiled.dtype == plain.dtype
        np.testing.assert_allclose(compiled, plain, rtol=tolerance, atol=tolerance * np.abs(plain).max())
