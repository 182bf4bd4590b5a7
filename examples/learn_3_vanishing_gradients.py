"""Lesson 3: vanishing gradients, seen (Nielsen, "Neural Networks and Deep Learning", ch. 5).

A deep network of sigmoids, 784-30-30-30-30-10, trained on Fashion-MNIST by plain SGD: its
first layer gets a gradient about a hundred times smaller than its last, so it barely learns.
The same network with ReLU units and He initialization gets gradients of the same size in
every layer, and learns. `sn.GradientStats` records each layer's ||dL/dW|| and ||ΔW|| / ||W||
during training; `sn.plot.plot_gradient_stats` draws them. Run it:

    python examples/learn_3_vanishing_gradients.py [--rows 2000] [--epochs 5] [--seed 0]
                                                   [--figures docs/learn/figures]

It prints, for each network, each layer's gradient norm in the first epoch and the ratio of
the first layer's to the last layer's, and writes learn_3_sigmoid.png, learn_3_relu.png and
learn_3_speed.png into --figures (docs/learn/3-vanishing-gradients.md shows them).
"""

import argparse
import os

import numpy as np

import scratchnn as sn
from scratchnn.datasets import load_fashion_mnist

SIZES = [784, 30, 30, 30, 30, 10]        # Nielsen's deepest network, four hidden layers of 30


def deep_network(activation, init, seed):
    """784-30-30-30-30-10: a Dense layer then `activation` for each hidden layer; logits out."""
    layers = []
    for index, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(sn.Dense(n_in, n_out, init=init))
        if index < len(SIZES) - 2:
            layers.append(activation())
    return sn.Sequential(*layers, seed=seed)


def train(activation, init, X, y, epochs, seed):
    """Nielsen's setup: plain SGD, learning rate 0.1, mini-batches of 10; GradientStats per epoch."""
    net = deep_network(activation, init, seed)
    history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.SGD(0.1), epochs=epochs, batch_size=10,
                      metrics=["accuracy"], callbacks=[sn.GradientStats()], verbose=0)
    return history.history


def weight_names(history):
    """"0.weight", "2.weight", ...: each Dense layer's weight, first to last."""
    return [key.split("/", 1)[1] for key in history if key.startswith("grad_norm/") and key.endswith(".weight")]


def speed_figure(histories, path):
    """Bars: each layer's gradient norm in the first epoch, one colour per network, log scale."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.38
    for offset, (label, history) in zip((-width / 2, width / 2), histories.items()):
        names = weight_names(history)
        norms = [history[f"grad_norm/{name}"][0] for name in names]
        ax.bar(np.arange(len(names)) + offset, norms, width, label=label)
    ax.set_xticks(np.arange(len(names)), [f"layer {i + 1}\n({name})" for i, name in enumerate(names)])
    ax.set_yscale("log")
    ax.set_ylabel("||dL/dW||, mean over epoch 1")
    ax.set_title("How strongly the loss pulls on each layer's weights")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="training images (default 2000)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "..", "docs", "learn", "figures"))
    args = parser.parse_args()

    (X, y), _ = load_fashion_mnist()
    rows = np.random.default_rng(args.seed).permutation(len(X))[:args.rows]
    X, y = X[rows], y[rows]
    histories = {"sigmoid, Glorot init": train(sn.Sigmoid, "glorot_uniform", X, y, args.epochs, args.seed),
                 "ReLU, He init": train(sn.ReLU, "he_normal", X, y, args.epochs, args.seed)}

    for label, history in histories.items():
        names = weight_names(history)
        norms = [history[f"grad_norm/{name}"][0] for name in names]
        print(f"{label}: gradient norm per layer in epoch 1: " + ", ".join(f"{n:.3g}" for n in norms))
        print(f"{label}: first / last layer gradient norm: {norms[0] / norms[-1]:.3g}")
        print(f"{label}: accuracy after {args.epochs} epochs on the training rows: {history['accuracy'][-1]:.3f}")

    os.makedirs(args.figures, exist_ok=True)
    for (label, history), name in zip(histories.items(), ("sigmoid", "relu")):
        sn.plot.plot_gradient_stats(history, stats=["grad_norm", "update_ratio"], title=label,
                                    path=os.path.join(args.figures, f"learn_3_{name}.png"))
    speed_figure(histories, os.path.join(args.figures, "learn_3_speed.png"))
    print(f"figures: learn_3_sigmoid.png, learn_3_relu.png, learn_3_speed.png in {os.path.normpath(args.figures)}")


if __name__ == "__main__":
    main()
