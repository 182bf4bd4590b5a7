"""Models in and out of scratchnn: ONNX files (`export_onnx`, `import_onnx`) and PyTorch
modules (`from_torch`, `to_torch`). onnx, onnxruntime and torch are optional and imported
only when used."""

from .onnx_export import export_onnx
from .onnx_import import import_onnx
from .pytorch import from_torch, to_torch

__all__ = ["export_onnx", "from_torch", "import_onnx", "to_torch"]
