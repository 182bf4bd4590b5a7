"""Tests for scratchnn.activations: forward against naive `math` loops, backward against
central finite differences in float64, stability at extreme inputs, and the error paths."""

import math

import numpy as np
import pytest

from scratchnn.nn.activations import (
    ACTIVATIONS,
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    activation,
    log_softmax,
    sigmoid,
    softmax,
)
from scratchnn.gradcheck import numerical_gradient, relative_error

from helpers import no_fp_trouble

SQRT_2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


# ---- naive references: one Python float at a time, with the `math` module ---------------

def sigmoid_reference(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)                  # v < 0: e^v never overflows (it underflows to 0.0 quietly)
    return e / (1.0 + e)


def gelu_reference(v):
    return v * 0.5 * (1.0 + math.erf(v / SQRT_2))


def gelu_tanh_reference(v):
    return 0.5 * v * (1.0 + math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v**3)))


def elementwise(function):
    def reference(x):
        return np.array([function(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))
    return reference


def softmax_rows_reference(x):
    out = []
    for row in np.asarray(x, dtype=np.float64):
        top = max(float(v) for v in row)
        exps = [math.exp(float(v) - top) for v in row]
        total = sum(exps)
        out.append([e / total for e in exps])
    return np.array(out)


def log_softmax_rows_reference(x):
    out = []
    for row in np.asarray(x, dtype=np.float64):
        top = max(float(v) for v in row)
        log_total = math.log(sum(math.exp(float(v) - top) for v in row))
        out.append([float(v) - top - log_total for v in row])
    return np.array(out)


# (id, factory, reference, float64 rtol)
CASES = [
    ("sigmoid", Sigmoid, elementwise(sigmoid_reference), 1e-12),
    ("tanh", Tanh, elementwise(math.tanh), 1e-12),
    ("relu", ReLU, elementwise(lambda v: max(v, 0.0)), 1e-12),
    ("leaky_relu_0.01", lambda: LeakyReLU(negative_slope=0.01),
     elementwise(lambda v: v if v > 0 else 0.01 * v), 1e-12),
    ("leaky_relu_0.2", lambda: LeakyReLU(negative_slope=0.2),
     elementwise(lambda v: v if v > 0 else 0.2 * v), 1e-12),
    ("elu_1", lambda: ELU(alpha=1.0), elementwise(lambda v: v if v > 0 else math.expm1(v)), 1e-12),
    ("elu_0.5", lambda: ELU(alpha=0.5),
     elementwise(lambda v: v if v > 0 else 0.5 * math.expm1(v)), 1e-12),
    ("gelu_none", lambda: GELU(approximate="none"), elementwise(gelu_reference), 1e-12),
    ("gelu_tanh", lambda: GELU(approximate="tanh"), elementwise(gelu_tanh_reference), 1e-12),
    ("softmax", Softmax, softmax_rows_reference, 1e-12),
    ("identity", Identity, elementwise(lambda v: v), 0.0),
]
IDS = [case[0] for case in CASES]


def gelu_tanh_derivative(v):
    t = math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v**3))
    return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v)


def normal_pdf(v):
    return math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi) if abs(v) < 1e100 else 0.0


# dy/dx of the elementwise activations, written out (softmax has a Jacobian: tested apart)
DERIVATIVES = {
    "sigmoid": lambda v: sigmoid_reference(v) * (1 - sigmoid_reference(v)),
    "tanh": lambda v: 1 - math.tanh(v) ** 2,
    "relu": lambda v: 1.0 if v > 0 else 0.0,
    "leaky_relu_0.01": lambda v: 1.0 if v > 0 else 0.01,
    "leaky_relu_0.2": lambda v: 1.0 if v > 0 else 0.2,
    "elu_1": lambda v: 1.0 if v > 0 else math.exp(v),
    "elu_0.5": lambda v: 1.0 if v > 0 else 0.5 * math.exp(v),
    "gelu_none": lambda v: 0.5 * (1 + math.erf(v / SQRT_2)) + (v * normal_pdf(v) if abs(v) < 40 else 0.0),
    "gelu_tanh": lambda v: gelu_tanh_derivative(v) if abs(v) < 1e100 else (1.0 if v > 0 else 0.0),
    "identity": lambda v: 1.0,
}

EXTREMES = [-1e30, -1e4, -1000, -800, -100, -88, 0, 88, 100, 800, 1000, 1e4, 1e30]


def random_inputs(seed, shape=(4, 6), low=0.05, high=4.0):
    """Values with |x| in [low, high] and a random sign: away from the ReLU kink at 0."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# ---- forward ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, make, reference, rtol", CASES, ids=IDS)
def test_forward_matches_naive_reference_float64(name, make, reference, rtol):
    x = random_inputs(1, low=0.0, high=6.0)
    y = make().forward(x)
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, reference(x), rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("name, make, reference, rtol", CASES, ids=IDS)
def test_forward_matches_naive_reference_float32(name, make, reference, rtol):
    x = random_inputs(2, low=0.0, high=6.0).astype(np.float32)
    y = make().forward(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    expected = reference(x.astype(np.float64))
    # 1e-6 relative; the small absolute part covers float32 cancellation in 1 + erf(x) for x << 0
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_forward_on_blog_values():
    np.testing.assert_array_equal(Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(ReLU().forward(np.array([[-2.0, 0.0, 3.0]])), [[0.0, 0.0, 3.0]])
    assert GELU().forward(np.array([0.0]))[0] == 0.0
    x = np.array([[1.0, 2.0]])
    assert Identity().forward(x) is x


# ---- backward ----------------------------------------------------------------------------

def check_backward(layer, x, seed):
    """Max relative error of layer.backward against central differences of sum(g · f(x))."""
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, size=x.shape) * \
        np.random.default_rng(seed + 1).choice([-1.0, 1.0], size=x.shape)
    layer.forward(x.copy(), training=False)
    analytic = layer.backward(upstream).copy()
    assert analytic.shape == x.shape and analytic.dtype == x.dtype
    work = x.copy()
    numeric = numerical_gradient(lambda: float(np.sum(upstream * layer.forward(work))), work)
    return relative_error(analytic, numeric).max()


@pytest.mark.parametrize("name, make, reference, rtol", CASES, ids=IDS)
def test_backward_matches_finite_differences(name, make, reference, rtol):
    x = random_inputs(3, shape=(3, 5), low=0.05, high=3.0)
    if name.startswith("gelu"):
        # d(x·Φ(x))/dx crosses zero near x = -0.75; a relative error there measures only noise
        x = np.where(np.abs(x + 0.75) < 0.15, x + 0.5, x)
    assert np.all(np.abs(x) > 1e-3)
    error = check_backward(make(), x, seed=4)
    assert error < 1e-6, f"{name}: relative error {error:.3g}"


def test_backward_of_relu_family_at_known_points():
    x = np.array([[-2.0, -0.5, 0.5, 2.0]])
    ones = np.ones_like(x)
    relu = ReLU()
    relu.forward(x)
    np.testing.assert_array_equal(relu.backward(ones), [[0, 0, 1, 1]])
    leaky = LeakyReLU(0.2)
    leaky.forward(x)
    np.testing.assert_allclose(leaky.backward(ones), [[0.2, 0.2, 1, 1]], rtol=1e-15)
    elu = ELU(alpha=0.5)
    elu.forward(x)
    np.testing.assert_allclose(elu.backward(ones), [[0.5 * math.exp(-2), 0.5 * math.exp(-0.5), 1, 1]],
                               rtol=1e-15)


def test_softmax_backward_equals_jacobian_product():
    x = random_inputs(5, shape=(3, 4))
    upstream = np.random.default_rng(6).normal(size=x.shape)
    layer = Softmax()
    y = layer.forward(x)
    grad = layer.backward(upstream)
    for n in range(x.shape[0]):                  # J_ij = y_i (δ_ij − y_j), dL/dx = J^T g
        jacobian = np.diag(y[n]) - np.outer(y[n], y[n])
        np.testing.assert_allclose(grad[n], jacobian.T @ upstream[n], rtol=1e-12, atol=1e-15)


# ---- stability ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, make, reference, rtol", CASES, ids=IDS)
def test_extreme_inputs_give_finite_values_without_warnings(name, make, reference, rtol, dtype):
    x = np.array([EXTREMES], dtype=dtype)
    assert np.all(np.isfinite(x))                # every value is representable in float32
    layer = make()
    with no_fp_trouble():
        y = layer.forward(x)
        grad = layer.backward(np.ones_like(x))
    assert y.dtype == dtype and grad.dtype == dtype
    assert np.all(np.isfinite(y)), f"{name} forward: {y}"
    assert np.all(np.isfinite(grad)), f"{name} backward: {grad}"
    # and they are the right values, not merely finite ones
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    tiny = np.finfo(dtype).tiny                  # below it, subnormals carry few digits
    np.testing.assert_allclose(y, reference(x.astype(np.float64)), rtol=rtol, atol=tiny)
    if name in DERIVATIVES:
        expected = elementwise(DERIVATIVES[name])(x.astype(np.float64))
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=tiny)


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_backward_matches_written_out_derivative(name):
    make = {case[0]: case[1] for case in CASES}[name]
    x = random_inputs(8, shape=(3, 5), low=0.05, high=6.0)
    layer = make()
    layer.forward(x)
    upstream = np.random.default_rng(9).normal(size=x.shape)
    expected = upstream * elementwise(DERIVATIVES[name])(x)
    # the tanh form's derivative cancels (1 + t with t ≈ −1) for x << 0: 1 ulp of tanh grows
    rtol = 1e-9 if name == "gelu_tanh" else 1e-12
    np.testing.assert_allclose(layer.backward(upstream), expected, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_correctly(dtype):
    x = np.array(EXTREMES, dtype=dtype)
    with no_fp_trouble():
        y = Sigmoid().forward(x)
    assert 0.0 <= y[1] < 1e-30                   # sigmoid(-1e4): 0 or a tiny positive number
    assert y[0] == 0.0 and y[-1] == 1.0 and y[-2] == 1.0   # sigmoid(±1e30), sigmoid(1e4)
    assert y[6] == 0.5
    assert np.all((y >= 0) & (y <= 1)) and np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_rows_sum_to_one_at_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e30, -1e30, 1e30], [0.0, 0.0, 1000.0]],
                 dtype=dtype)
    with no_fp_trouble():
        y = Softmax().forward(x)
        s = softmax(x)
    np.testing.assert_array_equal(y, s)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.0], atol=1e-30)
    np.testing.assert_allclose(y[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(y[2], [0.5, 0.0, 0.5], rtol=1e-6)


# ---- the module functions ----------------------------------------------------------------------

def test_sigmoid_function_matches_reference():
    x = np.linspace(-50, 50, 1001)
    np.testing.assert_allclose(sigmoid(x), elementwise(sigmoid_reference)(x), rtol=1e-13, atol=0)


def test_sigmoid_equals_blog_formula():
    """The blog's 1 / (1 + np.exp(-x)) is exact to ~1 ulp where it does not overflow; the
    library's stable form should agree with it to 1e-15 relative on [-30, 30]."""
    x = np.linspace(-30, 30, 6001)
    blog = 1 / (1 + np.exp(-x))
    error = np.abs(sigmoid(x) - blog) / blog
    worst = int(error.argmax())
    assert error.max() <= 1e-15, f"relative error {error.max():.3g} at x = {x[worst]}"


def test_softmax_and_log_softmax_functions_match_reference():
    x = random_inputs(7, shape=(5, 4), low=0.0, high=10.0)
    np.testing.assert_allclose(softmax(x), softmax_rows_reference(x), rtol=1e-12)
    np.testing.assert_allclose(log_softmax(x), log_softmax_rows_reference(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.exp(log_softmax(x)), softmax(x), rtol=1e-12)
    np.testing.assert_allclose(softmax(x, axis=0), softmax_rows_reference(x.T).T, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_of_huge_gap_is_exact(dtype):
    with no_fp_trouble():
        result = log_softmax(np.array([[1000.0, 0.0]], dtype=dtype))
        far = log_softmax(np.array([[1e30, -1e30]], dtype=dtype))
    assert result.dtype == dtype
    np.testing.assert_allclose(result, [[0.0, -1000.0]], rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(far)) and far[0, 0] == 0.0


# ---- error paths and the factory ----------------------------------------------------------------

@pytest.mark.parametrize("slope", [-1, 2, -0.01, float("nan")])
def test_leaky_relu_refuses_slope_outside_0_1(slope):
    with pytest.raises(ValueError, match="negative_slope must be in"):
        LeakyReLU(negative_slope=slope)


def test_leaky_relu_refuses_non_number():
    with pytest.raises(TypeError, match="negative_slope must be a number"):
        LeakyReLU(negative_slope="0.1")


@pytest.mark.parametrize("alpha", [0, -1.0, float("inf")])
def test_elu_refuses_non_positive_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be in"):
        ELU(alpha=alpha)


def test_gelu_refuses_unknown_approximation():
    with pytest.raises(ValueError, match="approximate must be one of 'none', 'tanh'"):
        GELU(approximate="fast")


def test_get_config_round_trips():
    for layer in [LeakyReLU(0.2), ELU(0.5), GELU("tanh"), Sigmoid()]:
        clone = type(layer)(**layer.get_config())
        assert repr(clone) == repr(layer)
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


def test_activation_factory():
    relu = activation("relu")
    assert isinstance(relu, ReLU)
    np.testing.assert_array_equal(relu.forward(np.array([[-1.0, 2.0]])), [[0.0, 2.0]])
    for name, cls in ACTIVATIONS.items():
        assert type(activation(name)) is cls
    assert activation("relu") is not activation("relu")          # a fresh layer each time


@pytest.mark.parametrize("name", ["bogus", "ReLU", 3, None])
def test_activation_factory_refuses_unknown_name(name):
    with pytest.raises(ValueError, match="activation must be one of .*'relu'"):
        activation(name)


def test_the_strict_context_does_catch_overflow():
    """The stability tests above would prove nothing if the context let overflow through."""
    with pytest.raises(FloatingPointError, match="overflow"), no_fp_trouble():
        np.exp(np.array([1000.0]))
    with pytest.raises(FloatingPointError, match="overflow"), no_fp_trouble():
        1 / (1 + np.exp(-np.array([-1000.0], dtype=np.float32)))   # the blog's formula


@pytest.mark.skipif(not __import__("scratchnn").kernels.available, reason="Numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_relu_gradient_gives_the_numpy_lines_bits(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 30, 30)).astype(dtype)             # large enough for the compiled pass
    x.flat[:5] = [0.0, -0.0, np.nan, np.inf, -np.inf]
    grad = rng.normal(size=x.shape).astype(dtype)
    grad.flat[5:9] = [np.inf, np.nan, -np.inf, -0.0]
    fused, plain = ReLU(fused=True), ReLU(fused=False)
    np.testing.assert_array_equal(fused.forward(x), plain.forward(x))
    with np.errstate(invalid="ignore"):                            # inf · 0 in both
        assert fused.backward(grad).tobytes() == plain.backward(grad).tobytes()   # signed zeros, NaN too
    small = np.array([[-1.0, 2.0]], dtype)                         # small or strided: the NumPy line
    fused.forward(small)
    np.testing.assert_array_equal(fused.backward(np.ones_like(small)), [[0.0, 1.0]])


def test_relu_fused_argument():
    with pytest.raises(ValueError, match="fused must be 'auto', True or False, got 'yes'"):
        ReLU(fused="yes")
    with pytest.raises(ValueError, match="fused must be 'auto', True or False, got 1"):
        ReLU(fused=1)
    assert ReLU(fused=False).get_config() == {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gelu_compiled_erf_gives_math_erfs_bits(dtype):
    """GELU(fused=True) takes erf from a compiled loop over math.erf, fused=False from
    np.frompyfunc(math.erf): the same outputs and gradients, bit for bit (float16, which the
    compiled loop does not take, falls back to math.erf)."""
    pytest.importorskip("numba")
    x = (np.random.default_rng(3).normal(size=(64, 33)) * 4).astype(dtype)
    x[0, :4] = [0.0, -0.0, 40.0, -45.0]
    upstream = np.random.default_rng(4).normal(size=x.shape).astype(dtype)
    results = []
    for fused in (False, True):
        layer = GELU(fused=fused)
        results.append((layer.forward(x), layer.backward(upstream)))
    for plain, compiled in zip(*results):
        assert compiled.dtype == dtype
        np.testing.assert_array_equal(compiled, plain)


def test_gelu_fused_argument():
    assert GELU(fused=False).get_config() == {"approximate": "none"}      # a runtime choice
    with pytest.raises(ValueError, match="fused must be 'auto', True or False"):
        GELU(fused="fast")

