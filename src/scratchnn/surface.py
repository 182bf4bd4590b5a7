"""The loss surface around a network's weights: L(w + α·d1 + β·d2) on a grid of (α, β).

Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets") make such pictures
comparable between networks with *filter-normalized* random directions: a random direction d
is drawn with the shape of the weights, then rescaled, output unit by output unit, to the
norm of that unit's weights, so that a step α = 1 changes every unit by as much as it weighs.
A second way to choose the plane is the two principal directions (PCA) of a trajectory
recorded while training (`TrajectoryRecorder`): the plane the weights travelled in most.

>>> recorder = TrajectoryRecorder()
>>> net.fit(X, y, loss="mse", optimizer="adam", epochs=50, callbacks=[recorder], verbose=0)
>>> surface = loss_surface(net, X, y, "mse", path=recorder)     # around the final weights
>>> surface.values[i, j]          # the loss at w + alphas[i]·d1 + betas[j]·d2
>>> surface.trajectory           # the recorded weights, projected on (d1, d2)

The weights are moved through the network's one flat parameter buffer
(`scratchnn.nn.base.gather_parameters`) and put back bit for bit afterwards, also when an
exception (Ctrl-C included) stops the grid halfway.
"""

import sys
import time
from dataclasses import dataclass

import numpy as np

from ._checks import describe, positive_int, positive_number, rng_from_seed
from .losses import get_loss
from .model import Sequential
from .nn.base import flat_slices
from .nn.core import Dense
from .training import Callback

__all__ = ["LossSurface", "TrajectoryRecorder", "loss_surface", "random_directions"]


@dataclass
class LossSurface:
    """What `loss_surface` computes.

    - ``alphas`` (resolution,), ``betas`` (resolution,): the grid's coordinates;
    - ``values`` (resolution, resolution): ``values[i, j]`` is the mean loss at
      w + alphas[i]·d1 + betas[j]·d2 (inf or nan where the loss overflows, far out);
    - ``directions`` (2, n_parameters), float64: d1 and d2 over the flat parameter vector
      (in `Sequential.parameters` order);
    - ``origin_loss``: the loss at the current weights w (what ``net.evaluate`` gives);
    - ``trajectory`` (n_points, 2) or None: a recorded path's points, as (α, β) coordinates
      of (point - w) on (d1, d2);
    - ``explained_variance`` (2,) or None: the share of the path's variance along d1 and d2;
    - ``method``: "random" (filter-normalized directions) or "pca" (a path's principal ones).
    """

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    directions: np.ndarray
    origin_loss: float
    trajectory: np.ndarray = None
    explained_variance: np.ndarray = None
    method: str = "random"


class TrajectoryRecorder(Callback):
    """Record the weights during `fit`, for ``loss_surface(..., path=recorder)``.

    Keeps a copy of the flat parameter vector when training begins (unless it already holds
    points: a second `fit` continues the path), then after every epoch, or after every
    ``every`` batches (counted across epochs) when ``every`` is given. ``points`` is the list
    of copies; ``path`` stacks them into an array of shape (n_points, n_parameters).
    A checkpoint keeps the points, so a resumed run continues its path.

    Memory: one copy of the weights per point (an MLP with 50,000 weights for 30 epochs:
    31 copies, 6 MB in float32).
    """

    def __init__(self, every=None):
        self.every = positive_int("every", every, allow_none=True)
        self.points = []
        self._batches = 0

    @property
    def path(self):
        """The recorded points as an array of shape (n_points, n_parameters)."""
        if not self.points:
            raise ValueError("TrajectoryRecorder has recorded nothing yet: pass it to fit(callbacks=[...])")
        return np.stack(self.points)

    def _record(self, training):
        self.points.append(training.model.flat_parameter.value.copy())

    def on_train_begin(self, training):
        if not self.points:
            self._record(training)

    def on_batch_end(self, training, batch, logs):
        self._batches += 1
        if self.every is not None and self._batches % self.every == 0:
            self._record(training)

    def on_epoch_end(self, training, epoch, logs):
        if self.every is None:
            self._record(training)

    def get_arrays(self):
        return {"points": self.path} if self.points else {}

    def set_arrays(self, arrays):
        if "points" in arrays:
            self.points = list(np.asarray(arrays["points"]))


def loss_surface(net, X, y, loss=None, resolution=41, span=1.0, seed=0, path=None, batch_size=None, verbose=0):
    """The mean loss on (X, y) over a plane of weights through the network's current weights w.

    Without ``path``: d1, d2 are filter-normalized random directions (`random_directions`,
    drawn from ``seed`` by the library's seed rule), and alphas = betas =
    linspace(-span, span, resolution) (an odd resolution puts w itself at the centre).
    With ``path`` (a `TrajectoryRecorder`, or an array of flat weight vectors of shape
    (n_points, n_parameters), at least 2 points, e.g. one per epoch): d1, d2 are the two
    principal directions of the points (PCA, centred on their mean), signed so that the
    first point has negative coordinates; ``surface.trajectory`` holds the points' coordinates
    (point - w)·d, and each axis covers the trajectory's range (and 0, where w is) widened on
    both sides by span/4 of its width. ``seed`` is unused then.

    Each value is computed as `Sequential.evaluate` computes the loss: inference mode, the
    library's own loss (``loss``: an instance or a name; None: the loss of the last `fit`),
    in batches of ``batch_size`` rows (None: all at once), so the value at w equals
    ``net.evaluate(X, y, loss)``. ``verbose=1`` prints one progress line per grid row on
    stderr (rewritten in place on a terminal, about ten lines otherwise). The weights are never changed: they are put back bit for bit, also after an
    exception. Cost: resolution² forward passes over X (41² = 1681).

    Raises TypeError for a `net` that is not a `Sequential`, ValueError for a network without
    parameters, resolution < 2, span <= 0, data that do not fit the network, or a path of the
    wrong shape, with fewer than 2 points or whose points are all equal; all before any work.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a built scratchnn Sequential, got {describe(net)}")
    weights = net.flat_parameter.value
    if weights.size == 0:
        raise ValueError("net has no parameters: there is no loss surface to draw")
    if loss is None and net.loss is None:
        raise ValueError("loss_surface needs loss= (this model has not been trained with fit)")
    loss = get_loss(loss if loss is not None else net.loss)
    resolution = positive_int("resolution", resolution)
    if resolution < 2:
        raise ValueError(f"resolution must be an int >= 2 (points per axis of the grid), got {resolution}")
    span = positive_number("span", span)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    if verbose not in (0, 1):
        raise ValueError(f"verbose must be 0 or 1, got {describe(verbose)}")
    points = None if path is None else _check_path(path, weights)
    rng = rng_from_seed(seed) if points is None else None
    X, y = net.check_data(X, y, loss)
    batch_size = batch_size or len(X)

    center = weights.astype(np.float64)
    trajectory = explained = None
    if points is None:
        directions = random_directions(net, rng)
        alphas = betas = np.linspace(-span, span, resolution)
    else:
        directions, trajectory, explained = _principal_directions(points - center)
        alphas, betas = (_axis(trajectory[:, k], span, resolution) for k in (0, 1))
    origin_loss = _mean_loss(net, loss, X, y, batch_size)
    values = _grid(net, loss, X, y, batch_size, center, directions, alphas, betas, verbose)
    return LossSurface(alphas, betas, values, directions, origin_loss, trajectory, explained,
                       "random" if points is None else "pca")


def random_directions(net, seed=0):
    """Two filter-normalized random directions for `net`'s weights: an array (2, n_parameters),
    float64, laid out like the flat parameter vector.

    For every weight array a direction is drawn from N(0, 1), then each output unit's slice
    is rescaled to the norm of that unit's weights (Li et al. 2018): a Dense weight
    (in_features, out_features) column by column, any other weight of 2 or more axes (Conv2D's
    (out_channels, in_channels, kh, kw)) slice by slice along its first axis. One-axis
    parameters (biases, BatchNorm's scale and shift) get zero, as in Li et al.: the plane
    moves only the weights. Draws from ``seed`` (the library's seed rule: an int, a Generator,
    a RandomState, None), first d1 then d2, parameter by parameter in layer order.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a built scratchnn Sequential, got {describe(net)}")
    rng = rng_from_seed(seed)
    parameters = net.parameters()
    directions = np.zeros((2, sum(p.value.size for p in parameters)))
    owners = [layer for layer in net.layers for _ in layer.parameters()]
    for direction in directions:
        for layer, parameter, part in zip(owners, parameters, flat_slices(parameters)):
            weight = parameter.value.astype(np.float64)
            if weight.ndim < 2:
                continue                                     # biases, BatchNorm's γ and β: d = 0
            unit_axis = weight.ndim - 1 if isinstance(layer, Dense) else 0
            drawn = np.moveaxis(rng.normal(size=weight.shape), unit_axis, 0)    # one row per unit
            norms = np.linalg.norm(np.moveaxis(weight, unit_axis, 0).reshape(len(drawn), -1), axis=1)
            drawn_norms = np.linalg.norm(drawn.reshape(len(drawn), -1), axis=1)
            scale = norms / np.where(drawn_norms > 0, drawn_norms, 1.0)    # d_unit ← d_unit·‖w_unit‖/‖d_unit‖
            drawn *= scale.reshape(-1, *([1] * (drawn.ndim - 1)))
            direction[part] = np.moveaxis(drawn, 0, unit_axis).reshape(-1)
    return directions


def _check_path(path, weights):
    """A path (recorder or array) as a float64 array (n_points, n_parameters), checked."""
    if isinstance(path, TrajectoryRecorder):
        path = path.path
    try:
        points = np.asarray(path, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"path must be a TrajectoryRecorder or an array of flat weight vectors, "
                        f"got {describe(path)}") from None
    if points.ndim != 2 or points.shape[1] != weights.size:
        raise ValueError(f"path must have shape (n_points, {weights.size}): one flat weight vector of this "
                         f"network per row, got shape {points.shape}")
    if len(points) < 2:
        raise ValueError(f"path must hold at least 2 points to span a plane, got {len(points)}")
    if not np.all(np.isfinite(points)):
        raise ValueError("path contains NaN or infinity")
    if np.all(points == points[0]):
        raise ValueError(f"path's {len(points)} points are all equal: the weights did not move")
    return points


def _principal_directions(offsets):
    """PCA of the rows of `offsets` (points - w): the two leading directions (2, n),
    orthonormal; the rows' coordinates on them (n_points, 2); the variance shares."""
    centred = offsets - offsets.mean(axis=0)
    _, singular_values, right = np.linalg.svd(centred, full_matrices=False)   # centred = U·S·Vᵀ
    directions = right[:2].copy()
    if len(directions) < 2:               # one parameter: a line, not a plane
        raise ValueError("a path's plane needs a network with at least 2 parameters")
    coordinates = offsets @ directions.T                  # (point - w)·d for each point and d
    signs = np.where(coordinates[0] > 0, -1.0, 1.0)       # the path starts at negative coordinates
    variance = singular_values ** 2
    return directions * signs[:, None], coordinates * signs, variance[:2] / variance.sum()


def _axis(coordinates, span, resolution):
    """The grid along one axis: the coordinates' range and 0, widened by span/4 of its width."""
    low, high = min(coordinates.min(), 0.0), max(coordinates.max(), 0.0)
    width = high - low
    if width == 0:                       # the path does not move along this direction
        width = 1.0
    margin = span * width / 4
    return np.linspace(low - margin, high + margin, resolution)


def _mean_loss(net, loss, X, y, batch_size):
    """The mean loss over (X, y) in inference mode, in batches: `Sequential.evaluate`'s sum."""
    total = 0.0
    for start in range(0, len(X), batch_size):
        X_batch, y_batch = X[start:start + batch_size], y[start:start + batch_size]
        outputs = net.forward(X_batch, training=False)
        total += float(loss.forward(outputs, y_batch)) * len(X_batch)
    return total / len(X)


def _grid(net, loss, X, y, batch_size, center, directions, alphas, betas, verbose):
    """values[i, j] = loss at center + alphas[i]·d1 + betas[j]·d2; the weights put back after."""
    weights = net.flat_parameter.value            # every Parameter.value is a view of this buffer
    saved = weights.copy()
    values = np.empty((len(alphas), len(betas)))
    started = time.perf_counter()
    try:
        # far from w the loss may overflow: the value is then inf, which the plot masks
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for i, alpha in enumerate(alphas):
                row = center + alpha * directions[0]                   # w + α·d1
                for j, beta in enumerate(betas):
                    weights[...] = row + beta * directions[1]          # w + α·d1 + β·d2, in the net's dtype
                    values[i, j] = _mean_loss(net, loss, X, y, batch_size)
                if verbose:
                    _progress(i + 1, len(alphas), time.perf_counter() - started)
    finally:
        np.copyto(weights, saved)                 # bit for bit, whatever happened
    return values


def _progress(done, rows, seconds):
    """One line per grid row on a terminal (rewritten in place), else about one per tenth."""
    on_terminal = sys.stderr.isatty()
    if on_terminal or done == rows or done % max(1, rows // 10) == 0:
        print(f"loss surface: row {done}/{rows} ({seconds:.1f} s)", file=sys.stderr,
              end="\r" if on_terminal and done < rows else "\n", flush=True)
