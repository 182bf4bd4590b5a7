"""Plots that teach: training curves, decision boundaries, confusion matrices, images, weights.

Every function takes plain data (dicts, arrays, a `predict` callable), so it works with any
model, and returns a matplotlib `Figure`; given `path`, it also writes a PNG there.
matplotlib is optional (``pip install scratchnn[plot]``) and is imported only when a plot
is drawn. Figures are drawn with the Agg backend directly, never through pyplot, so no
window opens and no global state changes.

>>> from scratchnn.plot import plot_history
>>> fig = plot_history({"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.4]}, path="loss.png")
"""

import importlib
import math
import numbers

import numpy as np

from .._checks import as_float_array, describe, positive_int, positive_number
from .._files import write_atomically
from ..metrics import confusion_matrix

__all__ = [
    "plot_history",
    "plot_decision_boundary",
    "animate_decision_boundary",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_first_layer_weights",
    "plot_samples",
]

_INSTALL_HINT = "pip install scratchnn[plot]"


# ---------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------

def plot_history(history, path=None, title=None):
    """Draw the metrics recorded during training, one panel per metric, against the epoch.

    `history` maps a metric name to one value per epoch, or is an object with such a dict
    in `.history` (a History callback). ``val_loss`` is drawn on the same panel as ``loss``.
    A loss that spans more than two decades gets a log scale.

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
    if not history:
        raise ValueError("history is empty: it has no metric to plot")
    families = {}  # "loss" -> {"loss": values, "val_loss": values}, in order of appearance
    for name, values in history.items():
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


# ---------------------------------------------------------------------------------------
# Decision boundaries (2-D inputs)
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# Classification results
# ---------------------------------------------------------------------------------------

def plot_confusion_matrix(y_true, y_pred, class_names=None, path=None, normalize=False):
    """Draw the confusion matrix: true classes on the rows, predicted classes on the columns.

    Labels are integers 0..C-1 (or one-hot / score rows, turned into labels by arg-max).
    With ``normalize=True`` each row is divided by its total: the diagonal is the recall.

    >>> fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], class_names=["cat", "dog", "fox"])
    """
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}")
    n_classes = max(y_true.max(), y_pred.max()) + 1
    if class_names is not None:
        class_names = _check_class_names(class_names, n_classes)
        n_classes = len(class_names)
    counts = confusion_matrix(y_true, y_pred, n_classes)   # counts[t, p]: true t predicted as p
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        matrix = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    else:
        matrix = counts
    names = class_names or [str(i) for i in range(n_classes)]

    size = min(max(4.5, 0.55 * n_classes + 2.5), 14)
    fig = _new_figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else max(int(matrix.max()), 1))
    colour_label = "fraction of the true class" if normalize else "count"
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, label=colour_label)
    if not normalize:
        colorbar.locator = _integer_locator()                # counts: no 0.25 ticks
    if n_classes <= 20:                                      # beyond, the numbers would not fit
        threshold = (1 if normalize else matrix.max()) / 2
        fontsize = 12 if n_classes <= 5 else 9 if n_classes <= 10 else 7
        for (row, column), value in np.ndenumerate(matrix):
            ax.text(column, row, f"{value:.2f}" if normalize else f"{value:d}", ha="center", va="center",
                    fontsize=fontsize, color="white" if value > threshold else "black")
    long_names = max(len(name) for name in names) > 3       # slant long names so they don't overlap
    ax.set_xticks(range(n_classes), names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_yticks(range(n_classes), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(counts) / counts.sum()
    ax.set_title(f"Confusion matrix{', normalized by row' if normalize else ''} (accuracy {accuracy:.1%})")
    return _finish(fig, path)


def plot_misclassified(images, y_true, y_pred, class_names=None, path=None, max_images=25):
    """Show the images the model got wrong, each titled with its true and predicted class.

    `images` is (N, H*W) with a square H = W, (N, H, W) or (N, 1, H, W). At most
    `max_images` are drawn, in dataset order. If none is wrong, the figure says so.

    >>> predictions = model.predict(x_test).argmax(axis=1)
    >>> fig = plot_misclassified(x_test, labels, predictions, path="mistakes.png")
    """
    images = _as_image_batch(images)
    y_true, y_pred = _as_labels("y_true", y_true), _as_labels("y_pred", y_pred)
    if not len(images) == len(y_true) == len(y_pred):
        raise ValueError(
            "images, y_true and y_pred must have the same length, "
            f"got {len(images)}, {len(y_true)} and {len(y_pred)}"
        )
    if class_names is not None:
        class_names = _check_class_names(class_names, max(y_true.max(), y_pred.max()) + 1)
    max_images = positive_int("max_images", max_images)
    wrong = np.flatnonzero(y_true != y_pred)
    if wrong.size == 0:
        fig = _new_figure(figsize=(6, 2))
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, f"No misclassified images: all {len(images)} predictions are correct.",
                ha="center", va="center", fontsize=12)
        return _finish(fig, path)
    shown = wrong[:max_images]
    titles = [f"true: {_class_name(y_true[i], class_names)}\n"       # two lines: tiles are narrow
              f"pred: {_class_name(y_pred[i], class_names)}" for i in shown]
    fig = _image_grid(images[shown], titles, title_colour="firebrick")
    fig.suptitle(f"Misclassified: {wrong.size} of {len(images)} (showing {len(shown)})")
    return _finish(fig, path)


# ---------------------------------------------------------------------------------------
# Images and weights
# ---------------------------------------------------------------------------------------

def plot_samples(images, labels=None, class_names=None, path=None, max_images=25):
    """Show the first `max_images` images in a grid, titled with their label if given.

    `images` is (N, H*W) with a square H = W, (N, H, W) or (N, 1, H, W).

    >>> fig = plot_samples(x_train[:16], y_train[:16], path="samples.png")
    """
    images = _as_image_batch(images)
    max_images = positive_int("max_images", max_images)
    titles = None
    if labels is not None:
        labels = _as_labels("labels", labels)
        if len(labels) != len(images):
            raise ValueError(
                f"images and labels must have the same length, got {len(images)} and {len(labels)}"
            )
        if class_names is not None:
            class_names = _check_class_names(class_names, labels.max() + 1)
        titles = [_class_name(label, class_names) for label in labels[:max_images]]
    return _finish(_image_grid(images[:max_images], titles), path)


def plot_first_layer_weights(weights, image_shape=None, path=None, max_units=64):
    """Show what each unit of a first Dense layer looks for: its weights as an image.

    `weights` is (in_features, units), or a layer with ``.weight.value`` of that shape.
    Each column is reshaped to `image_shape` (default: square). Red is a positive weight,
    blue a negative one, white zero, on one scale shared by all units.

    >>> layer = model.layers[0]                          # Dense(784, 64)
    >>> fig = plot_first_layer_weights(layer, path="weights.png")   # 8 x 8 tiles of 28 x 28
    """
    if hasattr(weights, "weight"):                         # a Dense layer: take its weight matrix
        if weights.weight is None:
            raise ValueError("the layer has no weights yet: build it (or train the model) first")
        weights = getattr(weights.weight, "value", weights.weight)
    weights = as_float_array("weights", weights, np.float64, ndim=2)
    in_features, units = weights.shape
    if image_shape is None:
        side = math.isqrt(in_features)
        if side * side != in_features:
            raise ValueError(
                f"weights has {in_features} input features (shape {weights.shape}), not a perfect "
                "square: pass image_shape=(height, width)"
            )
        image_shape = (side, side)
    image_shape = tuple(image_shape)
    if len(image_shape) != 2 or math.prod(image_shape) != in_features:
        raise ValueError(
            f"image_shape must be (height, width) with height * width = {in_features} "
            f"(weights of shape {weights.shape}), got {image_shape}"
        )
    max_units = positive_int("max_units", max_units)
    shown = min(units, max_units)
    pictures = weights[:, :shown].T.reshape(shown, *image_shape)  # column j -> image of unit j
    limit = float(np.abs(pictures).max()) or 1.0             # symmetric: 0 is white
    fig = _image_grid(pictures, [f"unit {j}" for j in range(shown)], cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(fig.axes[0].images[0], ax=fig.axes, shrink=0.6, label="weight")
    fig.suptitle(f"First-layer weights: {shown} of {units} units")
    return _finish(fig, path)


def _image_grid(images, titles=None, title_colour="black", cmap="gray_r", vmin=None, vmax=None):
    n_columns = math.ceil(math.sqrt(len(images)))
    n_rows = math.ceil(len(images) / n_columns)
    tile = 1.3 if titles is None else 1.6
    fig = _new_figure(figsize=(max(1.3 * n_columns, 3), max(tile * n_rows, 2) + 0.4))
    axes = fig.subplots(n_rows, n_columns, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        ax.axis("off")
        if index < len(images):
            ax.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[index], fontsize=8, color=title_colour)
    return fig


def _as_image_batch(images):
    images = as_float_array("images", images, np.float64, ndim=(2, 3, 4))
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images of 4 dimensions must be (N, 1, H, W), got shape {images.shape}")
        images = images[:, 0]
    elif images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(
                f"images of shape {images.shape} have {images.shape[1]} pixels each, not a perfect square: "
                "pass them as (N, H, W)"
            )
        images = images.reshape(len(images), side, side)
    return images


# ---------------------------------------------------------------------------------------
# Labels and class names
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# matplotlib, lazily, and saving
# ---------------------------------------------------------------------------------------

def _require(module_name):
    """Import an optional plotting dependency, or explain how to install it."""
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"scratchnn.plot needs matplotlib (and Pillow for GIFs), which are not installed: "
            f"{_INSTALL_HINT}"
        ) from error


def _new_figure(figsize):
    """A Figure drawn by the Agg backend: no pyplot, no window, no global state."""
    Figure = _require("matplotlib.figure").Figure
    FigureCanvasAgg = _require("matplotlib.backends.backend_agg").FigureCanvasAgg
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _integer_locator():
    return _require("matplotlib.ticker").MaxNLocator(integer=True)


def _finish(fig, path):
    if path is not None:
        write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=100), make_parents=True)
    return fig
