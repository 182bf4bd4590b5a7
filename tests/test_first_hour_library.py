"""Issue #18, "The first hour", library side: the progress line, schedules on resume, class
names, the input range, the lazy Numba import and CrossEntropy's probability targets."""

import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.kernels import _numba


# --- Numba is imported when a kernel is first used, not with scratchnn -------------------------

def test_import_scratchnn_does_not_import_numba():
    code = "import sys, scratchnn; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(not _numba.available, reason="Numba is not installed")
def test_numba_is_imported_by_the_first_kernel_call():
    code = ("import sys, numpy as np, scratchnn as sn\n"
            "layer = sn.MaxPool2D(2)\n"
            "layer.forward(np.ones((1, 1, 4, 4), dtype=np.float32))\n"
            "print('numba' in sys.modules, type(sn.kernels.pooling.max_pool_2x2_forward.compiled).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "CPUDispatcher"]


def test_a_kernel_without_numba_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(_numba, "load", lambda: None)
    kernel = _numba.compiled()(lambda x: x)
    with pytest.raises(ImportError, match="needs Numba: pip install scratchnn"):
        kernel(1)
