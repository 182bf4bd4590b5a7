"""Classification results and images: the confusion matrix, the misclassified images,
samples of a data set and the first layer's weights drawn as images."""

import math

import numpy as np

from .._checks import as_float_array, positive_int
from ..metrics import confusion_matrix
from ._figure import _finish, _integer_locator, _new_figure, _require
from ._labels import _as_labels, _check_class_names, _class_name

__all__ = ["plot_confusion_matrix", "plot_misclassified", "plot_samples", "plot_first_layer_weights"]


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


SCALE_PERCENTILE = 99       # first-layer weights: the colour scale is ± this percentile of |w|
TILED_UNITS = 64            # up to this many units: one titled tile each; more: one mosaic image


def plot_first_layer_weights(weights, image_shape=None, path=None, max_units=None):
    """Show what each unit of a first Dense layer looks for: its weights as an image.

    `weights` is (in_features, units), or a layer with ``.weight.value`` of that shape.
    Each column is reshaped to `image_shape` (default: square). The first `max_units` units
    are shown (default None: every unit), the title says how many of how many. Red is a
    positive weight, blue a negative one, white zero, on one symmetric scale shared by all
    units: ± the 99th percentile of |w|, so that a few large weights do not wash out the
    rest (larger ones saturate, and the colour bar's arrows say so). Up to 64 units get a
    titled tile each; more are drawn as one mosaic, units left to right, top to bottom.

    Raises ValueError for weights that are not 2-D, an image_shape that does not hold
    in_features values, or an unbuilt layer.

    >>> layer = model.layers[0]                          # Dense(784, 256)
    >>> fig = plot_first_layer_weights(layer, path="weights.png")   # 16 x 16 units of 28 x 28
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
    max_units = positive_int("max_units", max_units, allow_none=True) or units
    shown = min(units, max_units)
    pictures = weights[:, :shown].T.reshape(shown, *image_shape)  # column j -> image of unit j
    magnitudes = np.abs(pictures)
    limit = float(np.percentile(magnitudes, SCALE_PERCENTILE)) or float(magnitudes.max()) or 1.0
    colours = {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}            # symmetric: 0 is white
    if shown <= TILED_UNITS:
        fig = _image_grid(pictures, [f"unit {j}" for j in range(shown)], **colours)
    else:
        fig = _new_figure(figsize=(10, 9.4))
        ax = fig.add_subplot()
        ax.axis("off")
        cmap = _require("matplotlib").colormaps["RdBu_r"].with_extremes(bad="0.6")   # grey gaps
        ax.imshow(_mosaic(pictures), **{**colours, "cmap": cmap}, interpolation="nearest")
    clipped = bool(magnitudes.max() > limit)
    fig.colorbar(fig.axes[0].images[0], ax=fig.axes, shrink=0.6, label="weight",
                 extend="both" if clipped else "neither")
    fig.suptitle(f"First-layer weights: {shown} of {units} units\n"
                 f"colours to ±{limit:.3g}, the {SCALE_PERCENTILE}th percentile of |w|"
                 + ("; larger weights saturate" if clipped else ""))
    return _finish(fig, path)


def _mosaic(pictures, gap=2):
    """(N, H, W) pictures -> one image of them in a near-square grid, NaN in the gaps."""
    count, height, width = pictures.shape
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for index, picture in enumerate(pictures):
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        mosaic[top:top + height, left:left + width] = picture
    return mosaic


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
