"""The Python that reproduces a playground run: the data, the ``sn.Sequential(...)`` and the
``fit`` call, for as many epochs as the page has trained. Run it and you get the page's
weights, bit for bit (float64, one thread, the same seeds).
"""

from ..nn.activations import ACTIVATIONS
from ..optim import OPTIMIZERS
from . import config


def python_code(settings, epochs, n_train, csv_name="data.csv"):
    """The script (a str) for checked `settings` after `epochs` epochs on `n_train` training
    rows. For an uploaded CSV it reads `csv_name`, the file the page exported (/api/data.csv)."""
    lines = ['"""A scratchnn playground run, as Python (scratchnn playground: Export > Python)."""',
             "import numpy as np", "", "import scratchnn as sn"]
    if settings["preset"] == "blog":
        lines += ["from scratchnn.xor import X, Y", "",
                  "# the blog's 2-2-1 sigmoid network: U[0, 1) weights after np.random.seed(seed)",
                  "net = sn.Sequential(sn.Dense(2, 2, init=\"uniform\"), sn.Sigmoid(),",
                  "                    sn.Dense(2, 1, init=\"uniform\"), sn.Sigmoid(),",
                  f"                    seed=np.random.RandomState({settings['seed']}), dtype=np.float64)",
                  "loss, optimizer = sn.MSE(reduction=\"sum\"), sn.SGD(learning_rate=0.1)",
                  "inputs, targets = X, Y"]
        fit_args = "batch_size=None, shuffle=False"
    else:
        lines += _data_lines(settings, csv_name) + [""] + _network_lines(settings)
        options = config.fit_options(settings, n_train)
        fit_args = f"batch_size={options['batch_size']}, shuffle={options['shuffle']}"
    lines += ["", f"epochs = {epochs}",
              "if epochs:",
              f"    net.fit(inputs, targets, loss=loss, optimizer=optimizer, epochs=epochs, {fit_args},",
              "            verbose=0, threads=1)",
              "print(\"training loss:\", net.evaluate(inputs, targets, loss))",
              "sn.save(net, \"playground_model.npz\")", ""]
    return "\n".join(lines)


def _data_lines(settings, csv_name):
    seed = settings["seed"]
    if settings["dataset"] == "csv":
        lines = ["from scratchnn.datasets.tabular import load_csv", "",
                 f"X, y, info = load_csv({csv_name!r}, target=-1)  # the page's data (Export > data CSV)",
                 "X = X.astype(np.float64)"]
    elif settings["dataset"] in config.REGRESSION_SETS:
        lines = ["", f"rng = np.random.default_rng({seed})   # TF Playground's {settings['dataset']!r} set",
                 f"X = rng.uniform(-1.0, 1.0, size=({settings['samples']}, 2))"]
        if settings["dataset"] == "plane":
            lines.append("y = (X[:, 0] + X[:, 1]) / 2")
        else:
            lines.append("y = np.exp(-8 * ((X - 0.5) ** 2).sum(axis=1)) - np.exp(-8 * ((X + 0.5) ** 2).sum(axis=1))")
        lines.append(f"y = y + {settings['noise']!r} * rng.normal(size={settings['samples']})")
    elif settings["dataset"] == "xor4":
        lines = ["from scratchnn.xor import X, Y", "", "y = Y[:, 0].astype(np.int64)   # the blog's four rows"]
    else:
        extra = f", n_classes={settings['classes']}" if settings["dataset"] in config.MULTI_CLASS_SETS else ""
        lines = ["", f"X, y = sn.datasets.make_dataset({settings['dataset']!r}, n_samples={settings['samples']}, "
                 f"noise={settings['noise']!r}, random_state={seed}{extra})", "X = X.astype(np.float64)"]
    if settings["dataset"] != "csv":
        columns = ", ".join(config.FEATURE_CODE[name] for name in settings["features"])
        lines += ["x1, x2 = X[:, 0], X[:, 1]", f"inputs = np.stack([{columns}], axis=1)   # {', '.join(settings['features'])}"]
    else:
        lines.append("inputs = X")
    if settings["problem"] == "regression":
        lines.append("y = np.asarray(y, dtype=np.float64).reshape(-1, 1)")
    if settings["dataset"] == "xor4":
        lines.append("inputs, targets = inputs, y          # no test rows: the blog trains on all four")
    else:
        lines += [f"order = np.random.default_rng({seed}).permutation(len(X))     # the train/test split",
                  f"n_train = min(len(X), max(1, round({settings['ratio']!r} * len(X))))",
                  "test_inputs, test_targets = inputs[order[n_train:]], y[order[n_train:]]",
                  "inputs, targets = inputs[order[:n_train]], y[order[:n_train]]"]
    return lines


def _network_lines(settings):
    layers = ["sn.Standardize.from_data(inputs)"] if settings["dataset"] == "csv" else []
    width = len(settings["features"]) if settings["dataset"] != "csv" else "inputs.shape[1]"
    for units, name in zip(settings["layers"], settings["act"]):
        init = "he_uniform" if name in config.RELU_FAMILY else "glorot_uniform"
        layers.append(f"sn.Dense({width}, {units}, init={init!r})")
        if settings["bn"]:
            layers.append(f"sn.BatchNorm({units})")
        layers.append(f"sn.{ACTIVATIONS[name].__name__}()")
        if settings["dropout"]:
            layers.append(f"sn.Dropout({settings['dropout']!r})")
        width = units
    outputs = "1" if settings["problem"] == "regression" else "int(y.max()) + 1"
    layers.append(f"sn.Dense({width}, {outputs})")
    body = ",\n    ".join(layers)
    loss = "sn.MSE()" if settings["problem"] == "regression" else "sn.CrossEntropy()"
    decay = f", weight_decay={settings['l2']!r}" if settings["l2"] and settings["opt"] in config.DECAYING else ""
    decay += f", l1={settings['l1']!r}" if settings["l1"] else ""
    optimizer = f"sn.{OPTIMIZERS[settings['opt']].__name__}(learning_rate={settings['lr']!r}{decay})"
    return [f"net = sn.Sequential(\n    {body},\n    seed={settings['seed']}, dtype=np.float64)",
            f"loss, optimizer = {loss}, {optimizer}"]
