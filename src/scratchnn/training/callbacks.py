"""Callbacks: code that `fit` calls at the start and end of training, of each epoch and batch.

A callback sees the running `Training` (model, optimizer, history, epoch, ...) and may stop
training (``training.stop_training = True``) or change the learning rate. Those that keep
state across epochs give it as JSON-friendly values in ``get_state()``, so a checkpoint can
resume them exactly.

>>> history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(), epochs=100,
...                   validation_split=0.1, callbacks=[sn.EarlyStopping("val_loss", patience=5)])
"""

import math
import numbers
import os
import sys

import numpy as np

from .._checks import boolean, describe, file_path, number_in_range, one_of, positive_int, positive_number
from .checkpoint import save_checkpoint


class Callback:
    """Base class: every hook does nothing. Override the ones you need."""

    runs_last = False     # True for callbacks that must see the others' epoch-end work
    checkpointed = True   # whether a checkpoint keeps this callback's state (not the progress display's)

    def on_train_begin(self, training):
        pass

    def on_epoch_begin(self, training, epoch):
        pass

    def on_batch_end(self, training, batch, logs):
        pass

    def on_epoch_end(self, training, epoch, logs):
        pass

    def on_train_end(self, training):
        pass

    def get_state(self):
        """What must survive a checkpoint, as JSON-friendly values."""
        return {}

    def set_state(self, state):
        pass

    def get_arrays(self):
        """Arrays that must survive a checkpoint (e.g. saved weights), by name."""
        return {}

    def set_arrays(self, arrays):
        pass


class _Monitor(Callback):
    """Shared by callbacks that watch one logged quantity for improvement."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged quantity, got {describe(monitor)}")
        self.monitor = monitor
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.min_delta = positive_number("min_delta", min_delta, allow_zero=True)
        self.best = None

    def on_train_begin(self, training):
        if self.monitor not in training.log_names:
            hint = " (pass validation_data or validation_split)" if self.monitor.startswith("val_") else ""
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, but fit logs only "
                             f"{', '.join(training.log_names)}{hint}")

    def improved(self, value):
        """Whether `value` beats the best so far by more than min_delta (and remember it)."""
        maximize = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        if not math.isfinite(value):
            return False
        better = self.best is None or (value > self.best + self.min_delta if maximize
                                       else value < self.best - self.min_delta)
        if better:
            self.best = float(value)
        return better


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved for `patience` epochs; by default put back the
    weights of the best epoch at the end (``restore_best_weights=True``)."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        super().__init__(monitor, mode, min_delta)
        self.patience = positive_int("patience", patience)
        self.restore_best_weights = boolean("restore_best_weights", restore_best_weights)
        self.wait, self.best_epoch, self.best_state, self.stopped_epoch = 0, None, None, None

    def on_epoch_end(self, training, epoch, logs):
        if self.improved(logs[self.monitor]):
            self.wait, self.best_epoch = 0, epoch
            if self.restore_best_weights:
                self.best_state = {k: v.copy() for k, v in training.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            training.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, training):
        if self.restore_best_weights and self.best_state is not None and self.best_epoch != training.epoch:
            training.model.load_state_dict(self.best_state)

    def get_state(self):
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch}

    def set_state(self, state):
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]

    def get_arrays(self):
        return dict(self.best_state or {})

    def set_arrays(self, arrays):
        self.best_state = dict(arrays) if arrays else None


class ModelCheckpoint(_Monitor):
    """Save a resumable checkpoint to `path` after every epoch (or only when `monitor`
    improves, with ``save_best_only=True``). The file is also a model file: `sn.load` reads
    it, and ``fit(..., resume_from=path)`` continues training from it. Weights that are not
    finite are never written."""

    runs_last = True

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        super().__init__(monitor, mode, 0.0)
        self.path = file_path("path", path)
        self.save_best_only = boolean("save_best_only", save_best_only)

    def on_train_begin(self, training):
        if self.save_best_only:
            super().on_train_begin(training)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ValueError(f"ModelCheckpoint path {self.path!r}: directory {directory!r} does not exist")
        if os.path.isdir(self.path):
            raise ValueError(f"ModelCheckpoint path {self.path!r} is a directory; give a file name")
        training.model.get_config()      # a layer that cannot be saved fails now, not after an epoch

    def on_epoch_end(self, training, epoch, logs):
        if self.save_best_only and not self.improved(logs[self.monitor]):
            return
        if not all(np.all(np.isfinite(value)) for value in training.model.state_dict().values()):
            return
        save_checkpoint(training, self.path)

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = state["best"]


class LearningRateSchedule(Callback):
    """Base of the schedules: at the start of each epoch set lr = initial · factor(epoch)."""

    def __init__(self):
        self.initial_learning_rate = None

    def on_train_begin(self, training):
        if self.initial_learning_rate is None:
            self.initial_learning_rate = training.optimizer.learning_rate

    def on_epoch_begin(self, training, epoch):
        training.optimizer.learning_rate = self.initial_learning_rate * self.factor(epoch)

    def get_state(self):
        return {"initial_learning_rate": self.initial_learning_rate}

    def set_state(self, state):
        self.initial_learning_rate = state["initial_learning_rate"]


class StepLR(LearningRateSchedule):
    """lr = initial · gamma^(epoch // step_size): divide by 1/gamma every step_size epochs."""

    def __init__(self, step_size, gamma=0.1):
        super().__init__()
        self.step_size = positive_int("step_size", step_size)
        self.gamma = number_in_range("gamma", gamma, 0.0, 1.0, low_open=True)

    def factor(self, epoch):
        return self.gamma ** (epoch // self.step_size)


class ExponentialLR(LearningRateSchedule):
    """lr = initial · gamma^epoch."""

    def __init__(self, gamma):
        super().__init__()
        self.gamma = number_in_range("gamma", gamma, 0.0, 1.0, low_open=True)

    def factor(self, epoch):
        return self.gamma**epoch


class CosineAnnealingLR(LearningRateSchedule):
    """lr = min_lr + (initial − min_lr) · (1 + cos(π · epoch / T_max)) / 2, then min_lr.

    ``T_max=None`` anneals over the run: T_max is the ``epochs`` of each `fit` call (a run
    resumed with more epochs re-spreads the rest of the curve over the new total). Past
    T_max the rate stays at min_lr, as Keras' CosineDecay (PyTorch's CosineAnnealingLR
    instead climbs back up, a period of 2·T_max).

    A run that would train epochs at learning rate 0 (``epochs`` > T_max with the default
    min_lr) is a ValueError at the start of `fit`, before any epoch: pass T_max=None, a larger
    T_max, or a min_lr to go on at (``min_lr=0`` explicitly to train at 0 all the same).
    """

    def __init__(self, T_max=None, min_lr=None):
        super().__init__()
        self.T_max = positive_int("T_max", T_max, allow_none=True)
        self.min_lr_given = min_lr is not None       # min_lr=0 given: past T_max, train at 0
        self.min_lr = 0.0 if min_lr is None else positive_number("min_lr", min_lr, allow_zero=True)
        self.period = self.T_max

    def on_train_begin(self, training):
        self.period = training.epochs if self.T_max is None else self.T_max
        if training.epochs > self.period and self.min_lr == 0 and not self.min_lr_given:
            raise ValueError(
                f"CosineAnnealingLR(T_max={self.period}) would train epochs {self.period + 1} to "
                f"{training.epochs} of fit(epochs={training.epochs}) at learning rate 0: pass T_max=None "
                f"(the epochs of each fit) or T_max={training.epochs}, or a min_lr to go on at (min_lr=0 "
                "to train at 0 all the same)")
        super().on_train_begin(training)

    def on_epoch_begin(self, training, epoch):
        progress = min(epoch, self.period) / self.period
        cosine = (1 + math.cos(math.pi * progress)) / 2
        training.optimizer.learning_rate = self.min_lr + (self.initial_learning_rate - self.min_lr) * cosine


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs, never below `min_lr`; then wait `cooldown` epochs before watching again."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, cooldown=0,
                 min_lr=0.0, mode="auto"):
        super().__init__(monitor, mode, min_delta)
        self.factor = number_in_range("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = positive_int("patience", patience)
        if isinstance(cooldown, bool) or not isinstance(cooldown, numbers.Integral):
            raise TypeError(f"cooldown must be a whole number of epochs, got {describe(cooldown)}")
        self.cooldown = int(number_in_range("cooldown", cooldown, 0, math.inf, high_open=True))
        self.min_lr = positive_number("min_lr", min_lr, allow_zero=True)
        self.wait, self.cooling = 0, 0

    def on_epoch_end(self, training, epoch, logs):
        if self.cooling:
            self.cooling -= 1
        if self.improved(logs[self.monitor]):
            self.wait = 0
        elif not self.cooling:
            self.wait += 1
            if self.wait >= self.patience:
                optimizer = training.optimizer
                optimizer.learning_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
                self.wait, self.cooling = 0, self.cooldown

    def get_state(self):
        return {"best": self.best, "wait": self.wait, "cooling": self.cooling}

    def set_state(self, state):
        self.best, self.wait, self.cooling = state["best"], state["wait"], state["cooling"]


class ProgressLogger(Callback):
    """Progress on stderr (or `file`), the display of ``fit(verbose=...)``.

    - verbose=1 on a terminal with tqdm installed: a bar per epoch, showing the running loss;
      at the epoch's end the bar is replaced by its final line with every logged quantity
      (``loss``, the metrics, ``val_*``, ``learning_rate``), never cut to the terminal's
      width (a narrow terminal wraps it).
    - verbose=1 elsewhere (stderr redirected to a file or a pipe, a notebook, no tqdm): the
      line ``epoch k/N  loss: ...  val_loss: ...`` after every (N // 10)-th epoch (so every
      epoch when N < 20), the last one and the one that stops training: about ten lines a run.
    - verbose=2: that line after every epoch, on a terminal or not.
    """

    checkpointed = False

    def __init__(self, verbose=1, file=None):
        self.verbose = verbose
        self.file = file or sys.stderr
        self.bar = None

    def on_train_begin(self, training):
        self.use_bar = False
        if self.verbose == 1 and getattr(self.file, "isatty", lambda: False)():
            try:
                import tqdm  # noqa: F401

                self.use_bar = True
            except ImportError:
                pass

    def on_epoch_begin(self, training, epoch):
        if self.use_bar and training.batches_per_epoch > 1:
            from tqdm import tqdm

            self.bar = tqdm(total=training.batches_per_epoch, file=self.file, leave=True,
                            desc=f"epoch {epoch + 1}/{training.epochs}", unit="batch", dynamic_ncols=True)

    def on_batch_end(self, training, batch, logs):
        if self.bar is not None:
            self.bar.update(1)
            if batch % 10 == 0:
                self.bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)

    def on_epoch_end(self, training, epoch, logs):
        text = "  ".join(f"{name}: {value:.4g}" for name, value in logs.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            # the final line: not cut to the terminal's width, with the epoch's mean rate
            final = self.bar.format_meter(**{**self.bar.format_dict, "ncols": None, "rate": None})
            self.bar.leave = False
            self.bar.close()                         # erases the bar, which its final line replaces
            self.bar = None
            print(final, file=self.file, flush=True)
            return
        every = max(1, training.epochs // 10)
        if self.verbose == 2 or (epoch + 1) % every == 0 or epoch + 1 == training.epochs or training.stop_training:
            print(f"epoch {epoch + 1}/{training.epochs}  {text}", file=self.file, flush=True)

    def on_train_end(self, training):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
