"""One page's training: its data, its network, and `fit` run a few epochs at a time.

Every epoch is the library's: `Session.train` calls ``net.fit(..., epochs=k)`` with the same
loss and optimizer objects each time, so k calls of one epoch are, bit for bit, one call
of k epochs (the optimizer keeps its state, the network its generator). `Session.frame`
describes the network for the page: weights and their last gradients, the loss, the
output over a grid of the plane, each hidden unit over that grid, the learning speed per
layer (`GradientStats`). A `threading.Condition` guards it: the server's threads take
turns.
"""

import base64
import math
import threading
import time
from collections import deque

import numpy as np

from ..explain import explain_step
from ..nn.activations import ACTIVATIONS
from ..nn.core import Dense
from ..surface import TrajectoryRecorder, loss_surface
from ..training import DivergedError, GradientStats
from . import config

GRID = 48                  # the output heatmap is GRID x GRID
NEURON_GRID = 16           # each hidden unit's heatmap
FRAME_SECONDS = 0.03       # training time aimed at per frame while playing
MAX_EPOCHS_PER_FRAME = 2000
MAX_PATH_POINTS = 400      # the loss surface's trajectory keeps at most this many points
SHOWN = 8                  # rows and columns of an array shown in the backprop view


class Session:
    """The training of one page. ``settings``: a dict for `config.check_settings`;
    ``upload``: (X, y, info) of an uploaded CSV (`datasets.tabular.load_csv`), or None.

    Raises ValueError (one line) for settings or data that cannot be trained."""

    def __init__(self, settings, upload=None):
        self.lock = threading.Condition()
        self.upload = None
        self.playing = False
        self.closed = False
        self.seq = 0
        self.stream = None                      # the event stream that plays this session
        self.error = None                       # why training stopped, when it diverged
        self.frames_sent = 0
        self.recent = deque(maxlen=64)          # (time, epoch) of recent frames: speed counters
        self.configure(settings, upload)

    # --- building ---------------------------------------------------------------------------

    def configure(self, settings, upload=None):
        """Check `settings`, build data and network from them; epoch 0. Nothing changes on error."""
        settings = config.check_settings(settings)
        upload = upload if upload is not None else self.upload
        if settings["dataset"] == "csv" and upload is None:
            raise ValueError("dataset 'csv' needs an uploaded CSV file first (POST /api/upload)")
        data = self._data(settings, upload)
        X_train, y_train = data["X_train"], data["y_train"]
        standardize = data["inputs_train"] if settings["dataset"] == "csv" else None
        net, loss, optimizer = config.build(settings, data["inputs_train"].shape[1],
                                            config.n_outputs(settings, y_train), standardize)
        net.check_data(data["inputs_train"], y_train, loss)
        self.settings, self.data, self.upload = settings, data, upload
        self.X_train, self.y_train = X_train, y_train
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.fit_options = config.fit_options(settings, len(y_train))
        self.epoch, self.history, self.error = 0, [], None
        self.recorder = TrajectoryRecorder()
        self.stats = {}
        self.epochs_per_frame = 1
        self.seconds_per_epoch = None
        self.playing = False
        self.data_version = getattr(self, "data_version", 0) + 1
        self._record_losses()

    def _data(self, settings, upload):
        if settings["dataset"] == "csv":
            X, y, info = upload
            X = np.asarray(X, dtype=np.float64)
            names = list(info["feature_names"])
            inputs = X
        else:
            X, y = config.raw_data(settings)
            names = settings["features"]
            inputs = config.features(X, names)
        y = config.targets(np.asarray(y), settings)
        if settings["dataset"] == "xor4":
            train, test = np.arange(len(X)), np.arange(0)     # the blog trains on its four rows alone
        else:
            train, test = config.split(len(X), settings["ratio"], settings["seed"])
        plot = [min(index, X.shape[1] - 1) for index in settings["plot"]]
        if X.shape[1] > 1 and plot[0] == plot[1]:
            plot[1] = (plot[0] + 1) % X.shape[1]
        return {"X": X, "y": y, "train": train, "test": test, "names": names, "plot": plot,
                "inputs_train": inputs[train], "X_train": X[train], "y_train": y[train],
                "inputs_test": inputs[test], "y_test": y[test]}

    def inputs(self, X):
        """The network's inputs for raw points X (the toy sets' features; a CSV's columns)."""
        if self.settings["dataset"] == "csv":
            return X
        return config.features(X, self.settings["features"])

    # --- training ---------------------------------------------------------------------------

    def budget_left(self):
        """Epochs left before the epoch budget (None: no budget)."""
        budget = self.settings["epochs"]
        return None if not budget else max(0, budget - self.epoch)

    def train(self, epochs):
        """Run `fit` for `epochs` epochs (fewer when the budget ends sooner); return how many ran."""
        left = self.budget_left()
        epochs = epochs if left is None else min(epochs, left)
        if epochs <= 0:
            self.playing = False
            return 0
        stats = GradientStats()
        start = time.perf_counter()
        try:
            history = self.net.fit(self.data["inputs_train"], self.y_train, loss=self.loss,
                                   optimizer=self.optimizer, epochs=epochs,
                                   callbacks=[self.recorder, stats], **self.fit_options)
        except DivergedError as error:                 # fit kept the last finite weights
            self.playing, self.error = False, str(error)
            self._record_losses()
            return 0
        seconds = time.perf_counter() - start
        per_epoch = seconds / epochs
        self.seconds_per_epoch = per_epoch if self.seconds_per_epoch is None else (
            0.7 * self.seconds_per_epoch + 0.3 * per_epoch)
        self.epoch += epochs
        self.stats = {key: values[-1] if math.isfinite(values[-1]) else None     # NaN: no ratio yet
                      for key, values in history.history.items() if "/" in key}
        points = self.recorder.points
        while len(points) > MAX_PATH_POINTS:           # keep the path's memory bounded: every other point
            points[:] = points[::2]
        self._record_losses()
        if self.budget_left() == 0:
            self.playing = False
        return epochs

    def play_chunk(self):
        """One frame's worth of training while playing: as many epochs as fit in FRAME_SECONDS."""
        if self.seconds_per_epoch:
            self.epochs_per_frame = max(1, min(MAX_EPOCHS_PER_FRAME,
                                               int(FRAME_SECONDS / max(self.seconds_per_epoch, 1e-7))))
        return self.train(self.epochs_per_frame)

    def _record_losses(self):
        train = self._loss(self.data["inputs_train"], self.y_train)
        test = self._loss(self.data["inputs_test"], self.data["y_test"])
        self.history.append((self.epoch, train, test))
        if len(self.history) > 600:                     # thin the chart's points, keep the last
            self.history[:-1] = self.history[:-1:2]
        self.losses = (train, test)

    def _loss(self, X, y):
        if len(X) == 0:
            return None
        value = float(self.net.evaluate(X, y, self.loss))
        return value if math.isfinite(value) else None

    # --- what the page draws ------------------------------------------------------------------

    def frame(self, with_data=False):
        """A JSON-ready description of the network now (and of the data, when asked)."""
        self.seq += 1
        now = time.perf_counter()
        self.recent.append((now, self.epoch))
        frame = {"seq": self.seq, "epoch": self.epoch, "playing": self.playing,
                 "loss_train": self.losses[0], "loss_test": self.losses[1],
                 "budget_left": self.budget_left(), "error": self.error, "epochs_per_frame": self.epochs_per_frame,
                 "history": self.history, "dense": self._dense(), "stats": self.stats,
                 "data_version": self.data_version, **self._speed(), **self._maps()}
        if with_data:
            frame["data"] = self.describe_data()
        return frame

    def _speed(self):
        """Frames and epochs per second over the recent frames (the last two seconds)."""
        recent = [(t, e) for t, e in self.recent if t >= self.recent[-1][0] - 2.0]
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return {"fps": 0.0, "eps": 0.0}
        span = recent[-1][0] - recent[0][0]
        return {"fps": (len(recent) - 1) / span, "eps": (recent[-1][1] - recent[0][1]) / span}

    def _dense(self):
        layers = []
        for index, layer in enumerate(self.net.layers):
            if isinstance(layer, Dense):
                layers.append({"index": index, "w": _round(layer.weight.value), "b": _round(layer.bias.value),
                               "gw": _round(layer.weight.grad), "gb": _round(layer.bias.grad)})
        return layers

    def grid_points(self, size):
        """(points (size², n_columns), (x range), (y range)): a grid over the plotted columns,
        the other columns held at their training mean."""
        X, (i, j) = self.data["X"], self.data["plot"]
        lows, highs = X.min(axis=0), X.max(axis=0)
        pad = np.maximum(0.1 * (highs - lows), 0.25)
        xs = np.linspace(lows[i] - pad[i], highs[i] + pad[i], size)
        ys = np.linspace(highs[j] + pad[j], lows[j] - pad[j], size)       # top row first
        points = np.tile(self.data["X_train"].mean(axis=0), (size * size, 1))
        points[:, i] = np.tile(xs, size)
        points[:, j] = np.repeat(ys, size)
        return points, (float(xs[0]), float(xs[-1])), (float(ys[-1]), float(ys[0]))

    def _maps(self):
        points, x_range, y_range = self.grid_points(GRID)
        outputs = _layer_outputs(self.net, self.inputs(points))[-1]
        small, _, _ = self.grid_points(NEURON_GRID)
        hidden = _layer_outputs(self.net, self.inputs(small))
        units = [i for i, layer in enumerate(self.net.layers[:-1]) if isinstance(layer, tuple(ACTIVATIONS.values()))]
        neurons = [_columns(hidden[i + 1]) for i in units]
        return {"grid": {"size": GRID, "x": x_range, "y": y_range, "neuron_size": NEURON_GRID,
                         **self._output_map(outputs)}, "neurons": neurons}

    def _output_map(self, outputs):
        if self.settings["problem"] == "regression":
            low, high = float(np.min(self.data["y"])), float(np.max(self.data["y"]))
            scaled = (outputs[:, 0] - low) / max(high - low, 1e-12)
            return {"kind": "regression", "low": low, "high": high, "values": _bytes(scaled)}
        if config.output_is_probability(self.net):
            return {"kind": "binary", "values": _bytes(outputs[:, 0])}
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))       # softmax of the logits
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        if probabilities.shape[1] == 2:
            return {"kind": "binary", "values": _bytes(probabilities[:, 1])}
        return {"kind": "classes", "classes": _bytes(probabilities.argmax(axis=1) / 255.0),
                "values": _bytes(probabilities.max(axis=1))}

    def describe_data(self):
        """The points to draw (the plotted columns), with their targets and split."""
        X, (i, j), y = self.data["X"], self.data["plot"], self.data["y"]
        labels = y[:, 0] if y.ndim == 2 else y
        return {"train": np.round(X[self.data["train"]][:, [i, j]], 4).tolist(),
                "test": np.round(X[self.data["test"]][:, [i, j]], 4).tolist(),
                "y_train": np.round(labels[self.data["train"]], 4).tolist(),
                "y_test": np.round(labels[self.data["test"]], 4).tolist(),
                "names": [str(self.data["names"][k]) if k < len(self.data["names"]) else f"x{k + 1}"
                          for k in (i, j)],
                "columns": [str(name) for name in self.data["names"]], "plot": [i, j],
                "classes": 0 if self.settings["problem"] == "regression" else int(np.max(labels)) + 1,
                "problem": self.settings["problem"], "settings": self.settings}

    # --- looking closer -----------------------------------------------------------------------

    def explain(self):
        """The next step of training, layer by layer (`explain_step` with ``apply=False``) on the
        first batch; the network, its generator and the optimizer are left as they were."""
        size = self.fit_options["batch_size"] or len(self.y_train)
        X, y = self.data["inputs_train"][:size], self.y_train[:size]
        generator = getattr(self.net.rng, "bit_generator", None)
        saved = generator.state if generator is not None else self.net.rng.get_state()
        try:
            trace = explain_step(self.net, X, y, self.loss, self.optimizer, apply=False)
        finally:
            if generator is not None:
                generator.state = saved
            else:
                self.net.rng.set_state(saved)
        layers = [{"index": k, "name": repr(layer), "output": _shown(trace.activations[k + 1]),
                   "delta": _shown(trace.grad_outputs[k]),
                   "gradients": {name.split(".", 1)[1]: _shown(value) for name, value in trace.gradients.items()
                                 if name.split(".", 1)[0] == str(k)}}
                  for k, layer in enumerate(self.net.layers)]
        return {"loss": trace.loss, "rows": len(X), "layers": layers, "text": str(trace)}

    def surface(self, resolution=21):
        """The loss around the current weights (`loss_surface`), on the plane of the path so far
        when there is one (two or more epochs), else on two random directions."""
        path = self.recorder.path if len(self.recorder.points) >= 3 else None
        surface = loss_surface(self.net, self.data["inputs_train"], self.y_train, self.loss,
                               resolution=resolution, path=path)
        values = np.where(np.isfinite(surface.values), surface.values, np.nan)
        return {"alphas": surface.alphas.tolist(), "betas": surface.betas.tolist(),
                "values": [[None if math.isnan(v) else v for v in row] for row in values.tolist()],
                "origin_loss": surface.origin_loss, "method": surface.method,
                "trajectory": None if surface.trajectory is None else surface.trajectory.tolist()}


def _layer_outputs(net, x):
    """[x, layer 0's output, layer 1's, ...] in inference mode, as `Sequential.forward` runs them."""
    outputs = [x]
    for layer in net.layers:
        x = layer.forward(x, training=False)
        outputs.append(x)
    return outputs


def _round(array, digits=6):
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()


def _columns(values):
    """Each column of (n, units) as `_bytes`, scaled into [0, 1] around 0.5 = zero by its
    largest magnitude (at least 1): one heatmap per unit."""
    scale = np.maximum(1.0, np.max(np.abs(values), axis=0, initial=0.0))
    signed = np.ascontiguousarray((0.5 + 0.5 * values / scale).T)
    return [_bytes(column) for column in signed]


def _bytes(values):
    """Values in [0, 1] as base64 of uint8 (0..255): how heatmaps travel to the page."""
    clean = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.5, posinf=1.0, neginf=0.0)
    return base64.b64encode(np.round(np.clip(clean, 0, 1) * 255).astype(np.uint8).tobytes()).decode("ascii")


def _shown(array):
    """At most SHOWN x SHOWN of an array, as nested lists, with its full shape."""
    array = np.asarray(array, dtype=np.float64)
    part = array[:SHOWN] if array.ndim == 1 else array[:SHOWN, :SHOWN] if array.ndim == 2 else array.ravel()[:SHOWN]
    return {"shape": list(array.shape), "values": np.round(part, 6).tolist()}
