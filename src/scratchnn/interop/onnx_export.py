"""`export_onnx`: a `Sequential` as an ONNX model, one operator (or a few) per layer.

Every layer maps onto standard ONNX operators (the default domain) of one opset:

    Dense            Gemm(x, W, b)                      W as ours, (in, out): transB = 0
    Conv2D           Conv(x, W, b), pads and strides    W (out, in, kh, kw), as ours
    MaxPool2D        MaxPool                            AvgPool2D: AveragePool
    GlobalAvgPool2D  GlobalAveragePool, Flatten(axis=1)
    BatchNorm        BatchNormalization(x, γ, β, running mean, running var), momentum 1 − ours
    Flatten          Flatten(axis=1)                    Reshape: Reshape(x, [0, *shape])
    Standardize      Sub(x, mean), Div(·, scale)
    ReLU, Tanh, Sigmoid, Softmax (axis −1), LeakyReLU, ELU, Identity: the operator of that name
    GELU             Gelu (opset >= 20), else its formula in Erf (exact) or Tanh (approximate) math
    Dropout, RandomFlip, RandomTranslation: nothing (they are the identity at inference)
    Dense on (N, ..., in)  MatMul(x, W), Add(b)
    Embedding, PositionalEmbedding, RNN, LSTM, GRU, LastStep, LayerNorm: see
                     `scratchnn.interop._onnx_sequence_export`
    MultiHeadAttention, TransformerBlock: see `scratchnn.interop._onnx_attention_export`

The input keeps a symbolic batch dimension "N" (any batch size), and a network with sequence
layers a symbolic sequence axis "T" (any length) unless a layer fixes it; a network starting
with an Embedding takes int64 indices. The graph's input and output are named as asked
("input" and "output" by default); the arrays are the model's float32 or float64 values,
named as in ``state_dict()`` ("0.weight", ...) where ONNX takes them as they are.

>>> export_onnx(net, "model.onnx")                      # opset 18
>>> export_onnx(net, "model.onnx", opset=20)            # GELU as one Gelu operator
"""

import json
import numbers

import numpy as np

from .._checks import describe, file_path
from .._files import write_atomically
from ..model import Sequential
from ..nn import (ELU, GELU, GRU, LSTM, RNN, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Embedding, Flatten,
                  GlobalAvgPool2D, Identity, LastStep, LayerNorm, LeakyReLU, MaxPool2D, MultiHeadAttention,
                  PositionalEmbedding, RandomFlip, RandomTranslation, ReLU, Reshape, Sigmoid, Softmax, Standardize,
                  Tanh, TransformerBlock)
from ._onnx import CLASSES_KEY, DEFAULT_OPSET, INT64, MIN_OPSET, element_type, newest_opset, require_onnx
from ._onnx_attention_export import write_attention, write_transformer
from ._onnx_gelu import write_gelu
from ._onnx_sequence_export import (write_embedding, write_last_step, write_layer_norm, write_matmul_add,
                                    write_positional_embedding, write_recurrent)

DROPPED = (Dropout, RandomFlip, RandomTranslation)          # the identity at inference: not written
SIMPLE = {ReLU: "Relu", Tanh: "Tanh", Sigmoid: "Sigmoid", Identity: "Identity"}   # one operator, no attribute
ELEMENTWISE = (ReLU, Tanh, Sigmoid, Identity, LeakyReLU, ELU, GELU, Softmax, BatchNorm, LayerNorm) + DROPPED
SEQUENCE = (Embedding, PositionalEmbedding, RNN, LSTM, GRU, LastStep, MultiHeadAttention, TransformerBlock)


def export_onnx(net, path, opset=None, input_shape=None, input_name="input", output_name="output"):
    """Write `net` (a `Sequential`) to `path` as an ONNX model that gives ``net.predict``'s outputs.

    - ``opset``: the ONNX operator set, from 13 to the newest the installed onnx knows; None
      means 18 (`DEFAULT_OPSET`). From 20 on, GELU is one Gelu operator.
    - ``input_shape``: one sample's shape, e.g. (1, 28, 28); None takes the shape of the last
      input the network saw, or what its first layers fix (a Dense layer's width, a
      Standardize layer's shape, a Conv2D's channels with symbolic height and width, a
      sequence layer's features with a symbolic number of steps).
    - The batch dimension is symbolic ("N"): the model runs on any number of rows. With a
      sequence layer, so is the sequence axis ("T"), unless a layer fixes it (a Flatten and a
      Dense after it, say). A network starting with an Embedding takes int64 indices (N, T).
    - The class names (``net.classes``) are kept in the model's metadata ("scratchnn.classes").

    The model passes ``onnx.checker.check_model(full_check=True)`` before it is written
    (atomically). Raises TypeError/ValueError for bad arguments or a layer without an ONNX
    form (naming it), ImportError when onnx is not installed (pip install scratchnn[onnx]).
    Returns `path`.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a scratchnn.Sequential, got {describe(net)}")
    path = file_path("path", path)
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty str, got {describe(value)}")
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, got {input_name!r} for both")
    for index, layer in enumerate(net.layers):
        if type(layer) not in DROPPED + tuple(WRITERS):           # subclasses may compute something else
            raise ValueError(f"export_onnx cannot write layer {index} {layer!r}: no ONNX form for a "
                             f"{type(layer).__name__} layer (see docs/interop.md for the layers it writes)")
    onnx = require_onnx("export_onnx")
    opset = _check_opset(onnx, opset)
    sample = _dynamic_steps(net, _sample_shape(net, input_shape))
    model = build_model(onnx, net, opset, sample, input_name, output_name)
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    write_atomically(path, lambda file: file.write(data))
    return path


def _check_opset(onnx, opset):
    if opset is None:
        return DEFAULT_OPSET
    newest = newest_opset(onnx)
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int from {MIN_OPSET} to {newest} (the installed onnx's newest), "
                         f"got {describe(opset)}")
    return int(opset)


def _sample_shape(net, input_shape):
    """One sample's shape for the graph's input: ints where known, names for the unknown dims."""
    if input_shape is not None:
        net.output_shapes(input_shape)                      # ValueError unless it fits, naming the layer
        return tuple(int(n) for n in input_shape)
    if net.input_shape is not None:
        try:
            net.output_shapes()
            return tuple(int(n) for n in net.input_shape)
        except ValueError:                                  # the last input no longer fits: look at the layers
            pass
    for layer in net.layers:
        if isinstance(layer, Embedding):
            return ("T",)
        if isinstance(layer, (RNN, LSTM, GRU)):
            return ("T", layer.input_size)
        if isinstance(layer, (PositionalEmbedding, MultiHeadAttention, TransformerBlock)):
            return ("T", layer.dim)
        if isinstance(layer, Dense):
            return (layer.in_features,)
        if isinstance(layer, Standardize):
            return layer.shape
        if isinstance(layer, Reshape):                      # flat rows, as Reshape's docstring shows
            return (int(np.prod(layer.shape)),)
        if isinstance(layer, Conv2D):
            return (layer.in_channels, "height", "width")
        if isinstance(layer, (MaxPool2D, AvgPool2D, GlobalAvgPool2D, RandomFlip, RandomTranslation)):
            return ("channels", "height", "width")
        if not isinstance(layer, ELEMENTWISE):              # Flatten: any rank
            break
    raise ValueError("export_onnx cannot tell the shape of the network's input: give input_shape, one "
                     "sample's shape such as (1, 28, 28)")


def _dynamic_steps(net, sample):
    """`sample` with its first axis symbolic ("T") when the network has a sequence layer and
    runs on sequences of any length."""
    if not any(isinstance(layer, SEQUENCE) for layer in net.layers) or not sample or sample[0] == "T":
        return sample
    dynamic = ("T", *sample[1:])
    try:
        _probe_shapes(net, dynamic)
    except ValueError:                           # a layer fixes the number of steps
        return sample
    return dynamic


def _probe_sizes(net):
    """Two stand-in sizes for the symbolic dims (a PositionalEmbedding bounds them)."""
    longest = min([layer.max_len for layer in net.layers if isinstance(layer, PositionalEmbedding)] or [96])
    return (64, 96) if longest >= 96 else (max(longest - 1, 1), longest)


def _probe_shapes(net, sample, size=None):
    """Every layer's output shape for `sample` with a stand-in size for each symbolic dim."""
    size = size or _probe_sizes(net)[0]
    return net.output_shapes([n if isinstance(n, int) else size for n in sample])


def build_model(onnx, net, opset, sample, input_name="input", output_name="output"):
    """The `onnx.ModelProto` of `net` for one sample's shape `sample` (ints or dim names)."""
    helper = onnx.helper
    graph = GraphBuilder(onnx, net.dtype, input_name)
    output_sample = _output_sample(net, sample)                         # ValueError if the sizes do not fit
    ranks = [len(sample) + 1] + [len(shape) for shape in _probe_shapes(net, sample)]
    for index, layer in enumerate(net.layers):
        if type(layer) not in DROPPED:
            graph.rank = ranks[index]
            WRITERS[type(layer)](graph, index, layer, opset)
    graph.finish(output_name)
    elem = element_type(net.dtype)
    first = INT64 if getattr(net.layers[0], "takes_indices", False) else elem
    inputs = [helper.make_tensor_value_info(input_name, first, ["N", *sample])]
    outputs = [helper.make_tensor_value_info(output_name, elem, ["N", *output_sample])]
    proto = helper.make_graph(graph.nodes, "scratchnn.Sequential", inputs, outputs, initializer=graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(proto, opset_imports=opsets, producer_name="scratchnn",
                              ir_version=helper.find_min_ir_version_for(opsets))
    if net.classes is not None:
        helper.set_model_props(model, {CLASSES_KEY: json.dumps(net.classes)})
    return model


def _output_sample(net, sample):
    """One output sample's shape: ints where the input fixes them, names elsewhere. With
    symbolic input dims, the network runs (in shape only) on two stand-in sizes: an output dim
    that differs between them depends on the input's size."""
    if all(isinstance(n, int) for n in sample):
        return net.output_shapes(sample)[-1][1:]
    try:
        first, second = (_probe_shapes(net, sample, size)[-1][1:] for size in _probe_sizes(net))
    except ValueError:                           # a layer fixes the size (a Dense after Flatten, say)
        raise ValueError("export_onnx cannot tell the size of the network's input: give input_shape, one "
                         "sample's shape such as (1, 28, 28)") from None
    return [a if a == b else f"output_{axis + 1}" for axis, (a, b) in enumerate(zip(first, second))]


class GraphBuilder:
    """Nodes and initializers written one after the other; ``current`` is the tensor that
    flows from layer to layer, ``rank`` its rank (batch axis included)."""

    def __init__(self, onnx, dtype, input_name):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self.current, self.rank = input_name, None

    def constant(self, name, value, dtype=None):
        """An initializer named `name` holding `value` (in the model's dtype unless told)."""
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, name, extra_inputs=(), data=None, **attributes):
        """Add `op` on the current tensor (or `data`) and `extra_inputs`; its output, named
        `name`, becomes the current tensor."""
        inputs = [self.current if data is None else data, *extra_inputs]
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attributes))
        self.current = name
        return name

    def add(self, op, inputs, outputs, **attributes):
        """Add `op` with these inputs and (several) outputs, named after its last output; the
        current tensor does not change."""
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, name=outputs[-1], **attributes))

    def finish(self, output_name):
        """Name the last tensor `output_name` (an Identity node when no layer wrote any)."""
        if not self.nodes:
            self.node("Identity", output_name)
            return
        last = self.nodes[-1]
        last.output[0] = output_name


def _dense(graph, index, layer, opset):
    if graph.rank > 2:                                                    # Gemm takes rows only
        write_matmul_add(graph, index, layer.weight.value, layer.bias.value)
        return
    weight = graph.constant(f"{index}.weight", layer.weight.value)        # (in, out): y = x W + b
    bias = graph.constant(f"{index}.bias", layer.bias.value)
    graph.node("Gemm", f"{index}.Gemm", [weight, bias])


def _conv(graph, index, layer, opset):
    (top, bottom), (left, right) = layer.padding
    weight = graph.constant(f"{index}.weight", layer.weight.value)        # (out, in, kh, kw), as ONNX
    bias = graph.constant(f"{index}.bias", layer.bias.value)
    graph.node("Conv", f"{index}.Conv", [weight, bias], kernel_shape=list(layer.kernel_size),
               strides=list(layer.stride), pads=[top, left, bottom, right])


def _pool(graph, index, layer, opset):
    op = "MaxPool" if isinstance(layer, MaxPool2D) else "AveragePool"
    graph.node(op, f"{index}.{op}", kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


def _global_pool(graph, index, layer, opset):
    graph.node("GlobalAveragePool", f"{index}.GlobalAveragePool")        # (N, C, 1, 1)
    graph.node("Flatten", f"{index}.Flatten", axis=1)                     # (N, C), as ours


def _batch_norm(graph, index, layer, opset):
    names = [graph.constant(f"{index}.{name}", value) for name, value in
             (("weight", layer.weight.value), ("bias", layer.bias.value),
              ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    # ONNX's momentum weighs the running value (running ← m · running + (1 − m) · batch): 1 − ours
    graph.node("BatchNormalization", f"{index}.BatchNormalization", names, epsilon=layer.epsilon,
               momentum=1.0 - layer.momentum)


def _flatten(graph, index, layer, opset):
    graph.node("Flatten", f"{index}.Flatten", axis=1)


def _reshape(graph, index, layer, opset):
    shape = graph.constant(f"{index}.shape", [0, *layer.shape], dtype=np.int64)    # 0: keep the batch size
    graph.node("Reshape", f"{index}.Reshape", [shape])


def _standardize(graph, index, layer, opset):
    mean = graph.constant(f"{index}.mean", layer.mean)
    scale = graph.constant(f"{index}.scale", layer.scale)
    graph.node("Sub", f"{index}.Sub", [mean])                             # x − μ
    graph.node("Div", f"{index}.Div", [scale])                            # (x − μ) / σ


def _simple(graph, index, layer, opset):
    op = SIMPLE[type(layer)]
    graph.node(op, f"{index}.{op}")


def _leaky_relu(graph, index, layer, opset):
    graph.node("LeakyRelu", f"{index}.LeakyRelu", alpha=layer.negative_slope)


def _elu(graph, index, layer, opset):
    graph.node("Elu", f"{index}.Elu", alpha=layer.alpha)


def _softmax(graph, index, layer, opset):
    graph.node("Softmax", f"{index}.Softmax", axis=-1)


WRITERS = {Dense: _dense, Conv2D: _conv, MaxPool2D: _pool, AvgPool2D: _pool, GlobalAvgPool2D: _global_pool,
            BatchNorm: _batch_norm, Flatten: _flatten, Reshape: _reshape, Standardize: _standardize,
            ReLU: _simple, Tanh: _simple, Sigmoid: _simple, Identity: _simple, LeakyReLU: _leaky_relu,
            ELU: _elu, Softmax: _softmax, GELU: write_gelu, Embedding: write_embedding,
            PositionalEmbedding: write_positional_embedding, RNN: write_recurrent, LSTM: write_recurrent,
            GRU: write_recurrent, LastStep: write_last_step, LayerNorm: write_layer_norm,
            MultiHeadAttention: write_attention, TransformerBlock: write_transformer}
