"""Numba, when the optional extra is installed (``pip install scratchnn[fast]``), and the
options every kernel is compiled with.

Numba is imported when a kernel is first needed, not with scratchnn (importing it costs more
than importing the rest of the library): `available` only looks for it on the path, and each
kernel is compiled on its first call."""

import functools
import importlib.util
import types

available = importlib.util.find_spec("numba") is not None


@functools.cache
def load():
    """The numba module, imported on the first call; None if it is not installed or fails
    to import (e.g. built for another NumPy)."""
    try:
        import numba
    except ImportError:
        return None
    return numba


class Kernel:
    """A function that Numba compiles on its first call (`make` turns the numba module and
    the function into the compiled callable); calls go to the compiled version.

    ImportError on a call without a working Numba: callers ask `kernels.use_compiled` first."""

    def __init__(self, function, make):
        functools.update_wrapper(self, function)
        self.function, self.make, self.compiled = function, make, None

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            numba = load()
            if numba is None:
                raise ImportError(f"the compiled kernel {self.function.__name__} needs Numba: "
                                  "pip install scratchnn[fast]")
            self.compiled = self.make(numba, self.function)
        return self.compiled(*args, **kwargs)


def _with_compiled_helpers(numba, function):
    """`function` as it is, or, where it calls `helper` functions, a copy of it whose globals
    name their compiled versions instead (Numba can only call compiled functions)."""
    names = [name for name in function.__code__.co_names if isinstance(function.__globals__.get(name), Kernel)]
    if not names:
        return function
    scope = dict(function.__globals__)
    for name in names:
        helper_kernel = scope[name]
        if helper_kernel.compiled is None:
            helper_kernel.compiled = helper_kernel.make(numba, helper_kernel.function)
        scope[name] = helper_kernel.compiled
    copy = types.FunctionType(function.__code__, scope, function.__name__, function.__defaults__, function.__closure__)
    return functools.update_wrapper(copy, function)


def compiled(**options):
    """Decorator: the function as a `Kernel` compiled by Numba on its first call.

    Compiled with the cache on disk, without fast-math (so no fused multiply-add and no
    reordering: the same float operations in the same order as the NumPy code a kernel
    replaces, hence the same bits) and with ``error_model="numpy"``, which lets division skip
    Python's zero check, a branch that would block vectorization. `options` are added
    (``nogil=True`` for kernels that may run on several threads at once)."""
    def compile(function):
        return Kernel(function, lambda numba, f: numba.njit(cache=True, fastmath=False, error_model="numpy",
                                                           **options)(_with_compiled_helpers(numba, f)))
    return compile


def helper(function):
    """Decorator: a function that compiled kernels call (a few lines several kernels share),
    compiled into each of them (Numba's ``inline="always"``); from Python it is a `Kernel`."""
    return compiled(inline="always")(function)


def compiled_ufunc(*signatures):
    """Decorator: the scalar function as a `Kernel` compiled into a NumPy ufunc for
    `signatures` on its first call."""
    def compile(function):
        return Kernel(function, lambda numba, f: numba.vectorize(list(signatures), cache=True)(f))
    return compile
