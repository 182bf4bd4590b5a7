"""ONNX export and import of the sequence layers: checker, onnxruntime against predict at
several batch sizes and sequence lengths, round trips to the same bytes, torch's forms, errors."""

from pathlib import Path

import numpy as np
import pytest

import scratchnn as sn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402  (after the skip)

BATCHES = (1, 7, 64)
LENGTHS = (3, 11)
VOCABULARY = 13


def run_onnxruntime(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def lstm_classifier(dtype=np.float32):
    return sn.Sequential(sn.Embedding(VOCABULARY, 6), sn.LSTM(6, 5, num_layers=2, bidirectional=True), sn.LastStep(),
                         sn.Dense(10, 3), seed=0, dtype=dtype), None


def gru_tagger(dtype=np.float32):
    return sn.Sequential(sn.GRU(4, 6, bidirectional=True), sn.Dense(12, 3), seed=1, dtype=dtype), 4


def relu_rnn(dtype=np.float32):
    return sn.Sequential(sn.RNN(4, 6, num_layers=2, nonlinearity="relu", return_sequences=False), sn.Dense(6, 2),
                         seed=2, dtype=dtype), 4


def embedded_gru(dtype=np.float32):
    return sn.Sequential(sn.Embedding(VOCABULARY, 4), sn.GRU(4, 6, num_layers=2, return_sequences=False),
                         sn.Dense(6, 3), sn.Softmax(), seed=3, dtype=dtype), None


def transformer(dtype=np.float32):
    return sn.Sequential(sn.Embedding(VOCABULARY, 8), sn.PositionalEmbedding(16, 8),
                         sn.TransformerBlock(8, 2, 16, norm_first=True, activation="gelu", causal=True),
                         sn.TransformerBlock(8, 4, 12, norm_first=False, activation="relu"), sn.LayerNorm(8),
                         sn.Dense(8, VOCABULARY), seed=4, dtype=dtype), None


def attention(dtype=np.float32):
    return sn.Sequential(sn.MultiHeadAttention(8, 2, causal=True), sn.LayerNorm(8, elementwise_affine=False),
                         sn.MultiHeadAttention(8, 4), sn.Tanh(), seed=5, dtype=dtype), 8


MODELS = {"lstm": lstm_classifier, "gru": gru_tagger, "rnn": relu_rnn, "embedded_gru": embedded_gru,
          "transformer": transformer, "attention": attention}


def sequences(features, rows, steps, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    if features is None:                                   # token ids for an Embedding
        return rng.integers(0, VOCABULARY, size=(rows, steps))
    return rng.normal(0.0, 1.5, size=(rows, steps, features)).astype(dtype)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("opset", [13, 18, 20])
def test_onnxruntime_gives_predict_at_every_batch_size_and_length(tmp_path, name, opset):
    net, features = MODELS[name]()
    path = sn.export_onnx(net, tmp_path / "model.onnx", opset=opset)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] == ["N", "T"]                 # any batch size, any length
    expected_type = onnx.TensorProto.INT64 if features is None else onnx.TensorProto.FLOAT
    assert model.graph.input[0].type.tensor_type.elem_type == expected_type
    for rows in BATCHES:
        for steps in LENGTHS:
            X = sequences(features, rows, steps, seed=rows + steps)
            np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-4, atol=1e-5)


def test_the_operators_written(tmp_path):
    ops = {}
    for opset in (13, 17):
        for name in ("lstm", "gru", "rnn", "transformer"):
            path = sn.export_onnx(MODELS[name]()[0], tmp_path / f"{name}{opset}.onnx", opset=opset)
            ops[name, opset] = [node.op_type for node in onnx.load(path).graph.node]
    assert ops["lstm", 13].count("LSTM") == 2 and ops["lstm", 13][0] == "Gather"
    assert "GRU" in ops["gru", 13] and ops["gru", 13][-2:] == ["MatMul", "Add"]    # Dense on (N, T, F)
    assert "RNN" in ops["rnn", 13] and "Gemm" in ops["rnn", 13]                   # h_n is rows: Gemm
    assert "LayerNormalization" not in ops["transformer", 13] and ops["transformer", 13].count("ReduceMean") == 10
    assert ops["transformer", 17].count("LayerNormalization") == 5 and "Range" in ops["transformer", 17]
    gru = next(node for node in onnx.load(tmp_path / "gru13.onnx").graph.node if node.op_type == "GRU")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in gru.attribute}
    assert attributes == {"hidden_size": 6, "direction": b"bidirectional", "linear_before_reset": 1}


def test_the_recurrent_weights_follow_onnx_gate_order(tmp_path):
    net = sn.Sequential(sn.LSTM(3, 2), seed=0)
    model = onnx.load(sn.export_onnx(net, tmp_path / "lstm.onnx"))
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    ours = net.layers[0].named_parameters()["weight_ih_l0"].value                  # blocks i, f, g, o
    i, f, g, o = np.split(ours, 4)
    np.testing.assert_array_equal(weights["0.W_l0"][0], np.concatenate([i, o, f, g]))   # ONNX: i, o, f, c


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("opset", [13, 17, 20])
def test_import_gives_the_same_network_and_exports_the_same_bytes(tmp_path, name, opset):
    net, features = MODELS[name]()
    X = sequences(features, 7, 5)
    net.classes = [f"class {i}" for i in range(net.predict(X).shape[-1])]
    first = sn.export_onnx(net, tmp_path / "first.onnx", opset=opset)
    back = sn.import_onnx(first)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in net.layers]
    assert [layer.get_config() for layer in back.layers] == [layer.get_config() for layer in net.layers]
    assert back.dtype == np.float32 and back.classes == net.classes
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    second = sn.export_onnx(back, tmp_path / "second.onnx", opset=opset)
    assert Path(second).read_bytes() == Path(first).read_bytes()


def test_float64_sequence_models_keep_their_dtype(tmp_path):
    for name in ("transformer", "lstm"):
        net, features = MODELS[name](np.float64)
        path = sn.export_onnx(net, tmp_path / f"{name}.onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        back = sn.import_onnx(path)
        assert back.dtype == np.float64
        X = sequences(features, 5, 4, np.float64)
        np.testing.assert_array_equal(back.predict(X), net.predict(X))
    net, _ = attention(np.float64)                  # onnxruntime has no double LSTM/GRU/RNN or Erf kernels
    X = sequences(8, 7, 6, np.float64)
    path = sn.export_onnx(net, tmp_path / "attention.onnx")
    np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-10, atol=1e-12)


def test_a_network_that_fixes_the_length_keeps_it(tmp_path):
    net = sn.Sequential(sn.Embedding(VOCABULARY, 3), sn.Flatten(), sn.Dense(12, 2), seed=0)
    path = sn.export_onnx(net, tmp_path / "fixed.onnx", input_shape=(4,))
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 4]
    X = sequences(None, 7, 4)
    np.testing.assert_allclose(run_onnxruntime(path, X), net.predict(X), rtol=1e-5, atol=1e-6)


def test_torch_exports_of_embedding_layer_norm_and_linear_import(tmp_path, recwarn):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Embedding(VOCABULARY, 6), nn.LayerNorm(6), nn.Linear(6, 4), nn.GELU()).eval()
    X = sequences(None, 7, 5)
    torch.onnx.export(module, torch.from_numpy(X), str(tmp_path / "torch.onnx"), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N", 1: "T"}, "y": {0: "N", 1: "T"}})
    net = sn.import_onnx(tmp_path / "torch.onnx")
    assert [type(layer) for layer in net.layers] == [sn.Embedding, sn.LayerNorm, sn.Dense, sn.GELU]
    for rows, steps in ((1, 2), (9, 8)):
        X = sequences(None, rows, steps, seed=rows)
        with torch.no_grad():
            expected = module(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(net.predict(X), expected, rtol=1e-4, atol=1e-6)


def test_torch_exports_of_recurrent_layers_are_refused_naming_an_operator(tmp_path, recwarn):
    torch = pytest.importorskip("torch")

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]

    torch.onnx.export(Tagger().eval(), torch.zeros(2, 5, 3), str(tmp_path / "lstm.onnx"), dynamo=False,
                      opset_version=17, dynamic_axes={"input": {0: "N", 1: "T"}}, input_names=["input"])
    with pytest.raises(ValueError, match="lstm.onnx.*(operator|operators) .*'?(Shape|LSTM|Transpose)"):
        sn.import_onnx(tmp_path / "lstm.onnx")


def tampered(tmp_path, net, change):
    """`net` exported, with `change(initializers by name)` applied to its initializers."""
    path = sn.export_onnx(net, tmp_path / "model.onnx", opset=17)
    model = onnx.load(path)
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    change(arrays)
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(numpy_helper.from_array(array, name) for name, array in arrays.items())
    Path(path).write_bytes(model.SerializeToString())
    return path


def test_altered_sequence_graphs_are_refused_naming_the_operator(tmp_path):
    lstm, _ = lstm_classifier()

    def heads(arrays):
        arrays["2.self_attn.qkv_shape"] = np.array([0, 0, 3, 4, 2], np.int64)    # 4 heads in the Reshape

    def gather_first(arrays):
        arrays["2.last"] = np.array(0, np.int64)                                 # x[:, 0], not LastStep's

    def shorter_weight(arrays):
        arrays["1.W_l1"] = arrays["1.W_l1"][:, :, :7]                           # layer 1 reads 10 features

    def inf_in_mask(arrays):
        arrays["2.self_attn.minus_inf"] = np.array(-1e9, np.float32)             # not −∞

    cases = [(transformer()[0], heads, r"operators \(LayerNormalization, Add\)"), (lstm, gather_first, "'Gather'"),
             (lstm, shorter_weight, "'Transpose'"), (transformer()[0], inf_in_mask, r"\(LayerNormalization, Add\)")]
    for net, change, operator in cases:
        with pytest.raises(ValueError, match=f"{operator}.*export_onnx writes"):
            sn.import_onnx(tampered(tmp_path, net, change))


def test_integer_input_must_feed_an_embedding(tmp_path):
    helper = onnx.helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.INT64, [None, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.INT64, None)])
    (tmp_path / "ints.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(ValueError, match="holds integers, which only an Embedding"):
        sn.import_onnx(tmp_path / "ints.onnx")
