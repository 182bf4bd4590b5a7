"""``scratchnn surface MODEL DATA --plots DIR``: a trained model's loss surface, drawn.

    scratchnn train fashion-mnist --hidden 64 --epochs 3 --out model.npz
    scratchnn surface model.npz fashion-mnist --plots runs/surface/ --resolution 31 --samples 1000

The surface is `scratchnn.loss_surface` around the model's weights, along two filter-normalized
random directions (seeded by --seed), on --samples rows drawn (seeded) from DATA's training
part: the loss the model was trained to lower. A classifier's loss is cross-entropy on its
logits (without the label smoothing `train` may have used), a regressor's is ½ squared error.
"""

import os

import numpy as np

from .data import DATA_HELP, check_data_options, load_data
from .plots import check_plotting
from .use import _check_features, is_regressor
from .._checks import positive_int, positive_number, rng_from_seed
from ..losses import MSE, CrossEntropy
from ..model import load
from ..plot import plot_loss_surface
from ..surface import loss_surface

DEFAULT_RESOLUTION = 31      # 31 x 31 = 961 evaluations: seconds for an MLP on 1,000 rows
DEFAULT_ROWS = 1000


def add_surface(commands):
    """Register the ``surface`` command on the subparsers `commands` of the main parser."""
    surface = commands.add_parser(
        "surface", help="draw a trained model's loss surface (contours and 3-D) into --plots DIR",
        description="Evaluate MODEL's loss on a grid of weights w + α·d1 + β·d2 around its own weights w, "
        "along two filter-normalized random directions d1, d2 (Li et al. 2018), on --samples rows drawn "
        "from the training part of DATA (as train splits it, with the same --seed), and write "
        "loss_surface.png into --plots DIR. A classifier's loss is cross-entropy, a regressor's ½ squared "
        "error. The model file is not changed.")
    surface.add_argument("model", metavar="MODEL", help="a model file written by train --out")
    surface.add_argument("data", metavar="DATA", help=DATA_HELP)
    surface.add_argument("--plots", metavar="DIR", required=True, help="write loss_surface.png into DIR")
    surface.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, metavar="N",
                         help=f"grid points per axis, at least 2 (default {DEFAULT_RESOLUTION}; the cost grows as N²)")
    surface.add_argument("--span", type=float, default=1.0, metavar="S",
                         help="the grid runs from -S to S along each direction (default 1.0: one filter norm)")
    surface.add_argument("--seed", type=int, default=0,
                         help="seed of the directions, of the rows drawn and of toy data (default 0)")
    surface.add_argument("--samples", type=int, default=DEFAULT_ROWS, metavar="N",
                         help=f"rows to evaluate the loss on, drawn from the training part (default {DEFAULT_ROWS})")
    surface.add_argument("--target", metavar="NAME_OR_INDEX",
                         help="CSV files: the target column, by name or index (default: the last)")
    surface.add_argument("--noise", type=float, metavar="STD",
                         help="toy sets: the noise the model was trained with (default 0.1)")
    surface.set_defaults(run=run_surface)


def run_surface(args):
    resolution = positive_int("--resolution", args.resolution)
    if resolution < 2:
        raise ValueError(f"--resolution must be at least 2 (points per axis), got {resolution}")
    span = positive_number("--span", args.span)
    rows = positive_int("--samples", args.samples)
    rng = rng_from_seed(args.seed, name="--seed")
    check_data_options(args.data, args.target, None, args.noise)
    check_plotting(args.plots)
    net = load(args.model)
    regressor = is_regressor(net)
    data = load_data(args.data, args.target, args.seed, None, args.noise, classes=net.classes,
                     task="regression" if regressor else "classification")
    _check_features(args.data, args.model, net, data.X_train)
    chosen = np.sort(rng.permutation(len(data.X_train))[:rows])
    X, y = data.X_train[chosen], data.y_train[chosen]
    loss = MSE() if regressor else CrossEntropy()
    surface = loss_surface(net, X, y, loss, resolution=resolution, span=span, seed=rng, verbose=1)
    path = os.path.join(args.plots, "loss_surface.png")
    title = f"{os.path.basename(args.model)} on {len(X):,} rows of {data.name}"
    plot_loss_surface(surface, path=path, title=title)
    lowest = np.unravel_index(np.nanargmin(np.where(np.isfinite(surface.values), surface.values, np.nan)),
                              surface.values.shape)
    print(f"{data.name}: {len(X):,} training rows, {resolution}x{resolution} grid, span {span:g}")
    print(f"Loss at the model's weights: {surface.origin_loss:.4g}")
    print(f"Lowest on the grid: {surface.values[lowest]:.4g} at alpha={surface.alphas[lowest[0]]:.3g}, "
          f"beta={surface.betas[lowest[1]]:.3g}")
    print(f"Plots: {path}")
    return 0
