"""What ONNX export and import share: the lazy import of onnx, the opsets, the data types."""

import numpy as np

DEFAULT_OPSET = 18      # run by every onnxruntime >= 1.14 and most other runtimes
MIN_OPSET = 13          # Softmax over the last axis of any rank needs opset 13's definition
GELU_OPSET = 20         # the first opset with a Gelu operator; below it, GELU is written as Erf / Tanh math
CLASSES_KEY = "scratchnn.classes"     # metadata entry holding the model's class names as JSON

FLOAT, DOUBLE = 1, 11   # onnx.TensorProto.FLOAT, DOUBLE: the element types a model can have
INT64 = 7               # onnx.TensorProto.INT64: token indices, the input of a network starting with Embedding
DTYPES = {FLOAT: np.dtype(np.float32), DOUBLE: np.dtype(np.float64)}


def require_onnx(purpose):
    """The `onnx` module, or a one-line ImportError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"{purpose} needs the onnx package: pip install scratchnn[onnx]") from None
    return onnx


def element_type(dtype):
    """The ONNX element type of a float32 or float64 NumPy dtype."""
    return FLOAT if np.dtype(dtype) == np.float32 else DOUBLE


def newest_opset(onnx):
    """The newest opset this installation of onnx knows (the upper bound of `opset=`)."""
    return onnx.defs.onnx_opset_version()
