"""Sequential: building, training, predicting, validating its inputs."""

import io

import numpy as np
import pytest

import scratchnn as sn


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    return centers[labels] + 0.5 * rng.normal(size=(n, 2)), labels


def classifier(seed=0, dtype=np.float32):
    return sn.Sequential(sn.Dense(2, 16), sn.ReLU(), sn.Dense(16, 3), seed=seed, dtype=dtype)


def test_parameters_in_layer_order_weight_then_bias():
    net = sn.Sequential(sn.Dense(2, 3), sn.Tanh(), sn.Dense(3, 1), seed=0)
    shapes = [p.value.shape for p in net.parameters()]
    assert shapes == [(2, 3), (3,), (3, 1), (1,)]
    assert [p.name for p in net.parameters()] == ["weight", "bias", "weight", "bias"]
    assert all(isinstance(p, sn.Parameter) for p in net.parameters())
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_default_dtype_is_float32_and_float64_on_request():
    assert all(p.value.dtype == np.float32 for p in classifier().parameters())
    assert all(p.value.dtype == np.float64 for p in classifier(dtype=np.float64).parameters())
    X, _ = blobs(10)
    assert classifier().predict(X).dtype == np.float32


def test_seed_int_generator_and_randomstate_are_reproducible():
    for make_seed in (lambda: 5, lambda: np.random.default_rng(5), lambda: np.random.RandomState(5)):
        a, b = classifier(make_seed()), classifier(make_seed())
        for p, q in zip(a.parameters(), b.parameters()):
            assert np.array_equal(p.value, q.value)
    assert not np.array_equal(classifier(1).parameters()[0].value, classifier(2).parameters()[0].value)


def test_manual_training_step_matches_fit():
    X, labels = blobs(32)
    manual, fitted = classifier(3, np.float64), classifier(3, np.float64)
    loss, optimizer = sn.CrossEntropy(), sn.SGD(learning_rate=0.5)
    value = loss(manual.forward(X, training=True), labels)
    manual.zero_grad()
    manual.backward(loss.backward())
    optimizer.step(manual.parameters())
    history = fitted.fit(X, labels, loss=sn.CrossEntropy(), optimizer=sn.SGD(learning_rate=0.5),
                         epochs=1, batch_size=None, shuffle=False, verbose=0)
    assert history.history["loss"] == [pytest.approx(value, rel=1e-12)]
    for p, q in zip(manual.parameters(), fitted.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-15)


def test_zero_grad_clears_accumulated_gradients():
    X, labels = blobs(8)
    net, loss = classifier(), sn.CrossEntropy()
    loss(net.forward(X), labels)
    net.backward(loss.backward())
    assert any(np.any(p.grad) for p in net.parameters())
    net.zero_grad()
    assert not any(np.any(p.grad) for p in net.parameters())


def test_minibatch_training_learns_and_is_reproducible():
    X, labels = blobs(300)
    runs = []
    for _ in range(2):
        net = classifier(seed=4)
        history = net.fit(X, labels, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01),
                          epochs=30, batch_size=16, verbose=0)
        runs.append((net.predict(X), history.history["loss"]))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    losses = runs[0][1]
    assert losses[-1] < 0.25 * losses[0]
    accuracy = np.mean(runs[0][0].argmax(axis=1) == labels)
    assert accuracy > 0.95


def test_shuffle_changes_the_batch_order_but_not_full_batch_results():
    X, labels = blobs(64)
    a, b = classifier(seed=1, dtype=np.float64), classifier(seed=1, dtype=np.float64)
    a.fit(X, labels, loss="cross_entropy", optimizer="sgd", epochs=3, batch_size=8, shuffle=True, verbose=0)
    b.fit(X, labels, loss="cross_entropy", optimizer="sgd", epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert not np.allclose(a.parameters()[0].value, b.parameters()[0].value)


def test_regression_targets_of_shape_n_are_accepted_for_one_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    net = sn.Sequential(sn.Dense(3, 1), seed=0, dtype=np.float64)
    net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(0.1), epochs=200, batch_size=None, verbose=0)
    np.testing.assert_allclose(net.layers[0].weight.value.ravel(), [1.0, -2.0, 0.5], atol=1e-3)
    assert net.evaluate(X, y) < 1e-6


def test_predict_in_batches_equals_one_batch():
    X, _ = blobs(50)
    net = classifier()
    np.testing.assert_allclose(net.predict(X, batch_size=7), net.predict(X), rtol=1e-6)


def test_dropout_is_active_in_fit_and_off_in_predict():
    X, labels = blobs(64)
    net = sn.Sequential(sn.Dense(2, 32), sn.ReLU(), sn.Dropout(0.5), sn.Dense(32, 3), seed=0)
    assert np.array_equal(net.predict(X), net.predict(X))
    train_a, train_b = net.forward(X, training=True), net.forward(X, training=True)
    assert not np.array_equal(train_a, train_b)
    net.fit(X, labels, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=20, verbose=0)
    assert np.mean(net.predict(X).argmax(1) == labels) > 0.9


def test_evaluate_uses_the_fit_loss_or_the_given_one():
    X, labels = blobs(40)
    net = classifier()
    with pytest.raises(ValueError, match="evaluate needs loss="):
        net.evaluate(X, labels)
    net.fit(X, labels, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=2, verbose=0)
    expected = sn.CrossEntropy()(net.predict(X), labels)
    assert net.evaluate(X, labels) == pytest.approx(expected, rel=1e-5)
    assert net.evaluate(X, labels, batch_size=7) == pytest.approx(expected, rel=1e-5)


def test_summary_lists_layers_shapes_and_parameter_counts():
    out = io.StringIO()
    sn.Sequential(sn.Dense(784, 256), sn.ReLU(), sn.Dense(256, 10), seed=0).summary(file=out)
    text = out.getvalue()
    assert "Dense(in_features=784, out_features=256" in text and "(None, 256)" in text
    assert "200,960" in text and "2,570" in text and "Total parameters: 203,530" in text


def test_verbose_reports_progress_to_stderr(capsys):
    X, labels = blobs(20)
    classifier().fit(X, labels, loss="cross_entropy", optimizer="adam", epochs=3, verbose=2)
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and "epoch 3/3" in err and "loss:" in err
    classifier().fit(X, labels, loss="cross_entropy", optimizer="adam", epochs=3, verbose=0)
    assert capsys.readouterr().err == ""


def test_divergence_stops_with_epoch_and_batch_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)) * 100
    y = rng.normal(size=(64, 1)) * 100
    net = sn.Sequential(sn.Dense(4, 8), sn.ReLU(), sn.Dense(8, 1), seed=0)
    with pytest.raises(sn.DivergedError, match=r"at epoch \d+, batch \d+"):
        net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(learning_rate=10.0), epochs=50, batch_size=16, verbose=0)
    assert all(np.all(np.isfinite(p.value)) for p in net.parameters())


BAD_FIT_CALLS = [
    (dict(X=np.zeros((4, 3))), ValueError, r"X of shape \(N, 3\) does not fit the network.*expects input of shape \(N, 2\)"),
    (dict(X=np.zeros(4)), ValueError, r"X must have shape \(n_samples, n_features\)"),
    (dict(X=np.zeros((0, 2))), ValueError, "X must not be empty"),
    (dict(X=np.array([[np.nan, 0]] * 4)), ValueError, "X contains NaN or infinity"),
    (dict(X=np.array([["a", "b"]] * 4)), TypeError, "X must hold numbers"),
    (dict(y=np.zeros(5)), ValueError, "same number of samples"),
    (dict(y=np.array([0, 1, 5, 0])), ValueError, r"labels must be in \[0, 2\]"),
    (dict(y=np.array([0, 1, -1, 0])), ValueError, r"labels must be in \[0, 2\]"),
    (dict(y=np.array([0.5, 1, 1, 0])), ValueError, "whole numbers"),
    (dict(y=np.array([0, 1, np.inf, 0])), ValueError, "y contains NaN or infinity"),
    (dict(y=np.zeros((4, 2))), ValueError, r"y has shape \(4, 2\) but the network outputs shape \(N, 3\)"),
    (dict(epochs=0), ValueError, "epochs must be >= 1, got 0"),
    (dict(epochs=2.5), TypeError, "epochs must be a positive integer"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
    (dict(verbose=3), ValueError, "verbose must be 0, 1 or 2"),
    (dict(loss="hinge"), ValueError, "loss must be one of"),
    (dict(loss=42), TypeError, "loss must be a scratchnn loss"),
    (dict(optimizer="lbfgs"), ValueError, "optimizer must be one of"),
    (dict(optimizer=sn.Dense), TypeError, "optimizer must be a scratchnn optimizer"),
]


@pytest.mark.parametrize("change, error, message", BAD_FIT_CALLS)
def test_bad_fit_calls_fail_clearly_before_touching_the_weights(change, error, message):
    arguments = dict(X=np.zeros((4, 2)), y=np.array([0, 1, 2, 0]), loss=sn.CrossEntropy(),
                     optimizer=sn.SGD(0.1), epochs=1, verbose=0)
    arguments.update(change)
    net = classifier()
    before = [p.value.copy() for p in net.parameters()]
    with pytest.raises(error, match=message):
        net.fit(**arguments)
    assert all(np.array_equal(b, p.value) for b, p in zip(before, net.parameters()))


def test_bad_constructions_fail_clearly():
    with pytest.raises(ValueError, match="at least one layer"):
        sn.Sequential()
    with pytest.raises(TypeError, match="layer 1 must be a scratchnn layer"):
        sn.Sequential(sn.Dense(2, 2), "relu")
    with pytest.raises(ValueError, match="layer 2 Dense.*expects 3 inputs, but layer 0 outputs 2"):
        sn.Sequential(sn.Dense(2, 2), sn.ReLU(), sn.Dense(3, 1))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        sn.Sequential(sn.Dense(2, 2), dtype=np.int32)
    with pytest.raises(TypeError, match="seed must be None, an int"):
        sn.Sequential(sn.Dense(2, 2), seed="0")
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        sn.Sequential(sn.Dense(2, 2), seed=-3)


def test_predict_validates_its_input():
    net = classifier()
    with pytest.raises(ValueError, match=r"does not fit the network"):
        net.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        net.predict(np.zeros((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match="contains NaN"):
        net.predict(np.array([[0.0, np.inf]]))


def test_load_state_dict_checks_names_and_shapes():
    net = classifier()
    state = {k: v.copy() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    state["0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 3\), the model expects \(2, 16\)"):
        net.load_state_dict(state)


def test_pickled_and_deep_copied_models_still_train():
    import copy
    import pickle

    X, labels = blobs(64)
    for clone in (copy.deepcopy, lambda net: pickle.loads(pickle.dumps(net))):
        net = clone(classifier(seed=2))
        before = net.predict(X)
        net.fit(X, labels, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=3, verbose=0)
        assert not np.array_equal(before, net.predict(X))          # the layers see the updates
        assert np.shares_memory(net.layers[0].weight.value, net.flat_parameter.value)


def test_widths_are_followed_through_layers_that_state_their_output_shape():
    class Double(sn.Layer):                                     # (N, k) -> (N, 2k), in closed form
        def forward(self, x, training=False):
            return np.concatenate([x, x], axis=1)

        def backward(self, grad_output):
            half = grad_output.shape[1] // 2
            return grad_output[:, :half] + grad_output[:, half:]

        def output_shape(self, input_shape):
            return (input_shape[0], 2 * input_shape[1])

    net = sn.Sequential(sn.Dense(2, 4), sn.ReLU(), Double(), sn.Dense(8, 1), seed=0)
    assert net.predict(np.ones((3, 2))).shape == (3, 1)
    with pytest.raises(ValueError, match=r"layer 3 Dense.* expects 4 inputs, but layer 1 outputs 8"):
        sn.Sequential(sn.Dense(2, 4), Double(), sn.ReLU(), sn.Dense(4, 1), seed=0)
    with pytest.raises(ValueError, match=r"layer 1 BatchNorm.* cannot take the output of layer 0 \(N, 4\)"):
        sn.Sequential(sn.Dense(2, 4), sn.BatchNorm(8), sn.Dense(8, 1), seed=0)
