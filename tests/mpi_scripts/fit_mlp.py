"""Run by tests/test_distributed.py, under mpirun or alone: train a small float64 MLP with
BatchNorm, then save what this rank holds.

    python fit_mlp.py OUT_DIR '{"distributed": "mpi", "epochs": 3, "batch_size": 16, ...}'

Options besides fit's own arguments (which are passed on as they are):
  rows            rows of the made-up data set (default 53), the same on every rank
  shards          shard sizes, one per rank: rank r keeps its slice of the rows, in rank order
  optimizer       "sgd" (SGD with momentum, the default) or "adam"
  seed_per_rank   added to the model's seed once per rank number (broadcast makes it moot)
  fail_on_rank    this rank raises at the start of the second epoch
  checkpoint      a ModelCheckpoint path; "{rank}" in it becomes the rank's number
  resume          resume_from rank 0's checkpoint file
  marker_dir      a rank_zero_only callback writes marker_dir/written-by-rank<r> in it

Writes OUT_DIR/rank<r>.npz: the state dict by name, and the history as history.<name>.
"""

import json
import os
import sys

import numpy as np

import scratchnn as sn


def data(rows):
    """Two noisy classes in 5 features, the same on every rank."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.1 * rng.normal(size=rows) > 0.5).astype(int)
    return X, y


def network(seed=0):
    return sn.Sequential(sn.Dense(5, 8), sn.BatchNorm(8), sn.ReLU(), sn.Dense(8, 2), seed=seed, dtype=np.float64)


def optimizer(name):
    return sn.Adam(0.01) if name == "adam" else sn.SGD(0.05, momentum=0.9)


class Fail(sn.Callback):
    """Raises at the start of the second epoch."""

    def on_epoch_begin(self, training, epoch):
        if epoch == 1:
            raise RuntimeError("this rank was told to fail")


class Marker(sn.Callback):
    """Writes a file naming its rank at the end of training; under MPI, rank 0 alone runs it."""

    rank_zero_only = True

    def __init__(self, folder, rank):
        self.path = os.path.join(folder, f"written-by-rank{rank}")

    def on_train_end(self, training):
        with open(self.path, "w") as file:
            file.write("done\n")


def main(out, options):
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    X, y = data(options.pop("rows", 53))
    shards = options.pop("shards", None)
    if shards is not None:
        start = sum(shards[:rank])
        X, y = X[start:start + shards[rank]], y[start:start + shards[rank]]
    net = network(rank * options.pop("seed_per_rank", 0))
    callbacks = []
    if options.pop("fail_on_rank", None) == rank:
        callbacks.append(Fail())
    marker_dir = options.pop("marker_dir", None)
    if marker_dir is not None:
        callbacks.append(Marker(marker_dir, rank))
    checkpoint = options.pop("checkpoint", None)
    if checkpoint is not None:
        callbacks.append(sn.ModelCheckpoint(checkpoint.format(rank=rank)))
        if options.pop("resume", False):
            options["resume_from"] = checkpoint.format(rank=0)
    history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=optimizer(options.pop("optimizer", "sgd")),
                      metrics=["accuracy"], callbacks=callbacks, **options)
    arrays = dict(net.state_dict())
    arrays.update({f"history.{name}": np.array(values) for name, values in history.history.items()})
    np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
