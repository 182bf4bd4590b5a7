"""A corpus of wrong calls across the public API and the command line.

Each must fail before any work, with a ValueError or TypeError (that exact type: never an
IndexError, KeyError, AttributeError, a NumPy broadcasting error or a warning) whose message
names the argument (or the file, column, line) and the offending value or shape. Calls on a
model must leave its weights as they were. On the command line: exit code 2, one line on
stderr, no traceback.
"""

import importlib.util
import os
import re

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn.activations import activation
from scratchnn.cli import main
from scratchnn.datasets import (Standardizer, circles, gaussians, load_csv, make_dataset, moons, one_hot,
                                spirals, train_test_split)

from scratchnn import AvgPool2D, BatchNorm, Conv2D, MaxPool2D

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None

X = np.random.default_rng(0).normal(size=(12, 2))          # 12 rows, 2 features
Y = np.arange(12) % 3                                       # 3 classes


def with_value(array, index, value):
    """A copy of `array` with one entry replaced (a NaN, an inf, ...)."""
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


def classifier(seed=0):
    """2 -> 4 -> 3 logits, for CrossEntropy."""
    return sn.Sequential(sn.Dense(2, 4), sn.Tanh(), sn.Dense(4, 3), seed=seed)


def binary():
    """2 -> 1 probability, for BinaryCrossEntropy."""
    return sn.Sequential(sn.Dense(2, 4), sn.Tanh(), sn.Dense(4, 1), sn.Sigmoid(), seed=0)


def regressor():
    """2 -> 1, for MSE."""
    return sn.Sequential(sn.Dense(2, 1), seed=0)


def fit(net, X_, y, loss="cross_entropy", optimizer="sgd", **kwargs):
    return net.fit(X_, y, loss=loss, optimizer=optimizer, verbose=kwargs.pop("verbose", 0), **kwargs)


def resume(net, f, optimizer="sgd", callbacks=None):
    """fit(..., resume_from=the fixture's checkpoint), with a checkpoint callback of its own."""
    callbacks = [sn.ModelCheckpoint(os.path.join(f.dir, "resumed.npz"))] if callbacks is None else callbacks
    return fit(net, X, Y, optimizer=optimizer, epochs=3, callbacks=callbacks, resume_from=f.checkpoint)


class Files:
    """Files of every wrong kind, in one folder (the CLI cases run inside it)."""

    def __init__(self, folder):
        self.dir = str(folder)
        write = self.write
        write("notes.txt", "hello\n")
        write("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
        write("empty.npz", b"")
        write("empty.csv", "")
        write("good.csv", "a,b,label\n" + "".join(f"{i % 7},{i % 5},{'xy'[i % 2]}\n" for i in range(40)))
        write("three.csv", "a,b,c,label\n" + "".join(f"{i % 7},{i % 5},{i % 3},{i % 2}\n" for i in range(40)))
        write("blank.csv", "a,b,label\n1,2,x\n3,,y\n4,5,x\n6,7,y\n")
        write("ragged.csv", "a,b,label\n1,2,x\n3,4\n4,5,x\n6,7,y\n")
        write("nonnum.csv", "a,b,label\n1,2,x\n3,abc,y\n4,5,x\n6,7,y\n")
        write("nan_cell.csv", "a,b,label\n1,2,x\n3,nan,y\n4,5,x\n6,7,y\n")
        write("header_only.csv", "a,b,label\n")
        write("only.csv", "label\n1\n2\n")
        write("one_class.csv", "a,b,label\n1,2,x\n3,4,x\n4,5,x\n6,7,x\n")
        write("fractional.csv", "a,b,label\n1,2,0.5\n3,4,1.5\n4,5,0.5\n6,7,1.5\n")
        write("pred3.csv", "1,2,3\n4,5,6\n")
        write("pred_nan.csv", "1,nan\n4,5\n")
        write("pred_ragged.csv", "1,2\n4\n")
        write("pred_word.csv", "1,2\n4,x\n")
        os.mkdir(self.path("a_directory"))
        np.savez(self.path("plain.npz"), a=np.ones(2))
        np.save(self.path("arr1d.npy"), np.ones(3))
        np.save(self.path("nan.npy"), np.array([[1.0, np.nan]]))
        np.save(self.path("img.npy"), np.ones((2, 3, 3)))
        np.save(self.path("obj.npy"), np.array([[1, None]], dtype=object), allow_pickle=True)
        self.model = self.path("model.npz")
        sn.Sequential(sn.Dense(2, 4), sn.ReLU(), sn.Dense(4, 2), seed=0).save(self.model)
        sn.Sequential(sn.Dense(2, 1), seed=0).save(self.path("one_output.npz"))
        with open(self.model, "rb") as file:
            data = bytearray(file.read())
        write("truncated.npz", bytes(data[:len(data) // 2]))
        data[data.find(b"\x93NUMPY") + 140] ^= 0xFF                # a flipped bit in the first array
        write("corrupt.npz", bytes(data))
        self.checkpoint = self.path("checkpoint.npz")              # SGD, seed 0, ModelCheckpoint only
        fit(classifier(), X, Y, epochs=1, callbacks=[sn.ModelCheckpoint(self.checkpoint)])

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, content):
        with open(self.path(name), "wb" if isinstance(content, bytes) else "w") as file:
            file.write(content)
        return self.path(name)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return Files(tmp_path_factory.mktemp("bad_inputs"))


# --- calls that involve no model --------------------------------------------------------------

def api(id, error, pattern, call):
    return pytest.param(call, error, pattern, id=id)


API_CASES = [
    # Sequential and layers
    api("sequential_no_layers", ValueError, r"Sequential needs at least one layer, got none",
        lambda f: sn.Sequential()),
    api("sequential_list_as_layer", TypeError, r"layer 1 must be a scratchnn layer .*got \[ReLU\(\)\]",
        lambda f: sn.Sequential(sn.Dense(2, 3), [sn.ReLU()])),
    api("sequential_class_not_instance", TypeError, r"layer 1 must be .*class 'scratchnn\.nn\.activations\.ReLU'",
        lambda f: sn.Sequential(sn.Dense(2, 3), sn.ReLU)),
    api("sequential_string_layer", TypeError, r"layer 1 must be a scratchnn layer .*got 'relu'",
        lambda f: sn.Sequential([sn.Dense(2, 3), "relu"])),
    api("sequential_string_seed", TypeError, r"seed must be None, an int, .*got str '0'",
        lambda f: sn.Sequential(sn.Dense(2, 3), seed="0")),
    api("sequential_negative_seed", ValueError, r"seed must be an int >= 0, got -1",
        lambda f: sn.Sequential(sn.Dense(2, 3), seed=-1)),
    api("sequential_float_seed", TypeError, r"seed must be .*got float 1\.5",
        lambda f: sn.Sequential(sn.Dense(2, 3), seed=1.5)),
    api("sequential_integer_dtype", ValueError, r"dtype must be float32 or float64, got .*int32",
        lambda f: sn.Sequential(sn.Dense(2, 3), dtype=np.int32)),
    api("sequential_float16_dtype", ValueError, r"dtype must be float32 or float64, got 'float16'",
        lambda f: sn.Sequential(sn.Dense(2, 3), dtype="float16")),
    api("sequential_unknown_dtype_name", ValueError, r"dtype must be float32 or float64, got 'bogus'",
        lambda f: sn.Sequential(sn.Dense(2, 3), dtype="bogus")),
    api("sequential_widths_mismatch", ValueError, r"layer 1 .*expects 4 inputs, but layer 0 outputs 3",
        lambda f: sn.Sequential(sn.Dense(2, 3), sn.Dense(4, 1))),
    api("dense_zero_inputs", ValueError, r"in_features must be >= 1, got 0", lambda f: sn.Dense(0, 3)),
    api("dense_negative_outputs", ValueError, r"out_features must be >= 1, got -3", lambda f: sn.Dense(2, -3)),
    api("dense_float_width", TypeError, r"in_features must be a positive integer, got 2\.0",
        lambda f: sn.Dense(2.0, 3)),
    api("dense_string_width", TypeError, r"in_features must be a positive integer, got '2'",
        lambda f: sn.Dense("2", 3)),
    api("dense_unknown_init", ValueError, r"init must be one of .*got 'xavier'",
        lambda f: sn.Dense(2, 3, init="xavier")),
    api("dropout_rate_one", ValueError, r"rate must be in \[0\.0, 1\.0\), got 1\.0", lambda f: sn.Dropout(1.0)),
    api("dropout_rate_negative", ValueError, r"rate must be in \[0\.0, 1\.0\), got -0\.1",
        lambda f: sn.Dropout(-0.1)),
    api("dropout_rate_nan", ValueError, r"rate must be in \[0\.0, 1\.0\), got nan",
        lambda f: sn.Dropout(float("nan"))),
    api("dropout_rate_string", TypeError, r"rate must be a number, got '0\.5'", lambda f: sn.Dropout("0.5")),
    api("standardize_shape_int", ValueError, r"shape must be a list of positive ints .*got 3",
        lambda f: sn.Standardize(3)),
    api("standardize_from_1d", ValueError, r"X must have shape \(n_samples, \.\.\.\) .*got shape \(3,\)",
        lambda f: sn.Standardize.from_data(np.ones(3))),
    api("standardize_from_nan", ValueError, r"\bX\b.*(NaN|nan)",
        lambda f: sn.Standardize.from_data(with_value(X, (2, 1), np.nan))),
    api("standardize_from_strings", TypeError, r"\bX\b.*<U1",
        lambda f: sn.Standardize.from_data(np.array([["a", "b"]]))),
    api("leaky_relu_negative_slope", ValueError, r"negative_slope must be in \[0\.0, 1\.0\], got -0\.1",
        lambda f: sn.LeakyReLU(-0.1)),
    api("elu_alpha_zero", ValueError, r"alpha must be in \(0\.0, inf\), got 0\.0", lambda f: sn.ELU(0)),
    api("elu_alpha_inf", ValueError, r"alpha must be in \(0\.0, inf\), got inf", lambda f: sn.ELU(float("inf"))),
    api("gelu_unknown_approximation", ValueError, r"approximate must be one of 'none', 'tanh'; got 'fast'",
        lambda f: sn.GELU("fast")),
    api("activation_unknown_name", ValueError, r"activation must be one of .*got 'swish'",
        lambda f: activation("swish")),
    # losses
    api("loss_unknown_reduction", ValueError, r"reduction must be one of 'mean', 'sum'; got 'avg'",
        lambda f: sn.MSE(reduction="avg")),
    api("bce_from_logits_string", TypeError, r"from_logits must be True or False, got 'yes'",
        lambda f: sn.BinaryCrossEntropy(from_logits="yes")),
    api("cross_entropy_label_count", ValueError, r"CrossEntropy: 2 labels for 3 rows of logits",
        lambda f: sn.CrossEntropy()(np.ones((3, 2)), np.array([0, 1]))),
    api("cross_entropy_label_out_of_range", ValueError, r"labels must be in \[0, 1\] .*from 0 to 2",
        lambda f: sn.CrossEntropy()(np.ones((3, 2)), np.array([0, 1, 2]))),
    api("cross_entropy_logits_1d", ValueError, r"logits of shape \(N, C\), got shape \(3,\)",
        lambda f: sn.CrossEntropy()(np.ones(3), np.array([0, 1, 2]))),
    api("cross_entropy_string_labels", TypeError, r"labels must be integers, got dtype <U1",
        lambda f: sn.CrossEntropy()(np.ones((3, 2)), np.array(["a", "b", "c"]))),
    api("mse_shape_mismatch", ValueError, r"targets of shape \(3, 1\) do not match predictions of shape \(3, 2\)",
        lambda f: sn.MSE()(np.ones((3, 2)), np.ones((3, 1)))),
    api("bce_targets_out_of_range", ValueError, r"targets.*\[0, 1\].*\b2(\.0)?\b",
        lambda f: sn.BinaryCrossEntropy()(np.full((3, 1), 0.5), np.full((3, 1), 2.0))),
    # optimizers
    api("sgd_learning_rate_zero", ValueError, r"learning_rate must be a finite number > 0, got 0\.0",
        lambda f: sn.SGD(0)),
    api("sgd_learning_rate_negative", ValueError, r"learning_rate must be a finite number > 0, got -0\.1",
        lambda f: sn.SGD(-0.1)),
    api("adam_learning_rate_nan", ValueError, r"learning_rate must be a finite number > 0, got nan",
        lambda f: sn.Adam(float("nan"))),
    api("rmsprop_learning_rate_inf", ValueError, r"learning_rate must be a finite number > 0, got inf",
        lambda f: sn.RMSprop(float("inf"))),
    api("sgd_learning_rate_string", TypeError, r"learning_rate must be a number, got '0\.1'",
        lambda f: sn.SGD("0.1")),
    api("adam_learning_rate_none", TypeError, r"learning_rate must be a number, got None",
        lambda f: sn.Adam(None)),
    api("sgd_momentum_one", ValueError, r"momentum must be in \[0\.0, 1\.0\), got 1\.0",
        lambda f: sn.SGD(0.1, momentum=1.0)),
    api("sgd_momentum_negative", ValueError, r"momentum must be in \[0\.0, 1\.0\), got -0\.5",
        lambda f: sn.SGD(0.1, momentum=-0.5)),
    api("sgd_nesterov_without_momentum", ValueError, r"nesterov=True needs momentum > 0, got momentum=0",
        lambda f: sn.SGD(0.1, nesterov=True)),
    api("sgd_nesterov_int", TypeError, r"nesterov must be True or False, got 1",
        lambda f: sn.SGD(0.1, momentum=0.9, nesterov=1)),
    api("sgd_weight_decay_negative", ValueError, r"weight_decay must be a finite number >= 0, got -1\.0",
        lambda f: sn.SGD(0.1, weight_decay=-1)),
    api("adam_beta_1_one", ValueError, r"beta_1 must be in \[0\.0, 1\.0\), got 1\.0",
        lambda f: sn.Adam(beta_1=1.0)),
    api("adam_beta_2_negative", ValueError, r"beta_2 must be in \[0\.0, 1\.0\), got -0\.1",
        lambda f: sn.Adam(beta_2=-0.1)),
    api("adam_beta_2_nan", ValueError, r"beta_2 must be in \[0\.0, 1\.0\), got nan",
        lambda f: sn.Adam(beta_2=float("nan"))),
    api("adam_epsilon_zero", ValueError, r"epsilon must be a finite number > 0, got 0\.0",
        lambda f: sn.Adam(epsilon=0)),
    api("adam_epsilon_inf", ValueError, r"epsilon must be a finite number > 0, got inf",
        lambda f: sn.Adam(epsilon=float("inf"))),
    api("adam_fused_string", ValueError, r"fused must be 'auto', True or False, got 'yes'",
        lambda f: sn.Adam(fused="yes")),
    api("adamw_weight_decay_nan", ValueError, r"weight_decay must be a finite number >= 0, got nan",
        lambda f: sn.AdamW(weight_decay=float("nan"))),
    api("rmsprop_rho_above_one", ValueError, r"rho must be in \[0\.0, 1\.0\), got 1\.5",
        lambda f: sn.RMSprop(rho=1.5)),
    api("rmsprop_momentum_one", ValueError, r"momentum must be in \[0\.0, 1\.0\), got 1\.0",
        lambda f: sn.RMSprop(momentum=1.0)),
    api("adagrad_accumulator_negative", ValueError, r"initial_accumulator_value .*>= 0, got -1\.0",
        lambda f: sn.Adagrad(initial_accumulator_value=-1)),
    api("adagrad_epsilon_negative", ValueError, r"epsilon must be a finite number > 0, got -1e-10",
        lambda f: sn.Adagrad(epsilon=-1e-10)),
    # callbacks
    api("early_stopping_patience_zero", ValueError, r"patience must be >= 1, got 0",
        lambda f: sn.EarlyStopping(patience=0)),
    api("early_stopping_patience_float", TypeError, r"patience must be a positive integer, got 2\.5",
        lambda f: sn.EarlyStopping(patience=2.5)),
    api("early_stopping_unknown_mode", ValueError, r"mode must be one of 'auto', 'min', 'max'; got 'up'",
        lambda f: sn.EarlyStopping(mode="up")),
    api("early_stopping_monitor_int", TypeError, r"monitor must be the name of a logged quantity, got 3",
        lambda f: sn.EarlyStopping(monitor=3)),
    api("early_stopping_min_delta_negative", ValueError, r"min_delta must be a finite number >= 0, got -1\.0",
        lambda f: sn.EarlyStopping(min_delta=-1)),
    api("early_stopping_restore_string", TypeError, r"restore_best_weights.*'no'",
        lambda f: sn.EarlyStopping(restore_best_weights="no")),
    api("plateau_factor_one", ValueError, r"factor must be in \(0\.0, 1\.0\), got 1\.0",
        lambda f: sn.ReduceLROnPlateau(factor=1.0)),
    api("plateau_factor_nan", ValueError, r"factor must be in \(0\.0, 1\.0\), got nan",
        lambda f: sn.ReduceLROnPlateau(factor=float("nan"))),
    api("plateau_cooldown_negative", ValueError, r"cooldown must be in \[0, inf\), got -1",
        lambda f: sn.ReduceLROnPlateau(cooldown=-1)),
    api("plateau_cooldown_fraction", TypeError, r"cooldown.*1\.5",
        lambda f: sn.ReduceLROnPlateau(cooldown=1.5)),
    api("step_lr_step_size_zero", ValueError, r"step_size must be >= 1, got 0", lambda f: sn.StepLR(0)),
    api("step_lr_gamma_zero", ValueError, r"gamma must be in \(0\.0, 1\.0\], got 0\.0",
        lambda f: sn.StepLR(2, gamma=0)),
    api("exponential_lr_gamma_above_one", ValueError, r"gamma must be in \(0\.0, 1\.0\], got 1\.5",
        lambda f: sn.ExponentialLR(1.5)),
    api("cosine_t_max_zero", ValueError, r"T_max must be >= 1, got 0", lambda f: sn.CosineAnnealingLR(0)),
    api("cosine_min_lr_negative", ValueError, r"min_lr must be a finite number >= 0, got -1\.0",
        lambda f: sn.CosineAnnealingLR(5, min_lr=-1)),
    api("checkpoint_path_int", TypeError, r"path must be a file path.*got int 3", lambda f: sn.ModelCheckpoint(3)),
    api("checkpoint_unknown_mode", ValueError, r"mode must be one of .*got 'best'",
        lambda f: sn.ModelCheckpoint(f.path("ck.npz"), mode="best")),
    # sn.load: files that are not models
    api("load_missing_file", ValueError, r"no model file at '.*missing\.npz'",
        lambda f: sn.load(f.path("missing.npz"))),
    api("load_directory", ValueError, r"a_directory'", lambda f: sn.load(f.path("a_directory"))),
    api("load_text_file", ValueError, r"notes\.txt' is not a readable scratchnn model file",
        lambda f: sn.load(f.path("notes.txt"))),
    api("load_png", ValueError, r"picture\.png' is not a readable scratchnn model file",
        lambda f: sn.load(f.path("picture.png"))),
    api("load_truncated_npz", ValueError, r"truncated\.npz' is not a readable scratchnn model file",
        lambda f: sn.load(f.path("truncated.npz"))),
    api("load_corrupted_npz", ValueError, r"corrupt\.npz' is not a readable .*Bad CRC-32 for file '0\.weight\.npy'",
        lambda f: sn.load(f.path("corrupt.npz"))),
    api("load_empty_file", ValueError, r"empty\.npz' is not a readable scratchnn model file",
        lambda f: sn.load(f.path("empty.npz"))),
    api("load_npz_without_config", ValueError, r"plain\.npz' is not a scratchnn model file: it has no __config__",
        lambda f: sn.load(f.path("plain.npz"))),
    api("load_path_int", TypeError, r"path.*\b3\b", lambda f: sn.load(3)),
    # load_csv
    api("csv_blank_cell", ValueError, r"blank\.csv, line 3, column 'b': missing value \(empty cell\)",
        lambda f: load_csv(f.path("blank.csv"))),
    api("csv_ragged_row", ValueError, r"ragged\.csv, line 3: expected 3 columns \(as on line 1\), found 2",
        lambda f: load_csv(f.path("ragged.csv"))),
    api("csv_non_numeric_cell", ValueError, r"nonnum\.csv, line 3, column 'b': 'abc' is not a number",
        lambda f: load_csv(f.path("nonnum.csv"))),
    api("csv_nan_cell", ValueError, r"nan_cell\.csv, line 3, column 'b': 'nan' is not a finite number",
        lambda f: load_csv(f.path("nan_cell.csv"))),
    api("csv_empty_file", ValueError, r"empty\.csv: the file is empty", lambda f: load_csv(f.path("empty.csv"))),
    api("csv_header_only", ValueError, r"header_only\.csv: the file has a header but no data rows",
        lambda f: load_csv(f.path("header_only.csv"))),
    api("csv_png", ValueError, r"picture\.png: not UTF-8 text", lambda f: load_csv(f.path("picture.png"))),
    api("csv_unknown_target_name", ValueError, r"target='nope' is not a column of .*good\.csv",
        lambda f: load_csv(f.path("good.csv"), target="nope")),
    api("csv_target_out_of_range", ValueError, r"target=7 is out of range for .*good\.csv, which has 3 columns",
        lambda f: load_csv(f.path("good.csv"), target=7)),
    api("csv_target_float", TypeError, r"target must be a column name \(str\) or index \(int\), got 1\.0",
        lambda f: load_csv(f.path("good.csv"), target=1.0)),
    api("csv_header_string", ValueError, r"header must be True, False or 'auto', got 'yes'",
        lambda f: load_csv(f.path("good.csv"), header="yes")),
    api("csv_delimiter_two_chars", ValueError, r"delimiter must be a single character, got ';;'",
        lambda f: load_csv(f.path("good.csv"), delimiter=";;")),
    api("csv_path_int", TypeError, r"path must be a file path \(str or os\.PathLike\), got int 3", lambda f: load_csv(3)),
    api("csv_single_column", ValueError, r"only\.csv: found only the target column",
        lambda f: load_csv(f.path("only.csv"))),
    # train_test_split, Standardizer, one_hot
    api("split_length_mismatch", ValueError,
        r"X and y must have the same number of rows, got shapes \(12, 2\) and \(5,\)",
        lambda f: train_test_split(X, Y[:5])),
    api("split_test_size_zero", ValueError, r"test_size=0 gives 0 test rows out of 12",
        lambda f: train_test_split(X, Y, test_size=0)),
    api("split_test_size_one", ValueError, r"test_size must be a fraction .*got 1\.0",
        lambda f: train_test_split(X, Y, test_size=1.0)),
    api("split_test_size_nan", ValueError, r"test_size must be a fraction .*got nan",
        lambda f: train_test_split(X, Y, test_size=float("nan"))),
    api("split_test_size_string", TypeError, r"test_size must be a fraction or an int, got '0\.2'",
        lambda f: train_test_split(X, Y, test_size="0.2")),
    api("split_random_state_string", TypeError, r"random_state must be None, an int, .*got str '0'",
        lambda f: train_test_split(X, Y, random_state="0")),
    api("split_stratify_string", TypeError, r"stratify must be None, True or False, got 'yes'",
        lambda f: train_test_split(X, Y, stratify="yes")),
    api("split_stratify_one_hot", ValueError, r"stratify=True needs y of shape \(n,\) .*got shape \(12, 3\)",
        lambda f: train_test_split(X, np.eye(3)[Y], stratify=True)),
    api("split_ragged_X", TypeError, r"\bX\b.*\[\[1, 2\], \[3\]\]",
        lambda f: train_test_split([[1, 2], [3]], [0, 1])),
    api("standardizer_fit_1d", ValueError, r"X must have shape \(n_samples, n_features\) .*got \(3,\)",
        lambda f: Standardizer().fit(np.ones(3))),
    api("standardizer_fit_nan", ValueError, r"X must hold only finite numbers, found NaN",
        lambda f: Standardizer().fit(with_value(X, (0, 0), np.nan))),
    api("standardizer_fit_strings", TypeError, r"X must hold numbers, got dtype <U1",
        lambda f: Standardizer().fit(np.array([["a"]]))),
    api("standardizer_fit_empty", ValueError, r"X must have shape .*got \(0, 2\)",
        lambda f: Standardizer().fit(np.empty((0, 2)))),
    api("standardizer_transform_wrong_width", ValueError,
        r"X must have shape \(n, 2\) like the fitted data, got \(2, 3\)",
        lambda f: Standardizer().fit(X).transform(np.ones((2, 3)))),
    api("one_hot_negative_label", ValueError, r"labels must be >= 0, found -1", lambda f: one_hot([0, -1])),
    api("one_hot_fractional_labels", TypeError, r"labels must be integers, got dtype float64 \(e\.g\. \[0\.5, 1\.0\]\)",
        lambda f: one_hot([0.5, 1])),
    api("one_hot_string_labels", TypeError, r"labels must be integers, got dtype <U1 \(e\.g\. \['a', 'b'\]\)",
        lambda f: one_hot(["a", "b"])),
    api("one_hot_label_out_of_range", ValueError, r"labels must be < num_classes=3, found 3",
        lambda f: one_hot([0, 3], num_classes=3)),
    api("one_hot_2d_labels", ValueError, r"labels must have shape \(n,\), got \(1, 2\)", lambda f: one_hot([[0, 1]])),
    api("one_hot_num_classes_zero", ValueError, r"num_classes must be an int >= 1, got 0",
        lambda f: one_hot([0], num_classes=0)),
    api("one_hot_num_classes_float", TypeError, r"num_classes must be an int, got float 2\.0",
        lambda f: one_hot([0, 1], num_classes=2.0)),
    api("one_hot_nan_label", TypeError, r"labels must be integers, got dtype float64 \(e\.g\. \[0\.0, nan\]\)",
        lambda f: one_hot([0.0, np.nan])),
    # toy data sets
    api("make_dataset_unknown_name", ValueError, r"unknown data set name 'swirl'", lambda f: make_dataset("swirl")),
    api("make_dataset_int_name", TypeError, r"name must be a str, got int 3", lambda f: make_dataset(3)),
    api("moons_zero_samples", ValueError, r"n_samples must be an int >= 1, got 0", lambda f: moons(0)),
    api("moons_float_samples", TypeError, r"n_samples must be an int, got float 10\.5", lambda f: moons(10.5)),
    api("moons_negative_noise", ValueError, r"noise must be a finite number in \[0, 1e\+06\], got -1",
        lambda f: moons(10, noise=-1)),
    api("moons_nan_noise", ValueError, r"noise must be a finite number in \[0, 1e\+06\], got nan",
        lambda f: moons(10, noise=float("nan"))),
    api("moons_overflowing_noise", ValueError, r"noise.*1e\+200", lambda f: moons(10, noise=1e200)),
    api("moons_random_state_string", TypeError, r"random_state must be .*got str 's'",
        lambda f: moons(10, random_state="s")),
    api("circles_factor_above_one", ValueError, r"factor must be a number between 0 and 1 .*got 2",
        lambda f: circles(10, factor=2)),
    api("spirals_one_class", ValueError, r"n_classes must be an int >= 2, got 1", lambda f: spirals(10, n_classes=1)),
    api("gaussians_centers_shape", ValueError, r"centers must be .*shape \(n_classes, 2\), got shape \(1, 3\)",
        lambda f: gaussians(10, centers=[[0, 0, 0]])),
    api("gaussians_negative_spread", ValueError, r"spread must be a finite number in \[0, 1e\+06\], got -1",
        lambda f: gaussians(10, spread=-1)),
    api("gaussians_centers_count", ValueError, r"centers has 2 rows but n_classes is 3",
        lambda f: gaussians(10, n_classes=3, centers=[[0, 0], [1, 1]])),
    # gradcheck
    api("gradcheck_not_a_network", TypeError, r"\bnet\b.*'not a network'",
        lambda f: sn.gradcheck("not a network", "mse", X, Y)),
]

API_CASES += [
    # convolutions, pooling and batch normalization
    api("conv_kernel_zero", ValueError, r"kernel_size must be >= 1, got 0", lambda f: Conv2D(1, 2, 0)),
    api("conv_kernel_triple", TypeError, r"kernel_size must be an int or a pair .*got \(3, 3, 3\)",
        lambda f: Conv2D(1, 2, (3, 3, 3))),
    api("conv_unknown_padding", ValueError, r"padding must be .*got 'full'",
        lambda f: Conv2D(1, 2, 3, padding="full")),
    api("conv_same_padding_with_stride", ValueError, r"padding='same' needs stride 1, got stride=2",
        lambda f: Conv2D(1, 2, 3, stride=2, padding="same")),
    api("pool_stride_zero", ValueError, r"stride must be >= 1, got 0", lambda f: AvgPool2D(2, stride=0)),
    api("pool_kernel_string", TypeError, r"kernel_size must be an int or a pair .*got '2'",
        lambda f: MaxPool2D("2")),
    api("batchnorm_zero_features", ValueError, r"num_features must be >= 1, got 0", lambda f: BatchNorm(0)),
    api("batchnorm_momentum_above_one", ValueError, r"momentum must be in \[0\.0, 1\.0\], got 1\.5",
        lambda f: BatchNorm(3, momentum=1.5)),
    api("batchnorm_epsilon_nan", ValueError, r"epsilon must be a finite number > 0, got nan",
        lambda f: BatchNorm(3, epsilon=float("nan"))),
]


def mlp_classifier(**params):
    """scratchnn.sklearn.MLPClassifier(**params); the cases that use it skip, visibly, without scikit-learn."""
    from scratchnn.sklearn import MLPClassifier
    return MLPClassifier(**params)


def sklearn_api(id, error, pattern, call):
    return pytest.param(call, error, pattern, id=id,
                        marks=pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn is not installed"))


API_CASES += [
    sklearn_api("sklearn_hidden_sizes_string", TypeError, r"hidden_layer_sizes must be .*got '10'",
                lambda f: mlp_classifier(hidden_layer_sizes="10").fit(X, Y)),
    sklearn_api("sklearn_learning_rate_negative", ValueError, r"learning_rate_init must be a finite number > 0, "
                r"got -1\.0", lambda f: mlp_classifier(learning_rate_init=-1).fit(X, Y)),
    sklearn_api("sklearn_unknown_activation", ValueError, r"activation must be one of .*got 'swish'",
                lambda f: mlp_classifier(activation="swish").fit(X, Y)),
    sklearn_api("sklearn_max_iter_zero", ValueError, r"max_iter must be >= 1, got 0",
                lambda f: mlp_classifier(max_iter=0).fit(X, Y)),
]


def problems_with(call, error, pattern):
    """What is wrong with the way `call()` fails: the exact type, then the message."""
    try:
        call()
    except Exception as raised:  # noqa: BLE001 -- any type, to name it; warnings too (pytest makes them errors)
        problems = []
        if type(raised) is not error:
            problems.append(f"expected {error.__name__}, got {type(raised).__name__}: {raised}")
        if not re.search(pattern, str(raised)):
            problems.append(f"message {str(raised)!r} does not match {pattern!r}")
        return problems
    return [f"did not raise (expected {error.__name__})"]


@pytest.mark.parametrize("call, error, pattern", API_CASES)
def test_wrong_call_raises_a_clear_error(files, call, error, pattern):
    problems = problems_with(lambda: call(files), error, pattern)
    assert not problems, "; ".join(problems)


# --- calls on a model: the weights must not change ------------------------------------------------

def on_model(id, make, error, pattern, call):
    return pytest.param(make, call, error, pattern, id=id)


MODEL_CASES = [
    # fit: the data
    on_model("fit_X_1d", classifier, ValueError, r"X must have shape \(n_samples, n_features\), got shape \(12,\)",
             lambda net, f: fit(net, X[:, 0], Y)),
    on_model("fit_X_3d", classifier, ValueError, r"X of shape \(N, 2, 1\) does not fit the network",
             lambda net, f: fit(net, X[:, :, None], Y)),
    on_model("fit_too_many_features", classifier, ValueError,
             r"X of shape \(N, 3\) does not fit the network: Dense\(2, 4\) expects input of shape \(N, 2\)",
             lambda net, f: fit(net, np.ones((12, 3)), Y)),
    on_model("fit_length_mismatch", classifier, ValueError,
             r"X and y must have the same number of samples, got X of shape \(12, 2\) and y of shape \(11,\)",
             lambda net, f: fit(net, X, Y[:11])),
    on_model("fit_empty_X", classifier, ValueError, r"X must not be empty, got shape \(0, 2\)",
             lambda net, f: fit(net, np.empty((0, 2)), np.empty(0, int))),
    on_model("fit_nan_in_X", classifier, ValueError,
             r"X contains NaN or infinity \(first at index \(2, 1\), value nan\)",
             lambda net, f: fit(net, with_value(X, (2, 1), np.nan), Y)),
    on_model("fit_inf_in_X", classifier, ValueError,
             r"X contains NaN or infinity \(first at index \(5, 0\), value -inf\)",
             lambda net, f: fit(net, with_value(X, (5, 0), -np.inf), Y)),
    on_model("fit_X_beyond_float32", classifier, ValueError, r"\bX\b.*1e\+39",
             lambda net, f: fit(net, with_value(X, (0, 0), 1e39), Y)),
    on_model("fit_nan_in_regression_y", regressor, ValueError,
             r"y contains NaN or infinity \(first at index \(3,\), value nan\)",
             lambda net, f: fit(net, X, with_value(np.ones(12), 3, np.nan), loss="mse")),
    on_model("fit_nan_label", classifier, ValueError,
             r"y contains NaN or infinity \(first at index \(3,\), value nan\)",
             lambda net, f: fit(net, X, with_value(Y, 3, np.nan))),
    on_model("fit_label_too_large", classifier, ValueError,
             r"labels must be in \[0, 2\] for 3 logits per row, got values from 1 to 3",
             lambda net, f: fit(net, X, Y + 1)),
    on_model("fit_negative_label", classifier, ValueError, r"labels must be in \[0, 2\] .*got values from -1 to 1",
             lambda net, f: fit(net, X, Y - 1)),
    on_model("fit_fractional_labels", classifier, ValueError, r"labels .*whole numbers.*0\.5",
             lambda net, f: fit(net, X, Y + 0.5)),
    on_model("fit_string_labels", classifier, TypeError, r"y must hold numbers, got an array of dtype <U1",
             lambda net, f: fit(net, X, np.array(list("abcabcabcabc")))),
    on_model("fit_object_labels", classifier, TypeError, r"y must hold numbers, got an array of dtype object",
             lambda net, f: fit(net, X, np.array([0, 1, 2] * 3 + [0, 1, None], dtype=object))),
    on_model("fit_object_X", classifier, TypeError, r"X must hold numbers, got an array of dtype object",
             lambda net, f: fit(net, X.astype(object), Y)),
    on_model("fit_string_X", classifier, TypeError, r"X must hold numbers, got an array of dtype <U",
             lambda net, f: fit(net, X.astype(str), Y)),
    on_model("fit_ragged_X", classifier, TypeError, r"X must be an array of numbers, got \[\[1, 2\], \[3\]\]",
             lambda net, f: fit(net, [[1, 2], [3]], [0, 1])),
    on_model("fit_one_hot_wrong_width", classifier, ValueError,
             r"y has shape \(12, 4\) but the network outputs shape \(N, 3\)",
             lambda net, f: fit(net, X, np.eye(4)[Y])),
    on_model("fit_regression_y_wrong_width", regressor, ValueError,
             r"y has shape \(12, 2\) but the network outputs shape \(N, 1\)",
             lambda net, f: fit(net, X, np.ones((12, 2)), loss="mse")),
    on_model("fit_scalar_y", classifier, ValueError, r"X of shape \(12, 2\) and y of shape \(\)",
             lambda net, f: fit(net, X, 3)),
    on_model("fit_bce_labels_out_of_range", binary, ValueError, r"\by\b.*\[0, 1\].*\b2(\.0)?\b",
             lambda net, f: fit(net, X, np.full(12, 2.0), loss="binary_cross_entropy")),
    on_model("fit_negative_class_probabilities", classifier, ValueError, r"\by\b.*-1(\.0)?\b",
             lambda net, f: fit(net, X, -np.eye(3)[Y])),
    # fit: the hyperparameters
    on_model("fit_epochs_zero", classifier, ValueError, r"epochs must be >= 1, got 0",
             lambda net, f: fit(net, X, Y, epochs=0)),
    on_model("fit_epochs_negative", classifier, ValueError, r"epochs must be >= 1, got -1",
             lambda net, f: fit(net, X, Y, epochs=-1)),
    on_model("fit_epochs_float", classifier, TypeError, r"epochs must be a positive integer, got 2\.5",
             lambda net, f: fit(net, X, Y, epochs=2.5)),
    on_model("fit_epochs_inf", classifier, TypeError, r"epochs must be a positive integer, got inf",
             lambda net, f: fit(net, X, Y, epochs=float("inf"))),
    on_model("fit_batch_size_zero", classifier, ValueError, r"batch_size must be >= 1, got 0",
             lambda net, f: fit(net, X, Y, batch_size=0)),
    on_model("fit_batch_size_string", classifier, TypeError, r"batch_size must be a positive integer or None, got '32'",
             lambda net, f: fit(net, X, Y, batch_size="32")),
    on_model("fit_validation_split_one", classifier, ValueError,
             r"validation_split must be in \[0\.0, 1\.0\), got 1\.0",
             lambda net, f: fit(net, X, Y, validation_split=1.0)),
    on_model("fit_validation_split_negative", classifier, ValueError, r"validation_split must be in .*got -0\.1",
             lambda net, f: fit(net, X, Y, validation_split=-0.1)),
    on_model("fit_validation_split_nan", classifier, ValueError, r"validation_split must be in .*got nan",
             lambda net, f: fit(net, X, Y, validation_split=float("nan"))),
    on_model("fit_validation_split_string", classifier, TypeError, r"validation_split must be a number, got '0\.1'",
             lambda net, f: fit(net, X, Y, validation_split="0.1")),
    on_model("fit_validation_split_leaves_nothing", classifier, ValueError, r"validation_split=0\.9 leaves 2 of 2 rows",
             lambda net, f: fit(net, X[:2], Y[:2], validation_split=0.9)),
    on_model("fit_validation_split_and_data", classifier, ValueError,
             r"pass validation_data or validation_split, not both",
             lambda net, f: fit(net, X, Y, validation_split=0.2, validation_data=(X, Y))),
    on_model("fit_validation_data_not_a_pair", classifier, TypeError,
             r"validation_data must be a pair \(X_val, y_val\), got array of shape \(12, 2\)",
             lambda net, f: fit(net, X, Y, validation_data=X)),
    on_model("fit_validation_data_wrong_width", classifier, ValueError, r"validation X of shape \(N, 3\) does not fit",
             lambda net, f: fit(net, X, Y, validation_data=(np.ones((4, 3)), Y[:4]))),
    on_model("fit_validation_labels_out_of_range", classifier, ValueError, r"labels must be in \[0, 2\] .*from 5 to 7",
             lambda net, f: fit(net, X, Y, validation_data=(X, Y + 5))),
    on_model("fit_verbose_3", classifier, ValueError, r"verbose must be 0, 1 or 2, got 3",
             lambda net, f: fit(net, X, Y, verbose=3)),
    on_model("fit_shuffle_string", classifier, TypeError, r"shuffle must be True or False, got 'yes'",
             lambda net, f: fit(net, X, Y, shuffle="yes")),
    # fit: names and objects
    on_model("fit_unknown_loss", classifier, ValueError, r"loss must be one of .*got 'hinge'",
             lambda net, f: fit(net, X, Y, loss="hinge")),
    on_model("fit_unknown_optimizer", classifier, ValueError, r"optimizer must be one of .*got 'adadelta'",
             lambda net, f: fit(net, X, Y, optimizer="adadelta")),
    on_model("fit_loss_int", classifier, TypeError, r"loss must be a scratchnn loss .*got 3",
             lambda net, f: fit(net, X, Y, loss=3)),
    on_model("fit_optimizer_class", classifier, TypeError, r"optimizer must be .*got <class 'scratchnn\.optim\.SGD'>",
             lambda net, f: fit(net, X, Y, optimizer=sn.SGD)),
    on_model("fit_unknown_metric", classifier, ValueError, r"unknown metric 'f1'",
             lambda net, f: fit(net, X, Y, metrics=["f1"])),
    on_model("fit_metrics_string", classifier, TypeError, r"metrics must be a list of names .*got 'accuracy'",
             lambda net, f: fit(net, X, Y, metrics="accuracy")),
    on_model("fit_metric_twice", classifier, ValueError, r"metrics lists a name twice: \['accuracy', 'accuracy'\]",
             lambda net, f: fit(net, X, Y, metrics=["accuracy", "accuracy"])),
    on_model("fit_callbacks_not_a_list", classifier, TypeError, r"callbacks must be a list of callbacks, got History",
             lambda net, f: fit(net, X, Y, callbacks=sn.History())),
    on_model("fit_callback_function", classifier, TypeError,
             r"callbacks\[0\] must be a scratchnn callback, got <built-in function print>",
             lambda net, f: fit(net, X, Y, callbacks=[print])),
    on_model("fit_early_stopping_unknown_monitor", classifier, ValueError,
             r"EarlyStopping monitors 'val_acc', but fit logs only loss",
             lambda net, f: fit(net, X, Y, callbacks=[sn.EarlyStopping("val_acc")])),
    on_model("fit_checkpoint_missing_folder", classifier, ValueError, r"no_such_folder",
             lambda net, f: fit(net, X, Y, epochs=2, callbacks=[sn.ModelCheckpoint(f.path("no_such_folder/ck.npz"))])),
    on_model("fit_checkpoint_is_a_directory", classifier, ValueError, r"a_directory",
             lambda net, f: fit(net, X, Y, epochs=2, callbacks=[sn.ModelCheckpoint(f.path("a_directory"))])),
    # fit: resume_from
    on_model("resume_missing_file", classifier, ValueError, r"no model file at '.*missing\.npz'",
             lambda net, f: fit(net, X, Y, resume_from=f.path("missing.npz"))),
    on_model("resume_text_file", classifier, ValueError, r"notes\.txt' is not a readable scratchnn model file",
             lambda net, f: fit(net, X, Y, resume_from=f.path("notes.txt"))),
    on_model("resume_model_without_training_state", classifier, ValueError,
             r"model\.npz' is a model file without training state",
             lambda net, f: fit(net, X, Y, resume_from=f.model)),
    on_model("resume_other_optimizer", classifier, ValueError,
             r"checkpoint\.npz' was trained with SGD, but fit got Adam",
             lambda net, f: resume(net, f, optimizer="adam")),
    on_model("resume_other_callbacks", classifier, ValueError,
             r"checkpoint\.npz' was written with callbacks \['ModelCheckpoint'\], but fit got \[\]",
             lambda net, f: resume(net, f, callbacks=[])),
    on_model("resume_other_network", lambda: sn.Sequential(sn.Dense(2, 5), sn.Tanh(), sn.Dense(5, 3), seed=0),
             ValueError, r"checkpoint\.npz' holds a different network than this model",
             lambda net, f: resume(net, f)),
    on_model("resume_other_random_generator", lambda: classifier(seed=np.random.RandomState(0)),
             ValueError, r"checkpoint\.npz.*Generator.*RandomState",
             lambda net, f: resume(net, f)),
    # predict, predict_classes, evaluate
    on_model("predict_1d", classifier, ValueError, r"X must have shape \(n_samples, n_features\), got shape \(2,\)",
             lambda net, f: net.predict(np.ones(2))),
    on_model("predict_wrong_width", classifier, ValueError, r"X of shape \(N, 5\) does not fit the network",
             lambda net, f: net.predict(np.ones((3, 5)))),
    on_model("predict_nan", classifier, ValueError,
             r"X contains NaN or infinity \(first at index \(0, 0\), value nan\)",
             lambda net, f: net.predict(np.array([[np.nan, 1.0]]))),
    on_model("predict_X_beyond_float32", classifier, ValueError, r"\bX\b.*1e\+39",
             lambda net, f: net.predict(np.array([[1e39, 1.0]]))),
    on_model("predict_empty", classifier, ValueError, r"X must not be empty, got shape \(0, 2\)",
             lambda net, f: net.predict(np.empty((0, 2)))),
    on_model("predict_batch_size_zero", classifier, ValueError, r"batch_size must be >= 1, got 0",
             lambda net, f: net.predict(X, batch_size=0)),
    on_model("predict_batch_size_float", classifier, TypeError,
             r"batch_size must be a positive integer or None, got 2\.0",
             lambda net, f: net.predict(X, batch_size=2.0)),
    on_model("predict_string", classifier, TypeError, r"X must hold numbers, got an array of dtype <U5",
             lambda net, f: net.predict("hello")),
    on_model("predict_none", classifier, TypeError, r"X must hold numbers, got an array of dtype object",
             lambda net, f: net.predict(None)),
    on_model("predict_classes_wrong_width", classifier, ValueError, r"X of shape \(N, 5\) does not fit the network",
             lambda net, f: net.predict_classes(np.ones((3, 5)))),
    on_model("evaluate_without_loss", classifier, ValueError, r"evaluate needs loss=",
             lambda net, f: net.evaluate(X, Y)),
    on_model("evaluate_label_out_of_range", classifier, ValueError, r"labels must be in \[0, 2\] .*from 3 to 5",
             lambda net, f: net.evaluate(X, Y + 3, loss="cross_entropy")),
    on_model("evaluate_unknown_metric", classifier, ValueError, r"unknown metric 'auc'",
             lambda net, f: net.evaluate(X, Y, loss="cross_entropy", metrics=["auc"])),
    on_model("evaluate_batch_size_negative", classifier, ValueError, r"batch_size must be >= 1, got -2",
             lambda net, f: net.evaluate(X, Y, loss="cross_entropy", batch_size=-2)),
    on_model("evaluate_inf", classifier, ValueError, r"X contains NaN or infinity .*value inf",
             lambda net, f: net.evaluate(with_value(X, (1, 1), np.inf), Y, loss="cross_entropy")),
    on_model("evaluate_optimizer_as_loss", classifier, TypeError, r"loss must be a scratchnn loss .*got SGD\(",
             lambda net, f: net.evaluate(X, Y, loss=sn.SGD())),
    # state dicts, saving, summary, gradcheck
    on_model("load_state_dict_missing_entries", classifier, ValueError,
             r"missing \['0\.bias', '0\.weight', '2\.bias', '2\.weight'\]",
             lambda net, f: net.load_state_dict({})),
    on_model("load_state_dict_wrong_shape", classifier, ValueError,
             r"entry '0\.weight' has shape \(1,\), the model expects \(2, 4\)",
             lambda net, f: net.load_state_dict({k: np.zeros(1) for k in net.state_dict()})),
    on_model("load_state_dict_nan", classifier, ValueError, r"'0\.weight'.*(NaN|nan)",
             lambda net, f: net.load_state_dict({k: np.full(v.shape, np.nan) for k, v in net.state_dict().items()})),
    on_model("load_state_dict_strings_in_last_entry", classifier, TypeError, r"'2\.bias'.*<U1",
             lambda net, f: net.load_state_dict({**{k: v + 1 for k, v in net.state_dict().items()},
                                                 "2.bias": np.array(["a", "b", "c"])})),
    on_model("load_state_dict_list", classifier, TypeError, r"\bstate\b.*\[1, 2\]",
             lambda net, f: net.load_state_dict([1, 2])),
    on_model("save_missing_folder", classifier, ValueError,
             r"cannot write '.*no_such_folder.*': directory .* does not exist",
             lambda net, f: net.save(f.path("no_such_folder/m.npz"))),
    on_model("save_path_int", classifier, TypeError, r"\bpath\b.*\b3\b",
             lambda net, f: net.save(3)),
    on_model("summary_file_name", classifier, TypeError, r"\bfile\b.*summary\.txt'",
             lambda net, f: net.summary(file=f.path("summary.txt"))),
    on_model("gradcheck_step_zero", classifier, ValueError, r"step must be a finite number > 0, got 0\.0",
             lambda net, f: sn.gradcheck(net, "cross_entropy", X, Y, step=0)),
    on_model("gradcheck_wrong_width", classifier, ValueError, r"X of shape \(N, 5\) does not fit the network",
             lambda net, f: sn.gradcheck(net, "cross_entropy", np.ones((3, 5)), Y[:3])),
    on_model("gradcheck_unknown_loss", classifier, ValueError, r"loss must be one of .*got 'foo'",
             lambda net, f: sn.gradcheck(net, "foo", X, Y)),
    on_model("gradcheck_nan_X", classifier, ValueError,
             r"X contains NaN or infinity \(first at index \(0, 0\), value nan\)",
             lambda net, f: sn.gradcheck(net, "cross_entropy", np.full((2, 2), np.nan), Y[:2])),
]

def _cnn():
    return sn.Sequential(Conv2D(1, 2, 3), sn.ReLU(), sn.Flatten(), sn.Dense(2 * 4 * 4, 3), seed=0)


def _batchnorm_net():
    return sn.Sequential(sn.Dense(2, 4), BatchNorm(4), sn.ReLU(), sn.Dense(4, 3), seed=0)


MODEL_CASES += [
    on_model("conv_fit_wrong_channels", _cnn, ValueError,
             r"X of shape \(N, 3, 6, 6\) does not fit the network: Conv2D.*expects input of shape \(N, 1, H, W\)",
             lambda net, f: fit(net, np.ones((4, 3, 6, 6)), Y[:4])),
    on_model("conv_predict_image_too_small", _cnn, ValueError, r"at least 3x3 pixels, got shape \(4, 1, 2, 2\)",
             lambda net, f: net.predict(np.ones((4, 1, 2, 2)))),
    on_model("batchnorm_fit_one_row", _batchnorm_net, ValueError,
             r"leaves batches of shape \(1, 2\), and BatchNorm\(num_features=4.*single value per channel",
             lambda net, f: fit(net, X[:1], Y[:1])),
    on_model("batchnorm_fit_last_batch_of_one_row", _batchnorm_net, ValueError,
             r"last batch of shape \(1, 2\).*BatchNorm\(num_features=4",
             lambda net, f: fit(net, X[:9], Y[:9], batch_size=4)),      # batches of 4, 4, 1
]


@pytest.mark.parametrize("make, call, error, pattern", MODEL_CASES)
def test_wrong_call_on_a_model_raises_before_any_weight_changes(files, make, call, error, pattern):
    net = make()
    before = net.flat_parameter.value.copy()
    problems = problems_with(lambda: call(net, files), error, pattern)
    if not np.array_equal(net.flat_parameter.value, before):
        problems.append("the weights changed before the error")
    assert not problems, "; ".join(problems)


# --- the command line -------------------------------------------------------------------------

def cli(id, fragment, *argv):
    return pytest.param(list(argv), fragment, id=id)


QUICK = ("--samples", "40", "--epochs", "1", "--verbose", "0")      # for commands that may get to train

CLI_CASES = [
    cli("train_unknown_dataset", "unknown data set 'moonz'", "train", "moonz"),
    cli("train_epochs_zero", "argument --epochs: expected a positive integer, got '0'",
        "train", "moons", "--epochs", "0"),
    cli("train_batch_size_negative", "argument --batch-size: expected a positive integer, got '-4'",
        "train", "moons", "--batch-size", "-4"),
    cli("train_learning_rate_inf", "argument --learning-rate: expected a positive finite number, got 'inf'",
        "train", "moons", "--learning-rate", "inf"),
    cli("train_dropout_one", "argument --dropout: expected a number in [0, 1), got '1'",
        "train", "moons", "--dropout", "1"),
    cli("train_validation_split_nan", "argument --validation-split: expected a non-negative finite number, got 'nan'",
        "train", "moons", "--validation-split", "nan"),
    cli("train_hidden_zero_width", "argument --hidden: expected comma-separated positive integers", "train", "moons",
        "--hidden", "16,0"),
    cli("train_unknown_activation", "argument --activation: invalid choice: 'swish'", "train", "moons",
        "--activation", "swish"),
    cli("train_unknown_optimizer", "argument --optimizer: invalid choice: 'lbfgs'",
        "train", "moons", "--optimizer", "lbfgs"),
    cli("train_unknown_flag", "unrecognized arguments: --bogus", "train", "moons", "--bogus"),
    cli("train_missing_data", "the following arguments are required: DATA", "train"),
    cli("train_early_stopping_without_validation", "--early-stopping watches the validation loss",
        "train", "moons", "--early-stopping", "3", "--validation-split", "0"),
    cli("train_resume_without_checkpoint", "--resume continues from the file given by --checkpoint",
        "train", "moons", "--resume"),
    cli("train_resume_missing_checkpoint", "--resume: no checkpoint at 'nope.npz'",
        "train", "moons", "--resume", "--checkpoint", "nope.npz"),
    cli("train_checkpoint_same_as_out", "--checkpoint and --out must be different files",
        "train", "moons", "--checkpoint", "same.npz", "--out", "same.npz"),
    cli("train_out_missing_folder", "--out 'nodir/m.npz': the folder", "train", "moons", "--out", "nodir/m.npz"),
    cli("train_out_is_a_directory", "--out", "train", "moons", *QUICK, "--out", "a_directory"),
    cli("train_target_on_toy_set", "--target applies to CSV files only, not to 'moons'",
        "train", "moons", "--target", "label"),
    cli("train_overflowing_noise", "--noise", "train", "moons", *QUICK, "--noise", "1e200"),
    cli("train_missing_csv", "no such CSV file: 'missing.csv'", "train", "missing.csv"),
    cli("train_csv_blank_cell", "blank.csv, line 3, column 'b': missing value (empty cell)", "train", "blank.csv"),
    cli("train_csv_ragged_row", "ragged.csv, line 3: expected 3 columns (as on line 1), found 2",
        "train", "ragged.csv"),
    cli("train_csv_non_numeric_cell", "nonnum.csv, line 3, column 'b': 'abc' is not a number", "train", "nonnum.csv"),
    cli("train_csv_one_class", "one_class.csv: the target column 'label' holds one class only ('x')",
        "train", "one_class.csv"),
    cli("train_csv_fractional_target",
        "fractional.csv: the target column 'label' holds non-integer numbers such as 0.5",
        "train", "fractional.csv", "--task", "classification"),
    cli("train_csv_unknown_target", "target='nope' is not a column of good.csv",
        "train", "good.csv", "--target", "nope"),
    cli("train_png_as_csv", "picture.png: not UTF-8 text", "train", "picture.png"),
    cli("train_resume_from_model_file", "'model.npz' is a model file without training state",
        "train", "moons", *QUICK, "--resume", "--checkpoint", "model.npz"),
    cli("evaluate_missing_model", "no model file at 'missing.npz'", "evaluate", "missing.npz", "moons"),
    cli("evaluate_text_as_model", "'notes.txt' is not a readable scratchnn model file",
        "evaluate", "notes.txt", "moons"),
    cli("evaluate_png_as_model", "'picture.png' is not a readable scratchnn model file",
        "evaluate", "picture.png", "moons"),
    cli("evaluate_npz_not_a_model", "'plain.npz' is not a scratchnn model file: it has no __config__ entry",
        "evaluate", "plain.npz", "moons"),
    cli("evaluate_truncated_model", "'truncated.npz' is not a readable scratchnn model file",
        "evaluate", "truncated.npz", "moons"),
    cli("evaluate_unknown_dataset", "unknown data set 'swirl'", "evaluate", "model.npz", "swirl"),
    cli("evaluate_single_output_model", "one_output.npz gives 1 output per row", "evaluate", "one_output.npz", "moons"),
    cli("evaluate_all_rows_on_toy_set", "--all-rows applies to CSV files only",
        "evaluate", "model.npz", "moons", "--all-rows"),
    cli("evaluate_csv_wrong_width", "three.csv", "evaluate", "model.npz", "three.csv"),
    cli("predict_csv_wrong_width", "pred3.csv has 3 columns per row, but the model expects 2 features",
        "predict", "model.npz", "pred3.csv"),
    cli("predict_nan_cell", "pred_nan.csv, line 1, column 2: 'nan' is not a finite number",
        "predict", "model.npz", "pred_nan.csv"),
    cli("predict_ragged_row", "pred_ragged.csv, line 2: expected 2 columns, found 1",
        "predict", "model.npz", "pred_ragged.csv"),
    cli("predict_word", "pred_word.csv, line 2, column 2: 'x' is not a finite number",
        "predict", "model.npz", "pred_word.csv"),
    cli("predict_missing_inputs", "no such input file: 'missing.csv'", "predict", "model.npz", "missing.csv"),
    cli("predict_1d_npy",
        "arr1d.npy: expected an array of numbers of shape (n_samples, ...), got float64 of shape (3,)",
        "predict", "model.npz", "arr1d.npy"),
    cli("predict_object_npy", "obj.npy: not a .npy file of numbers", "predict", "model.npz", "obj.npy"),
    cli("predict_nan_npy", "nan.npy", "predict", "model.npz", "nan.npy"),
    cli("predict_images_wrong_size", "img.npy has shape (3, 3) per row, but the model expects 2 features",
        "predict", "model.npz", "img.npy"),
    cli("predict_target_out_of_range", "--target 9 is out of range for pred3.csv, which has 3 columns",
        "predict", "model.npz", "pred3.csv", "--target", "9"),
    cli("predict_target_on_npy", "--target applies to CSV inputs only",
        "predict", "model.npz", "arr1d.npy", "--target", "0"),
    cli("predict_text_as_model", "'notes.txt' is not a readable scratchnn model file",
        "predict", "notes.txt", "pred3.csv"),
    cli("summary_png", "'picture.png' is not a readable scratchnn model file", "summary", "picture.png"),
    cli("summary_directory", "a_directory", "summary", "a_directory"),
    cli("summary_npz_not_a_model", "'plain.npz' is not a scratchnn model file", "summary", "plain.npz"),
    cli("summary_missing_argument", "the following arguments are required: MODEL", "summary"),
    cli("xor_seeds_zero", "argument --seeds: expected a positive integer, got '0'", "xor", "--seeds", "0"),
]


@pytest.mark.parametrize("argv, fragment", CLI_CASES)
def test_wrong_command_line_is_one_line_and_exit_code_2(files, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(files.dir)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert fragment in err


def test_the_corpus_has_at_least_80_wrong_calls():
    api_cases, cli_cases = len(API_CASES) + len(MODEL_CASES), len(CLI_CASES)
    ids = {case.id for case in API_CASES + MODEL_CASES}
    assert {"conv_kernel_zero", "pool_stride_zero", "batchnorm_zero_features", "conv_fit_wrong_channels",
            "conv_predict_image_too_small", "batchnorm_fit_one_row", "batchnorm_fit_last_batch_of_one_row",
            "sklearn_max_iter_zero"} <= ids
    assert api_cases + cli_cases >= 80
    assert api_cases >= 80 and cli_cases >= 15
