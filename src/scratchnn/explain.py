"""`explain_step`: one training step of a network, every number of it kept and written out.

A step of `fit` is a forward pass, the loss, backpropagation and an optimizer update. This
module runs that step on one batch, through the same calls `fit` makes (each layer's
``forward(x, training=True)`` and ``backward``, the loss, ``optimizer.step`` on the flat
buffer), and keeps each intermediate array: a `StepTrace`. ``str(trace)`` writes the step out
in the blog's order and notation (a0 = X, layer k turns a_k into a_{k+1}, δ_j = dL/da_j); on
the blog's network each line also names the blog's variable.

>>> net = build_xor_net(seed=0, blog=True)            # scratchnn.xor: the blog's network
>>> trace = explain_step(net, X, Y, MSE(reduction="sum"), SGD(learning_rate=0.1))
>>> print(trace)                                       # the blog's first step, every number
"""

import math

import numpy as np

from ._checks import boolean, describe
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, get_loss
from .model import Sequential
from .optim import SGD, Adam, get_optimizer
from .training import DivergedError
from .training.loop import _check_batch_statistics

FULL_SIZE = 64          # arrays with at most this many numbers are shown in full, larger ones summarized
PRECISION = 8           # digits after the point, as NumPy prints the blog's predictions


def explain_step(net, X, y, loss, optimizer, apply=True):
    """Run one training step of `net` on the batch (X, y) and return its `StepTrace`.

    The step is the one `fit` takes on a batch (`training.strategy.Steps`): forward in
    training mode, ``loss.forward``, zeroed gradients, backward, then ``optimizer.step`` on
    the network's flat parameter buffer. The forward and backward passes walk the layers as
    `Sequential.forward` and `Sequential.backward` do, keeping each layer's output and
    dL/d(output); the gradients are the same bits as a full-batch `fit` step with one thread.
    Training mode as in `fit`: Dropout draws its masks from the network's generator (which
    moves on either way), BatchNorm normalizes with the batch's statistics and updates its
    running averages. With ``apply=False`` nothing is updated: the weights are untouched and
    BatchNorm's running averages are put back, so the network is as it was (the optimizer too).

    - ``X``: a batch the network takes, (N, ...); ``y``: its targets, as `fit` takes them.
    - ``loss``, ``optimizer``: instances or names, as for `fit` (pass the optimizer of a
      running training to explain its next step: Adam's moments are its state).

    Raises, before any work: TypeError if `net` is not a `Sequential` or `apply` not a bool;
    ValueError for a batch that does not fit the network or targets that do not fit its
    output (`Sequential.check_data`'s messages), and a BatchNorm batch of one value per
    channel. `DivergedError` if the loss is NaN or infinite (no update is made).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a built scratchnn.Sequential (e.g. Sequential(Dense(2, 2), Sigmoid())), "
                        f"got {describe(net)}")
    loss, optimizer = get_loss(loss), get_optimizer(optimizer)
    apply = boolean("apply", apply)
    X, y = net.check_data(X, y, loss)
    _check_batch_statistics(net, X.shape, len(X))
    before = {name: np.array(value) for name, value in net.state_dict().items()}
    # as run_epoch: overflow shows up as a non-finite loss, reported below in one line
    with np.errstate(over="ignore", invalid="ignore"):
        activations = _forward(net, X)
        value = float(loss.forward(activations[-1], y))
        net.zero_grad()
        grad_outputs = _backward(net, loss.backward())
    gradients = {f"{index}.{name}": parameter.grad.copy()
                 for index, layer in enumerate(net.layers)
                 for name, parameter in layer.named_parameters().items()}
    if not math.isfinite(value) or not apply:
        _restore_buffers(net, before)
    if not math.isfinite(value):
        raise DivergedError(f"the loss is {value}: no update was made (try a smaller learning_rate)", value=value)
    if apply:
        optimizer.step([net.flat_parameter])                 # the step of Steps.update, as fit takes it
    after = {name: np.array(value) for name, value in net.state_dict().items()}
    return StepTrace(value, activations, grad_outputs, gradients, before, after,
                     context=(net.layers, loss, optimizer, y, apply))


def _forward(net, X):
    """Sequential.forward(X, training=True), keeping a copy of the input and of every layer's output."""
    net.input_shape = X.shape[1:]
    outputs, x = [X.copy()], X
    for layer in net.layers:
        x = layer.forward(x, training=True)                  # a_{k+1} = layer_k(a_k)
        outputs.append(np.array(x))
    return outputs


def _backward(net, grad):
    """Sequential.backward(grad, input_grad=False): fill every Parameter.grad and keep dL/d(output)
    of each layer. dL/dX is not needed, as in fit; layers before the first with parameters run
    too, so that every layer's dL/d(output) is known."""
    grad_outputs = [None] * len(net.layers)
    for index in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[index]
        grad_outputs[index] = np.array(grad)                 # δ_{k+1} = dL/da_{k+1}
        layer.needs_input_grad = index > 0
        grad = layer.backward(grad)                          # δ_k = dL/da_k
    return grad_outputs


def _restore_buffers(net, state):
    """Put the saved-but-not-trained arrays (BatchNorm's running averages) back as in `state`."""
    for index, layer in enumerate(net.layers):
        for name, buffer in layer.get_buffers().items():
            buffer[...] = state[f"{index}.{name}"]


class StepTrace:
    """Every number of one training step, as `explain_step` recorded it.

    - ``loss``: the loss value (float), before the update.
    - ``activations``: [a0 = X, a1, ..., a_L], the input and each layer's output (L + 1 arrays).
    - ``grad_outputs``: [δ1, ..., δ_L], dL/d(output of layer k) for every layer k (L arrays).
    - ``gradients``: dL/dθ for each parameter, by `Sequential.state_dict` name ("0.weight").
    - ``before``, ``after``: the network's state dict (parameters and buffers) before and
      after the step, copies; equal with ``apply=False``.

    ``str(trace)`` writes the step out for a person; ``trace.to_markdown()`` for a notebook.
    """

    def __init__(self, loss, activations, grad_outputs, gradients, before, after, context):
        self.loss = loss
        self.activations = activations
        self.grad_outputs = grad_outputs
        self.gradients = gradients
        self.before = before
        self.after = after
        self._layers, self._loss_function, self._optimizer, self._targets, self._applied = context

    def __str__(self):
        lines = []
        for heading, blocks in self._sections():
            lines += ["", heading] if lines else [heading]
            for title, steps in blocks:
                if title:
                    lines.append(f"  {title}")
                for equation, note, arrays in steps:
                    lines.append(f"    {equation}")
                    if note:
                        lines.append(f"        (blog: {note})")
                    for label, array in arrays:
                        text = _format(array)
                        if "\n" in text:
                            lines += [f"      {label} ="] + ["        " + line for line in text.splitlines()]
                        else:
                            lines.append(f"      {label} = {text}")
        return "\n".join(lines)

    def to_markdown(self):
        """The step as Markdown: a heading per part, equations in code, arrays in code blocks."""
        parts = []
        for heading, blocks in self._sections():
            parts.append(f"### {heading}")
            for title, steps in blocks:
                if title:
                    parts.append(f"**{title}**")
                for equation, note, arrays in steps:
                    parts.append(f"- `{equation}`" + (f" (blog: `{note}`)" if note else ""))
                    if arrays:
                        block = [f"{label} = " + _format(array).replace("\n", "\n" + " " * (len(label) + 3))
                                 for label, array in arrays]
                        parts.append("```text\n" + "\n".join(block) + "\n```")
        return "\n\n".join(parts) + "\n"

    def __repr__(self):
        return (f"StepTrace(loss={self.loss!r}, layers={len(self.grad_outputs)}, "
                f"parameters={list(self.gradients)}, applied={self._applied})")

    # --- the step, written out -------------------------------------------------------------

    def _sections(self):
        """The step in the blog's order: [(heading, [(title, [(equation, blog note, [(label, array)])])])]."""
        layers, last = self._layers, len(self._layers)
        blog = _blog_names(layers, self._loss_function, self._optimizer, self._targets.size)
        about = [(None, [(f"a Sequential of {last} layers on a batch X of shape {self.activations[0].shape} "
                          f"({self.activations[0].dtype}), loss {self._loss_function!r}", None, []),
                         (f"a0 = X; layer k turns a_k into a_(k+1); a{last} is the output; "
                          "δ_j = dL/da_j (the delta of a_j)", None, [])])]
        forward = [(None, [("a0 = X", None, [("a0", self.activations[0])])])]
        for k, layer in enumerate(layers):
            weights = [(f"{_symbol(layer, name, k)} (\"{k}.{name}\")", self.before[f"{k}.{name}"])
                       for name in layer.named_parameters()]
            equation = self._fill(_FORWARD.get(type(layer).__name__, "a{o} = {layer}(a{i})"), k)
            forward.append((f"layer {k}: {layer!r}",
                            [(equation, blog.get(f"a{k + 1}"), weights + [(f"a{k + 1}", self.activations[k + 1])])]))
        loss_equation, delta_equation = _loss_equations(self._loss_function, self.activations[-1].size)
        if "loss" in blog:
            blog["loss"] += f" = {self.loss / self._targets.size:.{PRECISION}g}"
        loss = [(None, [(loss_equation.format(n=last) + f" = {self.loss:.{PRECISION}g}", blog.get("loss"),
                         [("y", self._targets)])])]
        backward = [(None, [(delta_equation.format(n=last), blog.get(f"δ{last}"), [(f"δ{last}", self.grad_outputs[-1])])])]
        for k in range(last - 1, -1, -1):
            layer, steps = layers[k], []
            for name in layer.named_parameters():
                symbol = _symbol(layer, name, k)
                rule = _GRADIENTS.get((type(layer).__name__, name), "dL/d{symbol} from {layer}.backward(δ{o})")
                steps.append((self._fill(rule, k, symbol=symbol), blog.get(f"dL/d{symbol}"),
                              [(f"dL/d{symbol}", self.gradients[f"{k}.{name}"])]))
            if k > 0:
                rule = _BACKWARD.get(type(layer).__name__, "δ{i} = {layer}.backward(δ{o})")
                steps.append((self._fill(rule, k), blog.get(f"δ{k}"), [(f"δ{k}", self.grad_outputs[k - 1])]))
            if steps:
                backward.append((f"layer {k}: {layer!r}", steps))
        return [("One training step", about), ("Forward pass", forward), ("Loss", loss),
                ("Backward pass (backpropagation, last layer first)", backward), self._update(blog)]

    def _update(self, blog):
        if not self._applied:
            return "Update", [(None, [("none: explain_step(..., apply=False) leaves the weights as they were",
                                       None, [])])]
        rule, steps = _update_rule(self._optimizer), []
        for k in range(len(self._layers) - 1, -1, -1):               # the blog updates the last layer first
            layer = self._layers[k]
            for name in layer.named_parameters():
                symbol, key = _symbol(layer, name, k), f"{k}.{name}"
                steps.append((rule.format(w=symbol), blog.get(f"update {symbol}"),
                               [(f"{symbol} before", self.before[key]), (f"{symbol} after", self.after[key])]))
        return f"Update: {self._optimizer!r}", [(None, steps)]

    def _fill(self, text, k, symbol=""):
        layer = self._layers[k]
        return text.format(i=k, o=k + 1, k=k, layer=type(layer).__name__, symbol=symbol,
                           rate=getattr(layer, "rate", ""))


# Each layer class's equations; {i}: its input a_i, {o}: its output a_o, {k}: its index.
_FORWARD = {
    "Dense": "a{o} = a{i} · W{k} + b{k}",
    "Conv2D": "a{o} = W{k} ⋆ a{i} + b{k}   (cross-correlation per channel)",
    "Sigmoid": "a{o} = σ(a{i}) = 1 / (1 + e^(−a{i}))",
    "Tanh": "a{o} = tanh(a{i})",
    "ReLU": "a{o} = max(0, a{i})",
    "Softmax": "a{o} = softmax(a{i}) = e^(a{i}) / Σ e^(a{i}) per row",
    "Identity": "a{o} = a{i}",
    "Dropout": "a{o} = a{i} ⊙ mask   (mask: 0 with probability {rate}, else 1 / (1 − {rate}))",
    "BatchNorm": "a{o} = γ{k} · (a{i} − μ) / √(σ² + ε) + β{k}   (μ, σ² of the batch, per channel)",
    "Flatten": "a{o} = a{i} reshaped to (N, features)",
}
_BACKWARD = {
    "Dense": "δ{i} = δ{o} · W{k}ᵀ",
    "Sigmoid": "δ{i} = δ{o} ⊙ a{o} ⊙ (1 − a{o})",
    "Tanh": "δ{i} = δ{o} ⊙ (1 − a{o}²)",
    "ReLU": "δ{i} = δ{o} ⊙ [a{i} > 0]",
    "Softmax": "δ{i} = a{o} ⊙ (δ{o} − Σ δ{o} ⊙ a{o} per row)",
    "Identity": "δ{i} = δ{o}",
    "Dropout": "δ{i} = δ{o} ⊙ mask",
    "Flatten": "δ{i} = δ{o} reshaped to a{i}'s shape",
}
_GRADIENTS = {
    ("Dense", "weight"): "dL/dW{k} = a{i}ᵀ · δ{o}",
    ("Dense", "bias"): "dL/db{k} = Σ_rows δ{o}",
    ("Conv2D", "bias"): "dL/db{k} = Σ δ{o} over rows and positions, per channel",
    ("BatchNorm", "weight"): "dL/dγ{k} = Σ δ{o} ⊙ (a{i} − μ) / √(σ² + ε), per channel",
    ("BatchNorm", "bias"): "dL/dβ{k} = Σ δ{o}, per channel",
}
_SYMBOLS = {"weight": "W", "bias": "b"}
_NORM_SYMBOLS = {"weight": "γ", "bias": "β"}


def _symbol(layer, name, k):
    """W0, b0 (γ0, β0 for a normalization layer), or name_k for other parameters."""
    symbols = _NORM_SYMBOLS if "Norm" in type(layer).__name__ else _SYMBOLS
    return f"{symbols[name]}{k}" if name in symbols else f"{name}_{k}"


def _loss_equations(loss, size):
    """(L = ..., δ_n = ...) for `loss`, with {n} for the output's index."""
    mean = getattr(loss, "reduction", "sum") == "mean"
    if isinstance(loss, MSE):
        return (("L = (1/{size}) Σ ½ (a{{n}} − y)²" if mean else "L = Σ ½ (a{{n}} − y)²").format(size=size),
                ("δ{{n}} = dL/da{{n}} = (a{{n}} − y) / {size}" if mean else "δ{{n}} = dL/da{{n}} = a{{n}} − y")
                .format(size=size))
    if isinstance(loss, MAE):
        return "L = Σ |a{n} − y|" + (" / count" if mean else ""), "δ{n} = sign(a{n} − y)" + (" / count" if mean else "")
    if isinstance(loss, BinaryCrossEntropy) and loss.from_logits:
        return ("L = Σ [max(a{n}, 0) − a{n} y + log(1 + e^(−|a{n}|))]" + (" / count" if mean else ""),
                "δ{n} = σ(a{n}) − y" + (" / count" if mean else ""))
    if isinstance(loss, BinaryCrossEntropy):
        return ("L = −Σ [y log a{n} + (1 − y) log(1 − a{n})]" + (" / count" if mean else ""),
                "δ{n} = (a{n} − y) / (a{n} (1 − a{n}))" + (" / count" if mean else ""))
    if isinstance(loss, CrossEntropy):
        return ("L = −Σ_rows log softmax(a{n})[label]" + (" / N" if mean else ""),
                "δ{n} = softmax(a{n}) − one_hot(y)" + (" / N" if mean else ""))
    return f"L = {loss!r}(a{{n}}, y)", "δ{n} = dL/da{n} (the loss's backward)"


def _update_rule(optimizer):
    """The update of one parameter {w}, in words the reader knows."""
    if isinstance(optimizer, SGD) and optimizer.momentum == 0 and optimizer.weight_decay == 0:
        return f"{{w}} ← {{w}} − {optimizer.learning_rate:g} · dL/d{{w}}"
    if type(optimizer) is Adam and optimizer.weight_decay == 0:
        return (f"{{w}} ← {{w}} − {optimizer.learning_rate:g} · m̂ / (√v̂ + {optimizer.epsilon:g})   "
                f"(m, v: running averages of dL/d{{w}} and its square)")
    return f"{{w}} ← {type(optimizer).__name__}'s step from dL/d{{w}}"


def _blog_names(layers, loss, optimizer, size):
    """The blog's variable for each line, when the network is the blog's Dense-Sigmoid-Dense-
    Sigmoid (and, for the backward pass, trained on MSE(reduction="sum") by plain SGD)."""
    if [type(layer).__name__ for layer in layers] != ["Dense", "Sigmoid", "Dense", "Sigmoid"]:
        return {}
    names = {"a0": "X", "a1": "hidden_layer_input = np.dot(X, weights_input_hidden) + biases_hidden",
             "a2": "hidden_layer_output = sigmoid(hidden_layer_input)",
             "a3": "output_layer_input = np.dot(hidden_layer_output, weights_hidden_output) + bias_output",
             "a4": "predicted_output = sigmoid(output_layer_input)"}
    if not (isinstance(loss, MSE) and loss.reduction == "sum"):
        return names
    names.update({
        "loss": f"loss = np.mean(0.5 * (y - predicted_output)**2) = L / {size}",
        "δ4": "error = y - predicted_output, so δ4 = −error",
        "δ3": "d_output = error * predicted_output * (1 - predicted_output) = −δ3",
        "δ2": "error_hidden = d_output.dot(weights_hidden_output.T) = −δ2",
        "δ1": "d_hidden = error_hidden * hidden_layer_output * (1 - hidden_layer_output) = −δ1",
        "dL/dW2": "−hidden_layer_output.T.dot(d_output)", "dL/db2": "−np.sum(d_output, axis=0)",
        "dL/dW0": "−X.T.dot(d_hidden)", "dL/db0": "−np.sum(d_hidden, axis=0)"})
    if isinstance(optimizer, SGD) and optimizer.momentum == 0 and optimizer.weight_decay == 0:
        names.update({
            "update W2": "weights_hidden_output += hidden_layer_output.T.dot(d_output) * learning_rate",
            "update b2": "bias_output += np.sum(d_output, axis=0, keepdims=True) * learning_rate",
            "update W0": "weights_input_hidden += X.T.dot(d_hidden) * learning_rate",
            "update b0": "biases_hidden += np.sum(d_hidden, axis=0) * learning_rate"})
    return names


def _format(array):
    """An array in full (at most FULL_SIZE numbers), else its shape, mean, std, min and max."""
    array = np.asarray(array)
    if array.size <= FULL_SIZE:
        return np.array2string(array, precision=PRECISION, max_line_width=110, floatmode="maxprec")
    values = array.astype(np.float64)
    return (f"array of shape {array.shape}: mean {values.mean():.4g}, std {values.std():.4g}, "
            f"min {values.min():.4g}, max {values.max():.4g}")
