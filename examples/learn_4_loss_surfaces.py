"""Lesson 4: loss surfaces. What does the loss look like around the weights training found?

A network with n weights has a loss over an n-dimensional space; we can draw only a plane
of it. `sn.loss_surface` evaluates the loss at w + α·d1 + β·d2 on a grid of (α, β):

- around the blog's XOR network after its 10,000 epochs, in the plane its weights travelled
  in (the two principal directions of the recorded trajectory), for a seed that solves XOR
  and for one that does not;
- around the same solved network along two filter-normalized random directions (Li et al.
  2018), the picture of the minimum's basin that does not depend on the path;
- around a small Fashion-MNIST MLP, both ways.

    python examples/learn_4_loss_surfaces.py            # writes docs/learn/figures/learn_4_*.png
    python examples/learn_4_loss_surfaces.py --quick --out /tmp/figures     # a smaller run

The page docs/learn/4-loss-surfaces.md explains the figures.
"""

import argparse
import os
import time

import numpy as np

import scratchnn as sn
from scratchnn.xor import X as XOR_X, Y as XOR_Y, build_xor_net

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOLVED_SEED, STUCK_SEED = 0, 28          # the blog's setup solves XOR from seed 0, gets stuck from seed 28


def xor_surfaces(seed, epochs, resolution, figures, name):
    """Train the blog's network from `seed` with the blog's settings, recording the weights;
    draw the surface in the plane of the trajectory. Returns the net and its surface."""
    net = build_xor_net(seed, blog=True)
    recorder = sn.TrajectoryRecorder(every=max(1, epochs // 100))       # one batch an epoch: 100 points
    loss = sn.MSE(reduction="sum")                                     # the blog's ½ Σ (p − y)²
    net.fit(XOR_X, XOR_Y, loss, sn.SGD(0.1), epochs=epochs, batch_size=None, shuffle=False, verbose=0,
            callbacks=[recorder])
    surface = sn.loss_surface(net, XOR_X, XOR_Y, loss, resolution=resolution, path=recorder)
    predictions = net.predict(XOR_X).ravel()
    solved = bool(np.all(np.abs(predictions - XOR_Y.ravel()) < 0.1))
    print(f"XOR, blog's network, seed {seed}: final loss {surface.origin_loss:.4f}, predictions "
          f"{np.round(predictions, 3)}, {'solved' if solved else 'NOT solved'}; the trajectory's plane holds "
          f"{surface.explained_variance.sum():.1%} of its variance")
    sn.plot.plot_loss_surface(surface, path=os.path.join(figures, name),
                              title=f"XOR, the blog's 2-2-1 network, seed {seed} ({'solved' if solved else 'stuck'}): "
                              "the plane of its trajectory")
    return net, surface


def fashion_surfaces(rows, epochs, resolution, figures, readme_figure):
    """A 784-32-10 ReLU MLP trained briefly on `rows` Fashion-MNIST images; its surface along
    random directions and along its trajectory, on the training rows."""
    (X_train, y_train), _ = sn.datasets.load_fashion_mnist()
    chosen = np.random.default_rng(0).permutation(len(X_train))[:rows]
    X, y = X_train[chosen], y_train[chosen]
    net = sn.Sequential(sn.Dense(784, 32), sn.ReLU(), sn.Dense(32, 10), seed=0)
    recorder = sn.TrajectoryRecorder(every=max(1, epochs * (rows // 64) // 40))    # about 40 points
    history = net.fit(X, y, "cross_entropy", sn.Adam(1e-3), epochs=epochs, batch_size=64, metrics=["accuracy"],
                      callbacks=[recorder], verbose=0)
    started = time.perf_counter()
    random = sn.loss_surface(net, X, y, "cross_entropy", resolution=resolution, seed=0)
    path = sn.loss_surface(net, X, y, "cross_entropy", resolution=resolution, path=recorder)
    seconds = time.perf_counter() - started
    print(f"Fashion-MNIST MLP 784-32-10 on {rows} images, {epochs} epochs: training loss "
          f"{random.origin_loss:.3f}, accuracy {history.history['accuracy'][-1]:.3f}; two {resolution}x"
          f"{resolution} surfaces in {seconds:.1f} s")
    print(f"  along random directions: loss {random.values.min():.3f} to {random.values.max():.3f}; "
          f"the trajectory's plane holds {path.explained_variance.sum():.1%} of its variance")
    sn.plot.plot_loss_surface(random, path=os.path.join(figures, "learn_4_fashion_random.png"),
                              title="Fashion-MNIST MLP: two filter-normalized random directions")
    sn.plot.plot_loss_surface(path, path=os.path.join(figures, "learn_4_fashion_trajectory.png"),
                              title="Fashion-MNIST MLP: the plane of its trajectory (Adam, mini-batches)")
    sn.plot.plot_loss_surface(path, path=readme_figure,
                              title="A Fashion-MNIST MLP's loss surface and its training trajectory")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, coarser grids (for the tests)")
    parser.add_argument("--out", help="write every figure into this folder (default: the docs' folders)")
    args = parser.parse_args()
    figures = args.out or os.path.join(ROOT, "docs", "learn", "figures")
    readme_figure = os.path.join(args.out or os.path.join(ROOT, "docs", "figures"), "loss_surface.png")
    os.makedirs(figures, exist_ok=True)
    xor_epochs, resolution, rows, epochs = (1000, 11, 300, 1) if args.quick else (10_000, 41, 1000, 4)

    solved, _ = xor_surfaces(SOLVED_SEED, xor_epochs, resolution, figures, "learn_4_xor_trajectory.png")
    xor_surfaces(STUCK_SEED, xor_epochs, resolution, figures, "learn_4_xor_stuck.png")
    # the solved network along random directions: how wide is the valley it found?
    random = sn.loss_surface(solved, XOR_X, XOR_Y, sn.MSE(reduction="sum"), resolution=resolution, seed=0)
    centre = resolution // 2
    print(f"XOR seed {SOLVED_SEED} along random directions: loss {random.values[centre, centre]:.4f} at the "
          f"weights, up to {random.values.max():.3f} at the grid's edge (α, β = ±1)")
    sn.plot.plot_loss_surface(random, path=os.path.join(figures, "learn_4_xor_random.png"),
                              title=f"XOR, seed {SOLVED_SEED}: two filter-normalized random directions")
    fashion_surfaces(rows, epochs, 21 if not args.quick else resolution, figures, readme_figure)
    print(f"Figures: {figures}")


if __name__ == "__main__":
    main()
