"""Where one MLP training epoch spends its time, part by part.

    python benchmarks/profile_mlp.py [--fused auto|numpy]

Runs the steps of `fit` by hand on Fashion-MNIST (784-256-128-10 ReLU, CrossEntropy, Adam 1e-3,
batch 128, float32) and times each part over one epoch: the batch gather, forward, loss,
zero_grad, backward (without the first layer's input gradient, as fit does) and the optimizer
step. Use it before and after a change; benchmarks/README.md keeps the history.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import scratchnn as sn  # noqa: E402
from scratchnn.datasets import load_fashion_mnist  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fused", choices=["auto", "numpy"], default="auto")
    args = parser.parse_args()
    (X, y), _ = load_fashion_mnist()
    net = sn.Sequential(sn.Dense(784, 256), sn.ReLU(), sn.Dense(256, 128), sn.ReLU(), sn.Dense(128, 10), seed=0)
    optimizer, loss = sn.Adam(1e-3, fused="auto" if args.fused == "auto" else False), sn.CrossEntropy()
    net.fit(X[:5000], y[:5000], loss=loss, optimizer=optimizer, epochs=1, batch_size=128, verbose=0)  # warm up
    parts = dict.fromkeys(["gather", "forward", "loss", "zero_grad", "backward", "step"], 0.0)
    order = np.random.default_rng(0).permutation(len(X))
    parameters = [net.flat_parameter]
    start_epoch = time.perf_counter()
    for start in range(0, len(X), 128):
        t0 = time.perf_counter()
        rows = order[start:start + 128]
        X_batch, y_batch = X[rows], y[rows]
        t1 = time.perf_counter()
        outputs = net.forward(X_batch, training=True)
        t2 = time.perf_counter()
        loss.forward(outputs, y_batch)
        grad = loss.backward()
        t3 = time.perf_counter()
        net.zero_grad()
        t4 = time.perf_counter()
        net.backward(grad, input_grad=False)
        t5 = time.perf_counter()
        optimizer.step(parameters)
        t6 = time.perf_counter()
        for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            parts[name] += seconds
    total = time.perf_counter() - start_epoch
    print("  ".join(f"{name} {seconds:.3f}s" for name, seconds in parts.items()) + f"  | epoch {total:.3f}s")


if __name__ == "__main__":
    main()
