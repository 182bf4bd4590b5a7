"""scikit-learn's MLPClassifier against scratchnn.sklearn.MLPClassifier, same data, same settings.

    python benchmarks/sklearn_compare.py                  # digits, breast cancer, Fashion-MNIST
    python benchmarks/sklearn_compare.py --quick          # Fashion-MNIST on 10,000 rows, 1 repeat
    python benchmarks/sklearn_compare.py --threads 1        # BLAS on one core (a busy machine)
    python benchmarks/sklearn_compare.py --json benchmarks/results/sklearn.json

Both estimators get the same arrays and the same hidden_layer_sizes, solver (adam),
learning_rate_init, batch_size, max_iter, alpha, tol and random_state; digits and breast
cancer are scaled with StandardScaler fitted on the training part. The fits of the two
libraries alternate, `--repeats` times each, in one process with the same BLAS threads; the
table gives test accuracy and the median fit time (min–max over the repeats), and the
ratio scratchnn / scikit-learn. Other programs running on the machine make the times noisy:
compare the mins as well. Prints a Markdown table.

scratchnn computes in the data's dtype, as scikit-learn does: float64 for the scaled small
sets, float32 for Fashion-MNIST, which then runs once more in float64. With the same
random_state both start from the same weights and shuffle alike, so in float64 the two give
the same numbers to rounding; in float32 their rounding differs (BLAS, summation order) and
runs drift apart as two seeds would, hence the accuracy averaged over ``--seeds`` seeds.
"""

import argparse
import functools
import json
import platform
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.preprocessing import StandardScaler

from scratchnn.sklearn import MLPClassifier as OurMLP

SMALL = dict(hidden_layer_sizes=(100,), solver="adam", learning_rate_init=1e-3, batch_size=200,
             max_iter=200, alpha=1e-4, random_state=0)
FASHION = dict(hidden_layer_sizes=(256, 128), solver="adam", learning_rate_init=1e-3, batch_size=128,
               max_iter=5, alpha=1e-4, random_state=0)


def scaled_split(loader):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return (scaler.transform(X_train), y_train), (scaler.transform(X_test), y_test)


def fashion(rows):
    from scratchnn.datasets import load_fashion_mnist

    (X_train, y_train), test = load_fashion_mnist()        # float32 in [0, 1]
    return (X_train[:rows], y_train[:rows]), test


def time_fit(estimator_class, settings, train, test):
    estimator = estimator_class(**settings)
    start = time.perf_counter()
    estimator.fit(*train)
    seconds = time.perf_counter() - start
    return seconds, float(estimator.score(*test)), estimator.n_iter_


def mean_accuracy(estimator_class, settings, train, test, seeds):
    return statistics.mean(estimator_class(**{**settings, "random_state": seed}).fit(*train).score(*test)
                           for seed in range(seeds))


def compare(name, data, settings, repeats, seeds=0):
    """One row: both libraries on `data` with `settings`; scratchnn computes in the data's dtype
    (scikit-learn does so by itself)."""
    train, test = data
    ScratchMLP = functools.partial(OurMLP, dtype=np.asarray(train[0]).dtype.name)
    runs = {"scikit-learn": [], "scratchnn": []}
    for _ in range(repeats):                  # alternate, so both see the same machine load
        runs["scikit-learn"].append(time_fit(SklearnMLP, settings, train, test))
        runs["scratchnn"].append(time_fit(ScratchMLP, settings, train, test))
    row = {"data": name, "train_rows": len(train[0]), "test_rows": len(test[0]),
           "dtype": str(np.asarray(train[0]).dtype), "settings": settings}
    for library, results in runs.items():
        seconds = [s for s, _, _ in results]
        row[library] = {"accuracy": results[0][1], "epochs": results[0][2], "seconds": seconds,
                        "median_s": statistics.median(seconds)}
    if seeds:                                 # one test split is small: a seed's luck is a row or two
        row["scikit-learn"]["mean_accuracy"] = mean_accuracy(SklearnMLP, settings, train, test, seeds)
        row["scratchnn"]["mean_accuracy"] = mean_accuracy(ScratchMLP, settings, train, test, seeds)
        row["seeds"] = seeds
    row["time_ratio"] = row["scratchnn"]["median_s"] / row["scikit-learn"]["median_s"]
    row["min_time_ratio"] = min(row["scratchnn"]["seconds"]) / min(row["scikit-learn"]["seconds"])
    row["per_epoch_ratio"] = (row["time_ratio"] * row["scikit-learn"]["epochs"] / row["scratchnn"]["epochs"])
    return row


def markdown(rows):
    lines = ["| data (train/test rows) | hidden, batch, epochs max | accuracy sklearn | accuracy scratchnn "
             "| Δ points | fit s sklearn | fit s scratchnn | time ratio (median; min) | epochs run sklearn / ours "
             "| per-epoch ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        sk, ours, settings = row["scikit-learn"], row["scratchnn"], row["settings"]
        spread = lambda r: f"{r['median_s']:.2f} ({min(r['seconds']):.2f}–{max(r['seconds']):.2f})"
        lines.append(
            f"| {row['data']} ({row['train_rows']:,}/{row['test_rows']:,}), {row['dtype']} "
            f"| {settings['hidden_layer_sizes']}, {settings['batch_size']}, {settings['max_iter']} "
            f"| {sk['accuracy']:.4f} | {ours['accuracy']:.4f} | {100 * (ours['accuracy'] - sk['accuracy']):+.2f} "
            f"| {spread(sk)} | {spread(ours)} | {row['time_ratio']:.2f}×; {row['min_time_ratio']:.2f}× "
            f"| {sk['epochs']} / {ours['epochs']} | {row['per_epoch_ratio']:.2f}× |")
    return "\n".join(lines)


def targets(rows):
    lines = []
    for row in rows:
        met = row["scratchnn"]["accuracy"] >= row["scikit-learn"]["accuracy"]
        lines.append(f"- accuracy >= scikit-learn on {row['data']} ({row['dtype']}): {'met' if met else 'NOT met'}")
        if "seeds" in row:
            sk, ours = row["scikit-learn"]["mean_accuracy"], row["scratchnn"]["mean_accuracy"]
            lines.append(f"  (mean over random_state 0..{row['seeds'] - 1}: scikit-learn {sk:.4f}, "
                         f"scratchnn {ours:.4f}, {'met' if ours >= sk else 'NOT met'})")
        if row["data"].startswith("Fashion") and row["dtype"] == "float32":
            met = row["time_ratio"] <= 0.5
            lines.append(f"- Fashion-MNIST fit time <= 0.5x scikit-learn's: {'met' if met else 'NOT met'} "
                         f"({row['time_ratio']:.2f}x median, {row['min_time_ratio']:.2f}x min)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="Fashion-MNIST on 10,000 rows, 1 repeat")
    parser.add_argument("--seeds", type=int, default=10,
                        help="also average the accuracy over this many random_states")
    parser.add_argument("--threads", type=int, help="limit BLAS threads for both (default: BLAS's own)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    repeats = 1 if args.quick else args.repeats
    warnings.filterwarnings("ignore", category=ConvergenceWarning)   # max_iter reached: by design here

    rows = [compare("digits", scaled_split(load_digits), SMALL, repeats, args.seeds),
            compare("breast cancer", scaled_split(load_breast_cancer), SMALL, repeats, args.seeds)]
    try:
        data = fashion(10_000 if args.quick else 60_000)
    except Exception as error:                                     # no files and no network
        print(f"Fashion-MNIST skipped: {error}")
    else:
        rows.append(compare("Fashion-MNIST", data, FASHION, repeats, args.seeds))
        if not args.quick:       # float64: the same arithmetic in both, so the same numbers to rounding
            (X_train, y_train), (X_test, y_test) = data
            data = (X_train.astype(np.float64), y_train), (X_test.astype(np.float64), y_test)
            rows.append(compare("Fashion-MNIST", data, FASHION, 1))

    import sklearn

    from threadpoolctl import threadpool_info

    threads = max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
    print(f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {platform.python_version()}, "
          f"{threads} BLAS thread(s), {repeats} repeat(s)\n")
    print(markdown(rows))
    print()
    print(targets(rows))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1, default=str)


if __name__ == "__main__":
    main()
