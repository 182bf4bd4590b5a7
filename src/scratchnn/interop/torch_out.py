"""`to_torch`: a `Sequential` as a ``torch.nn.Sequential``, one converter per layer type in
`TO_TORCH` (see `scratchnn.interop.pytorch` for the mapping and what does not carry over)."""

import numpy as np

from .._checks import describe
from ..model import Sequential
from ..nn import (ELU, GELU, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Identity,
                  LeakyReLU, MaxPool2D, RandomFlip, RandomTranslation, ReLU, Reshape, Sigmoid, Softmax, Standardize,
                  Tanh)
from ..nn.normalization import LayerNorm
from ..nn.spatial import pair
from .torch_modules import import_torch, standardize_module_class, to_tensor
from .torch_sequences import SEQUENCE_LAYERS, TO_TORCH_SEQUENCES, sequence_rank


def to_torch(net, input_shape=None):
    """A ``torch.nn.Sequential`` computing what `net` (a `Sequential`) computes, with its
    weights, buffers (BatchNorm's running statistics) and dtype, in eval mode (call
    ``.train()`` to train it). BatchNorm becomes BatchNorm1d or BatchNorm2d by the rank of
    its input, read from the layers around it or from ``input_shape`` (one sample's shape).
    Recurrent layers, LastStep, MultiHeadAttention, PositionalEmbedding and a causal
    TransformerBlock become the stand-in modules of `scratchnn.interop.torch_modules`
    (``TorchRecurrent(nn.LSTM(...))``, ...), which a ``torch.nn.Sequential`` can call.

    Raises TypeError for something that is not a `Sequential`; ValueError naming the layer
    for a layer type with no torch equivalent (see ``TO_TORCH``), or for a BatchNorm whose
    input rank nothing tells.
    """
    torch = import_torch()
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a scratchnn Sequential, got {describe(net)}")
    for index, layer in enumerate(net.layers):
        if type(layer) not in TO_TORCH:
            raise ValueError(f"layer {index} ({type(layer).__name__}) has no PyTorch equivalent; supported: "
                             f"{', '.join(sorted(cls.__name__ for cls in TO_TORCH))}")
    shapes = net.output_shapes(input_shape)
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[net.dtype]
    modules = []
    with torch.no_grad():
        for index, layer in enumerate(net.layers):
            rank = _input_rank(net.layers, index, shapes, input_shape or net.input_shape)
            modules += TO_TORCH[type(layer)](torch, layer, dtype, rank, index)
    return torch.nn.Sequential(*modules).eval()


def _input_rank(layers, index, shapes, input_shape):
    """The rank of layer `index`'s input (2: rows, 4: images), or None if nothing tells."""
    known = shapes[index - 1] if index else (None if input_shape is None else (None, *input_shape))
    if known is not None:
        return len(known)
    for layer in reversed(layers[:index]):
        if isinstance(layer, (Dense, Flatten, GlobalAvgPool2D)):
            return 2
        if isinstance(layer, (Conv2D, MaxPool2D, AvgPool2D, RandomFlip, RandomTranslation)):
            return 4
        if isinstance(layer, (Reshape, Standardize)):
            return len(layer.shape) + 1
        if isinstance(layer, SEQUENCE_LAYERS):
            return sequence_rank(layer)
    for layer in layers[index + 1:]:
        if isinstance(layer, Dense):
            return 2
        if isinstance(layer, (Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D)):
            return 4
    return None


def _to_linear(torch, layer, dtype, rank, index):
    module = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
    module.weight.copy_(to_tensor(torch, layer.weight.value.T, dtype))        # torch keeps W as (out, in)
    module.bias.copy_(to_tensor(torch, layer.bias.value, dtype))
    return [module]


def _to_conv2d(torch, layer, dtype, rank, index):
    padding = layer.get_config()["padding"]                 # "same", "valid" or what was given
    padding = padding if isinstance(padding, str) else pair("padding", padding, minimum=0)
    module = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, padding,
                             dtype=dtype)
    module.weight.copy_(to_tensor(torch, layer.weight.value, dtype))
    module.bias.copy_(to_tensor(torch, layer.bias.value, dtype))
    return [module]


def _to_batch_norm(torch, layer, dtype, rank, index):
    if rank not in (2, 4):
        raise ValueError(f"layer {index} ({layer!r}): nothing in the network tells whether it normalizes rows "
                         f"or images: pass input_shape, e.g. to_torch(net, input_shape=(8,))")
    kind = torch.nn.BatchNorm1d if rank == 2 else torch.nn.BatchNorm2d
    module = kind(layer.num_features, eps=layer.epsilon, momentum=layer.momentum, dtype=dtype)
    for name, array in [("weight", layer.weight.value), ("bias", layer.bias.value),
                        ("running_mean", layer.running_mean), ("running_var", layer.running_var)]:
        getattr(module, name).copy_(to_tensor(torch, array, dtype))
    return [module]


def _to_layer_norm(torch, layer, dtype, rank, index):
    module = torch.nn.LayerNorm(layer.normalized_shape, eps=layer.eps, elementwise_affine=layer.elementwise_affine,
                                dtype=dtype)
    if layer.elementwise_affine:
        module.weight.copy_(to_tensor(torch, layer.weight.value, dtype))
        module.bias.copy_(to_tensor(torch, layer.bias.value, dtype))
    return [module]


def _to_standardize(torch, layer, dtype, rank, index):
    return [standardize_module_class()(to_tensor(torch, layer.mean, dtype), to_tensor(torch, layer.scale, dtype))]


def _torch_plain(make):
    """The converter of a layer that maps to `make(torch.nn, layer)`: modules without weights."""
    return lambda torch, layer, dtype, rank, index: make(torch.nn, layer)


TO_TORCH = {
    Dense: _to_linear,
    Conv2D: _to_conv2d,
    MaxPool2D: _torch_plain(lambda nn, layer: [nn.MaxPool2d(layer.kernel_size, layer.stride)]),
    AvgPool2D: _torch_plain(lambda nn, layer: [nn.AvgPool2d(layer.kernel_size, layer.stride)]),
    GlobalAvgPool2D: _torch_plain(lambda nn, layer: [nn.AdaptiveAvgPool2d(1), nn.Flatten()]),
    BatchNorm: _to_batch_norm,
    Flatten: _torch_plain(lambda nn, layer: [nn.Flatten()]),
    Reshape: _torch_plain(lambda nn, layer: [nn.Flatten(), nn.Unflatten(1, layer.shape)]),
    Standardize: _to_standardize,
    LayerNorm: _to_layer_norm,
    Dropout: _torch_plain(lambda nn, layer: [nn.Dropout(layer.rate)]),
    RandomFlip: _torch_plain(lambda nn, layer: [nn.Identity()]),           # the identity at inference
    RandomTranslation: _torch_plain(lambda nn, layer: [nn.Identity()]),
    Identity: _torch_plain(lambda nn, layer: [nn.Identity()]),
    Sigmoid: _torch_plain(lambda nn, layer: [nn.Sigmoid()]),
    Tanh: _torch_plain(lambda nn, layer: [nn.Tanh()]),
    ReLU: _torch_plain(lambda nn, layer: [nn.ReLU()]),
    LeakyReLU: _torch_plain(lambda nn, layer: [nn.LeakyReLU(layer.negative_slope)]),
    ELU: _torch_plain(lambda nn, layer: [nn.ELU(layer.alpha)]),
    GELU: _torch_plain(lambda nn, layer: [nn.GELU(approximate=layer.approximate)]),
    Softmax: _torch_plain(lambda nn, layer: [nn.Softmax(dim=-1)]),
    **TO_TORCH_SEQUENCES,           # Embedding, RNN, LSTM, GRU, LastStep, attention, TransformerBlock, ...
}
