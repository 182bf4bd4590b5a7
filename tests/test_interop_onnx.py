"""ONNX export and import: checker, onnxruntime against predict, round trips, torch's files,
hostile files."""

import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnn as sn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402  (after the skip)

BATCHES = (1, 7, 257)


def run_onnxruntime(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def trained_batch_norm(net, X):
    """Move BatchNorm's running statistics off their defaults with a few training passes."""
    for _ in range(3):
        net.forward(X, training=True)
    return net


def every_activation_mlp(dtype=np.float32):
    rng = np.random.default_rng(0)
    X = rng.normal(2.0, 3.0, size=(64, 6))
    net = sn.Sequential(
        sn.Standardize.from_data(X), sn.Dense(6, 8), sn.ReLU(), sn.Dense(8, 8), sn.Tanh(), sn.Dense(8, 8),
        sn.Sigmoid(), sn.Dense(8, 8), sn.LeakyReLU(0.1), sn.Dropout(0.3), sn.Dense(8, 8), sn.ELU(0.7),
        sn.Dense(8, 8), sn.GELU(), sn.Dense(8, 8), sn.GELU("tanh"), sn.BatchNorm(8), sn.Dense(8, 8),
        sn.Identity(), sn.Dense(8, 3), sn.Softmax(), seed=0, dtype=dtype)
    return trained_batch_norm(net, X.astype(dtype)), (6,)


def every_pooling_cnn(dtype=np.float32):
    net = sn.Sequential(
        sn.Reshape((2, 12, 12)), sn.RandomFlip("horizontal"), sn.RandomTranslation(1),
        sn.Conv2D(2, 4, 3, padding="same"), sn.BatchNorm(4), sn.ReLU(), sn.MaxPool2D(2),
        sn.Conv2D(4, 6, 3, stride=2, padding=1), sn.BatchNorm(6), sn.GELU(), sn.AvgPool2D(2, stride=1),
        sn.Conv2D(6, 5, 2, padding="same"), sn.ELU(), sn.MaxPool2D((2, 1), stride=1),
        sn.Conv2D(5, 5, (1, 2), stride=(1, 2), padding=(1, 0)), sn.GlobalAvgPool2D(), sn.Dense(5, 3),
        seed=1, dtype=dtype)
    X = np.random.default_rng(1).normal(size=(32, 288)).astype(dtype)
    return trained_batch_norm(net, X), (288,)


MODELS = {"mlp": every_activation_mlp, "cnn": every_pooling_cnn}


def inputs(shape, rows, dtype=np.float32, seed=2):
    return np.random.default_rng(seed).normal(1.0, 2.0, size=(rows, *shape)).astype(dtype)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("opset", [13, 18, 20, None])
def test_onnxruntime_gives_predict_at_every_batch_size(tmp_path, name, opset):
    net, shape = MODELS[name]()
    path = sn.export_onnx(net, tmp_path / "model.onnx", opset=opset)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == (opset or 18)
    ops = {node.op_type for node in model.graph.node}
    assert ("Gelu" in ops) == (opset == 20) and ("Dropout" not in ops)
    for rows in BATCHES:
        X = inputs(shape, rows)
        np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-4, atol=1e-5)


def test_the_batch_dimension_is_symbolic_and_the_names_are_ours(tmp_path):
    net, shape = every_activation_mlp()
    path = sn.export_onnx(net, tmp_path / "model.onnx", input_name="features", output_name="probabilities")
    graph = onnx.load(path).graph
    assert [value.name for value in graph.input] == ["features"]
    assert [value.name for value in graph.output] == ["probabilities"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [6]
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert {t.name for t in graph.initializer} >= {"1.weight", "1.bias", "0.mean", "16.running_var"}


def test_float64_models_keep_their_dtype(tmp_path):
    # onnxruntime's CPU kernels in double cover Gemm, BatchNormalization, MaxPool and the
    # activations below (not Conv, Erf, Elu, LeakyRelu or AveragePool)
    X = inputs((16,), 40, np.float64)
    net = sn.Sequential(sn.Standardize.from_data(X), sn.Dense(16, 16), sn.BatchNorm(16), sn.Tanh(),
                        sn.Reshape((1, 4, 4)), sn.MaxPool2D(2), sn.Flatten(), sn.Dense(4, 5), sn.ReLU(),
                        sn.Dense(5, 4), sn.Sigmoid(), sn.Dense(4, 3), sn.Softmax(), seed=3, dtype=np.float64)
    trained_batch_norm(net, X)
    path = sn.export_onnx(net, tmp_path / "model.onnx")
    assert onnx.load(path).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    for rows in BATCHES:
        X = inputs((16,), rows, np.float64)
        np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-12, atol=1e-14)
    for name in sorted(MODELS):                 # every layer in double: a valid model, read back in double
        full, shape = MODELS[name](np.float64)
        onnx.checker.check_model(onnx.load(sn.export_onnx(full, tmp_path / f"{name}.onnx")), full_check=True)
        back = sn.import_onnx(tmp_path / f"{name}.onnx")
        assert back.dtype == np.float64
        np.testing.assert_array_equal(back.predict(inputs(shape, 7, np.float64)), full.predict(inputs(shape, 7, np.float64)))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("opset", [13, 18, 20])
def test_import_gives_the_same_network_and_exports_the_same_file(tmp_path, name, opset):
    net, shape = MODELS[name]()
    net.classes = ["a", "b", "c"]
    first = sn.export_onnx(net, tmp_path / "first.onnx", opset=opset)
    back = sn.import_onnx(first)
    kept = [layer for layer in net.layers if not isinstance(layer, (sn.Dropout, sn.RandomFlip, sn.RandomTranslation))]
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in kept]
    assert [layer.get_config() for layer in back.layers if not isinstance(layer, (sn.Dense, sn.Conv2D))] == \
           [layer.get_config() for layer in kept if not isinstance(layer, (sn.Dense, sn.Conv2D))]
    assert back.classes == ["a", "b", "c"] and back.input_shape == shape
    X = inputs(shape, 257)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    second = sn.export_onnx(back, tmp_path / "second.onnx", opset=opset)
    again = sn.export_onnx(sn.import_onnx(second), tmp_path / "again.onnx", opset=opset)
    assert Path(again).read_bytes() == Path(second).read_bytes()      # a fixed point, byte for byte
    np.testing.assert_array_equal(run_onnxruntime(second, X), run_onnxruntime(first, X))


def test_a_network_without_dropped_layers_exports_the_same_bytes_again(tmp_path):
    net = sn.Sequential(sn.Dense(4, 5), sn.LeakyReLU(0.2), sn.BatchNorm(5, momentum=0.3, epsilon=1e-3),
                        sn.Dense(5, 2), seed=0)
    first = sn.export_onnx(net, tmp_path / "first.onnx")
    second = sn.export_onnx(sn.import_onnx(first), tmp_path / "second.onnx")
    assert Path(first).read_bytes() == Path(second).read_bytes()


def test_a_cnn_never_run_gets_a_symbolic_height_and_width(tmp_path):
    net = sn.Sequential(sn.Conv2D(3, 4, 3, padding=1), sn.ReLU(), sn.MaxPool2D(2), sn.GlobalAvgPool2D(),
                        sn.Dense(4, 2), seed=0)
    path = sn.export_onnx(net, tmp_path / "model.onnx")
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, "height", "width"]
    back = sn.import_onnx(path)
    assert back.input_shape is None
    for size in (6, 11):                          # any image size runs
        X = inputs((3, size, size), 5)
        np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_export_refuses_what_it_cannot_write(tmp_path):
    class Doubling(sn.Layer):
        def forward(self, x, training=False):
            return 2 * x

    with pytest.raises(ValueError, match="cannot write layer 1 Doubling.*no ONNX form"):
        sn.export_onnx(sn.Sequential(sn.Dense(2, 2), Doubling(), seed=0), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="give input_shape"):
        sn.export_onnx(sn.Sequential(sn.Flatten(), sn.ReLU(), seed=0), tmp_path / "m.onnx")
    fixed = sn.Sequential(sn.Conv2D(1, 2, 3), sn.Flatten(), sn.Dense(2 * 4 * 4, 2), seed=0)
    with pytest.raises(ValueError, match="give input_shape"):      # symbolic sizes cannot meet the Dense
        sn.export_onnx(fixed, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    sn.export_onnx(fixed, tmp_path / "m.onnx", input_shape=(1, 6, 6))
    net = sn.Sequential(sn.Flatten(), sn.Dense(16, 2), seed=0)
    with pytest.raises(ValueError, match="does not fit layer 1"):
        sn.export_onnx(net, tmp_path / "m.onnx", input_shape=(1, 3, 3))
    sn.export_onnx(net, tmp_path / "m.onnx", input_shape=(1, 4, 4))
    for opset in (12, 10**3, "18", True, 18.0):
        with pytest.raises(ValueError, match="opset must be an int from 13"):
            sn.export_onnx(net, tmp_path / "m.onnx", opset=opset)
    with pytest.raises(TypeError, match="net must be a scratchnn.Sequential"):
        sn.export_onnx([sn.Dense(2, 2)], tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="must differ"):
        sn.export_onnx(net, tmp_path / "m.onnx", input_name="x", output_name="x")
    with pytest.raises(ValueError, match="does not exist"):
        sn.export_onnx(net, tmp_path / "missing" / "m.onnx", input_shape=(16,))


def test_missing_onnx_is_a_one_line_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    net = sn.Sequential(sn.Dense(2, 2), seed=0)
    for call in (lambda: sn.export_onnx(net, tmp_path / "m.onnx"), lambda: sn.import_onnx(tmp_path / "m.onnx")):
        with pytest.raises(ImportError, match=r"needs the onnx package: pip install scratchnn\[onnx\]"):
            call()
    assert not (tmp_path / "m.onnx").exists()


# --- models written by torch.onnx.export ------------------------------------------------------

def torch_cnn():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.GELU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 6, 4, padding="same"), nn.ELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5),
        nn.BatchNorm1d(5), nn.LeakyReLU(0.1), nn.Dropout(0.2), nn.Linear(5, 3), nn.GELU(approximate="tanh"),
        nn.Tanh(), nn.Sigmoid(), nn.Softmax(dim=1))
    module.train()
    with torch.no_grad():
        for _ in range(3):                                       # running statistics off their defaults
            module(torch.randn(16, 1, 16, 16))
    return torch, module.eval()


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_a_torch_export_imports_predicts_as_torch_and_exports_again(tmp_path, opset, recwarn):
    torch, module = torch_cnn()
    X = inputs((1, 16, 16), 7)
    torch.onnx.export(module, torch.from_numpy(X), str(tmp_path / "torch.onnx"), dynamo=False, opset_version=opset,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    net = sn.import_onnx(tmp_path / "torch.onnx")
    assert [type(layer).__name__ for layer in net.layers][:6] == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "GELU",
                                                                  "AvgPool2D"]     # BatchNorm2d folded into Conv
    assert sum(isinstance(layer, sn.BatchNorm) for layer in net.layers) == 1
    for rows in BATCHES:
        X = inputs((1, 16, 16), rows, seed=rows)
        with torch.no_grad():
            expected = module(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(net.predict(X), expected, rtol=1e-4, atol=1e-6)
        path = sn.export_onnx(net, tmp_path / "ours.onnx", opset=opset)
        np.testing.assert_allclose(run_onnxruntime(path, X), expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(sn.import_onnx(path).predict(X), net.predict(X))


def test_matmul_add_and_reshape_with_minus_one_import(tmp_path):
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(12, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["m"]), helper.make_node("Add", ["b", "m"], ["y"])]
    initializers = [numpy_helper.from_array(np.array([0, 3, -1], np.int64), "shape"),
                    numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")]
    path = save_graph(tmp_path, nodes, initializers, [None, 2, 6])
    net = sn.import_onnx(path)
    assert [type(layer) for layer in net.layers] == [sn.Reshape, sn.Flatten, sn.Dense]
    assert net.layers[0].shape == (3, 4)
    X = inputs((2, 6), 5)
    np.testing.assert_allclose(net.predict(X), X.reshape(5, 12) @ weight + bias, rtol=1e-6)
    np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-6)


# --- hostile and corrupt files ------------------------------------------------------------------

def save_graph(tmp_path, nodes, initializers, shape, name="hand.onnx", opset=18, elem=onnx.TensorProto.FLOAT):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, shape)],
                              [helper.make_tensor_value_info(nodes[-1].output[0], elem, None)], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def dense_graph(tmp_path, weight=None, **changes):
    weight = np.ones((4, 3), np.float32) if weight is None else weight
    tensor = numpy_helper.from_array(weight, "w")
    for key, value in changes.items():
        if key == "dims":
            tensor.ClearField("dims")
            tensor.dims.extend(value)
        else:
            setattr(tensor, key, value)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"])]
    return save_graph(tmp_path, nodes, [tensor], [None, 4])


def test_hostile_files_are_value_errors(tmp_path):
    net, _ = every_activation_mlp()
    good = Path(sn.export_onnx(net, tmp_path / "good.onnx")).read_bytes()
    cases = {"empty": b"", "garbage": np.random.default_rng(0).bytes(4096), "text": b"not a model\n" * 50}
    for cut in (7, 100, len(good) // 2, len(good) - 3):
        cases[f"truncated at {cut}"] = good[:cut]
    for name, data in cases.items():
        (tmp_path / "bad.onnx").write_bytes(data)
        with pytest.raises(ValueError, match="bad.onnx"):
            sn.import_onnx(tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="no ONNX file"):
        sn.import_onnx(tmp_path / "absent.onnx")


@pytest.mark.parametrize("changes, message", [
    ({"raw_data": b"\0" * 40}, "needs 48 bytes of float32, the file holds 40"),
    ({"dims": [4, 3, 1 << 40]}, "declares the shape"),
    ({"data_location": onnx.TensorProto.EXTERNAL}, "external data"),
    ({"data_type": onnx.TensorProto.STRING}, "element type 8"),
])
def test_bad_initializers_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        sn.import_onnx(dense_graph(tmp_path, **changes))


def test_external_data_is_never_read(tmp_path):
    path = dense_graph(tmp_path)
    model = onnx.load(path)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ValueError, match="refers to data outside the file"):
        sn.import_onnx(path)


def test_graphs_no_layer_expresses_are_refused_naming_the_operator(tmp_path):
    weights = [numpy_helper.from_array(np.ones((4, 4), np.float32), "w")]
    cases = {
        "'Cos'": ([helper.make_node("Cos", ["x"], ["y"])], []),
        "'LSTM'": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("LSTM", ["r", "w", "w"], ["y"])], weights),
        "feeds 2 operators": ([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Gemm", ["r", "w"], ["g"]),
                               helper.make_node("Add", ["r", "g"], ["y"])], weights),
        "must have a constant weight": ([helper.make_node("Gemm", ["x", "x"], ["y"])], []),
        "pads each side alike": ([helper.make_node("Conv", ["x", "k"], ["y"], pads=[0, 0, 1, 1])],
                                 [numpy_helper.from_array(np.ones((2, 4, 3, 3), np.float32), "k")]),
        "groups or dilations": ([helper.make_node("Conv", ["x", "k"], ["y"], group=2)],
                                [numpy_helper.from_array(np.ones((2, 2, 3, 3), np.float32), "k")]),
        "Softmax takes the last axis": ([helper.make_node("Softmax", ["x"], ["y"], axis=0)], []),
        "keep the batch axis": ([helper.make_node("Reshape", ["x", "s"], ["y"])],
                                [numpy_helper.from_array(np.array([2, 8], np.int64), "s")]),
    }
    for message, (nodes, initializers) in cases.items():
        shape = [None, 4, 5, 5] if nodes[0].op_type == "Conv" else [None, 4]
        with pytest.raises(ValueError, match=message):
            sn.import_onnx(save_graph(tmp_path, nodes, initializers, shape))
    with pytest.raises(ValueError, match="'Relu' of domain 'com.example'"):
        sn.import_onnx(save_graph(tmp_path, [helper.make_node("Relu", ["x"], ["y"], domain="com.example")], [], [None, 4]))


def test_inconsistent_or_absurd_graphs_are_value_errors(tmp_path):
    nan = dense_graph(tmp_path, weight=np.full((4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        sn.import_onnx(nan)
    misfit = [helper.make_node("Gemm", ["x", "w"], ["h"]), helper.make_node("Gemm", ["h", "w"], ["y"])]
    with pytest.raises(ValueError, match="does not fit its input"):
        sn.import_onnx(save_graph(tmp_path, misfit, [numpy_helper.from_array(np.ones((4, 3), np.float32), "w")],
                                  [None, 4]))
    with pytest.raises(ValueError, match="declares a dimension"):
        sn.import_onnx(save_graph(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [], [None, 10**12]))
    with pytest.raises(ValueError, match="float or double"):
        sn.import_onnx(save_graph(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [], [None, 4],
                                  elem=onnx.TensorProto.INT64))
    model = onnx.load(save_graph(tmp_path, [helper.make_node("Relu", ["x"], ["r"]),
                                            helper.make_node("Tanh", ["r"], ["y"])], [], [None, 4]))
    model.graph.node.reverse()                                                # not in topological order
    (tmp_path / "order.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(ValueError, match="before any operator writes it"):
        sn.import_onnx(tmp_path / "order.onnx")


def test_random_corruptions_load_or_raise_value_errors(tmp_path):
    net, _ = every_pooling_cnn()
    good = bytearray(Path(sn.export_onnx(net, tmp_path / "good.onnx")).read_bytes())
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(150):
        data = bytearray(good)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[position] = int(rng.integers(0, 256))
        (tmp_path / "mutant.onnx").write_bytes(bytes(data))
        try:
            sn.import_onnx(tmp_path / "mutant.onnx")
            outcomes["loaded"] += 1
        except ValueError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 150
