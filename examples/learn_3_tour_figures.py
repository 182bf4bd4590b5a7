"""The README tour's pictures of a network and of its gradients, drawn by the library:

- docs/figures/network.png: the blog's XOR network (2-2-1 sigmoids, seed 0) as
  `sn.plot.draw_network` draws it with the four XOR rows: every weight an edge, blue positive,
  red negative, as thick as |w|, with its gradient dL/dw; each unit's bias and dL/db;
- docs/figures/gradient_stats.png: `sn.plot.plot_gradient_stats` of lesson 3's deep sigmoid
  network (784-30-30-30-30-10, 2,000 Fashion-MNIST images, 5 epochs of SGD), whose first
  layer learns a hundred times slower than its last.

    python examples/learn_3_tour_figures.py [--figures docs/figures]

The network drawing is rendered by Graphviz's dot when it is installed, else by matplotlib.
"""

import argparse
import os

import numpy as np

import scratchnn as sn
from scratchnn.datasets import load_fashion_mnist


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", default=os.path.join(os.path.dirname(__file__), "..", "docs", "figures"))
    args = parser.parse_args()

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    blog = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(), sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
                         seed=np.random.RandomState(0), dtype=np.float64)
    sn.plot.draw_network(blog, X, y, loss=sn.MSE(reduction="sum"), path=os.path.join(args.figures, "network.png"))

    (images, labels), _ = load_fashion_mnist()
    rows = np.random.default_rng(0).permutation(len(images))[:2000]
    layers = []
    for n_in, n_out in ((784, 30), (30, 30), (30, 30), (30, 30)):
        layers += [sn.Dense(n_in, n_out), sn.Sigmoid()]
    deep = sn.Sequential(*layers, sn.Dense(30, 10), seed=0)
    history = deep.fit(images[rows], labels[rows], loss=sn.CrossEntropy(), optimizer=sn.SGD(0.1), epochs=5,
                       batch_size=10, callbacks=[sn.GradientStats()], verbose=0)
    sn.plot.plot_gradient_stats(history, path=os.path.join(args.figures, "gradient_stats.png"),
                                title="784-30-30-30-30-10 sigmoids on Fashion-MNIST: each layer learns at its own speed")
    print(f"figures: network.png, gradient_stats.png in {os.path.normpath(args.figures)}")


if __name__ == "__main__":
    main()
