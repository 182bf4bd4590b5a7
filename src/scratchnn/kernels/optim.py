"""Compiled optimizer steps (see `scratchnn.optim`; `scikit_learn_adam_step` is for
`scratchnn.sklearn.network.ScikitLearnAdam`). Each updates 1-D arrays in place with the
scalars in the arrays' dtype, as the optimizer's NumPy code does, in the same order."""

import numpy as np

from ._numba import compiled


@compiled()
def adam_step(value, grad, m, v, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2,
              correction_2, epsilon, step_size, tiny):
    """One Adam update of 1-D arrays, in place; the scalars carry the arrays' dtype."""
    zero = tiny - tiny
    for i in range(value.size):
        g = grad[i]
        m_i = m[i] * beta_1 + g * one_minus_beta_1            # m = β1 m + (1 − β1) g
        v_i = v[i] * beta_2 + (g * g) * one_minus_beta_2      # v = β2 v + (1 − β2) g²
        if abs(m_i) < tiny:                                   # subnormal: flush (see optim.Adam)
            m_i = zero
        if v_i < tiny:
            v_i = zero
        m[i] = m_i
        v[i] = v_i
        denominator = np.sqrt(v_i) / correction_2 + epsilon   # √v̂ + ε, v̂ = v / (1 − β2^t)
        value[i] -= (m_i / denominator) * step_size           # w ← w − lr · m̂ / (√v̂ + ε)


@compiled()
def sgd_momentum_step(value, grad, velocity, momentum, weight_decay, nesterov, learning_rate, tiny):
    """One SGD step with momentum, in place, as `optim.SGD.update`'s NumPy code does it."""
    zero = tiny - tiny
    for i in range(value.size):
        g = grad[i]
        if weight_decay != zero:
            g = g + weight_decay * value[i]                   # g = ∇L + λ w
        v_i = velocity[i] * momentum + g                      # v = μ v + g
        if abs(v_i) < tiny:                                   # subnormal: flush (see optim.Adam)
            v_i = zero
        velocity[i] = v_i
        step = g + momentum * v_i if nesterov else v_i
        value[i] -= learning_rate * step                      # w ← w − lr · step


@compiled()
def rmsprop_step(value, grad, average, buffer, rho, one_minus_rho, epsilon, momentum, use_momentum,
                 learning_rate, tiny):
    """One RMSprop step, in place, as `optim.RMSprop.update`'s NumPy code does it."""
    zero = tiny - tiny
    for i in range(value.size):
        g = grad[i]
        a = average[i] * rho + one_minus_rho * (g * g)        # v = ρ v + (1 − ρ) g²
        if a < tiny:                                          # subnormal: flush
            a = zero
        average[i] = a
        scaled = g / (np.sqrt(a) + epsilon)                   # g / (√v + ε)
        if use_momentum:
            b = buffer[i] * momentum + scaled                 # b = μ b + g / (√v + ε)
            if abs(b) < tiny:
                b = zero
            buffer[i] = b
            scaled = b
        value[i] -= learning_rate * scaled


@compiled()
def adagrad_step(value, grad, total, epsilon, learning_rate):
    """One Adagrad step, in place, as `optim.Adagrad.update`'s NumPy code does it."""
    for i in range(value.size):
        g = grad[i]
        s = total[i] + g * g                                  # s = s + g²
        total[i] = s
        value[i] -= (learning_rate * g) / (np.sqrt(s) + epsilon)   # w ← w − lr · g / (√s + ε)


@compiled()
def scikit_learn_adam_step(value, grad, l2, use_l2, rows, clear, m, v, beta_1, one_minus_beta_1, beta_2,
                           one_minus_beta_2, minus_learning_rate, epsilon, tiny, upcast):
    """scikit-learn's Adam update, operation for operation (see sklearn.network.ScikitLearnAdam):
    m, v and √v + ε in the arrays' dtype, then −lr · m / (√v + ε) and w + update in float64
    when ``upcast`` (NumPy 2 computes them so, lr being a NumPy float64), else in the dtype.
    Subnormal m and v are flushed to 0, as in `adam_step`: they move no weight either way.
    The gradient comes unscaled, as scikit-learn's backprop leaves it: first
    g = (g + l2 · w) / rows (with ``use_l2``; l2 is α on weights, 0 on biases), stored back;
    with ``clear``, 0 is stored instead, ready for the next backward pass to add into."""
    zero = tiny - tiny
    for i in range(value.size):
        g = grad[i]
        if use_l2:
            g = g + l2[i] * value[i]
        g = g / rows
        grad[i] = zero if clear else g
        m_i = beta_1 * m[i] + one_minus_beta_1 * g
        v_i = beta_2 * v[i] + one_minus_beta_2 * (g * g)
        if abs(m_i) < tiny:                                   # subnormal: flush (see optim.Adam)
            m_i = zero
        if v_i < tiny:
            v_i = zero
        m[i] = m_i
        v[i] = v_i
        denominator = np.sqrt(v_i) + epsilon
        if upcast:                     # minus_learning_rate is then a float64
            value[i] = np.float64(value[i]) + (minus_learning_rate * np.float64(m_i)) / np.float64(denominator)
        else:                          # ... else a scalar of the arrays' dtype
            value[i] += (minus_learning_rate * m_i) / denominator
