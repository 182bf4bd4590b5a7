"""The training loop behind `Sequential.fit`, and the estimators of `scratchnn.sklearn`.

One epoch: shuffle (with the model's seed), then for each mini-batch

    outputs = net.forward(X_batch, training=True)      # forward pass
    value   = loss(outputs, y_batch)                    # how wrong
    net.zero_grad(); net.backward(loss.backward())      # backpropagation
    optimizer.step(parameters)                          # gradient descent

then validation, metrics, callbacks. Everything is checked before the first batch.

How a batch's loss and gradient are computed is a *strategy* (a `Strategy`): `Steps` is
the textbook one above; `scratchnn.training.parallel.ThreadedBatches` splits each batch over
threads, `scratchnn.training.distributed.MPIBatches` over MPI ranks, and the scikit-learn estimators bring their own (scikit-learn's L2 term and loss
value). They all run in `run_epoch`, the one batch loop.
"""

import contextlib
import math

import numpy as np

from .._checks import describe, number_in_range, positive_int
from ..datasets import train_test_split
from ..losses import BinaryCrossEntropy, CrossEntropy, get_loss
from ..metrics import METRICS, check_metrics
from ..optim import get_optimizer
from .callbacks import Callback, ProgressLogger
from .checkpoint import read_checkpoint
from .distributed import MPIBatches, check_distributed
from .history import History
from .parallel import ThreadedBatches, automatic_threads, check_threads
from .strategy import Steps, Strategy


class DivergedError(RuntimeError):
    """Training produced a loss that is NaN or infinite; the model keeps its last finite weights.

    ``epoch`` and ``batch`` (counted from 1) say where, ``value`` is the loss."""

    def __init__(self, message, epoch=None, batch=None, value=None):
        super().__init__(message)
        self.epoch, self.batch, self.value = epoch, batch, value


class Training:
    """The state of one `fit` call, as callbacks see it."""

    def __init__(self, model, loss, optimizer, epochs, batches_per_epoch, log_names, callbacks=()):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.epochs, self.batches_per_epoch, self.log_names = epochs, batches_per_epoch, log_names
        self.history = History()
        self.epoch = -1                 # the last finished epoch
        self.stop_training = False
        self.callbacks = CallbackList(callbacks)


class CallbackList:
    """The callbacks of one `fit`, in the order they run (those with ``runs_last`` at the
    end); each method calls one hook on all of them. Every hook is always dispatched,
    whatever ``verbose`` is."""

    def __init__(self, callbacks=()):
        self.callbacks = sorted(callbacks, key=lambda callback: callback.runs_last)
        # every batch calls only the callbacks that have an on_batch_end of their own
        self.batch_listeners = [c for c in self.callbacks
                                if getattr(c.on_batch_end, "__func__", None) is not Callback.on_batch_end]

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def train_begin(self, training):
        for callback in self.callbacks:
            callback.on_train_begin(training)

    def epoch_begin(self, training, epoch):
        for callback in self.callbacks:
            callback.on_epoch_begin(training, epoch)

    def batch_end(self, training, batch, logs):
        for callback in self.batch_listeners:
            callback.on_batch_end(training, batch, logs)

    def epoch_end(self, training, epoch, logs):
        for callback in self.callbacks:
            callback.on_epoch_end(training, epoch, logs)

    def train_end(self, training):
        for callback in self.callbacks:
            callback.on_train_end(training)


def fit(model, X, y, loss, optimizer, epochs=1, batch_size=32, shuffle=True, verbose=1,
        validation_data=None, validation_split=0.0, metrics=None, callbacks=None, resume_from=None,
        threads="auto", distributed=None, shard=False):
    """Train `model`; see `Sequential.fit` for the arguments. Returns a `History`."""
    group = check_distributed(distributed, shard, threads)         # None: this process alone
    with contextlib.nullcontext() if group is None else group.errors_end_every_rank(agreed=(DivergedError,)):
        if group is not None:
            group.broadcast_rng(model)                  # every rank shuffles and splits alike
        return _fit(model, X, y, loss, optimizer, epochs, batch_size, shuffle, verbose, validation_data,
                    validation_split, metrics, callbacks, resume_from, threads, group)


def _fit(model, X, y, loss, optimizer, epochs, batch_size, shuffle, verbose, validation_data,
         validation_split, metrics, callbacks, resume_from, threads, group):
    loss, optimizer = get_loss(loss), get_optimizer(optimizer)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {describe(shuffle)}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {describe(verbose)}")
    metrics = check_metrics(metrics)
    callbacks = _check_callbacks(callbacks)
    validation_split = number_in_range("validation_split", validation_split, 0.0, 1.0, high_open=True)
    if validation_split and validation_data is not None:
        raise ValueError("pass validation_data or validation_split, not both")
    threads = check_threads(threads)
    X, y = model.check_data(X, y, loss)
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(f"validation_data must be a pair (X_val, y_val), got {describe(validation_data)}")
        validation = model.check_data(*validation_data, loss, names=("validation X", "validation y"))
    elif validation_split:
        X, y, validation = _split(X, y, validation_split, loss, model.rng)
    checkpoint = None if resume_from is None else read_checkpoint(resume_from, model, optimizer, callbacks)

    n_samples = len(X)
    batch_size = n_samples if batch_size is None else min(batch_size, n_samples)
    if threads == "auto":
        threads = automatic_threads(model, batch_size) if group is None else 1
    if group is None or not group.shard:           # sharded: BatchNorm counts the union of the ranks' rows
        _check_batch_statistics(model, X.shape, batch_size)
    log_names = ["loss", *metrics]
    if validation is not None:
        log_names += [f"val_{name}" for name in log_names]
    log_names.append("learning_rate")
    batches_per_epoch = math.ceil(n_samples / batch_size)
    callbacks += [ProgressLogger(verbose)] if verbose else []
    if group is not None:                 # the most batches of any rank's shard; rank 0 alone writes
        batches_per_epoch, callbacks = group.most(batches_per_epoch), group.callbacks_here(callbacks)
    training = Training(model, loss, optimizer, epochs, batches_per_epoch, log_names, callbacks)
    model.loss, model.optimizer = loss, optimizer
    model.input_range = (float(X.min()), float(X.max()))      # predict warns far outside it
    training.callbacks.train_begin(training)
    if checkpoint is not None:
        checkpoint.restore(training)
    threshold = accuracy_threshold(loss)
    steps = (MPIBatches(model, loss, group, n_samples, batch_size, batches_per_epoch) if group is not None
             else ThreadedBatches(model, loss, threads) if threads > 1 else Steps(model, loss))
    try:
        _epochs(training, X, y, validation, shuffle, batch_size, metrics, threshold, steps)
    finally:
        steps.close()
    training.callbacks.train_end(training)
    return training.history


def _epochs(training, X, y, validation, shuffle, batch_size, metrics, threshold, steps):
    """The epochs of `fit`, from the one after ``training.epoch`` to ``training.epochs``."""
    model, optimizer = training.model, training.optimizer
    last_finite = np.empty_like(model.flat_parameter.value)
    for epoch in range(training.epoch + 1, training.epochs):
        training.callbacks.epoch_begin(training, epoch)
        np.copyto(last_finite, model.flat_parameter.value)     # to fall back on if we diverge
        order = steps.shuffled_order(len(X)) if shuffle else None
        try:
            logs = run_epoch(training, X, y, order, batch_size, steps, metrics, threshold, epoch)
        except DivergedError:
            if not np.all(np.isfinite(model.flat_parameter.value)):   # else keep the current ones
                np.copyto(model.flat_parameter.value, last_finite)
            training.callbacks.train_end(training)
            raise
        if validation is not None:
            logs.update(_evaluate(model, training.loss, *validation, metrics, threshold, batch_size, "val_", steps))
        logs["learning_rate"] = optimizer.learning_rate
        training.history.append(epoch, logs)
        training.epoch = epoch
        training.callbacks.epoch_end(training, epoch, logs)
        if training.stop_training:
            break


def run_epoch(training, X, y, order, batch_size, steps, metrics=(), threshold=0.5, epoch=0):
    """One pass over (X, y) in mini-batches of `batch_size` rows, in `order` (None: as
    stored), each batch's gradient from `steps` (a strategy, see the module's docstring) and
    one optimizer step; return the epoch's logs: the mean loss over the rows, and `metrics`.

    Raises `DivergedError` naming the epoch and batch when the loss is NaN or infinite
    (before that batch's step); `on_batch_end` reaches every callback after every batch."""
    n_samples, rows_seen = X.shape[0], 0
    sums = dict.fromkeys(["loss", *metrics], 0.0)
    steps.new_epoch()
    # Overflow shows up as a non-finite loss, which stops training with a clear error below;
    # NumPy's own overflow warnings would only repeat it less clearly.
    with np.errstate(over="ignore", invalid="ignore"), steps.running():
        for batch, start in enumerate(steps.batch_starts(n_samples, batch_size)):
            if order is None:
                rows = slice(start, start + batch_size)
                X_batch, y_batch = (X, y) if batch_size >= n_samples and start == 0 else (X[rows], y[rows])
            else:
                rows = order[start:start + batch_size]
                X_batch, y_batch = X[rows], y[rows]
            X_batch, y_batch = steps.own_rows(X_batch, y_batch)
            value, outputs = steps.gradient(X_batch, y_batch)
            if not math.isfinite(value):
                raise DivergedError(f"loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training "
                                    "stopped with the last finite weights (try a smaller learning_rate)",
                                    epoch=epoch + 1, batch=batch + 1, value=value)
            n_rows = X_batch.shape[0]
            rows_seen += n_rows
            sums["loss"] += float(value) * n_rows
            for name in metrics:
                sums[name] += _metric(name, y_batch, outputs, threshold)
            steps.update(training.optimizer)
            training.callbacks.batch_end(training, batch, {"loss": value})
    return steps.combine(sums, rows_seen)


def accuracy_threshold(loss):
    """The output above which a single-column output means class 1: 0 on logits, else 0.5."""
    return 0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5


def _metric(name, targets, outputs, threshold):
    if name == "accuracy":
        return METRICS[name](targets, outputs, threshold)
    return METRICS[name](targets, outputs)


def _evaluate(model, loss, X, y, metrics, threshold, batch_size, prefix="", steps=None):
    """Mean loss and metrics over (X, y) in inference mode, in batches; with `steps`, over
    the rows this process computes, combined with the others' (`Strategy.combine`)."""
    steps = steps or Strategy(model)
    X, y = steps.own_rows(X, y)
    sums = dict.fromkeys(["loss", *metrics], 0.0)
    for start in range(0, len(X), batch_size):
        X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
        outputs = model.forward(X_batch, training=False)
        sums["loss"] += float(loss.forward(outputs, y_batch)) * len(X_batch)
        for name in metrics:
            sums[name] += _metric(name, y_batch, outputs, threshold)
    return {prefix + name: mean for name, mean in steps.combine(sums, len(X)).items()}


def evaluate(model, X, y, loss=None, metrics=None, batch_size=None):
    """Mean loss over (X, y), or a dict with the loss and metrics; see `Sequential.evaluate`."""
    if loss is None and model.loss is None:
        raise ValueError("evaluate needs loss= (this model has not been trained with fit)")
    loss = get_loss(loss if loss is not None else model.loss)
    metrics = check_metrics(metrics)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    X, y = model.check_data(X, y, loss)
    results = _evaluate(model, loss, X, y, metrics, accuracy_threshold(loss), batch_size or len(X))
    return results if metrics else results["loss"]


def _split(X, y, fraction, loss, rng):
    """Hold out `fraction` of the rows for validation: shuffled with the model's generator,
    stratified when y holds class labels (never a tail slice, which is biased on sorted data)."""
    labels = _class_labels(y, loss)
    n_validation = math.ceil(fraction * len(X))
    if not 1 <= n_validation < len(X):
        raise ValueError(f"validation_split={fraction} leaves {n_validation} of {len(X)} rows "
                         "for validation; both parts need at least one row")
    stratify = labels is not None and np.min(np.unique(labels, return_counts=True)[1]) >= 2
    order = np.arange(len(X))
    train_rows, validation_rows, _, _ = train_test_split(
        order, labels if stratify else order, test_size=n_validation, random_state=rng,
        stratify=True if stratify else None)
    return X[train_rows], y[train_rows], (X[validation_rows], y[validation_rows])


def _class_labels(y, loss):
    if isinstance(loss, CrossEntropy):         # labels, or probability rows; (N, T) labels of a
        if y.ndim == 1:                          # sequence have no one class to stratify by
            return y
        return y.argmax(axis=1) if y.ndim == 2 and np.issubdtype(y.dtype, np.floating) else None
    if isinstance(loss, BinaryCrossEntropy) and y.ndim == 2 and y.shape[1] == 1:
        return np.rint(y[:, 0]).astype(np.intp)
    return None


def _check_batch_statistics(model, shape, batch_size):
    """Layers that normalize with batch statistics (BatchNorm) need two values per channel in
    a training batch: refuse, before any work, a split whose smallest batch gives one of them
    a single value per channel (one row after a Dense layer; one row of 1x1 images)."""
    n_samples = shape[0]
    rows = n_samples % batch_size or batch_size                   # the smallest batch of the split
    inputs = [shape[1:]] + [out[1:] for out in model.output_shapes(shape[1:])[:-1]]
    for layer, sample in zip(model.layers, inputs):
        if layer.uses_batch_statistics and rows * int(np.prod(sample[1:], dtype=np.int64)) < 2:
            what = f"a last batch of shape {(rows, *shape[1:])} out of {n_samples} rows" if rows < batch_size \
                else f"batches of shape {(rows, *shape[1:])}"
            raise ValueError(f"batch_size={batch_size} leaves {what}, and {layer!r} cannot normalize "
                             "a single value per channel: choose another batch_size")


def _check_callbacks(callbacks):
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of callbacks, got {describe(callbacks)}")
    for index, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks[{index}] must be a scratchnn callback, got {describe(callback)}")
    return list(callbacks)
