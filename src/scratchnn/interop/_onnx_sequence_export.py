"""Writing the sequence layers as ONNX operators: Embedding, PositionalEmbedding, the recurrent
layers, LastStep, LayerNorm, and a Dense layer on sequences (the attention layers are in
`scratchnn.interop._onnx_attention_export`).

Each writer adds its operators on the builder's current tensor (see
`scratchnn.interop.onnx_export.GraphBuilder`); every shape it needs at run time (the number of
steps T, the batch size N) is read from the tensor itself, so the model runs on any N and T:

    Embedding            Gather(W, x), x int64 (N, T) -> (N, T, dim)
    PositionalEmbedding  Shape(x)[1] = T; Slice(W, 0, T) (T, dim); Add(x, ·)
    RNN / LSTM / GRU     Transpose to time-major (T, N, F); per stacked layer one RNN / LSTM /
                         GRU operator (direction "bidirectional" for two), its Y (T, D, N, H)
                         made (T, N, D·H) by Transpose + Reshape; back to (N, T, D·H), or with
                         return_sequences=False the operator's Y_h (D, N, H) as (N, D·H)
    LastStep             Gather(x, −1, axis=1)
    LayerNorm            LayerNormalization (opset >= 17); below, its formula: ReduceMean,
                         Sub, Mul, ReduceMean, Add ε, Sqrt, Div, then Mul γ, Add β
    Dense on (N, ..., in)  MatMul(x, W) + Add(b) (Gemm takes rows only)

The recurrent weights change layout on the way, from PyTorch's to ONNX's: W (D, G·H, in) and
R (D, G·H, H) stack the directions; B (D, 2·G·H) is [b_ih, b_hh]; the gate blocks are
reordered, LSTM i f g o -> i o f c (c is our g), GRU r z n -> z r h; the GRU has
linear_before_reset=1, which is PyTorch's (and our) candidate gate, r ⊙ (W_hn h + b_hn).
"""

import numpy as np

from ..nn import GRU, LSTM, RNN

GATE_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}   # ONNX's blocks, as indices of ours
OPERATOR = {RNN: "RNN", LSTM: "LSTM", GRU: "GRU"}
LAYER_NORM_OPSET = 17                                                # the first with LayerNormalization


def write_embedding(graph, index, layer, opset):
    weight = graph.constant(f"{index}.weight", layer.weight.value)          # (num_embeddings, dim)
    graph.node("Gather", f"{index}.Gather", [graph.current], data=weight)   # y[n, t] = W[x[n, t]]


def write_positional_embedding(graph, index, layer, opset):
    x = graph.current
    table = graph.constant(f"{index}.weight", layer.weight.value)           # (max_len, dim)
    graph.node("Shape", f"{index}.Shape")                                   # [N, T, dim]
    steps = graph.node("Gather", f"{index}.steps", [graph.constant(f"{index}.step_axis", [1], np.int64)])
    graph.node("Slice", f"{index}.Slice", [graph.constant(f"{index}.start", [0], np.int64), steps,
                                           graph.constant(f"{index}.axes", [0], np.int64)], data=table)   # W[:T]
    graph.node("Add", f"{index}.Add", [graph.current], data=x)              # y[n, t] = x[n, t] + W[t]


def write_recurrent(graph, index, layer, opset):
    op, hidden, directions = OPERATOR[type(layer)], layer.hidden_size, layer.directions
    attributes = {"hidden_size": hidden}
    if directions == 2:
        attributes["direction"] = "bidirectional"
    if op == "RNN":
        attributes["activations"] = [layer.nonlinearity.capitalize()] * directions     # "Tanh" or "Relu"
    if op == "GRU":
        attributes["linear_before_reset"] = 1
    features = graph.constant(f"{index}.features", [0, 0, -1], np.int64)   # (T, N, D, H) -> (T, N, D·H)
    graph.node("Transpose", f"{index}.time_major", perm=[1, 0, 2])         # (N, T, F) -> (T, N, F)
    cells = iter(layer.cells)
    for stacked in range(layer.num_layers):
        weights = [_onnx_cell(op, hidden, *(p.value for p in next(cells))) for _ in range(directions)]
        names = [graph.constant(f"{index}.{kind}_l{stacked}", np.stack([cell[position] for cell in weights]))
                 for position, kind in enumerate("WRB")]
        name = f"{index}.{op}_l{stacked}"
        final = stacked == layer.num_layers - 1 and not layer.return_sequences
        outputs = ["", f"{name}.Y_h"] if final else [f"{name}.Y"]
        graph.add(op, [graph.current, *names], outputs, **attributes)
        if final:                                                           # Y_h (D, N, H): h_n
            graph.node("Transpose", f"{index}.batch_first", data=outputs[1], perm=[1, 0, 2])   # (N, D, H)
            graph.node("Reshape", f"{index}.final_states", [graph.constant(f"{index}.rows", [0, -1], np.int64)])
            return
        graph.node("Transpose", f"{name}.steps", data=outputs[0], perm=[0, 2, 1, 3])      # (T, N, D, H)
        graph.node("Reshape", f"{name}.outputs", [features])                               # (T, N, D·H)
    graph.node("Transpose", f"{index}.batch_first", perm=[1, 0, 2])         # (N, T, D·H)


def _onnx_cell(op, hidden, w_ih, w_hh, b_ih, b_hh):
    """One direction's (W, R, B) in ONNX's layout and gate order, from PyTorch's."""
    order = GATE_ORDER[op]

    def reorder(array):                                                     # gate blocks of H rows
        return np.concatenate([array[gate * hidden:(gate + 1) * hidden] for gate in order])

    return reorder(w_ih), reorder(w_hh), np.concatenate([reorder(b_ih), reorder(b_hh)])


def write_last_step(graph, index, layer, opset):
    last = graph.constant(f"{index}.last", -1, np.int64)                    # a scalar index: axis 1 goes
    graph.node("Gather", f"{index}.Gather", [last], axis=1)                # y = x[:, T − 1]


def write_layer_norm(graph, index, layer, opset):
    count = len(layer.normalized_shape)
    affine = layer.elementwise_affine
    if opset >= LAYER_NORM_OPSET:
        scale = (graph.constant(f"{index}.weight", layer.weight.value) if affine else
                 graph.constant(f"{index}.ones", np.ones(layer.normalized_shape)))
        bias = [graph.constant(f"{index}.bias", layer.bias.value)] if affine else []
        graph.node("LayerNormalization", f"{index}.LayerNormalization", [scale, *bias], axis=-count,
                   epsilon=layer.eps)
        return
    x, axes = graph.current, list(range(-count, 0))
    epsilon = graph.constant(f"{index}.epsilon", layer.eps)
    mean = graph.node("ReduceMean", f"{index}.mean", axes=axes)              # μ
    centered = graph.node("Sub", f"{index}.centered", [mean], data=x)       # x − μ
    graph.node("Mul", f"{index}.squared", [centered])                        # (x − μ)²
    graph.node("ReduceMean", f"{index}.variance", axes=axes)                 # σ²
    graph.node("Add", f"{index}.plus_epsilon", [epsilon])                    # σ² + ε
    graph.node("Sqrt", f"{index}.std")                                       # √(σ² + ε)
    graph.node("Div", f"{index}.normalized", [graph.current], data=centered)   # x̂ = (x − μ) / √(σ² + ε)
    if affine:
        graph.node("Mul", f"{index}.scaled", [graph.constant(f"{index}.weight", layer.weight.value)])   # γ x̂
        graph.node("Add", f"{index}.shifted", [graph.constant(f"{index}.bias", layer.bias.value)])     # + β


def write_matmul_add(graph, index, weight, bias):
    """x W + b on (N, ..., in), the arrays named `index`.weight and `index`.bias."""
    graph.node("MatMul", f"{index}.MatMul", [graph.constant(f"{index}.weight", weight)])   # x W, (in, out)
    graph.node("Add", f"{index}.Add", [graph.constant(f"{index}.bias", bias)])              # + b
