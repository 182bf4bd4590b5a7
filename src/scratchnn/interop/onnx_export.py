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

The input keeps a symbolic batch dimension "N" (any batch size); the graph's input and output
are named as asked ("input" and "output" by default); the arrays are the model's float32 or
float64 values, named as in ``state_dict()`` ("0.weight", ...).

>>> export_onnx(net, "model.onnx")                      # opset 18
>>> export_onnx(net, "model.onnx", opset=20)            # GELU as one Gelu operator
"""

import json
import math
import numbers

import numpy as np

from .._checks import describe, file_path
from .._files import write_atomically
from ..model import Sequential
from ..nn import (ELU, GELU, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Identity,
                  LeakyReLU, MaxPool2D, RandomFlip, RandomTranslation, ReLU, Reshape, Sigmoid, Softmax,
                  Standardize, Tanh)
from ._onnx import CLASSES_KEY, DEFAULT_OPSET, GELU_OPSET, MIN_OPSET, element_type, newest_opset, require_onnx

DROPPED = (Dropout, RandomFlip, RandomTranslation)          # the identity at inference: not written
SIMPLE = {ReLU: "Relu", Tanh: "Tanh", Sigmoid: "Sigmoid", Identity: "Identity"}   # one operator, no attribute
ELEMENTWISE = (ReLU, Tanh, Sigmoid, Identity, LeakyReLU, ELU, GELU, Softmax, BatchNorm) + DROPPED


def export_onnx(net, path, opset=None, input_shape=None, input_name="input", output_name="output"):
    """Write `net` (a `Sequential`) to `path` as an ONNX model that gives ``net.predict``'s outputs.

    - ``opset``: the ONNX operator set, from 13 to the newest the installed onnx knows; None
      means 18 (`DEFAULT_OPSET`). From 20 on, GELU is one Gelu operator.
    - ``input_shape``: one sample's shape, e.g. (1, 28, 28); None takes the shape of the last
      input the network saw, or what its first layers fix (a Dense layer's width, a
      Standardize layer's shape, a Conv2D's channels with symbolic height and width).
    - The batch dimension is symbolic ("N"): the model runs on any number of rows.
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
        if type(layer) not in DROPPED + tuple(_WRITERS):           # subclasses may compute something else
            raise ValueError(f"export_onnx cannot write layer {index} {layer!r}: no ONNX form for a "
                             f"{type(layer).__name__} layer (see docs/interop.md for the layers it writes)")
    onnx = require_onnx("export_onnx")
    opset = _check_opset(onnx, opset)
    sample = _sample_shape(net, input_shape)
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


def build_model(onnx, net, opset, sample, input_name="input", output_name="output"):
    """The `onnx.ModelProto` of `net` for one sample's shape `sample` (ints or dim names)."""
    helper = onnx.helper
    graph = _GraphBuilder(onnx, net.dtype, input_name)
    for index, layer in enumerate(net.layers):
        if type(layer) not in DROPPED:
            _WRITERS[type(layer)](graph, index, layer, opset)
    graph.finish(output_name)
    elem = element_type(net.dtype)
    inputs = [helper.make_tensor_value_info(input_name, elem, ["N", *sample])]
    outputs = [helper.make_tensor_value_info(output_name, elem, ["N", *_output_sample(net, sample)])]
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
        first, second = (net.output_shapes([n if isinstance(n, int) else size for n in sample])[-1][1:]
                         for size in (64, 96))
    except ValueError:                           # a layer fixes the size (a Dense after Flatten, say)
        raise ValueError("export_onnx cannot tell the size of the network's input: give input_shape, one "
                         "sample's shape such as (1, 28, 28)") from None
    return [a if a == b else f"output_{axis + 1}" for axis, (a, b) in enumerate(zip(first, second))]


class _GraphBuilder:
    """Nodes and initializers written one after the other; ``current`` is the tensor that
    flows from layer to layer."""

    def __init__(self, onnx, dtype, input_name):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self.current = input_name

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

    def finish(self, output_name):
        """Name the last tensor `output_name` (an Identity node when no layer wrote any)."""
        if not self.nodes:
            self.node("Identity", output_name)
            return
        last = self.nodes[-1]
        last.output[0] = output_name


def _dense(graph, index, layer, opset):
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


def _gelu(graph, index, layer, opset):
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


_WRITERS = {Dense: _dense, Conv2D: _conv, MaxPool2D: _pool, AvgPool2D: _pool, GlobalAvgPool2D: _global_pool,
            BatchNorm: _batch_norm, Flatten: _flatten, Reshape: _reshape, Standardize: _standardize,
            ReLU: _simple, Tanh: _simple, Sigmoid: _simple, Identity: _simple, LeakyReLU: _leaky_relu,
            ELU: _elu, Softmax: _softmax, GELU: _gelu}
