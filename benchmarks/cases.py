"""One benchmark case in one implementation, in its own process; prints a JSON line.

    python benchmarks/cases.py IMPLEMENTATION CASE [--epochs N] [--batches N] [--threads T]

IMPLEMENTATION is scratchnn, scratchnn-threads (``fit(threads=T)``: each batch split over T
threads), torch, sklearn or matmul (NumPy's matmul rate at the case's shapes); CASE is mlp (784-256-128-10 ReLU) or cnn (two 3x3 convolutions with pooling, then
3136-128-10). Everything else (data, architecture, optimizer, batch size) is the same for all:
Fashion-MNIST, float32, softmax cross-entropy, Adam 1e-3, batch 128, shuffled each epoch.
`run.py` starts one process per (implementation, case) with the same thread count.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

BATCH = 128
LEARNING_RATE = 1e-3
MLP_SIZES = [784, 256, 128, 10]


def load_data(case):
    from scratchnn.datasets import load_fashion_mnist

    shape = "image" if case == "cnn" else "flat"
    return load_fashion_mnist(shape=shape)


def mlp_flop_per_sample():
    """Training FLOP per sample: forward 2·in·out per layer, backward twice that, minus the
    first layer's input gradient, which no implementation computes (the input needs none)."""
    pairs = list(zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    forward = sum(2 * a * b for a, b in pairs)
    return 3 * forward - 2 * pairs[0][0] * pairs[0][1]


def cnn_flop_per_sample():
    conv1 = 2 * 28 * 28 * 32 * 1 * 9
    conv2 = 2 * 14 * 14 * 64 * 32 * 9
    dense = 2 * (3136 * 128 + 128 * 10)
    return 3 * (conv1 + conv2 + dense) - conv1      # no input gradient for the first layer


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def inference_timings(predict, X_test):
    """Median latency of one-row predictions, and rows per second on 10,000 rows."""
    single = X_test[:1]
    for _ in range(20):
        predict(single)
    latencies = []
    for i in range(300):
        row = X_test[i:i + 1]
        start = time.perf_counter()
        predict(row)
        latencies.append(time.perf_counter() - start)
    block = X_test[:10_000]
    predict(block)
    best = min(_time(lambda: predict(block)) for _ in range(5))
    return {"latency_batch1_ms": statistics.median(latencies) * 1e3,
            "throughput_batch10000_rows_per_s": len(block) / best}


def _time(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# --- scratchnn --------------------------------------------------------------------------

def scratchnn_run(case, data, epochs, batches, threads=None):
    """scratchnn's Sequential.fit; ``threads``: fit's own option (each batch split over that
    many threads, one replica of the network each), None for the default single fit thread."""
    import scratchnn as sn

    (X, y), (X_test, y_test) = data
    if case == "mlp":
        net = sn.Sequential(sn.Dense(784, 256), sn.ReLU(), sn.Dense(256, 128), sn.ReLU(),
                            sn.Dense(128, 10), seed=0)
    else:
        net = sn.Sequential(sn.Conv2D(1, 32, 3, padding=1), sn.ReLU(), sn.MaxPool2D(2),
                            sn.Conv2D(32, 64, 3, padding=1), sn.ReLU(), sn.MaxPool2D(2),
                            sn.Flatten(), sn.Dense(3136, 128), sn.ReLU(), sn.Dense(128, 10), seed=0)
    if batches:
        X, y = X[:batches * BATCH], y[:batches * BATCH]
    optimizer, loss = sn.Adam(LEARNING_RATE), sn.CrossEntropy()
    seconds = []

    class EpochTimer(sn.Callback):        # one fit call, as a user makes it; time each epoch
        def on_epoch_begin(self, training, epoch):
            self.start = time.perf_counter()

        def on_epoch_end(self, training, epoch, logs):
            seconds.append(time.perf_counter() - self.start)

    net.fit(X, y, loss=loss, optimizer=optimizer, epochs=epochs, batch_size=BATCH, verbose=0,
            callbacks=[EpochTimer()], threads=threads)
    accuracy = float(np.mean(net.predict(X_test, batch_size=500).argmax(axis=1) == y_test))
    return seconds, accuracy, lambda rows: net.predict(rows)


# --- PyTorch ------------------------------------------------------------------------------

def torch_run(case, data, epochs, batches):
    import torch

    (X, y), (X_test, y_test) = data
    torch.manual_seed(0)
    nn = torch.nn
    if case == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    if batches:
        X, y = X[:batches * BATCH], y[:batches * BATCH]
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_function = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X)))
        for begin in range(0, len(X), BATCH):
            rows = order[begin:begin + BATCH]
            optimizer.zero_grad()
            loss = loss_function(model(inputs[rows]), targets[rows])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    model.eval()

    def predict(rows):
        with torch.no_grad():
            return model(torch.from_numpy(rows)).numpy()

    accuracy = float(np.mean(predict(X_test).argmax(axis=1) == y_test))
    return seconds, accuracy, predict


# --- scikit-learn ---------------------------------------------------------------------------

def sklearn_run(case, data, epochs, batches):
    if case != "mlp":
        raise SystemExit("scikit-learn has no convolutional networks")
    from sklearn.neural_network import MLPClassifier

    (X, y), (X_test, y_test) = data
    if batches:
        X, y = X[:batches * BATCH], y[:batches * BATCH]
    model = MLPClassifier(hidden_layer_sizes=(256, 128), activation="relu", solver="adam", alpha=0.0,
                          batch_size=BATCH, learning_rate_init=LEARNING_RATE, shuffle=True, random_state=0)
    classes = np.arange(10)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.partial_fit(X, y, classes=classes)           # one pass over the data in batches
        seconds.append(time.perf_counter() - start)
    accuracy = float(model.score(X_test, y_test))
    return seconds, accuracy, model.predict_proba


# --- NumPy's matmul rate at the case's shapes ---------------------------------------------

def matmul_rate(case):
    """GFLOP/s of NumPy float32 matmul over the products one MLP training step does."""
    rng = np.random.default_rng(0)
    products = []
    for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        products.append(((BATCH, a), (a, b)))            # forward      x · W
        products.append(((a, BATCH), (BATCH, b)))        # weight grad  xᵀ · dy
        if a != MLP_SIZES[0]:
            products.append(((BATCH, b), (b, a)))        # input grad   dy · Wᵀ
    arrays = [(rng.random(p).astype(np.float32), rng.random(q).astype(np.float32)) for p, q in products]
    flop = sum(2 * p[0] * p[1] * q[1] for p, q in products)
    for left, right in arrays:
        left @ right
    best = min(_time(lambda: [left @ right for left, right in arrays for _ in range(20)]) for _ in range(7))
    return flop * 20 / best / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("implementation", choices=["scratchnn", "scratchnn-threads", "torch", "sklearn", "matmul"])
    parser.add_argument("case", choices=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=0, help="train on only this many batches per epoch")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    if args.implementation == "matmul":
        print(json.dumps({"gflops": matmul_rate(args.case)}))
        return
    if args.implementation == "torch":
        import torch

        torch.set_num_threads(args.threads)
    data = load_data(args.case)
    run = {"scratchnn": scratchnn_run, "torch": torch_run, "sklearn": sklearn_run,
           "scratchnn-threads": lambda *a: scratchnn_run(*a, threads=args.threads)}[args.implementation]
    seconds, accuracy, predict = run(args.case, data, args.epochs, args.batches)
    train_rss = peak_rss_mb()          # training (and the test-set accuracy) only
    n_train = args.batches * BATCH if args.batches else len(data[0][0])
    flop = (mlp_flop_per_sample() if args.case == "mlp" else cnn_flop_per_sample()) * n_train
    result = {"seconds_per_epoch": seconds, "accuracy": accuracy, "train_rows": n_train,
              "flop_per_epoch": flop, **inference_timings(predict, data[1][0]), "peak_rss_mb": peak_rss_mb(),
              "peak_rss_train_mb": train_rss}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
