"""fit(..., threads=N): each batch split over N replicas on threads (scratchnn.parallel)."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn.base import LOCAL
from scratchnn.training.parallel import ThreadedBatches

threadpoolctl = pytest.importorskip("threadpoolctl")


def small_cnn(seed=0, dtype=np.float64, dropout=0.0):
    layers = [sn.Conv2D(1, 4, 3, padding=1), sn.ReLU(), sn.MaxPool2D(2), sn.Flatten(), sn.Dense(4 * 4 * 4, 8),
              sn.Tanh()]
    if dropout:
        layers.append(sn.Dropout(dropout))
    return sn.Sequential(*layers, sn.Dense(8, 3), seed=seed, dtype=dtype)


def images(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, 8, 8)), rng.integers(0, 3, n)


def one_batch_both_ways(make_net, X, y, reduction, threads):
    """One batch through a plain network and through ThreadedBatches over a twin of it:
    (serial network, its loss, its outputs), (split network, its loss, its outputs), batches."""
    serial, split = make_net(), make_net()
    loss = sn.CrossEntropy(reduction=reduction)
    serial_outputs = serial.forward(X, training=True)
    value = loss.forward(serial_outputs, y)
    serial.zero_grad()
    serial.backward(loss.backward(), input_grad=False)
    batches = ThreadedBatches(split, sn.CrossEntropy(reduction=reduction), threads)
    try:
        split_value, outputs = batches.gradient(X, y)
    finally:
        batches.close()
    return (serial, value, serial_outputs), (split, split_value, outputs), batches


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("threads", [2, 3])
def test_one_batch_gives_the_whole_batchs_loss_and_gradient(threads, reduction):
    X, y = images(11)                                     # 11 rows: parts of 4, 4, 3 (or 6, 5)
    (serial, value, _), (split, split_value, outputs), _ = one_batch_both_ways(small_cnn, X, y, reduction, threads)
    assert split_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(outputs, serial.forward(X), rtol=1e-12)
    np.testing.assert_allclose(split.flat_parameter.grad, serial.flat_parameter.grad, rtol=1e-10, atol=1e-15)


def test_fit_with_two_threads_follows_the_one_thread_run():
    X, y = images(64)
    runs = {}
    for threads in (1, 2):
        net = small_cnn()
        history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01), epochs=3, batch_size=16,
                          metrics=["accuracy"], verbose=0, threads=threads)
        runs[threads] = net, history.history
    np.testing.assert_allclose(runs[2][0].flat_parameter.value, runs[1][0].flat_parameter.value, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(runs[2][1]["loss"], runs[1][1]["loss"], rtol=1e-10)
    assert runs[2][1]["accuracy"] == runs[1][1]["accuracy"]


def test_batches_smaller_than_the_thread_count_still_train():
    X, y = images(5)
    net = small_cnn()
    history = net.fit(X, y, loss="cross_entropy", optimizer="sgd", epochs=2, batch_size=1, verbose=0, threads=4)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(net.flat_parameter.value))


def test_blas_threads_are_restored_after_fit():
    def blas_threads():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    X, y = images(16)
    small_cnn().fit(X, y, loss="cross_entropy", optimizer="adam", batch_size=8, verbose=0, threads=2)
    assert blas_threads() == before


def test_dropout_replicas_draw_their_own_masks_reproducibly():
    X, y = images(32)
    weights = []
    for _ in range(2):
        net = small_cnn(dropout=0.5)
        net.fit(X, y, loss="cross_entropy", optimizer=sn.SGD(0.1), epochs=2, batch_size=16, verbose=0, threads=2)
        weights.append(net.flat_parameter.value.copy())
    np.testing.assert_array_equal(weights[0], weights[1])        # same seed, same threads: same run
    net = small_cnn(dropout=0.5)
    batches = ThreadedBatches(net, sn.CrossEntropy(), 2)
    try:
        same_rows = np.concatenate([X[:8], X[:8]])                # both halves see the same images
        batches.gradient(same_rows, np.concatenate([y[:8], y[:8]]))
    finally:
        batches.close()
    masks = [replica.layers[6].mask for replica in batches.replicas]
    assert masks[0].shape == masks[1].shape and not np.array_equal(masks[0], masks[1])


def test_divergence_with_threads_keeps_the_last_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32) * 100
    y = rng.normal(size=(64, 1)).astype(np.float32) * 100
    net = sn.Sequential(sn.Dense(4, 8), sn.ReLU(), sn.Dense(8, 1), seed=0)
    with pytest.raises(sn.DivergedError, match=r"loss became .* at epoch \d+, batch \d+"):
        net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(learning_rate=0.002), epochs=50, batch_size=16, verbose=0,
                threads=2)
    assert np.all(np.isfinite(net.flat_parameter.value))


def test_bad_threads_are_refused_before_any_work():
    X, y = images(8)
    net = small_cnn()
    before = net.flat_parameter.value.copy()
    with pytest.raises(ValueError, match="threads must be"):
        net.fit(X, y, loss="cross_entropy", optimizer="adam", verbose=0, threads=0)
    with pytest.raises(TypeError, match="threads must be"):
        net.fit(X, y, loss="cross_entropy", optimizer="adam", verbose=0, threads=2.5)
    np.testing.assert_array_equal(net.flat_parameter.value, before)


def batch_norm_cnn(seed=0):
    return sn.Sequential(sn.Conv2D(1, 3, 3, padding=1), sn.BatchNorm(3), sn.ReLU(), sn.MaxPool2D(2), sn.Flatten(),
                         sn.Dense(48, 6), sn.BatchNorm(6), sn.Tanh(), sn.Dense(6, 3), seed=seed, dtype=np.float64)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("threads", [2, 3])
def test_batch_norm_uses_the_whole_batchs_statistics_across_threads(threads, reduction):
    X, y = images(11)                                     # uneven parts: 4, 4, 3 rows (or 6, 5)
    (serial, value, serial_outputs), (split, split_value, outputs), batches = one_batch_both_ways(
        batch_norm_cnn, X, y, reduction, threads)
    assert split_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(outputs, serial_outputs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(split.flat_parameter.grad, serial.flat_parameter.grad, rtol=1e-9, atol=1e-13)
    for mine, theirs in zip(split.state_dict().items(), serial.state_dict().items()):   # running statistics too
        np.testing.assert_allclose(mine[1], theirs[1], rtol=1e-12, atol=1e-15)
    assert all(layer.reduction is LOCAL for replica in batches.replicas for layer in replica.layers
               if isinstance(layer, sn.BatchNorm))                                  # plain layers again


def test_fit_with_batch_norm_and_threads_follows_the_one_thread_run():
    X, y = images(60)
    runs = {}
    for threads in (1, 2):
        net = batch_norm_cnn()
        net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01), epochs=2, batch_size=16, verbose=0,
                threads=threads)
        runs[threads] = net
    for (name, mine), theirs in zip(runs[2].state_dict().items(), runs[1].state_dict().values()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-7, atol=1e-9, err_msg=name)
    import copy
    copy.deepcopy(runs[2])                                        # no threading state left behind


def test_batch_norm_counts_the_rows_of_every_replica():
    # 3 rows over 2 threads: 2 + 1. The replica with one row cannot normalize alone, the batch can.
    X = np.random.default_rng(4).normal(size=(3, 5))
    net = sn.Sequential(sn.Dense(5, 4), sn.BatchNorm(4), sn.ReLU(), sn.Dense(4, 2), seed=0, dtype=np.float64)
    serial = sn.Sequential(sn.Dense(5, 4), sn.BatchNorm(4), sn.ReLU(), sn.Dense(4, 2), seed=0, dtype=np.float64)
    batches = ThreadedBatches(net, sn.CrossEntropy(), 2)
    try:
        value, outputs = batches.gradient(X, np.array([0, 1, 1]))
    finally:
        batches.close()
    np.testing.assert_allclose(outputs, serial.forward(X, training=True), rtol=1e-12)


def test_an_error_in_one_replica_stops_all_of_them():
    X, y = images(16)
    net = batch_norm_cnn()
    batches = ThreadedBatches(net, sn.CrossEntropy(), 2)
    bad = y.copy()
    bad[12] = 7                                                   # the second half's labels are wrong
    try:
        with pytest.raises(IndexError, match="index 7 is out of bounds"):
            batches.gradient(X, bad)                                  # not a deadlock, not a BrokenBarrierError
    finally:
        batches.close()


def test_automatic_threads_are_for_convolutional_networks():
    from scratchnn.training.parallel import automatic_threads

    cnn, mlp = small_cnn(), sn.Sequential(sn.Dense(4, 8), sn.ReLU(), sn.Dense(8, 2), seed=0)
    assert automatic_threads(cnn, 128, cores=2) == 2
    assert automatic_threads(cnn, 128, cores=8) == 2          # at most one thread per 64 rows
    assert automatic_threads(cnn, 512, cores=8) == 8
    assert automatic_threads(cnn, 32, cores=2) == 1
    assert automatic_threads(mlp, 128, cores=2) == 1          # its matrix products use every core already


@pytest.mark.parametrize("make_net", [lambda: sequence_net("lstm"), lambda: sequence_net("transformer")])
def test_automatic_threads_split_sequence_networks_by_32_sequences(make_net):
    from scratchnn.training.parallel import automatic_threads

    net = make_net()
    assert automatic_threads(net, 64, cores=2) == 2           # train text's batches of 64 windows
    assert automatic_threads(net, 64, cores=8) == 2
    assert automatic_threads(net, 31, cores=2) == 1


def sequence_net(kind, vocabulary=7, seed=0):
    """A small character model like train text's: Embedding, then an LSTM or a causal
    transformer block, then the output Dense on every step (float64)."""
    middle = ([sn.LSTM(8, 12), sn.Dense(12, vocabulary)] if kind == "lstm" else
              [sn.PositionalEmbedding(6, 8), sn.TransformerBlock(8, 2, 16, causal=True), sn.LayerNorm(8),
               sn.Dense(8, vocabulary)])
    return sn.Sequential(sn.Embedding(vocabulary, 8), *middle, seed=seed, dtype="float64")


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_fit_of_sequence_networks_with_two_threads_follows_the_one_thread_run(kind):
    """Each replica runs the recurrent or attention layers over its own sequences (they do
    not mix across the batch): the same losses and weights as one thread, to rounding."""
    rng = np.random.default_rng(3)
    X, y = rng.integers(0, 7, size=(40, 6)), rng.integers(0, 7, size=(40, 6))
    runs = {}
    for threads in (1, 2):
        net = sequence_net(kind)
        history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01, clip_norm=1.0), epochs=2,
                          batch_size=16, verbose=0, threads=threads)
        runs[threads] = net, history.history["loss"]
    np.testing.assert_allclose(runs[2][0].flat_parameter.value, runs[1][0].flat_parameter.value, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(runs[2][1], runs[1][1], rtol=1e-10)


@pytest.mark.parametrize("make_seed", [lambda: 7, lambda: np.random.RandomState(7)])
def test_resume_with_threads_and_dropout_equals_an_uninterrupted_run(tmp_path, make_seed):
    X, y = images(48)

    def run(epochs, path, resume=False):
        net = small_cnn(seed=make_seed(), dropout=0.3)
        history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01), epochs=epochs, batch_size=16,
                          callbacks=[sn.ModelCheckpoint(path)], resume_from=path if resume else None,
                          verbose=0, threads=2)
        return net, history

    whole, whole_history = run(4, tmp_path / "whole.npz")
    run(2, tmp_path / "part.npz")                                 # "killed" after 2 epochs
    resumed, resumed_history = run(4, tmp_path / "part.npz", resume=True)
    np.testing.assert_array_equal(resumed.flat_parameter.value, whole.flat_parameter.value)
    assert resumed_history.history == whole_history.history


def test_the_default_splits_a_cnns_batches_over_the_cores_like_the_command_line(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from scratchnn.training import loop

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    made = []
    original = loop.ThreadedBatches

    def recording(model, loss, threads):
        made.append(threads)
        return original(model, loss, threads)

    monkeypatch.setattr(loop, "ThreadedBatches", recording)
    X, y = images(256)
    default, one = small_cnn(), small_cnn()
    default.fit(X, y, loss="cross_entropy", optimizer="adam", batch_size=128, verbose=0)          # "auto"
    assert made == [2]
    one.fit(X, y, loss="cross_entropy", optimizer="adam", batch_size=128, verbose=0, threads=1)
    assert made == [2]                                                      # threads=1: no replicas
    np.testing.assert_allclose(default.flat_parameter.value, one.flat_parameter.value, rtol=1e-4, atol=1e-6)
    small = small_cnn()
    small.fit(X, y, loss="cross_entropy", optimizer="adam", batch_size=64, verbose=0)             # < 2 x 64 rows
    mlp = sn.Sequential(sn.Flatten(), sn.Dense(X[0].size, 3), seed=0)
    mlp.fit(X, y, loss="cross_entropy", optimizer="adam", batch_size=128, verbose=0)              # no convolution
    assert made == [2]
    with pytest.raises(TypeError, match="threads must be 'auto', a positive integer or None, got 'two'"):
        mlp.fit(X, y, loss="cross_entropy", optimizer="adam", verbose=0, threads="two")
