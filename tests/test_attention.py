"""Tests for scratchnn.nn.attention.MultiHeadAttention: PyTorch's nn.MultiheadAttention used as
self-attention, with and without a causal mask, in float64 (outputs, gradients, SGD steps);
finite differences; the softmax's rows; saving; a task it learns; huge inputs; bad input."""

import numpy as np
import pytest

import scratchnn as sn
from helpers import no_fp_trouble, sgd_steps_beside_torch

torch = pytest.importorskip("torch")

DIM, HEADS, BATCH, STEPS = 8, 2, 3, 5


def built(dim=DIM, heads=HEADS, causal=False, seed=0, dtype=np.float64):
    """A built layer with biases away from 0 (PyTorch starts them at 0, which would hide them)."""
    layer = sn.MultiHeadAttention(dim, heads, causal=causal)
    sn.Sequential(layer, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    layer.in_proj_bias.value[...] = rng.normal(scale=0.5, size=3 * dim)
    layer.out_proj_bias.value[...] = rng.normal(scale=0.5, size=dim)
    return layer


def torch_twin(layer):
    """nn.MultiheadAttention with the layer's weights: the names and layouts are PyTorch's."""
    twin = torch.nn.MultiheadAttention(layer.dim, layer.heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        twin.in_proj_weight.copy_(torch.from_numpy(layer.in_proj_weight.value))
        twin.in_proj_bias.copy_(torch.from_numpy(layer.in_proj_bias.value))
        twin.out_proj.weight.copy_(torch.from_numpy(layer.out_proj_weight.value))
        twin.out_proj.bias.copy_(torch.from_numpy(layer.out_proj_bias.value))
    return twin


def run_twin(twin, x, causal, how="mask"):
    """PyTorch's self-attention: query = key = value = x, the causal mask given as asked."""
    if not causal:
        return twin(x, x, x, need_weights=False)[0]
    mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=torch.float64)
    if how == "is_causal":
        return twin(x, x, x, need_weights=False, attn_mask=mask, is_causal=True)[0]
    return twin(x, x, x, need_weights=False, attn_mask=mask)[0]


@pytest.mark.parametrize("causal, how", [(False, "mask"), (True, "mask"), (True, "is_causal")])
@pytest.mark.parametrize("heads", [1, 2, 4])
def test_equals_pytorch_outputs_and_gradients(causal, how, heads):
    layer = built(heads=heads, causal=causal)
    twin = torch_twin(layer)
    rng = np.random.default_rng(2)
    x, grad = rng.normal(size=(BATCH, STEPS, DIM)), rng.normal(size=(BATCH, STEPS, DIM))
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = run_twin(twin, x_torch, causal, how)
    y_torch.backward(torch.from_numpy(grad))
    y = layer.forward(x, training=True)
    grad_x = layer.backward(grad)
    close = dict(rtol=0, atol=1e-10)
    np.testing.assert_allclose(y, y_torch.detach().numpy(), **close)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), **close)
    np.testing.assert_allclose(layer.in_proj_weight.grad, twin.in_proj_weight.grad.numpy(), **close)
    np.testing.assert_allclose(layer.in_proj_bias.grad, twin.in_proj_bias.grad.numpy(), **close)
    np.testing.assert_allclose(layer.out_proj_weight.grad, twin.out_proj.weight.grad.numpy(), **close)
    np.testing.assert_allclose(layer.out_proj_bias.grad, twin.out_proj.bias.grad.numpy(), **close)


@pytest.mark.parametrize("causal", [False, True])
def test_equals_pytorch_after_sgd_steps(causal):
    layer = sn.MultiHeadAttention(DIM, HEADS, causal=causal)
    net = sn.Sequential(layer, seed=0, dtype=np.float64)
    layer.in_proj_bias.value[...] = np.random.default_rng(1).normal(scale=0.5, size=3 * DIM)
    twin = torch_twin(layer)
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(BATCH, STEPS, DIM)), rng.normal(size=(BATCH, STEPS, DIM))
    ours, expected = sgd_steps_beside_torch(net, twin, lambda x: run_twin(twin, x, causal), X, y, learning_rate=0.5)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.in_proj_weight.value, twin.in_proj_weight.detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_finite_differences(causal):
    rng = np.random.default_rng(4)
    net = sn.Sequential(sn.MultiHeadAttention(6, 3, causal=causal), seed=0, dtype=np.float64)
    for parameter in net.parameters():
        parameter.value[...] += rng.normal(scale=0.3, size=parameter.value.shape)
    X, y = rng.normal(size=(2, 4, 6)), rng.normal(size=(2, 4, 6))
    assert sn.gradcheck(net, sn.MSE(), X, y) < 1e-6


def test_causal_weights_are_zero_on_the_future_and_rows_sum_to_one():
    layer = built(causal=True)
    x = np.random.default_rng(5).normal(size=(BATCH, STEPS, DIM))
    layer.forward(x)
    weights = layer.p                                          # (N, H, T, T)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    future = np.triu(np.ones((STEPS, STEPS), dtype=bool), k=1)
    assert np.all(weights[..., future] == 0.0) and np.all(weights[..., ~future] > 0)
    # the first position sees only itself: y[:, 0] does not change when later steps change
    changed = x.copy()
    changed[:, 1:] += 10.0
    np.testing.assert_allclose(layer.forward(changed)[:, 0], layer.forward(x)[:, 0], rtol=0, atol=1e-12)


def test_initialized_as_pytorch():
    layer = sn.MultiHeadAttention(64, 4)
    sn.Sequential(layer, seed=0, dtype=np.float64)
    glorot = np.sqrt(6.0 / (64 + 3 * 64))                       # xavier_uniform_ on (3·dim, dim)
    assert layer.in_proj_weight.value.shape == (192, 64)
    assert glorot * 0.95 < np.abs(layer.in_proj_weight.value).max() <= glorot
    assert 0.95 / 8 < np.abs(layer.out_proj_weight.value).max() <= 1 / 8    # U(±1/√dim)
    assert not layer.in_proj_bias.value.any() and not layer.out_proj_bias.value.any()


def test_saves_and_loads(tmp_path):
    net = sn.Sequential(sn.MultiHeadAttention(8, 2, causal=True), sn.LayerNorm(8), seed=0, dtype=np.float64)
    net.save(tmp_path / "attention.npz")
    same = sn.load(tmp_path / "attention.npz")
    assert same.layers[0].get_config() == {"dim": 8, "heads": 2, "causal": True}
    X = np.random.default_rng(6).normal(size=(3, 5, 8))
    np.testing.assert_array_equal(same.predict(X), net.predict(X))


def test_learns_the_causal_running_mean():
    """y_t = mean of x_1..x_t: one causal head with Q = 0 (uniform weights) and V·W_out = I."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(256, 6, 4))
    y = np.cumsum(X, axis=1) / np.arange(1, 7)[None, :, None]
    net = sn.Sequential(sn.MultiHeadAttention(4, 1, causal=True), seed=0)
    loss = sn.MSE()
    before = loss(net.predict(X), y)
    history = net.fit(X, y, loss=loss, optimizer=sn.Adam(0.02), epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.02 * before, (before, history.history["loss"][-1])


@pytest.mark.parametrize("causal", [False, True])
def test_huge_inputs_give_no_warnings(causal):
    layer = built(causal=causal)
    x = np.random.default_rng(8).choice([1e30, -1e30, 1e-30, 0.0], size=(2, STEPS, DIM))
    with no_fp_trouble():
        y = layer.forward(x, training=True)
        grad = layer.backward(np.ones_like(y))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(layer.p.sum(axis=-1), 1.0, rtol=1e-12)


def test_bad_arguments_are_one_line_errors():
    for arguments, error, fragment in [((10, 3), ValueError, "dim must be divisible by heads, got dim=10 and heads=3"),
                                       ((0, 1), ValueError, "dim must be >= 1"),
                                       ((8, 2.0), TypeError, "heads must be a positive integer"),
                                       ((8, 2, "yes"), TypeError, "causal must be True or False")]:
        with pytest.raises(error, match=fragment) as caught:
            sn.MultiHeadAttention(*arguments)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("shape", [(3, 8), (2, 5, 6), (2, 5, 8, 1)])
def test_wrong_input_shape_is_a_one_line_error_before_any_work(shape):
    layer = built()
    before = {name: p.value.copy() for name, p in layer.named_parameters().items()}
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(dim=8, heads=2, causal=False\) expects input of "
                                         r"shape \(N, T, 8\), got shape") as caught:
        layer.forward(np.ones(shape))
    assert "\n" not in str(caught.value)
    assert all(np.array_equal(before[name], p.value) for name, p in layer.named_parameters().items())
    with pytest.raises(RuntimeError, match="not built"):
        sn.MultiHeadAttention(8, 2).forward(np.ones((1, 2, 8)))


@pytest.mark.parametrize("width", [1, 2, 3, 7, 64, 65])
def test_row_max_by_halving_equals_numpys_max(width):
    from scratchnn.nn.attention import _row_max

    x = np.random.default_rng(width).normal(size=(2, 3, width))
    x[0, 0, -1] = -np.inf
    x[1, 2, 0] = np.nan
    np.testing.assert_array_equal(_row_max(x), x.max(axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("causal", [False, True])
def test_compiled_softmax_backward_equals_the_numpy_lines(dtype, tolerance, causal):
    pytest.importorskip("numba")
    x = np.random.default_rng(7).normal(size=(3, 5, 8)).astype(dtype)
    upstream = np.random.default_rng(8).normal(size=x.shape).astype(dtype)
    results = []
    for fused in (False, "auto"):
        layer = sn.MultiHeadAttention(8, heads=2, causal=causal, fused=fused)
        layer.build(np.random.default_rng(0), dtype)
        y = layer.forward(x)
        grad_x = layer.backward(upstream)
        results.append((y, grad_x, *[p.grad.copy() for p in layer.parameters()]))
    for plain, compiled in zip(*results):
        assert compiled.dtype == dtype
        np.testing.assert_allclose(compiled, plain, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, steps", [(3, 5), (3, 8), (3, 13), (3, 64), (40, 64), (3, 128), (3, 130)])
@pytest.mark.parametrize("causal", [False, True])
def test_compiled_softmax_forward_gives_the_numpy_lines_bits(dtype, batch, steps, causal):
    """The forward's softmax (scale, causal mask, max, e^·, sum, divide) with fused="auto" has
    the bits of the NumPy lines: row sums in NumPy's order for T <= 128 (below 8, from 8, with
    a remainder), NumPy's lines themselves beyond, in blocks of 64 T×T matrices at T = 64 (40 × 2
    heads: two blocks); huge, infinite and NaN scores too (NaN where NumPy has NaN; a NaN's sign
    bit may differ)."""
    pytest.importorskip("numba")
    x = np.random.default_rng(steps).normal(scale=3, size=(batch, steps, 8)).astype(dtype)
    x[1, 0] = 1e4                                   # scores far beyond e^·'s range
    x[2, 1, 0] = np.inf                             # inf − inf: NaN rows, as in NumPy
    x[2, 2, 3] = np.nan
    results = []
    for fused in (False, "auto"):
        layer = sn.MultiHeadAttention(8, heads=2, causal=causal, fused=fused)
        layer.build(np.random.default_rng(0), dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            results.append((layer.forward(x), layer.p))
    for plain, compiled in zip(*results):
        np.testing.assert_array_equal(np.isnan(compiled), np.isnan(plain))      # NaN where NumPy has NaN,
        numbers = ~np.isnan(plain)                                               # the same bits elsewhere
        assert compiled[numbers].tobytes() == plain[numbers].tobytes()
