"""Embedding: equal to PyTorch's nn.Embedding (lookup, scatter-added gradient, weights after
SGD steps), finite differences, integer inputs through fit / predict / evaluate / threads,
saving, and bad inputs."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.gradcheck import numerical_gradient
from scratchnn.nn import LSTM, Embedding

INDICES = np.array([[0, 3, 3, 1], [4, 4, 4, 2], [1, 0, 3, 3]])     # repeats: the gradient adds them


def torch_pair(seed=0):
    """Our Embedding(5, 3) -> Dense(3, 2) and PyTorch's Embedding -> Linear, same weights."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    embedding, linear = torch.nn.Embedding(5, 3).double(), torch.nn.Linear(3, 2).double()
    net = sn.Sequential(Embedding(5, 3), sn.Dense(3, 2), seed=0, dtype=np.float64)
    net.layers[0].weight.value[...] = embedding.weight.detach().numpy()
    net.layers[1].weight.value[...] = linear.weight.detach().numpy().T        # our W is Linear.weight^T
    net.layers[1].bias.value[...] = linear.bias.detach().numpy()
    return net, embedding, linear


def test_lookup_and_weight_gradient_equal_pytorchs():
    torch = pytest.importorskip("torch")
    net, embedding, _ = torch_pair()
    expected = embedding(torch.tensor(INDICES))
    layer = net.layers[0]
    y = layer.forward(INDICES, training=True)
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=0, atol=1e-10)
    grad_output = np.random.default_rng(0).normal(size=y.shape)
    (expected * torch.tensor(grad_output)).sum().backward()
    assert layer.backward(grad_output) is None                     # indices have no gradient
    np.testing.assert_allclose(layer.weight.grad, embedding.weight.grad.numpy(), rtol=0, atol=1e-10)


def test_weights_after_sgd_steps_equal_pytorchs():
    torch = pytest.importorskip("torch")
    net, embedding, linear = torch_pair()
    target = np.random.default_rng(1).normal(size=(3, 4, 2))
    net.fit(INDICES, target, loss=sn.MSE(), optimizer=sn.SGD(0.3), epochs=3, batch_size=None, shuffle=False,
            verbose=0)
    optimizer = torch.optim.SGD([*embedding.parameters(), *linear.parameters()], lr=0.3)
    for _ in range(3):
        optimizer.zero_grad()
        output = linear(embedding(torch.tensor(INDICES)))
        (0.5 * torch.nn.functional.mse_loss(output, torch.tensor(target))).backward()
        optimizer.step()
    np.testing.assert_allclose(net.layers[0].weight.value, embedding.weight.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(net.layers[1].weight.value, linear.weight.detach().numpy().T, rtol=0, atol=1e-10)


def test_weight_gradient_matches_finite_differences():
    net = sn.Sequential(Embedding(5, 3), LSTM(3, 2, return_sequences=False), sn.Dense(2, 2), seed=0,
                        dtype=np.float64)
    labels = np.array([0, 1, 1])
    loss = sn.CrossEntropy()

    def value():
        return loss.forward(net.forward(INDICES), labels)

    net.zero_grad()
    loss.forward(net.forward(INDICES, training=True), labels)
    net.backward(loss.backward(), input_grad=False)
    weight = net.layers[0].weight
    analytic = weight.grad.copy()
    numeric = numerical_gradient(value, weight.value)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    assert np.all(analytic[[0, 1, 2, 3, 4]].any(axis=1))           # every used row got a gradient


@pytest.mark.parametrize("threads", [1, 2])
def test_integer_inputs_train_predict_and_evaluate(threads):
    if threads > 1:
        pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(64, 5))
    y = (X == 5).any(axis=1).astype(int)                      # does token 5 occur?
    net = sn.Sequential(Embedding(6, 4), sn.Flatten(), sn.Dense(20, 2), seed=0)
    history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.05), epochs=30, batch_size=16,
                      validation_split=0.25, metrics=["accuracy"], verbose=0, threads=threads)
    assert history.history["accuracy"][-1] > 0.9
    np.testing.assert_array_equal(net.predict(X, batch_size=7), net.predict(X))
    assert net.evaluate(X, y, metrics=["accuracy"])["accuracy"] > 0.9
    assert net.predict(X.astype(np.uint8)).dtype == np.float32


def test_save_and_load_round_trip(tmp_path):
    net = sn.Sequential(Embedding(7, 3), LSTM(3, 4, return_sequences=False), sn.Dense(4, 2), seed=0)
    net.save(tmp_path / "model.npz")
    same = sn.load(tmp_path / "model.npz")
    X = np.array([[1, 2, 6], [0, 0, 5]])
    assert isinstance(same.layers[0], Embedding) and same.get_config() == net.get_config()
    np.testing.assert_array_equal(same.predict(X), net.predict(X))


def test_summary_and_output_shape():
    net = sn.Sequential(Embedding(10, 4), LSTM(4, 6), sn.Dense(6, 10), seed=0)
    assert net.output_shapes((7,)) == [(None, 7, 4), (None, 7, 6), (None, 7, 10)]


@pytest.mark.parametrize("X, error, message", [
    (INDICES.astype(float), TypeError, r"X must hold integer indices .*got an array of dtype float64"),
    (INDICES > 1, TypeError, r"X must hold integer indices .*dtype bool"),
    (INDICES + 2, ValueError, r"X holds index 5 at position \(0, 1\), but Embedding\(num_embeddings=5, dim=3\) "
                              r"has rows 0 to 4"),
    (INDICES - 1, ValueError, r"X holds index -1 at position \(0, 0\)"),
    ([["a", "b"]], TypeError, r"X must hold integer indices"),
])
def test_bad_indices_are_refused_before_any_work(X, error, message):
    net = sn.Sequential(Embedding(5, 3), sn.Flatten(), sn.Dense(12, 2), seed=0)
    before = net.flat_parameter.value.copy()
    for call in (lambda: net.fit(X, np.zeros(len(X), dtype=int), loss="cross_entropy", optimizer="sgd",
                                 verbose=0),
                 lambda: net.predict(X)):
        with pytest.raises(error, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
    np.testing.assert_array_equal(net.flat_parameter.value, before)


def test_forward_refuses_floats_and_out_of_range_itself():
    layer = Embedding(5, 3)
    sn.Sequential(layer, seed=0)
    with pytest.raises(TypeError, match=r"Embedding input must hold integer indices for Embedding"):
        layer.forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"Embedding input holds index 9 at position \(1,\)"):
        layer.forward(np.array([0, 9]))


@pytest.mark.parametrize("arguments, error, message", [
    ((0, 3), ValueError, "num_embeddings must be >= 1, got 0"),
    ((5, 2.0), TypeError, "dim must be a positive integer, got 2.0"),
])
def test_bad_arguments(arguments, error, message):
    with pytest.raises(error, match=message):
        Embedding(*arguments)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_scatter_add_gives_np_add_ats_bits(dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=(6, 9))                     # many repeated indices
    grad_output = rng.normal(size=(6, 9, 3)).astype(dtype)
    grads = []
    for fused in (False, "auto"):
        layer = sn.Embedding(5, 3, fused=fused)
        layer.build(np.random.default_rng(0), dtype)
        layer.weight.grad[...] = 0.25
        layer.forward(x)
        layer.backward(grad_output)
        grads.append(layer.weight.grad.copy())
    assert grads[0].dtype == dtype and grads[0].tobytes() == grads[1].tobytes()
