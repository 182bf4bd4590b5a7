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
