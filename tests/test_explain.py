"""explain_step: every number of one training step, the library's own, written out."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.explain import _format, explain_step
from scratchnn.xor import X, Y, build_xor_net, train_xor_seeds


def blog_epochs(seed, epochs, learning_rate=0.1):
    """The blog's training loop, transcribed from its text, for `epochs` epochs; return the
    variables of the last epoch (the weights before and after its update included).

    The blog seeds NumPy's global generator with np.random.seed(seed) and draws with
    np.random.uniform; np.random.RandomState(seed) gives the same draws without global state."""
    random = np.random.RandomState(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    weights_input_hidden = random.uniform(size=(2, 2))
    biases_hidden = np.zeros((1, 2))
    weights_hidden_output = random.uniform(size=(2, 1))
    bias_output = np.zeros((1, 1))
    for _ in range(epochs):
        before = [weights_input_hidden.copy(), biases_hidden.copy(), weights_hidden_output.copy(),
                  bias_output.copy()]
        # Forward pass
        hidden_layer_input = np.dot(X, weights_input_hidden) + biases_hidden
        hidden_layer_output = sigmoid(hidden_layer_input)
        output_layer_input = np.dot(hidden_layer_output, weights_hidden_output) + bias_output
        predicted_output = sigmoid(output_layer_input)
        # Calculate loss
        loss = np.mean(0.5 * (y - predicted_output)**2)
        # Backpropagation
        error = y - predicted_output
        d_output = error * predicted_output * (1 - predicted_output)
        error_hidden = d_output.dot(weights_hidden_output.T)
        d_hidden = error_hidden * hidden_layer_output * (1 - hidden_layer_output)
        # Update weights and biases
        weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate
        bias_output += np.sum(d_output, axis=0, keepdims=True) * learning_rate
        weights_input_hidden += X.T.dot(d_hidden) * learning_rate
        biases_hidden += np.sum(d_hidden, axis=0) * learning_rate
    return dict(locals())


def blog_trace(blog):
    """What explain_step must record for the blog's epoch, in its terms: our deltas are
    dL/d(a layer's output) for L = ½ Σ (p − y)², the blog's are its negatives."""
    names = ("0.weight", "0.bias", "2.weight", "2.bias")
    after = [blog["weights_input_hidden"], blog["biases_hidden"], blog["weights_hidden_output"], blog["bias_output"]]
    return {
        "loss": blog["loss"] * 4,                        # the blog prints the mean over 4 rows
        "activations": [blog["X"], blog["hidden_layer_input"], blog["hidden_layer_output"],
                        blog["output_layer_input"], blog["predicted_output"]],
        "grad_outputs": [-blog["d_hidden"], -blog["error_hidden"], -blog["d_output"], -blog["error"]],
        "gradients": dict(zip(names, [-blog["X"].T.dot(blog["d_hidden"]), -np.sum(blog["d_hidden"], axis=0),
                                      -blog["hidden_layer_output"].T.dot(blog["d_output"]),
                                      -np.sum(blog["d_output"], axis=0)])),
        "before": dict(zip(names, [w.reshape(-1) if "bias" in n else w for n, w in zip(names, blog["before"])])),
        "after": dict(zip(names, [w.reshape(-1) if "bias" in n else w for n, w in zip(names, after)])),
    }


def assert_trace_is_the_blogs(trace, expected, tolerance=1e-12):
    assert trace.loss == pytest.approx(expected["loss"], abs=tolerance)
    assert len(trace.activations) == 5 and len(trace.grad_outputs) == 4
    for ours, theirs in zip(trace.activations + trace.grad_outputs, expected["activations"] + expected["grad_outputs"]):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance)
    for part in ("gradients", "before", "after"):
        assert list(getattr(trace, part)) == list(expected[part])
        for name, theirs in expected[part].items():
            np.testing.assert_allclose(getattr(trace, part)[name], theirs, rtol=0, atol=tolerance)


def blog_setup(seed):
    return build_xor_net(seed, blog=True), sn.MSE(reduction="sum"), sn.SGD(learning_rate=0.1)


@pytest.mark.parametrize("seed", [0, 1, 7, 28, 123])
@pytest.mark.parametrize("step", [1, 2, 5])
def test_step_k_of_the_blogs_network_is_the_blogs_epoch_k(seed, step):
    net, loss, optimizer = blog_setup(seed)
    if step > 1:                              # K - 1 steps as train_xor takes them, then step K
        net.fit(X, Y, loss=loss, optimizer=optimizer, epochs=step - 1, batch_size=None, shuffle=False, verbose=0)
    trace = explain_step(net, X, Y, loss, optimizer)
    assert_trace_is_the_blogs(trace, blog_trace(blog_epochs(seed, step)))


@pytest.mark.parametrize("seed", [0, 9])
def test_successive_explained_steps_follow_the_blogs_epochs(seed):
    net, loss, optimizer = blog_setup(seed)
    for step in range(1, 6):
        trace = explain_step(net, X, Y, loss, optimizer)
        assert_trace_is_the_blogs(trace, blog_trace(blog_epochs(seed, step)))
    for name, value in trace.after.items():   # the network holds the last step's result
        np.testing.assert_array_equal(net.state_dict()[name], value)


def test_printed_step_shows_the_blogs_numbers_and_names():
    net, loss, optimizer = blog_setup(0)
    trace = explain_step(net, X, Y, loss, optimizer)
    text = str(trace)
    expected = blog_trace(blog_epochs(0, 1))
    arrays = (expected["activations"] + expected["grad_outputs"] + list(expected["gradients"].values())
              + list(expected["before"].values()) + list(expected["after"].values()))
    flat = "\n".join(line.strip() for line in text.splitlines())          # arrays print indented
    for array in arrays:
        assert "\n".join(line.strip() for line in _format(array.astype(float)).splitlines()) in flat
    for fragment in ("0.5488135", "0.63059599", "L = Σ ½ (a4 − y)² = 0.55177565", "= L / 4 = 0.13794391",
                     "a1 = a0 · W0 + b0", "δ3 = δ4 ⊙ a4 ⊙ (1 − a4)", "dL/dW2 = a2ᵀ · δ3", "W2 ← W2 − 0.1 · dL/dW2",
                     "d_output = error * predicted_output * (1 - predicted_output) = −δ3",
                     "weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate"):
        assert fragment in text, fragment
    # the blog's order: forward, loss, deltas from the last layer down, updates from the last layer
    order = [text.index(part) for part in ("Forward pass", "\nLoss", "Backward pass", "δ4 =", "δ3 =", "δ2 =",
                                           "δ1 =", "Update", "W2 before", "b2 before", "W0 before", "b0 before")]
    assert order == sorted(order)
    markdown = trace.to_markdown()
    assert "### Forward pass" in markdown and "```text" in markdown and "0.63059599" in markdown
    assert "(blog: `hidden_layer_input" in markdown


def test_apply_false_leaves_the_network_and_optimizer_as_they_were():
    net, loss, optimizer = blog_setup(3)
    state = {name: value.copy() for name, value in net.state_dict().items()}
    trace = explain_step(net, X, Y, loss, optimizer, apply=False)
    for name, value in net.state_dict().items():
        assert value.tobytes() == state[name].tobytes()
        assert trace.after[name].tobytes() == trace.before[name].tobytes() == state[name].tobytes()
    assert optimizer.iterations == 0
    assert "none: explain_step(..., apply=False)" in str(trace)
    applied = explain_step(net, X, Y, loss, optimizer)             # the same numbers, then the update
    np.testing.assert_array_equal(applied.gradients["0.weight"], trace.gradients["0.weight"])
    assert not np.array_equal(applied.after["0.weight"], applied.before["0.weight"])


def conv_net(seed=4):
    return sn.Sequential(sn.Conv2D(1, 3, 3), sn.BatchNorm(3), sn.ReLU(), sn.Flatten(), sn.Dropout(0.3),
                         sn.Dense(3 * 4 * 4, 3), seed=seed, dtype=np.float64)


def test_cnn_with_batchnorm_and_dropout_explains_as_one_fit_step():
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(8, 1, 6, 6)), rng.integers(0, 3, size=8)
    explained, fitted = conv_net(), conv_net()
    trace = explain_step(explained, images, labels, sn.CrossEntropy(), sn.Adam(0.01))
    fitted.fit(images, labels, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=1, batch_size=None,
               shuffle=False, verbose=0, threads=1)
    grads = {f"{k}.{name}": p.grad for k, layer in enumerate(fitted.layers)
             for name, p in layer.named_parameters().items()}
    assert list(trace.gradients) == list(grads)
    for name, grad in grads.items():                       # the same dropout masks, the same bits
        np.testing.assert_array_equal(trace.gradients[name], grad)
    for name, value in fitted.state_dict().items():        # weights and BatchNorm's running averages
        np.testing.assert_array_equal(trace.after[name], value)
    assert [a.shape for a in trace.activations] == [(8, 1, 6, 6), (8, 3, 4, 4), (8, 3, 4, 4), (8, 3, 4, 4),
                                                    (8, 48), (8, 48), (8, 3)]
    assert [g.shape for g in trace.grad_outputs] == [a.shape for a in trace.activations[1:]]
    dropped = (trace.activations[5] == 0) & (trace.activations[4] != 0)   # zeroed by Dropout, not by ReLU
    assert dropped.any() and np.all(trace.grad_outputs[3][dropped] == 0)   # the mask, forward and back
    text = str(trace)
    assert "array of shape (8, 1, 6, 6): mean" in text and "dL/dγ1" in text and "Update: Adam(" in text


def test_apply_false_puts_batchnorm_running_averages_back():
    net = conv_net()
    state = {name: value.copy() for name, value in net.state_dict().items()}
    images, labels = np.random.default_rng(1).normal(size=(5, 1, 6, 6)), np.array([0, 1, 2, 0, 1])
    trace = explain_step(net, images, labels, "cross_entropy", "sgd", apply=False)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
        np.testing.assert_array_equal(trace.after[name], state[name])


@pytest.mark.parametrize("call, error, fragment", [
    (lambda net: explain_step(sn.Dense(2, 2), X, Y, "mse", "sgd"), TypeError, "net must be a built scratchnn.Sequential"),
    (lambda net: explain_step(net, np.ones((4, 3)), Y, "mse", "sgd"), ValueError, "does not fit the network"),
    (lambda net: explain_step(net, X, Y[:3], "mse", "sgd"), ValueError, "same number of samples"),
    (lambda net: explain_step(net, X, np.ones((4, 2)), "mse", "sgd"), ValueError, "network outputs shape (N, 1)"),
    (lambda net: explain_step(net, X, Y, "mse", "sgd", apply="yes"), TypeError, "apply must be True or False"),
    (lambda net: explain_step(net, X, Y, "hinge", "sgd"), ValueError, "loss"),
    (lambda net: explain_step(net, X, Y, "mse", 0.1), TypeError, "optimizer"),
    (lambda net: explain_step(net, [[0, np.nan]], [[1]], "mse", "sgd"), ValueError, "X"),
])
def test_bad_input_is_one_line_before_any_work(call, error, fragment):
    net, _, _ = blog_setup(0)
    state = {name: value.copy() for name, value in net.state_dict().items()}
    with pytest.raises(error, match=None) as raised:
        call(net)
    message = str(raised.value)
    assert fragment in message and "\n" not in message
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(value, state[name])


def test_batchnorm_on_one_row_is_refused_before_any_work():
    with pytest.raises(ValueError, match="cannot normalize a single value per channel"):
        explain_step(sn.Sequential(sn.Dense(2, 3), sn.BatchNorm(3), seed=0), np.ones((1, 2)), np.ones((1, 3)),
                     "mse", "sgd")


def test_a_non_finite_loss_raises_and_updates_nothing():
    net = sn.Sequential(sn.Dense(1, 1), seed=0, dtype=np.float64)
    net.layers[0].weight.value[...] = 1e200                   # an output of 1e200: its square overflows
    optimizer = sn.SGD(0.1)
    with pytest.raises(sn.DivergedError, match="the loss is inf: no update was made"):
        explain_step(net, [[1.0]], [[0.0]], sn.MSE(), optimizer)
    assert net.layers[0].weight.value[0, 0] == 1e200 and optimizer.iterations == 0


def test_large_arrays_are_summarized_small_ones_shown_in_full():
    assert _format(np.arange(4.0)) == "[0. 1. 2. 3.]"
    assert _format(np.arange(100.0).reshape(10, 10)) == ("array of shape (10, 10): mean 49.5, std 28.87, min 0, max 99")


def test_explain_step_is_public():
    assert sn.explain_step is explain_step and "explain_step" in sn.__all__ and "StepTrace" in sn.__all__


# --- the lessons' scripts ---------------------------------------------------------------------

def run_lesson(name, *args):
    root = os.path.join(os.path.dirname(__file__), "..")
    env = {**os.environ, "PYTHONPATH": os.path.join(root, "src"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, os.path.join(root, "examples", name), *args],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_lesson_1_prints_the_blogs_step_equal_to_the_blogs_loop(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_lesson("learn_1_blog_step.py", "--seed", "0", "--figures", str(tmp_path))
    net, loss, optimizer = blog_setup(0)
    assert out.startswith(str(explain_step(net, X, Y, loss, optimizer)) + "\n")
    difference = float(re.search(r"gives the same 65 numbers: largest difference (\S+)$", out, re.M).group(1))
    assert difference <= 1e-12
    assert (tmp_path / "learn_1_first_step.png").stat().st_size > 10_000


@pytest.mark.slow
def test_lesson_2_counts_the_seeds_each_setting_solves(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_lesson("learn_2_why_seeds_fail.py", "--seeds", "12", "--fit-seeds", "3", "--figures", str(tmp_path))
    counts = {}
    for title, count in re.findall(r"^(.+): solves XOR from (\d+ of \d+) seeds", out, re.M):
        counts.setdefault(title, []).append(count)
    runs = train_xor_seeds(range(12), blog=True)
    solved = runs.solved
    # all 12 seeds, then the 3 that the one-network-at-a-time settings train (seeds 7 and 9 fail)
    assert counts["the blog's setup"] == [f"{int(solved.sum())} of 12", f"{int(solved[:3].sum())} of 3"]
    assert runs.failed == [7, 9]
    for title in ("Glorot init", "He init", "cross-entropy loss", "Adam optimizer", "Glorot + cross-entropy + Adam"):
        assert len(counts[title]) == 1 and counts[title][0].endswith(" of 3")
    assert counts["scratchnn's default (300 epochs)"] == ["12 of 12"]
    names = ["blog", "glorot", "he", "cross_entropy", "adam", "all_three", "blog_8_hidden", "default",
             "default_2_hidden", "loss_curves"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"learn_2_{name}.png" for name in names)
