"""Data-parallel training over MPI: ``fit(..., distributed="mpi")`` under ``mpirun``.

Every rank (process) runs the same script; mpi4py (``pip install scratchnn[mpi]``) carries
the messages. Each step, every rank computes the forward and backward pass of its own rows,
and one ``Allreduce`` adds the ranks' gradients, each weighted by its share of the step's rows,

    dL/dθ = Σ_r (n_r / n) · dL_r/dθ         (L: the mean loss over the step's n rows,
                                             L_r: the mean loss over rank r's n_r rows)

so every rank takes the same optimizer step and keeps the same weights.

- Replicated data (the default): every rank passes the same X and y. Each batch is drawn as
  without MPI (the same shuffled order on every rank, from the model's generator, broadcast
  from rank 0) and cut by rows into one part per rank, as ``threads=N`` cuts it. The result is
  a single process's ``fit`` on the same data, up to rounding.
- Sharded data (``shard=True``): each rank passes only its own rows. A step's batch is the
  union of the ranks' local batches; a rank whose shard has run out computes zero rows (and
  still joins every sum) until the rank with the most batches is done, so unequal shards
  never leave a rank waiting for one that has stopped.

Layers with batch statistics (BatchNorm) get an `MPIReduction` (the layer protocol's
``set_reduction``, as threads do), so their statistics are the whole step's. Rank 0's
weights, buffers and generator are broadcast at the start; only rank 0 runs the callbacks
that print or write files (`ProgressLogger`, `ModelCheckpoint`, and any callback with
``rank_zero_only = True``); epoch and validation metrics are added over the ranks. An error
on one rank ends the run on every rank (``MPI_Abort``) with the error and the rank printed:
never a hang. Threads and MPI are not combined: run one rank per core instead.
"""

import contextlib
import os
import sys
import traceback

import numpy as np

from .._checks import describe
from ..nn.base import Layer, Reduction
from .callbacks import Callback, ModelCheckpoint, ProgressLogger
from .checkpoint import rng_state, set_rng_state
from .strategy import Strategy

MISSING = ("distributed='mpi' needs mpi4py and an MPI library: pip install scratchnn[mpi] (and, on "
           "Debian, apt-get install openmpi-bin libopenmpi-dev), then run: mpirun -n 4 python script.py")


def check_distributed(distributed, shard, threads):
    """Validate ``distributed``, ``shard`` and ``threads`` for `fit` before any work; return
    an `MPIGroup` over every rank for ``distributed="mpi"`` (one rank when not started by
    mpirun: training is then a single process's), else None.

    Raises ValueError for another value, for ``shard=True`` without MPI and for ``threads``
    above 1 with it; TypeError for a ``shard`` that is not a bool; ImportError naming
    scratchnn[mpi] when mpi4py is missing."""
    if not isinstance(shard, bool):
        raise TypeError(f"shard must be True or False, got {describe(shard)}")
    if distributed is None:
        if shard:
            raise ValueError("shard=True splits the data over MPI ranks: it needs distributed='mpi'")
        return None
    if distributed != "mpi":
        raise ValueError(f"distributed must be 'mpi' or None, got {describe(distributed)}")
    if threads not in ("auto", None, 1):
        raise ValueError(f"threads={threads!r} cannot be combined with distributed='mpi': run one rank per core "
                         "instead (mpirun -n CORES), or pass threads=1")
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(MISSING) from None
    return MPIGroup(MPI, MPI.COMM_WORLD, shard)


class MPIGroup:
    """The ranks of one distributed `fit`: ``comm`` (an mpi4py communicator), ``rank``,
    ``size``, ``shard``; the collective steps `fit` takes outside the batches."""

    def __init__(self, mpi, comm, shard):
        self.MPI, self.comm, self.shard = mpi, comm, shard
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    def most(self, count):
        """The largest `count` over the ranks."""
        return self.comm.allreduce(count, op=self.MPI.MAX)

    def broadcast_rng(self, model):
        """Give every rank the state of rank 0's generator."""
        set_rng_state(model.rng, self.comm.bcast(rng_state(model.rng), root=0))

    def broadcast_model(self, model):
        """Give every rank rank 0's weights, buffers (running statistics) and generator."""
        self.comm.Bcast(model.flat_parameter.value, root=0)
        for layer in model.layers:
            for buffer in layer.get_buffers().values():
                self.comm.Bcast(buffer, root=0)
        self.broadcast_rng(model)

    def callbacks_here(self, callbacks):
        """The callbacks this rank runs: all on rank 0; elsewhere, those that print or write
        files are replaced by a stand-in that keeps their checkpointed state and does nothing."""
        if self.rank == 0:
            return callbacks
        return [_Elsewhere(c) if rank_zero_only(c) else c for c in callbacks]

    def sum(self, values):
        """The sum over the ranks of a float64 vector."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        total = np.empty_like(values)
        self.comm.Allreduce(values, total)
        return total

    @contextlib.contextmanager
    def errors_end_every_rank(self, agreed=(), show_traceback=True):
        """A context in which an exception on this rank, other than the `agreed` ones (which
        every rank raises at the same point), prints the rank and the error on stderr and
        aborts every rank (``MPI_Abort``): the others may be waiting for this one in a
        collective, and would wait forever. With one rank it is raised as usual."""
        try:
            yield self
        except agreed:
            raise
        except BaseException as error:
            if self.size == 1:
                raise
            if show_traceback:
                traceback.print_exc()
            print(f"scratchnn: rank {self.rank} of {self.size} failed, ending the run on every rank: "
                  f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
            self.comm.Abort(1)

    @contextlib.contextmanager
    def quiet_unless_first(self):
        """A context in which ranks other than 0 print nothing (stdout and stderr go to
        os.devnull); an error leaving it is printed by `errors_end_every_rank`, outside."""
        if self.rank == 0:
            yield
            return
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
                contextlib.redirect_stderr(devnull):
            yield


def rank_zero_only(callback):
    """Whether only rank 0 runs `callback` under MPI: the progress display, checkpoints, and
    any callback that sets ``rank_zero_only = True`` (plots and other files)."""
    return isinstance(callback, (ProgressLogger, ModelCheckpoint)) or getattr(callback, "rank_zero_only", False)


class _Elsewhere(Callback):
    """On ranks other than 0, the stand-in of a callback that only rank 0 runs: no hook does
    anything, and a checkpoint's state still reaches the callback (resuming reads it back)."""

    def __init__(self, callback):
        self.callback = callback
        self.runs_last, self.checkpointed = callback.runs_last, callback.checkpointed

    def get_state(self):
        return self.callback.get_state()

    def set_state(self, state):
        self.callback.set_state(state)

    def get_arrays(self):
        return self.callback.get_arrays()

    def set_arrays(self, arrays):
        self.callback.set_arrays(arrays)


class MPIReduction(Reduction):
    """BatchNorm's sums over every rank of a step (``Allreduce``); ``share`` is this rank's
    fraction n_r / n of the step's rows."""

    def __init__(self, comm, share=1.0):
        self.comm, self.share = comm, share

    def sum(self, array):
        array = np.ascontiguousarray(array)
        total = np.empty_like(array)
        self.comm.Allreduce(array, total)
        return total


class MPIBatches(Strategy):
    """A `Strategy` over the ranks of an `MPIGroup` (see the module's docstring): `own_rows`
    picks this rank's rows of a batch, `gradient` computes their loss and gradient and adds
    the ranks' gradients in one ``Allreduce``, `combine` adds the epoch's sums.

    Creating it broadcasts rank 0's weights, buffers and generator (after a resumed
    checkpoint, the same on every rank) and, for shards, learns every rank's rows."""

    def __init__(self, model, loss, group, n_samples, batch_size, batches_per_epoch):
        super().__init__(model)
        self.loss, self.group, self.comm = loss, group, group.comm
        self.mean = getattr(loss, "reduction", "mean") == "mean"
        self.batches = batches_per_epoch
        group.broadcast_model(model)
        # a shard's rows and batch size, on every rank: how many rows each step adds up
        self.shards = self.comm.allgather((n_samples, batch_size)) if group.shard else None
        if group.shard:
            low, high = model.input_range
            model.input_range = (self.comm.allreduce(low, op=group.MPI.MIN),
                                 self.comm.allreduce(high, op=group.MPI.MAX))
        self.reduction = MPIReduction(self.comm)
        self.positions = [i for i, layer in enumerate(model.layers) if layer.uses_batch_statistics]
        for position in self.positions:
            model.layers[position].set_reduction(self.reduction)
        gradient = model.flat_parameter.grad
        # the weighted gradient, then the number of ranks whose loss is not finite: one message
        self.buffer = np.empty(gradient.size + 1, dtype=gradient.dtype)
        self.step, self.batch_rows = 0, None

    def shuffled_order(self, n_samples):
        """Replicated: the model's permutation, as without MPI. Shards: a permutation of the
        largest shard's rows, keeping this shard's, so that every rank's generator draws the
        same numbers and stays in step with rank 0's (which checkpoints save)."""
        if self.shards is None:
            return super().shuffled_order(n_samples)
        order = self.model.rng.permutation(max(rows for rows, _ in self.shards))
        return order[order < n_samples]

    def batch_starts(self, n_samples, batch_size):
        """As many batches on every rank: the most of any shard (past its end, empty ones)."""
        return range(0, self.batches * batch_size, batch_size)

    def own_rows(self, X, y):
        """Replicated: this rank's part of the batch's rows (consecutive, as threads cut it;
        none when the batch has fewer rows than there are ranks). Shards: all of them."""
        if self.shards is not None:
            return X, y
        n = len(X)
        self.batch_rows = n
        bounds = np.linspace(0, n, min(self.group.size, n) + 1).round().astype(int)
        if self.group.rank + 1 >= len(bounds):
            return X[:0], y[:0]
        part = slice(bounds[self.group.rank], bounds[self.group.rank + 1])
        return X[part], y[part]

    def new_epoch(self):
        """Start counting the epoch's steps; give layers that draw in training (Dropout) a
        generator of this rank's, seeded from the model's (which draws the same on every rank)."""
        self.step = 0
        if _draws_in_training(self.model):
            seeds = self.model.rng.integers(0, 2**63, size=self.group.size) \
                if isinstance(self.model.rng, np.random.Generator) else self.model.rng.randint(0, 2**31, size=self.group.size)
            own = np.random.default_rng(int(seeds[self.group.rank]))
            for layer in self.model.layers:
                layer.set_rng(own)

    def gradient(self, X_part, y_part):
        """Forward, loss and backward of this rank's rows, then the ranks' gradients added
        (``Allreduce``). Returns (this rank's mean loss, its outputs); the loss is NaN on
        every rank when it is not finite on some rank, so that every rank stops together."""
        rows, total = len(X_part), self._step_rows()
        weight = rows / total if self.mean else 1.0
        # a rank without rows adds zeros; its share only must not be 0 (BatchNorm divides by it)
        self.reduction.share = weight if rows else 1.0
        outputs = self.model.forward(X_part, training=True)                # forward pass
        if rows:
            value = float(self.loss.forward(outputs, y_part))              # how wrong
            grad_outputs = self.loss.backward()
        else:
            value, grad_outputs = 0.0, np.zeros_like(outputs)
        self.model.zero_grad()
        self.model.backward(grad_outputs, input_grad=False)                # backpropagation
        gradient, buffer = self.model.flat_parameter.grad, self.buffer
        np.multiply(gradient, gradient.dtype.type(weight), out=buffer[:-1])   # (n_r / n) · dL_r/dθ
        buffer[-1] = 0.0 if np.isfinite(value) else 1.0
        self.comm.Allreduce(self.group.MPI.IN_PLACE, buffer)              # dL/dθ = Σ_r (n_r / n) dL_r/dθ
        gradient[...] = buffer[:-1]
        if buffer[-1] and np.isfinite(value):
            value = float("nan")
        return value, outputs

    def _step_rows(self):
        """The rows of the whole step: the batch's (replicated), or the shards' batches' sum."""
        if self.shards is None:
            return self.batch_rows
        step, self.step = self.step, self.step + 1
        return sum(max(0, min(size, rows - step * size)) for rows, size in self.shards)

    def combine(self, sums, rows):
        """The means over every rank's rows: the ranks' sums and rows added (``Allreduce``)."""
        totals = self.group.sum([*sums.values(), rows])
        return {name: total / totals[-1] for name, total in zip(sums, totals)}

    def close(self):
        for position in self.positions:                     # plain layers again
            self.model.layers[position].set_reduction(None)
        if _draws_in_training(self.model):
            for layer in self.model.layers:
                layer.set_rng(self.model.rng)


def _draws_in_training(model):
    """Whether some layer takes a generator for training (as `ThreadedBatches` asks)."""
    return any("rng" in vars(layer) or type(layer).set_rng is not Layer.set_rng for layer in model.layers)
