"""Lesson 2: why the blog's XOR setup fails for about 1 seed in 9, and what fixes it.

The blog trains a 2-2-1 sigmoid network with U[0, 1) weights, squared error and plain
gradient descent (learning rate 0.1) for 10,000 epochs. Over seeds 0..999 it leaves 113
networks short of XOR. This script trains the seeds once per setting, each setting changing
one thing of the blog's (the initialization, the loss, the optimizer), then all three, then
the width (8 hidden units) and scratchnn's default network, and draws for each setting the histogram of its seeds' worst
error |prediction − target| (XOR is solved when every error is below 0.1).

    python examples/learn_2_why_seeds_fail.py [--seeds N] [--fit-seeds N] [--figures DIR]

The settings that change the blog's network train one `Sequential` per seed with `fit`, over
the first --fit-seeds seeds (default 200; about 0.3 s a seed and setting on one core); those
that only change its width train all --seeds seeds (default 1000) at once (`train_xor_seeds`).
docs/learn/2-why-some-seeds-fail.md shows the output of the full run and its figures.
"""

import argparse
import os
import sys
import time

import numpy as np

import scratchnn as sn
from scratchnn.plot._figure import _finish, _new_figure
from scratchnn.xor import BLOG, DEFAULT, X, Y, train_xor_seeds

SOLVED = 0.1            # XOR is solved when every prediction is within 0.1 of its target

# Each setting: the blog's network and loop with one thing (or all three) changed.
# init: Dense's initializer; loss and optimizer: made fresh for every seed.
SETTINGS = {
    "glorot": ("Glorot init", "glorot_uniform", lambda: sn.MSE(reduction="sum"),
               lambda: sn.SGD(learning_rate=BLOG["learning_rate"])),
    "he": ("He init", "he_normal", lambda: sn.MSE(reduction="sum"),
           lambda: sn.SGD(learning_rate=BLOG["learning_rate"])),
    "cross_entropy": ("cross-entropy loss", "uniform", lambda: sn.BinaryCrossEntropy(reduction="sum"),
                      lambda: sn.SGD(learning_rate=BLOG["learning_rate"])),
    "adam": ("Adam optimizer", "uniform", lambda: sn.MSE(reduction="sum"),
             lambda: sn.Adam(learning_rate=BLOG["learning_rate"])),
    "all_three": ("Glorot + cross-entropy + Adam", "glorot_uniform",
                  lambda: sn.BinaryCrossEntropy(reduction="sum"),
                  lambda: sn.Adam(learning_rate=BLOG["learning_rate"])),
}


def blog_network(seed, init="uniform"):
    """The blog's 2-2-1 sigmoid network; with init="uniform", the blog's own weights for
    np.random.seed(seed) (see scratchnn.xor.build_xor_net)."""
    return sn.Sequential(sn.Dense(2, 2, init=init), sn.Sigmoid(), sn.Dense(2, 1, init=init), sn.Sigmoid(),
                         seed=np.random.RandomState(seed), dtype=np.float64)


def train_one(seed, init, make_loss, make_optimizer, epochs=BLOG["epochs"]):
    """Train one seed's network as the blog does; return its predictions and loss curve.

    The predictions are what the blog prints: the forward pass of the last epoch, before that
    epoch's update, so `epochs - 1` epochs of training and then a prediction."""
    net = blog_network(seed, init)
    history = net.fit(X, Y, loss=make_loss(), optimizer=make_optimizer(), epochs=epochs - 1,
                      batch_size=None, shuffle=False, verbose=0, threads=1)
    return net.predict(X), history.history["loss"]


def worst_errors(predictions):
    """(S,) the largest |prediction − target| of each seed's network, predictions (S, 4, 1)."""
    return np.abs(predictions - Y).max(axis=(1, 2))


def report(title, errors, suffix=""):
    """One line: how many seeds a setting solves, how many fail close (worst error below 0.3)."""
    solved, close = int(np.sum(errors < SOLVED)), int(np.sum((errors >= SOLVED) & (errors < 0.3)))
    print(f"{title}: solves XOR from {solved} of {len(errors)} seeds; of the failures {close} close, "
          f"{len(errors) - solved - close} stuck{suffix}", flush=True)


def draw_histogram(errors, title, path):
    """The seeds' worst errors, one bar per 0.025, the solved region shaded."""
    fig = _new_figure(figsize=(5.2, 3.0))
    ax = fig.subplots()
    ax.axvspan(0, SOLVED, color="tab:green", alpha=0.15, label=f"solved (< {SOLVED})")
    ax.hist(np.clip(errors, 0, 1), bins=np.linspace(0, 1, 41), color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("worst error |prediction − target| of a seed's network")
    ax.set_ylabel("seeds")
    solved = int(np.sum(errors < SOLVED))
    ax.set_title(f"{title}: {solved} / {len(errors)} solved", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    _finish(fig, path)


def draw_loss_curves(curves, path):
    """The blog's loss (½ Σ (y − p)² over the 4 rows) against the epoch, one line per seed."""
    fig = _new_figure(figsize=(5.6, 3.2))
    ax = fig.subplots()
    for label, losses in curves.items():
        ax.plot(np.arange(1, len(losses) + 1), losses, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss ½ Σ (y − p)²")
    ax.set_title("The blog's setup: three seeds", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="train seeds 0..N-1 (default 1000)")
    parser.add_argument("--fit-seeds", type=int, default=200,
                        help="train seeds 0..N-1 one network at a time for the settings that change one thing "
                        "(default 200)")
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "..", "docs", "learn",
                                                          "figures"), help="where to write the PNGs")
    args = parser.parse_args()
    seeds = range(args.seeds)
    results = {}

    # 1. The blog's setup, all seeds at once: how many fail, and how.
    blog = train_xor_seeds(seeds, blog=True)
    results["blog"] = ("the blog's setup", worst_errors(blog.predictions))
    errors = results["blog"][1]
    report("the blog's setup", errors)
    longer = train_xor_seeds(seeds, blog=True, epochs=5 * BLOG["epochs"])
    print(f"  with 5 times the epochs ({5 * BLOG['epochs']:,}) it solves {int(longer.solved.sum())} of {args.seeds}")

    # 2. What a stuck network does: the first seed whose worst error is 2/3-ish.
    stuck_seeds = [seed for seed, error in zip(seeds, errors) if error >= 0.3]
    slow_seeds = [seed for seed, error in zip(seeds, errors) if SOLVED <= error < 0.3]   # close
    if stuck_seeds:
        seed = stuck_seeds[0]
        net = blog_network(seed)
        net.load_state_dict({name: p[seed] for name, p in zip(("0.weight", "0.bias", "2.weight", "2.bias"),
                                                              blog.parameters)})
        hidden = net.forward(X, upto=2)                       # the hidden layer's outputs h
        with np.printoptions(precision=3, suppress=True):
            print(f"A stuck network, seed {seed}: predictions {blog.predictions[seed].ravel()}")
            print(f"  its hidden units' outputs h for the inputs {X.tolist()}:\n{hidden}")

    # 3. Loss curves: a seed that is solved, one that is slow, one that is stuck.
    curves = {}
    for label, chosen in (("solved", 0), ("slow", slow_seeds[:1]), ("stuck", stuck_seeds[:1])):
        chosen = chosen if isinstance(chosen, int) else (chosen[0] if chosen else None)
        if chosen is not None:
            curves[f"seed {chosen} ({label})"] = train_one(chosen, "uniform", lambda: sn.MSE(reduction="sum"),
                                                           lambda: sn.SGD(learning_rate=BLOG["learning_rate"]))[1]
    draw_loss_curves(curves, os.path.join(args.figures, "learn_2_loss_curves.png"))

    # 4. One change at a time, then all three: one Sequential per seed, trained by fit.
    fit_seeds = range(min(args.fit_seeds, args.seeds))
    report("the blog's setup", results["blog"][1][:len(fit_seeds)])
    for name, (title, init, make_loss, make_optimizer) in SETTINGS.items():
        start = time.perf_counter()
        predictions = np.stack([train_one(seed, init, make_loss, make_optimizer)[0] for seed in fit_seeds])
        results[name] = (title, worst_errors(predictions))
        report(title, results[name][1], f" ({time.perf_counter() - start:.0f} s)")

    # 5. More hidden units, all seeds at once: the blog's setup with 8, and scratchnn's default
    #    network (8 tanh units, Glorot, Adam, cross-entropy, 300 epochs) with 8 and with 2.
    for name, title, options in (("blog_8_hidden", "the blog's setup, 8 hidden units", {"blog": True, "hidden": 8}),
                                 ("default", f"scratchnn's default ({DEFAULT['epochs']} epochs)", {}),
                                 ("default_2_hidden", "scratchnn's default, 2 hidden units", {"hidden": 2})):
        results[name] = (title, worst_errors(train_xor_seeds(seeds, **options).predictions))
        report(title, results[name][1])

    for name, (title, errors) in results.items():
        draw_histogram(errors, title, os.path.join(args.figures, f"learn_2_{name}.png"))
    print(f"figures written to {os.path.normpath(args.figures)}", file=sys.stderr)


if __name__ == "__main__":
    main()
