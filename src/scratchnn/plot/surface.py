"""The loss surface of `scratchnn.loss_surface`: a contour map and a 3-D view, side by side."""

import numpy as np

from .._checks import describe
from ._figure import _finish, _new_figure, _require

__all__ = ["plot_loss_surface"]

LOG_DECADES = 1.0     # values spanning more than this many decades get log-spaced levels and a log10 z axis


def plot_loss_surface(surface, trajectory=None, path=None, title=None, levels=20):
    """Draw a loss surface: filled contours with the weights' position and a trajectory on the
    left, the surface in 3-D on the right. Returns the Figure; writes a PNG to `path` if given.

    `surface` is what `scratchnn.loss_surface` returns, or any object with ``alphas`` (m,),
    ``betas`` (n,) and ``values`` (m, n), ``values[i, j]`` at (alphas[i], betas[j]).
    ``trajectory`` is an (n_points, 2) array of (α, β) coordinates drawn over the contours,
    first point to last; None draws ``surface.trajectory`` when it has one. A loss spanning
    more than one decade gets log-spaced contour levels and a log10 vertical axis (low basins
    stay visible next to steep walls); values that are not finite (an overflowing loss) are
    drawn as the largest finite one. The cross marks the centre weights, (0, 0); ``levels`` is
    the number of contour levels.

    >>> surface = sn.loss_surface(net, X, y, "mse", resolution=31)
    >>> fig = plot_loss_surface(surface, path="loss_surface.png")
    """
    alphas, betas, values = _surface_arrays(surface)
    if trajectory is None:
        trajectory = getattr(surface, "trajectory", None)
    if trajectory is not None:
        try:
            trajectory = np.asarray(trajectory, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"trajectory must be an array of (alpha, beta) points, shape (n_points, 2), "
                            f"got {describe(trajectory)}") from None
        if trajectory.ndim != 2 or trajectory.shape[1] != 2 or len(trajectory) < 1:
            raise ValueError(f"trajectory must be an array of (alpha, beta) points, shape (n_points, 2), "
                             f"got shape {trajectory.shape}")
    colors = _require("matplotlib.colors")

    shown = np.where(np.isfinite(values), values, np.nanmax(np.where(np.isfinite(values), values, np.nan)))
    low, high = float(shown.min()), float(shown.max())
    use_log = low > 0 and np.log10(high / low) > LOG_DECADES
    if high == low:
        contour_levels, norm = np.linspace(low - 0.5, high + 0.5, 3), None
    elif use_log:
        contour_levels, norm = np.geomspace(low, high, levels), colors.LogNorm(low, high)
    else:
        contour_levels, norm = np.linspace(low, high, levels), None

    fig = _new_figure(figsize=(11.5, 4.8))
    grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")        # values[i, j] at (alphas[i], betas[j])
    flat = fig.add_subplot(1, 2, 1)
    filled = flat.contourf(grid_a, grid_b, shown, levels=contour_levels, norm=norm, cmap="viridis")
    flat.contour(grid_a, grid_b, shown, levels=contour_levels[::3], colors="white", linewidths=0.5, alpha=0.6)
    fig.colorbar(filled, ax=flat, label="loss", format="%.3g")
    if trajectory is not None:
        flat.plot(trajectory[:, 0], trajectory[:, 1], color="white", linewidth=1.4, marker="o", markersize=2.5,
                  label="trajectory")
        flat.plot(trajectory[:1, 0], trajectory[:1, 1], marker="o", color="orange", markersize=7,
                  linestyle="none", label="start")
    flat.plot([0], [0], marker="x", color="red", markersize=9, mew=2, linestyle="none", label="weights")
    flat.set_xlim(alphas[0], alphas[-1])
    flat.set_ylim(betas[0], betas[-1])
    flat.set_xlabel("α (direction 1)")
    flat.set_ylabel("β (direction 2)")
    flat.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, facecolor="0.6")  # off the map
    flat.set_title("contours" + (" (log-spaced levels)" if use_log else ""))

    solid = fig.add_subplot(1, 2, 2, projection="3d")
    heights = np.log10(shown) if use_log else shown
    # without antialiasing the facets' edges stay invisible at this size, and the PNG is half as large
    solid.plot_surface(grid_a, grid_b, heights, cmap="viridis", linewidth=0, antialiased=False, rcount=50, ccount=50)
    for axis in (solid.xaxis, solid.yaxis, solid.zaxis):
        axis.set_major_locator(_require("matplotlib.ticker").MaxNLocator(5))
    solid.set_box_aspect(None, zoom=0.85)                   # leaves room for the z label
    solid.set_xlabel("α")
    solid.set_ylabel("β")
    solid.set_zlabel("log10 loss" if use_log else "loss", labelpad=10)
    solid.view_init(elev=35, azim=-60)
    solid.set_title("surface")
    if title is not None:
        fig.suptitle(title)
    return _finish(fig, path)


def _surface_arrays(surface):
    """alphas (m,), betas (n,), values (m, n) of a surface, checked."""
    try:
        alphas, betas, values = surface.alphas, surface.betas, surface.values
    except AttributeError:
        raise TypeError(f"surface must be what scratchnn.loss_surface returns (alphas, betas, values), "
                        f"got {describe(surface)}") from None
    alphas, betas = np.asarray(alphas, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if alphas.ndim != 1 or betas.ndim != 1 or len(alphas) < 2 or len(betas) < 2 \
            or values.shape != (len(alphas), len(betas)):
        raise ValueError(f"surface needs alphas (m,), betas (n,) with m, n >= 2 and values (m, n), got shapes "
                         f"{alphas.shape}, {betas.shape} and {values.shape}")
    if not np.isfinite(values).any():
        raise ValueError("surface.values holds no finite value: nothing to draw")
    return alphas, betas, values
