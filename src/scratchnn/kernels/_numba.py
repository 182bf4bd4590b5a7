"""Numba, when the optional extra is installed (``pip install scratchnn[fast]``), and the
options every kernel is compiled with."""

try:
    import numba
except ImportError:          # the optional extra is not installed
    numba = None

available = numba is not None


def compiled(**options):
    """Decorator: the function compiled by Numba, or None without Numba.

    Compiled with the cache on disk, without fast-math (so no fused multiply-add and no
    reordering: the same float operations in the same order as the NumPy code a kernel
    replaces, hence the same bits) and with ``error_model="numpy"``, which lets division skip
    Python's zero check, a branch that would block vectorization. `options` are added
    (``nogil=True`` for kernels that may run on several threads at once)."""
    def compile(function):
        if numba is None:
            return None
        return numba.njit(cache=True, fastmath=False, error_model="numpy", **options)(function)
    return compile


def compiled_ufunc(*signatures):
    """Decorator: the scalar function compiled into a NumPy ufunc for `signatures`, or None
    without Numba."""
    def compile(function):
        if numba is None:
            return None
        return numba.vectorize(list(signatures), cache=True)(function)
    return compile
