"""Commands on a trained model file: ``evaluate``, ``predict`` and ``summary``.

    scratchnn evaluate model.npz fashion-mnist          # loss and accuracy on the test set
    scratchnn predict model.npz inputs.csv > predictions.csv
    scratchnn summary model.npz

A model file is a regressor when it has no class names and gives one output per row (what
``train --task regression`` writes); otherwise a classifier, whose outputs are named by its
class names, or numbered 0..K-1 when it has none.
"""

import csv
import json
import math
import os
import sys

import numpy as np

from .data import check_data_options, expected_features, load_data, read_inputs
from .plots import INFERENCE_BATCH, check_plotting, probabilities, write_confusion_matrix
from ..model import load
from ..serialization import read_npz
from ..losses import CrossEntropy
from ..metrics import regression_scores
from .train import describe_regression


def run_evaluate(args):
    check_data_options(args.data, args.target, args.samples, args.noise)
    if args.plots is not None:
        check_plotting(args.plots)
    net = load(args.model)
    if is_regressor(net):
        return _evaluate_regressor(args, net)
    data = load_data(args.data, args.target, args.seed, args.samples, args.noise, args.limit,
                     classes=net.classes, all_rows=args.all_rows, test_only=True,
                     task="classification")
    if net.classes is not None and data.kind != "csv" and list(map(str, net.classes)) != data.classes:
        raise ValueError(f"{args.model} was trained on the classes {net.classes}, but {args.data} has {data.classes}")
    features = expected_features(net)
    if features is not None and data.X_test[0].size != features:
        raise ValueError(f"{args.data} has {data.X_test[0].size} features per row, but {args.model} "
                         f"expects {features}")
    outputs = _output_width(net, data.X_test[:1])
    if outputs < 2:
        raise ValueError(f"{args.model} gives {outputs} output per row; evaluate needs one logit per class")
    results = net.evaluate(data.X_test, data.y_test, loss=CrossEntropy(), metrics=["accuracy"], batch_size=INFERENCE_BATCH)
    correct = round(results["accuracy"] * len(data.X_test))
    rows = "rows" if args.all_rows else "test rows"
    print(f"{data.name}: {len(data.X_test):,} {rows}")
    print(f"Test loss: {results['loss']:.4f}")
    print(f"Test accuracy: {results['accuracy']:.4f} ({correct:,} of {len(data.X_test):,} correct)")
    if args.plots is not None:
        predicted = probabilities(net, data.X_test).argmax(axis=1)
        names = net.classes if net.classes is not None else [str(k) for k in range(outputs)]
        path = os.path.join(args.plots, "confusion_matrix.png")
        write_confusion_matrix(path, data.y_test, predicted, names)
        print(f"Plots: {path}")
    return 0


def is_regressor(net):
    """A model without class names that gives one output per row (see the module docstring)."""
    if net.classes is not None:
        return False
    shape = net.output_shapes()[-1]          # None where the input shape is unknown
    return shape is not None and shape[-1] == 1


def _evaluate_regressor(args, net):
    if args.plots is not None:
        raise ValueError(f"--plots: {args.model} is a regressor; evaluate draws only a classifier's "
                         "confusion matrix")
    if check_data_options(args.data, args.target, args.samples, args.noise) != "csv":
        raise ValueError(f"{args.model} gives 1 output per row and has no class names: a regressor, but "
                         f"{args.data!r} is a classification set (one logit per class); give a CSV file")
    data = load_data(args.data, args.target, args.seed, args.samples, args.noise, args.limit,
                     all_rows=args.all_rows, task="regression")
    _check_features(args.data, args.model, net, data.X_test)
    predicted = net.predict(data.X_test, batch_size=INFERENCE_BATCH)
    rows = "rows" if args.all_rows else "test rows"
    print(f"{data.name}: {len(data.X_test):,} {rows}, regression of {data.target_name!r}")
    scores = regression_scores(data.y_test, predicted)
    print(f"Test loss: {scores['mse'] / 2:.4g} (½ MSE, the training loss)")
    print(describe_regression(scores, len(data.y_test)))
    return 0


def _check_features(source, model, net, X):
    features = expected_features(net)
    if features is not None and X[0].size != features:
        raise ValueError(f"{source} has {X[0].size} features per row, but {model} expects {features}")


def run_predict(args):
    net = load(args.model)
    X = read_inputs(args.inputs, args.target)
    features = expected_features(net)
    if features is not None and X.ndim > 2 and math.prod(X.shape[1:]) == features:
        X = X.reshape(len(X), -1)                      # images (N, 28, 28) for a network on (N, 784)
    if features is not None and X.shape[1:] != (features,):
        hint = "" if X.ndim != 2 or X.shape[1] != features + 1 else " (pass --target to drop the target column)"
        raise ValueError(f"{args.inputs} has {_columns(X)} per row, but the model expects {features} features{hint}")
    if is_regressor(net):
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["prediction"])
        writer.writerows([f"{value:.7g}"] for value in net.predict(X, batch_size=INFERENCE_BATCH)[:, 0])
        return 0
    p = probabilities(net, X)
    if p.shape[1] < 2:
        raise ValueError(f"{args.model} gives {p.shape[1]} output per row; predict needs one logit per class")
    names = net.classes if net.classes is not None else [str(k) for k in range(p.shape[1])]
    if len(names) != p.shape[1]:
        raise ValueError(f"{args.model} names {len(names)} classes but gives {p.shape[1]} outputs per row")
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["prediction"] + [f"p_{name}" for name in names])
    for row, k in zip(p, p.argmax(axis=1)):
        writer.writerow([names[k]] + [f"{value:.6g}" for value in row])
    return 0


def run_summary(args):
    net = load(args.model)
    net.summary()
    print(f"dtype: {net.dtype.name}")
    features = expected_features(net)
    if features is not None:
        print(f"inputs: {features} features per row")
    if is_regressor(net):
        print("classes: none: a regressor (one number per row; evaluate reports R², MAE and MSE)")
    elif net.classes is None:
        print("classes: none saved (predictions are column numbers)")
    else:
        print(f"classes ({len(net.classes)}): {', '.join(map(str, net.classes))}")
    state = read_npz(args.model).get("__training__")
    if state is not None:
        epoch = json.loads(state.astype(np.uint8).tobytes().decode("utf-8"))["epoch"] + 1
        print(f"checkpoint: training state after epoch {epoch} "
              f"(train ... --checkpoint {args.model} --resume goes on from there)")
    return 0


def _output_width(net, sample):
    return net.predict(sample).shape[1]


def _columns(X):
    return f"{X.shape[1]} column{'s' if X.shape[1] != 1 else ''}" if X.ndim == 2 else f"shape {X.shape[1:]}"
