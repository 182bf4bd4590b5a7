"""Tests for scratchnn.nn.conv and scratchnn.nn.pooling: Conv2D, MaxPool2D, AvgPool2D and
GlobalAvgPool2D against naive loops and central finite differences, their argument checks and
output shapes, and a small CNN that learns."""

import math

import numpy as np
import pytest

import scratchnn
import scratchnn.nn.conv as conv_module
import scratchnn.nn.pooling as pooling_module
from scratchnn import kernels
from scratchnn.nn.conv import Conv2D
from scratchnn.nn.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from scratchnn.gradcheck import numerical_gradient, relative_error


def built(layer, dtype=np.float64, seed=0):
    layer.build(np.random.default_rng(seed), dtype)
    if getattr(layer, "bias", None) is not None:
        layer.bias.value[...] = np.random.default_rng(seed + 1).normal(size=layer.bias.value.shape)
    return layer


def gradient_errors(layer, x, seed=5, step=1e-4):
    """Worst relative error of backprop against central differences, for the input and
    every parameter, with the loss L = Σ y · R for a fixed random R (so dL/dy = R).

    These layers are linear in x and in W (max pooling piecewise so), so a central difference
    has no truncation error; a step of 1e-4 rather than 1e-6 keeps the rounding error of L
    (a sum of hundreds of terms) well below 1e-6 of the smallest gradient entries. Max pooling
    inputs are 1e-3 apart, so no step changes which entry is the max."""
    upstream = np.random.default_rng(seed).normal(size=layer.forward(x, training=True).shape)
    for parameter in layer.parameters():
        parameter.grad[...] = 0
    layer.forward(x, training=True)
    grad_input = layer.backward(upstream)

    def loss():
        return float(np.sum(upstream * layer.forward(x, training=True)))

    errors = {"input": relative_error(grad_input, numerical_gradient(loss, x, step)).max()}
    for name, parameter in layer.named_parameters().items():
        errors[name] = relative_error(parameter.grad.copy(), numerical_gradient(loss, parameter.value, step)).max()
    return errors


# ---- naive references ---------------------------------------------------------------------

def naive_conv(x, weight, bias, stride, padding):
    """y[n, o, r, c] = b[o] + Σ_ch Σ_i Σ_j W[o, ch, i, j] · x_pad[n, ch, s_h·r + i, s_w·c + j]."""
    (top, bottom), (left, right) = padding
    x_pad = np.zeros((x.shape[0], x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right))
    x_pad[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    out_channels, in_channels, kh, kw = weight.shape
    out_h = (x_pad.shape[2] - kh) // stride[0] + 1
    out_w = (x_pad.shape[3] - kw) // stride[1] + 1
    y = np.zeros((x.shape[0], out_channels, out_h, out_w))
    for n in range(x.shape[0]):
        for o in range(out_channels):
            for r in range(out_h):
                for c in range(out_w):
                    total = float(bias[o])
                    for ch in range(in_channels):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = x_pad[n, ch, stride[0] * r + i, stride[1] * c + j]
                                total += float(weight[o, ch, i, j]) * float(pixel)
                    y[n, o, r, c] = total
    return y


def naive_pool(x, kernel, stride, reduce):
    kh, kw = kernel
    out_h, out_w = (x.shape[2] - kh) // stride[0] + 1, (x.shape[3] - kw) // stride[1] + 1
    y = np.zeros(x.shape[:2] + (out_h, out_w))
    for n in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for r in range(out_h):
                for c in range(out_w):
                    window = [float(x[n, ch, stride[0] * r + i, stride[1] * c + j])
                              for i in range(kh) for j in range(kw)]
                    y[n, ch, r, c] = reduce(window)
    return y


CONV_CASES = [
    # in, out, kernel, stride, padding, input H x W
    (2, 3, 3, 1, 0, (7, 9)),
    (2, 3, 3, 1, 1, (7, 9)),
    (3, 2, 3, 2, 1, (7, 9)),
    (2, 3, (3, 2), 1, 2, (7, 9)),
    (2, 2, (3, 2), (2, 1), (1, 0), (7, 9)),
    (1, 4, 3, 1, "same", (7, 9)),
    (2, 3, (2, 4), 1, "same", (7, 9)),
    (3, 2, 1, 1, 0, (5, 4)),
    (2, 1, 5, 3, 2, (8, 7)),
    (1, 1, 3, 1, "valid", (3, 3)),
]


def expected_padding(kernel, padding):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if padding == "same":
        return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    if padding == "valid":
        return (0, 0), (0, 0)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph), (pw, pw)


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


# ---- Conv2D -------------------------------------------------------------------------------

@pytest.fixture(params=["per image", "channels first"])
def products(request, monkeypatch):
    """Run a test under each of Conv2D's two ways to lay out its matrix products: one product
    per image (the default for shallow kernels, in_channels·kh·kw <= _PER_IMAGE_DEPTH) and one
    product for the whole batch, channels first (the default for deeper ones)."""
    monkeypatch.setattr(conv_module, "_PER_IMAGE_DEPTH", 10**9 if request.param == "per image" else 0)
    return request.param


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, padding, size", CONV_CASES)
def test_conv_forward_matches_naive_loops(in_channels, out_channels, kernel, stride, padding, size, products):
    layer = built(Conv2D(in_channels, out_channels, kernel, stride=stride, padding=padding))
    x = np.random.default_rng(1).normal(size=(2, in_channels) + size)
    y = layer.forward(x)
    expected = naive_conv(x, layer.weight.value, layer.bias.value, pair(stride), expected_padding(kernel, padding))
    assert y.shape == expected.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]


def test_conv_forward_and_backward_on_random_configurations(products):
    """Odd corners at random: paddings wider than the kernel, 1-pixel inputs, strides above
    the kernel; forward against the naive loop, dL/dx against the naive loop's adjoint."""
    rng = np.random.default_rng(20)
    for _ in range(25):
        kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
        stride = (1, 1) if rng.random() < 0.6 else tuple(int(s) for s in rng.integers(1, 4, 2))
        padding = tuple(int(p) for p in rng.integers(0, 4, 2))
        size = tuple(int(max(k - 2 * p, 1) + rng.integers(0, 4)) for k, p in zip(kernel, padding))
        channels = tuple(int(c) for c in rng.integers(1, 3, 2))
        layer = built(Conv2D(*channels, kernel, stride=stride, padding=padding), seed=int(rng.integers(100)))
        x = rng.normal(size=(2, channels[0]) + size)
        y = layer.forward(x, training=True)
        pads = ((padding[0], padding[0]), (padding[1], padding[1]))
        np.testing.assert_allclose(y, naive_conv(x, layer.weight.value, layer.bias.value, stride, pads), atol=1e-12)
        upstream = rng.normal(size=y.shape)
        grad_input = layer.backward(upstream)
        # y − b is linear in x, so dL/dx at entry e = Σ upstream · conv(one-hot e, bias 0)
        expected = np.zeros_like(x)
        zero_bias = np.zeros_like(layer.bias.value)
        for index in np.ndindex(*x.shape):
            basis = np.zeros_like(x)
            basis[index] = 1.0
            expected[index] = np.sum(upstream * naive_conv(basis, layer.weight.value, zero_bias, stride, pads))
        np.testing.assert_allclose(grad_input, expected, atol=1e-12)


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, padding, size", CONV_CASES[:7])
def test_conv_gradients_match_finite_differences(in_channels, out_channels, kernel, stride, padding, size, products):
    layer = built(Conv2D(in_channels, out_channels, kernel, stride=stride, padding=padding))
    x = np.random.default_rng(2).normal(size=(2, in_channels) + size)
    errors = gradient_errors(layer, x)
    assert set(errors) == {"input", "weight", "bias"}
    assert max(errors.values()) < 1e-6, errors


def test_conv_float32_forward_and_backward_match_float64(products):
    layer64 = built(Conv2D(3, 4, 3, padding=1), np.float64)
    layer32 = built(Conv2D(3, 4, 3, padding=1), np.float32)
    layer32.weight.value[...] = layer64.weight.value
    layer32.bias.value[...] = layer64.bias.value
    x = np.random.default_rng(3).normal(size=(4, 3, 10, 11))
    y64, y32 = layer64.forward(x), layer32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    upstream = np.random.default_rng(4).normal(size=y64.shape)
    g64, g32 = layer64.backward(upstream), layer32.backward(upstream.astype(np.float32))
    assert g32.dtype == np.float32 and layer32.weight.grad.dtype == np.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer32.weight.grad, layer64.weight.grad, rtol=1e-4, atol=1e-4)


def test_conv_backward_accumulates_and_outputs_are_not_reused(products):
    layer = built(Conv2D(2, 3, 3, padding=1))
    rng = np.random.default_rng(6)
    x1, x2 = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(2, 2, 5, 5))
    y1 = layer.forward(x1)
    first = y1.copy()
    layer.forward(x2)                                    # another batch must not overwrite y1
    np.testing.assert_array_equal(y1, first)
    upstream = rng.normal(size=y1.shape)
    layer.forward(x1)
    layer.backward(upstream)
    once = layer.weight.grad.copy()
    layer.backward(upstream)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)


def test_conv_alternating_batch_sizes_use_the_right_buffers(products):
    layer = built(Conv2D(1, 2, 3))
    rng = np.random.default_rng(7)
    big, small = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(3, 1, 6, 6))
    for x in (big, small, big, small):
        np.testing.assert_allclose(layer.forward(x), naive_conv(x, layer.weight.value, layer.bias.value,
                                                                (1, 1), ((0, 0), (0, 0))), atol=1e-12)
    layer.forward(big)
    assert layer.backward(np.ones((4, 2, 4, 4))).shape == big.shape


def test_large_inference_batches_run_in_chunks(products):
    layer = built(Conv2D(1, 2, 3, padding=1))
    count = 2 * conv_module._INFERENCE_CHUNK + 3
    x = np.random.default_rng(10).normal(size=(count, 1, 4, 4))
    y = layer.forward(x)
    np.testing.assert_allclose(y[-3:], layer.forward(x[-3:]), atol=1e-12)
    layer.forward(x)
    with pytest.raises(RuntimeError, match="backward needs the forward pass"):
        layer.backward(y)
    layer.forward(x, training=True)                     # training keeps everything for backward
    assert layer.backward(y).shape == x.shape


@pytest.mark.parametrize("init", ["he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "uniform", "zeros"])
def test_conv_initializers_use_convolution_fans(init):
    layer = Conv2D(16, 32, (3, 5), init=init)
    layer.build(np.random.default_rng(0), np.float64)
    weight = layer.weight.value
    assert weight.shape == (32, 16, 3, 5) and np.all(layer.bias.value == 0)
    fan_in, fan_out = 16 * 3 * 5, 32 * 3 * 5
    expected_std = {"he_uniform": math.sqrt(2 / fan_in), "he_normal": math.sqrt(2 / fan_in),
                    "glorot_uniform": math.sqrt(2 / (fan_in + fan_out)),
                    "glorot_normal": math.sqrt(2 / (fan_in + fan_out)),
                    "uniform": math.sqrt(1 / 12), "zeros": 0.0}[init]
    assert weight.std() == pytest.approx(expected_std, rel=0.05, abs=1e-12)
    if init == "he_uniform":
        assert np.abs(weight).max() <= math.sqrt(6 / fan_in)


def test_conv_config_round_trip_and_repr():
    layer = Conv2D(3, 8, (3, 2), stride=(2, 1), padding=(1, 0), init="glorot_normal")
    config = layer.get_config()
    assert config == {"in_channels": 3, "out_channels": 8, "kernel_size": [3, 2], "stride": [2, 1],
                      "padding": [1, 0], "init": "glorot_normal"}
    assert Conv2D(**config).get_config() == config
    assert Conv2D(1, 4, 3, padding="same").get_config()["padding"] == "same"
    assert repr(Conv2D(1, 32, 3)).startswith("Conv2D(in_channels=1, out_channels=32, kernel_size=3")


def test_conv_message_for_a_flat_input():
    layer = built(Conv2D(1, 32, kernel_size=3), np.float32)
    with pytest.raises(ValueError) as error:
        layer.forward(np.zeros((128, 784), np.float32))
    assert str(error.value) == ("Conv2D(1, 32, kernel_size=3) expects input of shape (N, 1, H, W), "
                                "got shape (128, 784)")


@pytest.mark.parametrize("arguments, error, fragment", [
    ((1, 4, 0), ValueError, "kernel_size must be >= 1, got 0"),
    ((1, 4, (3, 0)), ValueError, "kernel_size must be >= 1, got (3, 0)"),
    ((1, 4, "3"), TypeError, "kernel_size must be an int or a pair of ints"),
    ((1, 4, (3, 3, 3)), TypeError, "kernel_size must be an int or a pair of ints (height, width), got (3, 3, 3)"),
    ((1, 4, 3.0), TypeError, "kernel_size must be an int or a pair of ints"),
    ((0, 4, 3), ValueError, "in_channels must be >= 1, got 0"),
    ((1, -2, 3), ValueError, "out_channels must be >= 1, got -2"),
])
def test_conv_bad_constructor_arguments(arguments, error, fragment):
    with pytest.raises(error) as raised:
        Conv2D(*arguments)
    assert fragment in str(raised.value)


@pytest.mark.parametrize("keywords, error, fragment", [
    ({"stride": 0}, ValueError, "stride must be >= 1, got 0"),
    ({"stride": (1, -1)}, ValueError, "stride must be >= 1, got (1, -1)"),
    ({"padding": -1}, ValueError, "padding must be >= 0, got -1"),
    ({"padding": (0, -2)}, ValueError, "padding must be >= 0, got (0, -2)"),
    ({"padding": "full"}, ValueError, "padding must be an int >= 0, a pair of them, 'same' or 'valid'; got 'full'"),
    ({"padding": "same", "stride": 2}, ValueError, "padding='same' needs stride 1, got stride=2"),
    ({"padding": 1.5}, TypeError, "padding must be an int or a pair of ints"),
    ({"init": "normal"}, ValueError, "init must be one of"),
])
def test_conv_bad_keyword_arguments(keywords, error, fragment):
    with pytest.raises(error) as raised:
        Conv2D(1, 4, 3, **keywords)
    assert fragment in str(raised.value)


def test_conv_bad_inputs_name_the_shape():
    layer = built(Conv2D(3, 4, 5, padding=1))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\), got shape \(2, 1, 8, 8\)"):
        layer.forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 8\)"):
        layer.forward(np.zeros((2, 3, 8)))
    with pytest.raises(ValueError, match=r"at least 3x3 pixels \(a 5x5 kernel after padding\), "
                                         r"got shape \(2, 3, 2, 9\)"):
        layer.forward(np.zeros((2, 3, 2, 9)))
    with pytest.raises(ValueError, match=r"at least 5x5 pixels, got shape \(1, 1, 4, 4\)"):
        built(Conv2D(1, 1, 5)).forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\), got \[1, 2\]"):
        layer.forward([1, 2])
    layer.forward(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"backward expects a gradient of shape \(2, 4, 6, 6\), "
                                         r"got shape \(2, 4, 5, 5\)"):
        layer.backward(np.zeros((2, 4, 5, 5)))
    with pytest.raises(RuntimeError, match="not built"):
        Conv2D(1, 1, 3).forward(np.zeros((1, 1, 3, 3)))


# ---- pooling ------------------------------------------------------------------------------

POOL_CASES = [
    # kernel, stride, input H x W
    (2, None, (8, 8)),
    (2, None, (7, 9)),           # a row and a column left over
    (3, 2, (7, 9)),              # overlapping windows
    ((2, 3), (1, 2), (7, 9)),
    (3, 1, (5, 6)),
    ((3, 1), (3, 1), (7, 4)),
    (2, 3, (8, 8)),              # gaps between windows
]


def distinct_values(shape, seed):
    """Values with no ties, at least 1e-3 apart, so a finite difference never changes the argmax."""
    return np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 1e-3 - 0.3


@pytest.mark.parametrize("fused", [False, "auto"])
@pytest.mark.parametrize("kernel, stride, size", POOL_CASES)
def test_max_pool_matches_naive_loops_and_finite_differences(kernel, stride, size, fused):
    layer = MaxPool2D(kernel, stride, fused=fused)
    x = distinct_values((2, 3) + size, seed=11)
    expected = naive_pool(x, pair(kernel), pair(stride if stride is not None else kernel), max)
    np.testing.assert_array_equal(layer.forward(x), expected)
    assert gradient_errors(layer, x)["input"] < 1e-6


@pytest.mark.parametrize("kernel, stride, size", POOL_CASES)
def test_avg_pool_matches_naive_loops_and_finite_differences(kernel, stride, size):
    layer = AvgPool2D(kernel, stride)
    x = np.random.default_rng(12).normal(size=(2, 3) + size)
    expected = naive_pool(x, pair(kernel), pair(stride if stride is not None else kernel), lambda w: sum(w) / len(w))
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
    assert gradient_errors(layer, x)["input"] < 1e-6


def test_max_pool_in_cache_sized_chunks_matches_one_image_at_a_time():
    x = distinct_values((24, 8, 33, 32), seed=17)          # ~200 KB per image: several chunks
    upstream = np.random.default_rng(18).normal(size=(24, 8, 16, 15))
    layer = MaxPool2D(3, 2)
    assert len(pooling_module._cache_sized_chunks(x)) > 1
    y, grad = layer.forward(x), layer.backward(upstream)
    for n in range(len(x)):
        single = MaxPool2D(3, 2)
        np.testing.assert_array_equal(y[n:n + 1], single.forward(x[n:n + 1]))
        np.testing.assert_array_equal(grad[n:n + 1], single.backward(upstream[n:n + 1]))


@pytest.mark.parametrize("fused", [False, "auto"])
def test_max_pool_ties_send_the_gradient_to_the_first_maximum(fused):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1.0, 1.0], [1.0, 0.5]]
    layer = MaxPool2D(2, fused=fused)
    layer.forward(x)
    grad = layer.backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1    # first in row-major order
    np.testing.assert_array_equal(grad[0, 0], expected)


needs_numba = pytest.mark.skipif(not kernels.available, reason="Numba is not installed")


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(8, 8), (7, 9), (2, 2), (28, 28)])
def test_fused_max_pool_gives_the_numpy_paths_bits(size, dtype):
    rng = np.random.default_rng(21)
    x = rng.integers(-2, 3, size=(3, 4) + size).astype(dtype)       # many ties
    x[0, 0, 0, 0], x[1, 2, 1, 1] = np.nan, -np.inf
    fused, plain = MaxPool2D(2, fused=True), MaxPool2D(2, fused=False)
    y_fused, y_plain = fused.forward(x), plain.forward(x)
    assert fused.argmax is not None and plain.argmax is None          # both paths really ran
    np.testing.assert_array_equal(y_fused, y_plain)                    # NaN where NumPy has NaN
    upstream = rng.normal(size=y_plain.shape).astype(dtype)
    upstream[0, 1, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):                                # inf · 0 in both
        assert fused.backward(upstream).tobytes() == plain.backward(upstream).tobytes()   # signed zeros too


def test_max_pool_fused_argument():
    assert "fused" not in MaxPool2D(2, fused=False).get_config()      # a runtime choice, not the model
    with pytest.raises(ValueError, match="fused must be 'auto', True or False, got 'yes'"):
        MaxPool2D(2, fused="yes")
    if not kernels.available:
        with pytest.raises(ValueError, match=r"fused=True needs Numba: pip install scratchnn\[fast\]"):
            MaxPool2D(2, fused=True)
    # other windows always take the NumPy path, whatever `fused` says
    layer = MaxPool2D(3, 2, fused="auto")
    layer.forward(np.zeros((1, 1, 7, 7)))
    assert layer.argmax is None


def test_pool_float32_matches_float64():
    x = np.random.default_rng(13).normal(size=(3, 4, 9, 9))
    for layer in (MaxPool2D(3, 2), AvgPool2D(2), GlobalAvgPool2D()):
        y64, y32 = layer.forward(x), layer.forward(x.astype(np.float32))
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6)


def test_global_avg_pool_forward_and_gradient():
    layer = GlobalAvgPool2D()
    x = np.random.default_rng(14).normal(size=(2, 3, 4, 5))
    np.testing.assert_allclose(layer.forward(x), naive_pool(x, (4, 5), (1, 1), lambda w: sum(w) / len(w))[:, :, 0, 0])
    assert layer.forward(x).shape == (2, 3)
    assert gradient_errors(layer, x)["input"] < 1e-6


def test_pool_configs_and_bad_arguments():
    assert MaxPool2D(2).get_config() == {"kernel_size": 2, "stride": None}
    assert AvgPool2D((2, 3), stride=1).get_config() == {"kernel_size": [2, 3], "stride": 1}
    assert MaxPool2D(**MaxPool2D((3, 2), (1, 2)).get_config()).stride == (1, 2)
    assert GlobalAvgPool2D().get_config() == {}
    with pytest.raises(ValueError, match="kernel_size must be >= 1, got 0"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        AvgPool2D(2, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair of ints"):
        MaxPool2D("2")
    with pytest.raises(ValueError, match=r"MaxPool2D\(kernel_size=2\) expects input of shape "
                                         r"\(N, C, H, W\), got shape \(4, 16\)"):
        MaxPool2D(2).forward(np.zeros((4, 16)))
    with pytest.raises(ValueError, match=r"AvgPool2D\(kernel_size=3, stride=2\) needs at least one image of at least "
                                         r"3x3 pixels \(the pooling window\), got shape \(1, 1, 2, 5\)"):
        AvgPool2D(3, 2).forward(np.zeros((1, 1, 2, 5)))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2D\(\) expects input of shape "
                                         r"\(N, C, H, W\), got shape \(3,\)"):
        GlobalAvgPool2D().forward(np.zeros(3))


@pytest.mark.parametrize("kernel, stride, size", POOL_CASES)
def test_pool_output_shapes_are_the_forward_shapes(kernel, stride, size):
    x = np.zeros((2, 3) + size)
    for layer in (MaxPool2D(kernel, stride), AvgPool2D(kernel, stride), GlobalAvgPool2D()):
        assert layer.output_shape(x.shape) == layer.forward(x).shape
        assert layer.output_shape((None, 3) + size) == (None,) + layer.forward(x).shape[1:]


@pytest.mark.parametrize("kernel, stride, padding, size", [(3, 1, 0, (5, 6)), ((3, 2), (2, 1), (1, 0), (7, 6)),
                                                           (4, 1, "same", (5, 5)), (2, 3, 2, (4, 5))])
def test_conv_output_shape_is_the_forward_shape(kernel, stride, padding, size):
    layer = built(Conv2D(2, 3, kernel, stride=stride, padding=padding))
    x = np.zeros((4, 2) + size)
    assert layer.output_shape(x.shape) == layer.forward(x).shape
    assert layer.output_shape((None, 2) + size) == (None,) + layer.forward(x).shape[1:]


def test_output_shapes_validate_as_forward_does():
    cases = [
        (Conv2D(3, 4, 5, padding=1), (None, 1, 8, 8), r"Conv2D\(3, 4, kernel_size=5, padding=1\) expects input of "
                                                      r"shape \(N, 3, H, W\), got shape \(None, 1, 8, 8\)"),
        (Conv2D(3, 4, 5, padding=1), (2, 3, 8), r"got shape \(2, 3, 8\)"),
        (Conv2D(3, 4, 5, padding=1), (None, 3, 2, 9), r"at least 3x3 pixels \(a 5x5 kernel after padding\), "
                                                      r"got shape \(None, 3, 2, 9\)"),
        (Conv2D(1, 1, 5), (0, 1, 8, 8), r"needs at least one image of at least 5x5 pixels, got shape \(0, 1, 8, 8\)"),
        (MaxPool2D(2), (None, 16), r"MaxPool2D\(kernel_size=2\) expects input of shape \(N, C, H, W\), "
                                   r"got shape \(None, 16\)"),
        (AvgPool2D(3, 2), (None, 1, 2, 5), r"AvgPool2D\(kernel_size=3, stride=2\) needs at least one image of at "
                                           r"least 3x3 pixels \(the pooling window\), got shape \(None, 1, 2, 5\)"),
        (GlobalAvgPool2D(), (None, 3), r"GlobalAvgPool2D\(\) expects input of shape \(N, C, H, W\), "
                                       r"got shape \(None, 3\)"),
    ]
    for layer, shape, message in cases:
        with pytest.raises(ValueError, match=message):
            layer.output_shape(shape)
        if shape[0] is not None:                                # forward says the same
            built(layer)
            with pytest.raises(ValueError, match=message):
                layer.forward(np.zeros(shape))
    net = scratchnn.Sequential(Conv2D(1, 4, 3), MaxPool2D(2), GlobalAvgPool2D(), scratchnn.Dense(4, 2), seed=0)
    assert net.output_shapes((1, 10, 10)) == [(None, 4, 8, 8), (None, 4, 4, 4), (None, 4), (None, 2)]
    with pytest.raises(ValueError, match=r"does not fit layer 1: MaxPool2D\(kernel_size=2\) needs at least one "
                                         r"image of at least 2x2 pixels"):
        net.output_shapes((1, 3, 3))


# ---- in a network ---------------------------------------------------------------------------

def bars(count, seed):
    """8x8 images with one bright horizontal (class 0) or vertical (class 1) bar, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = rng.normal(0.0, 0.2, size=(count, 1, 8, 8))
    for image, label, where in zip(images, labels, rng.integers(1, 7, count)):
        if label == 0:
            image[0, where, :] += 1.0
        else:
            image[0, :, where] += 1.0
    return images, labels


def test_small_cnn_learns_in_a_sequential():
    X, y = bars(96, seed=15)
    net = scratchnn.Sequential(Conv2D(1, 4, 3, padding=1), scratchnn.ReLU(), MaxPool2D(2),
                               Conv2D(4, 4, 3, padding="same"), scratchnn.ReLU(), AvgPool2D(2),
                               scratchnn.Flatten(), scratchnn.Dense(16, 2), seed=0)
    history = net.fit(X, y, loss=scratchnn.CrossEntropy(), optimizer=scratchnn.Adam(1e-2),
                      epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    X_test, y_test = bars(64, seed=16)
    assert np.mean(net.predict(X_test).argmax(axis=1) == y_test) > 0.9


def test_cnn_with_batchnorm_saves_loads_and_gradchecks(tmp_path):
    import scratchnn as sn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 1, 6, 6))
    y = rng.integers(0, 3, 6)
    net = sn.Sequential(sn.Conv2D(1, 2, 3, padding=1), sn.BatchNorm(2), sn.ReLU(), sn.MaxPool2D(2),
                        sn.Conv2D(2, 3, 2, stride=1), sn.GlobalAvgPool2D(), sn.Dense(3, 3),
                        seed=0, dtype=np.float64)
    net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=2, batch_size=3, verbose=0)
    path = tmp_path / "cnn.npz"
    net.save(path)
    loaded = sn.load(path)
    assert np.array_equal(loaded.predict(X), net.predict(X))            # running statistics too
    assert np.array_equal(loaded.layers[1].running_var, net.layers[1].running_var)
    assert sn.gradcheck(net, sn.CrossEntropy(), X + 0.01, y) < 1e-6


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_both_product_layouts_give_the_same_numbers(monkeypatch, dtype, tolerance):
    """The benchmark CNN's first layer (1 channel, so per image by default) and second layer
    (32 channels, channels first by default), each run both ways: same outputs and gradients
    (to rounding: the sums run in another order)."""
    rng = np.random.default_rng(30)
    for in_channels, size in [(1, 28), (32, 14)]:
        x = rng.normal(size=(5, in_channels, size, size)).astype(dtype)
        upstream = rng.normal(size=(5, 8, size, size)).astype(dtype)
        results = []
        for depth in (10**9, 0):
            monkeypatch.setattr(conv_module, "_PER_IMAGE_DEPTH", depth)
            layer = built(Conv2D(in_channels, 8, 3, padding=1), dtype)
            y = layer.forward(x, training=True)
            results.append((y, layer.backward(upstream), layer.weight.grad.copy(), layer.bias.grad.copy()))
        for per_image, channels_first in zip(*results):
            np.testing.assert_allclose(per_image, channels_first, rtol=tolerance, atol=tolerance * 10)
    monkeypatch.undo()
    assert Conv2D(1, 32, 3)._per_image((2, 1, 28, 28)) and Conv2D(3, 8, 3)._per_image((2, 3, 9, 9))
    assert not Conv2D(32, 64, 3)._per_image((2, 32, 14, 14))


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, padding, size", [(3, 1, (14, 14)), (3, 0, (7, 9)), ((3, 2), 2, (5, 8)),
                                                   (2, "same", (6, 7)), (1, 0, (4, 4)), (5, (2, 1), (9, 6))])
def test_conv_compiled_copies_give_the_numpy_paths_bits(monkeypatch, kernel, padding, size, dtype):
    """Conv2D(fused=True) (im2col / col2im compiled) against fused=False, channels first:
    the same outputs, weight, bias and input gradients, bit for bit; a second backward after
    one forward (which rebuilds cols, see Conv2D.backward) too."""
    monkeypatch.setattr(conv_module, "_PER_IMAGE_DEPTH", 0)
    rng = np.random.default_rng(31)
    x = rng.normal(size=(3, 4) + size).astype(dtype)
    results = []
    for fused in (False, True):
        layer = built(Conv2D(4, 5, kernel, padding=padding, fused=fused), dtype)
        y = layer.forward(x, training=True)
        upstream = np.random.default_rng(32).normal(size=y.shape).astype(dtype)
        grads = [layer.backward(upstream), layer.backward(upstream)]
        results.append((y, *grads, layer.weight.grad.copy(), layer.bias.grad.copy()))
    for numpy_path, compiled in zip(*results):
        np.testing.assert_array_equal(compiled, numpy_path)


def test_conv_fused_argument():
    assert "fused" not in Conv2D(1, 2, 3, fused=False).get_config()      # a runtime choice, not the model
    with pytest.raises(ValueError, match="fused must be 'auto', True or False, got 'yes'"):
        Conv2D(1, 2, 3, fused="yes")
    if not kernels.available:
        with pytest.raises(ValueError, match=r"fused=True needs Numba: pip install scratchnn\[fast\]"):
            Conv2D(1, 2, 3, fused=True)
