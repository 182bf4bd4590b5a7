"""Tests for scratchnn.optim: every optimizer against a reference written out from the
textbook / PyTorch formulas (and against PyTorch itself when it is installed), per-parameter
state, saving and restoring state, the error paths, and convergence on a quadratic."""

import math

import numpy as np
import pytest

import scratchnn as sn

from scratchnn.nn.base import Parameter
from scratchnn.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer

SHAPE = (3, 4)
STEPS = 5


# ---- references: one plain loop per optimizer, state in local variables -------------------------

def sgd_reference(w, grads, learning_rate, momentum=0.0, nesterov=False, weight_decay=0.0):
    w, velocity, out = w.copy(), np.zeros_like(w), []
    for g in grads:
        g = g + weight_decay * w                          # L2 penalty folded into the gradient
        if momentum:
            velocity = momentum * velocity + g            # v_t = μ v_{t−1} + g_t
            g = g + momentum * velocity if nesterov else velocity
        w = w - learning_rate * g
        out.append(w.copy())
    return out


def adam_reference(w, grads, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                   weight_decay=0.0, decoupled=False):
    w, m, v, out = w.copy(), np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w - learning_rate * weight_decay * w      # AdamW: shrink the weights directly
        else:
            g = g + weight_decay * w                      # Adam: L2 in the gradient
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)                       # bias corrections
        v_hat = v / (1 - beta_2**t)
        w = w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
        out.append(w.copy())
    return out


def rmsprop_reference(w, grads, learning_rate, rho=0.9, momentum=0.0, epsilon=1e-7):
    w, square, buffer, out = w.copy(), np.zeros_like(w), np.zeros_like(w), []
    for g in grads:
        square = rho * square + (1 - rho) * g**2
        step = g / (np.sqrt(square) + epsilon)
        if momentum:
            buffer = momentum * buffer + step
            step = buffer
        w = w - learning_rate * step
        out.append(w.copy())
    return out


def adagrad_reference(w, grads, learning_rate, initial_accumulator_value=0.0, epsilon=1e-10):
    w, total, out = w.copy(), np.full_like(w, initial_accumulator_value), []
    for g in grads:
        total = total + g**2
        w = w - learning_rate * g / (np.sqrt(total) + epsilon)
        out.append(w.copy())
    return out


# (id, class, keyword arguments, reference)
CASES = [
    ("sgd", SGD, {"learning_rate": 0.1}, sgd_reference),
    ("sgd_momentum", SGD, {"learning_rate": 0.1, "momentum": 0.9}, sgd_reference),
    ("sgd_nesterov", SGD, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, sgd_reference),
    ("sgd_weight_decay", SGD, {"learning_rate": 0.1, "weight_decay": 0.05}, sgd_reference),
    ("sgd_all", SGD, {"learning_rate": 0.05, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01}, sgd_reference),
    ("adam", Adam, {"learning_rate": 0.01}, adam_reference),
    ("adam_options", Adam, {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}, adam_reference),
    ("adam_weight_decay", Adam, {"learning_rate": 0.01, "weight_decay": 0.1}, adam_reference),
    ("adamw", AdamW, {"learning_rate": 0.01, "weight_decay": 0.1},
     lambda w, g, **kw: adam_reference(w, g, decoupled=True, **kw)),
    ("adamw_default_decay", AdamW, {"learning_rate": 0.01},
     lambda w, g, **kw: adam_reference(w, g, decoupled=True, weight_decay=0.01, **kw)),
    ("rmsprop", RMSprop, {"learning_rate": 0.01, "rho": 0.9}, rmsprop_reference),
    ("rmsprop_momentum", RMSprop, {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.9, "epsilon": 1e-6},
     rmsprop_reference),
    ("adagrad", Adagrad, {"learning_rate": 0.1}, adagrad_reference),
    ("adagrad_initial", Adagrad, {"learning_rate": 0.1, "initial_accumulator_value": 0.1, "epsilon": 1e-8},
     adagrad_reference),
]
IDS = [case[0] for case in CASES]


def problem(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=SHAPE), [rng.normal(size=SHAPE) for _ in range(STEPS)]


def run_ours(optimizer, w0, grads):
    parameter = Parameter(w0.copy(), name="w")
    out = []
    for g in grads:
        parameter.grad[...] = g
        optimizer.step([parameter])
        out.append(parameter.value.copy())
    return out


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_matches_reference(name, cls, kwargs, reference):
    w0, grads = problem(0)
    ours = run_ours(cls(**kwargs), w0, grads)
    expected = reference(w0, grads, **kwargs)
    for step, (a, b) in enumerate(zip(ours, expected), start=1):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{name}, step {step}")
    assert not np.allclose(ours[-1], w0)                  # it did move


def test_sgd_is_the_blogs_update():
    w0, grads = problem(1)
    parameter = Parameter(w0.copy())
    parameter.grad[...] = grads[0]
    SGD(learning_rate=0.5).step([parameter])
    np.testing.assert_array_equal(parameter.value, w0 + 0.5 * (-grads[0]))


def test_update_is_in_place():
    parameter = Parameter(np.ones(SHAPE))
    view = parameter.value[0]
    parameter.grad[...] = 1.0
    for optimizer in (SGD(0.1, momentum=0.9), Adam(0.1), AdamW(0.1), RMSprop(0.1), Adagrad(0.1)):
        before = parameter.value
        optimizer.step([parameter])
        assert parameter.value is before
    assert np.all(view < 1)


def test_iterations_count_steps():
    optimizer = Adam()
    parameter = Parameter(np.zeros(3))
    for _ in range(3):
        optimizer.step([parameter])
    assert optimizer.iterations == 3


# ---- PyTorch, when installed ---------------------------------------------------------------------

def torch_optimizer(torch, cls, kwargs, params):
    lr = kwargs["learning_rate"]
    if cls is SGD:
        return torch.optim.SGD(params, lr=lr, momentum=kwargs.get("momentum", 0.0),
                               nesterov=kwargs.get("nesterov", False),
                               weight_decay=kwargs.get("weight_decay", 0.0), foreach=False)
    if cls in (Adam, AdamW):
        ours = cls(**kwargs)
        torch_cls = torch.optim.AdamW if cls is AdamW else torch.optim.Adam
        return torch_cls(params, lr=lr, betas=(ours.beta_1, ours.beta_2), eps=ours.epsilon,
                         weight_decay=ours.weight_decay, foreach=False)
    if cls is RMSprop:
        ours = cls(**kwargs)
        return torch.optim.RMSprop(params, lr=lr, alpha=ours.rho, eps=ours.epsilon,
                                   momentum=ours.momentum, foreach=False)
    if cls is Adagrad:
        ours = cls(**kwargs)
        return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=ours.initial_accumulator_value,
                                   eps=ours.epsilon, foreach=False)
    raise AssertionError(cls)


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_matches_pytorch(name, cls, kwargs, reference):
    torch = pytest.importorskip("torch")
    w0, grads = problem(2)
    weight = torch.tensor(w0.copy(), dtype=torch.float64, requires_grad=True)
    optimizer = torch_optimizer(torch, cls, kwargs, [weight])
    theirs = []
    for g in grads:
        weight.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        theirs.append(weight.detach().numpy().copy())
    ours = run_ours(cls(**kwargs), w0, grads)
    for step, (a, b) in enumerate(zip(ours, theirs), start=1):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{name}, step {step}")


# ---- state ----------------------------------------------------------------------------------------

STATE_NAMES = {
    "sgd": set(), "sgd_momentum": {"velocity"}, "adam": {"m", "v", "step"}, "adamw": {"m", "v", "step"},
    "rmsprop": {"square_average"}, "rmsprop_momentum": {"square_average", "buffer"},
    "adagrad": {"sum_of_squares"},
}


@pytest.mark.parametrize("name, cls, kwargs, reference", [c for c in CASES if c[0] in STATE_NAMES],
                         ids=[c[0] for c in CASES if c[0] in STATE_NAMES])
def test_state_is_kept_per_parameter(name, cls, kwargs, reference):
    optimizer = cls(**kwargs)
    a, b = Parameter(np.ones(SHAPE)), Parameter(np.ones((2,)))
    a.grad[...], b.grad[...] = 1.0, 2.0
    optimizer.step([a, b])
    assert set(optimizer.state) == {a, b}
    assert set(optimizer.state[a]) == STATE_NAMES[name] == set(optimizer.state[b])
    for key in STATE_NAMES[name] - {"step"}:
        assert optimizer.state[a][key].shape == SHAPE and optimizer.state[b][key].shape == (2,)
        assert not np.shares_memory(optimizer.state[a][key], optimizer.state[b][key])
    if "step" in STATE_NAMES[name]:                                  # Adam counts steps per parameter
        assert int(optimizer.state[a]["step"]) == int(optimizer.state[b]["step"]) == 1
    assert not hasattr(a, "velocity") and not hasattr(a, "m")      # nothing stored on the parameter


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_one_step_over_a_list_equals_separate_optimizers(name, cls, kwargs, reference):
    w_a, grads_a = problem(3)
    w_b, grads_b = problem(4)
    a, b = Parameter(w_a.copy()), Parameter(w_b.copy())
    together = cls(**kwargs)
    for g_a, g_b in zip(grads_a, grads_b):
        a.grad[...], b.grad[...] = g_a, g_b
        together.step([a, b])
    np.testing.assert_array_equal(a.value, run_ours(cls(**kwargs), w_a, grads_a)[-1])
    np.testing.assert_array_equal(b.value, run_ours(cls(**kwargs), w_b, grads_b)[-1])


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_one_step_over_a_flat_buffer_equals_steps_per_parameter(name, cls, kwargs, reference):
    """What Sequential.fit relies on: every update is elementwise."""
    w_a, grads_a = problem(5)
    w_b, grads_b = problem(6)
    flat = Parameter(np.concatenate([w_a.ravel(), w_b.ravel()]))
    a, b = Parameter(w_a.copy()), Parameter(w_b.copy())
    one, many = cls(**kwargs), cls(**kwargs)
    for g_a, g_b in zip(grads_a, grads_b):
        flat.grad[...] = np.concatenate([g_a.ravel(), g_b.ravel()])
        one.step([flat])
        a.grad[...], b.grad[...] = g_a, g_b
        many.step([a, b])
    np.testing.assert_array_equal(flat.value, np.concatenate([a.value.ravel(), b.value.ravel()]))


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_parameters_stepped_in_separate_calls_have_independent_state(name, cls, kwargs, reference):
    """One optimizer, one `step` call per parameter (a hand-written loop over layers): each
    parameter must follow its own reference trajectory, as with PyTorch, where the step count
    t is part of each parameter's state."""
    w_a, grads_a = problem(7)
    w_b, grads_b = problem(8)
    a, b = Parameter(w_a.copy()), Parameter(w_b.copy())
    optimizer = cls(**kwargs)
    for g_a, g_b in zip(grads_a, grads_b):
        a.grad[...], b.grad[...] = g_a, g_b
        optimizer.step([a])
        optimizer.step([b])
    np.testing.assert_allclose(a.value, reference(w_a, grads_a, **kwargs)[-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.value, reference(w_b, grads_b, **kwargs)[-1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=IDS)
def test_state_arrays_round_trip(name, cls, kwargs, reference):
    w_a, grads_a = problem(9)
    w_b, grads_b = problem(10)
    a, b = Parameter(w_a.copy()), Parameter(w_b.copy())
    first = cls(**kwargs)
    for g_a, g_b in list(zip(grads_a, grads_b))[:3]:
        a.grad[...], b.grad[...] = g_a, g_b
        first.step([a, b])
    saved = {key: array.copy() for key, array in first.state_arrays([a, b]).items()}
    expected_keys = {f"{i}.{key}" for i in (0, 1) for key in first.state.get(a, {})}
    assert set(saved) == expected_keys
    # a fresh optimizer and fresh parameters with the same values, as after loading a file
    a2, b2 = Parameter(a.value.copy()), Parameter(b.value.copy())
    second = cls(**kwargs)
    second.load_state_arrays([a2, b2], saved, first.iterations)
    assert second.iterations == first.iterations == 3
    for g_a, g_b in list(zip(grads_a, grads_b))[3:]:
        a.grad[...], b.grad[...] = g_a, g_b
        a2.grad[...], b2.grad[...] = g_a, g_b
        first.step([a, b])
        second.step([a2, b2])
    np.testing.assert_array_equal(a2.value, a.value)
    np.testing.assert_array_equal(b2.value, b.value)


def test_load_state_arrays_copies_into_the_parameter_dtype():
    parameter = Parameter(np.zeros(3, dtype=np.float32))
    optimizer = Adam()
    optimizer.load_state_arrays([parameter], {"0.m": np.ones(3), "0.v": np.ones(3)}, 4)
    assert optimizer.state[parameter]["m"].dtype == np.float32
    assert optimizer.iterations == 4


# ---- error paths ----------------------------------------------------------------------------------

ALL = [SGD, Adam, AdamW, RMSprop, Adagrad]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("learning_rate", [0, -1, float("nan"), float("inf"), -0.0])
def test_learning_rate_must_be_positive_and_finite(cls, learning_rate):
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        cls(learning_rate=learning_rate)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("learning_rate", ["0.1", True, None, [0.1]])
def test_learning_rate_must_be_a_number(cls, learning_rate):
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        cls(learning_rate=learning_rate)


@pytest.mark.parametrize("cls", [SGD, RMSprop])
@pytest.mark.parametrize("momentum", [1.0, -0.5, 2])
def test_momentum_must_be_in_0_1(cls, momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0.0, 1.0\)"):
        cls(learning_rate=0.1, momentum=momentum)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(0.1, momentum=0.0, nesterov=True)
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        SGD(0.1, momentum=0.9, nesterov=1)


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("argument", ["beta_1", "beta_2"])
@pytest.mark.parametrize("value", [1, 1.0, -0.1])
def test_betas_must_be_in_0_1(cls, argument, value):
    with pytest.raises(ValueError, match=rf"{argument} must be in \[0.0, 1.0\)"):
        cls(**{argument: value})


@pytest.mark.parametrize("cls", [Adam, AdamW, RMSprop, Adagrad])
@pytest.mark.parametrize("epsilon", [0, -1e-8])
def test_epsilon_must_be_positive(cls, epsilon):
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        cls(epsilon=epsilon)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_weight_decay_must_not_be_negative(cls):
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        cls(weight_decay=-0.1)


def test_rho_must_be_in_0_1():
    with pytest.raises(ValueError, match=r"rho must be in \[0.0, 1.0\)"):
        RMSprop(rho=1.0)


def test_get_optimizer():
    for name, cls in [("sgd", SGD), ("adam", Adam), ("adamw", AdamW), ("rmsprop", RMSprop), ("adagrad", Adagrad)]:
        assert type(get_optimizer(name)) is cls
    own = SGD(0.3)
    assert get_optimizer(own) is own and isinstance(own, Optimizer)
    assert repr(own) == "SGD(learning_rate=0.3, momentum=0.0, nesterov=False, weight_decay=0.0)"


def test_get_optimizer_refuses_unknown_name():
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', .*; got 'bogus'"):
        get_optimizer("bogus")


def test_get_optimizer_refuses_non_optimizer():
    with pytest.raises(TypeError, match="optimizer must be a scratchnn optimizer"):
        get_optimizer(0.1)


# ---- convergence -----------------------------------------------------------------------------------

CONVERGENCE = [
    ("sgd", lambda: SGD(0.2)),
    ("sgd_momentum", lambda: SGD(0.05, momentum=0.9)),
    ("sgd_nesterov", lambda: SGD(0.05, momentum=0.9, nesterov=True)),
    ("adam", lambda: Adam(0.05)),
    ("adamw", lambda: AdamW(0.05, weight_decay=1e-4)),
    ("rmsprop", lambda: RMSprop(0.01)),
    ("rmsprop_momentum", lambda: RMSprop(0.005, momentum=0.5)),
    ("adagrad", lambda: Adagrad(0.5)),
]


@pytest.mark.parametrize("name, make", CONVERGENCE, ids=[c[0] for c in CONVERGENCE])
def test_minimizes_a_quadratic(name, make):
    """f(w) = ½ Σ a_i (w_i − c_i)², ill-conditioned by a factor of 4; minimum at w = c."""
    rng = np.random.default_rng(11)
    curvature, centre = rng.uniform(0.5, 2.0, size=SHAPE), rng.normal(size=SHAPE)
    parameter = Parameter(centre + rng.normal(0, 2, size=SHAPE))

    def f():
        return 0.5 * float(np.sum(curvature * (parameter.value - centre) ** 2))

    start = f()
    optimizer = make()
    for _ in range(500):
        parameter.grad[...] = curvature * (parameter.value - centre)
        optimizer.step([parameter])
    assert math.isfinite(f()) and f() < 1e-4 * start, f"{name}: {start:.3g} -> {f():.3g}"
    assert np.abs(parameter.value - centre).max() < 0.05


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [sn.Adam, sn.AdamW])
def test_fused_adam_gives_the_same_bits_as_numpy(cls, dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    fused = Parameter(rng.normal(size=1000).astype(dtype))
    plain = Parameter(fused.value.copy())
    fast, slow = cls(0.01, fused=True), cls(0.01, fused=False)
    for _ in range(10):
        grad = (rng.normal(size=1000) * 10.0 ** rng.integers(-8, 3)).astype(dtype)
        fused.grad[...] = grad
        plain.grad[...] = grad
        fast.step([fused])
        slow.step([plain])
    assert np.array_equal(fused.value, plain.value)
    assert np.array_equal(fast.state[fused]["v"], slow.state[plain]["v"])


@pytest.mark.parametrize("cls", [sn.Adam, sn.AdamW, sn.SGD, sn.RMSprop, sn.Adagrad])
def test_fused_argument_is_checked(cls):
    with pytest.raises(ValueError, match="fused must be 'auto', True or False"):
        cls(fused="yes")
    assert "fused" not in cls(fused=False).get_config()       # a runtime choice, not the model


@pytest.mark.parametrize("fused", [False, "auto"])
def test_adam_flushes_subnormal_state_to_zero(fused):
    """A gradient that turns 0 makes m shrink by beta_1 per step into subnormal floats, which
    are slow; Adam flushes them, in both paths alike, without changing the weights."""
    value = np.ones(4, dtype=np.float32)
    parameter = Parameter(value)
    optimizer = Adam(1e-3, fused=fused)
    parameter.grad[...] = 1e-3
    optimizer.step([parameter])
    parameter.grad[...] = 0.0
    for _ in range(900):                               # 0.9^900 · 1e-4 is far below float32's tiny
        optimizer.step([parameter])
    m, v = optimizer.state[parameter]["m"], optimizer.state[parameter]["v"]
    tiny = np.finfo(np.float32).tiny
    assert not np.any((m != 0) & (np.abs(m) < tiny)) and not np.any((v != 0) & (v < tiny))
    assert np.all(m == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda fused: sn.SGD(0.01, momentum=0.9, fused=fused),
    lambda fused: sn.SGD(0.01, momentum=0.5, nesterov=True, weight_decay=1e-3, fused=fused),
    lambda fused: sn.RMSprop(0.01, fused=fused),
    lambda fused: sn.RMSprop(0.01, rho=0.8, momentum=0.9, epsilon=1e-6, fused=fused),
    lambda fused: sn.Adagrad(0.05, initial_accumulator_value=0.1, fused=fused),
], ids=["sgd-momentum", "sgd-nesterov-decay", "rmsprop", "rmsprop-momentum", "adagrad"])
def test_fused_sgd_rmsprop_adagrad_give_the_same_bits_as_numpy(make, dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(1)
    fused = Parameter(rng.normal(size=(40, 25)).astype(dtype))
    plain = Parameter(fused.value.copy())
    fast, slow = make(True), make(False)
    for step in range(30):
        grad = (rng.normal(size=(40, 25)) * 10.0 ** rng.integers(-8, 3)).astype(dtype)
        if step > 20:
            grad[:10] = 0                          # decaying state: the subnormal flush runs too
        fused.grad[...] = grad
        plain.grad[...] = grad
        fast.step([fused])
        slow.step([plain])
    assert np.array_equal(fused.value, plain.value)
    for name in slow.state[plain]:
        assert np.array_equal(fast.state[fused][name], slow.state[plain][name]), name


@pytest.mark.parametrize("fused", [False, "auto"])
@pytest.mark.parametrize("make, names", [
    (lambda fused: sn.SGD(1e-3, momentum=0.9, fused=fused), ["velocity"]),
    (lambda fused: sn.RMSprop(1e-3, momentum=0.9, fused=fused), ["square_average", "buffer"]),
])
def test_sgd_and_rmsprop_flush_subnormal_state_to_zero(make, names, fused):
    """As Adam: state that decays towards 0 once the gradient is 0 is flushed when it would
    turn subnormal (measured: SGD with momentum on the MLP, 0.60 s per epoch at the second
    epoch, 0.70 s from the third, with 5,792 subnormal velocities, before this flush)."""
    parameter = Parameter(np.ones(4, dtype=np.float32))
    optimizer = make(fused)
    parameter.grad[...] = 1e-3
    optimizer.step([parameter])
    parameter.grad[...] = 0.0
    tiny = np.finfo(np.float32).tiny
    for _ in range(1200):                              # 0.9^1200 · 1e-3 is far below tiny
        optimizer.step([parameter])
        for name in names:
            state = optimizer.state[parameter][name]
            assert not np.any((state != 0) & (np.abs(state) < tiny)), name
    assert all(np.all(optimizer.state[parameter][name] == 0) for name in names)
