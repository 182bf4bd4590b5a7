"""Loss functions.

Protocol: ``value = loss(predictions, targets)`` returns a float, and ``loss.backward()``
returns d value / d predictions for that call, an array shaped like the predictions.

``reduction="mean"`` averages over the elements (the batch for `CrossEntropy`);
``reduction="sum"`` adds them up, which is what the blog's update rule differentiates.

>>> loss = MSE(reduction="sum")
>>> loss(np.array([[0.8]]), np.array([[1.0]]))        # 0.5 · (1 − 0.8)²
0.02
>>> loss.backward()                                    # the blog's −(y − p)
array([[-0.2]])
"""

import numpy as np

from ._checks import describe, instance_or_name, number_in_range, one_of
from .nn.activations import _shift_by_max, sigmoid


class Loss:
    """Base class: checks shapes, keeps what backward needs."""

    def __init__(self, reduction="mean"):
        self.reduction = one_of("reduction", reduction, ("mean", "sum"))

    def __call__(self, predictions, targets):
        predictions = np.asarray(predictions)
        targets = self.check_targets(predictions, np.asarray(targets))
        return float(self.forward(predictions, targets))

    def check_targets(self, predictions, targets):
        if targets.shape != predictions.shape:
            raise ValueError(
                f"{type(self).__name__}: targets of shape {targets.shape} do not match "
                f"predictions of shape {predictions.shape}"
            )
        return targets.astype(predictions.dtype, copy=False)

    def reduce(self, per_element):
        """Sum or average the per-element losses; keep the scale backward must apply.

        The sum is accumulated in float64, so float32 losses near their dtype's largest value
        do not overflow it; only where even that overflows is the mean taken as Σ (loss_i / n).
        """
        self.scale = 1.0 if self.reduction == "sum" else 1.0 / per_element.size
        return _reduce(per_element, self.scale)

    def get_config(self):
        return {"reduction": self.reduction}

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class MSE(Loss):
    """Squared error with the blog's one half: L = ½ Σ (p − y)² (summed or averaged).

    Its gradient with ``reduction="sum"`` is the blog's ``−(y − p)``.
    """

    def forward(self, predictions, targets):
        self.difference = predictions - targets
        return self.reduce(0.5 * self.difference**2)        # ½ (p − y)²

    def backward(self):
        return self.difference * self.scale                  # dL/dp = (p − y)


class MAE(Loss):
    """Absolute error: L = Σ |p − y| (summed or averaged); its gradient is sign(p − y)."""

    def forward(self, predictions, targets):
        self.difference = predictions - targets
        return self.reduce(np.abs(self.difference))

    def backward(self):
        return np.sign(self.difference) * self.scale         # dL/dp = sign(p − y)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy: L = −[y log p + (1 − y) log(1 − p)] per element.

    With ``from_logits=False`` the predictions are probabilities (after a Sigmoid) and are
    clipped to [eps, 1 − eps] of their dtype, as scikit-learn does, so log never sees 0.
    With ``from_logits=True`` the predictions are logits z and the loss is computed as
    max(z, 0) − z·y + log(1 + e^−|z|), which never overflows; its gradient is σ(z) − y.
    """

    def __init__(self, from_logits=False, reduction="mean"):
        super().__init__(reduction)
        if not isinstance(from_logits, bool):
            raise TypeError(f"from_logits must be True or False, got {describe(from_logits)}")
        self.from_logits = from_logits

    def check_targets(self, predictions, targets):
        targets = super().check_targets(predictions, targets)
        if targets.size and (targets.min() < 0 or targets.max() > 1):
            bad = targets.min() if targets.min() < 0 else targets.max()
            raise ValueError(f"BinaryCrossEntropy: targets must be in [0, 1], got {bad:g}")
        return targets

    def forward(self, predictions, targets):
        self.targets = targets
        if self.from_logits:
            self.logits = predictions
            z = predictions
            return self.reduce(np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z))))
        eps = np.finfo(predictions.dtype).eps
        self.probabilities = np.clip(predictions, eps, 1 - eps)
        self.inside_clip = self.probabilities == predictions
        p = self.probabilities
        return self.reduce(-(targets * np.log(p) + (1 - targets) * np.log1p(-p)))

    def backward(self):
        if self.from_logits:
            return (sigmoid(self.logits) - self.targets) * self.scale        # dL/dz = σ(z) − y
        p, y = self.probabilities, self.targets
        grad = (p - y) / (p * (1 - p)) * self.scale           # dL/dp = −y/p + (1 − y)/(1 − p)
        return grad * self.inside_clip                         # the clip is flat outside [eps, 1 − eps]

    def get_config(self):
        return {"from_logits": self.from_logits, "reduction": self.reduction}


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits, softmax and log fused: L = −Σ_k t_k · log softmax(z)_k.

    Targets are integer class labels of shape (N,) or probabilities / one-hot rows of shape
    (N, C). ``reduction="mean"`` averages over the N samples. Sequences, as PyTorch's and
    Keras' losses take them: logits (N, T, C) (any (N, ..., C)) with labels (N, T) or
    probabilities (N, T, C) are the N·T rows (N·T, C), and the mean is over the N·T positions. The gradient is the famous
    softmax(z) − t, for rows of t that sum to 1; rows that do not (several 1s, unnormalized
    weights) get the gradient of the value computed, softmax(z) · Σ_k t_k − t. (Several
    labels per sample, each yes or no, is a job for ``BinaryCrossEntropy(from_logits=True)``.)

    ``label_smoothing=ε`` (as in PyTorch and Keras) trains on the targets t' = (1 − ε)·t + ε/C
    for C classes: a little of every label's weight spread over all classes, so the network is
    not pushed towards infinitely confident logits. For a class label y that is

        L = (1 − ε) · (−log p_y) + ε · mean_k (−log p_k),    dL/dz = softmax(z) − t'.

    >>> loss = CrossEntropy()
    >>> loss(np.array([[2.0, 0.0, -1.0]]), np.array([0]))
    0.16...
    """

    def __init__(self, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.label_smoothing = number_in_range("label_smoothing", label_smoothing, 0.0, 1.0, high_open=True)

    def get_config(self):
        config = super().get_config()
        if self.label_smoothing:
            config["label_smoothing"] = self.label_smoothing
        return config

    def check_targets(self, predictions, targets):
        if predictions.ndim < 2:
            raise ValueError(f"CrossEntropy expects logits of shape (N, C), got shape {predictions.shape} "
                             "(sequences: (N, T, C))")
        n_samples, n_classes = predictions.shape[0], predictions.shape[-1]
        if targets.ndim == predictions.ndim - 1:
            if targets.shape != predictions.shape[:-1]:
                raise ValueError(f"CrossEntropy: {targets.shape[0]} labels for {n_samples} rows of logits"
                                 if predictions.ndim == 2 else f"CrossEntropy: labels of shape {targets.shape} "
                                 f"for logits of shape {predictions.shape} (expected {predictions.shape[:-1]})")
            if targets.dtype.kind == "f" and np.any(targets != np.round(targets)):
                bad = targets[targets != np.round(targets)][0]
                raise ValueError(f"CrossEntropy: labels of shape (N,) must be whole numbers (class "
                                 f"indices), got {bad:g}")
            if targets.dtype.kind not in "biuf":
                raise TypeError(f"CrossEntropy: labels must be integers, got dtype {targets.dtype}")
            if targets.size and (targets.min() < 0 or targets.max() >= n_classes):
                raise ValueError(
                    f"CrossEntropy: labels must be in [0, {n_classes - 1}] for {n_classes} "
                    f"logits per row, got values from {targets.min()} to {targets.max()}"
                )
            return targets.astype(np.intp)
        targets = super().check_targets(predictions, targets)
        if targets.size and targets.min() < 0:
            raise ValueError(f"CrossEntropy: target probabilities must be >= 0, got {targets.min():g}")
        return targets

    def forward(self, logits, targets):
        self.logits_shape = logits.shape             # sequences: (N, T, C) as N·T rows of C
        logits = logits.reshape(-1, logits.shape[-1])
        targets = targets.reshape(-1) if targets.ndim < len(self.logits_shape) else targets.reshape(logits.shape)
        smoothing = self.label_smoothing
        if smoothing and targets.ndim == 2:                     # t' = (1 − ε) t + ε / C
            targets = targets * (1 - smoothing) + smoothing / logits.shape[1]
        self.targets = targets
        # log softmax(z) = (z − max z) − log Σ e^(z − max z); the exponentials are kept, so that
        # backward gets softmax(z) = e^(z − max z) / Σ without computing them again
        shifted = _shift_by_max(logits, axis=1)
        self.exps = np.exp(shifted)
        self.sums = self.exps.sum(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(self.sums)
        self.scale = 1.0 if self.reduction == "sum" else 1.0 / logits.shape[0]
        if targets.ndim == 1:                                    # pick log p of the true class
            per_sample = -log_probabilities[np.arange(logits.shape[0]), targets]
            if smoothing:                          # (1 − ε)(−log p_y) + ε · mean_k (−log p_k)
                per_sample = (1 - smoothing) * per_sample - smoothing * log_probabilities.mean(axis=1)
        else:                       # t · log p, with 0 · log p = 0 even where log p = −inf
            self.target_sums = targets.sum(axis=1, keepdims=True)
            products = np.multiply(targets, log_probabilities, where=targets != 0,
                                   out=np.zeros_like(log_probabilities))
            per_sample = -products.sum(axis=1)
        return _reduce(per_sample, self.scale)

    def backward(self):
        grad = self.exps / self.sums                             # dL/dz = softmax(z) − t
        if self.targets.ndim == 1:
            smoothing = self.label_smoothing
            if smoothing:                                        # t' = (1 − ε) one-hot + ε / C
                grad -= grad.dtype.type(smoothing / grad.shape[1])
            grad[np.arange(grad.shape[0]), self.targets] -= grad.dtype.type(1 - smoothing)
        else:
            grad *= self.target_sums                # dL/dz = softmax(z) · Σ_k t_k − t (Σ_k t_k = 1: the same)
            grad -= self.targets
        grad *= grad.dtype.type(self.scale)
        return grad.reshape(self.logits_shape)


def _reduce(values, scale):
    """scale · Σ values, accumulated in float64 (see `Loss.reduce`)."""
    with np.errstate(over="ignore"):
        total = values.sum(dtype=np.float64)
    if np.isinf(total) and scale != 1.0:
        return (values * scale).sum(dtype=np.float64)
    return total * scale


LOSSES = {
    "mse": MSE,
    "mae": MAE,
    "binary_cross_entropy": BinaryCrossEntropy,
    "cross_entropy": CrossEntropy,
}


def get_loss(loss):
    """A loss from an instance or a name ("mse", "mae", "binary_cross_entropy", "cross_entropy")."""
    return instance_or_name("loss", loss, Loss, LOSSES, "sn.MSE()")
