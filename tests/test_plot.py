"""Tests for scratchnn.plot: each plot writes a real, non-blank PNG; bad inputs are refused."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from scratchnn import plot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_real_png(path, min_side=150):
    """The file is a PNG, decodes, has a sensible size and is not a single colour."""
    path = Path(path)
    assert path.exists()
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= min_side, pixels.shape
    differs_from_corner = np.any(pixels != pixels[0, 0], axis=2)
    assert differs_from_corner.mean() > 0.005, "the image is (almost) a single colour"
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"


# ---- small, seeded data ----------------------------------------------------------------

def blobs(n_per_class=30, centres=((-1.5, -1.0), (1.5, 1.0)), seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(centre, 0.7, size=(n_per_class, 2)) for centre in centres])
    y = np.repeat(np.arange(len(centres)), n_per_class)
    return X, y


def logistic(weight=(1.2, 0.8), bias=0.1):
    """A binary `predict`: P(class 1) = sigmoid(x . w + b)."""
    weight = np.asarray(weight)
    return lambda points: 1.0 / (1.0 + np.exp(-(points @ weight + bias)))


def nearest_centre_softmax(centres):
    """A multi-class `predict`: softmax of minus the squared distance to each centre."""
    centres = np.asarray(centres)

    def predict(points):
        logits = -((points[:, None, :] - centres[None]) ** 2).sum(axis=2)
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    return predict


def digit_images(n=12, side=8, seed=0):
    """Little 'images': a bright bar whose position is the class (0, 1 or 2)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.uniform(0, 0.2, size=(n, side, side))
    for image, label in zip(images, labels):
        image[:, 1 + 2 * label: 3 + 2 * label] = 1.0
    return images, labels


# ---- plot_history ----------------------------------------------------------------------

HISTORY = {
    "loss": [0.9, 0.6, 0.45, 0.38, 0.33],
    "val_loss": [1.0, 0.7, 0.55, 0.5, 0.49],
    "accuracy": [0.55, 0.7, 0.8, 0.85, 0.88],
    "val_accuracy": [0.5, 0.65, 0.75, 0.8, 0.81],
}


def test_plot_history_writes_one_panel_per_metric_family(tmp_path):
    path = tmp_path / "nested" / "dir" / "history.png"      # parent folders are created
    fig = plot.plot_history(HISTORY, path=path, title="XOR")
    assert_real_png(path)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["loss", "accuracy"]
    loss_panel = panels[0]
    assert [line.get_label() for line in loss_panel.get_lines()] == ["train", "validation"]
    np.testing.assert_array_equal(loss_panel.get_lines()[0].get_xdata(), [1, 2, 3, 4, 5])  # epochs from 1
    assert loss_panel.get_yscale() == "linear"


def test_plot_history_accepts_an_object_with_history_and_uses_log_scale_for_a_wide_loss(tmp_path):
    class History:
        history = {"loss": list(np.geomspace(5.0, 1e-3, 20)), "lr": [0.1] * 20}

    fig = plot.plot_history(History(), path=tmp_path / "history.png")
    assert_real_png(tmp_path / "history.png")
    assert fig.axes[0].get_yscale() == "log"                 # 5 / 1e-3 spans more than 2 decades
    assert fig.axes[1].get_title() == "lr"


def test_plot_history_puts_the_title_on_a_single_panel():
    fig = plot.plot_history({"loss": [1.0, 0.5, 0.2]}, title="XOR")
    assert fig.axes[0].get_title() == "XOR: loss"
    assert fig.axes[0].get_legend() is None                      # one line needs no legend


@pytest.mark.parametrize(
    "history, error, match",
    [
        ([0.5, 0.4], TypeError, "history must be a dict"),
        ({}, ValueError, "history is empty"),
        ({"loss": []}, ValueError, r"history\['loss'\] is empty"),
        ({"loss": [[0.5, 0.4]]}, ValueError, r"history\['loss'\] must be a 1-D.*shape \(1, 2\)"),
        ({"loss": ["a", "b"]}, TypeError, r"history\['loss'\] must be a list of numbers"),
    ],
)
def test_plot_history_refuses_bad_input(history, error, match):
    with pytest.raises(error, match=match):
        plot.plot_history(history)


# ---- plot_decision_boundary ------------------------------------------------------------

def test_plot_decision_boundary_binary(tmp_path):
    X, y = blobs()
    fig = plot.plot_decision_boundary(logistic(), X, y, path=tmp_path / "binary.png", title="logistic")
    assert_real_png(tmp_path / "binary.png")
    ax = fig.axes[0]
    assert ax.get_title() == "logistic"
    left, right = ax.get_xlim()
    assert left < X[:, 0].min() and right > X[:, 0].max()    # a margin around the data


def test_plot_decision_boundary_multiclass_and_column_probabilities(tmp_path):
    centres = ((-2, 0), (2, 0), (0, 2.5))
    X, y = blobs(20, centres)
    predict = nearest_centre_softmax(centres)
    plot.plot_decision_boundary(predict, X, y, path=tmp_path / "three.png", resolution=80)
    assert_real_png(tmp_path / "three.png")

    X, y = blobs()
    column = logistic()
    fig = plot.plot_decision_boundary(lambda p: column(p)[:, None], X, y, resolution=50)
    assert fig.axes[0].images[0].get_array().shape == (50, 50)   # (M, 1) is read as P(class 1)


def test_plot_decision_boundary_draws_on_a_given_axes_and_survives_a_constant_predict():
    X, y = blobs()
    fig = Figure()
    ax = fig.add_subplot()
    returned = plot.plot_decision_boundary(lambda p: np.full(len(p), 0.8), X, y, ax=ax, resolution=20)
    assert returned is fig                                      # no P = 0.5 line, and no warning


@pytest.mark.parametrize(
    "predict, X, y, resolution, error, match",
    [
        ("not callable", None, None, 50, TypeError, "predict must be a callable"),
        (None, np.zeros(10), None, 50, ValueError, r"X must be a 2-D array, got shape \(10,\)"),
        (None, np.zeros((10, 3)), None, 50, ValueError, r"X must have 2 columns.*\(10, 3\)"),
        (None, None, np.zeros(7, dtype=int), 50, ValueError, r"same length.*y of shape \(7,\)"),
        (lambda p: np.zeros((3, 2)), None, None, 20, ValueError,
         r"predict must return.*\(400,\).*got array of shape \(3, 2\)"),
        (lambda p: p @ np.ones(2) * 10, None, None, 20, ValueError, r"binary problem; return probabilities"),
        (lambda p: np.zeros((len(p), 2)), None, np.arange(60) % 3, 20, ValueError,
         "label 2 but predict gives scores for 2 classes"),
        (None, None, None, 1, ValueError, "resolution must be >= 2"),
    ],
)
def test_plot_decision_boundary_refuses_bad_input(predict, X, y, resolution, error, match):
    X_ok, y_ok = blobs()
    with pytest.raises(error, match=match):
        plot.plot_decision_boundary(
            logistic() if predict is None else predict,
            X_ok if X is None else X,
            y_ok if y is None else y,
            resolution=resolution,
        )


# ---- animate_decision_boundary ---------------------------------------------------------

def test_animate_decision_boundary_writes_a_gif_with_one_frame_per_snapshot(tmp_path):
    X, y = blobs(15)
    frames = [(epoch, logistic(weight=(0.3 * epoch, 0.2 * epoch), bias=1.0 - 0.3 * epoch))
              for epoch in range(1, 5)]
    path = tmp_path / "gif" / "boundary.gif"
    fig = plot.animate_decision_boundary(frames, X, y, path, fps=4, resolution=40)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title() == "epoch 4"
    assert path.read_bytes()[:6] == b"GIF89a"
    with Image.open(path) as gif:
        assert gif.n_frames == 4
        assert gif.size[0] >= 300 and gif.size[1] >= 200
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    "frames, fps, error, match",
    [
        ([], 5, ValueError, "frames must be a non-empty list"),
        ([(1, "not callable")], 5, TypeError, r"frames\[0\] must be a \(label, predict\) pair"),
        ([(1, logistic())], 0, ValueError, "fps must be a finite number > 0"),
    ],
)
def test_animate_decision_boundary_refuses_bad_input(tmp_path, frames, fps, error, match):
    X, y = blobs(5)
    with pytest.raises(error, match=match):
        plot.animate_decision_boundary(frames, X, y, tmp_path / "a.gif", fps=fps)
    assert not (tmp_path / "a.gif").exists()


# ---- plot_confusion_matrix -------------------------------------------------------------

def test_plot_confusion_matrix_counts_true_rows_against_predicted_columns(tmp_path):
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 2, 0]
    names = ["cat", "dog", "horse"]
    fig = plot.plot_confusion_matrix(y_true, y_pred, class_names=names, path=tmp_path / "cm.png")
    assert_real_png(tmp_path / "cm.png")
    ax = fig.axes[0]
    expected = [[2, 1, 0], [0, 1, 1], [1, 0, 3]]             # naive loop, done by hand
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "horse"]
    assert "1" in [t.get_text() for t in ax.texts]


def test_plot_confusion_matrix_normalized_rows_sum_to_one_and_accepts_one_hot(tmp_path):
    y_true = np.eye(3)[[0, 1, 1, 2, 2, 2]]                    # one-hot rows become labels
    y_pred = np.array([0, 1, 0, 2, 2, 1])
    fig = plot.plot_confusion_matrix(y_true, y_pred, normalize=True, path=tmp_path / "cm.png")
    assert_real_png(tmp_path / "cm.png")
    matrix = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(matrix[2], [0, 1 / 3, 2 / 3])


def test_plot_confusion_matrix_normalize_leaves_an_empty_row_at_zero():
    fig = plot.plot_confusion_matrix([0, 0, 2], [0, 1, 2], class_names=["a", "b", "c"], normalize=True)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array()[1], [0, 0, 0])


@pytest.mark.parametrize(
    "y_true, y_pred, class_names, error, match",
    [
        ([0, 1, 1], [0, 1], None, ValueError, "same length, got 3 and 2"),
        ([0, -1], [0, 1], None, ValueError, "y_true must hold labels 0, 1, ..., C-1, got -1"),
        ([0, 1.5], [0, 1], None, ValueError, "y_true must hold integer class labels"),
        ([0, 1], [0, np.nan], None, ValueError, "y_pred must hold integer class labels, got values such as"),
        (["a", "b"], [0, 1], None, TypeError, "y_true must hold integer class labels, got dtype"),
        ([0, 1], [0, 3], ["a", "b"], ValueError, "class_names has 2 names but the labels go up to 3"),
        ([], [], None, ValueError, r"y_true must be a non-empty 1-D array.*shape \(0,\)"),
    ],
)
def test_plot_confusion_matrix_refuses_bad_labels(y_true, y_pred, class_names, error, match):
    with pytest.raises(error, match=match):
        plot.plot_confusion_matrix(y_true, y_pred, class_names=class_names)


# ---- plot_misclassified ----------------------------------------------------------------

@pytest.mark.parametrize("layout", ["flat", "channels"])
def test_plot_misclassified_shows_only_the_mistakes(tmp_path, layout):
    images, labels = digit_images()
    images = images.reshape(len(images), -1) if layout == "flat" else images[:, None]
    predictions = labels.copy()
    predictions[[1, 4, 7]] = (labels[[1, 4, 7]] + 1) % 3
    names = ["left", "middle", "right"]
    fig = plot.plot_misclassified(images, labels, predictions, class_names=names, path=tmp_path / "w.png")
    assert_real_png(tmp_path / "w.png")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == [f"true: {names[labels[i]]}\npred: {names[predictions[i]]}" for i in (1, 4, 7)]


def test_plot_misclassified_says_so_when_all_are_right(tmp_path):
    images, labels = digit_images()
    fig = plot.plot_misclassified(images, labels, labels, path=tmp_path / "none.png")
    assert_real_png(tmp_path / "none.png", min_side=100)
    assert "No misclassified images" in fig.axes[0].texts[0].get_text()


def test_plot_misclassified_respects_max_images():
    images, labels = digit_images()
    fig = plot.plot_misclassified(images, labels, (labels + 1) % 3, max_images=4)
    assert sum(1 for ax in fig.axes if ax.images) == 4


@pytest.mark.parametrize(
    "images, n_labels, error, match",
    [
        (np.zeros((12, 10)), 12, ValueError, r"10 pixels each, not a perfect square"),
        (np.zeros(12), 12, ValueError, r"images must be a 2-D or 3-D or 4-D array, got shape \(12,\)"),
        (np.zeros((12, 3, 8, 8)), 12, ValueError, r"must be \(N, 1, H, W\), got shape \(12, 3, 8, 8\)"),
        (np.zeros((12, 8, 8)), 11, ValueError, "same length, got 12, 11 and 11"),
    ],
)
def test_plot_misclassified_refuses_bad_input(images, n_labels, error, match):
    labels = np.arange(n_labels) % 3
    with pytest.raises(error, match=match):
        plot.plot_misclassified(images, labels, labels)


# ---- plot_first_layer_weights ----------------------------------------------------------

def test_plot_first_layer_weights_one_image_per_unit(tmp_path):
    weights = np.random.default_rng(0).normal(size=(64, 10))  # 8 x 8 inputs, 10 units
    fig = plot.plot_first_layer_weights(weights, path=tmp_path / "weights.png")
    assert_real_png(tmp_path / "weights.png")
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 10
    np.testing.assert_array_equal(tiles[3].images[0].get_array(), weights[:, 3].reshape(8, 8))
    low, high = tiles[0].images[0].get_clim()
    assert low == -high                                           # centred at 0


def test_plot_first_layer_weights_takes_a_layer_and_an_image_shape(tmp_path):
    class Parameter:
        value = np.random.default_rng(1).normal(size=(6 * 4, 100))

    class Dense:
        weight = Parameter()

    fig = plot.plot_first_layer_weights(Dense(), image_shape=(6, 4), path=tmp_path / "w.png", max_units=9)
    assert_real_png(tmp_path / "w.png")
    assert sum(1 for ax in fig.axes if ax.images) == 9
    assert fig.axes[0].images[0].get_array().shape == (6, 4)


@pytest.mark.parametrize(
    "weights, image_shape, error, match",
    [
        (np.zeros((10, 3)), None, ValueError, r"10 input features \(shape \(10, 3\)\), not a perfect"),
        (np.zeros((16, 3)), (3, 5), ValueError, r"height \* width = 16.*got \(3, 5\)"),
        (np.zeros(16), None, ValueError, r"weights must be a 2-D array, got shape \(16,\)"),
    ],
)
def test_plot_first_layer_weights_refuses_bad_shapes(weights, image_shape, error, match):
    with pytest.raises(error, match=match):
        plot.plot_first_layer_weights(weights, image_shape=image_shape)


def test_plot_first_layer_weights_refuses_a_layer_that_is_not_built():
    class Dense:
        weight = None

    with pytest.raises(ValueError, match="the layer has no weights yet"):
        plot.plot_first_layer_weights(Dense())


# ---- plot_samples ----------------------------------------------------------------------

def test_plot_samples_with_and_without_labels(tmp_path):
    images, labels = digit_images(n=30)
    fig = plot.plot_samples(images, labels, class_names=["left", "middle", "right"])
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 25                                      # max_images
    assert tiles[2].get_title() == "right"
    plot.plot_samples(images[:9], labels[:9], path=tmp_path / "s.png")
    assert_real_png(tmp_path / "s.png")

    fig = plot.plot_samples(images[:5].reshape(5, -1), path=tmp_path / "plain.png")
    assert_real_png(tmp_path / "plain.png")
    assert all(ax.get_title() == "" for ax in fig.axes)


@pytest.mark.parametrize(
    "n_labels, max_images, error, match",
    [
        (4, 25, ValueError, "images and labels must have the same length, got 6 and 4"),
        (6, 0, ValueError, "max_images must be >= 1, got 0"),
    ],
)
def test_plot_samples_refuses_bad_input(n_labels, max_images, error, match):
    images, _ = digit_images(n=6)
    with pytest.raises(error, match=match):
        plot.plot_samples(images, np.arange(n_labels) % 3, max_images=max_images)


# ---- saving and the optional dependency ------------------------------------------------

def test_saving_replaces_an_existing_file(tmp_path):
    path = tmp_path / "h.png"
    path.write_bytes(b"old")
    plot.plot_history({"loss": [1.0, 0.5]}, path=path)
    assert_real_png(path)
    assert os.listdir(tmp_path) == ["h.png"]


def test_missing_matplotlib_gives_an_install_hint(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)            # None makes the import fail
    with pytest.raises(ImportError, match=r"pip install scratchnn\[plot\]"):
        plot.plot_history({"loss": [1.0, 0.5]})


def test_importing_the_module_does_not_need_matplotlib():
    code = "import sys; sys.modules['matplotlib'] = None; import scratchnn.plot; print('ok')"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_package_re_exports_every_plot_from_its_module():
    import importlib
    import pkgutil

    modules = [importlib.import_module(f"scratchnn.plot.{info.name}") for info in pkgutil.iter_modules(plot.__path__)
               if not info.name.startswith("_")]                 # every public module of the package
    assert {"history", "boundary", "images"} <= {module.__name__.rsplit(".", 1)[1] for module in modules}
    public = {name for module in modules for name in module.__all__}
    assert set(plot.__all__) == public and len(plot.__all__) == len(public)
    for module in modules:
        for name in module.__all__:
            assert getattr(plot, name) is getattr(module, name)


def test_plot_history_leaves_gradient_statistics_to_their_own_plot(tmp_path):
    history = {"loss": [0.9, 0.5], "grad_norm/0.weight": [1.0, 2.0], "weight_norm/0.weight": [3.0, 3.1],
               "update_ratio/0.weight": [0.01, 0.02], "grad_stats_epoch": [1.0, 2.0]}
    fig = plot.plot_history(history, path=tmp_path / "history.png")
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["loss"]
    with pytest.raises(ValueError, match="no metric to plot"):
        plot.plot_history({"grad_norm/0.weight": [1.0]})
