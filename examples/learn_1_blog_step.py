"""Lesson 1: the blog's network, one training step, every number.

Builds the blog's 2-2-1 sigmoid network with the weights the blog draws after
np.random.seed(SEED), writes out its first training step with `sn.explain_step` (forward pass,
loss, deltas, gradients, update), checks every number against the blog's own loop, and draws
the step's layer outputs and deltas.

    python examples/learn_1_blog_step.py [--seed S] [--figures DIR]

docs/learn/1-the-blogs-network-step-by-step.md walks through its output.
"""

import argparse
import os

import numpy as np

import scratchnn as sn
from scratchnn.plot._figure import _finish, _new_figure


def blog_first_epoch(seed, learning_rate=0.1):
    """The blog's code for one epoch (np.random.seed(seed) as np.random.RandomState(seed))."""
    random = np.random.RandomState(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    weights_input_hidden = random.uniform(size=(2, 2))
    biases_hidden = np.zeros((1, 2))
    weights_hidden_output = random.uniform(size=(2, 1))
    bias_output = np.zeros((1, 1))
    hidden_layer_input = np.dot(X, weights_input_hidden) + biases_hidden
    hidden_layer_output = sigmoid(hidden_layer_input)
    output_layer_input = np.dot(hidden_layer_output, weights_hidden_output) + bias_output
    predicted_output = sigmoid(output_layer_input)
    error = y - predicted_output
    d_output = error * predicted_output * (1 - predicted_output)
    error_hidden = d_output.dot(weights_hidden_output.T)
    d_hidden = error_hidden * hidden_layer_output * (1 - hidden_layer_output)
    weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate
    bias_output += np.sum(d_output, axis=0, keepdims=True) * learning_rate
    weights_input_hidden += X.T.dot(d_hidden) * learning_rate
    biases_hidden += np.sum(d_hidden, axis=0) * learning_rate
    return {"activations": [X, hidden_layer_input, hidden_layer_output, output_layer_input, predicted_output],
            "deltas": [-d_hidden, -error_hidden, -d_output, -error],      # the blog's are −dL/d(...)
            "after": [weights_input_hidden, biases_hidden.ravel(), weights_hidden_output, bias_output.ravel()]}


def draw_step(trace, path):
    """Top row: the layer outputs a1..a4 for the 4 inputs; bottom row: their deltas δ1..δ4."""
    fig = _new_figure(figsize=(9.5, 4.4))
    axes = fig.subplots(2, 4)
    names = ["a1 = X·W0 + b0", "a2 = σ(a1)", "a3 = a2·W2 + b2", "a4 = σ(a3)"]
    for column in range(4):
        for row, (array, title, cmap) in enumerate(((trace.activations[column + 1], names[column], "viridis"),
                                                    (trace.grad_outputs[column], f"δ{column + 1} = dL/da{column + 1}",
                                                     "coolwarm"))):
            ax = axes[row, column]
            limit = np.abs(array).max()
            low, high = (-limit, limit) if row else (array.min(), array.max())
            ax.imshow(array, cmap=cmap, aspect="auto", vmin=low, vmax=high)
            for (i, j), value in np.ndenumerate(array):       # dark text on light cells
                light = row or (value - low) > 0.6 * (high - low)
                ax.text(j, i, f"{value:.4f}", ha="center", va="center", fontsize=8,
                        color="black" if light else "white")
            ax.set_title(title, fontsize=9)
            ax.set_xticks(range(array.shape[1]))
            ax.set_yticks(range(4))
            ax.set_yticklabels(["0,0", "0,1", "1,0", "1,1"] if column == 0 else [])
            ax.set_xlabel("unit", fontsize=8)
    axes[0, 0].set_ylabel("input x", fontsize=8)
    axes[1, 0].set_ylabel("input x", fontsize=8)
    fig.suptitle("The blog's first step: forward (top), backward (bottom, computed right to left)", fontsize=10)
    _finish(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the blog's np.random.seed (default 0)")
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "..", "docs", "learn",
                                                          "figures"), help="where to write the PNG")
    args = parser.parse_args()

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    net = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),      # the blog's network and
                        sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),      # weights for np.random.seed(seed)
                        seed=np.random.RandomState(args.seed), dtype=np.float64)
    trace = sn.explain_step(net, X, y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1))
    print(trace)

    blog = blog_first_epoch(args.seed)
    ours = trace.activations + trace.grad_outputs + [trace.after[name] for name in
                                                     ("0.weight", "0.bias", "2.weight", "2.bias")]
    theirs = blog["activations"] + blog["deltas"] + blog["after"]
    largest = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs))
    print(f"\nThe blog's own loop gives the same {sum(a.size for a in ours)} numbers: "
          f"largest difference {largest:.1e}")
    draw_step(trace, os.path.join(args.figures, "learn_1_first_step.png"))


if __name__ == "__main__":
    main()
