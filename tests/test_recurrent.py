"""RNN, LSTM, GRU and LastStep: equal to PyTorch's layers (outputs, gradients, weights after
SGD steps) in float64, backpropagation through time against finite differences, saving,
learning a small sequence task, and bad inputs."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn import GRU, LSTM, RNN, Embedding, LastStep

from helpers import no_fp_trouble

N, T, FEATURES, HIDDEN = 3, 5, 4, 3

CASES = [(kind, extra, layers, bidirectional)
         for kind, extra in [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
         for layers in (1, 2) for bidirectional in (False, True)]
IDS = [f"{kind}{'-relu' if extra else ''}-{layers}layer{'-bi' if bi else ''}" for kind, extra, layers, bi in CASES]


def make_pair(kind, extra, num_layers, bidirectional, return_sequences=True, seed=0):
    """Our layer (in a float64 Sequential) and PyTorch's, with PyTorch's weights copied by name."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    theirs = getattr(torch.nn, kind)(FEATURES, HIDDEN, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=True, **extra).double()
    ours = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[kind](FEATURES, HIDDEN, num_layers=num_layers,
                                                      bidirectional=bidirectional,
                                                      return_sequences=return_sequences, **extra)
    net = sn.Sequential(ours, seed=1, dtype=np.float64)
    assert list(ours.named_parameters()) == [name for name, _ in theirs.named_parameters()]
    for name, parameter in theirs.named_parameters():
        ours.named_parameters()[name].value[...] = parameter.detach().numpy()
    return net, ours, theirs


def final_states(hidden, bidirectional):
    """PyTorch's h_n of the last layer, directions side by side (our return_sequences=False)."""
    torch = pytest.importorskip("torch")
    h_n = hidden[0] if isinstance(hidden, tuple) else hidden
    return torch.cat([h_n[-2], h_n[-1]], dim=1) if bidirectional else h_n[-1]


@pytest.mark.parametrize("kind, extra, num_layers, bidirectional", CASES, ids=IDS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_output_and_gradients_equal_pytorchs(kind, extra, num_layers, bidirectional, return_sequences):
    torch = pytest.importorskip("torch")
    net, ours, theirs = make_pair(kind, extra, num_layers, bidirectional, return_sequences)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, T, FEATURES))
    x_torch = torch.tensor(x, requires_grad=True)
    output, hidden = theirs(x_torch)
    expected = output if return_sequences else final_states(hidden, bidirectional)
    with no_fp_trouble():
        y = net.forward(x, training=True)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=1e-10)
    grad_output = rng.normal(size=y.shape)
    (expected * torch.tensor(grad_output)).sum().backward()            # L = Σ G ⊙ y, so dL/dy = G
    net.zero_grad()
    with no_fp_trouble():
        grad_x = net.backward(grad_output)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=0, atol=1e-10)
    for name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(ours.named_parameters()[name].grad, parameter.grad.numpy(), rtol=0,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("kind, extra, num_layers, bidirectional", CASES, ids=IDS)
def test_weights_after_sgd_steps_equal_pytorchs(kind, extra, num_layers, bidirectional):
    torch = pytest.importorskip("torch")
    net, ours, theirs = make_pair(kind, extra, num_layers, bidirectional)
    rng = np.random.default_rng(3)
    x, target = rng.normal(size=(N, T, FEATURES)), rng.normal(size=(N, T, HIDDEN * (1 + bidirectional)))
    net.fit(x, target, loss=sn.MSE(), optimizer=sn.SGD(0.5), epochs=4, batch_size=None, shuffle=False,
            verbose=0, threads=1)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.5)
    for _ in range(4):
        optimizer.zero_grad()
        output, _ = theirs(torch.tensor(x))
        (0.5 * torch.nn.functional.mse_loss(output, torch.tensor(target))).backward()   # our MSE: ½ mean
        optimizer.step()
    for name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(ours.named_parameters()[name].value, parameter.detach().numpy(), rtol=0,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("cls, extra", [(RNN, {}), (RNN, {"nonlinearity": "relu"}), (LSTM, {}), (GRU, {})])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_backpropagation_through_time_matches_finite_differences(cls, extra, return_sequences):
    rng = np.random.default_rng(4)
    layer = cls(3, 3, num_layers=2, bidirectional=True, return_sequences=return_sequences, **extra)
    net = sn.Sequential(layer, sn.Dense(6, 2), seed=5, dtype=np.float64)
    x = rng.normal(size=(2, 4, 3))
    target = rng.normal(size=(2, 4, 2) if return_sequences else (2, 2))
    assert sn.gradcheck(net, sn.MSE(), x, target) < 1e-6


def test_initialization_is_pytorchs_uniform_from_the_models_seed():
    layer = LSTM(4, 25, num_layers=2, bidirectional=True)
    sn.Sequential(layer, seed=0, dtype=np.float64)
    again = LSTM(4, 25, num_layers=2, bidirectional=True)
    sn.Sequential(again, seed=0, dtype=np.float64)
    values = np.concatenate([p.value.ravel() for p in layer.parameters()])
    assert np.abs(values).max() <= 1 / 5 and np.abs(values).max() > 0.19      # U(-1/√H, 1/√H), H = 25
    assert abs(values.mean()) < 0.01 and abs(values.std() - 0.2 / np.sqrt(3)) < 0.005
    np.testing.assert_array_equal(values, np.concatenate([p.value.ravel() for p in again.parameters()]))
    shapes = {name: p.value.shape for name, p in layer.named_parameters().items()}
    assert shapes["weight_ih_l0"] == (100, 4) and shapes["weight_ih_l1_reverse"] == (100, 50)
    assert shapes["weight_hh_l1"] == (100, 25) and shapes["bias_hh_l0_reverse"] == (100,)


def test_last_step_is_the_last_time_step_and_routes_its_gradient():
    x = np.arange(24.0).reshape(2, 3, 4)
    layer = LastStep()
    np.testing.assert_array_equal(layer.forward(x), x[:, -1])
    grad = layer.backward(np.ones((2, 4)))
    assert grad.shape == x.shape and grad[:, -1].sum() == 8 and grad[:, :-1].sum() == 0
    assert layer.output_shape((None, None, 4)) == (None, 4)


def test_last_step_after_a_one_directional_layer_equals_return_sequences_false():
    x = np.random.default_rng(6).normal(size=(3, 5, 2))
    full = sn.Sequential(GRU(2, 4), LastStep(), seed=7, dtype=np.float64)
    final = sn.Sequential(GRU(2, 4, return_sequences=False), seed=7, dtype=np.float64)
    np.testing.assert_array_equal(full.predict(x), final.predict(x))


def test_float32_model_stays_float32_and_stable_at_huge_inputs():
    net = sn.Sequential(LSTM(2, 3), GRU(3, 3), RNN(3, 2, return_sequences=False), seed=0)
    x = np.array([[[1e30, -1e30], [-3e38, 3e38]]], dtype=np.float32)
    with no_fp_trouble():
        y = net.forward(x, training=True)
        net.backward(np.ones_like(y))
    assert y.dtype == np.float32 and np.all(np.isfinite(y))


@pytest.mark.parametrize("layer", [RNN(3, 4, num_layers=2, nonlinearity="relu"),
                                   LSTM(3, 4, bidirectional=True, return_sequences=False),
                                   GRU(3, 4, num_layers=2, bidirectional=True), LastStep()])
def test_save_and_load_round_trip(layer, tmp_path):
    head = sn.Dense(4 * (1 + getattr(layer, "bidirectional", False)), 2) if not isinstance(layer, LastStep) \
        else sn.Dense(3, 2)
    net = sn.Sequential(layer, head, seed=0)
    path = tmp_path / "model.npz"
    net.save(path)
    same = sn.load(path)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    assert same.get_config() == net.get_config()
    np.testing.assert_array_equal(same.predict(x), net.predict(x))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_learns_to_recall_the_first_token_of_a_sequence(cls):
    """The class is the first of 8 tokens: the answer must travel through all 8 steps."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(400, 8))
    y = X[:, 0]
    net = sn.Sequential(Embedding(4, 8), cls(8, 16, return_sequences=False), sn.Dense(16, 4), seed=0)
    net.fit(X[:300], y[:300], loss="cross_entropy", optimizer=sn.Adam(0.02, clip_norm=1.0), epochs=25,
            batch_size=32, verbose=0)
    accuracy = np.mean(net.predict_classes(X[300:]) == y[300:])
    assert accuracy > 0.95, accuracy


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 4)), ValueError, r"LSTM\(4, 3\) expects sequences of shape \(N, T, 4\), got shape \(2, 4\)"),
    (np.zeros((2, 5, 6)), ValueError, r"expects sequences of shape \(N, T, 4\), got shape \(2, 5, 6\)"),
    (np.zeros((2, 0, 4)), ValueError, r"needs sequences of at least one step, got shape \(2, 0, 4\)"),
    (np.zeros((2, 5, 4), dtype=int), TypeError, r"LSTM expects a float array \(N, T, 4\), got array"),
])
def test_bad_input_is_refused_with_one_line(x, error, message):
    layer = LSTM(4, 3)
    sn.Sequential(layer, seed=0)
    with pytest.raises(error, match=message) as caught:
        layer.forward(x)
    assert "\n" not in str(caught.value)


def test_fit_refuses_a_wrong_width_before_touching_the_weights():
    net = sn.Sequential(GRU(4, 3, return_sequences=False), sn.Dense(3, 2), seed=0)
    before = net.flat_parameter.value.copy()
    with pytest.raises(ValueError, match=r"X of shape \(N, 5, 6\) does not fit the network: GRU\(4, 3\)"):
        net.fit(np.zeros((8, 5, 6)), np.zeros(8, dtype=int), loss="cross_entropy", optimizer="sgd", verbose=0)
    np.testing.assert_array_equal(net.flat_parameter.value, before)


def test_a_width_mismatch_after_dense_is_refused_at_construction():
    sn.Sequential(sn.Dense(3, 4), LSTM(4, 5), sn.Dense(5, 1))          # Dense keeps the time axis
    with pytest.raises(ValueError, match=r"layer 1 LSTM.*cannot take the output of layer 0 \(N, 4\)"):
        sn.Sequential(sn.Dense(3, 4), LSTM(5, 5))


@pytest.mark.parametrize("arguments, error, message", [
    ({"input_size": 0, "hidden_size": 3}, ValueError, "input_size must be >= 1, got 0"),
    ({"input_size": 2, "hidden_size": 2.5}, TypeError, "hidden_size must be a positive integer, got 2.5"),
    ({"input_size": 2, "hidden_size": 3, "num_layers": 0}, ValueError, "num_layers must be >= 1"),
    ({"input_size": 2, "hidden_size": 3, "bidirectional": "yes"}, TypeError, "bidirectional must be True or False"),
    ({"input_size": 2, "hidden_size": 3, "return_sequences": 1}, TypeError, "return_sequences must be True or False"),
    ({"input_size": 2, "hidden_size": 3, "nonlinearity": "sigmoid"}, ValueError,
     "nonlinearity must be one of 'tanh', 'relu'; got 'sigmoid'"),
])
def test_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        RNN(**arguments)


def test_two_threads_train_as_one():
    """fit(threads=2) splits each batch over two copies of the layers; the gradient is the same
    up to rounding, clipping included."""
    pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(128, 6))
    weights = []
    for threads in (1, 2):
        net = sn.Sequential(Embedding(4, 8), GRU(8, 16, bidirectional=True, return_sequences=False),
                            sn.Dense(32, 4), seed=0, dtype=np.float64)
        net.fit(X, X[:, 0], loss="cross_entropy", optimizer=sn.Adam(0.02, clip_norm=1.0), epochs=3,
                batch_size=64, verbose=0, threads=threads)
        weights.append(net.flat_parameter.value.copy())
    np.testing.assert_allclose(weights[1], weights[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_compiled_backward_step_gives_the_numpy_twins_bits(dtype):
    pytest.importorskip("numba")
    from scratchnn.kernels.recurrent import lstm_step_backward
    from scratchnn.nn.lstm import _step_backward

    rng = np.random.default_rng(3)
    grad_h, carry_h, carry_c, c_previous, tanh_c = (rng.standard_normal((5, 7)).astype(dtype) for _ in range(5))
    gate = rng.uniform(-1, 1, size=(5, 28)).astype(dtype)
    outputs = []
    for step in (lstm_step_backward, _step_backward):
        carry, delta = carry_c.copy(), gate.copy()          # δ is written over the gates
        step(grad_h, carry_h, carry, delta, c_previous, tanh_c, dtype(0.5), dtype(1))
        outputs.append((carry, delta))
    for compiled, plain in zip(*outputs):
        assert compiled.dtype == dtype and compiled.tobytes() == plain.tobytes()
    assert not np.array_equal(outputs[0][1], gate)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_fused_and_numpy_train_alike(dtype):
    x = np.random.default_rng(4).standard_normal((3, 6, 4)).astype(dtype)
    results = []
    for fused in (False, "auto"):
        layer = LSTM(4, 5, num_layers=2, bidirectional=True, fused=fused)
        layer.build(np.random.default_rng(0), dtype)
        y = layer.forward(x)
        grad_x = layer.backward(np.cos(y))
        results.append((y, grad_x, *[p.grad.copy() for p in layer.parameters()]))
    for fused, plain in zip(*results):
        np.testing.assert_array_equal(fused, plain)


def test_lstm_fused_argument():
    with pytest.raises(ValueError, match="fused must be 'auto', True or False, got 'yes'"):
        LSTM(2, 3, fused="yes")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_compiled_cell_and_output_steps_give_the_numpy_twins_bits(dtype):
    pytest.importorskip("numba")
    from scratchnn.kernels.recurrent import lstm_step_cell, lstm_step_output
    from scratchnn.nn.lstm import _step_cell, _step_output

    rng = np.random.default_rng(5)
    gate, c_previous = rng.uniform(-1, 1, size=(5, 28)).astype(dtype), rng.standard_normal((5, 7)).astype(dtype)
    outputs = []
    for cell, output in ((lstm_step_cell, lstm_step_output), (_step_cell, _step_output)):
        kept, c, h = gate.copy(), np.empty_like(c_previous), np.empty_like(c_previous)
        cell(kept, c_previous, c, dtype(0.5))
        output(kept, np.tanh(c), h, dtype(0.5))
        outputs.append((kept, c, h))
    for compiled, plain in zip(*outputs):
        assert compiled.dtype == dtype and compiled.tobytes() == plain.tobytes()
    np.testing.assert_array_equal(outputs[0][0], gate)          # the gates stay tanh(a/2), g_t
    sigma = (1 + gate.astype(np.float64)) / 2                   # σ(a) = (1 + tanh(a/2)) / 2
    expected_c = sigma[:, 7:14] * c_previous + sigma[:, :7] * gate[:, 14:21]
    np.testing.assert_allclose(outputs[0][1], expected_c, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_lstm_backward_twice_after_one_forward_is_an_error():
    layer = LSTM(2, 3)
    layer.build(np.random.default_rng(0), np.float64)
    y = layer.forward(np.ones((1, 4, 2)), training=True)
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="LSTM.backward was called twice after one forward"):
        layer.backward(np.ones_like(y))
