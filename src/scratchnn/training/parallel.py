"""Data-parallel training on threads: ``fit(..., threads=2)``.

Each mini-batch is cut into ``threads`` parts of consecutive rows. Thread i runs the forward
pass, the loss and the backward pass of part i on its own replica of the network; then the
main thread combines the replicas' gradients, each weighted by its share of the rows,

    dL/dθ = Σ_i (n_i / n) · dL_i/dθ        (L: the mean loss over the batch's n rows,
                                             L_i: the mean loss over part i's n_i rows)

which is the batch's gradient, summed in another order (so equal up to rounding), and the
optimizer takes one step as usual. The replicas share the weights (views of the model's own
arrays) and own their gradients and activations.

Why it helps: NumPy runs each elementwise operation (im2col copies, ReLU, pooling) on one
core, and between two matrix products OpenBLAS's threads spin, keeping the other core from
it. With one replica per core, each core runs a whole forward and backward pass, and OpenBLAS
is limited to one thread per product while the batches run (``threadpoolctl``, restored
afterwards). NumPy and the compiled kernels release the GIL while they work
(benchmarks/README.md has the measured speed-up).

Layers with batch statistics (BatchNorm) see the whole batch, as without threads: each
replica's layer is handed a `ThreadReduction` (the layer protocol's `set_reduction`), through
which the replicas add their partial sums together (`BatchGroup`, a barrier where each waits
for the others). Layers that draw random numbers in training (Dropout) get, in replica i, a
generator seeded from the model's at the start of each epoch (the protocol's `set_rng`), so
results depend on the number of threads, and are reproducible for a given number, resumed
runs included.
"""

import contextlib
import copy
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._checks import describe, positive_int
from ..nn.base import Layer, Reduction
from ..nn.attention import MultiHeadAttention
from ..nn.conv import Conv2D
from ..nn.gru import GRU
from ..nn.lstm import LSTM
from ..nn.recurrent import RNN
from ..nn.transformer import TransformerBlock
from .strategy import Strategy


def check_threads(threads):
    """Validate ``threads`` for `fit` before any work: "auto" (returned as it is, see
    `automatic_threads`) or an int >= 1 (None means 1); above 1 it needs threadpoolctl."""
    if isinstance(threads, str):
        if threads == "auto":
            return threads
        raise TypeError(f"threads must be 'auto', a positive integer or None, got {describe(threads)}")
    threads = positive_int("threads", threads, allow_none=True) or 1
    if threads > 1 and importlib.util.find_spec("threadpoolctl") is None:
        raise ImportError(f"threads={threads} needs threadpoolctl to keep BLAS to one thread per "
                          "replica: pip install threadpoolctl (or scratchnn[fast])")
    return threads


# Layers whose elementwise work (and, for sequences, many small products) threads spread, and
# the fewest samples of a batch each thread should get. Other networks' matrix products are
# large enough to use every core by themselves (BLAS threads).
_THREADED_LAYERS = ((Conv2D, 64), ((RNN, LSTM, GRU, MultiHeadAttention, TransformerBlock), 32))


def automatic_threads(model, batch_size, cores=None):
    """The thread count of ``fit(threads="auto")`` and ``--threads auto``: one per core, for
    a network with a convolution (at most one per 64 rows of a batch) or with a recurrent or
    attention layer (at most one per 32 sequences), whose elementwise work and small
    products are what threads spread; 1 for other networks, whose matrix products already use
    every core, or without threadpoolctl. A CNN in batches of 128 on 2 cores: 2; a character
    LSTM or transformer in batches of 64 sequences: 2."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return 1
    return threads_worth_using(model, batch_size, cores)


def threads_worth_using(model, batch_size, cores=None):
    """`automatic_threads`' rule without asking whether threadpoolctl is installed."""
    cores = cores or os.cpu_count() or 1
    samples_per_thread = [fewest for kinds, fewest in _THREADED_LAYERS
                          if any(isinstance(layer, kinds) for layer in model.layers)]
    if not samples_per_thread:
        return 1
    return max(1, min(cores, batch_size // max(samples_per_thread)))


class BatchGroup:
    """The replicas of one layer during one batch: `sum` adds an array over all of them.

    Each replica puts its part in a slot and waits at a barrier until all have; then each adds
    the slots up in the same order (so all get the same bits) and waits again, so that no slot
    is overwritten before everyone has read it. If a replica fails, `abort` breaks the barrier
    and the others stop waiting (threading.BrokenBarrierError)."""

    def __init__(self, parties):
        self.barrier = threading.Barrier(parties)
        self.slots = [None] * parties

    def sum(self, index, value):
        self.slots[index] = value
        self.barrier.wait()
        total = self.slots[0].copy()
        for part in self.slots[1:]:
            total += part
        self.barrier.wait()
        return total

    def abort(self):
        self.barrier.abort()


class ThreadReduction(Reduction):
    """A replica's view of a `BatchGroup`: ``sum`` adds over every replica of the batch,
    ``share`` is this replica's fraction of the batch's rows."""

    def __init__(self, group, index, share):
        self.group, self.index, self.share = group, index, share

    def sum(self, array):
        return self.group.sum(self.index, array)


class ThreadedBatches(Strategy):
    """A `Strategy`: replicas of `model`, a thread pool, and `gradient`, which computes one
    batch's loss and gradient across them (see the module's docstring).

    >>> batches = ThreadedBatches(net, sn.CrossEntropy(), threads=2)
    >>> with batches.one_blas_thread():
    ...     value, outputs = batches.gradient(X_batch, y_batch)    # gradients now in net's Parameters
    >>> batches.close()
    """

    def __init__(self, model, loss, threads):
        from threadpoolctl import ThreadpoolController

        super().__init__(model)
        self.threads = threads
        self.replicas = [model] + [_replica(model) for _ in range(threads - 1)]
        self.seeded = False
        self.losses = [loss] + [copy.deepcopy(loss) for _ in range(threads - 1)]
        self.mean = getattr(loss, "reduction", "mean") == "mean"
        self.pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="scratchnn-batch")
        self.controller = ThreadpoolController()
        self.positions = [i for i, layer in enumerate(model.layers) if layer.uses_batch_statistics]

    def running(self):
        """The epoch's context: BLAS uses one thread per call (each replica is one thread)."""
        return self.one_blas_thread()

    def one_blas_thread(self):
        """A context in which BLAS uses one thread per call (each replica is one thread)."""
        if self.threads == 1:
            return contextlib.nullcontext()
        return self.controller.limit(limits=1, user_api="blas")

    def new_epoch(self):
        """Give each extra replica a generator of its own (a Generator is not for two threads
        at once), seeded from the model's generator, and hand it to the replica's layers
        (`Layer.set_rng`: Dropout's masks). The loop calls this at the start of every epoch,
        right after drawing the epoch's row order, so that a run resumed from a checkpoint
        (which holds the model's generator) draws the same masks. Networks whose layers draw
        nothing in training draw no seeds."""
        if self._draws_in_training():
            rng = self.model.rng
            if isinstance(rng, np.random.Generator):
                seeds = rng.integers(0, 2**63, size=self.threads - 1)
            else:                                                    # a RandomState (the blog's)
                seeds = rng.randint(0, 2**31, size=self.threads - 1)
            for replica, seed in zip(self.replicas[1:], seeds):
                replica.rng = np.random.default_rng(int(seed))
                for layer in replica.layers:
                    layer.set_rng(replica.rng)
        self.seeded = True

    def _draws_in_training(self):
        """Whether some layer takes a generator for training: it keeps one from ``build``
        (an ``rng`` attribute, as Dropout does) or handles `Layer.set_rng` itself."""
        return any("rng" in vars(layer) or type(layer).set_rng is not Layer.set_rng for layer in self.model.layers)

    def gradient(self, X_batch, y_batch):
        """Forward, loss and backward of one batch, its rows split over the replicas. Leaves
        the batch's gradient in the model's parameters; returns (loss value, outputs)."""
        if not self.seeded:
            self.new_epoch()
        n = len(X_batch)
        bounds = np.linspace(0, n, min(self.threads, n) + 1).round().astype(int)
        parts = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
        weights = [(part.stop - part.start) / n if self.mean else 1.0 for part in parts]
        groups = self._hand_reductions(len(parts), weights)
        errors = np.geterr()            # NumPy's error settings are per thread: hand ours over
        jobs = [(self.replicas[i], self.losses[i], X_batch[part], y_batch[part], errors, groups)
                for i, part in enumerate(parts)]
        futures = [self.pool.submit(_forward_backward, *job) for job in jobs[1:]]
        outcomes = [_outcome(_forward_backward, *jobs[0])] + [_outcome(future.result) for future in futures]
        failures = [error for _, error in outcomes if error is not None]
        if failures:             # the first real error, not the broken barriers it left behind
            raise next((e for e in failures if not isinstance(e, threading.BrokenBarrierError)), failures[0])
        results = [result for result, _ in outcomes]
        gradient = self.model.flat_parameter.grad
        scalar = gradient.dtype.type
        if weights[0] != 1.0:
            gradient *= scalar(weights[0])                         # dL/dθ = Σ_i (n_i / n) dL_i/dθ
        for replica, weight in zip(self.replicas[1:len(parts)], weights[1:]):
            gradient += replica.flat_parameter.grad * scalar(weight)
        value = sum(weight * float(part_value) for weight, (part_value, _) in zip(weights, results))
        return value, np.concatenate([outputs for _, outputs in results])

    def _hand_reductions(self, parts, weights):
        """Give the layers with batch statistics of the replicas that take part a reduction
        over a fresh `BatchGroup` (one per layer position) with their share of the batch;
        a batch too small to split keeps the local one. Returns the groups."""
        groups = []
        for position in self.positions:
            group = BatchGroup(parts) if parts > 1 else None
            for index, replica in enumerate(self.replicas[:parts]):
                reduction = ThreadReduction(group, index, weights[index]) if group else None
                replica.layers[position].set_reduction(reduction)
            groups += [group] if group else []
        return groups

    def close(self):
        self.pool.shutdown(wait=True)
        for replica in self.replicas:               # plain layers again, the model's included
            for position in self.positions:
                replica.layers[position].set_reduction(None)


def _forward_backward(network, loss, X_part, y_part, errors, groups):
    try:
        with np.errstate(**errors):
            outputs = network.forward(X_part, training=True)
            value = loss.forward(outputs, y_part)
            network.zero_grad()
            network.backward(loss.backward(), input_grad=False)
    except BaseException:
        for group in groups:                        # free the replicas waiting for this one
            group.abort()
        raise
    return value, outputs


def _outcome(function, *args):
    """(result, None), or (None, the exception) if `function(*args)` raised."""
    try:
        return function(*args), None
    except Exception as error:
        return None, error


def _replica(model):
    """A copy of `model` with its own layers, activations and gradients, whose weights are
    the model's own arrays (views); its layers get their generators in `new_epoch`. The
    model's optimizer and loss are not copied (the replica needs neither)."""
    leave_out = {id(model.optimizer): None, id(model.loss): None} if model.optimizer is not None else {}
    replica = copy.deepcopy(model, leave_out)   # Sequential.__setstate__ gives it its own flat buffers
    for own, shared in zip(replica.parameters(), model.parameters()):
        own.value = shared.value
    replica.flat_parameter.value = model.flat_parameter.value
    return replica


