"""GradientStats records, per parameter, exactly the norms np.linalg.norm gives for the step
that fit took; plot_gradient_stats draws them."""

import copy
import importlib.util
import math
import os

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.serialization import read_json, read_npz
from scratchnn.training.gradient_stats import EPOCH_KEY, STATS, is_gradient_stat

NAMES = ["0.weight", "0.bias", "2.weight", "2.bias"]


def small_problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    y = rng.normal(size=(12, 2))
    net = sn.Sequential(sn.Dense(3, 5), sn.Tanh(), sn.Dense(5, 2), seed=7, dtype=np.float64)
    return net, X, y


def by_hand(net, X, y, batch_size, epochs):
    """Every batch's (grad norms, weight norms, update ratios) per parameter, computed with
    the network's own forward/backward and an Adam step, in fit's order (no shuffle)."""
    net = copy.deepcopy(net)
    loss, optimizer = sn.MSE(), sn.Adam(0.05)
    parameters = net.parameters()
    batches = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            before = [p.value.copy() for p in parameters]
            loss.forward(net.forward(X[start:start + batch_size], training=True), y[start:start + batch_size])
            net.zero_grad()
            net.backward(loss.backward())
            grads = [np.linalg.norm(p.grad) for p in parameters]
            optimizer.step([net.flat_parameter])
            weights = [np.linalg.norm(p.value) for p in parameters]
            ratios = [np.linalg.norm(p.value - b) / np.linalg.norm(b) if np.linalg.norm(b) > 0 else math.nan
                      for p, b in zip(parameters, before)]
            batches.append((grads, weights, ratios))
    return batches


def train(net, X, y, stats, batch_size=4, epochs=2, **options):
    return net.fit(X, y, loss=sn.MSE(), optimizer=sn.Adam(0.05), epochs=epochs, batch_size=batch_size,
                   shuffle=False, verbose=0, callbacks=[stats], **options).history


def test_every_batch_equals_np_linalg_norm_of_that_steps_gradient_and_update():
    net, X, y = small_problem()
    expected = by_hand(net, X, y, batch_size=4, epochs=2)            # 3 batches an epoch
    history = train(net, X, y, sn.GradientStats(every=1))
    assert history[EPOCH_KEY] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    for index, name in enumerate(NAMES):
        for stat, position in zip(STATS, range(3)):
            want = [batch[position][index] for batch in expected]
            np.testing.assert_allclose(history[f"{stat}/{name}"], want, rtol=1e-12, atol=0, equal_nan=True)
    assert math.isnan(history["update_ratio/0.bias"][0])            # biases start at 0: no ratio yet
    assert all(math.isfinite(v) for v in history["update_ratio/0.bias"][1:])
    assert history["grad_norm/0.weight"][0] > 0


def test_per_epoch_records_average_the_epochs_batches_and_take_the_weights_at_its_end():
    net, X, y = small_problem()
    expected = by_hand(net, X, y, batch_size=4, epochs=2)
    history = train(net, X, y, sn.GradientStats(), metrics=["mae"])
    assert history[EPOCH_KEY] == [1.0, 2.0]
    assert len(history["grad_norm/0.weight"]) == len(history["loss"]) == 2
    for index, name in enumerate(NAMES):
        for epoch in range(2):
            batches = expected[3 * epoch:3 * epoch + 3]
            assert history[f"grad_norm/{name}"][epoch] == pytest.approx(
                np.mean([b[0][index] for b in batches]), rel=1e-12)
            assert history[f"weight_norm/{name}"][epoch] == pytest.approx(batches[-1][1][index], rel=1e-12)
            ratios = [b[2][index] for b in batches if not math.isnan(b[2][index])]   # a zero bias: left out
            assert history[f"update_ratio/{name}"][epoch] == pytest.approx(np.mean(ratios), rel=1e-12)


def test_every_k_batches_counts_batches_across_epochs():
    net, X, y = small_problem()
    expected = by_hand(net, X, y, batch_size=4, epochs=2)
    history = train(net, X, y, sn.GradientStats(every=2))
    assert history[EPOCH_KEY] == pytest.approx([2 / 3, 4 / 3, 2])      # batches 2, 4 and 6
    for period in range(3):
        batches = expected[2 * period:2 * period + 2]
        assert history["grad_norm/2.weight"][period] == pytest.approx(np.mean([b[0][2] for b in batches]), rel=1e-12)
        assert history["weight_norm/2.weight"][period] == pytest.approx(batches[-1][1][2], rel=1e-12)
    assert len(history["loss"]) == 2                                 # the epoch logs are unchanged


@pytest.mark.skipif(importlib.util.find_spec("threadpoolctl") is None, reason="threads need threadpoolctl")
def test_threads_record_the_whole_batchs_reduced_gradient():
    net, X, y = small_problem()
    one = train(copy.deepcopy(net), X, y, sn.GradientStats(every=1), threads=1)
    two = train(copy.deepcopy(net), X, y, sn.GradientStats(every=1), threads=2)
    for key in one:
        if is_gradient_stat(key):
            np.testing.assert_allclose(two[key], one[key], rtol=1e-10, equal_nan=True)


def test_a_checkpoint_keeps_the_records_and_resumes_with_or_without_the_callback(tmp_path):
    net, X, y = small_problem()
    path = str(tmp_path / "ckpt.npz")
    first = copy.deepcopy(net)
    first.fit(X, y, loss=sn.MSE(), optimizer=sn.Adam(0.05), epochs=2, batch_size=4, verbose=0,
              callbacks=[sn.GradientStats(), sn.ModelCheckpoint(path)])
    resumed = copy.deepcopy(net).fit(X, y, loss=sn.MSE(), optimizer=sn.Adam(0.05), epochs=3, batch_size=4,
                                     verbose=0, callbacks=[sn.ModelCheckpoint(path)], resume_from=path)
    assert len(resumed.history["grad_norm/0.weight"]) == 2 and len(resumed.history["loss"]) == 3
    again = copy.deepcopy(net).fit(X, y, loss=sn.MSE(), optimizer=sn.Adam(0.05), epochs=4, batch_size=4, verbose=0,
                                   callbacks=[sn.GradientStats(), sn.ModelCheckpoint(path)], resume_from=path)
    assert again.history[EPOCH_KEY] == [1.0, 2.0, 4.0]           # epoch 3 ran without it


def test_keys_are_recognized_and_plot_history_still_draws(tmp_path):
    assert is_gradient_stat("grad_norm/0.weight") and is_gradient_stat(EPOCH_KEY)
    assert not is_gradient_stat("loss") and not is_gradient_stat("val_loss") and not is_gradient_stat("grad_norm")
    pytest.importorskip("matplotlib")
    net, X, y = small_problem()
    history = train(net, X, y, sn.GradientStats())
    sn.plot.plot_history({k: v for k, v in history.items() if not is_gradient_stat(k)}, path=tmp_path / "h.png")
    fig = sn.plot.plot_gradient_stats(history, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = fig.axes
    assert [line.get_label() for line in axes[0].get_lines()] == ["0.weight", "2.weight"]   # one line per layer
    np.testing.assert_array_equal(axes[0].get_lines()[1].get_ydata(), history["grad_norm/2.weight"])
    fig = sn.plot.plot_gradient_stats(history, stats=["update_ratio"], parameters=["0.bias"])
    assert len(fig.axes) == 1 and [line.get_label() for line in fig.axes[0].get_lines()] == ["0.bias"]


def test_plot_gradient_stats_uses_a_log_scale_unless_a_panel_has_no_positive_value():
    pytest.importorskip("matplotlib")
    history = {EPOCH_KEY: [1.0, 2.0], "grad_norm/0.weight": [1e-4, 2e-4], "grad_norm/2.weight": [0.1, 0.2],
               "weight_norm/0.weight": [3.0, 3.1], "weight_norm/2.weight": [2.0, 2.1],
               "update_ratio/0.weight": [math.nan, 0.0], "update_ratio/2.weight": [math.nan, 0.0]}
    fig = sn.plot.plot_gradient_stats(history)
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log", "linear"]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1.0, 2.0])


@pytest.mark.parametrize("every, error, match", [
    (0, ValueError, "every must be >= 1, got 0"),
    (1.5, TypeError, "every must be a positive integer or None"),
    (True, TypeError, "every must be a positive integer or None"),
])
def test_bad_every_is_refused_at_once(every, error, match):
    with pytest.raises(error, match=match):
        sn.GradientStats(every=every)


def test_a_network_without_parameters_is_refused_before_training():
    net = sn.Sequential(sn.Tanh(), seed=0)
    with pytest.raises(ValueError, match="GradientStats needs a network with parameters"):
        net.fit(np.zeros((4, 2)), np.zeros((4, 2)), loss="mse", optimizer="sgd", verbose=0,
                callbacks=[sn.GradientStats()])


@pytest.mark.parametrize("history, options, error, match", [
    ([1, 2], {}, TypeError, "history must be a History"),
    ({"loss": [1.0]}, {}, ValueError, "history holds no gradient statistics"),
    ({"grad_norm/0.weight": [1.0], "weight_norm/0.weight": [1.0], "update_ratio/0.weight": [1.0]},
     {"stats": ["speed"]}, ValueError, "unknown statistic 'speed'"),
    ({"grad_norm/0.weight": [1.0], "weight_norm/0.weight": [1.0], "update_ratio/0.weight": [1.0]},
     {"parameters": ["3.weight"]}, ValueError, "history has no statistics of '3.weight'; it has 0.weight"),
])
def test_plot_gradient_stats_refuses_bad_input(history, options, error, match):
    pytest.importorskip("matplotlib")
    with pytest.raises(error, match=match):
        sn.plot.plot_gradient_stats(history, **options)


def test_train_plots_writes_gradient_stats_and_resumes_with_or_without_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from scratchnn.cli import main

    plots, checkpoint = tmp_path / "plots", str(tmp_path / "ckpt.npz")
    common = ["train", "xor", "--samples", "80", "--hidden", "4", "--checkpoint", checkpoint, "--verbose", "0"]
    assert main(common + ["--epochs", "2"]) == 0                                  # no --plots: no GradientStats
    assert main(common + ["--epochs", "3", "--resume", "--plots", str(plots)]) == 0
    capsys.readouterr()
    assert {"gradient_stats.png", "history.png"} <= set(os.listdir(plots))
    assert (plots / "gradient_stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    training = read_json(checkpoint, read_npz(checkpoint)["__training__"], "__training__")
    assert training["history"][EPOCH_KEY] == [3.0]                # recorded in the epoch run with --plots
    assert len(training["history"]["loss"]) == 3
