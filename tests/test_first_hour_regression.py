"""#18 item 8: regression from the command line (`train --task`), and the label-first hint."""

import csv

import numpy as np
import pytest

from scratchnn.cli.main import main


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, header, columns):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(zip(*columns))
    return path


@pytest.fixture
def linear_csv(tmp_path):
    """300 rows of y = 3·x1 − 2·x2 + noise (σ 0.3), around 50: a continuous target."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=300), rng.normal(size=300)
    y = 50 + 3 * x1 - 2 * x2 + rng.normal(scale=0.3, size=300)
    return write_csv(tmp_path / "linear.csv", ["x1", "x2", "y"],
                     [[f"{v:.4f}" for v in x1], [f"{v:.4f}" for v in x2], [f"{v:.4f}" for v in y]])


def regression_metrics(text):
    line = next(line for line in text.splitlines() if line.startswith("Test R²"))
    return float(line.split()[2].rstrip(",")), line


def test_continuous_target_trains_a_regressor_by_default(capsys, tmp_path, linear_csv):
    out_path = tmp_path / "reg.npz"
    code, out, err = run(capsys, "train", linear_csv, "--epochs", 60, "--hidden", 16, "--verbose", 0,
                         "--out", out_path)
    assert code == 0, err
    assert "regression" in err and "--task classification" in err          # the note and the override
    r2, line = regression_metrics(out)
    assert r2 > 0.9 and "MAE" in line
    assert "accuracy" not in out

    code, out, err = run(capsys, "evaluate", out_path, linear_csv)
    assert code == 0, err
    assert regression_metrics(out)[0] > 0.9 and "MSE" in out

    code, out, err = run(capsys, "predict", out_path, linear_csv, "--target", "y")
    assert code == 0, err
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction"]
    predictions = np.array([float(row[0]) for row in rows[1:]])
    assert predictions.shape == (300,) and 40 < predictions.mean() < 60      # in the target's units

    code, out, err = run(capsys, "summary", out_path)
    assert code == 0 and "regressor" in out


def test_whole_number_target_with_many_values_is_regression_unless_asked(capsys, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = np.round(60 + 10 * x[:, 0] + 5 * x[:, 1]).astype(int)              # ages: ~50 distinct whole numbers
    path = write_csv(tmp_path / "ages.csv", ["a", "b", "age"], [x[:, 0], x[:, 1], y])
    code, out, err = run(capsys, "train", path, "--epochs", 5, "--verbose", 0)
    assert code == 0, err
    assert "regression" in err and "Test R²" in out
    code, out, err = run(capsys, "train", path, "--epochs", 5, "--verbose", 0, "--task", "classification")
    assert code == 0, err                                                   # asked for: many classes, as before
    assert "Test accuracy" in out and "regression" not in err


def test_classification_of_a_continuous_target_is_refused_clearly(capsys, linear_csv):
    code, out, err = run(capsys, "train", linear_csv, "--epochs", 2, "--task", "classification")
    assert code == 2
    assert "non-integer" in err and "--task regression" in err


def test_regression_on_an_image_or_toy_set_is_refused(capsys):
    for data in ("fashion-mnist", "moons"):
        code, out, err = run(capsys, "train", data, "--task", "regression")
        assert code == 2
        assert "--task regression" in err and "CSV" in err


def test_text_target_cannot_be_regressed(capsys, tmp_path):
    path = write_csv(tmp_path / "names.csv", ["a", "kind"], [[1, 2, 3, 4], ["x", "y", "x", "y"]])
    code, out, err = run(capsys, "train", path, "--task", "regression")
    assert code == 2 and "--task regression" in err and "'x'" in err


def test_label_first_csv_hints_at_target(capsys, tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=120)
    features = rng.normal(size=(120, 3)) + labels[:, None]
    path = write_csv(tmp_path / "first.csv", ["label", "f1", "f2", "f3"],
                     [labels, *[[f"{v:.3f}" for v in column] for column in features.T]])
    code, out, err = run(capsys, "train", path, "--epochs", 2, "--verbose", 0)
    assert "first column" in err and "--target label" in err
    code, out, err = run(capsys, "train", path, "--epochs", 2, "--verbose", 0, "--target", "label")
    assert code == 0 and "first column" not in err and "Test accuracy" in out


def test_plain_classification_csv_is_unchanged(capsys, tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=120)
    features = rng.normal(size=(120, 2)) + labels[:, None]
    path = write_csv(tmp_path / "plain.csv", ["f1", "f2", "label"], [features[:, 0], features[:, 1], labels])
    code, out, err = run(capsys, "train", path, "--epochs", 20, "--verbose", 0)
    assert code == 0, err
    assert "Test accuracy" in out and "3 classes" in out
    assert "regression" not in err and "first column" not in err


def test_a_first_column_of_small_whole_numbers_named_as_a_feature_draws_no_hint(capsys, tmp_path):
    rng = np.random.default_rng(4)
    rooms = rng.integers(1, 6, size=100)
    price = 100 * rooms + rng.normal(scale=5, size=100)
    path = write_csv(tmp_path / "houses.csv", ["rooms", "area", "price"],
                     [rooms, [f"{v:.2f}" for v in rng.normal(size=100)], [f"{v:.2f}" for v in price]])
    code, out, err = run(capsys, "train", path, "--epochs", 2, "--verbose", 0)
    assert code == 0 and "first column" not in err and "Test R²" in out
