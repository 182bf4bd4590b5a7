"""scratchnn against PyTorch and scikit-learn, same work, same machine, same run.

    python benchmarks/run.py                 # MLP (3 epochs) and CNN (2 epochs)
    python benchmarks/run.py --quick         # a few minutes: fewer epochs, CNN on 100 batches
    python benchmarks/run.py --cases mlp --json benchmarks/results/mlp.json

Each (implementation, case) runs in its own process (benchmarks/cases.py) with the same data,
architecture, optimizer, batch size and thread count. The table gives the median and spread
of seconds per epoch, the ratio to PyTorch, test accuracy, the share of the matmul floor
reached (training FLOP / NumPy's measured float32 matmul rate at the MLP's shapes, divided by
the epoch time), batch-1 latency, batch-10,000 throughput and peak RSS. The peers are optional:
``pip install torch==2.13.0 scikit-learn``; a missing one is skipped.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from text_cases import run_text_case  # noqa: E402  (a sibling script)


def run_case(implementation, case, epochs, batches, threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, os.path.join(HERE, "cases.py"), implementation, case,
               "--epochs", str(epochs), "--batches", str(batches), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{implementation} {case} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def available(implementation):
    module = {"scratchnn": "numpy", "scratchnn-threads": "threadpoolctl", "torch": "torch",
              "sklearn": "sklearn"}[implementation]
    return importlib.util.find_spec(module) is not None


def torch_version():
    import torch

    return torch.__version__


def row_for(name, result, reference, gflops):
    seconds = result["seconds_per_epoch"]
    median = statistics.median(seconds)
    floor = result["flop_per_epoch"] / (gflops * 1e9)
    ratio = median / statistics.median(reference["seconds_per_epoch"]) if reference else float("nan")
    return {"name": name, "median_s": median, "min_s": min(seconds), "max_s": max(seconds),
            "ratio_to_torch": ratio, "accuracy": result["accuracy"], "floor_s": floor,
            "floor_fraction": floor / median, "latency_ms": result["latency_batch1_ms"],
            "throughput": result["throughput_batch10000_rows_per_s"], "peak_rss_mb": result["peak_rss_mb"],
            "train_rss_mb": result["peak_rss_train_mb"],
            "train_rows": result["train_rows"], "gflop_per_epoch": result["flop_per_epoch"] / 1e9}


def print_table(case, rows, epochs, batches):
    scope = f"{rows[0]['train_rows']} rows ({batches} batches of 128)" if batches else "60,000 rows"
    print(f"\n### {case.upper()}: seconds per epoch over {scope}, median of {epochs}\n")
    print("| implementation | median s | min–max s | x PyTorch | test acc. | matmul floor s | "
          "share of floor | batch-1 latency ms | batch-10k rows/s | peak RSS MB (training / all) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['median_s']:.3f} | {r['min_s']:.3f}–{r['max_s']:.3f} | "
              f"{r['ratio_to_torch']:.2f} | {r['accuracy']:.4f} | {r['floor_s']:.3f} | "
              f"{r['floor_fraction']:.0%} | {r['latency_ms']:.3f} | {r['throughput']:,.0f} | "
              f"{r['train_rss_mb']:.0f} / {r['peak_rss_mb']:.0f} |")


def check_targets(case, rows):
    """Each target, for each scratchnn row (plain fit, and fit(threads=T) where it was run)."""
    torch = next((r for r in rows if r["name"].startswith("PyTorch")), None)
    if torch is None:
        print("\n(no PyTorch: targets not checked)")
        return []
    limit, floor_share = (0.7, 0.5) if case == "mlp" else (1.0, 0.4)
    results = []
    for ours in (r for r in rows if r["name"].startswith("scratchnn")):
        checks = [
            (f"epoch time <= {limit}x PyTorch", ours["ratio_to_torch"] <= limit, f"{ours['ratio_to_torch']:.2f}x"),
            (f">= {floor_share:.0%} of the matmul floor", ours["floor_fraction"] >= floor_share,
             f"{ours['floor_fraction']:.0%}"),
            ("test accuracy within 0.5 points of PyTorch", abs(ours["accuracy"] - torch["accuracy"]) <= 0.005,
             f"{100 * (ours['accuracy'] - torch['accuracy']):+.2f} points"),
            ("batch-1 latency <= PyTorch", ours["latency_ms"] <= torch["latency_ms"],
             f"{ours['latency_ms']:.3f} vs {torch['latency_ms']:.3f} ms"),
            ("batch-10k throughput >= PyTorch", ours["throughput"] >= torch["throughput"],
             f"{ours['throughput']:,.0f} vs {torch['throughput']:,.0f} rows/s"),
            ("peak RSS <= PyTorch", ours["peak_rss_mb"] <= torch["peak_rss_mb"],
             f"{ours['peak_rss_mb']:.0f} vs {torch['peak_rss_mb']:.0f} MB"),
        ]
        if case == "cnn":
            checks.append(("training within 2 GB peak RSS", ours["train_rss_mb"] <= 2048,
                           f"{ours['train_rss_mb']:.0f} MB"))
        print(f"\n{ours['name']}:")
        for name, met, figure in checks:
            print(f"- {'met    ' if met else 'NOT met'} {name}: {figure}")
        results += [{"implementation": ours["name"], "target": name, "met": met, "figure": figure}
                    for name, met, figure in checks]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs; CNN on 100 batches")
    parser.add_argument("--cases", default="mlp,cnn", help="comma list of mlp, cnn, lstm, transformer")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    args = parser.parse_args(argv)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    gflops = run_case("matmul", "mlp", 1, 0, args.threads)["gflops"]
    print(f"NumPy float32 matmul at the MLP's batch-128 shapes: {gflops:.0f} GFLOP/s")
    report = {"threads": args.threads, "matmul_gflops": gflops, "cases": {}}
    for case in args.cases.split(","):
        if case in ("lstm", "transformer"):     # character models on fortunes: benchmarks/text_cases.py
            report["cases"][case] = run_text_case(case, args.quick, args.threads, torch_version())
            continue
        epochs = (2 if args.quick else 3) if case == "mlp" else (1 if args.quick else 2)
        batches = 100 if (args.quick and case == "cnn") else 0
        rows, reference = [], None
        implementations = ["torch", "scratchnn"] + (["sklearn"] if case == "mlp" else ["scratchnn-threads"])
        for implementation in implementations:
            if not available(implementation):
                print(f"({implementation} not installed: skipped)")
                continue
            result = run_case(implementation, case, epochs, batches, args.threads)
            if implementation == "torch":
                reference = result
            name = {"torch": f"PyTorch {torch_version()} eager", "scratchnn": "scratchnn",
                    "scratchnn-threads": f"scratchnn, fit(threads={args.threads})",
                    "sklearn": "scikit-learn MLPClassifier"}[implementation]
            rows.append(row_for(name, result, reference, gflops))
        rows.sort(key=lambda r: not r["name"].startswith("scratchnn"))
        print_table(case, rows, epochs, batches)
        report["cases"][case] = {"rows": rows, "targets": check_targets(case, rows)}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as file:
        json.dump(report, file, indent=2)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
