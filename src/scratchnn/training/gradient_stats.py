"""`GradientStats`: how fast each layer learns, recorded into the `History`.

For every parameter (keyed like ``state_dict()``: "0.weight", "0.bias", "2.weight", ...)
and every batch t of training, with W_t the weights after the batch's step and g_t = dL/dW
the gradient that step used:

    grad_norm     = ||g_t||                      how strongly the loss pulls on W
    weight_norm   = ||W_t||                      how large W is
    update_ratio  = ||W_t − W_(t−1)|| / ||W_(t−1)||   how much of W one step changes

(||·||: the Frobenius norm, ``np.linalg.norm``). Each record summarizes a period, one epoch
(``every=None``) or ``every`` batches: grad_norm and update_ratio are the means over the
period's batches, weight_norm is taken at its end. A batch whose W_(t−1) is all zeros (a
bias before its first step) has no update ratio and is left out of that mean (a period
without any records NaN).

Records go into ``history.history`` under "grad_norm/<name>", "weight_norm/<name>",
"update_ratio/<name>", and "grad_stats_epoch" gives where each record was taken, in epochs
(1 for the end of the first epoch; 0.5 halfway through it). With ``every=None`` the lists
have one value per epoch, like the loss; with ``every=k``, one per k batches.

Data-parallel training (``threads=N``) reduces the replicas' gradients into the model's
``Parameter.grad`` before the step, so the records are those of the whole batch.

>>> history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.SGD(0.1), epochs=5,
...                   callbacks=[sn.GradientStats()], verbose=0)
>>> history.history["grad_norm/0.weight"]          # one value per epoch
>>> sn.plot.plot_gradient_stats(history, path="gradient_stats.png")
"""

import numpy as np

from .._checks import positive_int
from ..nn.base import flat_slices
from .callbacks import Callback

STATS = ("grad_norm", "weight_norm", "update_ratio")
EPOCH_KEY = "grad_stats_epoch"


def stat_key(stat, name):
    """The history key of one statistic of one parameter: "grad_norm/0.weight"."""
    return f"{stat}/{name}"


def is_gradient_stat(key):
    """Whether a history key is one that `GradientStats` writes."""
    return key == EPOCH_KEY or (isinstance(key, str) and key.partition("/")[0] in STATS and "/" in key)


class GradientStats(Callback):
    """Record, per parameter and per epoch (or every `every` batches), the norm of dL/dW,
    the norm of W and the update/weight ratio ||ΔW|| / ||W|| into the history (see the
    module's docstring for the keys and the equations).

    ``every``: None (one record per epoch) or a positive int (one record per `every`
    batches, counted from the start of training). TypeError / ValueError otherwise.

    What it records lives in the history, which a checkpoint keeps; the callback itself is
    not checkpointed (``checkpointed = False``), so a run may be resumed with or without it,
    and a resumed run starts a fresh period.
    """

    checkpointed = False

    def __init__(self, every=None):
        self.every = positive_int("every", every, allow_none=True)
        self.names = []

    def on_train_begin(self, training):
        model = training.model
        self.names = [f"{index}.{name}" for index, layer in enumerate(model.layers)
                      for name in layer.named_parameters()]
        if not self.names:
            raise ValueError("GradientStats needs a network with parameters, got one without any")
        self.slices = flat_slices(model.parameters())           # where each one lies in the flat buffers
        self.before = np.empty_like(model.flat_parameter.value)
        self._new_period()

    def _new_period(self):
        count = len(self.names)
        self.batches = 0
        self.grad_sums = np.zeros(count)
        self.ratio_sums, self.ratio_counts = np.zeros(count), np.zeros(count)

    def on_epoch_begin(self, training, epoch):
        np.copyto(self.before, training.model.flat_parameter.value)     # W_(t−1) of the first step

    def on_batch_end(self, training, batch, logs):
        flat = training.model.flat_parameter                  # every Parameter is a view into it
        for index, part in enumerate(self.slices):
            grad, after, before = flat.grad[part], flat.value[part], self.before[part]
            self.grad_sums[index] += np.linalg.norm(grad)                          # ||g_t||
            size = np.linalg.norm(before)                                          # ||W_(t−1)||
            if size > 0:
                self.ratio_sums[index] += np.linalg.norm(after - before) / size    # ||ΔW|| / ||W||
                self.ratio_counts[index] += 1
        self.batches += 1
        np.copyto(self.before, flat.value)
        if self.every is not None:
            epoch = training.epoch + 1                       # the running one (training.epoch: the last finished)
            seen = epoch * training.batches_per_epoch + batch + 1
            if seen % self.every == 0:
                self._record(training, epoch + (batch + 1) / training.batches_per_epoch)

    def on_epoch_end(self, training, epoch, logs):
        if self.every is None:
            self._record(training, epoch + 1)

    def _record(self, training, where):
        history, flat = training.history.history, training.model.flat_parameter
        history.setdefault(EPOCH_KEY, []).append(float(where))
        counted = self.ratio_counts > 0                       # else no batch of the period had a ratio
        ratios = np.where(counted, self.ratio_sums / np.maximum(self.ratio_counts, 1), np.nan)
        for index, (name, part) in enumerate(zip(self.names, self.slices)):
            values = (self.grad_sums[index] / self.batches, np.linalg.norm(flat.value[part]), ratios[index])
            for stat, value in zip(STATS, values):
                history.setdefault(stat_key(stat, name), []).append(float(value))
        self._new_period()
