"""How fast each layer learns: the records of `scratchnn.GradientStats`, one line per layer."""

import numpy as np

from .._checks import describe
from ..training.gradient_stats import EPOCH_KEY, STATS, stat_key
from ._figure import _finish, _integer_locator, _new_figure, _require

__all__ = ["plot_gradient_stats"]

TITLES = {"grad_norm": "gradient norm ||dL/dW||", "weight_norm": "weight norm ||W||",
          "update_ratio": "update / weight ||ΔW|| / ||W||"}


def plot_gradient_stats(history, stats=STATS, parameters=None, path=None, title=None):
    """Draw what `GradientStats` recorded: one panel per statistic, one line per layer,
    against the epoch, on a log scale (linear for a panel without a positive value).

    - `history`: a `History` (or its ``.history`` dict) from a `fit` with ``GradientStats()``.
    - `stats`: which of "grad_norm", "weight_norm", "update_ratio" to draw (default all three).
    - `parameters`: the parameter names to draw ("0.weight", "2.bias", ...); None draws the
      first parameter of each layer (its weight), from the first layer to the last, coloured
      from dark to light.

    Returns the matplotlib `Figure`; with `path`, also writes a PNG there. TypeError /
    ValueError when `history` holds no gradient statistics or names a statistic or
    parameter it does not hold.

    >>> history = net.fit(X, y, loss="mse", optimizer="sgd", epochs=20, callbacks=[sn.GradientStats()])
    >>> fig = sn.plot.plot_gradient_stats(history, path="gradient_stats.png")
    """
    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise TypeError(f"history must be a History or its .history dict, got {describe(history)}")
    stats = _check_stats(stats)
    recorded = _recorded_parameters(history)
    if not recorded:
        raise ValueError("history holds no gradient statistics: train with callbacks=[sn.GradientStats()]")
    parameters = _check_parameters(parameters, recorded)
    count = len(history[stat_key(stats[0], parameters[0])])
    where = np.asarray(history.get(EPOCH_KEY, np.arange(1, count + 1)), dtype=float)

    fig = _new_figure(figsize=(4.6 * len(stats), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(stats), squeeze=False)).ravel()
    colours = _require_colormap()(np.linspace(0.0, 0.85, len(parameters)))
    for ax, stat in zip(axes, stats):
        drawn = []
        for colour, name in zip(colours, parameters):
            values = np.asarray(history[stat_key(stat, name)], dtype=float)
            if values.shape != where.shape:
                raise ValueError(f"history[{stat_key(stat, name)!r}] has {values.size} values but "
                                 f"history[{EPOCH_KEY!r}] {where.size}: they come from one GradientStats")
            drawn.append(values)
            ax.plot(where, values, color=colour, label=name, marker="o" if len(values) <= 30 else None,
                    markersize=3)
        if _has_positive(drawn):
            ax.set_yscale("log")
        ax.set_title(TITLES[stat])
        ax.set_xlabel("epoch")
        ax.grid(True, which="both", alpha=0.3)
        if np.all(where == np.round(where)):
            ax.xaxis.set_major_locator(_integer_locator())
    fig.legend(*axes[0].get_legend_handles_labels(), title="parameter", fontsize="small", loc="outside right upper")
    if title is not None:
        fig.suptitle(title)
    return _finish(fig, path)


def _has_positive(series):
    """Whether some value is positive and finite (else a log scale would show nothing)."""
    values = np.concatenate(series)
    return bool(np.any(values[np.isfinite(values)] > 0))


def _require_colormap():
    return _require("matplotlib").colormaps["viridis"]


def _check_stats(stats):
    if isinstance(stats, str):
        stats = (stats,)
    if not isinstance(stats, (list, tuple)) or not stats:
        raise TypeError(f"stats must be a list of names from {', '.join(STATS)}, got {describe(stats)}")
    for stat in stats:
        if stat not in STATS:
            raise ValueError(f"stats: unknown statistic {describe(stat)}; GradientStats records {', '.join(STATS)}")
    return list(stats)


def _recorded_parameters(history):
    """The parameter names that history holds statistics of, in the order they were recorded."""
    prefix = STATS[0] + "/"
    return [key[len(prefix):] for key in history if isinstance(key, str) and key.startswith(prefix)]


def _check_parameters(parameters, recorded):
    if parameters is None:
        firsts = {}
        for name in recorded:                          # "2.weight" -> layer "2"
            firsts.setdefault(name.split(".", 1)[0], name)
        return list(firsts.values())
    if isinstance(parameters, str):
        parameters = [parameters]
    if not isinstance(parameters, (list, tuple)) or not parameters:
        raise TypeError(f"parameters must be a list of names such as '0.weight', or None, got {describe(parameters)}")
    for name in parameters:
        if name not in recorded:
            raise ValueError(f"parameters: history has no statistics of {describe(name)}; "
                             f"it has {', '.join(recorded)}")
    return list(parameters)
