"""The scikit-learn estimators' strategy for `scratchnn.training.run_epoch`, the one batch loop.

`ScikitLearnSteps` computes each batch's loss value and gradient as scikit-learn's
``_backprop`` does, in its order of operations, so that the same weights give the same bits
in any dtype:

    logits = network.forward(X_batch, upto=k)           # all layers but the output activation
    value  = scikit-learn's loss on the batch            # incl. (α/2n)·Σ‖W‖², `scikit_learn_log_loss`
    network.backward(p − y, upto=k)                      # Σ over the rows: x^T · δ, Σ δ (unscaled)

and its update adds α · W to the weight gradients, divides every gradient by the batch's rows
n and takes the optimizer's step (for `ScikitLearnAdam`, the three fused in one pass).
"""

import numpy as np
from scipy.special import xlogy          # scikit-learn's own dependency, as scikit-learn calls it

from ..losses import CrossEntropy
from ..nn.core import Dense
from ..nn.base import flat_slices
from ..training.strategy import Strategy
from .network import ScikitLearnAdam, dense, logits_layers, scale_gradient


class ScikitLearnSteps(Strategy):
    """A `run_epoch` strategy (see `scratchnn.training.strategy`) with scikit-learn's loss
    value and L2 term. `alpha` is the L2 factor (0: none); `value_scale` turns the loss's
    value per row into scikit-learn's (`network.make_loss`). X batches may be scipy sparse:
    each is made dense on its own."""

    def __init__(self, network, loss, alpha, value_scale):
        super().__init__(network)
        self.network, self.loss, self.alpha, self.value_scale = network, loss, alpha, value_scale
        self.upto = logits_layers(network)
        self.weights = [layer.weight for layer in network.layers[:self.upto] if isinstance(layer, Dense)]
        self.l2 = l2_factors(network, alpha) if alpha else None
        self.exact_log_loss = isinstance(loss, CrossEntropy)
        self.grad_is_zero = False       # whether the last update left every gradient at 0
        self.n_rows = 0

    def new_epoch(self):
        self.grad_is_zero = False

    def gradient(self, X_batch, y_batch):
        X_batch = dense(X_batch)                                # sparse: one batch at a time
        self.n_rows = n_rows = X_batch.shape[0]
        logits = self.network.forward(X_batch, training=True, upto=self.upto)
        our_value = self.loss.forward(logits, y_batch)          # (also readies loss.backward)
        if self.exact_log_loss:                                 # the value as scikit-learn computes it
            value = scikit_learn_log_loss(self.loss.exps, self.loss.sums, y_batch, self.weights, self.alpha)
        else:
            value = float(our_value) * self.value_scale / n_rows
            for weight in self.weights if self.alpha else ():
                value += 0.5 * self.alpha / n_rows * float(np.vdot(weight.value, weight.value))   # (α/2n)‖W‖²
        if not self.grad_is_zero:
            self.network.zero_grad()
        self.network.backward(self.loss.backward(), input_grad=False, upto=self.upto)  # x^T · δ, Σ δ
        return value, logits

    def update(self, optimizer):
        parameter = self.network.flat_parameter     # one update over all weights (see nn.base.gather_parameters)
        if isinstance(optimizer, ScikitLearnAdam):  # the scaling below, fused into its step
            optimizer.scaled_step(parameter, self.n_rows, self.l2)
            self.grad_is_zero = True                # (scaled_step leaves every gradient at 0)
        else:
            scale_gradient(parameter.grad, parameter.value, self.l2, self.n_rows)
            optimizer.step([parameter])


def scikit_learn_log_loss(exps, sums, labels, weights, alpha):
    """A batch's loss, softmax cross-entropy plus the L2 term, computed as scikit-learn's
    ``_backprop`` computes it, so that ``loss_curve_`` (and the ``tol`` test on it) is
    scikit-learn's to the bit: p = exps / sums clipped to [eps, 1 − eps], −mean over the
    rows of xlogy(one-hot, p) summed over the classes, then + (α/2)·Σ‖W‖² / n.

    exps, sums: the softmax's numerators (n, k) and row sums (n, 1) from `CrossEntropy`;
    labels: (n,) class indices; weights: the Dense weight Parameters. Returns a float64.

    xlogy(one-hot, p) is 0 but at each row's class, so only those n entries are computed
    (the same operations on the same numbers: p, the clip and xlogy are entrywise) and put
    among zeros, whose column means are then scikit-learn's."""
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
    per entry (`nn.base.gather_parameters` lays the parameters out in the order of ``parameters()``)."""
    factors = np.zeros_like(network.flat_parameter.value)
    weights = {id(layer.weight) for layer in network.layers if isinstance(layer, Dense)}
    for parameter, part in zip(network.parameters(), flat_slices(network.parameters())):
        if id(parameter) in weights:
            factors[part] = alpha
    return factors
