"""Optional compiled kernels, by domain, compiled by Numba when it is installed
(``pip install scratchnn[fast]``):

- `activations`: ReLU's gradient, GELU (its erf: in float32 from a float64 estimate checked
  against the float32 rounding midpoints, math.erf where it is too near one; its backward);
- `attention`: the softmax's arithmetic around NumPy's exp in self-attention, and its backward;
- `embedding`: the Embedding's scatter-add of row gradients;
- `conv`: Conv2D's stride-1 im2col / col2im copies;
- `normalization`: LayerNorm over the last axis and BatchNorm over the channels, forward
  and backward;
- `pooling`: 2x2 max pooling with stride 2, forward and backward;
- `recurrent`: the LSTM's steps between its tanh passes, forward and backward through time;
- `optim`: the Adam, SGD-momentum, RMSprop and Adagrad steps (and scikit-learn's Adam).

Each kernel does the same float operations in the same order as the NumPy code it replaces
(see `_numba.compiled`), so both give the same bits; tests check that. GELU's float32 erf
does other operations and still gives math.erf's bits (tests/test_gelu_erf.py checks every
13th float32 input up to 40, and every one with SCRATCHNN_EXHAUSTIVE=1). The exceptions sum
in another order and agree to rounding: the normalization kernels (sums in eight lanes,
where NumPy sums pairwise) and the attention softmax backward (sums in order). A layer or
optimizer takes a ``fused`` argument (checked by `check_option`) and asks `use_compiled`
before each call; without Numba, `available` is False and everything runs in NumPy. Numba
itself is imported by the first `use_compiled` that would call a kernel (`_numba.load`), not by
``import scratchnn``.
"""

import numpy as np

from .._checks import describe
from ._numba import available, load

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_option(fused):
    """A layer's or optimizer's ``fused`` argument: "auto" (compiled when Numba is installed),
    True (compiled, Numba required) or False (NumPy only)."""
    if not ((isinstance(fused, str) and fused == "auto") or fused is True or fused is False):
        raise ValueError(f"fused must be 'auto', True or False, got {describe(fused)}")
    if fused is True and not available:
        raise ValueError("fused=True needs Numba: pip install scratchnn[fast]")
    return fused


def use_compiled(fused, *arrays, minimum_size=0):
    """Whether to call a compiled kernel on `arrays`: ``fused`` is "auto" or True, Numba is
    installed, and the arrays fit a kernel (`same_layout`), the first with at least
    `minimum_size` entries (below that, calling a kernel costs more than it saves), and Numba
    imports (the first such call imports it; one that fails to import means NumPy).

    >>> use_compiled(False, np.zeros(3))
    False
    """
    return (bool(fused) and available and same_layout(*arrays, minimum_size=minimum_size)
            and load() is not None)


def same_layout(*arrays, minimum_size=0):
    """Whether the arrays are C-contiguous float32 or float64 NumPy arrays of one shape and
    one dtype, with at least `minimum_size` entries."""
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.dtype not in _FLOATS or first.size < minimum_size:
        return False
    shape, dtype = first.shape, first.dtype
    for array in arrays:        # a loop, not all(...): this runs for every step of every parameter
        if not (isinstance(array, np.ndarray) and array.flags.c_contiguous and array.shape == shape
                and array.dtype == dtype):
            return False
    return True
