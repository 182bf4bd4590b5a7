"""Benchmark: data-parallel training over MPI (``fit(..., distributed="mpi")``), measured on
this machine with 1 and 2 ranks, and simulated for 8 to 64 ranks on a network.

    python benchmarks/distributed_scaling.py [--rows 6144] [--batch-size 128] [--repeats 3]
                                             [--bandwidth-gbit 10] [--latency-us 30]

The network is the command line's images MLP, 784-512-256-10 (float32, Adam, softmax
cross-entropy, 535,818 parameters: a 2.1 MB gradient), on random 28x28 "images" (the time
of a step does not depend on the pixels).

1. Measured, one epoch of `rows` rows in batches of `batch_size`: one process with BLAS on
   one thread and on two; ``mpirun -n 1`` and ``-n 2`` with one BLAS thread per rank, in
   turns, `repeats` times: the best run (other work on the machine can only slow a run
   down), then the median.
2. Measured, one rank's forward and backward pass (`Steps.gradient`, one BLAS thread) at
   b = 1 ... 1024 rows, and the Allreduce of the gradient between 2 ranks of this machine.
3. Simulated, N ranks and a global batch of B rows: a step takes compute(B / N) + the ring
   all-reduce of the gradient,

       allreduce(N) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency

   (each of the 2 (N - 1) ring steps sends bytes / N and waits one network latency). The
   speed-up is the rows per second of N ranks, B / (compute(B / N) + allreduce(N)), over
   those of one rank at its fastest measured batch size (so that a single rank slowed by
   large batches, which leave its caches, does not flatter the cluster); communication
   stops dominating where compute(B / N) >= allreduce(N). compute(b) is interpolated between
   the measured b, and beyond 1024 rows extrapolated at the cost per row of 1024.

Needs mpi4py and Open MPI's mpirun (scripts/test.sh installs both). The optimizer's step and
the small BatchNorm-free messages are left out of the simulation (measured: a few percent).
"""

import os
import sys

if __name__ == "__main__" and "--worker" not in sys.argv:
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = "1"          # one BLAS thread per rank; read once, at import

import argparse
import json
import shutil
import statistics
import subprocess
import time

import numpy as np

import scratchnn as sn
from scratchnn.training import Steps

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
RANKS = (8, 16, 32, 64)
GLOBAL_BATCHES = (256, 1024, 4096, 16384)


def network(seed=0):
    return sn.Sequential(sn.Dense(784, 512), sn.ReLU(), sn.Dense(512, 256), sn.ReLU(), sn.Dense(256, 10),
                         seed=seed, dtype=np.float32)


def random_images(rows, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((rows, 784), dtype=np.float32), rng.integers(0, 10, size=rows)


def epoch_seconds(rows, batch_size, distributed):
    """Seconds of one epoch of `fit` (after one epoch to warm up), on this rank."""
    X, y = random_images(rows)
    net = network()
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(), epochs=1, batch_size=batch_size,
                verbose=0, threads=1, distributed=distributed)
        timings.append(time.perf_counter() - started)
    return timings[-1]


def allreduce_seconds(repeats=30):
    """The median time of one in-place Allreduce of the MLP's gradient (float32) over the ranks."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    buffer = np.ones(network().flat_parameter.grad.size + 1, dtype=np.float32)
    timings = []
    for _ in range(repeats):
        comm.Barrier()
        started = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def worker(what, rows, batch_size):
    """Under mpirun: time `what` and print it as JSON from rank 0."""
    from mpi4py import MPI

    seconds = epoch_seconds(rows, batch_size, "mpi") if what == "epoch" else allreduce_seconds()
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(json.dumps({"seconds": seconds}))


def run_json(command, env):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    line = [line for line in done.stdout.splitlines() if '{"seconds"' in line][-1]
    return json.JSONDecoder().raw_decode(line[line.index("{"):])[0]["seconds"]   # (mpirun may add color codes)


def mpirun(ranks, what, rows, batch_size):
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return run_json([shutil.which("mpirun"), "-n", str(ranks), "--oversubscribe", sys.executable, __file__,
                     "--worker", what, "--rows", str(rows), "--batch-size", str(batch_size)], env)


def one_process(threads, rows, batch_size):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import distributed_scaling as d; print(json.dumps({{'seconds': d.epoch_seconds({rows}, {batch_size}, None)}}))")
    return run_json([sys.executable, "-c", code], env)


def compute_seconds(repeats):
    """Best time of one rank's forward and backward pass at each of SIZES rows (one BLAS thread)."""
    net, loss = network(), sn.CrossEntropy()
    steps = Steps(net, loss)
    X, y = random_images(max(SIZES))
    times = {}
    for size in SIZES:
        runs = max(5, min(200, repeats * 4096 // size))
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            steps.gradient(X[:size], y[:size])
            timings.append(time.perf_counter() - started)
        times[size] = min(timings)
    return times


def compute_at(times, rows):
    """compute(rows): interpolated between the measured sizes, linear in rows beyond the largest."""
    sizes = sorted(times)
    if rows >= sizes[-1]:
        return times[sizes[-1]] * rows / sizes[-1]
    return float(np.interp(rows, sizes, [times[s] for s in sizes]))


def ring_allreduce(ranks, size_bytes, bandwidth, latency):
    """Seconds of a ring all-reduce of `size_bytes` over `ranks` ranks (see the module's docstring)."""
    return 2 * (ranks - 1) / ranks * size_bytes / bandwidth + 2 * (ranks - 1) * latency


def break_even_rows(times, seconds):
    """The fewest rows per rank whose compute takes at least `seconds`."""
    rows = 1
    while compute_at(times, rows) < seconds:
        rows += 1
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6144)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bandwidth-gbit", type=float, default=10.0)
    parser.add_argument("--latency-us", type=float, default=30.0)
    parser.add_argument("--skip-epochs", action="store_true", help="only the compute, all-reduce and simulation")
    parser.add_argument("--worker", choices=("epoch", "allreduce"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.rows, args.batch_size)

    print(f"Measured on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"
          + ("." if args.skip_epochs else f"; one epoch of {args.rows} rows, batch {args.batch_size}, "
             f"best (median) of {args.repeats}:"))
    runs = {"1 process, 1 BLAS thread": lambda: one_process(1, args.rows, args.batch_size),
            "1 process, 2 BLAS threads": lambda: one_process(2, args.rows, args.batch_size),
            "mpirun -n 1 (distributed='mpi')": lambda: mpirun(1, "epoch", args.rows, args.batch_size),
            "mpirun -n 2 (distributed='mpi')": lambda: mpirun(2, "epoch", args.rows, args.batch_size)}
    timings = {name: [] for name in runs}
    for _ in range(0 if args.skip_epochs else args.repeats):                   # in turns, so that a busy spell hits every one
        for name, run in runs.items():
            timings[name].append(run())
    base = None
    for name in runs if not args.skip_epochs else ():
        best = min(timings[name])
        base = base or best
        print(f"  {name:34s} {best:7.3f} s ({statistics.median(timings[name]):.3f})  "
              f"{args.rows / best:8.0f} rows/s  x{base / best:.2f}")

    times = compute_seconds(args.repeats)
    parameters = network().flat_parameter.grad.size
    size_bytes = 4 * parameters
    measured_allreduce = mpirun(2, "allreduce", args.rows, args.batch_size)
    print(f"\nOne rank's forward + backward (ms) at b rows: "
          + ", ".join(f"{size}: {1e3 * seconds:.2f}" for size, seconds in times.items()))
    print(f"Allreduce of the gradient ({parameters:,} float32, {size_bytes / 1e6:.2f} MB) between 2 ranks "
          f"of this machine: {1e3 * measured_allreduce:.2f} ms (median)")

    bandwidth, latency = args.bandwidth_gbit * 1e9 / 8, args.latency_us * 1e-6
    print(f"\nSimulated: ring all-reduce on {args.bandwidth_gbit:g} Gbit/s, {args.latency_us:g} us latency; "
          "speed-up over one rank's best rows/s, at global batch B")
    header = "| ranks | all-reduce (ms) | compute >= all-reduce from | " + " | ".join(f"B={b}" for b in GLOBAL_BATCHES)
    print(header + " |")
    print("|" + "---|" * (3 + len(GLOBAL_BATCHES)))
    for ranks in RANKS:
        communication = ring_allreduce(ranks, size_bytes, bandwidth, latency)
        rows = break_even_rows(times, communication)
        best_rate = max(size / seconds for size, seconds in times.items())      # one rank's rows/s
        speedups = [batch / (compute_at(times, batch / ranks) + communication) / best_rate
                    for batch in GLOBAL_BATCHES]
        print(f"| {ranks} | {1e3 * communication:.2f} | {rows} rows per rank (B = {rows * ranks}) | "
              + " | ".join(f"x{speedup:.1f}" for speedup in speedups) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
