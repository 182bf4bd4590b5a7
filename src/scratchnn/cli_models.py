"""The networks that ``scratchnn train`` builds, and the one place that maps flags to layers.

Every architecture is a builder in `ARCHITECTURES`, called by `build_network` with the
parsed command line and the `Data`. Today there is one, the multi-layer perceptron:

    [Standardize] [Flatten] (Dense -> activation [-> Dropout]) x len(hidden) -> Dense(num_classes)

The last layer gives logits: `CrossEntropy` applies the softmax. To add another architecture
(say ``--model cnn``, or a ``--layers SPEC`` stack), write its builder, add it to
`ARCHITECTURES`, and give the `train` parser a ``--model`` flag with those choices.
"""

import math

import numpy as np

from . import activations
from .activations import ACTIVATIONS
from .layers import Dense, Dropout, Flatten, Standardize
from .model import Sequential

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


def _mlp(args, data):
    return build_mlp(data.input_shape, args.hidden, args.activation, args.dropout, data.num_classes,
                     seed=args.seed, dtype=args.dtype,
                     standardize_from=None if data.kind == "images" else data.X_train)


ARCHITECTURES = {"mlp": _mlp}


def build_network(args, data):
    """The network the `train` command line asks for (``args.model``, default "mlp"), with
    the class names of `data`."""
    net = ARCHITECTURES[args.model](args, data)
    net.classes = list(data.classes)
    return net


def describe_network(net):
    """One line: the widths of the Dense layers, the hidden activation and the parameter count."""
    dense = [layer for layer in net.layers if isinstance(layer, Dense)]
    widths = [dense[0].in_features] + [layer.out_features for layer in dense]
    used = {type(layer) for layer in net.layers}
    names = [name for name, cls in ACTIVATIONS.items() if cls in used]
    count = sum(parameter.value.size for parameter in net.parameters())
    activation_text = f", {'/'.join(names)}" if names else ""
    return f"{'-'.join(map(str, widths))}{activation_text}, {count:,} parameters ({net.dtype.name})"
