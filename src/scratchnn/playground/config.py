"""What a playground page asks for: its settings checked, and the data, network, loss and
optimizer built from them with the library.

A page sends its settings as one JSON object (the same keys as its URL's query string, see
docs/playground.md). `check_settings` fills in the defaults and raises ValueError, one line
naming the key, for anything else; nothing is built before every key is checked. Two kinds:

- ``{"preset": "blog", "seed": 0}``: the blog's network, exactly (`scratchnn.xor`): 2-2-1
  sigmoid, U[0, 1) weights after ``np.random.seed(seed)``, squared error summed over the
  four XOR rows, SGD at 0.1, full batch, no shuffling; one epoch is one step.
- anything else: a toy data set or an uploaded CSV, input features, hidden layers with an
  activation each, Dropout, BatchNorm, an optimizer, L1 and L2, as `DEFAULTS` lists.
"""

import numpy as np

from .._checks import describe
from ..datasets.toy import DATASETS, make_dataset
from ..losses import MSE, CrossEntropy
from ..model import Sequential
from ..nn.activations import ACTIVATIONS, Sigmoid
from ..nn.core import Dense, Dropout, Standardize
from ..nn.normalization import BatchNorm
from ..optim import OPTIMIZERS, SGD
from ..xor import BLOG, X as XOR_X, Y as XOR_Y, build_xor_net

MAX_LAYERS = 8            # hidden layers
MAX_UNITS = 32            # units per hidden layer
MAX_SAMPLES = 2000        # points of a toy data set
MAX_CLASSES = 8
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")
RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu")
DECAYING = ("sgd", "adam", "adamw")       # the optimizers that take weight_decay (L2)
REGRESSION_SETS = ("plane", "bumps")      # TF Playground's two regression sets
MULTI_CLASS_SETS = ("spirals", "gaussians")
FEATURES = {                              # the input features of a 2-D point (x1, x2)
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}
FEATURE_CODE = {"x1": "x1", "x2": "x2", "x1^2": "x1 * x1", "x2^2": "x2 * x2", "x1x2": "x1 * x2",
                "sin_x1": "np.sin(x1)", "sin_x2": "np.sin(x2)"}

DEFAULTS = {
    "preset": "", "seed": 0, "dataset": "circles", "samples": 400, "noise": 0.1, "ratio": 0.5,
    "classes": 2, "batch": 10, "features": ["x1", "x2"], "layers": [4, 2], "act": ["tanh", "tanh"],
    "lr": 0.03, "opt": "sgd", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "bn": False, "epochs": 0,
    "problem": "classification", "plot": [0, 1],
}


def check_settings(raw):
    """`raw` (a dict from JSON) with the defaults filled in and every value checked.

    Raises ValueError (one line naming the key) for an unknown key or a value out of range.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"settings must be a JSON object, got {describe(raw)}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; known: {', '.join(DEFAULTS)}")
    s = {**DEFAULTS, **raw}
    s["seed"] = _int("seed", s["seed"], 0, 2**31 - 1)
    s["preset"] = _choice("preset", s["preset"], ("", "blog"))
    if s["preset"] == "blog":
        s.update(dataset="xor4", layers=[BLOG["hidden"]], act=["sigmoid"], lr=BLOG["learning_rate"],
                 opt="sgd", l1=0.0, l2=0.0, dropout=0.0, bn=False, batch=0, features=["x1", "x2"],
                 problem="classification", classes=2)
        s["epochs"] = _int("epochs", s["epochs"], 0, 10**7)
        return s
    s["dataset"] = _choice("dataset", s["dataset"], (*DATASETS, *REGRESSION_SETS, "xor4", "csv"))
    s["problem"] = "regression" if s["dataset"] in REGRESSION_SETS else _choice(
        "problem", s["problem"], ("classification", "regression"))
    s["samples"] = _int("samples", s["samples"], 10, MAX_SAMPLES)
    s["noise"] = _number("noise", s["noise"], 0.0, 2.0)
    s["ratio"] = _number("ratio", s["ratio"], 0.1, 0.9)
    s["classes"] = _int("classes", s["classes"], 2, MAX_CLASSES)
    s["batch"] = _int("batch", s["batch"], 0, 10**6)
    s["lr"] = _number("lr", s["lr"], 1e-6, 10.0)
    s["l1"] = _number("l1", s["l1"], 0.0, 1.0)
    s["l2"] = _number("l2", s["l2"], 0.0, 1.0)
    s["dropout"] = _number("dropout", s["dropout"], 0.0, 0.9)
    s["epochs"] = _int("epochs", s["epochs"], 0, 10**7)
    s["opt"] = _choice("opt", s["opt"], tuple(OPTIMIZERS))
    if s["l2"] and s["opt"] not in DECAYING:
        raise ValueError(f"l2 needs an optimizer that takes weight_decay ({', '.join(DECAYING)}), got opt={s['opt']!r}")
    if not isinstance(s["bn"], bool):
        raise ValueError(f"bn must be true or false, got {describe(s['bn'])}")
    s["features"] = _list("features", s["features"], lambda name, v: _choice(name, v, tuple(FEATURES)), 1, 7)
    if len(set(s["features"])) != len(s["features"]):
        raise ValueError(f"features must not repeat a feature, got {s['features']}")
    s["layers"] = _list("layers", s["layers"], lambda name, v: _int(name, v, 1, MAX_UNITS), 0, MAX_LAYERS)
    acts = _list("act", s["act"], lambda name, v: _choice(name, v, HIDDEN_ACTIVATIONS), 0, MAX_LAYERS)
    s["act"] = (acts + [acts[-1] if acts else "tanh"] * len(s["layers"]))[:len(s["layers"])]
    s["plot"] = _list("plot", s["plot"], lambda name, v: _int(name, v, 0, 255), 2, 2)
    return s


def _int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {describe(value)}")
    return value


def _number(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {describe(value)}")
    return float(value)


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {describe(value)}")
    return value


def _list(name, value, check, shortest, longest):
    if not isinstance(value, list) or not shortest <= len(value) <= longest:
        raise ValueError(f"{name} must be a list of {shortest} to {longest} items, got {describe(value)}")
    return [check(f"{name}[{index}]", item) for index, item in enumerate(value)]


# --- data ---------------------------------------------------------------------------------

def regression_set(name, n_samples, noise, seed):
    """TF Playground's regression sets on [-1, 1]²: "plane" (y = (x1 + x2) / 2) and "bumps"
    (two Gaussian bumps, + at (0.5, 0.5), − at (−0.5, −0.5)); noise added to y."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    if name == "plane":
        y = (X[:, 0] + X[:, 1]) / 2
    else:
        y = (np.exp(-8 * ((X - 0.5) ** 2).sum(axis=1)) - np.exp(-8 * ((X + 0.5) ** 2).sum(axis=1)))
    return X, y + noise * rng.normal(size=n_samples)


def raw_data(settings):
    """(X, y) of the toy set the settings name, X float64 (n, 2); the blog's four rows for xor4."""
    name, seed = settings["dataset"], settings["seed"]
    if name == "xor4":
        return XOR_X.copy(), XOR_Y[:, 0].astype(np.int64)
    if name in REGRESSION_SETS:
        return regression_set(name, settings["samples"], settings["noise"], seed)
    extra = {"n_classes": settings["classes"]} if name in MULTI_CLASS_SETS else {}
    X, y = make_dataset(name, n_samples=settings["samples"], noise=settings["noise"], random_state=seed, **extra)
    return X.astype(np.float64), y


def split(n_rows, ratio, seed):
    """(train rows, test rows): a permutation from ``np.random.default_rng(seed)``, the
    first round(ratio · n) rows for training (at least 1, the rest for testing)."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_train = min(n_rows, max(1, round(ratio * n_rows)))
    return order[:n_train], order[n_train:]


def features(X, names):
    """The input features `names` of 2-D points X (n, 2), as columns (n, len(names))."""
    x1, x2 = X[:, 0], X[:, 1]
    return np.stack([FEATURES[name](x1, x2) for name in names], axis=1)


def targets(y, settings):
    """y as fit takes it: the blog's (n, 1) floats, class labels (n,), or regression (n, 1)."""
    if settings["preset"] == "blog":
        return y.reshape(-1, 1).astype(np.float64)
    if settings["problem"] == "regression":
        return np.asarray(y, dtype=np.float64).reshape(-1, 1)
    return np.asarray(y).astype(np.int64)


def n_outputs(settings, y):
    """Output columns: 1 (blog, regression) or one logit per class."""
    if settings["preset"] == "blog" or settings["problem"] == "regression":
        return 1
    classes = int(np.max(y)) + 1 if len(y) else 2
    if not 2 <= classes <= MAX_CLASSES or np.any(np.asarray(y) < 0) or np.any(np.asarray(y) != np.round(y)):
        raise ValueError(f"classification needs class labels 0..{MAX_CLASSES - 1} (at least two classes), "
                         f"got labels from {np.min(y)} to {np.max(y)}: choose the regression problem")
    return classes


# --- network --------------------------------------------------------------------------------

def build(settings, n_inputs, outputs, standardize_from=None):
    """(net, loss, optimizer) for the settings; float64 so that the page and Python agree bit
    for bit. A CSV's inputs go through a `Standardize` layer built from its training rows."""
    if settings["preset"] == "blog":
        net = build_xor_net(settings["seed"], blog=True)
        return net, MSE(reduction="sum"), SGD(learning_rate=BLOG["learning_rate"])
    layers = [] if standardize_from is None else [Standardize.from_data(standardize_from)]
    width = n_inputs
    for units, name in zip(settings["layers"], settings["act"]):
        init = "he_uniform" if name in RELU_FAMILY else "glorot_uniform"
        layers.append(Dense(width, units, init=init))
        if settings["bn"]:
            layers.append(BatchNorm(units))
        layers.append(ACTIVATIONS[name]())
        if settings["dropout"]:
            layers.append(Dropout(settings["dropout"]))
        width = units
    layers.append(Dense(width, outputs))
    net = Sequential(*layers, seed=settings["seed"], dtype=np.float64)
    loss = MSE() if settings["problem"] == "regression" else CrossEntropy()
    return net, loss, optimizer(settings)


def optimizer(settings):
    """The optimizer the settings name, at their learning rate, with L1 (any optimizer's ``l1``)
    and L2 decay (``weight_decay``) when set."""
    options = {"weight_decay": settings["l2"]} if settings["opt"] in DECAYING and settings["l2"] else {}
    if settings["l1"]:
        options["l1"] = settings["l1"]
    return OPTIMIZERS[settings["opt"]](learning_rate=settings["lr"], **options)


def fit_options(settings, n_train):
    """The keyword arguments of each `fit` call: batch size (None: the whole set) and shuffling."""
    batch = settings["batch"]
    full = settings["preset"] == "blog" or batch == 0 or batch >= n_train
    return {"batch_size": None if full else batch, "shuffle": settings["preset"] != "blog" and not full,
            "verbose": 0, "threads": 1}


def output_is_probability(net):
    """Whether the network's output is already a probability (the blog's Sigmoid)."""
    return isinstance(net.layers[-1], Sigmoid)
