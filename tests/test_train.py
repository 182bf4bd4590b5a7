"""fit's training features: validation, metrics, callbacks, schedules, checkpoints, resume."""

import json

import numpy as np
import pytest

import scratchnn as sn


def blobs(n=200, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(size=(classes, 4)) * 3
    return (centers[labels] + rng.normal(size=(n, 4))).astype(np.float32), labels


def net(seed=0, dropout=0.0):
    layers = [sn.Dense(4, 16), sn.ReLU()]
    if dropout:
        layers.append(sn.Dropout(dropout))
    return sn.Sequential(*layers, sn.Dense(16, 3), seed=seed)


def test_history_logs_loss_metrics_validation_and_learning_rate():
    X, y = blobs()
    history = net().fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=5,
                        validation_split=0.2, metrics=["accuracy", "mse"], verbose=0)
    assert set(history.history) == {"loss", "accuracy", "mse", "val_loss", "val_accuracy",
                                    "val_mse", "learning_rate"}
    assert all(len(values) == 5 for values in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["learning_rate"] == [0.01] * 5
    assert history.history["val_accuracy"][-1] > 0.9


def test_validation_metrics_equal_evaluate_on_the_validation_data():
    X, y = blobs(300)
    X_val, y_val = blobs(60, seed=1)
    model = net()
    history = model.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=3,
                        validation_data=(X_val, y_val), metrics=["accuracy"], verbose=0)
    result = model.evaluate(X_val, y_val, metrics=["accuracy"])
    assert result["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert result["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    predicted = model.predict(X_val).argmax(axis=1)
    assert result["accuracy"] == pytest.approx(np.mean(predicted == y_val))


def test_validation_split_is_shuffled_and_stratified_not_a_tail_slice():
    # sorted labels: a tail slice would hold only class 2
    X, y = blobs(300)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    seen = {}

    class Spy(sn.Callback):
        def on_train_begin(self, training):
            seen["n"] = training.batches_per_epoch

    model = net()
    from scratchnn.training.loop import _split

    X_train, y_train, (X_val, y_val) = _split(X, y, 0.2, sn.CrossEntropy(), np.random.default_rng(0))
    assert len(X_val) == 60 and len(X_train) == 240
    for label in range(3):     # each class split 80/20 within one row
        assert abs(np.sum(y_val == label) - 0.2 * np.sum(y == label)) <= 1
    model.fit(X, y, loss=sn.CrossEntropy(), optimizer="adam", epochs=1, batch_size=30,
              validation_split=0.2, callbacks=[Spy()], verbose=0)
    assert seen["n"] == 8      # 240 training rows in batches of 30


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = blobs(200)
    X_val, y_val = blobs(50, seed=3)
    model = net()
    stopper = sn.EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    # a learning rate this large makes validation loss bounce, so patience runs out
    history = model.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.SGD(2.0), epochs=100,
                        validation_data=(X_val, y_val), callbacks=[stopper], verbose=0)
    losses = history.history["val_loss"]
    assert len(losses) < 100 and stopper.stopped_epoch == len(losses) - 1
    best = int(np.argmin(losses))
    assert stopper.best_epoch == best and len(losses) - 1 - best == 2
    assert model.evaluate(X_val, y_val) == pytest.approx(losses[best], rel=1e-5)


def test_early_stopping_without_validation_is_a_clear_error_before_training():
    X, y = blobs(50)
    model = net()
    before = model.parameters()[0].value.copy()
    with pytest.raises(ValueError, match="EarlyStopping monitors 'val_loss', but fit logs only loss, "
                                         "learning_rate \\(pass validation_data or validation_split\\)"):
        model.fit(X, y, loss=sn.CrossEntropy(), optimizer="adam", callbacks=[sn.EarlyStopping()], verbose=0)
    assert np.array_equal(before, model.parameters()[0].value)


def test_schedules_set_the_learning_rate_each_epoch():
    X, y = blobs(40)

    def rates(schedule, epochs=6, lr=0.1):
        history = net().fit(X, y, loss="cross_entropy", optimizer=sn.SGD(lr), epochs=epochs,
                            callbacks=[schedule], verbose=0)
        return history.history["learning_rate"]

    np.testing.assert_allclose(rates(sn.StepLR(step_size=2, gamma=0.5)), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    np.testing.assert_allclose(rates(sn.ExponentialLR(gamma=0.9)), [0.1 * 0.9**e for e in range(6)])
    cosine = rates(sn.CosineAnnealingLR(T_max=4, min_lr=0.01))
    np.testing.assert_allclose(cosine, [0.01 + 0.09 * (1 + np.cos(np.pi * min(e, 4) / 4)) / 2 for e in range(6)])


def test_reduce_on_plateau_cuts_the_rate_when_the_loss_stalls():
    X, y = blobs(40)
    history = net().fit(X, y, loss="cross_entropy", optimizer=sn.SGD(1e-9), epochs=6,
                        callbacks=[sn.ReduceLROnPlateau("loss", factor=0.5, patience=2, min_delta=1.0)], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"], [1e-9, 1e-9, 1e-9, 5e-10, 5e-10, 2.5e-10])


def test_model_checkpoint_saves_every_epoch_or_only_the_best(tmp_path):
    X, y = blobs(100)
    X_val, y_val = blobs(30, seed=5)
    every, best = tmp_path / "every.npz", tmp_path / "best.npz"
    model = net()
    history = model.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.SGD(2.0), epochs=8,
                        validation_data=(X_val, y_val),
                        callbacks=[sn.ModelCheckpoint(every), sn.ModelCheckpoint(best, save_best_only=True)],
                        verbose=0)
    assert np.array_equal(sn.load(every).predict(X_val), model.predict(X_val))
    best_loss = min(history.history["val_loss"])
    assert sn.load(best).evaluate(X_val, y_val, loss=sn.CrossEntropy()) == pytest.approx(best_loss, rel=1e-5)


def test_divergence_never_overwrites_a_checkpoint_with_bad_weights(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32) * 100
    y = rng.normal(size=(64, 1)).astype(np.float32) * 100
    path = tmp_path / "ckpt.npz"
    model = sn.Sequential(sn.Dense(4, 8), sn.ReLU(), sn.Dense(8, 1), seed=0)
    with pytest.raises(sn.DivergedError, match=r"at epoch \d+, batch \d+"):
        model.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(learning_rate=0.002), epochs=50, batch_size=16,
                  callbacks=[sn.ModelCheckpoint(path)], verbose=0)     # diverges in epoch 2
    saved = sn.load(path)
    assert all(np.all(np.isfinite(p.value)) for p in saved.parameters())
    assert all(np.all(np.isfinite(p.value)) for p in model.parameters())


@pytest.mark.parametrize("make_seed", [lambda: 7, lambda: np.random.RandomState(7)])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, make_seed):
    X, y = blobs(120)

    def run(epochs, path, resume=False):
        model = net(seed=make_seed(), dropout=0.2)
        callbacks = [sn.ModelCheckpoint(path), sn.ReduceLROnPlateau("val_loss", patience=1, factor=0.5),
                     sn.EarlyStopping("val_loss", patience=50)]
        history = model.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=epochs,
                            batch_size=16, validation_split=0.25, metrics=["accuracy"],
                            callbacks=callbacks, resume_from=path if resume else None, verbose=0)
        return model, history

    whole, whole_history = run(6, tmp_path / "whole.npz")
    run(3, tmp_path / "part.npz")                                # "killed" after 3 epochs
    resumed, resumed_history = run(6, tmp_path / "part.npz", resume=True)
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert np.array_equal(p.value, q.value)
    assert resumed_history.history == whole_history.history
    assert resumed_history.epoch == list(range(6))


def test_resume_refuses_a_checkpoint_of_another_network_or_optimizer(tmp_path):
    X, y = blobs(40)
    path = tmp_path / "ckpt.npz"
    net().fit(X, y, loss="cross_entropy", optimizer=sn.Adam(), epochs=1, callbacks=[sn.ModelCheckpoint(path)], verbose=0)
    other = sn.Sequential(sn.Dense(4, 8), sn.ReLU(), sn.Dense(8, 3), seed=0)
    with pytest.raises(ValueError, match="holds a different network"):
        other.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(), epochs=2, resume_from=path,
                  callbacks=[sn.ModelCheckpoint(path)], verbose=0)
    with pytest.raises(ValueError, match="was trained with Adam, but fit got SGD"):
        net().fit(X, y, loss="cross_entropy", optimizer=sn.SGD(), epochs=2, resume_from=path,
                  callbacks=[sn.ModelCheckpoint(path)], verbose=0)
    plain = tmp_path / "plain.npz"
    net().save(plain)
    with pytest.raises(ValueError, match="without training state"):
        net().fit(X, y, loss="cross_entropy", optimizer=sn.Adam(), epochs=2, resume_from=plain, verbose=0)


def test_standardize_layer_keeps_preprocessing_inside_the_saved_model(tmp_path):
    X, y = blobs(150)
    X_raw = X * 100 + 1000                                      # far from standardized
    model = sn.Sequential(sn.Standardize.from_data(X_raw), sn.Dense(4, 16), sn.ReLU(), sn.Dense(16, 3), seed=0)
    model.classes = ["cat", "dog", "emu"]
    model.fit(X_raw, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(0.01), epochs=20, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = sn.load(path)
    assert np.array_equal(loaded.predict(X_raw), model.predict(X_raw))
    assert loaded.classes == ["cat", "dog", "emu"]
    assert np.mean(loaded.predict_classes(X_raw) == np.array(["cat", "dog", "emu"])[y]) > 0.9
    standardized = loaded.layers[0].forward(X_raw.astype(np.float32))
    np.testing.assert_allclose(standardized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(standardized.std(axis=0), 1, atol=1e-4)


def test_verbose_two_prints_one_line_per_epoch(capsys):
    X, y = blobs(40)
    net().fit(X, y, loss="cross_entropy", optimizer="adam", epochs=3, metrics=["accuracy"], verbose=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  loss: ") and "accuracy: " in lines[0]


def test_bad_training_arguments_fail_before_any_work():
    X, y = blobs(40)
    model = net()
    before = model.parameters()[0].value.copy()
    cases = [
        (dict(validation_split=1.0), ValueError, r"validation_split must be in \[0.0, 1.0\)"),
        (dict(validation_split=0.2, validation_data=(X, y)), ValueError, "not both"),
        (dict(validation_data=X), TypeError, "validation_data must be a pair"),
        (dict(validation_data=(X[:, :3], y)), ValueError, "validation X of shape"),
        (dict(validation_data=(X, y[:5])), ValueError, "validation X and validation y must have the same number"),
        (dict(metrics="accuracy"), TypeError, "metrics must be a list"),
        (dict(metrics=["f1"]), ValueError, "unknown metric 'f1'"),
        (dict(callbacks=[print]), TypeError, r"callbacks\[0\] must be a scratchnn callback"),
        (dict(callbacks=sn.EarlyStopping()), TypeError, "callbacks must be a list"),
    ]
    for change, error, message in cases:
        with pytest.raises(error, match=message):
            model.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=1, verbose=0, **change)
    assert np.array_equal(before, model.parameters()[0].value)
    for make, message in [(lambda: sn.EarlyStopping(patience=0), "patience must be >= 1"),
                          (lambda: sn.StepLR(0), "step_size must be >= 1"),
                          (lambda: sn.ExponentialLR(1.5), r"gamma must be in \(0.0, 1.0\]"),
                          (lambda: sn.ReduceLROnPlateau(factor=1.0), "factor must be in"),
                          (lambda: sn.EarlyStopping(mode="up"), "mode must be one of"),
                          (lambda: sn.ModelCheckpoint(3), "path must be a file path")]:
        with pytest.raises((ValueError, TypeError), match=message):
            make()


def test_resume_keeps_early_stoppings_best_weights(tmp_path):
    """The best epoch comes before the interruption and nothing improves after it: the
    resumed run must still end with the best weights, as the uninterrupted one does."""
    X, y = blobs(120)
    X_val, y_val = blobs(40, seed=9)

    def run(epochs, path, resume=False):
        model = net(seed=3)
        stopper = sn.EarlyStopping("val_loss", patience=50)
        model.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.SGD(3.0), epochs=epochs, batch_size=16,
                  validation_data=(X_val, y_val), callbacks=[sn.ModelCheckpoint(path), stopper],
                  resume_from=path if resume else None, verbose=0)
        return model, stopper

    whole, stopper = run(12, tmp_path / "whole.npz")
    assert stopper.best_epoch < 8                 # the best epoch is before the interruption
    run(8, tmp_path / "part.npz")
    resumed, _ = run(12, tmp_path / "part.npz", resume=True)
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert np.array_equal(p.value, q.value)


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os

    path = tmp_path / "model.npz"
    net().save(path)
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~mask)


def test_batch_statistics_check_counts_values_per_channel_not_rows():
    X = np.random.default_rng(0).normal(size=(17, 1, 6, 6))
    y = np.random.default_rng(1).integers(0, 2, size=17)
    net = sn.Sequential(sn.Conv2D(1, 2, 3), sn.BatchNorm(2), sn.ReLU(), sn.Flatten(), sn.Dense(32, 2), seed=0)
    net.fit(X, y, loss="cross_entropy", optimizer="sgd", batch_size=8, verbose=0)   # last batch: one 4x4 image
    dense = sn.Sequential(sn.Dense(36, 4), sn.BatchNorm(4), sn.Dense(4, 2), seed=0)
    with pytest.raises(ValueError, match=r"batch_size=1 leaves batches of shape \(1, 36\)"):
        dense.fit(X.reshape(17, -1), y, loss="cross_entropy", optimizer="sgd", batch_size=1, verbose=0)


def test_diverged_error_says_where():
    net = sn.Sequential(sn.Dense(2, 1), seed=0, dtype=np.float64)
    X, y = np.array([[1e200, 1e200]] * 4), np.ones(4)
    with pytest.raises(sn.DivergedError) as caught:
        net.fit(X, y, loss="mse", optimizer="sgd", batch_size=2, verbose=0)
    assert (caught.value.epoch, caught.value.batch) == (1, 1) and not np.isfinite(caught.value.value)


def test_a_callback_with_its_own_on_batch_end_on_the_instance_hears_every_batch():
    seen = []
    callback = sn.Callback()
    callback.on_batch_end = lambda training, batch, logs: seen.append(batch)
    net = sn.Sequential(sn.Dense(2, 1), seed=0)
    net.fit(np.ones((6, 2)), np.ones(6), loss="mse", optimizer="sgd", batch_size=2, epochs=2, verbose=0,
            callbacks=[callback])
    assert seen == [0, 1, 2, 0, 1, 2]


def test_a_checkpoint_with_a_damaged_training_state_is_refused_by_name(tmp_path):
    from scratchnn import serialization

    X, y = np.random.default_rng(0).normal(size=(8, 2)), np.arange(8) % 2
    path = tmp_path / "checkpoint.npz"
    net = sn.Sequential(sn.Dense(2, 2), seed=0)
    net.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=1, verbose=0, callbacks=[sn.ModelCheckpoint(path)])
    arrays = dict(np.load(path))
    config = json.loads(arrays.pop("__config__").tobytes())
    state = json.loads(arrays["__training__"].tobytes())
    del state["optimizer"]["iterations"], state["epoch"]
    arrays["__training__"] = serialization.json_array(state)
    config["checksums"] = serialization.checksums(arrays)
    arrays["__config__"] = serialization.json_array(config)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"__training__\) is missing or has wrong entries: epoch, optimizer\.iterations"):
        sn.Sequential(sn.Dense(2, 2), seed=0).fit(X, y, loss="cross_entropy", optimizer="adam", epochs=2, verbose=0,
                                                  callbacks=[sn.ModelCheckpoint(path)], resume_from=path)
