"""Reading an ONNX file as data, checking everything, executing nothing.

The file is parsed by protobuf (`onnx.ModelProto.ParseFromString`) and nothing else: no
onnx.load (which follows external-data paths), no checker, no runtime. Every tensor is read
here from the bytes inside the file, after checking its element type and that its declared
shape matches the data it holds; a reference to external data is refused. What comes out is
a `Graph`: plain Python values and NumPy arrays, or a ValueError naming the file and the problem.
"""

import json
import math
import os

import numpy as np

from .._checks import file_path
from ._onnx import CLASSES_KEY, DTYPES, require_onnx

MAX_FILE_BYTES = 2**31 - 1          # protobuf's own limit for one message
MAX_ELEMENTS = 2**31                 # values in one tensor, or in one sample of the input
TENSOR_TYPES = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}   # FLOAT, DOUBLE, INT64, INT32, BOOL
TYPED_FIELDS = {1: "float_data", 11: "double_data", 7: "int64_data", 6: "int32_data", 9: "int32_data"}
ATTRIBUTE_FIELDS = {1: "f", 2: "i", 3: "s", 6: "floats", 7: "ints", 8: "strings"}   # FLOAT, INT, STRING, FLOATS, INTS, STRINGS
DEFAULT_DOMAINS = ("", "ai.onnx")
INDEX_TYPES = (7, 6)                 # INT64, INT32: token indices, read by a Gather (an Embedding)


class Opaque:
    """An attribute of a kind no supported operator takes (a graph, a tensor, ...)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"<{self.kind} attribute>"


class Node:
    """One operator of the graph: its type, name, input and output tensor names, attributes."""

    def __init__(self, op, name, inputs, outputs, attributes):
        self.op, self.name, self.inputs, self.outputs, self.attributes = op, name, inputs, outputs, attributes


class Graph:
    """What `read_onnx` found: the input (name, dtype, one sample's shape with None for a
    symbolic dim; dtype None and ``indices`` True for integer input), the output's name, the operators in order, the constants (initializers,
    Constant nodes and Identity nodes of constants) by name, the opset and the class names."""

    def __init__(self, path):
        self.path = path
        self.nodes, self.constants = [], {}
        self.defined = set()            # every tensor name written so far (input, constants, outputs)
        self.input_name = self.output_name = self.dtype = self.sample = self.opset = self.classes = None
        self.indices = False


def read_onnx(path):
    """The `Graph` of the ONNX model in the file at `path`; ValueError for anything else."""
    path = file_path("path", path)
    onnx = require_onnx("import_onnx")
    if not os.path.isfile(path):
        raise ValueError(f"no ONNX file at {path!r}")
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise ValueError(f"{path!r} is larger than 2 GiB, the most one ONNX (protobuf) message can hold")
    with open(path, "rb") as file:
        data = file.read()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:           # protobuf's DecodeError and its kin: the bytes are not a model
        raise ValueError(f"{path!r} is not a readable ONNX model: {type(error).__name__}: {error}") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ValueError(f"{path!r} is not an ONNX model: it holds no graph with an output")
    graph = Graph(path)
    graph.opset = _opset(path, model)
    if model.functions or model.graph.sparse_initializer:
        raise ValueError(f"{path!r}: model-local functions and sparse initializers are not supported")
    for tensor in model.graph.initializer:
        _add_constant(graph, tensor.name, tensor_array(path, tensor))
    _read_input(graph, model.graph)
    if len(model.graph.output) != 1:
        raise ValueError(f"{path!r}: the graph has {len(model.graph.output)} outputs; a Sequential has one")
    graph.output_name = model.graph.output[0].name
    _read_nodes(graph, model.graph.node)
    if graph.output_name not in graph.defined:
        raise ValueError(f"{path!r}: no operator writes the graph's output {graph.output_name!r}")
    graph.classes = _classes(path, model)
    return graph


def _opset(path, model):
    versions = [entry.version for entry in model.opset_import if entry.domain in DEFAULT_DOMAINS]
    if not versions:
        raise ValueError(f"{path!r}: the model imports no opset of the standard ONNX operators")
    return int(versions[0])


def _add_constant(graph, name, array):
    if not name or name in graph.constants:
        raise ValueError(f"{graph.path!r}: two constants are named {name!r}" if name else
                         f"{graph.path!r}: a constant has no name")
    graph.constants[name] = array


def tensor_array(path, tensor):
    """A TensorProto's values as a NumPy array, read from the message itself; ValueError for
    external data, another element type, or a shape that does not match the data."""
    name = tensor.name
    if tensor.data_location == 1 or len(tensor.external_data) or tensor.HasField("segment"):
        raise ValueError(f"{path!r}: tensor {name!r} refers to data outside the file (external data); "
                         "import_onnx reads only what the file holds")
    if tensor.data_type not in TENSOR_TYPES:
        raise ValueError(f"{path!r}: tensor {name!r} has element type {tensor.data_type}; supported: "
                         "float, double, int64, int32, bool")
    dtype = np.dtype(TENSOR_TYPES[tensor.data_type])
    shape = tuple(int(n) for n in tensor.dims)
    if any(n < 0 for n in shape) or math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"{path!r}: tensor {name!r} declares the shape {shape}")
    count = math.prod(shape)
    if tensor.HasField("raw_data"):
        raw = tensor.raw_data
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"{path!r}: tensor {name!r} of shape {shape} needs {count * dtype.itemsize} bytes "
                             f"of {dtype.name}, the file holds {len(raw)}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    values = getattr(tensor, TYPED_FIELDS[tensor.data_type])
    if len(values) != count:
        raise ValueError(f"{path!r}: tensor {name!r} of shape {shape} needs {count} values, the file holds "
                         f"{len(values)}")
    return np.array(values, dtype=dtype).reshape(shape)


def _read_input(graph, proto):
    inputs = [value for value in proto.input if value.name not in graph.constants]
    if len(inputs) != 1:
        raise ValueError(f"{graph.path!r}: the graph has {len(inputs)} inputs besides its constants; "
                         "a Sequential has one")
    value = inputs[0]
    tensor_type = value.type.tensor_type if value.type.HasField("tensor_type") else None
    if tensor_type is None or tensor_type.elem_type not in (*DTYPES, *INDEX_TYPES):
        raise ValueError(f"{graph.path!r}: input {value.name!r} must be a tensor of float or double (or of "
                         "int64 or int32 indices, for an Embedding)")
    if not tensor_type.HasField("shape") or len(tensor_type.shape.dim) < 2:
        raise ValueError(f"{graph.path!r}: input {value.name!r} must have a known shape (N, ...) of rank >= 2")
    sample = []
    for dim in tensor_type.shape.dim[1:]:
        known = dim.HasField("dim_value")
        if known and not 0 < dim.dim_value <= MAX_ELEMENTS:
            raise ValueError(f"{graph.path!r}: input {value.name!r} declares a dimension of {dim.dim_value}")
        sample.append(int(dim.dim_value) if known else None)
    if math.prod(n for n in sample if n) > MAX_ELEMENTS:
        raise ValueError(f"{graph.path!r}: input {value.name!r} declares samples of shape {tuple(sample)}, "
                         f"more than {MAX_ELEMENTS} values each")
    graph.input_name, graph.dtype, graph.sample = value.name, DTYPES.get(tensor_type.elem_type), tuple(sample)
    graph.indices = tensor_type.elem_type in INDEX_TYPES


def _read_nodes(graph, protos):
    """The operators in order, checking that each reads only tensors written before it;
    Constant nodes and Identity nodes of constants become constants."""
    graph.defined = {graph.input_name, *graph.constants}
    for proto in protos:
        op, name = proto.op_type, proto.name or f"#{len(graph.nodes)}"
        if proto.domain not in DEFAULT_DOMAINS:
            raise ValueError(f"{graph.path!r}: operator {op!r} of domain {proto.domain!r} (node {name!r}) "
                             "is not a standard ONNX operator")
        unknown = [tensor for tensor in proto.input if tensor and tensor not in graph.defined]
        if unknown:
            raise ValueError(f"{graph.path!r}: {op} node {name!r} reads {unknown[0]!r} before any operator "
                             "writes it (the nodes must be in topological order)")
        for tensor in proto.output:
            if tensor in graph.defined:
                raise ValueError(f"{graph.path!r}: tensor {tensor!r} is written twice")
            if tensor:
                graph.defined.add(tensor)
        if op == "Constant" and len(proto.output) == 1:
            _add_constant(graph, proto.output[0], _constant_value(graph.path, proto, name))
        elif op == "Identity" and len(proto.output) == 1 and proto.input and proto.input[0] in graph.constants:
            _add_constant(graph, proto.output[0], graph.constants[proto.input[0]])
        else:
            attributes = {attribute.name: attribute_value(attribute) for attribute in proto.attribute}
            graph.nodes.append(Node(op, name, list(proto.input), list(proto.output), attributes))


def _constant_value(path, proto, name):
    if len(proto.attribute) != 1:
        raise ValueError(f"{path!r}: Constant node {name!r} must have exactly one value attribute")
    attribute = proto.attribute[0]
    if attribute.name == "value":
        return tensor_array(path, attribute.t)
    kinds = {"value_float": ("f", np.float32), "value_floats": ("floats", np.float32),
             "value_int": ("i", np.int64), "value_ints": ("ints", np.int64)}
    if attribute.name not in kinds:
        raise ValueError(f"{path!r}: Constant node {name!r} holds a {attribute.name!r}; supported: value, "
                         "value_float(s), value_int(s)")
    field, dtype = kinds[attribute.name]
    value = getattr(attribute, field)
    return np.array(list(value) if field in ("floats", "ints") else value, dtype=dtype)


def attribute_value(attribute):
    """An AttributeProto's value as a Python value (an `Opaque` for kinds no operator here takes)."""
    field = ATTRIBUTE_FIELDS.get(attribute.type)
    if field is None:
        return Opaque(str(attribute.type))
    value = getattr(attribute, field)
    if field == "s":
        return value.decode("utf-8", errors="replace")
    if field == "strings":
        return [item.decode("utf-8", errors="replace") for item in value]
    return list(value) if field in ("floats", "ints") else value


def _classes(path, model):
    for entry in model.metadata_props:
        if entry.key == CLASSES_KEY:
            try:
                return json.loads(entry.value)
            except (ValueError, RecursionError):
                raise ValueError(f"{path!r}: metadata {CLASSES_KEY!r} is not JSON") from None
    return None
