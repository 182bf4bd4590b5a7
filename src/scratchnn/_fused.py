"""Optional fused optimizer kernels, compiled by Numba when it is installed.

The NumPy form of an Adam step makes a dozen passes over the weights (one per operation);
here each weight is read and written once, in one vectorized loop on one core (BLAS keeps the
cores busy with the matrix products; a parallel loop here fought it for them and lost).
``error_model="numpy"`` lets division skip Python's zero check, which would block
vectorization. The kernel does the same float
operations in the same order as `optim.Adam.update`'s NumPy code (no fused multiply-add, no
fast-math), so both give bit-identical weights; tests check that.

Install with ``pip install scratchnn[fast]``; without Numba, `available` is False and the
optimizers use NumPy alone.
"""

import numpy as np

try:
    import numba
except ImportError:          # the optional extra is not installed
    numba = None

available = numba is not None

if available:
    @numba.njit(cache=True, fastmath=False, error_model="numpy")
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
else:
    adam_step = None
