"""Writing MultiHeadAttention and TransformerBlock as ONNX operators.

MultiHeadAttention, on x (N, T, dim) with H heads of d = dim / H features:

    MatMul(x, W_inᵀ), Add(b_in)            [Q K V] (N, T, 3·dim)
    Reshape [0, 0, 3, H, d], Transpose     (3, N, H, T, d); Gather 0, 1, 2: Q, K, V (N, H, T, d)
    MatMul(Q, Transpose(K)), Mul(1/√d)     S = Q Kᵀ / √d (N, H, T, T)
    causal: Where(j > i, −∞, S)            i, j from Range(0, T) (T = Shape(x)[1]), Unsqueeze'd to
                                           (T, 1) and (1, T), compared by Greater: any T runs
    Softmax(axis=−1), MatMul(·, V)         O = softmax(S) V
    Transpose, Reshape [0, 0, dim]         heads side by side (N, T, dim)
    MatMul(·, W_outᵀ), Add(b_out)          y

The causal mask is computed from the input's T rather than stored: a stored (max_len, max_len)
mask would bound T, which MultiHeadAttention itself does not. The weights are stored
transposed, as the MatMul takes them: "0.in_proj_weight.T" (dim, 3·dim), "0.out_proj_weight.T".

TransformerBlock is its parts in its order: the LayerNorms as `write_layer_norm`, the
attention as above, the residual connections as Add, the feed-forward network as MatMul + Add,
Relu or GELU (`write_gelu`), MatMul + Add; names prefixed by the parts' state-dict names
("3.norm1.weight", "3.self_attn.in_proj_weight.T", "3.linear1.weight" (dim, ff_dim), ...).
"""

import math

import numpy as np

from ._onnx_gelu import write_gelu
from ._onnx_sequence_export import write_layer_norm, write_matmul_add


def write_attention(graph, index, layer, opset):
    dim, heads, head_dim = layer.dim, layer.heads, layer.head_dim
    x = graph.current
    graph.node("MatMul", f"{index}.qkv", [graph.constant(f"{index}.in_proj_weight.T", layer.in_proj_weight.value.T)])
    graph.node("Add", f"{index}.qkv_bias", [graph.constant(f"{index}.in_proj_bias", layer.in_proj_bias.value)])
    graph.node("Reshape", f"{index}.split_heads", [graph.constant(f"{index}.qkv_shape", [0, 0, 3, heads, head_dim],
                                                                  np.int64)])   # (N, T, 3, H, d)
    qkv = graph.node("Transpose", f"{index}.qkv_heads", perm=[2, 0, 3, 1, 4])   # (3, N, H, T, d)
    q, k, v = (graph.node("Gather", f"{index}.{part}", [graph.constant(f"{index}.{part}_index", position, np.int64)],
                          data=qkv, axis=0) for position, part in enumerate("qkv"))
    graph.node("Transpose", f"{index}.k_transposed", data=k, perm=[0, 1, 3, 2])  # Kᵀ (N, H, d, T)
    graph.node("MatMul", f"{index}.scores", [graph.current], data=q)           # Q Kᵀ
    graph.node("Mul", f"{index}.scaled", [graph.constant(f"{index}.scale", 1.0 / math.sqrt(head_dim))])   # S
    if layer.causal:
        _mask_future(graph, index, x)
    graph.node("Softmax", f"{index}.Softmax", axis=-1)                         # P = softmax(S)
    graph.node("MatMul", f"{index}.heads_out", [v])                             # O = P V (N, H, T, d)
    graph.node("Transpose", f"{index}.steps_first", perm=[0, 2, 1, 3])        # (N, T, H, d)
    graph.node("Reshape", f"{index}.merge_heads", [graph.constant(f"{index}.out_shape", [0, 0, dim], np.int64)])
    graph.node("MatMul", f"{index}.out", [graph.constant(f"{index}.out_proj_weight.T", layer.out_proj_weight.value.T)])
    graph.node("Add", f"{index}.out_bias", [graph.constant(f"{index}.out_proj_bias", layer.out_proj_bias.value)])


def _mask_future(graph, index, x):
    """S with −∞ where j > i (position i may not look at a later j), for the T of `x`."""
    scores = graph.current
    graph.node("Shape", f"{index}.Shape", data=x)                             # [N, T, dim]
    steps = graph.node("Gather", f"{index}.steps", [graph.constant(f"{index}.step_axis", 1, np.int64)])   # T
    positions = graph.node("Range", f"{index}.positions", [steps, graph.constant(f"{index}.one", 1, np.int64)],
                           data=graph.constant(f"{index}.zero", 0, np.int64))   # [0, 1, ..., T − 1]
    rows = graph.node("Unsqueeze", f"{index}.rows", [graph.constant(f"{index}.last_axis", [1], np.int64)],
                      data=positions)                                          # i, (T, 1)
    graph.node("Unsqueeze", f"{index}.columns", [graph.constant(f"{index}.first_axis", [0], np.int64)],
               data=positions)                                                 # j, (1, T)
    graph.node("Greater", f"{index}.future", [rows])                          # j > i, (T, T)
    graph.node("Where", f"{index}.masked", [graph.constant(f"{index}.minus_inf", -np.inf), scores])


def write_transformer(graph, index, layer, opset):
    x = graph.current
    if layer.norm_first:
        write_layer_norm(graph, f"{index}.norm1", layer.norm1, opset)
        write_attention(graph, f"{index}.self_attn", layer.self_attn, opset)
        h = graph.node("Add", f"{index}.residual1", [graph.current], data=x)   # h = x + attention(norm1(x))
        write_layer_norm(graph, f"{index}.norm2", layer.norm2, opset)
        _feed_forward(graph, index, layer, opset)
        graph.node("Add", f"{index}.residual2", [graph.current], data=h)       # y = h + ff(norm2(h))
        return
    write_attention(graph, f"{index}.self_attn", layer.self_attn, opset)
    graph.node("Add", f"{index}.residual1", [graph.current], data=x)           # x + attention(x)
    write_layer_norm(graph, f"{index}.norm1", layer.norm1, opset)
    h = graph.current                                                          # h = norm1(x + attention(x))
    _feed_forward(graph, index, layer, opset)
    graph.node("Add", f"{index}.residual2", [graph.current], data=h)           # h + ff(h)
    write_layer_norm(graph, f"{index}.norm2", layer.norm2, opset)             # y = norm2(·)


def _feed_forward(graph, index, layer, opset):
    """ff(h) = linear2(activation(linear1(h)))."""
    write_matmul_add(graph, f"{index}.linear1", layer.linear1.weight.value, layer.linear1.bias.value)
    if layer.activation_name == "relu":
        graph.node("Relu", f"{index}.activation.Relu")
    else:
        write_gelu(graph, f"{index}.activation", layer.activation, opset)
    write_matmul_add(graph, f"{index}.linear2", layer.linear2.weight.value, layer.linear2.bias.value)
