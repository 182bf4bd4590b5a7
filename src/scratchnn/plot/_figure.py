"""matplotlib, imported lazily, and saving: the helpers every plot shares.

matplotlib (and Pillow, for GIFs) is optional: ``pip install scratchnn[plot]``. It is
imported the first time a plot is drawn, never when `scratchnn.plot` is imported. Figures are
drawn by the Agg backend directly, never through pyplot: no window opens, no global state changes.
"""

import importlib

from .._files import write_atomically

_INSTALL_HINT = "pip install scratchnn[plot]"


def _require(module_name):
    """Import an optional plotting dependency, or explain how to install it."""
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"scratchnn.plot needs matplotlib (and Pillow for GIFs), which are not installed: "
            f"{_INSTALL_HINT}"
        ) from error


def _new_figure(figsize):
    """A Figure drawn by the Agg backend: no pyplot, no window, no global state."""
    Figure = _require("matplotlib.figure").Figure
    FigureCanvasAgg = _require("matplotlib.backends.backend_agg").FigureCanvasAgg
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _integer_locator():
    return _require("matplotlib.ticker").MaxNLocator(integer=True)


def _finish(fig, path):
    if path is not None:
        write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=100), make_parents=True)
    return fig
