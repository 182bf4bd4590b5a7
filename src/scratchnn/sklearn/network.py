"""The network and the optimizer behind `scratchnn.sklearn`.

No scikit-learn here: this is plain scratchnn, arranged the way scikit-learn's
``MLPClassifier`` arranges its training. Each batch, in `scratchnn.training.run_epoch` (the one
batch loop) with the strategy `steps.ScikitLearnSteps`:

    logits = network.forward(X_batch, upto=k)           # the layers before the output activation
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
from ..kernels.optim import scikit_learn_adam_step
from ..losses import MSE, BinaryCrossEntropy, CrossEntropy
from ..model import Sequential
from ..nn.activations import Softmax, Sigmoid, activation as activation_layer
from ..nn.core import Dense, Dropout
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


def logits_layers(network):
    """How many layers training runs through (``network.forward(x, upto=...)``): all but a
    final Softmax or Sigmoid."""
    if isinstance(network.layers[-1], (Softmax, Sigmoid)):
        return len(network.layers) - 1
    return len(network.layers)


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
    operations (`kernels.optim.scikit_learn_adam_step`; tests check both against scikit-learn)."""

    def update(self, value, grad, state):
        self._numpy_step(value, grad, state, None, 1, clear=False)

    def compiled_update(self, value, grad, state):
        self._compiled_step(value, grad, state, None, 1, clear=False)

    def scaled_step(self, parameter, rows, l2):
        """One step from the batch's unscaled gradient, as scikit-learn's ``_backprop`` leaves
        it: g = (grad + l2 · w) / rows first (l2: α on weights, 0 on biases; None: no term).
        Leaves ``parameter.grad`` at 0 (the next backward pass adds into it)."""
        self.iterations += 1
        value, grad, state = parameter.value, parameter.grad, self.state_of(parameter)
        step = self._compiled_step if self.can_compile(value, grad, state) else self._numpy_step
        step(value, grad, state, l2, rows, clear=True)

    def _learning_rate(self, state):
        """This step's lr · √(1 − β2^t) / (1 − β1^t), a float64 (after counting the step)."""
        state["step"] += 1
        t = int(state["step"])
        return self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _numpy_step(self, value, grad, state, l2, rows, clear):
        learning_rate = self._learning_rate(state)
        m, v = state["m"], state["v"]
        scale_gradient(grad, value, l2, rows)
        m[...] = self.beta_1 * m + (1 - self.beta_1) * grad
        v[...] = self.beta_2 * v + (1 - self.beta_2) * (grad**2)
        tiny = np.finfo(value.dtype).tiny                    # subnormals flushed, as in Adam
        m[np.abs(m) < tiny] = 0
        v[v < tiny] = 0
        value += -learning_rate * m / (np.sqrt(v) + self.epsilon)
        if clear:                                            # scaled_step: as the kernel leaves it
            grad.fill(0)

    def _compiled_step(self, value, grad, state, l2, rows, clear):
        learning_rate = self._learning_rate(state)
        m, v = state["m"], state["v"]
        scalar = value.dtype.type
        upcast = (learning_rate * value[:1]).dtype != value.dtype
        scikit_learn_adam_step(            # (without l2, `value` stands in, unread)
            value.reshape(-1), grad.reshape(-1), value.reshape(-1) if l2 is None else l2.reshape(-1),
            l2 is not None, scalar(rows), clear, m.reshape(-1), v.reshape(-1), scalar(self.beta_1),
            scalar(1 - self.beta_1), scalar(self.beta_2), scalar(1 - self.beta_2),
            -learning_rate if upcast else scalar(-learning_rate), scalar(self.epsilon),
            np.finfo(value.dtype).tiny, upcast)


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
    decoupled weight decay); the other solvers get alpha as a gradient term
    (`steps.ScikitLearnSteps`)."""
    if solver == "sgd":
        return SGD(learning_rate_init, momentum=momentum, nesterov=nesterovs_momentum and momentum > 0)
    if solver == "adam":
        return ScikitLearnAdam(learning_rate_init, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    if solver == "adamw":
        return AdamW(learning_rate_init, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=alpha)
    if solver == "rmsprop":
        return RMSprop(learning_rate_init)
    return Adagrad(learning_rate_init)


def dense(X):
    """X as a dense array (sparse inputs are made dense one batch at a time)."""
    return X.toarray() if hasattr(X, "toarray") else X


def predict_outputs(network, X, chunk=8192):
    """The network's outputs for X (inference mode), `chunk` rows at a time."""
    if X.shape[0] <= chunk and not hasattr(X, "toarray"):
        return network.forward(X, training=False)
    return np.concatenate([network.forward(dense(X[start:start + chunk]), training=False)
                           for start in range(0, X.shape[0], chunk)])
