"""The blog's XOR network, and a configuration that solves XOR from every seed.

The blog ("Making a Neural Network from Scratch") trains a 2-2-1 sigmoid network with
U[0, 1) weights, zero biases, squared error and plain gradient descent at learning rate 0.1
for 10,000 full-batch epochs. It fails for about 1 seed in 20. Our default keeps the idea and
changes three things that make it reliable: 8 tanh hidden units, Glorot initialization, and
Adam on binary cross-entropy; it solves XOR from every seed in 0..999 in 300 epochs.

>>> result = train_xor(seed=0, blog=True)
>>> result.predictions           # the blog's "Final predictions" for np.random.seed(0)
>>> runs = train_xor_seeds(range(1000), blog=True)     # 1000 seeds, trained side by side
>>> runs.failed                  # the seeds the blog's setup does not solve XOR from
"""

import sys
from dataclasses import dataclass

import numpy as np

from ._checks import describe, describe_typed, int_at_least, positive_int, positive_number
from .losses import MSE, BinaryCrossEntropy
from .model import Sequential
from .nn.activations import Sigmoid, Tanh, sigmoid
from .nn.base import Parameter, flat_slices
from .nn.core import Dense
from .optim import SGD, Adam
from .training import DivergedError

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)

BLOG = {"hidden": 2, "epochs": 10_000, "learning_rate": 0.1}
DEFAULT = {"hidden": 8, "epochs": 300, "learning_rate": 0.1}


def blog_script(seed, epochs=10_000, learning_rate=0.1):
    """The blog's script, line for line, seeded with ``np.random.seed(seed)``: the reference
    that the tests and `benchmarks/xor.py` hold the library against.

    Returns what it prints (the forward pass of its last epoch) and its final weights
    [weights_input_hidden, biases_hidden, weights_hidden_output, bias_output]. Its sigmoid is
    the blog's own, which overflows below about -709: keep to the blog's small inputs.
    """
    np.random.seed(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    weights_input_hidden = np.random.uniform(size=(2, 2))
    biases_hidden = np.zeros((1, 2))
    weights_hidden_output = np.random.uniform(size=(2, 1))
    bias_output = np.zeros((1, 1))
    predicted_output = None
    for _ in range(epochs):
        hidden_layer_output = sigmoid(np.dot(X, weights_input_hidden) + biases_hidden)
        predicted_output = sigmoid(np.dot(hidden_layer_output, weights_hidden_output) + bias_output)
        loss = np.mean(0.5 * (y - predicted_output) ** 2)  # noqa: F841 (the blog computes it)
        error = y - predicted_output
        d_output = error * predicted_output * (1 - predicted_output)
        error_hidden = d_output.dot(weights_hidden_output.T)
        d_hidden = error_hidden * hidden_layer_output * (1 - hidden_layer_output)
        weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate
        bias_output += np.sum(d_output, axis=0, keepdims=True) * learning_rate
        weights_input_hidden += X.T.dot(d_hidden) * learning_rate
        biases_hidden += np.sum(d_hidden, axis=0) * learning_rate
    return predicted_output, [weights_input_hidden, biases_hidden.ravel(), weights_hidden_output,
                              bias_output.ravel()]


@dataclass
class XorResult:
    """What one XOR run gives: the trained network, the predictions printed, the loss curve."""

    net: Sequential
    predictions: np.ndarray
    losses: list

    @property
    def solved(self):
        """Every prediction within 0.1 of its target."""
        return bool(np.all(np.abs(self.predictions - Y) < 0.1))


def build_xor_net(seed=0, blog=False, hidden=None):
    """The network: the blog's 2-2-1 sigmoid net with U[0, 1) weights drawn after
    ``np.random.seed(seed)`` (``blog=True``), or our 2-8-1 tanh/sigmoid net."""
    settings = BLOG if blog else DEFAULT
    hidden = positive_int("hidden", settings["hidden"] if hidden is None else hidden)
    if blog:
        if int_at_least("seed", seed, minimum=0) >= 2**32:
            raise ValueError(f"seed must be an int from 0 to 2**32 - 1 (the range of the blog's np.random.seed), "
                             f"got {seed}")
        return Sequential(Dense(2, hidden, init="uniform"), Sigmoid(),
                          Dense(hidden, 1, init="uniform"), Sigmoid(),
                          seed=np.random.RandomState(seed), dtype=np.float64)
    return Sequential(Dense(2, hidden), Tanh(), Dense(hidden, 1), Sigmoid(),
                      seed=seed, dtype=np.float64)


def _settings(blog, epochs, learning_rate):
    """The number of epochs and the learning rate: the arguments, or the configuration's."""
    settings = BLOG if blog else DEFAULT
    epochs = positive_int("epochs", settings["epochs"] if epochs is None else epochs)
    learning_rate = positive_number(
        "learning_rate", settings["learning_rate"] if learning_rate is None else learning_rate)
    return epochs, learning_rate


def _loss_and_optimizer(blog, learning_rate, reduction="mean"):
    """train_xor's loss and optimizer; the default's cross-entropy reduced as asked."""
    if blog:
        return MSE(reduction="sum"), SGD(learning_rate=learning_rate)
    return BinaryCrossEntropy(reduction=reduction), Adam(learning_rate=learning_rate)


def train_xor(seed=0, blog=False, hidden=None, epochs=None, learning_rate=None):
    """Train on XOR and return an `XorResult`.

    With ``blog=True`` the predictions are exactly what the blog prints: the forward pass of
    the last epoch, computed before that epoch's update. So we train ``epochs - 1`` epochs,
    predict, then train the last one. Otherwise the predictions are those of the final weights.
    """
    epochs, learning_rate = _settings(blog, epochs, learning_rate)
    net = build_xor_net(seed, blog, hidden)
    loss, optimizer = _loss_and_optimizer(blog, learning_rate)

    def fit(n_epochs):
        return net.fit(X, Y, loss=loss, optimizer=optimizer, epochs=n_epochs,
                       batch_size=None, shuffle=False, verbose=0).history["loss"]

    if blog:
        losses = fit(epochs - 1) if epochs > 1 else []
        predictions = net.predict(X)
        losses = losses + fit(1)
    else:
        losses = fit(epochs)
        predictions = net.predict(X)
    return XorResult(net, predictions, losses)


@dataclass
class XorSeeds:
    """What `train_xor_seeds` gives: one trained network per seed, stacked on a leading axis.

    ``parameters`` is [W1 (S, 2, H), b1 (S, H), W2 (S, H, 1), b2 (S, 1)]: network s's weights
    are ``[p[s] for p in parameters]``, in the order of ``train_xor(...).net.parameters()``;
    ``predictions`` (S, 4, 1) holds what `train_xor` returns as each seed's predictions.
    """

    seeds: np.ndarray
    parameters: list
    predictions: np.ndarray

    @property
    def solved(self):
        """(S,) bools: every prediction of network s within 0.1 of its target (`XorResult.solved`)."""
        return np.all(np.abs(self.predictions - Y) < 0.1, axis=(1, 2))

    @property
    def failed(self):
        """The seeds whose network did not solve XOR, in the order given."""
        return [int(seed) for seed in self.seeds[~self.solved]]


def train_xor_seeds(seeds, blog=False, hidden=None, epochs=None, learning_rate=None, verbose=0,
                    file=None):
    """Train `train_xor`'s network once per seed, all S networks in one computation, and
    return an `XorSeeds`.

    Network s is the one ``train_xor(seed=seeds[s], ...)`` trains, operation for operation:
    `build_xor_net` draws its initial weights from its own seed, then the S networks are stacked
    along a leading axis and each epoch runs `Sequential.fit`'s full-batch step on (S, 4, .)
    arrays. ``np.matmul`` multiplies each network's matrices on their own, the activations and
    loss gradients are elementwise, and the step is the library's optimizer on the S flat
    weight buffers, so each network gets the numbers it gets alone.

    ``verbose=1`` shows progress on `file` (default stderr): a tqdm bar on a terminal when tqdm
    is installed, otherwise about ten lines, as `ProgressLogger` does for `fit`.

    Raises, before any training: TypeError or ValueError for `seeds` that is not a non-empty
    sequence of ints >= 0, and for the other arguments as `train_xor` does.
    DivergedError if some network's weights end up NaN or infinite (naming its seeds).
    """
    seeds = _check_seeds(seeds)
    epochs, learning_rate = _settings(blog, epochs, learning_rate)
    if verbose not in (0, 1):
        raise ValueError(f"verbose must be 0 or 1, got {describe(verbose)}")
    layout = build_xor_net(int(seeds[0]), blog, hidden)
    # a net keeps its weights in one flat buffer [W1, b1, W2, b2] (see nn.base.gather_parameters): each
    # seed's, drawn by its own net, is a row of `flat`, seen below as (S, ...) parameter stacks
    flat = Parameter(np.stack([build_xor_net(int(seed), blog, hidden).flat_parameter.value
                               for seed in seeds]), name="all")
    W1, b1, W2, b2 = _views(flat.value, layout)
    grad_W1, grad_b1, grad_W2, grad_b2 = _views(flat.grad, layout)
    # train_xor's loss, summed over the S networks so that dL/dp is each network's own; the
    # default's mean over one network's 4 predictions is then a scaling by 1/4 (exact)
    loss, optimizer = _loss_and_optimizer(blog, learning_rate, reduction="sum")
    scale = 1.0 if blog else 1.0 / Y.size
    activation = sigmoid if blog else np.tanh
    inputs = np.broadcast_to(X, (len(seeds),) + X.shape)            # (S, 4, 2): one X per network
    inputs_T = np.swapaxes(inputs, 1, 2)
    targets = np.broadcast_to(Y, (len(seeds),) + Y.shape)           # (S, 4, 1)
    progress = _Progress(epochs, len(seeds), file or sys.stderr) if verbose else None
    predictions = None
    for epoch in range(epochs):
        h = inputs @ W1                                             # (S, 4, H) = X W1 + b1
        h += b1[:, None, :]
        h = activation(h)                                           # σ (blog) or tanh
        p = h @ W2                                                  # (S, 4, 1) = h W2 + b2
        p += b2[:, None, :]
        p = sigmoid(p)                                              # the prediction
        if blog and epoch == epochs - 1:
            predictions = p                                         # what the blog prints
        loss(p, targets)
        grad_p = loss.backward()                                    # dL/dp, network by network
        if scale != 1.0:
            grad_p *= scale
        grad_z2 = grad_p * p * (1 - p)                              # dσ/dz = p (1 − p)
        np.matmul(np.swapaxes(h, 1, 2), grad_z2, out=grad_W2)       # dL/dW2 = h^T · dL/dz2
        _sum_rows(grad_z2, out=grad_b2)                             # dL/db2 = Σ over the 4 rows
        grad_h = grad_z2 @ np.swapaxes(W2, 1, 2)                    # dL/dh = dL/dz2 · W2^T
        if blog:
            grad_z1 = grad_h * h * (1 - h)                          # dσ/dz = h (1 − h)
        else:
            grad_z1 = grad_h * (1 - h * h)                          # d tanh/dz = 1 − h²
        np.matmul(inputs_T, grad_z1, out=grad_W1)                   # dL/dW1 = X^T · dL/dz1
        _sum_rows(grad_z1, out=grad_b1)                             # dL/db1 = Σ over the 4 rows
        optimizer.step([flat])                                      # w ← w − lr · ... (per network)
        if progress is not None:
            progress.epoch_done(epoch + 1)
    if progress is not None:
        progress.close()
    if predictions is None:                                         # the final weights' predictions
        h = activation(inputs @ W1 + b1[:, None, :])
        predictions = sigmoid(h @ W2 + b2[:, None, :])
    diverged = ~np.isfinite(flat.value).all(axis=1)
    if diverged.any():
        raise DivergedError(f"training diverged (NaN or infinite weights) for seeds "
                            f"{_some(seeds[diverged])}: try a smaller learning_rate")
    return XorSeeds(seeds, [W1, b1, W2, b2], predictions)


def _check_seeds(seeds):
    """`seeds` as a 1-D array, or raise if it is not a non-empty sequence of ints >= 0."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a sequence of ints >= 0 such as range(100), "
                        f"got {describe_typed(seeds)}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got an empty sequence")
    for index, seed in enumerate(seeds):
        int_at_least(f"seeds[{index}]", seed, minimum=0)
    return np.array([int(seed) for seed in seeds])


def _views(buffer, net):
    """The parameters of `net`, in order, as (S, ...) views into the (S, P) `buffer` whose row s
    is network s's flat buffer (each parameter a slice of every row, as `nn.base.gather_parameters` lays
    out one network's)."""
    parameters = net.parameters()
    return [buffer[:, part].reshape((len(buffer),) + parameter.value.shape)
            for parameter, part in zip(parameters, flat_slices(parameters))]


def _sum_rows(grad, out):
    """out = Σ_i grad[:, i], the 4 rows added in order, as Dense's ``grad.sum(axis=0)`` adds
    them for one network (so each network's sums are its own bits), without a strided reduction."""
    np.add(grad[:, 0], grad[:, 1], out=out)
    for row in range(2, grad.shape[1]):
        out += grad[:, row]
    return out


def _some(seeds, shown=20):
    """"1, 5, 7" (the first `shown` seeds, then ", ...")."""
    return ", ".join(map(str, seeds[:shown])) + (", ..." if len(seeds) > shown else "")


class _Progress:
    """The progress of `train_xor_seeds` on a stream: a tqdm bar on a terminal when tqdm is
    installed, otherwise a line every tenth of the epochs."""

    def __init__(self, epochs, networks, file):
        self.epochs, self.file = epochs, file
        self.every = max(1, epochs // 10)
        self.label = f"XOR, {networks} network{'s' if networks > 1 else ''}"
        self.bar = None
        if getattr(file, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=epochs, file=file, desc=self.label, unit="epoch", leave=False,
                            dynamic_ncols=True)

    def epoch_done(self, done):
        if self.bar is not None:
            self.bar.update(1)
        elif done % self.every == 0 or done == self.epochs:
            print(f"{self.label}: epoch {done}/{self.epochs}", file=self.file, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
