"""Plots that teach: training curves, decision boundaries, confusion matrices, images, weights.

Every function takes plain data (dicts, arrays, a `predict` callable), so it works with any
model, and returns a matplotlib `Figure`; given `path`, it also writes a PNG there.
matplotlib is optional (``pip install scratchnn[plot]``) and is imported only when a plot
is drawn. Figures are drawn with the Agg backend directly, never through pyplot, so no
window opens and no global state changes.

- `history`: `plot_history`, the curves of a `History`;
- `boundary`: `plot_decision_boundary` and `animate_decision_boundary`, for 2-D inputs;
- `images`: `plot_confusion_matrix`, `plot_misclassified`, `plot_samples`,
  `plot_first_layer_weights`;
- `gradients`: `plot_gradient_stats`, how fast each layer learns (`scratchnn.GradientStats`);
- `network`: `draw_network`, units and weights (and gradients) as a Graphviz DOT graph.
- `surface`: `plot_loss_surface`, contours and a 3-D view of `scratchnn.loss_surface`.

>>> from scratchnn.plot import plot_history
>>> fig = plot_history({"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.4]}, path="loss.png")
"""

from .boundary import animate_decision_boundary, plot_decision_boundary
from .gradients import plot_gradient_stats
from .history import plot_history
from .images import plot_confusion_matrix, plot_first_layer_weights, plot_misclassified, plot_samples
from .network import draw_network
from .surface import plot_loss_surface

__all__ = [
    "plot_history",
    "plot_decision_boundary",
    "animate_decision_boundary",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_first_layer_weights",
    "plot_samples",
    "plot_gradient_stats",
    "draw_network",
    "plot_loss_surface",
]
