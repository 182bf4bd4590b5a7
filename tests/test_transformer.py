"""Tests for scratchnn.nn.transformer: TransformerBlock against PyTorch's nn.TransformerEncoderLayer
(pre- and post-norm, causal, gelu and relu) in float64 (outputs, gradients, SGD steps);
PositionalEmbedding; finite differences; saving; a task they learn; huge inputs; bad input."""

import numpy as np
import pytest

import scratchnn as sn
from helpers import no_fp_trouble, sgd_steps_beside_torch

torch = pytest.importorskip("torch")

DIM, HEADS, FF_DIM, BATCH, STEPS = 8, 2, 12, 3, 5


def built(seed=0, dtype=np.float64, **options):
    """A built block with every parameter moved off its initial value (norms' 1 and 0 hide bugs)."""
    block = sn.TransformerBlock(DIM, HEADS, FF_DIM, **options)
    sn.Sequential(block, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for parameter in block.parameters():
        parameter.value[...] += rng.normal(scale=0.2, size=parameter.value.shape)
    return block


def torch_name(name):
    """Our parameter name -> PyTorch's: only the attention's output projection differs."""
    return name.replace("out_proj_", "out_proj.")


def is_dense_weight(name):
    return name in ("linear1.weight", "linear2.weight")           # (in, out): torch's transposed


def torch_twin(block):
    twin = torch.nn.TransformerEncoderLayer(block.dim, block.heads, block.ff_dim, dropout=0.0,
                                            activation=block.activation_name, batch_first=True,
                                            norm_first=block.norm_first, dtype=torch.float64)
    state = twin.state_dict()
    assert [torch_name(name) for name in block.named_parameters()] == list(state)   # PyTorch's order
    with torch.no_grad():
        for name, parameter in block.named_parameters().items():
            value = parameter.value.T if is_dense_weight(name) else parameter.value
            state[torch_name(name)].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return twin


def run_twin(twin, x, causal):
    if not causal:
        return twin(x)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=torch.float64)
    return twin(x, src_mask=mask, is_causal=True)


OPTIONS = [dict(norm_first=norm_first, activation=activation, causal=causal)
           for norm_first in (True, False) for activation in ("gelu", "relu") for causal in (False, True)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_block_equals_pytorch_outputs_and_gradients(options):
    block = built(**options)
    twin = torch_twin(block)
    rng = np.random.default_rng(2)
    x, grad = rng.normal(size=(BATCH, STEPS, DIM)), rng.normal(size=(BATCH, STEPS, DIM))
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = run_twin(twin, x_torch, options["causal"])
    y_torch.backward(torch.from_numpy(grad))
    y = block.forward(x, training=True)
    grad_x = block.backward(grad)
    close = dict(rtol=0, atol=1e-10)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **close)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), **close)
    torch_parameters = dict(twin.named_parameters())
    for name, parameter in block.named_parameters().items():
        expected = torch_parameters[torch_name(name)].grad.numpy()
        np.testing.assert_allclose(parameter.grad, expected.T if is_dense_weight(name) else expected,
                                   err_msg=name, **close)


@pytest.mark.parametrize("options", [OPTIONS[1], OPTIONS[6]], ids=["pre-norm-causal", "post-norm-relu"])
def test_block_equals_pytorch_after_sgd_steps(options):
    block = sn.TransformerBlock(DIM, HEADS, FF_DIM, **options)
    net = sn.Sequential(block, seed=0, dtype=np.float64)
    twin = torch_twin(block)
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(BATCH, STEPS, DIM)), rng.normal(size=(BATCH, STEPS, DIM))
    ours, expected = sgd_steps_beside_torch(net, twin, lambda x: run_twin(twin, x, options["causal"]), X, y, learning_rate=0.3)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("options", OPTIONS[::3], ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_block_gradients_match_finite_differences(options):
    rng = np.random.default_rng(4)
    net = sn.Sequential(sn.PositionalEmbedding(6, 4), sn.TransformerBlock(4, 2, 6, **options),
                        seed=0, dtype=np.float64)
    for parameter in net.parameters():
        parameter.value[...] += rng.normal(scale=0.2, size=parameter.value.shape)
    X, y = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    assert sn.gradcheck(net, sn.MSE(), X, y) < 1e-6


def test_positional_embedding_adds_one_row_per_step_and_only_those_learn():
    positions = sn.PositionalEmbedding(7, 3)
    net = sn.Sequential(positions, seed=0, dtype=np.float64)
    x = np.random.default_rng(5).normal(size=(4, 5, 3))
    y = net.forward(x, training=True)
    for t in range(5):
        np.testing.assert_array_equal(y[:, t], x[:, t] + positions.weight.value[t])     # y = x + weight[t]
    grad = np.random.default_rng(6).normal(size=y.shape)
    np.testing.assert_array_equal(net.backward(grad), grad)
    np.testing.assert_allclose(positions.weight.grad[:5], grad.sum(axis=0), rtol=1e-12)
    assert not positions.weight.grad[5:].any()                   # positions 5, 6 were not used
    assert sn.gradcheck(net, sn.MSE(), x[:2], x[:2] * 2) < 1e-6


def test_positional_embedding_equals_a_pytorch_embedding_of_the_positions():
    positions = sn.PositionalEmbedding(7, 3)
    net = sn.Sequential(positions, seed=0, dtype=np.float64)
    table = torch.nn.Embedding(7, 3, dtype=torch.float64)
    with torch.no_grad():
        table.weight.copy_(torch.from_numpy(positions.weight.value))
    rng = np.random.default_rng(11)
    x, grad = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3))
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = x_torch + table(torch.arange(5))                   # y = x + weight[t]
    y_torch.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(net.forward(x, training=True), y_torch.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(net.backward(grad), x_torch.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(positions.weight.grad, table.weight.grad.numpy(), rtol=0, atol=1e-10)


def test_saves_and_loads(tmp_path):
    net = sn.Sequential(sn.PositionalEmbedding(8, DIM), sn.TransformerBlock(DIM, HEADS, FF_DIM, causal=True),
                        sn.TransformerBlock(DIM, HEADS, FF_DIM, norm_first=False, activation="relu"),
                        seed=0, dtype=np.float64)
    net.save(tmp_path / "transformer.npz")
    same = sn.load(tmp_path / "transformer.npz")
    assert [layer.get_config() for layer in same.layers] == [layer.get_config() for layer in net.layers]
    assert "1.self_attn.in_proj_weight" in same.state_dict()
    X = np.random.default_rng(7).normal(size=(2, 6, DIM))
    np.testing.assert_array_equal(same.predict(X), net.predict(X))


@pytest.mark.parametrize("norm_first", [True, False])
def test_a_small_causal_transformer_learns_the_previous_step(norm_first):
    """y_t = x_{t−1} (0 at t = 0), steps drawn independently: a position must look one step back.
    Whatever ignores the earlier steps can do no better than predicting 0; the block beats that."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(256, 6, 8))
    y = np.concatenate([np.zeros_like(X[:, :1]), X[:, :-1]], axis=1)
    net = sn.Sequential(sn.PositionalEmbedding(6, 8), sn.TransformerBlock(8, 2, 32, norm_first=norm_first,
                                                                          causal=True), seed=0)
    loss = sn.MSE()
    blind = loss(np.zeros_like(y), y)                          # the best guess without looking back
    history = net.fit(X, y, loss=loss, optimizer=sn.Adam(0.01), epochs=80, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.7 * blind, (blind, history.history["loss"][-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pre_norm_block_takes_the_largest_inputs_without_warnings(dtype):
    block = built(dtype=dtype, causal=True)
    largest = np.finfo(dtype).max
    x = np.random.default_rng(9).choice([largest, -largest, 1e30, 0.0], size=(2, STEPS, DIM)).astype(dtype)
    with no_fp_trouble():
        y = block.forward(x, training=True)
        grad = block.backward(np.ones_like(y))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad))


def test_post_norm_block_takes_huge_inputs_without_warnings():
    block = built(norm_first=False)
    x = np.random.default_rng(10).choice([1e30, -1e30, 0.0], size=(2, STEPS, DIM))
    with no_fp_trouble():
        y = block.forward(x, training=True)
        grad = block.backward(np.ones_like(y))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad))
    assert np.all(np.abs(y) < 100)                               # normalized at the end


@pytest.mark.parametrize("make, error, fragment", [
    (lambda: sn.TransformerBlock(10, 3, 16), ValueError, "dim must be divisible by heads, got dim=10 and heads=3"),
    (lambda: sn.TransformerBlock(8, 2, 0), ValueError, "ff_dim must be >= 1"),
    (lambda: sn.TransformerBlock(8, 2, 16, activation="tanh"), ValueError, "activation must be one of 'gelu'"),
    (lambda: sn.TransformerBlock(8, 2, 16, norm_first=None), TypeError, "norm_first must be True or False"),
    (lambda: sn.PositionalEmbedding(0, 8), ValueError, "max_len must be >= 1"),
    (lambda: sn.PositionalEmbedding(8, 2.5), TypeError, "dim must be a positive integer"),
])
def test_bad_arguments_are_one_line_errors(make, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        make()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("make, shape, fragment", [
    (lambda: sn.TransformerBlock(DIM, HEADS, FF_DIM), (3, DIM),
     r"TransformerBlock\(dim=8, \.\.\.\) expects input of shape \(N, T, 8\), got shape \(3, 8\)"),
    (lambda: sn.TransformerBlock(DIM, HEADS, FF_DIM), (3, 4, 6), r"expects input of shape \(N, T, 8\)"),
    (lambda: sn.PositionalEmbedding(4, DIM), (2, 5, DIM),
     r"PositionalEmbedding\(max_len=4, dim=8\) has positions for sequences of up to 4 steps, got 5 steps"),
    (lambda: sn.PositionalEmbedding(4, DIM), (2, 3, 7), r"expects input of shape \(N, T, 8\), got shape \(2, 3, 7\)"),
])
def test_wrong_input_is_a_one_line_error_with_weights_untouched(make, shape, fragment):
    layer = make()
    net = sn.Sequential(layer, seed=0, dtype=np.float64)
    before = {name: value.copy() for name, value in net.state_dict().items()}
    with pytest.raises(ValueError, match=fragment) as caught:
        layer.forward(np.ones(shape), training=True)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="does not fit the network"):
        net.fit(np.ones(shape), np.ones(shape), loss="mse", optimizer=sn.SGD(0.1), verbose=0)
    assert all(np.array_equal(before[name], value) for name, value in net.state_dict().items())
