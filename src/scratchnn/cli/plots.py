"""The pictures that ``train --plots DIR`` and ``evaluate --plots DIR`` write.

- every run: ``history.png`` and ``gradient_stats.png`` (train only: each layer's gradient
  norm, weight norm and update/weight ratio, `GradientStats`) and ``confusion_matrix.png``; a
  regressor: only those two (loss and MAE curves);
- data in the plane: ``decision_boundary.png`` and ``decision_boundary.gif``, the boundary
  forming epoch by epoch, drawn from frozen copies of the weights taken during training;
- images: ``samples.png``, ``misclassified.png`` and ``first_layer_weights.png``.
"""

import os
import tempfile

import numpy as np

from .. import plot
from ..nn.activations import Softmax, softmax
from ..training.callbacks import Callback
from ..training.gradient_stats import is_gradient_stat
from ..model import load
from ..nn.conv import Conv2D
from ..nn.core import Dense

MAX_FRAMES = 30             # snapshots for the animation, besides the untrained network


class MissingPlotLibrary(RuntimeError):
    """--plots was asked for, but matplotlib (or Pillow, for the GIF) is not installed."""


def check_plotting(directory, animation=False):
    """Before any work: the plotting libraries import and `directory` exists or can be made."""
    modules = ["matplotlib"] + (["PIL"] if animation else [])
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            name = "Pillow" if module == "PIL" else module
            raise MissingPlotLibrary(f"--plots needs {name}, which is not installed: "
                                     "pip install scratchnn[plot]") from None
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"--plots must be a directory, got the file {directory!r}")
    os.makedirs(directory, exist_ok=True)


class WeightSnapshots(Callback):
    """Keep a frozen copy of the weights before training and every `every` epochs, for the
    animated decision boundary. With ``keep=False`` it only counts the epochs run (the `train`
    command always adds it, so that a checkpoint's list of callbacks does not depend on --plots).

    With ``keep_last=True`` it also keeps `last`: (epoch number, a copy of the state dict) at
    the end of the latest epoch this run finished, what an interrupted run saves; copied
    before it is assigned, so it never holds a half-finished epoch. `history` is the run's
    History (the finished epochs)."""

    def __init__(self, epochs, keep=True, keep_last=False):
        self.every = max(1, -(-epochs // MAX_FRAMES))          # ceil(epochs / MAX_FRAMES)
        self.keep, self.keep_last = keep, keep_last
        self.frames = []            # [(epoch number, state dict copy)]
        self.epochs_run = 0         # by this fit call (fewer than the epoch number after --resume)
        self.last = None            # (epoch number, state dict copy) of the latest finished epoch
        self.history = None

    def _snapshot(self, training, label):
        if self.keep:
            self.frames.append((label, _state_copy(training.model)))

    def on_train_begin(self, training):
        self.history = training.history
        self._snapshot(training, 0)       # before a checkpoint is restored: the seeded initial weights

    def on_epoch_end(self, training, epoch, logs):
        self.epochs_run += 1
        if self.keep_last:
            self.last = (epoch + 1, _state_copy(training.model))
        if (epoch + 1) % self.every == 0 or epoch + 1 == training.epochs or training.stop_training:
            self._snapshot(training, epoch + 1)


def _state_copy(model):
    return {name: value.copy() for name, value in model.state_dict().items()}


INFERENCE_BATCH = 512     # rows per forward pass when evaluating: a CNN's activations for 4096
                          # images take ~1.5 GB, for 512 under 200 MB


def probabilities(net, X):
    """softmax of the network's logits, in float64: P(class k | x) for each row (the outputs
    themselves when the network already ends in a Softmax layer)."""
    outputs = net.predict(X, batch_size=INFERENCE_BATCH).astype(np.float64)
    return outputs if isinstance(net.layers[-1], Softmax) else softmax(outputs)


def write_training_plots(directory, net, data, history, snapshots):
    """Write every picture that fits `data`; return their paths."""
    paths = []

    def path(name):
        paths.append(os.path.join(directory, name))
        return paths[-1]

    logged = {name: values for name, values in history.history.items()
              if name != "learning_rate" or len(set(values)) > 1}         # a constant rate: no panel
    plot.plot_history(logged, path=path("history.png"), title=data.name)
    if any(is_gradient_stat(name) for name in history.history):
        plot.plot_gradient_stats(history, path=path("gradient_stats.png"),
                                 title=f"{data.name}: how fast each layer learns")
    if data.task == "regression":
        return paths
    predicted = probabilities(net, data.X_test).argmax(axis=1)
    write_confusion_matrix(path("confusion_matrix.png"), data.y_test, predicted, data.classes)
    if data.is_plane:
        X, y = data.X_train[:1000], data.y_train[:1000]
        plot.plot_decision_boundary(_boundary_predict(net), X, y, path=path("decision_boundary.png"),
                                    title=f"{data.name}: training points, final network")
        if snapshots.frames:
            plot.animate_decision_boundary(_frames(net, snapshots.frames), X, y,
                                           path=path("decision_boundary.gif"))
    if data.kind == "images":
        plot.plot_samples(data.X_train[:25], data.y_train[:25], data.classes, path=path("samples.png"))
        plot.plot_misclassified(data.X_test, data.y_test, predicted, data.classes, path=path("misclassified.png"))
        first = next(layer for layer in net.layers if isinstance(layer, (Dense, Conv2D)))
        if isinstance(first, Conv2D):            # one tile per filter: its kh x kw kernel (first channel)
            kernels = first.weight.value[:, 0]
            plot.plot_first_layer_weights(kernels.reshape(len(kernels), -1).T, image_shape=first.kernel_size,
                                          path=path("first_layer_weights.png"))
        else:
            plot.plot_first_layer_weights(first, path=path("first_layer_weights.png"))
    return paths


def write_confusion_matrix(path, y_true, y_pred, classes):
    plot.plot_confusion_matrix(y_true, y_pred, class_names=classes, path=path)
    return path


def _boundary_predict(net):
    """Binary: P(class 1), drawn as a red-blue map with the 0.5 line; else all probabilities."""
    def predict(points):
        p = probabilities(net, points)
        return p[:, 1] if p.shape[1] == 2 else p
    return predict


def _frames(net, snapshots):
    """(epoch, predict) pairs; each predict loads its snapshot into one separate copy of the
    network first, so that frame shows the boundary of that epoch, not the final one."""
    with tempfile.TemporaryDirectory() as folder:
        copy_path = os.path.join(folder, "copy.npz")
        net.save(copy_path)
        frozen = load(copy_path)

    def at(state):
        def predict(points):
            frozen.load_state_dict(state)
            return _boundary_predict(frozen)(points)
        return predict

    return [(epoch, at(state)) for epoch, state in snapshots]
