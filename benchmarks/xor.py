"""Benchmark: the blog's XOR network, 10,000 full-batch epochs, three ways, in one run.

    python benchmarks/xor.py [--repeats 5] [--epochs 10000] [--json results.json]

1. the blog's raw NumPy loop (its script, transcribed),
2. scratchnn's ``Sequential.fit`` with the blog's settings,
3. PyTorch eager (if installed: ``pip install torch==2.13.0``), the same network in float64,
   the same initial weights, ``MSELoss(reduction="sum") / 2`` and ``torch.optim.SGD``.

Each does the same work: same weights, same 10,000 updates, same float64 arithmetic. We
report the median and spread of wall-clock seconds and the ratio to the raw loop (the issue's
target: scratchnn within 1.5x), and check that all three end with the same predictions.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import scratchnn as sn  # noqa: E402
from scratchnn.xor import blog_script  # noqa: E402

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def initial_weights(seed):
    rng = np.random.RandomState(seed)
    return rng.uniform(size=(2, 2)), rng.uniform(size=(2, 1))


def raw_loop(seed, epochs):
    """The blog's script (its loss line included), seeded; predictions of its final weights."""
    _, (weights_input_hidden, biases_hidden, weights_hidden_output, bias_output) = blog_script(seed, epochs)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    hidden = sigmoid(X @ weights_input_hidden + biases_hidden)
    return sigmoid(hidden @ weights_hidden_output + bias_output)


def scratchnn_fit(seed, epochs):
    net = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),
                        sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
                        seed=np.random.RandomState(seed), dtype=np.float64)
    net.fit(X, Y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1),
            epochs=epochs, batch_size=None, shuffle=False, verbose=0)
    return net.predict(X)


def torch_loop(seed, epochs):
    import torch

    first, second = initial_weights(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(),
                                torch.nn.Linear(2, 1), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(first.T))
        model[2].weight.copy_(torch.from_numpy(second.T))
        model[0].bias.zero_()
        model[2].bias.zero_()
    inputs, targets = torch.from_numpy(X), torch.from_numpy(Y)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_function = torch.nn.MSELoss(reduction="sum")
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = 0.5 * loss_function(model(inputs), targets)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return model(inputs).numpy()


def time_runs(function, repeats, seed, epochs):
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(seed, epochs)
        seconds.append(time.perf_counter() - start)
    return seconds, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    contenders = [("blog's raw NumPy loop", raw_loop), ("scratchnn", scratchnn_fit)]
    try:
        import torch

        torch.set_num_threads(1)
        contenders.append((f"PyTorch {torch.__version__} eager", torch_loop))
    except ImportError:
        print("(PyTorch not installed: pip install torch==2.13.0 to include it)\n")

    rows = []
    for name, function in contenders:
        seconds, predictions = time_runs(function, args.repeats, args.seed, args.epochs)
        rows.append({"name": name, "median_s": statistics.median(seconds), "min_s": min(seconds),
                     "max_s": max(seconds), "predictions": predictions.ravel().tolist()})
    baseline = rows[0]["median_s"]
    reference = np.array(rows[0]["predictions"])
    print(f"XOR, 2-2-1 sigmoid, {args.epochs} full-batch epochs, float64, median of "
          f"{args.repeats} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)\n")
    print("| implementation | median s | min–max s | x raw loop | max |Δ prediction| vs raw loop |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        row["ratio_to_raw_loop"] = row["median_s"] / baseline
        row["max_prediction_difference"] = float(np.abs(np.array(row["predictions"]) - reference).max())
        print(f"| {row['name']} | {row['median_s']:.3f} | {row['min_s']:.3f}–{row['max_s']:.3f} | "
              f"{row['ratio_to_raw_loop']:.2f} | {row['max_prediction_difference']:.1e} |")
    ratio = rows[1]["ratio_to_raw_loop"]
    print(f"\nTarget: scratchnn within 1.5x the raw loop: {ratio:.2f}x -> {'met' if ratio <= 1.5 else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"epochs": args.epochs, "repeats": args.repeats, "rows": rows}, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
