"""Issue #18, the command line side: Ctrl-C keeps the weights, errors say what the flag
expected, the first-layer picture shows every unit on a robust scale, small wording fixes."""

import csv
import importlib.util
import os
import struct

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli import main
from scratchnn.cli.models import LAYERS_HELP, build_mlp, parse_layers


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("scratchnn") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def write_csv(path, rows, header=None):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def square_csv(path, rows=40, seed=0):
    """16 features (a 4x4 image) and two classes, the label last."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 16))
    y = (X[:, 0] > 0).astype(int)
    return write_csv(path, [[f"{v:.3f}" for v in x] + [label] for x, label in zip(X, y)],
                     header=[f"p{j}" for j in range(16)] + ["label"])


# ---- item 11: small things ----------------------------------------------------------------------

def test_one_epoch_is_singular(capsys):
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--verbose", "0")
    assert code == 0 and "Trained 1 epoch in " in out


def test_layers_help_says_the_cli_pads_same_unlike_conv2d():
    assert "default here is 'same'" in LAYERS_HELP and "Conv2D, whose padding defaults to 0" in LAYERS_HELP
    conv = parse_layers("conv:4:3,relu", (16,), 2)[1]
    assert conv.padding == ((1, 1), (1, 1)) and sn.Conv2D(1, 4, 3).padding == ((0, 0), (0, 0))


def test_a_trailing_dense_of_the_class_count_is_the_output_layer(capsys, tmp_path):
    model = tmp_path / "net.npz"
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--verbose", "0",
                         "--layers", "dense:8,relu,dense:2", "--out", model)
    assert code == 0 and "Network: 2-8-2, relu" in out
    assert [type(layer).__name__ for layer in sn.load(model).layers] == ["Standardize", "Dense", "ReLU", "Dense"]
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1",
                         "--layers", "dense:8,relu,dense:5")
    assert_one_line_error(code, err, "--layers: the spec ends in 'dense:5', right before the output layer Dense(2)",
                          "'dense:2' to write the output layer yourself")


# ---- item 10: errors that say what the flag expected ----------------------------------------------

def test_conv_token_without_a_kernel_size_names_the_form(capsys, tmp_path):
    data = square_csv(tmp_path / "squares.csv")
    code, out, err = run(capsys, "train", data, "--epochs", "1", "--layers", "conv:16,relu")
    assert_one_line_error(code, err, "--layers: bad token 'conv:16': it has 1 value after the name; "
                          "expected conv:OUT:K[:STRIDE[:PAD]]")
    assert "unpack" not in err


def test_a_spec_line_without_commas_says_to_separate_with_commas(capsys, tmp_path):
    spec = tmp_path / "spec.txt"
    spec.write_text("dense:16 relu\n")
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--layers", f"@{spec}")
    assert_one_line_error(code, err, "--layers: bad token 'dense:16 relu': N must be a whole number, "
                          "got '16 relu'; expected dense:N (separate layers with commas)")
    assert "int()" not in err


def test_a_one_class_csv_names_the_class_without_numpy_reprs(capsys, tmp_path):
    data = write_csv(tmp_path / "one.csv", [[1, 2, 2], [3, 4, 2], [5, 6, 2]], header=["a", "b", "y"])
    code, out, err = run(capsys, "train", data, "--epochs", "1")
    assert_one_line_error(code, err, "the target column 'y' holds one class only ('2'); a classifier needs at "
                          "least two (--target picks the column of labels, by default the last)")
    assert "np." not in err


def test_na_is_reported_as_a_missing_value_by_train_and_predict(capsys, tmp_path):
    data = write_csv(tmp_path / "na.csv", [[1, "NA", 0], [3, 4, 1], [5, 6, 0], [7, 8, 1]], header=["a", "b", "y"])
    code, out, err = run(capsys, "train", data, "--epochs", "1")
    assert_one_line_error(code, err, "na.csv, line 2, column 'b': 'NA' is not a finite number but a missing "
                          "value; scratchnn does not fill in missing values")
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--verbose", "0", "--out", model)[0] == 0
    inputs = write_csv(tmp_path / "in.csv", [[1, 2], [3, "n/a"]])
    code, out, err = run(capsys, "predict", model, inputs)
    assert_one_line_error(code, err, "in.csv, line 2, column 2: 'n/a' is not a finite number but a missing value")
    inputs = write_csv(tmp_path / "first.csv", [[1, "NA"], [3, 4]])          # not taken for a header
    code, out, err = run(capsys, "predict", model, inputs)
    assert_one_line_error(code, err, "first.csv, line 1, column 2: 'NA' is not a finite number but a missing value")


def write_idx(path, array):
    """An IDX file of unsigned bytes (the format of the MNIST files)."""
    array = np.asarray(array, dtype=np.uint8)
    with open(path, "wb") as file:
        file.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        file.write(struct.pack(f">{array.ndim}I", *array.shape))
        file.write(array.tobytes())


def test_evaluate_on_mnist_needs_only_the_test_files_and_says_where_to_put_them(capsys, tmp_path, monkeypatch):
    import scratchnn.cli.data as cli_data

    def offline(url, *args, **kwargs):
        raise sn.datasets.DownloadError(f"could not download {url}: offline. {kwargs.get('hint', '')}")

    monkeypatch.setattr(cli_data, "download_file", offline, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("SCRATCHNN_DATA", str(tmp_path / "data"))
    os.makedirs(tmp_path / "data")
    net = build_mlp((784,), [], num_classes=10)
    net.classes = [str(digit) for digit in range(10)]
    net.save(tmp_path / "digits.npz")
    code, out, err = run(capsys, "evaluate", tmp_path / "digits.npz", "mnist")
    assert_one_line_error(code, err, "t10k-images-idx3-ubyte.gz: offline. DATA mnist needs t10k-images-idx3-ubyte, "
                          f"t10k-labels-idx1-ubyte (plain or .gz) in one of {tmp_path / 'data'}",
                          "set $SCRATCHNN_DATA to their folder")
    assert "path=" not in err and "train-images" not in err

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "data" / "t10k-images-idx3-ubyte", rng.integers(0, 256, size=(20, 28, 28)))
    write_idx(tmp_path / "data" / "t10k-labels-idx1-ubyte", rng.integers(0, 10, size=20))
    code, out, err = run(capsys, "evaluate", tmp_path / "digits.npz", "mnist")
    assert code == 0 and err == "" and "mnist: 20 test rows" in out
    code, out, err = run(capsys, "train", "mnist", "--epochs", "1")          # train needs the training files
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz: offline. DATA mnist needs train-images-idx3-ubyte")


def test_threads_auto_without_threadpoolctl_says_it_uses_one_thread(capsys, tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "threadpoolctl" else
                        find_spec(name, *a))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    data = square_csv(tmp_path / "squares.csv")
    code, out, err = run(capsys, "train", data, "--layers", "conv:2:3,relu,flatten", "--batch-size", "128",
                         "--epochs", "1", "--verbose", "0")
    assert code == 0 and err == ("Note: --threads auto runs on 1 thread, not 2, because threadpoolctl is not "
                                 "installed (pip install threadpoolctl)\n")
    code, out, err = run(capsys, "train", data, "--epochs", "1", "--verbose", "0")     # an MLP: 1 thread anyway
    assert code == 0 and err == ""


# ---- item 3: Ctrl-C keeps the weights of the last finished epoch ------------------------------------

def interrupt_at_step(monkeypatch, step):
    """Make the `step`-th optimizer step (1-based) raise KeyboardInterrupt, as Ctrl-C would."""
    adam_step, count = sn.optim.Adam.step, [0]

    def step_or_interrupt(self, *args, **kwargs):
        count[0] += 1
        if count[0] == step:
            raise KeyboardInterrupt
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(sn.optim.Adam, "step", step_or_interrupt)


def test_ctrl_c_keeps_the_last_finished_epochs_weights_and_plots(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    train = ["train", "moons", "--samples", "200", "--hidden", "8", "--verbose", "0"]
    assert run(capsys, *train, "--epochs", "2", "--out", tmp_path / "two.npz")[0] == 0
    # 144 training rows in batches of 32: 5 steps an epoch; step 13 is in the middle of epoch 3
    interrupt_at_step(monkeypatch, 13)
    plots = tmp_path / "plots"
    code, out, err = run(capsys, *train, "--epochs", "5", "--out", tmp_path / "model.npz", "--plots", plots)
    saved = tmp_path / "model.interrupted-epoch2.npz"
    assert code == 130 and err == (f"scratchnn: interrupted (the weights of epoch 2, the last finished, are in "
                                   f"{saved}; the plots of epochs 1-2 are in {plots})\n")
    assert not (tmp_path / "model.npz").exists()
    kept, reference = sn.load(saved).state_dict(), sn.load(tmp_path / "two.npz").state_dict()
    for name, value in reference.items():          # epoch 2's weights, bit for bit: no half epoch
        np.testing.assert_array_equal(kept[name], value, err_msg=name)
    assert {"history.png", "confusion_matrix.png", "decision_boundary.png"} <= set(os.listdir(plots))


def test_ctrl_c_in_the_first_epoch_says_nothing_was_saved(capsys, tmp_path, monkeypatch):
    interrupt_at_step(monkeypatch, 2)
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--verbose", "0", "--out", tmp_path / "m.npz")
    assert code == 130 and err == "scratchnn: interrupted (no epoch had finished, so nothing was saved)\n"
    assert os.listdir(tmp_path) == []


# ---- item 9: first-layer weights, every unit on a robust scale --------------------------------------

def test_first_layer_weights_show_every_unit_on_a_robust_symmetric_scale(tmp_path):
    pytest.importorskip("matplotlib")
    weights = np.random.default_rng(0).normal(size=(16, 100))        # 4x4 inputs, 100 units
    weights[0, 0] = 1000.0                                            # one outlier
    fig = sn.plot.plot_first_layer_weights(weights, path=tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 0
    limit = np.percentile(np.abs(weights), 99)
    image = next(image for ax in fig.axes for image in ax.images)
    assert image.get_clim() == pytest.approx((-limit, limit)) and limit < 5  # not set by the outlier
    shown = image.get_array()
    assert np.isfinite(shown).sum() == weights.size                  # every unit, in one mosaic
    np.testing.assert_array_equal(shown[0:4, 12:16], weights[:, 2].reshape(4, 4))    # unit 2: row 0, column 2
    assert "100 of 100 units" in fig._suptitle.get_text() and "99th percentile of |w|" in fig._suptitle.get_text()
    fig = sn.plot.plot_first_layer_weights(weights, max_units=9)    # the old argument: the first 9, tiled
    assert sum(1 for ax in fig.axes if ax.images) == 9 and "9 of 100 units" in fig._suptitle.get_text()


def test_predict_warns_in_one_line_about_inputs_far_outside_the_training_range(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.random((60, 4))                                      # trained on [0, 1], like pixels
    y = (X[:, 0] > 0.5).astype(int)
    net = sn.Sequential(sn.Dense(4, 2), seed=0)
    net.fit(X, y, loss="cross_entropy", optimizer="adam", epochs=2, verbose=0)
    net.save(tmp_path / "model.npz")
    np.save(tmp_path / "raw.npy", X * 255)                       # 0-255 "pixels"
    assert main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "raw.npy")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scratchnn: warning: X holds values from")
    assert "divide them by 255" in err[0]
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "pixels in [0, 1] (divide 0-255 values by 255)" in " ".join(capsys.readouterr().out.split())


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="needs dataset-fashion-mnist")
def test_images_default_to_the_measured_recipes(capsys, tmp_path):
    code, out, err = run(capsys, "train", "fashion-mnist", "--limit", "300", "--epochs", "1", "--verbose", "0",
                         "--out", tmp_path / "mlp.npz")
    assert code == 0, err
    assert "Network: 784-512-256-10, relu, dropout 0.2" in out or "Network: 784-512-256-10" in out
    layers = [type(layer).__name__ for layer in sn.load(tmp_path / "mlp.npz").layers]
    assert layers == ["Dense", "ReLU", "Dropout", "Dense", "ReLU", "Dropout", "Dense"]

    from scratchnn.cli.main import build_parser
    from scratchnn.cli.train import _apply_recipe

    for argv, kind, expected in [
            (["train", "fashion-mnist"], "images", {"epochs": 30, "hidden": [512, 256], "dropout": 0.2,
                                                    "schedule": "cosine", "label_smoothing": 0.1,
                                                    "validation_split": 0.1, "learning_rate": None}),
            (["train", "fashion-mnist", "--model", "cnn"], "images", {"epochs": 20, "schedule": "cosine",
                                                                     "label_smoothing": 0.1, "validation_split": 0.0,
                                                                     "learning_rate": 3e-3}),
            (["train", "fashion-mnist", "--model", "cnn", "--learning-rate", "1e-3"], "images",
             {"learning_rate": 1e-3}),
            (["train", "fashion-mnist", "--model", "cnn", "--optimizer", "sgd"], "images",     # SGD's own default
             {"learning_rate": None}),
            (["train", "fashion-mnist", "--layers", "conv:8:3,relu,flatten"], "images", {"learning_rate": 3e-3}),
            (["train", "fashion-mnist", "--model", "cnn", "--validation-split", "0.2"], "images",
             {"validation_split": 0.2}),
            (["train", "fashion-mnist", "--model", "cnn", "--early-stopping", "3"], "images",
             {"validation_split": 0.1, "early_stopping": 3}),
            (["train", "circles"], "toy", {"epochs": None, "hidden": [64], "dropout": 0.0, "schedule": "none",
                                           "label_smoothing": 0.0}),
            (["train", "fashion-mnist", "--hidden", "32", "--schedule", "none", "--label-smoothing", "0"], "images",
             {"hidden": [32], "schedule": "none", "label_smoothing": 0.0, "dropout": 0.2})]:
        args = build_parser().parse_args(argv)
        _apply_recipe(args, kind)
        assert {name: getattr(args, name) for name in expected} == expected, argv
