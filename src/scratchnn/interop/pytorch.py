"""PyTorch in and out: `from_torch` builds a `Sequential` from torch modules, `to_torch` a
`torch.nn.Sequential` from a `Sequential`, with the same weights, buffers and dtype.

Each direction is a table of converters, one function per layer type (`FROM_TORCH`, keyed
by the torch class's name; `TO_TORCH`, keyed by our class): a new layer type is one more
entry. Two layouts differ: Dense keeps W as (in, out), the blog's ``x @ W``, and
``torch.nn.Linear`` as (out, in), so the weight is transposed both ways; Conv2D's
(out, in, kh, kw) is torch's already. Everything else is copied as it is.

Some of our layers have no single torch module:
- GlobalAvgPool2D (N, C, H, W) -> (N, C) is ``AdaptiveAvgPool2d(1)`` then ``Flatten()``
  (torch's pooling keeps (N, C, 1, 1)); `from_torch` reads the pair back as one layer.
- Reshape, which reshapes every axis but the batch's, is ``Flatten()`` then
  ``Unflatten(1, shape)`` (``Unflatten`` alone reshapes axis 1 only); read back as one layer.
- Standardize is `scratchnn.interop.torch_modules.TorchStandardize`, a three-line module
  with the fixed buffers ``mean`` and ``scale``: y = (x − mean) / scale.
- The sequence layers' torch modules are called differently (a tuple out of nn.LSTM, a mask
  at call time): see `scratchnn.interop.torch_sequences`, which holds their entries.
RandomFlip and RandomTranslation, the identity at inference, become ``torch.nn.Identity``:
the augmentation of training does not carry over (torch.nn has no such layers).

torch is optional (``pip install scratchnn[torch]``) and imported only when these run.
This module reads torch modules (`from_torch`); `scratchnn.interop.torch_out` writes them.

>>> net = sn.from_torch(torch_model.eval())           # a Sequential, weights copied
>>> model = sn.to_torch(net)                           # a torch.nn.Sequential, in eval mode
"""

import numpy as np

from .._checks import boolean, describe
from ..model import Sequential
from ..nn import (ELU, GELU, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Identity,
                  LeakyReLU, MaxPool2D, ReLU, Reshape, Sigmoid, Softmax, Standardize, Tanh)
from ..nn.normalization import LayerNorm
from ..nn.spatial import pair
from .torch_modules import bias_of, import_torch, module_classes, refuse
from .torch_sequences import FROM_TORCH_SEQUENCES, SEQUENCE_LAYERS, first_shape, sequence_shape
from .torch_out import TO_TORCH, to_torch

__all__ = ["FROM_TORCH", "TO_TORCH", "from_torch", "to_torch"]


def from_torch(module, input_shape=None, seed=None, causal=False):
    """A built `Sequential` computing what torch `module` computes in eval mode, with its
    weights, buffers and dtype (float32 or float64).

    ``module``: a ``torch.nn.Sequential`` (nested ones are read in order), a list of modules
    applied in order, or one module. ``input_shape``: one sample's shape, e.g. (1, 28, 28);
    needed only where a conversion depends on the image size (``AdaptiveAvgPool2d`` with an
    output larger than 1, which becomes an AvgPool2D of the size that divides the image);
    when given, it is checked against the network and kept as ``net.input_shape``.
    ``seed`` seeds the network's generator (dropout masks in later training). ``causal``:
    whether bare ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` modules, which
    torch hands their mask at call time, become causal (the wrappers of
    `scratchnn.interop.torch_modules` carry their own); True with no such module is an error.

    Raises TypeError for something that is not a torch module; ValueError naming the module
    for a module type or argument with no equivalent here (see ``FROM_TORCH``), for
    parameters of mixed or other dtypes, and for an input_shape that is missing or does
    not fit. torch's Linear/Conv2d without bias get a zero bias (which trains here).
    """
    torch = import_torch()
    modules = _module_list(torch, module)
    causal = boolean("causal", causal)
    if input_shape is not None and (not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in input_shape)):
        raise ValueError(f"input_shape must be one sample's shape, a tuple of positive ints such as "
                         f"(1, 28, 28), got {describe(input_shape)}")
    dtype = _common_dtype(torch, modules)
    walk = _Walk(modules, _first_shape(modules[0]) if input_shape is None else tuple(int(n) for n in input_shape),
                 causal)
    wrappers = module_classes()
    rows_guessed = input_shape is None and type(modules[0]).__name__ == "Linear"
    layers, states = [], []
    while not walk.done():
        module = walk.take()
        convert = FROM_TORCH.get(type(module).__name__)
        expected = wrappers.get(type(module).__name__) or getattr(torch.nn, type(module).__name__, None)
        if convert is None or type(module) is not expected:
            raise ValueError(f"module {walk.index} ({type(module).__name__}) has no scratchnn equivalent; "
                             f"supported: {', '.join(sorted(FROM_TORCH))}")
        try:
            converted = convert(module, walk)
        except (TypeError, ValueError) as error:
            raise ValueError(f"module {walk.index} ({type(module).__name__}) cannot be converted: {error}") from None
        for layer, state in converted:
            walk.shape = _next_shape(layer, walk.shape, walk.index, rows_guessed)
            layers.append(layer)
            states.append(state)
    if causal and not walk.causal_used:
        raise ValueError("causal=True, but no bare nn.MultiheadAttention or nn.TransformerEncoderLayer takes a mask "
                         "at call time: leave causal=False")
    net = Sequential(*layers, dtype=dtype, seed=seed)
    net.load_state_dict({f"{index}.{name}": tensor.detach().cpu().numpy()
                         for index, state in enumerate(states) for name, tensor in state.items()})
    if input_shape is not None:
        net.output_shapes(tuple(input_shape))            # raises, naming the layer that does not fit
        net.input_shape = tuple(int(n) for n in input_shape)
    return net


def _first_shape(module):
    """One sample's shape as the first module tells it: a Linear reads rows (N, in_features)
    (torch's Linear takes (N, ..., in) too: sequences need input_shape), a Conv2d images."""
    if type(module).__name__ == "Linear":
        return (module.in_features,)
    if type(module).__name__ == "Conv2d":
        return (module.in_channels, None, None)
    return first_shape(module)                    # sequences: (None, features)


class _Walk:
    """Where `from_torch` stands: the modules, the index of the last one taken, and one
    sample's shape before the next layer (None: unknown; None entries: unknown sizes), and
    whether bare attention modules are causal (``causal``) and one has asked (``causal_used``)."""

    def __init__(self, modules, shape, causal=False):
        self.modules, self.index, self.shape = modules, -1, shape
        self.causal, self.causal_used = causal, False

    def call_time_causal(self):
        """from_torch's ``causal``, for a module that torch hands its mask when called."""
        self.causal_used = True
        return self.causal

    def done(self):
        return self.index + 1 >= len(self.modules)

    def take(self):
        self.index += 1
        return self.modules[self.index]

    def following(self):
        """The next module, or None at the end."""
        return None if self.done() else self.modules[self.index + 1]

    def image_size(self, what):
        """(H, W) of the input, or a ValueError saying that input_shape is needed for `what`."""
        if self.shape is None or len(self.shape) != 3 or None in self.shape:
            raise ValueError(f"{what} depends on the image size: pass input_shape=(channels, height, width), "
                             f"e.g. from_torch(model, input_shape=(1, 28, 28))")
        return self.shape[1:]


def _module_list(torch, module):
    """The modules applied in order: a Sequential's children (nested ones flattened), a list's items."""
    if isinstance(module, (list, tuple)):
        items = list(module)
    elif isinstance(module, torch.nn.Module):
        items = [module]
    else:
        raise TypeError(f"module must be a torch.nn.Module, a torch.nn.Sequential or a list of modules, "
                        f"got {describe(module)}")
    modules = []
    for item in items:
        if type(item) is torch.nn.Sequential:
            modules += _module_list(torch, list(item))
        elif isinstance(item, torch.nn.Module):
            modules.append(item)
        else:
            raise TypeError(f"module list items must be torch.nn.Module instances, got {describe(item)}")
    if not modules:
        raise ValueError("module holds no layers: give at least one torch module")
    return modules


def _common_dtype(torch, modules):
    """The one floating dtype of the modules' tensors (torch's default for none), as NumPy's."""
    dtypes = {tensor.dtype for module in modules for tensor in [*module.parameters(), *module.buffers()]
              if tensor.is_floating_point()} or {torch.get_default_dtype()}
    names = {torch.float32: np.float32, torch.float64: np.float64}
    if len(dtypes) > 1 or not dtypes <= set(names):
        raise ValueError(f"module parameters must all be float32 or all float64, got {sorted(map(str, dtypes))}")
    return np.dtype(names[dtypes.pop()])


def _from_linear(module, walk):
    return [(Dense(module.in_features, module.out_features),
             {"weight": module.weight.T, "bias": bias_of(module, module.out_features)})]    # W is (in, out) here


def _from_conv2d(module, walk):
    refuse(module, dilation=1, groups=1, padding_mode="zeros")
    padding = module.padding if isinstance(module.padding, str) else pair("padding", module.padding, minimum=0)
    layer = Conv2D(module.in_channels, module.out_channels, pair("kernel_size", module.kernel_size),
                   pair("stride", module.stride), padding)
    return [(layer, {"weight": module.weight, "bias": bias_of(module, module.out_channels)})]


def _from_max_pool(module, walk):
    refuse(module, padding=0, dilation=1, ceil_mode=False, return_indices=False)
    return [(MaxPool2D(pair("kernel_size", module.kernel_size), _pool_stride(module)), {})]


def _from_avg_pool(module, walk):
    refuse(module, padding=0, ceil_mode=False, divisor_override=None)
    return [(AvgPool2D(pair("kernel_size", module.kernel_size), _pool_stride(module)), {})]


def _pool_stride(module):
    """torch's stride, None when it is the kernel's (our default, as torch's)."""
    stride = pair("stride", module.stride)
    return None if stride == pair("kernel_size", module.kernel_size) else stride


def _from_adaptive_avg_pool(module, walk):
    """Output size 1 with a Flatten after it: GlobalAvgPool2D; without: GlobalAvgPool2D and a
    Reshape to (C, 1, 1); an output size that divides the image: AvgPool2D."""
    size = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
    if size == (1, 1):
        following = walk.following()
        if type(following).__name__ == "Flatten" and (following.start_dim, following.end_dim) == (1, -1):
            walk.take()
            return [(GlobalAvgPool2D(), {})]
        if walk.shape is None:
            raise ValueError("AdaptiveAvgPool2d(1) without a Flatten after it needs the channel count: "
                             "pass input_shape=(channels, height, width)")
        return [(GlobalAvgPool2D(), {}), (Reshape((walk.shape[0], 1, 1)), {})]
    height, width = walk.image_size(f"AdaptiveAvgPool2d(output_size={module.output_size})")
    if None in size or height % size[0] or width % size[1]:
        raise ValueError(f"output_size={module.output_size} must divide the image size {height}x{width}")
    kernel = (height // size[0], width // size[1])
    return [(AvgPool2D(kernel), {})]


def _from_batch_norm(module, walk):
    refuse(module, affine=True, track_running_stats=True)
    if module.momentum is None:
        raise ValueError("momentum=None (a cumulative average) is not supported: give a number")
    layer = BatchNorm(module.num_features, momentum=module.momentum, epsilon=module.eps)
    return [(layer, {"weight": module.weight, "bias": module.bias,
                     "running_mean": module.running_mean, "running_var": module.running_var})]


def _from_layer_norm(module, walk):
    if module.elementwise_affine and module.bias is None:
        raise ValueError("bias=False is not supported (LayerNorm's affine map has both γ and β)")
    layer = LayerNorm(tuple(module.normalized_shape), eps=module.eps, elementwise_affine=module.elementwise_affine)
    return [(layer, {"weight": module.weight, "bias": module.bias} if module.elementwise_affine else {})]


def _from_flatten(module, walk):
    """Flatten(1, -1); with an Unflatten(1, shape) after it, the two are one Reshape."""
    refuse(module, start_dim=1, end_dim=-1)
    following = walk.following()
    if type(following).__name__ == "Unflatten" and following.dim == 1:
        walk.take()
        return [(Reshape(following.unflattened_size), {})]
    return [(Flatten(), {})]


def _from_unflatten(module, walk):
    refuse(module, dim=1)
    if walk.shape is not None and len(walk.shape) != 1:
        raise ValueError(f"Unflatten(1, ...) of input with sample shape {walk.shape} reshapes axis 1 only: "
                         f"put a Flatten() before it")
    return [(Reshape(module.unflattened_size), {})]


def _from_softmax(module, walk):
    rank = None if walk.shape is None else len(walk.shape) + 1
    if module.dim != -1 and (rank is None or module.dim != rank - 1):
        raise ValueError(f"dim={module.dim} is not supported (Softmax runs over the last axis: dim=-1)")
    return [(Softmax(), {})]


def _from_standardize(module, walk):
    layer = Standardize(list(module.mean.shape))
    return [(layer, {"mean": module.mean, "scale": module.scale})]


def _plain(make):
    """The converter of a module that maps to `make(module)`, a layer without weights."""
    return lambda module, walk: [(make(module), {})]


FROM_TORCH = {
    "Linear": _from_linear,
    "Conv2d": _from_conv2d,
    "MaxPool2d": _from_max_pool,
    "AvgPool2d": _from_avg_pool,
    "AdaptiveAvgPool2d": _from_adaptive_avg_pool,
    "BatchNorm1d": _from_batch_norm,
    "BatchNorm2d": _from_batch_norm,
    "Flatten": _from_flatten,
    "Unflatten": _from_unflatten,
    "TorchStandardize": _from_standardize,
    "LayerNorm": _from_layer_norm,
    "Dropout": _plain(lambda module: Dropout(module.p)),
    "Identity": _plain(lambda module: Identity()),
    "Sigmoid": _plain(lambda module: Sigmoid()),
    "Tanh": _plain(lambda module: Tanh()),
    "ReLU": _plain(lambda module: ReLU()),
    "LeakyReLU": _plain(lambda module: LeakyReLU(module.negative_slope)),
    "ELU": _plain(lambda module: ELU(module.alpha)),
    "GELU": _plain(lambda module: GELU(module.approximate)),
    "Softmax": _from_softmax,
    **FROM_TORCH_SEQUENCES,         # Embedding, RNN, LSTM, GRU, attention, TransformerEncoderLayer, ...
}


def _next_shape(layer, shape, index, rows_guessed=False):
    """One sample's shape after `layer` (None or None entries where unknown); ValueError if
    the layer cannot take it."""
    try:
        if shape is not None and None not in shape:
            return tuple(layer.output_shape((1, *shape))[1:])
        if isinstance(layer, SEQUENCE_LAYERS) or (isinstance(layer, Dense) and shape and len(shape) == 2):
            return sequence_shape(layer, shape)                    # (T, features), T unknown
    except ValueError as error:
        before = f"input_shape {shape}" if index == 0 and None not in (shape or (None,)) else "what comes before it"
        hint = " (a first Linear reads rows: pass input_shape for sequences)" if index and rows_guessed else ""
        raise ValueError(f"module {index} does not fit {before}: {error}{hint}") from None
    if isinstance(layer, Dense):
        return None                                # (N, ..., in): the rank is unknown
    if isinstance(layer, Conv2D):
        return (layer.out_channels, None, None)
    if isinstance(layer, (Reshape, Standardize)):
        return layer.shape
    if isinstance(layer, BatchNorm) and shape is None:
        return None
    if isinstance(layer, GlobalAvgPool2D):
        return None if shape is None else shape[:1]
    if isinstance(layer, Flatten):
        return (None,)
    return shape                                   # pooling, BatchNorm, activations, Dropout
