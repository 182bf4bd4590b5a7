"""Benchmark: one training epoch of a small CNN on Fashion-MNIST, scratchnn against PyTorch.

    python benchmarks/cnn_epoch.py [--batches 50] [--threads 2] [--repeats 3] [--data random]
                                   [--no-torch] [--profile] [--json results.json]

The network (float32, batch 128, Adam(1e-3), softmax cross-entropy):

    Conv(1→32, 3x3, pad 1) - ReLU - MaxPool 2 - Conv(32→64, 3x3, pad 1) - ReLU - MaxPool 2
    - Flatten - Dense(3136→128) - ReLU - Dense(128→10)

An epoch is 469 batches (60,000 images); ``--batches N`` times the first N batches instead
and scales to an epoch. Both libraries get the same number of threads (``--threads``, set
before NumPy and PyTorch start: OpenBLAS reads it once), run one after the other, repeated
``--repeats`` times: the best run is reported first (other processes on the machine can
only slow a run down), then the median. We also print the floating-point operations of the
matrix products per epoch (forward, plus twice that for backward: dL/dW and dL/dx), and the
rate each library reaches. ``--profile`` prints where scratchnn's time goes (cProfile).
"""

import os
import sys


def _threads_from_argv(default=2):
    """The --threads value, read before NumPy is imported (BLAS fixes its pool at import)."""
    for index, argument in enumerate(sys.argv):
        if argument == "--threads" and index + 1 < len(sys.argv):
            return sys.argv[index + 1]
        if argument.startswith("--threads="):
            return argument.split("=", 1)[1]
    return str(default)


for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = _threads_from_argv()

import argparse
import cProfile
import json
import platform
import pstats
import statistics
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import scratchnn as sn
from scratchnn.nn.conv import Conv2D
from scratchnn.nn.pooling import MaxPool2D

BATCHES_PER_EPOCH = 469


def load_data(kind, samples, seed=0):
    """(X, y): Fashion-MNIST training images (N, 1, 28, 28) float32 in [0, 1], or random ones."""
    if kind == "fashion":
        from scratchnn.datasets import load_fashion_mnist

        (X, y), _ = load_fashion_mnist(shape="image", download=False)
        return X[:samples], y[:samples]
    rng = np.random.default_rng(seed)
    return rng.random((samples, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, samples)


def matmul_flops(batch_size):
    """Floating-point operations (2 per multiply-add) of the matrix products for one batch,
    forward and backward (dL/dW and dL/dx each cost as much as the forward product)."""
    conv1 = 2 * batch_size * 32 * 28 * 28 * (1 * 3 * 3)
    conv2 = 2 * batch_size * 64 * 14 * 14 * (32 * 3 * 3)
    dense = 2 * batch_size * (3136 * 128 + 128 * 10)
    return 3 * (conv1 + conv2 + dense)


def scratchnn_network(seed=0):
    return sn.Sequential(
        Conv2D(1, 32, 3, padding=1), sn.ReLU(), MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1), sn.ReLU(), MaxPool2D(2),
        sn.Flatten(), sn.Dense(3136, 128, init="he_uniform"), sn.ReLU(), sn.Dense(128, 10),
        seed=seed, dtype=np.float32)


def run_scratchnn(X, y, batch_size, profile=False):
    """Seconds for one pass over (X, y) with Sequential.fit, and the epoch's mean loss."""
    net = scratchnn_network()
    net.fit(X[:2 * batch_size], y[:2 * batch_size], loss=sn.CrossEntropy(), optimizer=sn.Adam(1e-3),
            batch_size=batch_size, verbose=0)                      # warm-up: buffers, caches
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(1e-3), epochs=1,
                      batch_size=batch_size, verbose=0)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return seconds, history.history["loss"][-1]


def run_torch(X, y, batch_size, threads):
    """The same network and loop in PyTorch eager: shuffle, batches, Adam; seconds and loss."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_function = nn.CrossEntropyLoss()
    X_all, y_all = torch.from_numpy(X), torch.from_numpy(np.asarray(y, dtype=np.int64))

    def epoch(count):
        order = torch.randperm(count)
        total = 0.0
        for start in range(0, count, batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_function(model(X_all[rows]), y_all[rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        return total / count

    epoch(2 * batch_size)                                          # warm-up
    start = time.perf_counter()
    loss = epoch(len(X))
    return time.perf_counter() - start, loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=BATCHES_PER_EPOCH,
                        help="batches to time (default: a whole epoch, 469); results are scaled to an epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS and PyTorch (default 2)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each library, alternating; best and median shown")
    parser.add_argument("--data", choices=("fashion", "random"), default="fashion",
                        help="Fashion-MNIST (found on disk, never downloaded here) or random images")
    parser.add_argument("--no-torch", action="store_true", help="time scratchnn only")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the (first) scratchnn run")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    samples = min(args.batches, BATCHES_PER_EPOCH) * args.batch_size
    try:
        X, y = load_data(args.data, samples)
    except (OSError, ValueError) as error:
        print(f"Fashion-MNIST not found ({error}); using random images", file=sys.stderr)
        X, y = load_data("random", samples)
    batches = -(-len(X) // args.batch_size)
    scale = BATCHES_PER_EPOCH / batches

    try:
        import torch  # noqa: F401

        has_torch = not args.no_torch
    except ImportError:
        has_torch = False

    times = {"scratchnn": [], "torch": []}
    losses = {}
    for repeat in range(args.repeats):
        seconds, losses["scratchnn"] = run_scratchnn(X, y, args.batch_size, profile=args.profile and repeat == 0)
        times["scratchnn"].append(seconds * scale)
        if has_torch:
            seconds, losses["torch"] = run_torch(X, y, args.batch_size, args.threads)
            times["torch"].append(seconds * scale)

    flops = matmul_flops(args.batch_size) * BATCHES_PER_EPOCH
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads, "
          f"NumPy {np.__version__}, {batches} batches of {args.batch_size} ({args.data}), "
          f"scaled to an epoch of {BATCHES_PER_EPOCH}")
    print(f"matrix-product work per epoch: {flops / 1e12:.2f} TFLOP")
    results = {"threads": args.threads, "batches": batches, "batch_size": args.batch_size,
               "data": args.data, "flops_per_epoch": flops}
    for name, runs in times.items():
        if not runs:
            continue
        best, median = min(runs), statistics.median(runs)
        spread = f", median {median:.2f} (runs: {', '.join(f'{t:.1f}' for t in runs)})" if len(runs) > 1 else ""
        print(f"{name:>9}: {best:6.2f} s/epoch{spread}, {flops / best / 1e9:5.1f} GFLOP/s, "
              f"mean loss {losses[name]:.3f}")
        results[name] = {"seconds_per_epoch": best, "median": median, "runs": runs, "loss": losses[name]}
    if times["torch"]:
        ratio = min(times["scratchnn"]) / min(times["torch"])
        print(f"scratchnn / torch: {ratio:.2f}x on the best runs (target: <= 1), "
              f"{statistics.median(times['scratchnn']) / statistics.median(times['torch']):.2f}x on the medians")
        results["ratio"] = ratio
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
