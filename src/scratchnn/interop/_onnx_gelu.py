"""GELU written out as arithmetic, as exporters do below opset 20: writing it, and recognizing it.

Without a Gelu operator, GELU is a small graph of elementwise arithmetic on x and scalar
constants: 0.5 · x · (1 + erf(x / √2)) for the exact one, 0.5 · x · (1 + tanh(√(2/π) ·
(x + 0.044715 x³))) for the tanh approximation; each exporter orders and groups the products
its own way (x / √2 or x · (1/√2), x³ as Pow(x, 3) or x · x · x, 0.5 · x first or last).
Instead of one pattern per exporter, we take the region of such operators that starts at x
and closes on a single tensor, evaluate it on sample points (NumPy, nothing of the file is
run) and compare with our GELU layer, exact and approximate: the region is that GELU when it
gives GELU's values, to 1e-5, at 49 points from −6 to 6.
"""

import math

import numpy as np

from ..nn import GELU
from ._onnx import GELU_OPSET

MAX_NODES = 16                                     # more than any way of writing GELU needs
PROBES = np.linspace(-6.0, 6.0, 49)
_erf = np.vectorize(math.erf, otypes=[np.float64])
ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
              "Erf": _erf, "Tanh": np.tanh}


def match_gelu(graph, start, x, consumers):
    """(approximate, output tensor, node indices) if the operators of ``graph.nodes`` from
    index `start` on that read `x` compute GELU of x ("none" or "tanh"), else None.
    `consumers` maps a tensor to the indices of the nodes that read it."""
    tensors, members = {x}, []
    for index in range(start, len(graph.nodes)):
        node = graph.nodes[index]
        data = [name for name in node.inputs if name and name not in graph.constants]
        if not any(name in tensors for name in data):
            continue
        scalars = [name for name in node.inputs if name in graph.constants]
        if (node.op not in ARITHMETIC or len(node.outputs) != 1 or not all(name in tensors for name in data)
                or any(graph.constants[name].size != 1 for name in scalars) or len(members) == MAX_NODES):
            return None
        members.append(index)
        tensors.add(node.outputs[0])
        open_tensors = [name for name in tensors if name == graph.output_name
                        or any(user not in members for user in consumers.get(name, ()))]
        if open_tensors == [node.outputs[0]]:       # everything from x flows into this one tensor
            approximate = _which_gelu(graph, members, x, node.outputs[0])
            if approximate is not None:
                return approximate, node.outputs[0], members
    return None


def _which_gelu(graph, members, x, output):
    """"none" or "tanh" if the operators `members` map x to `output` as that GELU does, else None."""
    values = {x: PROBES}
    with np.errstate(all="ignore"):                  # a region that is not GELU may overflow: no match
        for index in members:
            node = graph.nodes[index]
            arguments = [values[name] if name in values else graph.constants[name].astype(np.float64).reshape(())
                         for name in node.inputs if name]
            if len(arguments) != (1 if node.op in ("Erf", "Tanh") else 2):
                return None
            values[node.outputs[0]] = ARITHMETIC[node.op](*arguments)
    result = np.broadcast_to(values[output], PROBES.shape)
    for approximate in ("none", "tanh"):
        expected = GELU(approximate=approximate, fused=False).forward(PROBES)
        if np.allclose(result, expected, rtol=1e-5, atol=1e-6):
            return approximate
    return None


def write_gelu(graph, index, layer, opset):
    """Write `layer` (a GELU) on the current tensor: one Gelu operator from opset 20, else its
    formula in Erf (exact) or Tanh (approximate) arithmetic; `index` prefixes the names."""
    if opset >= GELU_OPSET:
        graph.node("Gelu", f"{index}.Gelu", approximate=layer.approximate)
        return
    x, name = graph.current, f"{index}.GELU"
    one, half = graph.constant(f"{name}.one", 1.0), graph.constant(f"{name}.half", 0.5)
    if layer.approximate == "none":                                       # Φ(x) = (1 + erf(x / √2)) / 2
        graph.node("Div", f"{name}.Div", [graph.constant(f"{name}.sqrt_2", math.sqrt(2))])
        graph.node("Erf", f"{name}.Erf")
    else:                                                                 # tanh(√(2/π) · (x + 0.044715 x³))
        graph.node("Mul", f"{name}.square", [x])
        graph.node("Mul", f"{name}.cube", [x])
        graph.node("Mul", f"{name}.Mul", [graph.constant(f"{name}.coefficient", 0.044715)])
        graph.node("Add", f"{name}.Add", [x])
        graph.node("Mul", f"{name}.scaled", [graph.constant(f"{name}.sqrt_2_over_pi", math.sqrt(2 / math.pi))])
        graph.node("Tanh", f"{name}.Tanh")
    graph.node("Add", f"{name}.one_plus", [one])                         # 1 + erf(·) or 1 + tanh(·)
    graph.node("Mul", f"{name}.times_x", [x])                            # x · (1 + ·)
    graph.node("Mul", f"{name}.half_of", [half])                         # y = 0.5 · x · (1 + ·)
