"""Metrics: numbers a person reads to judge a model (they are not differentiated).

Each metric takes the targets and the network's outputs for a batch and returns the *sum* of
its per-sample values, so `fit` can average exactly over an epoch of uneven batches.

>>> accuracy_sum(np.array([0, 2]), np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]]))
2.0
"""

import numpy as np

from ._checks import describe, positive_int


def predicted_classes(outputs, threshold=0.5):
    """Class indices from outputs: argmax over the last axis (one class per row, or per step of
    a sequence's (N, T, C) outputs), or ``output > threshold`` for a single output column
    (probabilities: threshold 0.5; logits: 0)."""
    if outputs.ndim >= 2 and outputs.shape[-1] > 1:
        return outputs.argmax(axis=-1)
    return (outputs.reshape(outputs.shape[:-1] if outputs.ndim >= 2 else outputs.shape) > threshold).astype(np.intp)


def true_classes(targets, outputs=None):
    """Class indices from targets: integer labels as they are (one per row, or one per step,
    (N, T), for a sequence's (N, T, C) outputs), one-hot or probability rows by argmax over the
    last axis, a single 0/1 column rounded."""
    if targets.ndim == 1 or (outputs is not None and targets.ndim == outputs.ndim - 1):
        return targets.astype(np.intp)
    if targets.shape[-1] > 1:
        return targets.argmax(axis=-1)
    return np.rint(targets.reshape(targets.shape[:-1])).astype(np.intp)


def accuracy_sum(targets, outputs, threshold=0.5):
    """Σ over samples of the fraction of the sample's predictions that are right: the number of
    rows whose predicted class is the true class, or for sequences ((N, T, C) outputs, (N, T)
    labels) each sample's fraction of right steps, so that the epoch's mean is per step."""
    right = predicted_classes(outputs, threshold) == true_classes(targets, outputs)
    if right.ndim > 1:                                  # a sequence: each sample's fraction of steps
        right = right.mean(axis=tuple(range(1, right.ndim)))
    return float(right.sum())


def _difference(targets, outputs):
    """outputs − targets, with integer labels turned into one-hot rows for several outputs."""
    if targets.ndim == 1 and outputs.ndim == 2 and outputs.shape[1] > 1:
        targets = np.eye(outputs.shape[1], dtype=outputs.dtype)[targets]
    return outputs - targets.reshape(outputs.shape)


def absolute_error_sum(targets, outputs):
    """Σ over samples of the mean absolute error of that sample's outputs."""
    difference = _difference(targets, outputs)
    return float(np.abs(difference).reshape(len(outputs), -1).mean(axis=1).sum())


def squared_error_sum(targets, outputs):
    """Σ over samples of the mean squared error of that sample's outputs."""
    difference = _difference(targets, outputs)
    return float((difference * difference).reshape(len(outputs), -1).mean(axis=1).sum())


METRICS = {"accuracy": accuracy_sum, "mae": absolute_error_sum, "mse": squared_error_sum}


def check_metrics(metrics):
    """Validate a list of metric names; return it as a list (empty for None)."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"metrics must be a list of names such as ['accuracy'], got {describe(metrics)}")
    for name in metrics:
        if name not in METRICS:
            raise ValueError(f"unknown metric {describe(name)}; known metrics: {', '.join(METRICS)}")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics lists a name twice: {list(metrics)}")
    return list(metrics)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts C[i, j] of samples of true class i predicted as class j.

    >>> confusion_matrix([0, 1, 1], [0, 1, 0])
    array([[1, 0],
           [1, 1]])
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got shapes {y_true.shape} and {y_pred.shape}")
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0):
            raise ValueError(f"{name} must hold non-negative integer class labels, got {describe(labels)}")
    largest = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    elif positive_int("num_classes", num_classes) <= largest:
        raise ValueError(f"num_classes={num_classes}, but the labels go up to {largest}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def regression_scores(y, predicted):
    """{"r2", "mae", "mse"} of predictions (N, outputs) against targets y (N, outputs), averaged
    over the outputs: R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (1 is perfect, 0 is predicting the mean;
    a constant target gives 0, or 1 when predicted exactly), MAE = mean |y − ŷ|,
    MSE = mean (y − ŷ)² (without the loss's ½)."""
    y, predicted = np.asarray(y, np.float64), np.asarray(predicted, np.float64)
    residual = ((y - predicted) ** 2).sum(axis=0)                  # Σ (y − ŷ)²
    spread = ((y - y.mean(axis=0)) ** 2).sum(axis=0)               # Σ (y − ȳ)²
    r2 = np.where(spread > 0, 1 - residual / np.where(spread > 0, spread, 1), (residual == 0) * 1.0)
    return {"r2": float(r2.mean()), "mae": float(np.abs(y - predicted).mean()),
            "mse": float(((y - predicted) ** 2).mean())}
