"""Recognizing the sequence layers in an ONNX graph by writing them again.

A sequence layer is a group of operators (a TransformerBlock is some sixty), so instead of one
hand-written pattern per layer, import guesses a few candidate layers from the operators that
read the current tensor (their types, the shapes of their constants, a few attributes), writes
each candidate with `export_onnx`'s own writer, and keeps the one whose operators are those of
the file, node for node:

- the same operator types, attributes and wiring, in the same order, from the current tensor;
- every tensor computed inside the group read only inside it (nothing branches off), and
  every reader of the current tensor inside it;
- the constants: the candidate is written twice, once with its parameters numbered 1, 2, 3,
  ... and once with all of them 0. An element that differs between the two comes from
  parameter number k, the value in the first: the file's element there is that parameter's
  value (so transposes, gate reorderings and concatenations are undone without code of their
  own). An element that does not differ is fixed (a shape, an axis, 1/√d, −∞): the file must
  hold the same value.

That recognizes exactly what `export_onnx` writes, and what writes the same operators, such as
``torch.onnx.export``'s Gather of an nn.Embedding and its LayerNormalization. Nothing of the
file is run: the candidates are our own layers, the comparison is of arrays.
"""

import numpy as np

from ..nn import (GRU, LSTM, RNN, Embedding, LastStep, LayerNorm, MultiHeadAttention, PositionalEmbedding,
                  TransformerBlock)
from ._onnx_read import Node, attribute_value
from ._onnx_sequence_export import LAYER_NORM_OPSET
from .onnx_export import WRITERS, GraphBuilder

WINDOW = 200                 # operators looked at for a candidate's constants (a TransformerBlock has < 100)
RECURRENT = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
STARTS = ("Gather", "Shape", "Transpose", "LayerNormalization", "ReduceMean", "MatMul")


def match_sequence_layer(importer, onnx, users):
    """(layer, its arrays by parameter name, the output tensor) for the sequence layer whose
    operators start at the first of `users` (the nodes reading the current tensor), or None."""
    start = min(users)
    if importer.graph.nodes[start].op not in STARTS:
        return None
    for layer in _candidates(importer, start, users):
        found = _match(importer, onnx, layer, start, users)
        if found is not None:
            return found
    return None


def _candidates(importer, start, users):
    graph, x, sample = importer.graph, importer.current, importer.sample
    node = graph.nodes[start]
    window = graph.nodes[start:start + WINDOW]
    constants = [graph.constants[name] for other in window for name in other.inputs if name in graph.constants]
    floats = [array for array in constants if array.dtype.kind == "f"]
    if node.op == "Gather" and len(node.inputs) == 2:
        table = graph.constants.get(node.inputs[0])
        if node.inputs[1] == x and table is not None and table.ndim == 2:
            yield from _build(Embedding, *table.shape)
        elif node.inputs[0] == x:
            yield LastStep()
    elif node.op == "Shape":
        for table in (array for array in floats if array.ndim == 2):
            yield from _build(PositionalEmbedding, *table.shape)
            break
    elif node.op == "Transpose" and len(window) > 1 and window[1].op in RECURRENT:
        yield from _recurrent(graph, window)
    else:                                       # MatMul, LayerNormalization, ReduceMean
        sequence = len(sample) == 2 and isinstance(sample[-1], int)
        if sequence and len(users) > 1:         # x feeds a residual Add (or the causal mask's Shape)
            yield from _transformer(node, sample[-1], floats, constants)
        if sequence and node.op == "MatMul":
            for causal in (False, True):
                yield from _build(MultiHeadAttention, sample[-1], _heads(constants), causal=causal)
        if node.op != "MatMul":
            yield from _layer_norm(importer, node, floats)


def _build(cls, *args, **kwargs):
    """``[cls(*args, **kwargs)]``, or nothing when the arguments do not make one."""
    try:
        return [cls(*args, **kwargs)]
    except (TypeError, ValueError):
        return []


def _recurrent(graph, window):
    operator = window[1]
    cls, weight = RECURRENT[operator.op], graph.constants.get(operator.inputs[1] if len(operator.inputs) > 1 else "")
    if weight is None or weight.ndim != 3 or weight.shape[0] not in (1, 2) or weight.shape[1] % cls.gates:
        return
    directions, rows, input_size = weight.shape
    options = {}
    if cls is RNN:
        activations = operator.attributes.get("activations", ["Tanh"])
        options["nonlinearity"] = activations[0].lower() if isinstance(activations, list) and activations else ""
    stacked = sum(node.op == operator.op for node in window)
    for num_layers in range(stacked, 0, -1):                    # the longest stack first
        for return_sequences in (True, False):
            yield from _build(cls, input_size, rows // cls.gates, num_layers, bidirectional=directions == 2,
                              return_sequences=return_sequences, **options)


def _heads(constants):
    """The number of heads in the first [0, 0, 3, heads, d] shape constant, or 0."""
    for array in constants:
        if array.dtype.kind == "i" and array.shape == (5,) and array[2] == 3:
            return int(array[3])
    return 0


def _transformer(node, dim, floats, constants):
    heads = _heads(constants)
    widths = sorted({int(array.shape[1]) for array in floats if array.ndim == 2 and array.shape[0] == dim})
    for ff_dim in widths:
        for activation in ("gelu", "relu"):
            for causal in (False, True):
                yield from _build(TransformerBlock, dim, heads, ff_dim, norm_first=node.op != "MatMul",
                                  activation=activation, causal=causal)


def _layer_norm(importer, node, floats):
    rank = importer.rank()
    if node.op == "LayerNormalization":
        axis = node.attributes.get("axis", -1)
        count = -axis if isinstance(axis, int) and axis < 0 else rank - axis if isinstance(axis, int) else 0
        eps = importer.attribute(node, "epsilon", 1e-5, "float")
    else:
        axes = node.attributes.get("axes", [])
        count = len(axes) if isinstance(axes, list) else 0
        scalars = [array for array in floats if array.size == 1]
        eps = _shortest(scalars[0]) if scalars else 1e-5
    shape = importer.sample[len(importer.sample) - count:] if 0 < count < rank else (None,)
    if None in shape:
        return
    for affine in (True, False):
        yield from _build(LayerNorm, list(shape), eps=eps, elementwise_affine=affine)


def _shortest(array):
    """A float32 constant as the shortest decimal that rounds to it (1e-05, not 9.9999997e-06)."""
    value = array.reshape(())
    return float(str(value)) if value.dtype == np.float32 else float(value)


def _template(onnx, layer, x, rank, opset, numbered):
    """`layer`'s operators and constants as `export_onnx` writes them on tensor `x`, in
    float64, its parameters numbered 1, 2, ... (`numbered`) or all 0."""
    layer.build(np.random.default_rng(0), np.float64)
    offset = 0
    for parameter in layer.named_parameters().values():
        size = parameter.value.size
        parameter.value[...] = (np.arange(offset + 1, offset + size + 1).reshape(parameter.value.shape) if numbered
                                else 0.0)
        offset += size
    builder = GraphBuilder(onnx, np.float64, x)
    builder.rank = rank
    WRITERS[type(layer)](builder, "template", layer, opset)
    nodes = [Node(proto.op_type, proto.name, list(proto.input), list(proto.output),
                  {attribute.name: attribute_value(attribute) for attribute in proto.attribute})
             for proto in builder.nodes]
    constants = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in builder.initializers}
    return nodes, constants, offset


def _match(importer, onnx, layer, start, users):
    graph, x = importer.graph, importer.current
    nodes, numbered, count = _template(onnx, layer, x, importer.rank(), graph.opset, numbered=True)
    found = graph.nodes[start:start + len(nodes)]
    pairs = _wiring(graph, nodes, found, numbered, x)
    if pairs is None:
        return None
    output = found[-1].outputs[-1]
    region = set(range(start, start + len(nodes)))
    inner = [name for node in found for name in node.outputs if name and name != output]
    if not set(users) <= region or any(name == graph.output_name or not set(importer.consumers.get(name, ())) <= region
                                       for name in inner):
        return None                                          # something else reads the input or a tensor inside
    _, zeros, _ = _template(onnx, layer, x, importer.rank(), graph.opset, numbered=False)
    values = _parameters(graph, pairs, numbered, zeros, count)
    if values is None:
        return None
    dtype = next((graph.constants[name].dtype for name in pairs.values() if graph.constants[name].dtype.kind == "f"),
                 np.dtype(np.float64))                    # the file's, as the parameters were stored
    arrays, offset = {}, 0
    for name, parameter in layer.named_parameters().items():
        arrays[name] = values[offset:offset + parameter.value.size].reshape(parameter.value.shape).astype(dtype)
        offset += parameter.value.size
    return layer, arrays, output


def _wiring(graph, nodes, found, constants, x):
    """{template constant: file constant} if the file's operators `found` are the template's
    `nodes` (types, attributes, wiring), else None."""
    if len(found) != len(nodes):
        return None
    tensors, pairs = {x: x}, {}
    for ours, theirs in zip(nodes, found):
        if (ours.op != theirs.op or ours.attributes != theirs.attributes or len(ours.inputs) != len(theirs.inputs)
                or len(ours.outputs) != len(theirs.outputs)):
            return None
        for mine, their in zip(ours.inputs, theirs.inputs):
            if mine in constants:
                if their not in graph.constants or pairs.setdefault(mine, their) != their:
                    return None
            elif (tensors.get(mine) != their) if mine else their:
                return None
        for mine, their in zip(ours.outputs, theirs.outputs):
            if bool(mine) != bool(their):
                return None
            tensors[mine] = their
    return pairs


def _parameters(graph, pairs, numbered, zeros, count):
    """The layer's `count` parameter values, flat, read from the file's constants, or None
    when a fixed value differs or a parameter is missing."""
    values, seen, sources = np.zeros(count), np.zeros(count, dtype=bool), []
    for mine, their in pairs.items():
        template, file_array = numbered[mine], graph.constants[their]
        if template.shape != file_array.shape or (template.dtype.kind == "f") != (file_array.dtype.kind == "f"):
            return None
        derived = template != zeros[mine]                     # elements that come from a parameter
        if not np.array_equal(file_array[~derived], template[~derived].astype(file_array.dtype)):
            return None
        positions = template[derived].astype(np.int64) - 1    # parameter k + 1 is numbered k + 1
        sources.append((positions, file_array[derived].astype(np.float64)))
        values[positions], seen[positions] = sources[-1][1], True
    if not seen.all() or any(not np.array_equal(values[positions], found) for positions, found in sources):
        return None                                           # a parameter missing, or stored twice unequal
    return values
