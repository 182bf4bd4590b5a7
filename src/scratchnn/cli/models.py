"""The networks that ``scratchnn train`` builds, and the one place that maps flags to layers.

Every architecture is a builder in `ARCHITECTURES`, called by `build_network` with the
parsed command line and the `Data`:

- ``--model mlp`` (default): [Standardize] [Flatten] (Dense -> activation [-> Dropout]) x
  len(hidden) -> Dense(num_classes)
- ``--model cnn``: the stack `CNN_LAYERS` below, for 28x28 images;
- ``--layers SPEC``: any stack written as comma-separated tokens (see `parse_layers`).

The last layer gives logits: `CrossEntropy` applies the softmax. A regressor (``--task
regression``) ends in Dense(1) and then `target_scaling`, a fixed layer that turns the
standardized output back into the target's units.
"""

import math

import numpy as np

from ..nn import activations
from ..nn.activations import ACTIVATIONS
from ..nn.augment import RandomFlip, RandomTranslation
from ..nn.conv import Conv2D
from ..nn.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from ..nn.core import Dense, Dropout, Flatten, Reshape, Standardize, feature_statistics
from ..nn.normalization import BatchNorm
from ..model import Sequential

HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")
RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu")      # He initialization suits these


def build_mlp(input_shape, hidden, activation="relu", dropout=0.0, num_classes=2, seed=0,
              dtype=np.float32, standardize_from=None):
    """A multi-layer perceptron classifier; returns an untrained `Sequential`.

    input_shape: one sample's shape, e.g. (784,), or (1, 28, 28) (then a Flatten comes first).
    hidden: the hidden layers' widths, e.g. [256, 128]; [] gives softmax regression.
    activation: a name for `activations.activation` ("relu", "tanh", ...); the ReLU family
    gets He initialization, the others Glorot's.
    standardize_from: training inputs X (N, ...); when given, a `Standardize` layer built
    from them comes first, so the saved model takes raw inputs.

    >>> net = build_mlp((2,), [16, 16], "tanh", num_classes=3, standardize_from=X_train)
    >>> net.predict(X_test).shape                       # logits
    (60, 3)
    """
    layers = []
    if standardize_from is not None:
        layers.append(Standardize.from_data(standardize_from))
    if len(input_shape) > 1:
        layers.append(Flatten())
    width = math.prod(input_shape)
    init = "he_uniform" if activation in RELU_FAMILY else "glorot_uniform"
    for size in hidden:
        layers += [Dense(width, size, init=init), activations.activation(activation)]
        if dropout:
            layers.append(Dropout(dropout))
        width = size
    layers.append(Dense(width, num_classes))                  # logits, one per class
    return Sequential(*layers, seed=seed, dtype=dtype)


# The documented default CNN: random 1-pixel shifts in training, two 3x3 convolutions with
# batch norm and pooling, then a 3136-256 dense layer with dropout (README: accuracy and time
# of the documented command; docs/benchmarks.md: the choices measured).
CNN_LAYERS = ("shift:1,conv:32:3,bn,relu,maxpool:2,conv:64:3,bn,relu,maxpool:2,"
              "flatten,dense:256,relu,dropout:0.3")

# token -> (its form, the fewest and the most values after the name)
TOKEN_FORMS = {"conv": ("conv:OUT:K[:STRIDE[:PAD]]", 2, 4), "maxpool": ("maxpool:K[:STRIDE]", 1, 2),
               "avgpool": ("avgpool:K[:STRIDE]", 1, 2), "gap": ("gap", 0, 0), "bn": ("bn", 0, 0),
               "flatten": ("flatten", 0, 0), "dense": ("dense:N", 1, 1), "dropout": ("dropout:RATE", 1, 1),
               "shift": ("shift:PIXELS", 1, 1), "flip": ("flip", 0, 0),
               **{name: (name, 0, 0) for name in HIDDEN_ACTIVATIONS}}

IMAGE_TOKENS = ("conv", "maxpool", "avgpool", "gap", "shift", "flip")     # layers on (C, H, W) images

LAYERS_HELP = (
    "comma-separated layers, e.g. 'conv:32:3,relu,maxpool:2,flatten,dense:64,relu'; the output "
    "layer Dense(classes) is added (a spec that ends in dense:CLASSES has written it itself). "
    "Tokens: conv:OUT:K[:STRIDE[:PAD]] (PAD a number or 'same'; the default here is 'same', "
    "output as large as the input at stride 1, unlike the Python API's Conv2D, whose padding "
    "defaults to 0), maxpool:K[:STRIDE], avgpool:K[:STRIDE], gap (global average pool), bn "
    "(batch norm), flatten, dense:N, dropout:RATE, shift:PIXELS (in training, move each image "
    "by up to PIXELS rows and columns at random), flip (in training, mirror each image left-right "
    "with probability 1/2), and any activation name "
    f"({', '.join(HIDDEN_ACTIVATIONS)}). Images are fed as (1, 28, 28); a file name "
    "@spec.txt reads the tokens from a file (one or more per line, separated by commas, # comments)")


def parse_layers(spec, input_shape, num_classes, dtype=np.float32):
    """Build the layers a SPEC string describes, inferring each one's input size, and end
    them with the output layer Dense(num_classes). A spec whose last token is
    ``dense:<num_classes>`` has written that output layer itself; one whose last token is a
    Dense layer of another width is refused (two linear layers in a row are one).

    Raises ValueError, starting "--layers:", for an empty spec, an unknown or malformed token,
    or a layer that does not fit its input.

    >>> parse_layers("conv:8:3,relu,maxpool:2,flatten,dense:32,relu", (784,), 10)
    [Reshape(shape=[1, 28, 28]), Conv2D(in_channels=1, ...), ..., Dense(in_features=32, out_features=10, ...)]
    """
    tokens = [token.strip() for token in _read_spec(spec).split(",") if token.strip()]
    if not tokens:
        raise ValueError("--layers: the spec is empty; give layers such as 'dense:64,relu'")
    tokens = _without_output_layer(tokens, num_classes)
    layers, shape = [], tuple(input_shape)
    if any(token.split(":")[0] in IMAGE_TOKENS for token in tokens) and len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side != shape[0]:
            raise ValueError(f"--layers: convolutions need square images, but a sample has {shape[0]} values")
        layers.append(Reshape((1, side, side)))
        shape = (1, side, side)
    for token in tokens:
        layer = _layer_from_token(token, shape)
        layers.append(layer)
        shape = _output_shape(layer, shape, token, dtype)
    if len(shape) != 1:
        layers.append(Flatten())
        shape = (math.prod(shape),)
    layers.append(Dense(shape[0], num_classes))
    return layers


def _without_output_layer(tokens, num_classes):
    """The tokens without a last ``dense:<num_classes>`` (the output layer, which
    `parse_layers` adds); a last Dense of another width is refused."""
    name, *values = tokens[-1].split(":")
    if name != "dense" or len(values) != 1 or not values[0].strip().isdigit():
        return tokens
    if int(values[0]) == num_classes:
        return tokens[:-1]
    raise ValueError(f"--layers: the spec ends in {tokens[-1]!r}, right before the output layer "
                     f"Dense({num_classes}) that is added for the {num_classes} classes; end it with an "
                     f"activation (e.g. '{tokens[-1]},relu'), or with 'dense:{num_classes}' to write the "
                     "output layer yourself")


def _read_spec(spec):
    if not spec.startswith("@"):
        return spec
    path = spec[1:]
    try:
        with open(path, encoding="utf-8") as file:
            lines = [line.split("#", 1)[0].strip() for line in file]
    except OSError as error:
        raise ValueError(f"--layers {spec!r}: cannot read {path!r}: {error.strerror}") from None
    return ",".join(line for line in lines if line)


def _layer_from_token(token, shape):
    name, *values = token.split(":")
    hint = " (separate layers with commas)" if any(char.isspace() for char in token) else ""
    if name not in TOKEN_FORMS:
        raise ValueError(f"--layers: unknown token {token!r}{hint} (see scratchnn train --help)")
    form, fewest, most = TOKEN_FORMS[name]
    in_channels = _channels(shape, token) if name == "conv" else None
    try:
        if not fewest <= len(values) <= most:
            raise ValueError(f"it has {len(values)} value{'s' if len(values) != 1 else ''} after the name")
        if name == "conv":
            out_channels, kernel = _whole("OUT", values[0]), _whole("K", values[1])
            stride = _whole("STRIDE", values[2]) if len(values) > 2 else 1
            padding = values[3] if len(values) > 3 else "same"
            padding = padding if padding in ("same", "valid") else _whole("PAD", padding)
            if stride != 1 and padding == "same":
                padding = (kernel - 1) // 2
            return Conv2D(in_channels, out_channels, kernel, stride=stride, padding=padding)
        if name in ("maxpool", "avgpool"):
            pool = MaxPool2D if name == "maxpool" else AvgPool2D
            return pool(_whole("K", values[0]), _whole("STRIDE", values[1]) if len(values) > 1 else None)
        if name == "gap":
            return GlobalAvgPool2D()
        if name == "bn":
            return BatchNorm(shape[0])
        if name == "flatten":
            return Flatten()
        if name == "dense":
            return Dense(math.prod(shape), _whole("N", values[0]), init="he_uniform")
        if name == "dropout":
            return Dropout(_rate(values[0]))
        if name == "shift":
            return RandomTranslation(_whole("PIXELS", values[0]))
        if name == "flip":
            return RandomFlip("horizontal")
        return activations.activation(name)
    except (ValueError, TypeError) as error:
        raise ValueError(f"--layers: bad token {token!r}: {error}; expected {form}{hint}") from None


def _whole(what, text):
    if not text.strip().isdigit():
        raise ValueError(f"{what} must be a whole number, got {text!r}")
    return int(text)


def _rate(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"RATE must be a number in [0, 1), got {text!r}") from None


def _channels(shape, token):
    if len(shape) != 3:
        raise ValueError(f"--layers: {token!r} needs images (C, H, W), but the input there has shape {shape}")
    return shape[0]


def _output_shape(layer, shape, token, dtype):
    """One sample's shape after `layer`, found by running it on zeros."""
    if isinstance(layer, Dense) and len(shape) != 1:
        raise ValueError(f"--layers: {token!r} needs flat input; put 'flatten' before it")
    layer.build(np.random.default_rng(0), dtype)
    try:
        return layer.forward(np.zeros((2, *shape), dtype=dtype), training=False).shape[1:]
    except ValueError as error:
        raise ValueError(f"--layers: {token!r} does not fit input of shape {shape}: {error}") from None


def _custom(args, data):
    spec = args.layers if args.layers is not None else CNN_LAYERS
    layers = parse_layers(spec, data.input_shape, data.num_outputs)
    if data.kind != "images":
        layers.insert(0, Standardize.from_data(data.X_train))
    return Sequential(*layers, seed=args.seed, dtype=args.dtype)


def _mlp(args, data):
    return build_mlp(data.input_shape, args.hidden, args.activation, args.dropout, data.num_outputs,
                     seed=args.seed, dtype=args.dtype,
                     standardize_from=None if data.kind == "images" else data.X_train)


ARCHITECTURES = {"mlp": _mlp, "cnn": _custom}


def build_network(args, data):
    """The network the `train` command line asks for (``args.model``, default "mlp"): a
    classifier named by the class names of `data`, or, for ``data.task == "regression"``, a
    regressor ending in `target_scaling` (no class names: that is how a model file says it is
    a regressor)."""
    net = ARCHITECTURES["cnn" if getattr(args, "layers", None) is not None else args.model](args, data)
    if data.task == "regression":
        return Sequential(*net.layers, target_scaling(data.y_train), seed=args.seed, dtype=args.dtype)
    net.classes = list(data.classes)
    return net


def target_scaling(y):
    """A fixed (never trained) layer y = σ·z + μ, μ and σ the mean and standard deviation of
    the training targets y (N, outputs): the network before it learns the standardized target
    z = (y − μ)/σ, whatever the target's units, and the saved model predicts in those units.
    It is a `Standardize` layer with mean −μ/σ and scale 1/σ: (z + μ/σ) · σ = σ·z + μ."""
    mean, scale = feature_statistics(np.asarray(y, dtype=np.float64))
    layer = Standardize(list(mean.shape))
    layer.mean[...], layer.scale[...] = -mean / scale, 1 / scale        # (z − (−μ/σ)) / (1/σ) = σ·z + μ
    return layer


def describe_network(net):
    """One line: the widths of the Dense layers, the hidden activation and the parameter count."""
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    if any(isinstance(layer, Conv2D) for layer in net.layers):
        convs = [f"conv{layer.out_channels}" for layer in net.layers if isinstance(layer, Conv2D)]
        count = sum(parameter.value.size for parameter in net.parameters())
        return f"{'-'.join(convs + [str(layer.out_features) for layer in dense])}, {count:,} parameters ({net.dtype.name})"
    widths = [dense[0].in_features] + [layer.out_features for layer in dense]
    used = {type(layer) for layer in net.layers}
    names = [name for name, cls in ACTIVATIONS.items() if cls in used]
    count = sum(parameter.value.size for parameter in net.parameters())
    activation_text = f", {'/'.join(names)}" if names else ""
    return f"{'-'.join(map(str, widths))}{activation_text}, {count:,} parameters ({net.dtype.name})"
