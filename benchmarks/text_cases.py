"""Character models on fortunes, scratchnn against PyTorch: one case in one process, a JSON line.

    python benchmarks/text_cases.py IMPLEMENTATION CASE [--steps N] [--threads T]
    python benchmarks/run.py --cases lstm,transformer [--quick]      # both, and the table

IMPLEMENTATION is scratchnn or torch; CASE is lstm or transformer, the networks `scratchnn
train text --model CASE` builds with its defaults (cli/text.py): LSTM Embedding(V, 64) ->
LSTM(64, 256) -> Dense(256, V); transformer Embedding(V, 128) -> PositionalEmbedding(64, 128)
-> 2 causal pre-norm TransformerBlock(128, 4 heads, 512) -> LayerNorm -> Dense(128, V). The
PyTorch model is `sn.to_torch` of the same scratchnn network, so both start from the same
weights. Same data (fortunes, windows of 64, shuffled once with seed 0, the same batches in the
same order), batch 64, Adam (the case's learning rate) with gradient norm clipped to 1.0,
float32, the same thread count (PyTorch's intra-op threads; scratchnn's `fit(threads=T)`, a
replica of the network per thread with one BLAS thread each, as `train text` runs on T
cores). Reported: seconds per training step (each step timed), and the validation loss on 512
held-out windows after the steps.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

FORTUNES = "/usr/share/games/fortunes"
VALIDATION_WINDOWS = 512


def load(steps):
    import scratchnn as sn
    from scratchnn.cli.text import BATCH_SIZE, SEQ_LENGTH

    data = sn.datasets.load_text(FORTUNES, seq_length=SEQ_LENGTH, seed=0)
    order = np.random.default_rng(0).permutation(len(data.X_train))[:steps * BATCH_SIZE]
    return data, data.X_train[order], data.y_train[order]


def network(case, data):
    from scratchnn.cli.text import EMBEDDING_DIM, HEADS, TEXT_DEFAULTS, build_text_network

    return build_text_network(case, len(data.vocabulary), TEXT_DEFAULTS[case]["hidden"], data.seq_length,
                              EMBEDDING_DIM, HEADS, seed=0)


def scratchnn_run(case, steps, threads):
    import scratchnn as sn
    from scratchnn.cli.text import BATCH_SIZE, CLIP_NORM, TEXT_DEFAULTS

    data, X, y = load(steps)
    net = network(case, data)
    seconds = []

    class StepTimer(sn.Callback):
        def on_epoch_begin(self, training, epoch):
            self.start = time.perf_counter()

        def on_batch_end(self, training, batch, logs):
            now = time.perf_counter()
            seconds.append(now - self.start)
            self.start = now

    history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(TEXT_DEFAULTS[case]["learning_rate"],
                                                                       clip_norm=CLIP_NORM),
                      epochs=1, batch_size=BATCH_SIZE, shuffle=False, verbose=0, callbacks=[StepTimer()], threads=threads)
    X_val, y_val = data.X_val[:VALIDATION_WINDOWS], data.y_val[:VALIDATION_WINDOWS]
    validation = net.evaluate(X_val, y_val, loss=sn.CrossEntropy(), batch_size=BATCH_SIZE)
    return seconds, history.history["loss"][0], validation


def torch_run(case, steps):
    import torch
    import scratchnn as sn
    from scratchnn.cli.text import BATCH_SIZE, CLIP_NORM, TEXT_DEFAULTS

    data, X, y = load(steps)
    model = sn.to_torch(network(case, data))
    model.train()
    inputs, targets = torch.from_numpy(X.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=TEXT_DEFAULTS[case]["learning_rate"])
    loss_function = torch.nn.CrossEntropyLoss()
    seconds, total = [], 0.0
    for begin in range(0, len(X), BATCH_SIZE):
        start = time.perf_counter()
        optimizer.zero_grad()
        logits = model(inputs[begin:begin + BATCH_SIZE])
        loss = loss_function(logits.reshape(-1, logits.shape[-1]), targets[begin:begin + BATCH_SIZE].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        total += loss.item() * len(inputs[begin:begin + BATCH_SIZE])
    model.eval()
    X_val = torch.from_numpy(data.X_val[:VALIDATION_WINDOWS].astype(np.int64))
    y_val = torch.from_numpy(data.y_val[:VALIDATION_WINDOWS].astype(np.int64))
    with torch.no_grad():
        logits = torch.cat([model(X_val[i:i + BATCH_SIZE]) for i in range(0, len(X_val), BATCH_SIZE)])
        validation = loss_function(logits.reshape(-1, logits.shape[-1]), y_val.reshape(-1)).item()
    return seconds, total / len(X), validation


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("implementation", choices=["scratchnn", "torch"])
    parser.add_argument("case", choices=["lstm", "transformer"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.implementation == "torch":
        import torch

        torch.set_num_threads(args.threads)
        seconds, train_loss, validation = torch_run(args.case, args.steps)
    else:
        seconds, train_loss, validation = scratchnn_run(args.case, args.steps, args.threads)
    print(json.dumps({"seconds_per_step": seconds, "train_loss": train_loss, "val_loss": validation,
                      "steps": args.steps}))


def run_text_case(case, quick, threads, torch_version):
    """Run the case for PyTorch and scratchnn, each in its own process with `threads` threads;
    print the table and the targets; return the rows and the targets for run.py's report."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    steps = 20 if quick else 200
    rows = []
    for implementation in ("torch", "scratchnn"):
        command = [sys.executable, os.path.abspath(__file__), implementation, case, "--steps", str(steps),
                   "--threads", str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{implementation} {case} failed:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        times = result["seconds_per_step"]
        result["median_s"] = statistics.median(times[1:] or times)          # step 1 warms up
        result["name"] = f"PyTorch {torch_version} eager" if implementation == "torch" else "scratchnn"
        rows.append(result)
    torch, ours = rows
    ours["ratio_to_torch"], torch["ratio_to_torch"] = ours["median_s"] / torch["median_s"], 1.0
    print(f"\n### {case.upper()}: seconds per training step (batch 64 x 64 characters), {steps} steps, "
          f"{threads} thread(s)\n")
    print("| implementation | median s/step | min–max s | x PyTorch | training loss | validation loss |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in (ours, torch):
        print(f"| {r['name']} | {r['median_s']:.4f} | {min(r['seconds_per_step']):.4f}–"
              f"{max(r['seconds_per_step']):.4f} | {r['ratio_to_torch']:.2f} | {r['train_loss']:.4f} | "
              f"{r['val_loss']:.4f} |")
    checks = [("training step <= 1.0x PyTorch", ours["ratio_to_torch"] <= 1.0, f"{ours['ratio_to_torch']:.2f}x"),
              ("validation loss within 0.05 nats of PyTorch", abs(ours["val_loss"] - torch["val_loss"]) <= 0.05,
               f"{ours['val_loss'] - torch['val_loss']:+.4f}")]
    print("\nscratchnn:")
    for name, met, figure in checks:
        print(f"- {'met    ' if met else 'NOT met'} {name}: {figure}")
    return {"rows": [ours, torch], "targets": [{"implementation": "scratchnn", "target": name, "met": met,
                                                "figure": figure} for name, met, figure in checks]}


if __name__ == "__main__":
    main()
