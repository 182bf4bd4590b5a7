"""Strategies: how the one batch loop (`scratchnn.training.loop.run_epoch`) computes a
batch's loss and gradient and takes a step. `Steps` is the textbook one; data-parallel
threads (`scratchnn.training.parallel.ThreadedBatches`), MPI ranks
(`scratchnn.training.distributed.MPIBatches`) and the scikit-learn estimators
(`scratchnn.sklearn.steps`) are the others."""

import contextlib


class Strategy:
    """How `run_epoch` computes one batch's loss and gradient and takes a step; subclasses
    write ``gradient`` and keep the defaults that fit them.

    ``model`` is the network trained (its ``flat_parameter`` holds every weight)."""

    def __init__(self, model):
        self.model = model

    def new_epoch(self):
        """Called at the start of each epoch, after the epoch's shuffle."""

    def gradient(self, X_batch, y_batch):
        """Forward, loss and backward of one batch: return (loss value, outputs), and leave
        dL/dθ in the model's parameters."""
        raise NotImplementedError

    def update(self, optimizer):
        """One step of the optimizer from that gradient, over all weights at once (nn.base.gather_parameters)."""
        optimizer.step([self.model.flat_parameter])

    def shuffled_order(self, n_samples):
        """The epoch's row order: a permutation of range(n_samples) from the model's generator."""
        return self.model.rng.permutation(n_samples)

    def batch_starts(self, n_samples, batch_size):
        """The first row of each batch of an epoch (a range: its length is the batch count)."""
        return range(0, n_samples, batch_size)

    def own_rows(self, X, y):
        """The rows of a batch, or of the validation data, that this process computes: all."""
        return X, y

    def combine(self, sums, rows):
        """The epoch's means from sums over `rows` rows, {name: sum / rows}; a strategy over
        several processes adds every process's sums and rows first."""
        return {name: total / rows for name, total in sums.items()}

    def running(self):
        """A context the epoch's batches run in."""
        return contextlib.nullcontext()

    def close(self):
        """Called once, when training ends."""


class Steps(Strategy):
    """The textbook strategy: the model computes each batch's loss and gradient itself."""

    def __init__(self, model, loss):
        super().__init__(model)
        self.loss = loss

    def gradient(self, X_batch, y_batch):
        outputs = self.model.forward(X_batch, training=True)          # forward pass
        value = self.loss.forward(outputs, y_batch)                  # how wrong
        self.model.zero_grad()
        self.model.backward(self.loss.backward(), input_grad=False)  # backpropagation
        return value, outputs
