"""Decision boundaries of a model on 2-D inputs: one picture, or a GIF of it forming."""

import numbers

import numpy as np

from .._checks import as_float_array, describe, positive_int, positive_number
from .._files import write_atomically
from ._figure import _finish, _new_figure, _require
from ._labels import _as_labels

__all__ = ["plot_decision_boundary", "animate_decision_boundary"]


def plot_decision_boundary(predict, X, y, path=None, resolution=200, title=None, ax=None):
    """Colour the plane by what `predict` says, and draw the data points on top.

    `predict` takes an (M, 2) array and returns (M,) or (M, 1) probabilities of class 1
    (binary: a red-blue map of the probability, with the P = 0.5 line in black) or (M, C)
    scores (multi-class: each region in the colour of its arg-max class).
    X is (N, 2), y holds N integer labels (or one-hot rows). Draws on `ax` if given.

    >>> predict = lambda points: 1 / (1 + np.exp(-(points[:, 0] + points[:, 1])))
    >>> X = np.random.default_rng(0).normal(size=(100, 2)); y = (X.sum(axis=1) > 0).astype(int)
    >>> fig = plot_decision_boundary(predict, X, y, path="boundary.png")
    """
    X, y = _check_points(X, y)
    resolution = _check_resolution(resolution)
    grid = _evaluate_on_grid(predict, X, y, resolution)
    if ax is None:
        fig = _new_figure(figsize=(6, 4.8))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_boundary(ax, grid, X, y)
    if title is not None:
        ax.set_title(title)
    return _finish(fig, path)


def animate_decision_boundary(frames, X, y, path, fps=5, resolution=100):
    """Write an animated GIF of the decision boundary forming, one frame per snapshot.

    `frames` is a list of ``(label, predict)`` pairs: an int label is shown as
    "epoch <label>", anything else as it is. Each `predict` must be frozen at its snapshot
    (a copy of the weights), otherwise every frame shows the final model. Returns the
    figure of the last frame; the last frame is held three times longer.

    >>> frames = [(epoch, lambda p, s=epoch: 1 / (1 + np.exp(-s * p[:, 0]))) for epoch in range(1, 6)]
    >>> X = np.random.default_rng(0).normal(size=(50, 2)); y = (X[:, 0] > 0).astype(int)
    >>> fig = animate_decision_boundary(frames, X, y, "boundary.gif")
    """
    if isinstance(frames, (str, bytes)) or not hasattr(frames, "__len__") or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty list of (label, predict) pairs, got {describe(frames)}")
    for index, frame in enumerate(frames):
        if not (isinstance(frame, (tuple, list)) and len(frame) == 2 and callable(frame[1])):
            raise TypeError(
                f"frames[{index}] must be a (label, predict) pair with a callable predict, "
                f"got {describe(frame)}"
            )
    X, y = _check_points(X, y)
    fps = positive_number("fps", fps)
    resolution = _check_resolution(resolution)
    if path is None:
        raise ValueError("path is required: where to write the GIF")
    Image = _require("PIL.Image")

    pictures = []
    for label, predict in frames:
        grid = _evaluate_on_grid(predict, X, y, resolution)
        fig = _new_figure(figsize=(6, 4.8))               # same size every frame: frames align
        ax = fig.add_subplot()
        _draw_boundary(ax, grid, X, y)
        ax.set_title(f"epoch {label}" if isinstance(label, numbers.Integral) else str(label))
        fig.canvas.draw()
        pictures.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB"))

    frame_ms = max(int(round(1000 / fps)), 20)            # browsers slow down delays under 20 ms
    durations = [frame_ms] * (len(pictures) - 1) + [3 * frame_ms]

    def write(file):
        pictures[0].save(file, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=durations, loop=0)

    write_atomically(path, write, make_parents=True)
    return fig


def _check_points(X, y):
    X = as_float_array("X", X, np.float64, ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 columns (the plane to draw), got shape {X.shape}")
    y = _as_labels("y", y)
    if len(y) != len(X):
        raise ValueError(
            f"X and y must have the same length, got X of shape {X.shape} and y of shape {y.shape}"
        )
    return X, y


def _check_resolution(resolution):
    resolution = positive_int("resolution", resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2 grid points per axis, got {resolution}")
    return resolution


def _evaluate_on_grid(predict, X, y, resolution):
    """Call `predict` on a resolution x resolution grid covering X with a margin."""
    if not callable(predict):
        raise TypeError(f"predict must be a callable taking an (M, 2) array, got {describe(predict)}")
    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.where(high > low, 0.1 * (high - low), 1.0)   # 10% of the data range each side
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    scores = np.asarray(predict(points))
    m = len(points)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if not (scores.ndim in (1, 2) and scores.shape[0] == m and scores.dtype.kind in "biuf"):
        raise ValueError(
            f"predict must return numbers of shape ({m},), ({m}, 1) or ({m}, C) for {m} points, "
            f"got {describe(scores)}"
        )
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("predict returned NaN or infinity on the grid")
    binary = scores.ndim == 1
    if binary and (scores.min() < 0 or scores.max() > 1):
        raise ValueError(
            f"predict returned values in [{scores.min():.3g}, {scores.max():.3g}] for a binary problem; "
            "return probabilities of class 1 (for example sigmoid(logits))"
        )
    n_classes = 2 if binary else scores.shape[1]
    if y.max() >= n_classes:
        raise ValueError(f"y holds label {y.max()} but predict gives scores for {n_classes} classes")
    values = scores if binary else scores.argmax(axis=1)      # P(class 1), or the predicted class
    return xx, yy, values.reshape(xx.shape), n_classes, binary


def _draw_boundary(ax, grid, X, y):
    xx, yy, values, n_classes, binary = grid
    fig = ax.figure
    if binary:                                             # values = P(class 1)
        cmap = _require("matplotlib").colormaps["coolwarm"]
        extent = (xx.min(), xx.max(), yy.min(), yy.max())
        regions = ax.imshow(values, origin="lower", extent=extent, aspect="auto", cmap=cmap,
                            vmin=0, vmax=1, alpha=0.55, interpolation="bilinear")
        if values.min() < 0.5 < values.max():             # no line to draw if one class everywhere
            ax.contour(xx, yy, values, levels=[0.5], colors="black", linewidths=1.5)
        fig.colorbar(regions, ax=ax, label="P(class 1)", ticks=[0, 0.25, 0.5, 0.75, 1])
        colours = [cmap(0.0), cmap(1.0)]                   # the two ends of the map
    else:                                                  # values = the arg-max class
        colours = _class_colours(n_classes)
        ax.contourf(xx, yy, values, levels=np.arange(n_classes + 1) - 0.5, colors=colours, alpha=0.35)
    for label in range(n_classes):
        chosen = y == label
        if chosen.any():
            ax.scatter(X[chosen, 0], X[chosen, 1], color=colours[label], edgecolors="black",
                       linewidths=0.6, s=30, label=f"class {label}")
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    ax.legend(loc="best", fontsize="small", framealpha=0.8)


def _class_colours(n_classes):
    cmap = _require("matplotlib").colormaps["tab10" if n_classes <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n_classes)]
