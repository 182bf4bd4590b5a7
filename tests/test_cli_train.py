"""The train, evaluate, predict and summary commands, end to end through `scratchnn.cli.main`."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli import main
from scratchnn.cli.models import build_mlp
from scratchnn.cli.plots import WeightSnapshots
from scratchnn.nn.activations import softmax
from scratchnn.datasets import load_fashion_mnist, make_dataset
from scratchnn.serialization import read_npz

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FASHION = "/usr/share/datasets/fashion-mnist"
SPECIES = ("setosa", "versicolor", "virginica")


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, fragment):
    assert code == 2, err
    assert err.startswith("scratchnn") and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, err


def assert_real_picture(path):
    """A PNG (or GIF) that decodes and holds more than a few colours: something was drawn."""
    from PIL import Image

    path = Path(path)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC if path.suffix == ".png" else data[:6] in (b"GIF87a", b"GIF89a")
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert image.size[0] >= 150 and image.size[1] >= 150
    assert colours is None or len(colours) > 2, f"{path.name} is (almost) a single colour"


def species_csv(path, n_per_class=30, n_features=4, seed=0, header=True):
    """A small table: numeric features around one centre per species, the species last."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(len(SPECIES), n_features))
    rows = [(centre + rng.normal(0, 0.6, n_features), name)
            for _ in range(n_per_class) for centre, name in zip(centres, SPECIES)]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow([f"feature_{j}" for j in range(n_features)] + ["species"])
        for features, name in rows:
            writer.writerow([f"{value:.4f}" for value in features] + [name])
    return path


def training_history(checkpoint):
    state = read_npz(checkpoint)["__training__"]
    return json.loads(state.astype(np.uint8).tobytes().decode("utf-8"))


# ---- train on toy sets ---------------------------------------------------------------------

@pytest.mark.parametrize("name, extra", [("spirals", ["--activation", "tanh", "--hidden", "16,16"]),
                                         ("moons", ["--hidden", "8", "--dropout", "0.1"])])
def test_train_toy_set_prints_accuracy_and_time_and_writes_every_plot(capsys, tmp_path, name, extra):
    pytest.importorskip("matplotlib")
    plots = tmp_path / "runs" / name
    code, out, err = run(capsys, "train", name, *extra, "--epochs", "12", "--samples", "200",
                         "--plots", plots, "--out", tmp_path / "model.npz", "--verbose", "0")
    assert code == 0 and err == ""
    assert f"{name}: 160 training and 40 test rows, 2 features, 2 classes" in out
    assert "Trained 12 epochs in" in out and "s per epoch)" in out and "Test accuracy: " in out
    assert sorted(os.listdir(plots)) == ["confusion_matrix.png", "decision_boundary.gif",
                                         "decision_boundary.png", "gradient_stats.png", "history.png"]
    for picture in plots.iterdir():
        assert_real_picture(picture)


def test_the_animation_shows_the_boundary_of_each_epoch(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    code, _, _ = run(capsys, "train", "xor", "--epochs", "5", "--samples", "100", "--plots", tmp_path,
                     "--learning-rate", "0.1", "--verbose", "0")
    assert code == 0
    with Image.open(tmp_path / "decision_boundary.gif") as gif:
        assert gif.n_frames == 6                           # the untrained network, then each epoch
        frames = []
        for index in range(6):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))


def test_snapshots_are_at_most_30_and_frozen():
    X, y = make_dataset("moons", n_samples=40, random_state=0)
    net = sn.Sequential(sn.Dense(2, 3), sn.Tanh(), sn.Dense(3, 2), seed=0)
    snapshots = WeightSnapshots(epochs=61)
    net.fit(X, y, sn.CrossEntropy(), sn.Adam(0.1), epochs=61, callbacks=[snapshots], verbose=0)
    assert [epoch for epoch, _ in snapshots.frames] == [0, *range(3, 61, 3), 61] and snapshots.epochs_run == 61
    first, last = snapshots.frames[0][1], snapshots.frames[-1][1]
    assert not np.array_equal(first["0.weight"], last["0.weight"])
    np.testing.assert_array_equal(last["0.weight"], net.state_dict()["0.weight"])
    counting = WeightSnapshots(epochs=5, keep=False)
    net.fit(X, y, sn.CrossEntropy(), sn.Adam(0.1), epochs=5, callbacks=[counting], verbose=0)
    assert counting.frames == [] and counting.epochs_run == 5


def test_train_is_reproducible_from_the_seed(capsys, tmp_path):
    for name in ("a", "b", "c"):
        seed = "1" if name == "c" else "0"
        assert run(capsys, "train", "circles", "--epochs", "3", "--seed", seed, "--out", tmp_path / f"{name}.npz",
                   "--verbose", "0")[0] == 0
    a, b, c = (sn.load(tmp_path / f"{name}.npz").state_dict() for name in "abc")
    assert all(np.array_equal(a[key], b[key]) for key in a)
    assert not all(np.array_equal(a[key], c[key]) for key in a)


def test_train_options_shape_the_network(capsys, tmp_path):
    path = tmp_path / "net.npz"
    code, out, _ = run(capsys, "train", "gaussians", "--hidden", "", "--dtype", "float64", "--epochs", "2",
                       "--optimizer", "sgd", "--learning-rate", "0.5", "--out", path, "--verbose", "0")
    assert code == 0 and "Network: 2-2, 6 parameters (float64); SGD(learning_rate=0.5" in out
    net = sn.load(path)
    assert [type(layer).__name__ for layer in net.layers] == ["Standardize", "Dense"]
    assert net.dtype == np.float64 and net.classes == ["0", "1"]

    code, out, _ = run(capsys, "train", "moons", "--hidden", "5,3", "--activation", "gelu", "--dropout", "0.2",
                       "--epochs", "1", "--out", path, "--verbose", "0")
    assert code == 0 and "Network: 2-5-3-2, gelu, 41 parameters (float32)" in out
    assert [type(layer).__name__ for layer in sn.load(path).layers] == [
        "Standardize", "Dense", "GELU", "Dropout", "Dense", "GELU", "Dropout", "Dense"]
    code, out, _ = run(capsys, "train", "moons", "--epochs", "1", "--verbose", "0")
    assert code == 0 and "not saved (pass --out PATH" in out


def test_verbose_2_prints_one_line_per_epoch_on_stderr(capsys):
    code, out, err = run(capsys, "train", "moons", "--epochs", "3", "--samples", "100", "--verbose", "2")
    assert code == 0 and "epoch" not in out.lower().replace("epochs", "").replace("per epoch", "")
    assert [line.split()[:2] for line in err.splitlines()] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    assert "val_loss" in err and "accuracy" in err


def test_build_mlp_is_reusable_outside_the_command_line():
    net = build_mlp((1, 4, 4), [5], activation="tanh", dropout=0.5, num_classes=3, seed=0, dtype=np.float64)
    assert [type(layer).__name__ for layer in net.layers] == ["Flatten", "Dense", "Tanh", "Dropout", "Dense"]
    assert net.layers[1].init == "glorot_uniform" and net.dtype == np.float64
    assert net.predict(np.zeros((2, 1, 4, 4))).shape == (2, 3)
    X = np.random.default_rng(0).normal(5, 2, size=(50, 3))
    net = build_mlp((3,), [4, 4], num_classes=2, standardize_from=X)
    assert [type(layer).__name__ for layer in net.layers] == ["Standardize", "Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert net.layers[1].init == "he_uniform"
    np.testing.assert_allclose(net.layers[0].mean, X.mean(axis=0), rtol=1e-6)


def test_python_dash_m_train_exits_2_without_a_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "src")}
    done = subprocess.run([sys.executable, "-m", "scratchnn", "train", "moons", "--epochs", "2", "--verbose", "0",
                           "--out", str(tmp_path / "m.npz")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "Test accuracy" in done.stdout and done.stderr == ""
    done = subprocess.run([sys.executable, "-m", "scratchnn", "summary", str(tmp_path / "missing.npz")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


# ---- a CSV file with string labels: train, predict, evaluate, summary ------------------------

def test_csv_train_then_predict_evaluate_and_summary(capsys, tmp_path):
    table = species_csv(tmp_path / "iris.csv")
    model = tmp_path / "iris.npz"
    code, out, err = run(capsys, "train", table, "--target", "species", "--hidden", "16", "--out", model,
                         "--epochs", "40", "--verbose", "0")
    assert code == 0 and err == ""
    assert "iris.csv: 72 training and 18 test rows, 4 features, 3 classes" in out
    assert f"Saved the model to {model}" in out
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert accuracy > 0.9
    net = sn.load(model)
    assert net.classes == list(SPECIES) and type(net.layers[0]).__name__ == "Standardize"

    # predict: the class names of the model, one row per input row, probabilities that sum to 1
    code, out, err = run(capsys, "predict", model, table, "--target", "species")
    assert code == 0 and err == ""
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    X = np.loadtxt(table, delimiter=",", skiprows=1, usecols=range(4))
    truth = np.loadtxt(table, delimiter=",", skiprows=1, usecols=4, dtype=str)
    assert len(rows) == 1 + len(X)
    assert [row[0] for row in rows[1:]] == list(net.predict_classes(X))
    assert np.mean([row[0] for row in rows[1:]] == truth) > 0.9
    probabilities = softmax(net.predict(X).astype(np.float64))
    assert [row[1:] for row in rows[1:]] == [[f"{p:.6g}" for p in row] for row in probabilities]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1)

    # evaluate: the same test rows as train held out, so the same accuracy
    code, out, err = run(capsys, "evaluate", model, table, "--target", "species")
    assert code == 0 and err == "" and "18 test rows" in out
    assert f"Test accuracy: {accuracy:.4f}" in out and "Test loss: " in out
    code, out, _ = run(capsys, "evaluate", model, table, "--target", "species", "--all-rows")
    assert code == 0 and "iris.csv: 90 rows" in out and "of 90 correct)" in out

    code, out, err = run(capsys, "summary", model)
    assert code == 0 and err == ""
    assert "Dense(in_features=4, out_features=16" in out and "Total parameters: 131 (float32)" in out
    assert "dtype: float32" in out and "classes (3): setosa, versicolor, virginica" in out


def test_predict_reads_csv_without_header_and_npy(capsys, tmp_path):
    table = species_csv(tmp_path / "train.csv", n_features=3)
    model = tmp_path / "m.npz"
    assert run(capsys, "train", table, "--epochs", "5", "--out", model, "--verbose", "0")[0] == 0
    X = np.round(np.random.default_rng(1).normal(size=(7, 3)), 6)      # exactly what the CSV holds
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",", fmt="%.6f")
    np.save(tmp_path / "rows.npy", X)
    outputs = []
    for inputs in ("plain.csv", "rows.npy"):
        code, out, err = run(capsys, "predict", model, tmp_path / inputs)
        assert code == 0 and err == ""
        outputs.append(out)
        assert [row[0] for row in csv.reader(io.StringIO(out))][1:] == list(sn.load(model).predict_classes(X))
    assert outputs[0] == outputs[1]


def test_integer_labels_keep_their_values_as_class_names(capsys, tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([3, 10, 7], 20)
    X = rng.normal(size=(60, 2)) + labels[:, None]
    np.savetxt(tmp_path / "t.csv", np.column_stack([X, labels]), delimiter=",", fmt="%g")
    model = tmp_path / "m.npz"
    assert run(capsys, "train", tmp_path / "t.csv", "--epochs", "3", "--out", model, "--verbose", "0")[0] == 0
    assert sn.load(model).classes == ["3", "7", "10"]               # numeric order, not "10" < "3"
    code, out, _ = run(capsys, "evaluate", model, tmp_path / "t.csv")
    assert code == 0 and "Test accuracy" in out


def test_csv_with_two_features_and_three_classes_draws_class_regions(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    table = species_csv(tmp_path / "plane.csv", n_features=2)
    code, out, _ = run(capsys, "train", table, "--epochs", "4", "--plots", tmp_path / "p", "--verbose", "0")
    assert code == 0
    assert sorted(os.listdir(tmp_path / "p")) == ["confusion_matrix.png", "decision_boundary.gif",
                                                  "decision_boundary.png", "gradient_stats.png", "history.png"]
    for picture in (tmp_path / "p").iterdir():
        assert_real_picture(picture)
    code, out, _ = run(capsys, "evaluate", tmp_path / "missing.npz", table)
    assert code == 2


def test_evaluate_toy_set_regenerates_the_same_test_rows_and_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    model = tmp_path / "c.npz"
    code, out, _ = run(capsys, "train", "circles", "--samples", "300", "--noise", "0.05", "--seed", "3",
                       "--epochs", "20", "--out", model, "--verbose", "0")
    trained = out.split("Test accuracy: ")[1].split()[0]
    code, out, err = run(capsys, "evaluate", model, "circles", "--samples", "300", "--noise", "0.05",
                         "--seed", "3", "--plots", tmp_path / "eval")
    assert code == 0 and err == "" and f"Test accuracy: {trained}" in out and "60 test rows" in out
    assert_real_picture(tmp_path / "eval" / "confusion_matrix.png")


# ---- checkpoints, early stopping, schedules ---------------------------------------------------

def test_resume_from_a_checkpoint_gives_the_weights_of_one_uninterrupted_run(capsys, tmp_path):
    common = ["train", "moons", "--samples", "200", "--hidden", "8,8", "--verbose", "0"]
    assert run(capsys, *common, "--epochs", "6", "--checkpoint", tmp_path / "full-ck.npz",
               "--out", tmp_path / "full.npz")[0] == 0
    assert run(capsys, *common, "--epochs", "3", "--checkpoint", tmp_path / "ck.npz",
               "--out", tmp_path / "half.npz")[0] == 0
    assert training_history(tmp_path / "ck.npz")["epoch"] == 2
    code, out, _ = run(capsys, *common, "--epochs", "6", "--checkpoint", tmp_path / "ck.npz", "--resume",
                       "--out", tmp_path / "resumed.npz")
    assert code == 0 and "Trained 3 epochs (resumed after epoch 3)" in out
    full, half, resumed = (sn.load(tmp_path / f"{name}.npz").state_dict() for name in ("full", "half", "resumed"))
    for key in full:
        np.testing.assert_array_equal(resumed[key], full[key])
    assert not all(np.array_equal(half[key], full[key]) for key in full)
    assert training_history(tmp_path / "ck.npz")["history"] == training_history(tmp_path / "full-ck.npz")["history"]
    code, out, _ = run(capsys, *common, "--epochs", "6", "--checkpoint", tmp_path / "ck.npz", "--resume")
    assert code == 0 and "Nothing to train: the checkpoint already holds 6 of 6 epochs." in out

    code, out, _ = run(capsys, "summary", tmp_path / "ck.npz")
    assert code == 0 and "checkpoint: training state after epoch 6" in out


def test_resume_with_other_callbacks_is_refused_in_one_line(capsys, tmp_path):
    common = ["train", "xor", "--samples", "100", "--verbose", "0", "--checkpoint", tmp_path / "ck.npz"]
    assert run(capsys, *common, "--epochs", "2")[0] == 0
    code, out, err = run(capsys, *common, "--epochs", "4", "--resume", "--schedule", "cosine")
    assert_one_line_error(code, err, "was written with callbacks")
    code, out, err = run(capsys, *common, "--epochs", "4", "--resume", "--hidden", "3")
    assert_one_line_error(code, err, "holds a different network than this model")


def test_early_stopping_stops_and_keeps_the_best_weights(capsys, tmp_path):
    code, out, err = run(capsys, "train", "spirals", "--samples", "200", "--learning-rate", "0.1",
                         "--early-stopping", "2", "--epochs", "300", "--checkpoint", tmp_path / "ck.npz",
                         "--out", tmp_path / "m.npz", "--verbose", "0")
    assert code == 0 and err == ""
    assert "Early stopping: val_loss did not improve for 2 epochs; stopped after epoch" in out
    history = training_history(tmp_path / "ck.npz")["history"]
    stopped = len(history["val_loss"])
    assert stopped < 300 and f"stopped after epoch {stopped} of 300" in out
    best = int(np.argmin(history["val_loss"]))
    assert best == stopped - 3 and f"Kept the weights of epoch {best + 1}" in out


def test_early_stopping_after_resume_says_when_the_best_weights_are_lost(capsys, tmp_path):
    # EarlyStopping's checkpoint state holds no weights: if the best epoch came before --resume,
    # the library cannot restore it, and the command must say so rather than claim it did.
    common = ["train", "moons", "--samples", "200", "--learning-rate", "0.3", "--early-stopping", "50", "--verbose", "0"]
    assert run(capsys, *common, "--epochs", "32", "--out", tmp_path / "straight.npz")[0] == 0
    assert run(capsys, *common, "--epochs", "30", "--checkpoint", tmp_path / "ck.npz")[0] == 0
    code, out, err = run(capsys, *common, "--epochs", "32", "--checkpoint", tmp_path / "ck.npz", "--resume",
                         "--out", tmp_path / "resumed.npz")
    assert code == 0
    straight, resumed = (sn.load(tmp_path / f"{name}.npz").state_dict() for name in ("straight", "resumed"))
    if all(np.array_equal(straight[key], resumed[key]) for key in straight):
        assert err == "" and "Kept the weights of epoch 16" in out
    else:
        assert err.startswith("Note: the best epoch (16, val_loss") and "the model keeps the last epoch's" in err


@pytest.mark.parametrize("schedule, expected", [
    ("none", [0.01] * 6),
    ("step", [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]),
    ("exponential", [0.01 * 0.01 ** (epoch / 5) for epoch in range(6)]),
    ("cosine", [0.01 * (1 + np.cos(np.pi * epoch / 6)) / 2 for epoch in range(6)]),
])
def test_each_schedule_sets_the_learning_rate_of_each_epoch(capsys, tmp_path, schedule, expected):
    code, _, _ = run(capsys, "train", "moons", "--samples", "100", "--epochs", "6", "--schedule", schedule,
                     "--checkpoint", tmp_path / "ck.npz", "--verbose", "0")
    assert code == 0
    np.testing.assert_allclose(training_history(tmp_path / "ck.npz")["history"]["learning_rate"], expected, rtol=1e-9)


def test_plateau_schedule_divides_the_rate_when_the_loss_stalls(capsys, tmp_path):
    # a learning rate far too large: the validation loss stalls, so the rate is divided by 10
    code, _, _ = run(capsys, "train", "xor", "--samples", "100", "--epochs", "12", "--schedule", "plateau",
                     "--learning-rate", "5", "--checkpoint", tmp_path / "ck.npz", "--verbose", "0")
    assert code == 0
    state = training_history(tmp_path / "ck.npz")
    rates = state["history"]["learning_rate"]
    assert rates[0] == 5 and min(rates) < 5 and all(b <= a for a, b in zip(rates, rates[1:]))
    powers = np.log10(np.array(rates) / 5)                           # 5 · 10^-k: divided by 10 k times
    np.testing.assert_allclose(powers, np.round(powers), atol=1e-9)
    assert [c["class"] for c in state["callbacks"]] == ["ReduceLROnPlateau", "WeightSnapshots", "ModelCheckpoint"]


# ---- errors: one line on stderr, exit code 2 --------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["train", "nowhere.csv"], "no such CSV file: 'nowhere.csv'"),
    (["train", "cifar"], "unknown data set 'cifar': expected fashion-mnist, mnist, circles"),
    (["train", "moons", "--hidden", "a,b"], "argument --hidden: expected comma-separated positive integers"),
    (["train", "moons", "--hidden", "16,0"], "argument --hidden: expected comma-separated positive integers"),
    (["train", "moons", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "moons", "--dropout", "1"], "argument --dropout: expected a number in [0, 1), got '1'"),
    (["train", "moons", "--validation-split", "-0.1"], "argument --validation-split: expected a non-negative"),
    (["train", "moons", "--activation", "softmax"], "argument --activation: invalid choice: 'softmax'"),
    (["train", "moons", "--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
    (["train", "moons", "--verbose", "3"], "argument --verbose: invalid choice: 3"),
    (["train", "moons", "--target", "y"], "--target applies to CSV files only"),
    (["train", "fashion-mnist", "--noise", "0.1"], "--samples and --noise apply to the toy sets"),
    (["train", "moons", "--resume"], "--resume continues from the file given by --checkpoint PATH"),
    (["train", "moons", "--early-stopping", "3", "--validation-split", "0"], "it needs --validation-split > 0"),
    (["train", "moons", "--out", "no/such/folder/m.npz"], "--out 'no/such/folder/m.npz': the folder"),
    (["train", "moons", "--samples", "1"], "n_samples must be at least n_classes=2"),
    (["evaluate", "nowhere.npz", "moons"], "no model file at 'nowhere.npz'"),
    (["summary", "nowhere.npz"], "no model file at 'nowhere.npz'"),
    (["predict", "nowhere.npz", "x.csv"], "no model file at 'nowhere.npz'"),
])
def test_bad_command_lines_exit_2_with_one_line(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, fragment)


def test_train_csv_errors(capsys, tmp_path):
    table = species_csv(tmp_path / "t.csv")
    code, out, err = run(capsys, "train", table, "--target", "colour")
    assert out == "" and "available: ['feature_0'" in err
    assert_one_line_error(code, err, "target='colour' is not a column of")
    np.savetxt(tmp_path / "regression.csv", np.column_stack([np.ones(10), np.linspace(0, 1, 10)]), delimiter=",")
    code, out, err = run(capsys, "train", tmp_path / "regression.csv", "--task", "classification")
    assert_one_line_error(code, err, "holds non-integer numbers such as 0.111111; scratchnn train does classification")
    (tmp_path / "one.csv").write_text("a,b\n1,x\n2,x\n3,x\n")
    code, out, err = run(capsys, "train", tmp_path / "one.csv")
    assert_one_line_error(code, err, "holds one class only ('x'); a classifier needs at least two")
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n2,y\n3,\n")
    code, out, err = run(capsys, "train", tmp_path / "bad.csv", "--target", "b")
    assert_one_line_error(code, err, "missing value (empty cell)")


def test_predict_and_evaluate_errors(capsys, tmp_path):
    table = species_csv(tmp_path / "t.csv")
    model = tmp_path / "m.npz"
    assert run(capsys, "train", table, "--epochs", "1", "--out", model, "--verbose", "0")[0] == 0

    code, out, err = run(capsys, "predict", model, table)
    assert out == ""
    assert_one_line_error(code, err, "line 2, column 5: 'setosa' is not a finite number; pass --target")
    np.savetxt(tmp_path / "three.csv", np.ones((4, 3)), delimiter=",")
    code, out, err = run(capsys, "predict", model, tmp_path / "three.csv")
    assert out == ""
    assert_one_line_error(code, err, "three.csv has 3 columns per row, but the model expects 4 features")
    np.savetxt(tmp_path / "five.csv", np.ones((4, 5)), delimiter=",")
    code, out, err = run(capsys, "predict", model, tmp_path / "five.csv")
    assert_one_line_error(code, err, "expects 4 features (pass --target to drop the target column)")
    code, out, err = run(capsys, "predict", model, table, "--target", "nope")
    assert_one_line_error(code, err, "--target 'nope' is not a column of")

    (tmp_path / "notes.npz").write_text("not a model at all\n")
    for argv in (["summary"], ["predict", None, tmp_path / "three.csv"], ["evaluate", None, "moons"]):
        argv = [tmp_path / "notes.npz" if a is None else a for a in argv]
        if len(argv) == 1:
            argv.append(tmp_path / "notes.npz")
        code, out, err = run(capsys, *argv)
        assert out == ""
        assert_one_line_error(code, err, "is not a readable scratchnn model file")

    code, out, err = run(capsys, "evaluate", model, "moons")
    assert_one_line_error(code, err, "was trained on the classes ['setosa', 'versicolor', 'virginica'], but moons")
    other = tmp_path / "other.csv"
    other.write_text("a,b,c,d,species\n1,2,3,4,daisy\n1,2,3,4,setosa\n")
    code, out, err = run(capsys, "evaluate", model, other, "--all-rows")
    assert_one_line_error(code, err, "holds labels ['daisy'] that the model does not know")


def test_missing_matplotlib_is_one_line_before_any_training(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)            # `import matplotlib` fails
    code, out, err = run(capsys, "train", "moons", "--plots", tmp_path / "p")
    assert out == ""
    assert_one_line_error(code, err, "--plots needs matplotlib, which is not installed: pip install scratchnn[plot]")


def test_divergence_is_one_line(capsys):
    code, out, err = run(capsys, "train", "moons", "--optimizer", "sgd", "--learning-rate", "1e30", "--verbose", "0")
    assert_one_line_error(code, err, "loss became nan at epoch 1")


def test_ctrl_c_prints_one_line_and_exits_130(capsys, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    checkpoint = ["--checkpoint", tmp_path / "ck.npz", "--samples", "100", "--verbose", "0"]
    monkeypatch.setattr(sn.Sequential, "fit", interrupted)
    code, out, err = run(capsys, "train", "moons", *checkpoint)       # before the first checkpoint
    assert code == 130 and err == "scratchnn: interrupted\n"
    monkeypatch.undo()
    assert run(capsys, "train", "moons", "--epochs", "1", *checkpoint)[0] == 0
    monkeypatch.setattr(sn.Sequential, "fit", interrupted)
    code, out, err = run(capsys, "train", "moons", "--epochs", "2", *checkpoint, "--resume")
    assert code == 130 and err.count("\n") == 1 and err.startswith("scratchnn: interrupted (")
    assert "ck.npz holds the last finished epoch; run the same command with --resume" in err


# ---- the real Fashion-MNIST files -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(FASHION), reason=f"Fashion-MNIST is not installed at {FASHION}")
def test_fashion_mnist_slice_end_to_end(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.delenv("SCRATCHNN_DATA", raising=False)
    model, plots = tmp_path / "fmnist.npz", tmp_path / "plots"
    code, out, err = run(capsys, "train", "fashion-mnist", "--limit", "2000", "--epochs", "2", "--hidden", "64",
                         "--out", model, "--plots", plots, "--verbose", "0")
    assert code == 0 and err == ""
    assert "fashion-mnist: 2,000 training and 2,000 test rows, 784 features, 10 classes" in out
    assert "Network: 784-64-10, relu, 50,890 parameters (float32)" in out
    assert sorted(os.listdir(plots)) == ["confusion_matrix.png", "first_layer_weights.png", "gradient_stats.png",
                                         "history.png", "misclassified.png", "samples.png"]
    for picture in plots.iterdir():
        assert_real_picture(picture)
    assert sn.load(model).classes[0] == "T-shirt/top"

    code, out, err = run(capsys, "evaluate", model, "fashion-mnist", "--limit", "2000")
    assert code == 0 and err == "" and "2,000 test rows" in out
    assert float(out.split("Test accuracy: ")[1].split()[0]) > 0.6
    first = load_fashion_mnist()[1][0][:3]
    np.save(tmp_path / "three.npy", first.reshape(3, 28, 28))
    code, out, err = run(capsys, "predict", model, tmp_path / "three.npy")
    assert code == 0 and out.splitlines()[0].startswith("prediction,p_T-shirt/top,p_Trouser")
    assert len(out.splitlines()) == 4


def test_layers_spec_builds_and_trains_a_custom_stack(capsys, tmp_path):
    model = tmp_path / "net.npz"
    code, out, err = run(capsys, "train", "moons", "--samples", "200", "--epochs", "3",
                         "--layers", "dense:8,tanh,dropout:0.1,dense:4,relu", "--out", model, "--verbose", "0")
    assert code == 0 and err == ""
    layers = [type(layer).__name__ for layer in sn.load(model).layers]
    assert layers == ["Standardize", "Dense", "Tanh", "Dropout", "Dense", "ReLU", "Dense"]
    spec = tmp_path / "spec.txt"
    spec.write_text("# a comment\ndense:8, relu\n")
    code, out, err = run(capsys, "train", "moons", "--samples", "200", "--epochs", "1", "--layers", f"@{spec}",
                         "--out", model, "--verbose", "0")
    assert code == 0 and [type(layer).__name__ for layer in sn.load(model).layers][1:3] == ["Dense", "ReLU"]


@pytest.mark.parametrize("layers", [None, "dense:8,bn,relu,dense:6,tanh"])
def test_threads_train_the_same_network(capsys, tmp_path, layers):
    pytest.importorskip("threadpoolctl")
    runs = {}
    for threads in ("1", "2"):
        model = tmp_path / f"net{threads}.npz"
        code, out, err = run(capsys, "train", "moons", "--samples", "200", "--epochs", "3", "--dtype", "float64",
                             "--threads", threads, "--out", model, "--verbose", "0",
                             *(["--layers", layers] if layers else []))
        assert code == 0 and err == ""
        runs[threads] = sn.load(model).state_dict()
    for name, value in runs["2"].items():       # the same run up to rounding, BatchNorm statistics too
        np.testing.assert_allclose(value, runs["1"][name], rtol=1e-7, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("value, fragment", [("0", "expected 'auto' or a positive integer, got '0'"),
                                             ("two", "expected 'auto' or a positive integer, got 'two'")])
def test_bad_threads_are_one_line_errors(capsys, value, fragment):
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--threads", value)
    assert_one_line_error(code, err, fragment)


def test_threads_without_threadpoolctl_is_one_line(capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "threadpoolctl" else
                        find_spec(name, *a))
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--threads", "2")
    assert_one_line_error(code, err, "--threads 2: threads=2 needs threadpoolctl")
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--verbose", "0")
    assert code == 0                                              # auto: one thread, no threadpoolctl needed


def test_automatic_threads_are_announced_for_a_cnn(capsys, tmp_path, monkeypatch):
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    code, out, err = run(capsys, "train", "fashion-mnist", "--layers", "conv:4:3,relu,maxpool:2,flatten,dense:10",
                         "--limit", "300", "--epochs", "1", "--batch-size", "128", "--verbose", "0")
    assert code == 0 and err == "" and "batch size 128, 2 threads" in out
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--verbose", "0")
    assert code == 0 and "threads" not in out                      # an MLP: one thread


@pytest.mark.parametrize("spec, fragment", [
    ("dense:8,wiggle", "--layers: unknown token 'wiggle'"),
    ("dense:x", "--layers: bad token 'dense:x'"),
    ("conv:4:3", "--layers: convolutions need square images, but a sample has 2 values"),
    ("", "the spec is empty"),
    ("@/no/such/spec.txt", "cannot read '/no/such/spec.txt'"),
])
def test_bad_layer_specs_are_one_line_errors(capsys, spec, fragment):
    code, out, err = run(capsys, "train", "moons", "--samples", "100", "--epochs", "1", "--layers", spec)
    assert_one_line_error(code, err, fragment)


def test_parse_layers_infers_every_size():
    from scratchnn.cli.models import CNN_LAYERS, parse_layers

    layers = parse_layers(CNN_LAYERS, (784,), 10)
    net = sn.Sequential(*layers, seed=0)
    assert net.predict(np.zeros((2, 784), np.float32)).shape == (2, 10)
    names = [type(layer).__name__ for layer in layers]
    assert names[:6] == ["Reshape", "RandomTranslation", "Conv2D", "BatchNorm", "ReLU", "MaxPool2D"]
    dense = [layer for layer in layers if isinstance(layer, sn.Dense)]
    assert dense[0].in_features == 3136 and dense[-1].out_features == 10


def test_shift_and_flip_tokens_augment_in_training_only():
    """shift:PIXELS and flip are RandomTranslation and RandomFlip, placed on the images (a
    Reshape goes first for flat input): they move images in training, never at inference."""
    from scratchnn.cli.models import parse_layers

    layers = parse_layers("shift:2,flip,flatten,dense:8,relu", (784,), 3)
    assert [type(layer).__name__ for layer in layers[:3]] == ["Reshape", "RandomTranslation", "RandomFlip"]
    assert layers[1].max_shift == (2, 2) and layers[2].mode == "horizontal"
    net = sn.Sequential(*layers, seed=0)
    x = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
    moved = net.forward(x, training=True, upto=3)
    assert moved.shape == (4, 1, 28, 28) and not np.array_equal(moved.reshape(4, 784), x)


@pytest.mark.parametrize("spec, fragment", [
    ("shift:two,flatten", "bad token 'shift:two': PIXELS must be a whole number"),
    ("flip:1,flatten", "bad token 'flip:1'"),
    ("shift:28,flatten", "'shift:28' does not fit input of shape (1, 28, 28)"),
])
def test_bad_augmentation_tokens_are_one_line_errors(spec, fragment):
    from scratchnn.cli.models import parse_layers

    with pytest.raises(ValueError) as error:
        parse_layers(spec, (784,), 10)
    assert fragment in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
def test_fashion_mnist_cnn_slice_end_to_end(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.delenv("SCRATCHNN_DATA", raising=False)
    model, plots = tmp_path / "cnn.npz", tmp_path / "plots"
    code, out, err = run(capsys, "train", "fashion-mnist", "--model", "cnn", "--limit", "600", "--epochs", "1",
                         "--out", model, "--plots", plots, "--verbose", "0")
    assert code == 0 and err == "" and "conv32-conv64-256-10" in out
    for picture in plots.iterdir():
        assert_real_picture(picture)
    code, out, err = run(capsys, "evaluate", model, "fashion-mnist", "--limit", "600")
    assert code == 0 and float(out.split("Test accuracy: ")[1].split()[0]) > 0.25   # 5 Adam steps; chance is 0.1
    code, out, err = run(capsys, "summary", model)
    assert code == 0 and "Conv2D" in out and "BatchNorm" in out
