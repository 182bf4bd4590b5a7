"""Optimizers: they alone change ``Parameter.value``, from ``Parameter.grad``.

``optimizer.step(parameters)`` applies one update. Per-parameter state (momentum, running
averages) lives in the optimizer, in ``optimizer.state[parameter]``, never on a layer.
Updates are written in place, so views of the parameters stay valid.

A subclass writes its update rule once, in NumPy (``update``); the base class owns the step:
the loop over parameters, their state, and the choice of the compiled kernel an optimizer
may also have (``compiled_update``, the same bits in one pass, used when ``fused`` allows it
and the arrays fit a kernel), and gradient clipping: with ``clip_norm=c``, every step first
scales the gradients of all the parameters it updates by min(1, c / (‖g‖ + 1e-6)), ‖g‖ their
joint Euclidean norm (`clip_gradient_norm`, PyTorch's ``clip_grad_norm_``).

>>> opt = SGD(learning_rate=0.1)
>>> opt.step(net.parameters())        # w ← w − 0.1 · dL/dw for every parameter
"""

import math

import numpy as np

from . import kernels
from ._checks import describe, instance_or_name, number_in_range, positive_number
from .kernels import optim as compiled


class Optimizer:
    """Base class: the learning rate, the per-parameter state, the step counter, and the
    choice between the NumPy update and a compiled one.

    ``fused``: "auto" (the compiled kernel when Numba is installed and the optimizer has
    one), True (Numba required) or False (always NumPy).
    ``clip_norm``: None (no clipping) or a number > 0, the largest norm a step's gradient may
    have (see `clip_gradient_norm`); saved in ``get_config`` when set.
    ``l1``: λ ≥ 0, L1 regularization: every step adds λ · sign(w) to each gradient (after
    clipping, before the update rule), the subgradient of λ Σ|w|, which pulls weights towards 0
    by a constant amount; the parameters' ``grad`` arrays are left as they were. Saved in
    ``get_config`` when above 0."""

    def __init__(self, learning_rate, fused="auto", clip_norm=None, l1=0.0):
        self.learning_rate = positive_number("learning_rate", learning_rate)
        self.fused = kernels.check_option(fused)
        self.clip_norm = None if clip_norm is None else positive_number("clip_norm", clip_norm)
        self.l1 = positive_number("l1", l1, allow_zero=True)
        self.state = {}          # Parameter -> dict of arrays
        self.iterations = 0      # number of steps taken
        self._scratch = {}       # work arrays by shape, reused across steps

    def step(self, parameters):
        """Apply one update to every parameter from its ``grad`` (clipped first when
        ``clip_norm`` is set: the grads are scaled in place, as PyTorch's clipping does)."""
        self.iterations += 1
        if self.clip_norm is not None:
            parameters = list(parameters)
            clip_gradient_norm(parameters, self.clip_norm)
        for parameter in parameters:
            value, grad, state = parameter.value, parameter.grad, self.state_of(parameter)
            if self.l1:
                grad = grad + self.l1 * np.sign(value)                 # g = ∇L + λ sign(w)
            if self.can_compile(value, grad, state):
                self.compiled_update(value, grad, state)
            else:
                self.update(value, grad, state)

    def can_compile(self, value, grad, state):
        """Whether `compiled_update` runs this step: the optimizer has a kernel for its
        settings (`compiled_arrays`), ``fused`` allows it, and the arrays fit the kernel."""
        arrays = self.compiled_arrays(state)
        return arrays is not None and kernels.use_compiled(self.fused, value, grad, *arrays)

    def compiled_arrays(self, state):
        """The state arrays `compiled_update` works on, or None when there is no kernel (the
        default: NumPy only)."""
        return None

    def compiled_update(self, value, grad, state):
        """The step of `update` in one compiled pass, with the same bits."""
        raise NotImplementedError

    def state_of(self, parameter):
        """This optimizer's state for `parameter`, created on first use."""
        if parameter not in self.state:
            self.state[parameter] = self.initial_state(parameter)
        return self.state[parameter]

    def initial_state(self, parameter):
        return {}

    def update(self, value, grad, state):
        """One step of the update rule, in NumPy, in place on `value` (and `state`)."""
        raise NotImplementedError

    def scratch_like(self, value):
        """A reusable work array shaped like `value` (not state: it holds nothing between steps)."""
        key = (value.shape, value.dtype.str)
        if key not in self._scratch:
            self._scratch[key] = np.empty_like(value)
        return self._scratch[key]

    def get_config(self):
        return {"learning_rate": self.learning_rate, **self.clip_config()}

    def clip_config(self):
        """The base class's options that are on: ``{"clip_norm": c}`` when clipping, ``{"l1": λ}``
        when λ > 0 (each subclass's config ends with them)."""
        return {**({} if self.clip_norm is None else {"clip_norm": self.clip_norm}),
                **({"l1": self.l1} if self.l1 else {})}

    def state_arrays(self, parameters):
        """The state as a flat dict "index.name" -> array, parameters numbered in order."""
        arrays = {}
        for index, parameter in enumerate(parameters):
            for name, array in self.state.get(parameter, {}).items():
                arrays[f"{index}.{name}"] = array
        return arrays

    def load_state_arrays(self, parameters, arrays, iterations):
        """Restore what `state_arrays` gave, for the same parameters in the same order."""
        self.state = {}
        for index, parameter in enumerate(parameters):
            state = {}
            for key, array in arrays.items():
                prefix, _, name = key.partition(".")
                if prefix == str(index):
                    dtype = array.dtype if array.dtype.kind in "iu" else parameter.value.dtype
                    state[name] = np.array(array, dtype=dtype)
            if state:
                self.state[parameter] = state
        self.iterations = int(iterations)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 decay.

    g = grad + weight_decay · w;  v = momentum · v + g;  w ← w − lr · (g + momentum · v if
    nesterov else v), as PyTorch defines it. With momentum 0 this is the blog's
    ``w += lr · (−grad)``.

    With momentum, v entries below the dtype's smallest normal number are set to 0 (see
    `Adam`), and ``fused="auto"`` runs the step in one compiled pass when Numba is installed
    (the same bits; ``fused=False``: always NumPy).
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, fused="auto",
                 clip_norm=None, l1=0.0):
        super().__init__(learning_rate, fused, clip_norm, l1)
        self.momentum = number_in_range("momentum", momentum, 0.0, 1.0, high_open=True)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {describe(nesterov)}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, got momentum=0")
        self.nesterov = nesterov
        self.weight_decay = positive_number("weight_decay", weight_decay, allow_zero=True)

    def initial_state(self, parameter):
        return {"velocity": np.zeros_like(parameter.value)} if self.momentum else {}

    def update(self, value, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * value                # g = ∇L + λ w
        if self.momentum:
            velocity = state["velocity"]
            velocity *= self.momentum
            velocity += grad                                       # v = μ v + g
            _flush_subnormals(velocity, self.scratch_like(value))
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        value -= self.learning_rate * grad                         # w ← w − lr · g

    def compiled_arrays(self, state):
        return [state["velocity"]] if self.momentum else None      # plain SGD: one NumPy line

    def compiled_update(self, value, grad, state):
        scalar = value.dtype.type
        compiled.sgd_momentum_step(value.reshape(-1), grad.reshape(-1), state["velocity"].reshape(-1),
                                   scalar(self.momentum), scalar(self.weight_decay), self.nesterov,
                                   scalar(self.learning_rate), np.finfo(value.dtype).tiny)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay, **self.clip_config()}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with PyTorch's arithmetic:

    m = β1 m + (1 − β1) g;  v = β2 v + (1 − β2) g²;
    w ← w − lr / (1 − β1^t) · m / (√v / √(1 − β2^t) + ε).

    ``weight_decay`` adds λ w to the gradient (L2, as in PyTorch's Adam); see `AdamW` for the
    decoupled form.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 fused="auto", clip_norm=None, l1=0.0):
        super().__init__(learning_rate, fused, clip_norm, l1)
        self.beta_1 = number_in_range("beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = number_in_range("beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = positive_number("epsilon", epsilon)
        self.weight_decay = positive_number("weight_decay", weight_decay, allow_zero=True)

    def initial_state(self, parameter):
        return {"m": np.zeros_like(parameter.value), "v": np.zeros_like(parameter.value),
                "step": np.zeros((), dtype=np.int64)}       # t counts this parameter's updates

    def decay(self, value, grad):
        return grad + self.weight_decay * value if self.weight_decay else grad   # g = ∇L + λ w

    def update(self, value, grad, state):
        grad = self.decay(value, grad)
        m, v = state["m"], state["v"]
        # The plain form allocates a temporary array per operation; writing into one scratch
        # buffer (out=) computes the same numbers in the same order without allocating.
        scratch = self.scratch_like(value)
        m *= self.beta_1
        m += np.multiply(grad, 1 - self.beta_1, out=scratch)          # m = β1 m + (1 − β1) g
        v *= self.beta_2
        np.multiply(grad, grad, out=scratch)
        v += np.multiply(scratch, 1 - self.beta_2, out=scratch)        # v = β2 v + (1 − β2) g²
        # Where the gradient stays 0 (dead units, always-blank pixels), m shrinks by β1 each step
        # into subnormal numbers, which CPUs handle far more slowly. They cannot move a weight
        # (lr · m ≈ 1e-41), so we flush them to zero.
        _flush_subnormals(m, scratch)
        _flush_subnormals(v, scratch)
        state["step"] += 1
        t = int(state["step"])
        step_size = self.learning_rate / (1 - self.beta_1**t)
        denominator = np.sqrt(v, out=scratch)
        denominator /= math.sqrt(1 - self.beta_2**t)
        denominator += self.epsilon                                    # √v̂ + ε, with v̂ = v / (1 − β2^t)
        update = np.divide(m, denominator, out=scratch)
        value -= np.multiply(update, step_size, out=scratch)           # w ← w − lr · m̂ / (√v̂ + ε)

    def compiled_arrays(self, state):
        return [state["m"], state["v"]]

    def compiled_update(self, value, grad, state):
        """The same step as the NumPy code above, in one compiled pass (`kernels.optim.adam_step`)."""
        grad = self.decay(value, grad)
        m, v = state["m"], state["v"]
        state["step"] += 1
        t = int(state["step"])
        scalar = value.dtype.type
        compiled.adam_step(value.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                           scalar(self.beta_1), scalar(1 - self.beta_1), scalar(self.beta_2),
                           scalar(1 - self.beta_2), scalar(math.sqrt(1 - self.beta_2**t)),
                           scalar(self.epsilon), scalar(self.learning_rate / (1 - self.beta_1**t)),
                           np.finfo(value.dtype).tiny)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "weight_decay": self.weight_decay, **self.clip_config()}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019):
    w ← w − lr · λ · w, then the Adam step on the plain gradient. Default λ = 0.01 (PyTorch's).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01,
                 fused="auto", clip_norm=None, l1=0.0):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, fused, clip_norm, l1)

    def decay(self, value, grad):
        if self.weight_decay:
            value *= 1 - self.learning_rate * self.weight_decay     # w ← w (1 − lr λ)
        return grad


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): v = ρ v + (1 − ρ) g²;  w ← w − lr · g / (√v + ε).

    With momentum μ > 0: b = μ b + g / (√v + ε);  w ← w − lr · b (PyTorch's form).

    v and b entries below the dtype's smallest normal number are set to 0 (see `Adam`);
    ``fused="auto"`` runs the step in one compiled pass when Numba is installed (the same bits).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, fused="auto", clip_norm=None, l1=0.0):
        super().__init__(learning_rate, fused, clip_norm, l1)
        self.rho = number_in_range("rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = number_in_range("momentum", momentum, 0.0, 1.0, high_open=True)
        self.epsilon = positive_number("epsilon", epsilon)

    def initial_state(self, parameter):
        state = {"square_average": np.zeros_like(parameter.value)}
        if self.momentum:
            state["buffer"] = np.zeros_like(parameter.value)
        return state

    def update(self, value, grad, state):
        average, buffer = state["square_average"], state.get("buffer")
        scratch = self.scratch_like(value)
        average *= self.rho
        average += (1 - self.rho) * (grad * grad)                  # v = ρ v + (1 − ρ) g²
        _flush_subnormals(average, scratch)
        scaled = grad / (np.sqrt(average) + self.epsilon)          # g / (√v + ε)
        if self.momentum:
            buffer *= self.momentum
            buffer += scaled                                       # b = μ b + g / (√v + ε)
            _flush_subnormals(buffer, scratch)
            scaled = buffer
        value -= self.learning_rate * scaled

    def compiled_arrays(self, state):
        average = state["square_average"]
        return [average, state.get("buffer", average)]     # (the kernel needs a buffer either way)

    def compiled_update(self, value, grad, state):
        average, buffer = self.compiled_arrays(state)
        scalar = value.dtype.type
        compiled.rmsprop_step(value.reshape(-1), grad.reshape(-1), average.reshape(-1), buffer.reshape(-1),
                              scalar(self.rho), scalar(1 - self.rho), scalar(self.epsilon),
                              scalar(self.momentum), bool(self.momentum), scalar(self.learning_rate),
                              np.finfo(value.dtype).tiny)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho,
                "momentum": self.momentum, "epsilon": self.epsilon, **self.clip_config()}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): s = s + g²;  w ← w − lr · g / (√s + ε).

    ``fused="auto"`` runs the step in one compiled pass when Numba is installed (the same bits).
    """

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.0, epsilon=1e-10, fused="auto",
                 clip_norm=None, l1=0.0):
        super().__init__(learning_rate, fused, clip_norm, l1)
        self.initial_accumulator_value = positive_number(
            "initial_accumulator_value", initial_accumulator_value, allow_zero=True)
        self.epsilon = positive_number("epsilon", epsilon)

    def initial_state(self, parameter):
        return {"sum_of_squares": np.full_like(parameter.value, self.initial_accumulator_value)}

    def update(self, value, grad, state):
        total = state["sum_of_squares"]
        total += grad * grad                                       # s = s + g²
        value -= self.learning_rate * grad / (np.sqrt(total) + self.epsilon)

    def compiled_arrays(self, state):
        return [state["sum_of_squares"]]

    def compiled_update(self, value, grad, state):
        total = state["sum_of_squares"]
        scalar = value.dtype.type
        compiled.adagrad_step(value.reshape(-1), grad.reshape(-1), total.reshape(-1),
                              scalar(self.epsilon), scalar(self.learning_rate))

    def get_config(self):
        return {"learning_rate": self.learning_rate,
                "initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon,
                **self.clip_config()}


def clip_gradient_norm(parameters, max_norm):
    """Scale the gradients of `parameters` in place so that their joint norm is at most about
    `max_norm`, exactly as PyTorch's ``torch.nn.utils.clip_grad_norm_`` does, and return the
    norm before clipping:

        ‖g‖ = √(Σ over every entry of every grad of g²)
        g ← g · min(1, max_norm / (‖g‖ + 1e-6))

    (PyTorch's 1e-6 keeps a zero gradient from dividing by 0; the same formula gives the
    same numbers). The squares are summed in the grads' dtype, and again in float64 when that
    overflows (float32 grads beyond about 1e19); a gradient holding inf or NaN is left alone,
    and the step then makes the loss non-finite, which `fit` reports.
    """
    squares = 0.0
    for parameter in parameters:
        flat = parameter.grad.reshape(-1)
        with np.errstate(over="ignore"):                   # overflow: summed again in float64
            square = float(np.dot(flat, flat))             # Σ g²
        if not math.isfinite(square):
            flat = flat.astype(np.float64)
            square = float(np.dot(flat, flat))
        squares += square
    norm = math.sqrt(squares)                              # ‖g‖
    scale = max_norm / (norm + 1e-6)
    if scale < 1 and math.isfinite(norm):                  # clip only when ‖g‖ is too large
        for parameter in parameters:
            parameter.grad *= parameter.grad.dtype.type(scale)     # g ← g · max_norm / (‖g‖ + 1e-6)
    return norm


def _flush_subnormals(state, scratch):
    """Set the entries of `state` whose magnitude is below the dtype's smallest normal number
    (subnormal floats, far slower to compute with) to 0; `scratch` is a work array."""
    np.copyto(state, 0, where=np.abs(state, out=scratch) < np.finfo(state.dtype).tiny)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get_optimizer(optimizer):
    """An optimizer from an instance or a name ("sgd", "adam", "adamw", "rmsprop", "adagrad")."""
    return instance_or_name("optimizer", optimizer, Optimizer, OPTIMIZERS, "sn.SGD(0.1)")
