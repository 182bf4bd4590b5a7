"""The network, the optimizer and one epoch of training behind `scratchnn.sklearn`.

No scikit-learn here: this is plain scratchnn, arranged the way scikit-learn's
``MLPClassifier`` arranges its training. One epoch is the loop of `train.fit`

    logits = forward(X_batch)                           # the layers before the output activation
    value  = loss(logits, y_batch) + α/(2n)·Σ‖W‖²       # scikit-learn's L2 term, n = batch rows
    backward(dloss/dlogits);  W.grad += α/n · W         # weights only, never the biases
    optimizer.step(parameters)

with the output activation (Sigmoid or Softmax) kept out of the loop: the loss works on the
logits, where it is exact, and the saved network ends with it, so that ``sn.load(path)``
gives probabilities and ``predict_classes`` works on its own.
"""

import math

import numpy as np

from .. import kernels
from ..nn.activations import Softmax, Sigmoid, activation as activation_layer
from ..nn.base import layer_class
from ..training.checkpoint import rng_state, set_rng_state
from ..nn.core import Dense, Dropout
from ..losses import MSE, BinaryCrossEntropy, CrossEntropy
from ..model import Sequential
from ..optim import SGD, Adagrad, Adam, AdamW, RMSprop

# scikit-learn's activation names -> ours ("logistic" is scikit-learn's name for the sigmoid)
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "gelu": "gelu", "elu": "elu", "leaky_relu": "leaky_relu"}
SOLVERS = ("adam", "sgd", "adamw", "rmsprop", "adagrad")


def build_network(n_features, hidden_layer_sizes, n_outputs, activation, dropout, output, seed, dtype):
    """Dense → activation (→ Dropout) per hidden layer, then Dense to the outputs and the output
    activation: "softmax", "logistic" or "identity" (none). Initialized as scikit-learn does,
    from the generator that then shuffles the epochs (`scikit_learn_init`)."""
    layers, width = [], n_features
    for size in hidden_layer_sizes:
        # init="zeros" draws nothing: scikit_learn_init below draws the starting values
        layers += [Dense(width, size, init="zeros"), activation_layer(ACTIVATIONS[activation])]
        if dropout:
            layers.append(Dropout(dropout))
        width = size
    layers.append(Dense(width, n_outputs, init="zeros"))
    if output == "softmax":
        layers.append(Softmax())
    elif output == "logistic":
        layers.append(Sigmoid())
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seed = np.random.RandomState(seed)        # what scikit-learn's check_random_state makes of it
    network = Sequential(*layers, seed=seed, dtype=dtype)
    scikit_learn_init(network, activation)
    return network


def scikit_learn_init(network, activation):
    """scikit-learn's MLP initialization, drawn from ``network.rng`` in its order: for each
    Dense layer, weights then biases, both U[-a, a] with a = sqrt(f / (fan_in + fan_out)),
    f = 2 for a "logistic" hidden activation and 6 otherwise. With an int ``random_state`` the
    generator is ``np.random.RandomState(random_state)``, so the starting weights are
    scikit-learn's own (drawn in float64, then cast)."""
    factor = 2.0 if activation == "logistic" else 6.0
    for layer in network.layers:
        if isinstance(layer, Dense):
            bound = math.sqrt(factor / (layer.in_features + layer.out_features))
            layer.weight.value[...] = network.rng.uniform(-bound, bound, layer.weight.value.shape)
            layer.bias.value[...] = network.rng.uniform(-bound, bound, layer.bias.value.shape)


def next_order(rng, order):
    """The next epoch's row order: `order` shuffled again, as scikit-learn's
    ``sample_idx = shuffle(sample_idx, random_state)`` does (one ``permutation`` draw)."""
    return order[rng.permutation(order.shape[0])]


def trained_layers(network):
    """The layers training runs through: all but a final Softmax or Sigmoid."""
    if isinstance(network.layers[-1], (Softmax, Sigmoid)):
        return network.layers[:-1]
    return network.layers


def make_loss(output, n_outputs):
    """The loss on the logits, summed over the rows (its gradient is then scikit-learn's
    deltas, p − y), and the factor that turns its value per row into scikit-learn's: the
    squared error's value is averaged over the outputs too.

    Returns (loss, value_scale)."""
    if output == "softmax":
        return CrossEntropy(reduction="sum"), 1.0
    if output == "logistic":                     # binary (1 output) or multilabel (k outputs)
        return BinaryCrossEntropy(from_logits=True, reduction="sum"), 1.0
    return MSE(reduction="sum"), 1.0 / n_outputs   # ½ Σ (p − y)², scikit-learn: ½ mean over rows and outputs


class ScikitLearnAdam(Adam):
    """Adam as scikit-learn computes it, ε outside the bias correction (as Keras too):

        m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;
        w ← w − lr · √(1 − β2^t) / (1 − β1^t) · m / (√v + ε),

    in scikit-learn's order of operations, so that the same gradients give the same weights to
    the last bit: its learning rate is a NumPy float64, so under NumPy 2 the last two steps run
    in float64 even for float32 weights. The compiled kernel (``fused``) does the same
    operations (`kernels.scikit_learn_adam_step`; tests check both against scikit-learn)."""

    def update(self, value, grad, state):
        self._update(value, grad, state, None, 1, clear=False)

    def scaled_step(self, parameter, rows, l2):
        """One step from the batch's unscaled gradient, as scikit-learn's ``_backprop`` leaves
        it: g = (grad + l2 · w) / rows first (l2: α on weights, 0 on biases; None: no term).
        Leaves ``parameter.grad`` at 0 (the next backward pass adds into it)."""
        self.iterations += 1
        self._update(parameter.value, parameter.grad, self.state_of(parameter), l2, rows, clear=True)

    def _update(self, value, grad, state, l2, rows, clear):
        state["step"] += 1
        t = int(state["step"])
        m, v = state["m"], state["v"]
        learning_rate = self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)   # a float64
        if self.fused and kernels.available and kernels.same_layout(value, grad):
            scalar = value.dtype.type
            upcast = (learning_rate * value[:1]).dtype != value.dtype
            kernels.scikit_learn_adam_step(            # (without l2, `value` stands in, unread)
                value.reshape(-1), grad.reshape(-1), value.reshape(-1) if l2 is None else l2.reshape(-1),
                l2 is not None, scalar(rows), clear, m.reshape(-1), v.reshape(-1), scalar(self.beta_1),
                scalar(1 - self.beta_1), scalar(self.beta_2), scalar(1 - self.beta_2),
                -learning_rate if upcast else scalar(-learning_rate), scalar(self.epsilon),
                np.finfo(value.dtype).tiny, upcast)
            return
        scale_gradient(grad, value, l2, rows)
        m[...] = self.beta_1 * m + (1 - self.beta_1) * grad
        v[...] = self.beta_2 * v + (1 - self.beta_2) * (grad**2)
        tiny = np.finfo(value.dtype).tiny                    # subnormals flushed, as in Adam
        m[np.abs(m) < tiny] = 0
        v[v < tiny] = 0
        value += -learning_rate * m / (np.sqrt(v) + self.epsilon)
        if clear:                                            # scaled_step: as the kernel leaves it
            grad.fill(0)


def scale_gradient(grad, value, l2, rows):
    """In place, scikit-learn's last two steps of a batch gradient: grad ← (grad + l2 · w) / rows
    (``coef_grads += α W; coef_grads /= n``; the intercepts' mean). l2: α on weights, 0 on
    biases, or None for no L2 term."""
    if l2 is not None:
        grad += l2 * value
    if rows != 1:
        grad /= rows


def make_optimizer(solver, learning_rate_init, momentum, nesterovs_momentum, beta_1, beta_2,
                   epsilon, alpha):
    """The scratchnn optimizer for a solver name. Only "adamw" uses ``alpha`` here (as its
    decoupled weight decay); the other solvers get alpha as a gradient term in `train_epoch`."""
    if solver == "sgd":
        return SGD(learning_rate_init, momentum=momentum, nesterov=nesterovs_momentum and momentum > 0)
    if solver == "adam":
        return ScikitLearnAdam(learning_rate_init, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    if solver == "adamw":
        return AdamW(learning_rate_init, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=alpha)
    if solver == "rmsprop":
        return RMSprop(learning_rate_init)
    return Adagrad(learning_rate_init)


def forward(layers, x, training):
    for layer in layers:
        x = layer.forward(x, training=training)
    return x


def backward(layers, grad):
    """Backpropagate through `layers`, stopping at the first one with parameters (nobody
    reads dL/dX), as `Sequential.backward(..., input_grad=False)` does."""
    first = next((i for i, layer in enumerate(layers) if layer.parameters()), 0)
    for index in range(len(layers) - 1, first - 1, -1):
        layers[index].needs_input_grad = index > first
        grad = layers[index].backward(grad)


def dense_rows(X, rows):
    """X[rows] as a dense array (sparse inputs are made dense one batch at a time)."""
    batch = X[rows]
    return batch.toarray() if hasattr(batch, "toarray") else batch


def train_epoch(network, loss, optimizer, X, y, batch_size, order, alpha, value_scale):
    """One pass over (X, y) in mini-batches, in `order` (None: as stored); return the mean
    over the rows of the batch losses, L2 term included, as scikit-learn's ``loss_``.

    Each batch's gradient is computed in scikit-learn's order of operations (its
    ``_backprop``), so that in any dtype the same weights give the same gradient bits:
    backpropagate the deltas p − y unscaled, add α · W to the weight gradients, divide every
    gradient by the batch's rows.

    Raises ValueError when the loss stops being finite (scikit-learn's error type)."""
    layers = trained_layers(network)
    weights = [layer.weight for layer in layers if isinstance(layer, Dense)]
    parameter = network.flat_parameter          # one update over all weights (see model._gather)
    l2 = l2_factors(network, alpha) if alpha else None
    fused_step = isinstance(optimizer, ScikitLearnAdam)
    n_samples, total = X.shape[0], 0.0
    with np.errstate(over="ignore", invalid="ignore"):     # a diverging loss is reported below
        for batch, start in enumerate(range(0, n_samples, batch_size)):
            rows = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            X_batch, y_batch = dense_rows(X, rows), y[rows]
            n_rows = X_batch.shape[0]
            logits = forward(layers, X_batch, training=True)
            our_value = loss.forward(logits, y_batch)          # (also readies loss.backward)
            if isinstance(loss, CrossEntropy):                 # the value as scikit-learn computes it
                value = scikit_learn_log_loss(loss.exps, loss.sums, y_batch, weights, alpha)
            else:
                value = float(our_value) * value_scale / n_rows
                for weight in weights if alpha else ():
                    value += 0.5 * alpha / n_rows * float(np.vdot(weight.value, weight.value))   # (α/2n)‖W‖²
            if batch == 0 or not fused_step:
                network.zero_grad()                            # (ScikitLearnAdam.scaled_step leaves 0)
            backward(layers, loss.backward())                  # Σ over the rows: x^T · δ, Σ δ
            if not math.isfinite(value):
                raise ValueError(f"the loss became {value} at batch {batch + 1}: training diverged. "
                                 "The input data may contain large values and need to be "
                                 "preprocessed (StandardScaler), or learning_rate_init is too large.")
            if fused_step:                                     # the scaling below, fused into its step
                optimizer.scaled_step(parameter, n_rows, l2)
            else:
                scale_gradient(parameter.grad, parameter.value, l2, n_rows)
                optimizer.step([parameter])
            total += value * n_rows
    return total / n_samples


def scikit_learn_log_loss(exps, sums, labels, weights, alpha):
    """A batch's loss, softmax cross-entropy plus the L2 term, computed as scikit-learn's
    ``_backprop`` computes it, so that ``loss_curve_`` (and the ``tol`` test on it) matches
    scikit-learn's to the bit: p = exps / sums clipped to [eps, 1 − eps], −mean over the
    rows of xlogy(one-hot, p) summed over the classes, then + (α/2)·Σ‖W‖² / n. Without it
    the values differed from scikit-learn's in the 5th digit (0.510424 vs 0.510416 on
    Fashion-MNIST's first epoch), which could move a ``tol`` stop by an epoch.

    xlogy(one-hot, p) is 0 but at each row's class, so only those n entries are computed
    (the same operations on the same numbers: p, the clip and xlogy are entrywise) and put
    among zeros, whose column means are then scikit-learn's."""
    from scipy.special import xlogy          # scikit-learn's own dependency, as scikit-learn calls it

    rows = np.arange(len(labels))
    eps = np.finfo(exps.dtype).eps
    true_class = np.clip(exps[rows, labels] / sums[rows, 0], eps, 1 - eps)
    logs = xlogy(np.ones(len(labels), dtype=bool), true_class)     # a bool first argument: float64, as there
    terms = np.zeros(exps.shape, dtype=logs.dtype)
    terms[rows, labels] = logs
    value = -(np.add.reduce(terms, axis=0) / len(labels)).sum()      # np.average(terms, axis=0)
    if not alpha:                            # scikit-learn adds (0.5 · 0) · Σ‖W‖² / n: nothing
        return value
    squares = 0
    for weight in weights:
        flat = weight.value.ravel()
        squares += np.dot(flat, flat)
    return value + (0.5 * alpha) * squares / len(labels)


def l2_factors(network, alpha):
    """α at every weight of the flat parameter buffer, 0 at every bias: the L2 term's factor
    per entry (`model._gather` lays the parameters out in the order of ``parameters()``)."""
    factors = np.zeros_like(network.flat_parameter.value)
    weights = {id(layer.weight) for layer in network.layers if isinstance(layer, Dense)}
    offset = 0
    for parameter in network.parameters():
        if id(parameter) in weights:
            factors[offset:offset + parameter.value.size] = alpha
        offset += parameter.value.size
    return factors


def predict_outputs(network, X, chunk=8192):
    """The network's outputs for X (inference mode), `chunk` rows at a time."""
    if X.shape[0] <= chunk and not hasattr(X, "toarray"):
        return network.forward(X, training=False)
    return np.concatenate([network.forward(dense_rows(X, slice(start, start + chunk)), training=False)
                           for start in range(0, X.shape[0], chunk)])


# --- pickling -------------------------------------------------------------------------------
#
# A Sequential keeps every weight as a view into one flat buffer (model._gather). Pickle
# copies views as separate arrays, so an unpickled network would train its flat buffer while
# its layers read stale copies. The estimators therefore pickle the network as its config and
# arrays (the model file's contents) and build it afresh when unpickled.

def network_to_state(network, optimizer):
    """The network (and optimizer, if any) as config, arrays and random state: picklable."""
    state = {"config": network.get_config(),
             "arrays": {name: array.copy() for name, array in network.state_dict().items()},
             "rng": rng_state(network.rng)}
    if optimizer is not None:
        state["optimizer"] = {"class": type(optimizer), "config": optimizer.get_config(),
                              "arrays": optimizer.state_arrays([network.flat_parameter]),
                              "iterations": optimizer.iterations}
    return state


def network_from_state(state):
    """Rebuild what `network_to_state` gave: (network, optimizer or None)."""
    config = state["config"]
    layers = [layer_class(entry["class"])(**entry["config"]) for entry in config["layers"]]
    rng = np.random.RandomState() if state["rng"]["kind"] == "RandomState" else np.random.default_rng()
    network = Sequential(*layers, seed=rng, dtype=config["dtype"])
    set_rng_state(rng, state["rng"])                 # after the build, which drew from rng
    network.classes = config["classes"]
    network.load_state_dict(state["arrays"])
    optimizer = None
    if "optimizer" in state:
        saved = state["optimizer"]
        optimizer = saved["class"](**saved["config"])
        optimizer.load_state_arrays([network.flat_parameter], saved["arrays"], saved["iterations"])
    return network, optimizer
