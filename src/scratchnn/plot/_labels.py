"""Class labels and class names, checked the same way by every plot that shows classes."""

import numpy as np


def _as_labels(name, labels):
    """Integer labels of shape (N,); (N, 1) is flattened, (N, C) rows are turned into arg-max."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[:, 0] if labels.shape[1] == 1 else labels.argmax(axis=1)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of class labels, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        fractional = ~np.isfinite(labels) | (labels != np.round(labels))
        if fractional.any():
            example = labels[fractional][:3]
            raise ValueError(f"{name} must hold integer class labels, got values such as {example}")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"{name} must hold labels 0, 1, ..., C-1, got {labels.min()}")
    return labels


def _check_class_names(class_names, needed):
    if isinstance(class_names, str):
        raise TypeError("class_names must be a list of names, got a single string")
    class_names = [str(name) for name in class_names]
    if len(class_names) < needed:
        raise ValueError(f"class_names has {len(class_names)} names but the labels go up to {needed - 1}")
    return class_names


def _class_name(label, class_names):
    return str(label) if class_names is None else class_names[label]
