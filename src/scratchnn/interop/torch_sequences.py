"""The sequence layers in both directions of the PyTorch conversion: the entries of
`scratchnn.interop.pytorch.FROM_TORCH` and `scratchnn.interop.torch_out.TO_TORCH` for
Embedding, RNN, LSTM, GRU, LastStep, MultiHeadAttention, PositionalEmbedding and
TransformerBlock, and the shapes `from_torch` follows through them.

Our sequence layers keep PyTorch's parameter names and layouts (docs/sequences.md), so their
arrays copy across as they are, but for the Dense weights inside a TransformerBlock
(transposed). What differs is how the modules are called: torch's recurrent modules return a
tuple (output, h_n), ``nn.MultiheadAttention`` takes (query, key, value) and the causal mask
arrives with each call. `to_torch` wraps them in the stand-in modules of
`scratchnn.interop.torch_modules` (`TorchRecurrent`, `TorchSelfAttention`,
`TorchCausalEncoderLayer`, ...), which a ``torch.nn.Sequential`` can call; `from_torch`
reads the wrappers back, and also the bare torch modules: an ``nn.LSTM`` as a layer whose
output is torch's ``output`` (return_sequences=True), an ``nn.MultiheadAttention`` as
self-attention, and either attention module or an ``nn.TransformerEncoderLayer`` as causal
when ``from_torch(..., causal=True)`` says so (the mask is not part of the module).

Dropout inside torch's recurrent and attention modules is inactive in eval mode, which is
what `from_torch` converts, and our layers have none: it is dropped.
"""

from ..nn import GRU, LSTM, RNN, Embedding, LastStep, MultiHeadAttention, PositionalEmbedding, TransformerBlock
from .torch_modules import bias_of, import_torch, module_classes, refuse, to_tensor

SEQUENCE_LAYERS = (Embedding, RNN, LSTM, GRU, LastStep, MultiHeadAttention, PositionalEmbedding, TransformerBlock)
RECURRENT = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}

# --- from torch ----------------------------------------------------------------------------------


def _from_embedding(module, walk):
    refuse(module, padding_idx=None, max_norm=None, scale_grad_by_freq=False)
    return [(Embedding(module.num_embeddings, module.embedding_dim), {"weight": module.weight})]


def _from_recurrent(module, walk, return_sequences=True):
    """nn.RNN/LSTM/GRU (batch_first=True, no proj_size) as our layer of the same name, with
    torch's parameters under torch's names; bias=False gives zero biases (which train here)."""
    refuse(module, batch_first=True, proj_size=0)
    kind = RECURRENT[type(module).__name__]
    options = {"nonlinearity": module.nonlinearity} if kind is RNN else {}
    layer = kind(module.input_size, module.hidden_size, module.num_layers, bidirectional=module.bidirectional,
                 return_sequences=return_sequences, **options)
    zeros = import_torch().zeros(kind.gates * module.hidden_size, dtype=module.weight_ih_l0.dtype)
    names = [f"{part}_l{k}{suffix}" for k in range(module.num_layers) for suffix in ("", "_reverse")[:layer.directions]
             for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]          # torch's order, ours too
    return [(layer, {name: getattr(module, name) if module.bias or name.startswith("weight") else zeros
                     for name in names})]


def _from_torch_recurrent(module, walk):
    _check_inner(module.rnn, "RNN", "LSTM", "GRU")
    return _from_recurrent(module.rnn, walk, module.return_sequences)


def _from_attention(module, walk, causal=None):
    """nn.MultiheadAttention (batch_first=True, biases, one embedding size) as self-attention;
    causal as the wrapper says, or for a bare module as from_torch's ``causal``."""
    _check_attention(module)
    layer = MultiHeadAttention(module.embed_dim, module.num_heads,
                               causal=walk.call_time_causal() if causal is None else causal)
    return [(layer, _attention_state(module, ""))]


def _from_self_attention(module, walk):
    _check_inner(module.attention, "MultiheadAttention")
    return _from_attention(module.attention, walk, causal=module.causal)


def _check_attention(attention):
    refuse(attention, batch_first=True, _qkv_same_embed_dim=True, add_zero_attn=False)
    if attention.bias_k is not None:
        raise ValueError("add_bias_kv=True is not supported (only add_bias_kv=False)")
    if attention.in_proj_bias is None:
        raise ValueError("bias=False is not supported (only bias=True)")


def _attention_state(attention, prefix):
    return {f"{prefix}in_proj_weight": attention.in_proj_weight, f"{prefix}in_proj_bias": attention.in_proj_bias,
            f"{prefix}out_proj_weight": attention.out_proj.weight, f"{prefix}out_proj_bias": attention.out_proj.bias}


def _from_encoder_layer(module, walk, causal=None):
    """nn.TransformerEncoderLayer (batch_first, relu or gelu) as a TransformerBlock, causal as
    the wrapper says, or for a bare layer as from_torch's ``causal``; its dropout is dropped."""
    attention = module.self_attn
    _check_attention(attention)
    if module.activation_relu_or_gelu not in (1, 2):
        raise ValueError("only activation 'relu' or 'gelu' is supported")
    for norm in (module.norm1, module.norm2):
        refuse(norm, eps=1e-5, elementwise_affine=True)
    layer = TransformerBlock(attention.embed_dim, attention.num_heads, module.linear1.out_features,
                             norm_first=module.norm_first,
                             activation="relu" if module.activation_relu_or_gelu == 1 else "gelu",
                             causal=walk.call_time_causal() if causal is None else causal)
    state = _attention_state(attention, "self_attn.")
    for name in ("linear1", "linear2"):                                  # our Dense keeps W as (in, out)
        linear = getattr(module, name)
        state.update({f"{name}.weight": linear.weight.T, f"{name}.bias": bias_of(linear, linear.out_features)})
    for name in ("norm1", "norm2"):
        state.update({f"{name}.weight": getattr(module, name).weight, f"{name}.bias": getattr(module, name).bias})
    return [(layer, state)]


def _from_causal_encoder_layer(module, walk):
    _check_inner(module.layer, "TransformerEncoderLayer")
    return _from_encoder_layer(module.layer, walk, causal=True)


def _from_positional_embedding(module, walk):
    return [(PositionalEmbedding(*module.weight.shape), {"weight": module.weight})]


def _check_inner(inner, *names):
    """ValueError unless a wrapper holds exactly one of the torch.nn classes `names` (a
    subclass may compute something else)."""
    torch = import_torch()
    name = type(inner).__name__
    if name not in names or type(inner) is not getattr(torch.nn, name):
        raise ValueError(f"it holds a {name}, expected a torch.nn.{' or '.join(names)}")


FROM_TORCH_SEQUENCES = {
    "Embedding": _from_embedding,
    "RNN": _from_recurrent,
    "LSTM": _from_recurrent,
    "GRU": _from_recurrent,
    "TorchRecurrent": _from_torch_recurrent,
    "TorchLastStep": lambda module, walk: [(LastStep(), {})],
    "MultiheadAttention": _from_attention,
    "TorchSelfAttention": _from_self_attention,
    "TransformerEncoderLayer": _from_encoder_layer,
    "TorchCausalEncoderLayer": _from_causal_encoder_layer,
    "TorchPositionalEmbedding": _from_positional_embedding,
}


def first_shape(module):
    """One sample's shape, (T, features) with T unknown, as a first sequence module tells it;
    None for others (an Embedding's (N, T) ids: see `sequence_shape`)."""
    name = type(module).__name__
    inner = {"TorchRecurrent": "rnn", "TorchSelfAttention": "attention", "TorchCausalEncoderLayer": "layer"}
    module = getattr(module, inner[name]) if name in inner else module
    name = type(module).__name__
    if name in RECURRENT:
        return (None, module.input_size)
    if name == "MultiheadAttention":
        return (None, module.embed_dim)
    if name == "TransformerEncoderLayer":
        return (None, module.self_attn.embed_dim)
    if name == "TorchPositionalEmbedding":
        return (None, module.weight.shape[1])
    return None


def sequence_shape(layer, shape):
    """One sample's shape after `layer` (a sequence layer or a Dense) when the number of steps
    is unknown: `shape` is (None, features), or None if nothing is known; an Embedding first
    is taken to read (N, T) ids. ValueError if the layer cannot take the features."""
    if isinstance(layer, Embedding):
        return (None, layer.dim) if shape is None else (*shape, layer.dim)
    if shape is None:
        width = getattr(layer, "input_size", None) or getattr(layer, "dim", None)
        if width is None:
            return None
        shape = (None, width)
    if shape[-1] is None:
        return None
    probe = layer.output_shape((1, *(1 if n is None else n for n in shape)))[1:]    # one step for T
    return (None, *probe[1:]) if len(probe) == len(shape) else probe               # LastStep drops T


def sequence_rank(layer):
    """The rank of a sequence layer's output: 2 for rows (LastStep, return_sequences=False), else 3."""
    return 2 if isinstance(layer, LastStep) or not getattr(layer, "return_sequences", True) else 3


# --- to torch ------------------------------------------------------------------------------------


def _to_embedding(torch, layer, dtype, rank, index):
    module = torch.nn.Embedding(layer.num_embeddings, layer.dim, dtype=dtype)
    module.weight.copy_(to_tensor(torch, layer.weight.value, dtype))
    return [module]


def _to_recurrent(torch, layer, dtype, rank, index):
    """Our RNN/LSTM/GRU as the torch module of the same name in a `TorchRecurrent`."""
    options = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    rnn = getattr(torch.nn, type(layer).__name__)(layer.input_size, layer.hidden_size, layer.num_layers,
                                                  batch_first=True, bidirectional=layer.bidirectional, dtype=dtype,
                                                  **options)
    for name, parameter in layer.named_parameters().items():              # the same names and layouts
        getattr(rnn, name).copy_(to_tensor(torch, parameter.value, dtype))
    return [module_classes()["TorchRecurrent"](rnn, layer.return_sequences)]


def _copy_attention(torch, attention, layer, dtype):
    """Our MultiHeadAttention's arrays into torch's `attention`, as they are."""
    attention.in_proj_weight.copy_(to_tensor(torch, layer.in_proj_weight.value, dtype))
    attention.in_proj_bias.copy_(to_tensor(torch, layer.in_proj_bias.value, dtype))
    attention.out_proj.weight.copy_(to_tensor(torch, layer.out_proj_weight.value, dtype))
    attention.out_proj.bias.copy_(to_tensor(torch, layer.out_proj_bias.value, dtype))


def _to_attention(torch, layer, dtype, rank, index):
    attention = torch.nn.MultiheadAttention(layer.dim, layer.heads, batch_first=True, dtype=dtype)
    _copy_attention(torch, attention, layer, dtype)
    return [module_classes()["TorchSelfAttention"](attention, layer.causal)]


def _to_encoder_layer(torch, layer, dtype, rank, index):
    """A TransformerBlock as nn.TransformerEncoderLayer (dropout 0), in a
    `TorchCausalEncoderLayer` when causal (a torch Sequential passes no mask)."""
    module = torch.nn.TransformerEncoderLayer(layer.dim, layer.heads, layer.ff_dim, dropout=0.0,
                                              activation=layer.activation_name, batch_first=True,
                                              norm_first=layer.norm_first, dtype=dtype)
    _copy_attention(torch, module.self_attn, layer.self_attn, dtype)
    for name in ("linear1", "linear2"):                                   # Linear keeps W as (out, in)
        getattr(module, name).weight.copy_(to_tensor(torch, getattr(layer, name).weight.value.T, dtype))
        getattr(module, name).bias.copy_(to_tensor(torch, getattr(layer, name).bias.value, dtype))
    for name in ("norm1", "norm2"):
        getattr(module, name).weight.copy_(to_tensor(torch, getattr(layer, name).weight.value, dtype))
        getattr(module, name).bias.copy_(to_tensor(torch, getattr(layer, name).bias.value, dtype))
    return [module_classes()["TorchCausalEncoderLayer"](module) if layer.causal else module]


def _to_positional_embedding(torch, layer, dtype, rank, index):
    module = module_classes()["TorchPositionalEmbedding"](layer.max_len, layer.dim, dtype=dtype)
    module.weight.copy_(to_tensor(torch, layer.weight.value, dtype))
    return [module]


TO_TORCH_SEQUENCES = {
    Embedding: _to_embedding,
    RNN: _to_recurrent,
    LSTM: _to_recurrent,
    GRU: _to_recurrent,
    LastStep: lambda torch, layer, dtype, rank, index: [module_classes()["TorchLastStep"]()],
    MultiHeadAttention: _to_attention,
    PositionalEmbedding: _to_positional_embedding,
    TransformerBlock: _to_encoder_layer,
}
