"""Drawing a network: its units as nodes, its weights as edges, written as Graphviz DOT.

`draw_network` lays a `Sequential` out from left to right, one column per layer with
parameters (the input first), each column's parameterless layers (activations, dropout,
pooling, flatten) named under it:

- a column of at most `MAX_UNITS` units (the input's features, a Dense layer's outputs) has a
  node per unit, labelled with its bias; a Dense layer between two such columns has an edge
  per weight w[i, j] (from input unit i to output unit j), blue for w > 0, red for w < 0, from
  0.5 to 5 points thick in proportion to |w| / (the layer's largest |w|);
- a wider column, or a layer that is not Dense (Conv2D, BatchNorm), is one box showing its
  output shape, reached by one grey edge naming the layer's parameters, their shapes and norms;
- given X and y, the gradients of the loss over that batch: each weight's dL/dw on its edge,
  each bias's dL/db in its unit, each box edge's ||dL/dW||, and a last node with the loss.
  Edges carry their numbers as a label when their layer has at most `LABELLED_EDGES` of them,
  and always as a tooltip (shown on hover in SVG).

The gradients come from the network's own ``forward`` and ``backward`` (in inference mode:
dropout off, BatchNorm with its running statistics, nothing in the network changes) and the
loss; the weights are untouched and ``Parameter.grad`` is put back as it was.
"""

import os
import shutil
import subprocess

import numpy as np

from .._checks import describe, one_of
from .._files import write_atomically
from ..losses import MSE, get_loss
from ..model import Sequential
from ..nn.conv import Conv2D
from ..nn.core import Dense
from ._figure import _new_figure

__all__ = ["draw_network"]

MAX_UNITS = 16            # a column with more units is drawn as one box
LABELLED_EDGES = 12       # a layer with more weight edges shows their numbers only as tooltips
RENDER_TIMEOUT = 60       # seconds for Graphviz's dot to render
POSITIVE, NEGATIVE, ZERO, BLOCK = "#1f77b4", "#d62728", "#999999", "#555555"
FORMATS = {".dot": "dot", ".png": "png", ".svg": "svg"}
SYMBOLS = {"weight": "W", "bias": "b"}


def draw_network(net, X=None, y=None, path=None, loss=None, renderer="auto"):
    """Draw `net` as a graph of units and weights (see the module's docstring) and return it
    as Graphviz DOT text (a str).

    - `X`, `y`: a batch (both or neither): each edge then shows dL/dw over it. `loss`: an
      instance or name; None takes the loss of the network's last `fit`, else `MSE` (the
      blog's, which fits any output).
    - `path`: None (only return the text), or a file ending in ``.dot`` (the DOT text),
      ``.png`` or ``.svg`` (a picture).
    - `renderer`, for pictures: "dot" (Graphviz's ``dot`` program, RuntimeError if it is not
      on PATH), "matplotlib" (the same graph drawn by matplotlib, for machines without
      Graphviz), or "auto": dot when it is installed, else matplotlib.

    TypeError / ValueError, before any work, for a `net` that is not a Sequential, X
    without y, a batch that does not fit the network, or a path or renderer not listed.

    >>> net = sn.Sequential(sn.Dense(2, 2), sn.Sigmoid(), sn.Dense(2, 1), sn.Sigmoid(), seed=0)
    >>> dot = sn.plot.draw_network(net, X, y, path="xor.png")     # dL/dw on every edge
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a scratchnn Sequential, got {describe(net)}")
    if (X is None) != (y is None):
        raise ValueError(f"draw_network shows gradients for a batch X with its targets y: give both or neither, "
                         f"got {'X' if y is None else 'y'} only")
    fmt = _format(path)
    renderer = one_of("renderer", renderer, ("auto", "dot", "matplotlib"))
    program = shutil.which("dot")
    if renderer == "dot" and program is None and fmt in ("png", "svg"):
        raise RuntimeError("renderer='dot' needs Graphviz's dot program, which is not on PATH: install "
                           "graphviz (apt install graphviz), or pass renderer='matplotlib'")
    batch = None
    if X is not None:
        loss = get_loss(loss) if loss is not None else net.loss or MSE()
        X, y = net.check_data(X, y, loss)
        batch = (X, y, loss)
    graph = _Graph(net, batch)
    dot = graph.to_dot()
    if fmt == "dot":
        write_atomically(path, lambda file: file.write(dot.encode("utf-8")), make_parents=True)
    elif fmt is not None and program is not None and renderer != "matplotlib":
        picture = _run_dot(program, dot, fmt)
        write_atomically(path, lambda file: file.write(picture), make_parents=True)
    elif fmt is not None:
        fig = graph.to_figure()
        write_atomically(path, lambda file: fig.savefig(file, format=fmt, dpi=100), make_parents=True)
    return dot


def _format(path):
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name ending in .dot, .png or .svg, or None, got {describe(path)}")
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        raise ValueError(f"path must end in .dot, .png or .svg, got {os.fspath(path)!r}")
    return FORMATS[extension]


def _run_dot(program, dot, fmt):
    """The picture Graphviz's dot renders from `dot`, as bytes (no shell, a time limit)."""
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True,
                              timeout=RENDER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz's dot did not finish within {RENDER_TIMEOUT} s") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"Graphviz's dot failed (exit {done.returncode}): {message[0] if message else ''}")
    return done.stdout


def _gradients(net, X, y, loss):
    """dL/d(parameter) over (X, y) by the network's own forward and backward, in inference
    mode, keyed like ``state_dict()``; the loss value. ``Parameter.grad`` is put back."""
    kept = net.flat_parameter.grad.copy()
    try:
        value = float(loss.forward(net.forward(X, training=False), y))       # forward pass, how wrong
        net.zero_grad()
        net.backward(loss.backward(), input_grad=False)                      # backpropagation
        gradients = {f"{index}.{name}": parameter.grad.copy() for index, layer in enumerate(net.layers)
                     for name, parameter in layer.named_parameters().items()}
    finally:
        np.copyto(net.flat_parameter.grad, kept)
    return gradients, value


def _number(value):
    return f"{value:+.3g}"


class _Column:
    """One column of the drawing: the input or a layer with parameters, with the parameterless
    layers after it. `units` is its width when drawn a node per unit, else None (one box)."""

    def __init__(self, index, title, shape, per_unit):
        self.index, self.titles, self.shape = index, [title], shape
        width = shape[1] if per_unit and shape is not None and len(shape) == 2 else None
        self.units = width if width is not None and width <= MAX_UNITS else None
        self.unit_labels = [f"{'x' if index == 0 else 'h'}{j + 1}" for j in range(self.units or 0)]   # o: outputs
        self.biases = None          # (b, dL/db or None) of a Dense column drawn unit by unit

    def nodes(self):
        if self.units is None:
            return [f"c{self.index}"]
        return [f"c{self.index}_u{j}" for j in range(self.units)]

    def shape_text(self):
        return "shape unknown" if self.shape is None else "(N, " + ", ".join(map(str, self.shape[1:])) + ")"


class _Graph:
    """The columns, nodes and edges of one drawing; written out as DOT or a matplotlib figure."""

    def __init__(self, net, batch):
        self.gradients, self.loss_text = {}, None
        if batch is not None:
            X, y, loss = batch
            self.gradients, value = _gradients(net, X, y, loss)
            self.loss_text = f"{type(loss).__name__}\nL = {value:.4g}"
        input_shape = None if batch is None else batch[0].shape[1:]
        shapes = net.output_shapes(input_shape)
        first = None if input_shape is None else (None, *input_shape)
        if first is None and isinstance(net.layers[0], Dense):
            first = (None, net.layers[0].in_features)
        self.columns = [_Column(0, "input", first, per_unit=True)]
        self.edges = []            # (tail, head, colour, width, label or None, tooltip)
        for index, (layer, shape) in enumerate(zip(net.layers, shapes)):
            column = self.columns[-1]
            if not layer.parameters():                   # activations, dropout, pooling: named in the column
                column.titles.append(f"{index}: {type(layer).__name__}")
                column.shape = shape
                continue
            self.columns.append(_Column(len(self.columns), f"{index}: {_title(layer)}", shape,
                                        per_unit=isinstance(layer, Dense)))
            self._connect(index, layer, column, self.columns[-1])
        last = self.columns[-1]
        if last.index > 0:
            last.unit_labels = [f"o{j + 1}" for j in range(last.units or 0)]

    def _connect(self, index, layer, before, after):
        parameters = layer.named_parameters()
        if after.units is not None:
            after.biases = (parameters["bias"].value, self.gradients.get(f"{index}.bias"))
        if after.units is not None and before.units == layer.in_features:
            weight, grad = parameters["weight"].value, self.gradients.get(f"{index}.weight")
            largest = float(np.max(np.abs(weight))) or 1.0
            labelled = weight.size <= LABELLED_EDGES
            for (i, j), w in np.ndenumerate(weight):
                text = f"w={_number(w)}" + ("" if grad is None else f"\ndL/dw={_number(grad[i, j])}")
                colour = POSITIVE if w > 0 else NEGATIVE if w < 0 else ZERO
                width = 0.5 + 4.5 * abs(float(w)) / largest
                self.edges.append((before.nodes()[i], after.nodes()[j], colour, width, text if labelled else None, text))
            return
        lines = []
        for name, parameter in parameters.items():
            symbol = SYMBOLS.get(name, name)
            line = f"{symbol} {'×'.join(map(str, parameter.value.shape))}: ||{symbol}||={np.linalg.norm(parameter.value):.3g}"
            grad = self.gradients.get(f"{index}.{name}")
            lines.append(line if grad is None else f"{line}, ||dL/d{symbol}||={np.linalg.norm(grad):.3g}")
        text = "\n".join(lines)
        self.edges.append((_middle(before.nodes()), _middle(after.nodes()), BLOCK, 2.0, text, text))

    # --- DOT ----------------------------------------------------------------------------------

    def to_dot(self):
        lines = ["digraph network {",
                 '  rankdir=LR; newrank=true; remincross=false; splines=line; compound=true; nodesep=0.6; ranksep=1.6; '
                 'fontname="Helvetica";',
                 '  node [fontname="Helvetica", fontsize=10, shape=circle, fixedsize=true];',
                 '  edge [fontname="Helvetica", fontsize=8, arrowsize=0.5];']
        for column in self.columns:
            lines.append(f"  subgraph cluster_{column.index} {{")
            lines.append(f'    label="{_quote(chr(10).join(column.titles))}"; style=rounded; color="#cccccc";')
            size = 0.45 if column.index == 0 else 0.75 if not self.gradients else 1.15
            for node, label in zip(column.nodes(), self._node_labels(column)):
                shape = f", width={size}" if column.units is not None else ", shape=box, style=rounded, fixedsize=false"
                lines.append(f'    {node} [label="{_quote(label)}"{shape}];')
            if column.units is not None and column.units > 1:     # units in order, top to bottom (an
                chain = " -> ".join(reversed(column.nodes()))      # LR graph stacks a rank bottom up)
                lines.append(f"    {{rank=same; {chain} [style=invis];}}")
            lines.append("  }")
        clusters = {node: column for column in self.columns for node in column.nodes()}
        for tail, head, colour, width, label, tooltip in self.edges:
            shown = "" if label is None else f', label="{_quote(label)}", fontcolor="{colour}"'
            if colour == BLOCK:                       # a box edge reaches a column of units at its frame
                shown += "".join(f", {end}=cluster_{clusters[node].index}" for end, node in
                                 (("ltail", tail), ("lhead", head)) if clusters[node].units is not None)
            lines.append(f'  {tail} -> {head} [color="{colour}", penwidth={width:.2f}{shown}, '
                         f'tooltip="{_quote(tooltip)}"];')
        if self.loss_text is not None:
            lines.append(f'  loss [label="{_quote(self.loss_text)}", shape=box, style="rounded,filled", '
                         'fillcolor="#f3f3f3", fixedsize=false];')
            for node in self.columns[-1].nodes():
                lines.append(f'  {node} -> loss [color="{ZERO}", style=dashed, arrowsize=0.4];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _node_labels(self, column):
        if column.units is None:
            return [column.shape_text()]
        if column.index == 0:
            return column.unit_labels
        bias, grad = column.biases
        return [f"{name}\nb={_number(bias[j])}" + ("" if grad is None else f"\ndL/db={_number(grad[j])}")
                for j, name in enumerate(column.unit_labels)]

    # --- matplotlib, where Graphviz is not installed -----------------------------------------

    def to_figure(self):
        """The same graph drawn by matplotlib: columns left to right, units top to bottom."""
        tallest = max(column.units or 1 for column in self.columns)
        count = len(self.columns) + (self.loss_text is not None)
        fig = _new_figure(figsize=(2.6 * count + 1, 1.1 * tallest + 1.6))
        ax = fig.add_subplot()
        ax.set_axis_off()
        places = {}
        for column in self.columns:
            nodes = column.nodes()
            for j, (node, label) in enumerate(zip(nodes, self._node_labels(column))):
                places[node] = (column.index, (len(nodes) - 1) / 2 - j)
                style = "circle,pad=0.4" if column.units is not None else "round,pad=0.4"
                ax.text(*places[node], label, ha="center", va="center", fontsize=8, zorder=3,
                        bbox={"boxstyle": style, "facecolor": "white", "edgecolor": "#333333"})
            ax.text(column.index, tallest / 2 + 0.3, "\n".join(column.titles), ha="center", va="bottom", fontsize=9)
        if self.loss_text is not None:
            places["loss"] = (len(self.columns), 0.0)
            ax.text(*places["loss"], self.loss_text, ha="center", va="center", fontsize=9, zorder=3,
                    bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f3f3f3", "edgecolor": "#333333"})
            for node in self.columns[-1].nodes():
                ax.plot(*zip(places[node], places["loss"]), color=ZERO, linestyle="--", linewidth=0.8, zorder=1)
        for tail, head, colour, width, label, _ in self.edges:
            (x0, y0), (x1, y1) = places[tail], places[head]
            ax.plot([x0, x1], [y0, y1], color=colour, linewidth=width, zorder=1)
            if label is not None:
                along = 0.5 if colour == BLOCK else 0.35       # weight labels nearer their input unit
                ax.text(x0 + along * (x1 - x0), y0 + along * (y1 - y0), label, fontsize=6, ha="center",
                        va="bottom" if colour == BLOCK else "center", color=colour, zorder=2,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
        ax.set_xlim(-0.6, count - 0.4)
        ax.set_ylim(-tallest / 2 - 0.4, tallest / 2 + 0.3 + 0.3 * max(len(c.titles) for c in self.columns))
        return fig


def _title(layer):
    """"Dense 2→4", "Conv2D 1→8, 3×3", else the class name."""
    if isinstance(layer, Dense):
        return f"Dense {layer.in_features}→{layer.out_features}"
    if isinstance(layer, Conv2D):
        return f"Conv2D {layer.in_channels}→{layer.out_channels}, {'×'.join(map(str, layer.kernel_size))}"
    return type(layer).__name__


def _middle(nodes):
    return nodes[(len(nodes) - 1) // 2]


def _quote(text):
    """Text as the inside of a DOT string: backslashes and quotes escaped, newlines as \\n."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
