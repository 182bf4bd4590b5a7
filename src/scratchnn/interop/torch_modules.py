"""What both directions of the PyTorch conversion share: torch, imported on first use (it is
optional: ``pip install scratchnn[torch]``), and `TorchStandardize`, the torch module that
stands for our Standardize layer (torch.nn has no fixed elementwise affine map)."""

import functools


def import_torch():
    """torch, or an ImportError naming the extra that installs it."""
    try:
        import torch
    except ImportError:
        raise ImportError("PyTorch is not installed: pip install scratchnn[torch]") from None
    return torch


@functools.cache
def standardize_module_class():
    """The torch module for Standardize, y = (x − mean) / scale with fixed buffers (defined
    once, on first use, so that torch stays optional; pickle finds it as
    ``scratchnn.interop.torch_modules.TorchStandardize`` through the module's ``__getattr__``)."""
    torch = import_torch()

    class TorchStandardize(torch.nn.Module):
        """scratchnn's Standardize: y = (x − mean) / scale, ``mean`` and ``scale`` fixed buffers
        of one sample's shape (saved in the state dict, never trained)."""

        def __init__(self, mean, scale):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(mean))
            self.register_buffer("scale", torch.as_tensor(scale))

        def forward(self, x):
            return (x - self.mean) / self.scale

        def extra_repr(self):
            return f"shape={tuple(self.mean.shape)}"

    TorchStandardize.__module__, TorchStandardize.__qualname__ = __name__, "TorchStandardize"
    return TorchStandardize


def __getattr__(name):
    if name == "TorchStandardize":
        return standardize_module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
