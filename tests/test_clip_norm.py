"""Gradient clipping by norm (``clip_norm=`` on every optimizer, `optim.clip_gradient_norm`):
equal to torch.nn.utils.clip_grad_norm_ followed by PyTorch's step, NumPy and compiled
kernels alike; validation; config."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn import kernels
from scratchnn.nn.base import Parameter
from scratchnn.optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_gradient_norm

from helpers import no_fp_trouble

SHAPES = [(4, 3), (3,), (2, 5)]
FUSED = [False, True] if kernels.available else [False]


def parameters_with_grads(seed, scale):
    rng = np.random.default_rng(seed)
    parameters = [Parameter(rng.normal(size=shape)) for shape in SHAPES]
    for parameter in parameters:
        parameter.grad[...] = scale * rng.normal(size=parameter.value.shape)
    return parameters


@pytest.mark.parametrize("scale, max_norm", [(1.0, 0.5), (1.0, 100.0), (1e-3, 1e-6), (0.0, 1.0)])
def test_clip_equals_pytorchs_clip_grad_norm(scale, max_norm):
    torch = pytest.importorskip("torch")
    ours = parameters_with_grads(0, scale)
    theirs = [torch.tensor(p.value, requires_grad=True) for p in ours]
    for tensor, parameter in zip(theirs, ours):
        tensor.grad = torch.tensor(parameter.grad.copy())
    expected_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    with no_fp_trouble():
        norm = clip_gradient_norm(ours, max_norm)
    assert norm == pytest.approx(float(expected_norm), rel=1e-14, abs=1e-300)
    for tensor, parameter in zip(theirs, ours):
        np.testing.assert_allclose(parameter.grad, tensor.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("make, make_torch", [
    (lambda c, f: SGD(0.1, clip_norm=c, fused=f), lambda p, torch: torch.optim.SGD(p, lr=0.1)),
    (lambda c, f: SGD(0.1, momentum=0.9, clip_norm=c, fused=f),
     lambda p, torch: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (lambda c, f: Adam(0.01, clip_norm=c, fused=f), lambda p, torch: torch.optim.Adam(p, lr=0.01)),
])
def test_steps_equal_pytorchs_clip_then_step(make, make_torch, fused):
    torch = pytest.importorskip("torch")
    ours = parameters_with_grads(1, 1.0)
    theirs = [torch.tensor(p.value.copy(), requires_grad=True) for p in ours]
    optimizer, torch_optimizer = make(0.3, fused), make_torch(theirs, torch)
    rng = np.random.default_rng(2)
    for _ in range(4):
        for tensor, parameter in zip(theirs, ours):
            parameter.grad[...] = rng.normal(size=parameter.value.shape) * rng.uniform(0.01, 3.0)
            tensor.grad = torch.tensor(parameter.grad.copy())
        torch.nn.utils.clip_grad_norm_(theirs, 0.3)
        torch_optimizer.step()
        optimizer.step(ours)
    for tensor, parameter in zip(theirs, ours):
        np.testing.assert_allclose(parameter.value, tensor.detach().numpy(), rtol=0, atol=1e-12)


def test_fit_with_clip_norm_equals_pytorch_training():
    """A whole network through fit (one flat buffer) against PyTorch's clip over its tensors."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
    net = sn.Sequential(sn.Dense(3, 4), sn.Tanh(), sn.Dense(4, 2), seed=0, dtype=np.float64)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for ours, theirs in zip([net.layers[0], net.layers[2]], [model[0], model[2]]):
            theirs.weight.copy_(torch.tensor(ours.weight.value.T))
            theirs.bias.copy_(torch.tensor(ours.bias.value))
    net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(0.5, clip_norm=0.05), epochs=5, batch_size=None,
            shuffle=False, verbose=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(5):
        optimizer.zero_grad()
        (0.5 * torch.nn.functional.mse_loss(model(torch.tensor(X)), torch.tensor(y))).backward()
        assert torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05) > 0.05      # clipping did happen
        optimizer.step()
    np.testing.assert_allclose(net.layers[0].weight.value, model[0].weight.detach().numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(net.layers[2].bias.value, model[2].bias.detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_a_norm_below_clip_norm_changes_nothing(cls):
    clipped, plain = parameters_with_grads(4, 1.0), parameters_with_grads(4, 1.0)
    cls(clip_norm=1e6).step(clipped)
    cls().step(plain)
    for a, b in zip(clipped, plain):
        np.testing.assert_array_equal(a.value, b.value)
        np.testing.assert_array_equal(a.grad, b.grad)


def test_float32_gradients_beyond_the_square_range_are_clipped_without_warnings():
    parameter = Parameter(np.zeros(10, dtype=np.float32))
    parameter.grad[...] = 1e30                                     # Σ g² overflows float32
    with no_fp_trouble():
        norm = clip_gradient_norm([parameter], 1.0)
    assert norm == pytest.approx(np.sqrt(10) * 1e30, rel=1e-6)
    assert np.linalg.norm(parameter.grad.astype(np.float64)) == pytest.approx(1.0, rel=1e-5)


def test_non_finite_gradients_are_left_alone():
    parameter = Parameter(np.zeros(3))
    parameter.grad[...] = [np.inf, 1.0, 2.0]
    with no_fp_trouble():
        assert clip_gradient_norm([parameter], 1.0) == np.inf
    np.testing.assert_array_equal(parameter.grad, [np.inf, 1.0, 2.0])


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_clip_norm_is_in_the_config_when_set(cls):
    assert "clip_norm" not in cls().get_config()
    optimizer = cls(clip_norm=2.5)
    assert optimizer.get_config()["clip_norm"] == 2.5 and "clip_norm=2.5" in repr(optimizer)
    assert cls(**optimizer.get_config()).clip_norm == 2.5


@pytest.mark.parametrize("value, error, message", [
    (0, ValueError, r"clip_norm must be a finite number > 0, got 0.0"),
    (-1.0, ValueError, r"clip_norm must be a finite number > 0, got -1.0"),
    (float("inf"), ValueError, r"clip_norm must be a finite number > 0, got inf"),
    ("1", TypeError, r"clip_norm must be a number, got '1'"),
    (True, TypeError, r"clip_norm must be a number, got True"),
])
@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_bad_clip_norm(cls, value, error, message):
    with pytest.raises(error, match=message):
        cls(clip_norm=value)
