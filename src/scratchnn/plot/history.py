"""Training curves: every metric recorded during training, one panel per metric."""

import math

import numpy as np

from .._checks import describe
from ..training.gradient_stats import is_gradient_stat
from ._figure import _finish, _integer_locator, _new_figure

__all__ = ["plot_history"]


def plot_history(history, path=None, title=None):
    """Draw the metrics recorded during training, one panel per metric, against the epoch.

    `history` maps a metric name to one value per epoch, or is an object with such a dict
    in `.history` (a History callback). ``val_loss`` is drawn on the same panel as ``loss``.
    A loss that spans more than two decades gets a log scale. What `GradientStats` records
    ("grad_norm/0.weight", ...) is left out: `plot_gradient_stats` draws it.

    >>> history = {"loss": [0.9, 0.4, 0.2], "val_loss": [1.0, 0.5, 0.35],
    ...            "accuracy": [0.6, 0.8, 0.9], "val_accuracy": [0.55, 0.75, 0.85]}
    >>> fig = plot_history(history, path="history.png")     # two panels: loss, accuracy
    """
    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise TypeError(
            f"history must be a dict of metric name -> list of values, or an object with a "
            f".history dict, got {describe(history)}"
        )
    if not any(not is_gradient_stat(name) for name in history):
        raise ValueError("history is empty: it has no metric to plot (gradient statistics are "
                         "drawn by plot_gradient_stats)")
    families = {}  # "loss" -> {"loss": values, "val_loss": values}, in order of appearance
    for name, values in history.items():
        if is_gradient_stat(name):
            continue
        values = _history_values(name, values)
        family = name[len("val_"):] if str(name).startswith("val_") else str(name)
        families.setdefault(family, {})[str(name)] = values

    n_columns = min(len(families), 3)
    n_rows = math.ceil(len(families) / n_columns)
    fig = _new_figure(figsize=(4.5 * n_columns, 3.4 * n_rows))
    axes = fig.subplots(n_rows, n_columns, squeeze=False).ravel()
    for ax, (family, series) in zip(axes, families.items()):
        for name, values in series.items():
            epochs = np.arange(1, len(values) + 1)        # epoch 1 is the first epoch
            label = "validation" if name.startswith("val_") else "train"
            ax.plot(epochs, values, marker="o" if len(values) <= 30 else None, markersize=3, label=label)
        if "loss" in family and _spans_decades(series.values(), decades=2):
            ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.set_ylabel(family)
        ax.xaxis.set_major_locator(_integer_locator())
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend()
    for ax in axes[len(families):]:
        ax.set_visible(False)
    if title is not None and len(families) == 1:
        axes[0].set_title(f"{title}: {axes[0].get_title()}")   # one panel: one title line
    elif title is not None:
        fig.suptitle(title)
    return _finish(fig, path)


def _history_values(name, values):
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"history[{name!r}] must be a list of numbers, got {describe(values)}") from None
    if array.ndim != 1:
        raise ValueError(f"history[{name!r}] must be a 1-D list of values per epoch, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"history[{name!r}] is empty: it has no epoch to plot")
    return array


def _spans_decades(series, decades):
    values = np.concatenate([np.asarray(v) for v in series])
    values = values[np.isfinite(values)]              # a diverged loss may hold NaN or inf
    if values.size == 0 or values.min() <= 0:
        return False
    return values.max() / values.min() > 10.0 ** decades
