"""`import_onnx`: an ONNX model, a chain of standard operators, as a `Sequential`.

The graph is followed from its input to its output, one operator (or one known group of
operators) at a time, each becoming a layer:

    Gemm; MatMul (+ Add of a bias)          Dense (W as ours: (in, out))
    Conv (2-D, no dilation or groups)        Conv2D, padding symmetric or "same"
    MaxPool, AveragePool (no padding)        MaxPool2D, AvgPool2D
    GlobalAveragePool (+ Flatten)            GlobalAvgPool2D
    BatchNormalization (inference)           BatchNorm with the running statistics
    Flatten (axis 1), Reshape                Flatten, Reshape (the batch axis kept)
    Sub and/or Div by constants              Standardize
    Relu, Tanh, Sigmoid, LeakyRelu, Elu, Softmax (last axis), Gelu, Identity: the layer of that name
    GELU written as Erf or Tanh arithmetic   GELU (see `scratchnn.interop._onnx_gelu`)
    Dropout                                  nothing (the identity at inference)
    MatMul (+ Add) on (N, ..., in)           Dense on sequences
    the sequence layers' operators           Embedding, PositionalEmbedding, RNN, LSTM, GRU, LastStep,
                                             LayerNorm, MultiHeadAttention, TransformerBlock, in the forms
                                             export_onnx writes (`scratchnn.interop._onnx_sequence_import`)

That covers what `export_onnx` writes and what ``torch.onnx.export`` writes for the same
layers (which folds a BatchNorm after a convolution into the Conv's weights), its Gather of an
nn.Embedding and its LayerNormalization included; not its recurrent or attention layers. Anything else
(another operator, a branch, a second input) is a ValueError naming it; so is a file that is
not a well-formed model (see `scratchnn.interop._onnx_read`: reading runs nothing of the file).

>>> net = import_onnx("model.onnx")
>>> net.predict(X)
"""

import numpy as np

from ..model import Sequential
from ..nn import (ELU, GELU, GRU, LSTM, RNN, AvgPool2D, BatchNorm, Conv2D, Dense, Embedding, Flatten,
                  GlobalAvgPool2D, Identity, LastStep, LayerNorm, LeakyReLU, MaxPool2D, MultiHeadAttention,
                  PositionalEmbedding, ReLU, Reshape, Sigmoid, Softmax, Standardize, Tanh, TransformerBlock)
from ..ops.im2col import same_padding
from ._onnx import require_onnx
from ._onnx_gelu import match_gelu
from ._onnx_read import Opaque, read_onnx
from ._onnx_sequence_import import RECURRENT, match_sequence_layer

MAX_STANDARDIZE = 2**24     # values per sample of a Standardize layer built from Sub / Div constants
SEQUENCE_LAYERS = (Embedding, PositionalEmbedding, RNN, LSTM, GRU, LastStep, LayerNorm, MultiHeadAttention,
                   TransformerBlock)
SEQUENCE_OPERATORS = ("Gather", "Shape", "Transpose", "LayerNormalization", "ReduceMean", "Slice", "Range")


def import_onnx(path):
    """The `Sequential` that computes what the ONNX model at `path` computes (inference).

    The model's dtype is the input's (float or double); its ``input_shape`` is the input's
    sample shape when the file fixes it; its class names are those `export_onnx` kept.
    ValueError, naming the file, for an operator or an arrangement no layer expresses (the
    operator is named), and for a corrupt or hostile file; ImportError when onnx is missing.
    """
    graph = read_onnx(path)
    return _Importer(graph).run()


class _Importer:
    """Follows the graph from its input; ``current`` is the tensor reached, ``sample`` its
    shape per sample (None for a dim the file leaves symbolic)."""

    def __init__(self, graph):
        self.graph, self.path, self.onnx = graph, graph.path, require_onnx("import_onnx")
        self.current, self.sample = graph.input_name, graph.sample
        self.layers, self.arrays = [], []
        self.consumers = {}
        for index, node in enumerate(graph.nodes):
            for name in node.inputs:
                if name and index not in self.consumers.setdefault(name, []):
                    self.consumers[name].append(index)

    def run(self):
        graph = self.graph
        while self.current != graph.output_name:
            users = self.consumers.get(self.current, [])
            if not users:
                raise ValueError(f"{self.path!r}: tensor {self.current!r} leads nowhere: the graph's output "
                                 f"{graph.output_name!r} is not reached by a chain of operators from the input")
            sequence = match_sequence_layer(self, self.onnx, users)
            if sequence is not None:
                layer, arrays, self.current = sequence
                self.add(layer, graph.nodes[min(users)], arrays)
                continue
            if self.graph.indices and not self.layers:
                raise ValueError(f"{self.path!r}: the input {self.current!r} holds integers, which only an "
                                 "Embedding (a Gather of a constant table) reads; other inputs must be float or double")
            if len(users) > 1:
                self._gelu_region(users)
                continue
            node = graph.nodes[users[0]]
            if node.op not in OPERATORS:
                recognized = (" is not in a form of a sequence layer that import_onnx recognizes (those export_onnx "
                              "writes, see docs/interop.md)" if node.op in (*RECURRENT, *SEQUENCE_OPERATORS)
                              else " has no scratchnn layer")
                raise ValueError(f"{self.path!r}: operator {node.op!r} (node {node.name!r}){recognized}; "
                                 f"supported: {', '.join(sorted(OPERATORS))} and the sequence layers' forms")
            if node.inputs[0] != self.current:
                raise self.error(node, f"reads {self.current!r} as input {node.inputs.index(self.current)}, not "
                                 "as its data input 0")
            self.current = OPERATORS[node.op](self, node, users[0])
        return self._network()

    def _gelu_region(self, users):
        found = match_gelu(self.graph, min(users), self.current, self.consumers)
        if found is None:
            ops = ", ".join(self.graph.nodes[i].op for i in users)
            raise ValueError(f"{self.path!r}: tensor {self.current!r} feeds {len(users)} operators ({ops}); "
                             "only a chain of layers, GELU written out in arithmetic, or the sequence layers in the "
                             "forms export_onnx writes can be imported")
        approximate, output, _ = found
        self.add(GELU(approximate=approximate), None)
        self.current = output

    def _network(self):
        layers = self.layers or [Identity()]
        dtype = self.graph.dtype or next(iter(self.arrays[0].values())).dtype     # indices in: the table's
        try:
            net = Sequential(*layers, dtype=dtype)
            net.load_state_dict({f"{index}.{name}": value for index, arrays in enumerate(self.arrays)
                                 for name, value in arrays.items()})
            if None not in self.graph.sample:
                net.output_shapes(self.graph.sample)           # checks the chain once more, layer by layer
                net.input_shape = self.graph.sample
            net.classes = self.graph.classes
        except (TypeError, ValueError) as error:
            raise ValueError(f"{self.path!r}: {error}") from None
        return net

    # --- what the translators use ---------------------------------------------------------

    def error(self, node, message):
        return ValueError(f"{self.path!r}: {node.op} node {node.name!r} {message}")

    def add(self, layer, node, arrays=None):
        """Append `layer` (with its arrays by state-dict name) and follow the sample's shape."""
        self.layers.append(layer)
        self.arrays.append(arrays or {})
        try:
            self.sample = _next_sample(layer, self.sample)
        except ValueError as error:
            raise (self.error(node, f"does not fit its input: {error}") if node else
                   ValueError(f"{self.path!r}: {error}")) from None

    def constant(self, node, position, what, optional=False):
        """The constant at input `position` of `node` (None if it is `optional` and absent)."""
        if position >= len(node.inputs) or not node.inputs[position]:
            if optional:
                return None
            raise self.error(node, f"has no {what} (input {position})")
        name = node.inputs[position]
        if name not in self.graph.constants:
            raise self.error(node, f"must have a constant {what} (an initializer), got the computed tensor {name!r}")
        return self.graph.constants[name]

    def attribute(self, node, name, default, kind):
        """Attribute `name` of `node` (`default` when absent), checked to be of `kind`:
        "int", "float", "ints", "str"."""
        value = node.attributes.get(name, default)
        checks = {"int": lambda v: isinstance(v, int), "float": lambda v: isinstance(v, float),
                  "ints": lambda v: isinstance(v, list) and all(isinstance(i, int) for i in v),
                  "str": lambda v: isinstance(v, str)}
        if isinstance(value, Opaque) or not checks[kind](value):
            raise self.error(node, f"has attribute {name}={value!r}; expected {kind}")
        # a float attribute is a float32: its shortest decimal form (0.1, not 0.10000000149011612)
        return float(str(np.float32(value))) if kind == "float" and name in node.attributes else value

    def single_user(self, tensor, op):
        """The node reading `tensor` if it is the only one and is an `op`, else None."""
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and self.graph.nodes[users[0]].op == op and tensor != self.graph.output_name:
            return self.graph.nodes[users[0]]
        return None

    def rank(self):
        return len(self.sample) + 1


def _next_sample(layer, sample):
    """The shape per sample after `layer`: the layer's own output_shape when every dim is known;
    for a sequence layer, its output_shape at two lengths, None where they differ."""
    if None not in sample:
        return tuple(layer.output_shape((None, *sample))[1:])
    if isinstance(layer, Dense):
        if sample[-1] not in (None, layer.in_features):
            raise ValueError(f"{layer!r} needs inputs (N, ..., {layer.in_features}), got samples of shape {sample}")
        return (*sample[:-1], layer.out_features)
    if isinstance(layer, SEQUENCE_LAYERS):
        first, second = (layer.output_shape((None, *[size if n is None else n for n in sample]))[1:]
                         for size in (1, 2))
        return tuple(a if a == b else None for a, b in zip(first, second))
    if isinstance(layer, Conv2D):
        return (layer.out_channels, None, None)
    if isinstance(layer, (MaxPool2D, AvgPool2D)):
        return (sample[0], None, None)
    if isinstance(layer, GlobalAvgPool2D):
        return sample[:1]
    if isinstance(layer, Flatten):
        return (None,)
    if isinstance(layer, Reshape):
        return layer.shape
    return sample


def _pair_from(importer, node, name, default):
    values = importer.attribute(node, name, default, "ints")
    if len(values) != 2:
        raise importer.error(node, f"has {name}={values}; only 2-D (height, width) operators are supported")
    return tuple(values)


def _gemm(importer, node, index):
    if importer.attribute(node, "transA", 0, "int"):
        raise importer.error(node, "has transA=1: the data must be the left factor, as rows")
    matrix = importer.constant(node, 1, "weight B")
    if matrix.ndim != 2:
        raise importer.error(node, "must have a 2-D constant weight B")
    weight = importer.attribute(node, "alpha", 1.0, "float") * (matrix.T if importer.attribute(
        node, "transB", 0, "int") else matrix)                                        # (in, out)
    bias = importer.constant(node, 2, "bias C", optional=True)
    bias = np.zeros(weight.shape[1]) if bias is None else importer.attribute(node, "beta", 1.0, "float") * bias
    return _dense(importer, node, weight, bias, node.outputs[0])


def _matmul(importer, node, index):
    weight = importer.constant(node, 1, "weight")
    if weight.ndim != 2:
        raise importer.error(node, "is supported only as (N, ..., in) times a 2-D constant (in, out)")
    add = importer.single_user(node.outputs[0], "Add")
    if add is None:
        return _dense(importer, node, weight, np.zeros(weight.shape[1]), node.outputs[0])
    position = 1 if add.inputs[0] == node.outputs[0] else 0
    return _dense(importer, node, weight, importer.constant(add, position, "bias"), add.outputs[0])


def _dense(importer, node, weight, bias, output):
    out_features = weight.shape[1]
    if bias.size not in (1, out_features) or (bias.ndim == 2 and bias.shape[0] != 1) or bias.ndim > 2:
        raise importer.error(node, f"has a bias of shape {bias.shape} for {out_features} outputs")
    layer = _build(importer, node, Dense, weight.shape[0], out_features)
    importer.add(layer, node, {"weight": weight, "bias": np.broadcast_to(bias.reshape(-1), (out_features,))})
    return output


def _conv(importer, node, index):
    weight = importer.constant(node, 1, "weight W")
    if weight.ndim != 4:
        raise importer.error(node, "is supported as a 2-D convolution with a constant weight (out, in, kh, kw)")
    if importer.attribute(node, "group", 1, "int") != 1 or set(_pair_from(importer, node, "dilations", [1, 1])) != {1}:
        raise importer.error(node, "has groups or dilations, which Conv2D does not have")
    kernel = tuple(weight.shape[2:])
    if _pair_from(importer, node, "kernel_shape", list(kernel)) != kernel:
        raise importer.error(node, f"has kernel_shape {node.attributes['kernel_shape']} but a weight of shape {weight.shape}")
    stride = _pair_from(importer, node, "strides", [1, 1])
    padding = _conv_padding(importer, node, kernel, stride)
    bias = importer.constant(node, 2, "bias B", optional=True)
    layer = _build(importer, node, Conv2D, weight.shape[1], weight.shape[0], kernel, stride=stride, padding=padding)
    importer.add(layer, node, {"weight": weight, "bias": np.zeros(weight.shape[0]) if bias is None else bias})
    return node.outputs[0]


def _conv_padding(importer, node, kernel, stride):
    """Conv2D's padding for the node's: symmetric pads, or "same" (stride 1)."""
    auto_pad = importer.attribute(node, "auto_pad", "NOTSET", "str")
    if auto_pad == "VALID":
        return 0
    if auto_pad == "SAME_UPPER" and stride == (1, 1):              # the extra zero after: ours
        return "same"
    if auto_pad != "NOTSET":
        raise importer.error(node, f"has auto_pad={auto_pad!r} (with stride {stride}); Conv2D pads "
                             "symmetrically, or as SAME_UPPER with stride 1")
    top, left, bottom, right = importer.attribute(node, "pads", [0, 0, 0, 0], "ints")
    if (top, left) == (bottom, right) and min(top, left) >= 0:
        return [top, left]
    if stride == (1, 1) and ((top, bottom), (left, right)) == tuple(map(same_padding, kernel)):
        return "same"
    raise importer.error(node, f"has pads {[top, left, bottom, right]}: Conv2D pads each side alike, or as 'same'")


def _pool(importer, node, index):
    kernel = _pair_from(importer, node, "kernel_shape", None) if "kernel_shape" in node.attributes else None
    if kernel is None:
        raise importer.error(node, "has no kernel_shape")
    pads = importer.attribute(node, "pads", [0, 0, 0, 0], "ints")
    if any(pads) or importer.attribute(node, "ceil_mode", 0, "int") or importer.attribute(
            node, "auto_pad", "NOTSET", "str") not in ("NOTSET", "VALID") or set(
            _pair_from(importer, node, "dilations", [1, 1])) != {1}:
        raise importer.error(node, "pads, rounds up or dilates its windows; our pooling layers do not")
    cls = MaxPool2D if node.op == "MaxPool" else AvgPool2D
    stride = _pair_from(importer, node, "strides", [1, 1])
    importer.add(_build(importer, node, cls, kernel, stride=None if stride == kernel else stride), node)
    return node.outputs[0]


def _global_pool(importer, node, index):
    channels = importer.sample[0] if importer.rank() == 4 else None
    importer.add(GlobalAvgPool2D(), node)                                     # (N, C)
    after = importer.single_user(node.outputs[0], "Flatten")
    if after is not None and importer.attribute(after, "axis", 1, "int") == 1:
        return after.outputs[0]                                               # (N, C, 1, 1) flattened: ours
    if channels is None:
        raise importer.error(node, "must be followed by Flatten, or have an input of known channel count")
    importer.add(Reshape((channels, 1, 1)), node)                             # (N, C, 1, 1), as ONNX
    return node.outputs[0]


def _batch_norm(importer, node, index):
    if importer.attribute(node, "training_mode", 0, "int") or not importer.attribute(node, "spatial", 1, "int"):
        raise importer.error(node, "is in training mode or not spatial; only inference is imported")
    scale, bias, mean, variance = (importer.constant(node, i, what) for i, what in
                                   enumerate(("scale", "bias B", "mean", "var"), start=1))
    if any(a.ndim != 1 or a.shape != scale.shape for a in (bias, mean, variance)) or scale.ndim != 1:
        raise importer.error(node, "must have four constant 1-D arrays of one length (scale, B, mean, var)")
    momentum = float(str(np.float32(1.0 - importer.attribute(node, "momentum", 0.9, "float"))))   # ours weighs the batch
    layer = _build(importer, node, BatchNorm, len(scale), momentum=min(max(momentum, 0.0), 1.0),
                   epsilon=importer.attribute(node, "epsilon", 1e-5, "float"))
    importer.add(layer, node, {"weight": scale, "bias": bias, "running_mean": mean, "running_var": variance})
    return node.outputs[0]


def _flatten(importer, node, index):
    axis = importer.attribute(node, "axis", 1, "int")
    if axis not in (1, 1 - importer.rank()):
        raise importer.error(node, f"has axis={axis}; Flatten keeps the batch axis (axis 1)")
    importer.add(Flatten(), node)
    return node.outputs[0]


def _reshape(importer, node, index):
    shape = importer.constant(node, 1, "shape")
    if shape.dtype.kind != "i" or shape.ndim != 1 or len(shape) < 2 or shape[0] not in (0, -1):
        raise importer.error(node, f"reshapes to {shape.tolist()}; only shapes that keep the batch axis (0 or -1 "
                             "first) are supported")
    sample = [int(n) for n in shape[1:]]
    if importer.attribute(node, "allowzero", 0, "int") and 0 in sample:
        raise importer.error(node, "has allowzero=1 and a 0 in its shape")
    for position, n in enumerate(sample):
        if n == 0:                                                           # 0: the input's dim there
            sample[position] = importer.sample[position] if position < len(importer.sample) else None
    if -1 in sample or None in sample or min(sample) < 1:
        known = None not in importer.sample
        size = int(np.prod(importer.sample)) if known else None
        rest = int(np.prod([n for n in sample if n not in (-1, None)]))
        if not known or sample.count(-1) + sample.count(None) != 1 or rest <= 0 or size % rest:
            raise importer.error(node, f"reshapes to {shape.tolist()}, which needs a known input shape "
                                 f"(got {importer.sample})")
        sample = [size // rest if n in (-1, None) else n for n in sample]
    importer.add(_build(importer, node, Reshape, sample), node)
    return node.outputs[0]


def _standardize(importer, node, index):
    """Sub(x, mean), optionally then Div(·, scale); or Div(x, scale) alone."""
    mean, scale, output = None, None, node.outputs[0]
    if node.op == "Sub":
        mean = importer.constant(node, 1, "mean")
        divide = importer.single_user(output, "Div")
        if divide is not None and divide.inputs[0] == output:
            scale, output = importer.constant(divide, 1, "scale"), divide.outputs[0]
    else:
        scale = importer.constant(node, 1, "scale")
    if None in importer.sample or np.prod(importer.sample) > MAX_STANDARDIZE:
        raise importer.error(node, f"needs an input of known shape, at most {MAX_STANDARDIZE} values a sample, "
                             f"got (N, {importer.sample})")
    try:
        mean, scale = (np.broadcast_to(np.zeros(1) if mean is None else mean, (1, *importer.sample)),
                       np.broadcast_to(np.ones(1) if scale is None else scale, (1, *importer.sample)))
    except ValueError:
        raise importer.error(node, f"has constants that do not fit samples of shape {importer.sample}") from None
    importer.add(Standardize(list(importer.sample)), node, {"mean": mean[0], "scale": scale[0]})
    return output


def _activation(importer, node, index):
    simple = {"Relu": ReLU, "Tanh": Tanh, "Sigmoid": Sigmoid, "Identity": Identity}
    if node.op in simple:
        layer = simple[node.op]()
    elif node.op == "LeakyRelu":
        layer = _build(importer, node, LeakyReLU, importer.attribute(node, "alpha", 0.01, "float"))
    elif node.op == "Elu":
        layer = _build(importer, node, ELU, importer.attribute(node, "alpha", 1.0, "float"))
    elif node.op == "Gelu":
        layer = _build(importer, node, GELU, approximate=importer.attribute(node, "approximate", "none", "str"))
    else:                                          # Softmax: over the last axis only, as ours
        axis = importer.attribute(node, "axis", -1 if importer.graph.opset >= 13 else 1, "int")
        if axis % importer.rank() != importer.rank() - 1 or not -importer.rank() <= axis < importer.rank():
            raise importer.error(node, f"has axis={axis} for rank {importer.rank()}; Softmax takes the last axis")
        layer = Softmax()
    importer.add(layer, node)
    return node.outputs[0]


def _dropout(importer, node, index):
    training = importer.constant(node, 2, "training_mode", optional=True)
    if training is not None and training.any():
        raise importer.error(node, "is in training mode; only inference is imported")
    return node.outputs[0]                                  # the identity at inference: no layer


def _build(importer, node, cls, *args, **kwargs):
    """``cls(*args, **kwargs)``, its argument errors as ValueErrors naming the node."""
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise importer.error(node, f"cannot be a {cls.__name__}: {error}") from None


OPERATORS = {"Gemm": _gemm, "MatMul": _matmul, "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool,
             "GlobalAveragePool": _global_pool, "BatchNormalization": _batch_norm, "Flatten": _flatten,
             "Reshape": _reshape, "Sub": _standardize, "Div": _standardize, "Relu": _activation,
             "Tanh": _activation, "Sigmoid": _activation, "LeakyRelu": _activation, "Elu": _activation,
             "Gelu": _activation, "Softmax": _activation, "Identity": _activation, "Dropout": _dropout}
