"""What both directions of the PyTorch conversion share: torch, imported on first use (it is
optional: ``pip install scratchnn[torch]``), and the small torch modules that stand for our
layers where torch.nn has no module that a ``torch.nn.Sequential`` can call alone:

- `TorchStandardize`: our Standardize, y = (x − mean) / scale with fixed buffers;
- `TorchRecurrent`: an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (batch_first) that returns one tensor,
  the output sequence (torch's ``output``), or with ``return_sequences=False`` the last layer's
  final states, its directions concatenated (``h_n[-1]``, or ``cat(h_n[-2], h_n[-1])``);
- `TorchLastStep`: y = x[:, -1];
- `TorchSelfAttention`: an ``nn.MultiheadAttention`` (batch_first) called as self-attention,
  ``attention(x, x, x, need_weights=False)``, with the causal mask when ``causal``;
- `TorchCausalEncoderLayer`: an ``nn.TransformerEncoderLayer`` called with the causal mask;
- `TorchPositionalEmbedding`: y = x + weight[:T], a learned (max_len, dim) table.

The classes are defined once, on first use, so that torch stays optional; they are this
module's as far as pickle is concerned (``torch.save(model)`` and ``torch.load`` find them as
``scratchnn.interop.torch_modules.TorchRecurrent``, ... through the module's ``__getattr__``).
"""

import functools

import numpy as np

NAMES = ("TorchStandardize", "TorchRecurrent", "TorchLastStep", "TorchSelfAttention", "TorchCausalEncoderLayer",
         "TorchPositionalEmbedding")


def import_torch():
    """torch, or an ImportError naming the extra that installs it."""
    try:
        import torch
    except ImportError:
        raise ImportError("PyTorch is not installed: pip install scratchnn[torch]") from None
    return torch


def refuse(module, **allowed):
    """ValueError naming the first argument of `module` that differs from what we can map."""
    for name, value in allowed.items():
        got = getattr(module, name)
        if got != value and not (isinstance(got, tuple) and set(got) == {value}):
            raise ValueError(f"{name}={got!r} is not supported (only {name}={value!r})")


def bias_of(module, size):
    """A Linear's or Conv2d's bias, or zeros for one made with bias=False (a zero bias here)."""
    torch = import_torch()
    return module.bias if module.bias is not None else torch.zeros(size, dtype=module.weight.dtype)


def to_tensor(torch, array, dtype):
    """A NumPy array as a torch tensor of `dtype` (a copy)."""
    return torch.tensor(np.asarray(array), dtype=dtype)


def standardize_module_class():
    """The torch module for Standardize (see `module_classes`)."""
    return module_classes()["TorchStandardize"]


def causal_mask(torch, steps, device=None):
    """The (T, T) boolean mask torch's attention takes: True where j > i, the future that
    position i may not see (PyTorch's ``generate_square_subsequent_mask`` as booleans)."""
    return torch.ones(steps, steps, dtype=torch.bool, device=device).triu(1)


@functools.cache
def module_classes():
    """Every stand-in torch module class, by name (this module's docstring says what each does)."""
    torch = import_torch()
    nn = torch.nn

    class TorchStandardize(nn.Module):
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

    class TorchRecurrent(nn.Module):
        """`rnn` (nn.RNN, nn.LSTM or nn.GRU, batch_first=True, zero initial states) returning one
        tensor: its output (N, T, H·D), or with ``return_sequences=False`` the last layer's
        final states (N, H·D), forward direction first: scratchnn's RNN/LSTM/GRU."""

        def __init__(self, rnn, return_sequences=True):
            super().__init__()
            self.rnn, self.return_sequences = rnn, bool(return_sequences)

        def forward(self, x):
            output, state = self.rnn(x)
            if self.return_sequences:
                return output
            h_n = state[0] if isinstance(state, tuple) else state       # the LSTM's state is (h_n, c_n)
            return torch.cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]

        def extra_repr(self):
            return f"return_sequences={self.return_sequences}"

    class TorchLastStep(nn.Module):
        """scratchnn's LastStep: (N, T, F) -> (N, F), y = x[:, T-1]."""

        def forward(self, x):
            return x[:, -1]

    class TorchSelfAttention(nn.Module):
        """`attention` (nn.MultiheadAttention, batch_first=True) as self-attention on x (N, T,
        dim), query = key = value = x; ``causal`` passes the mask that hides j > i from i."""

        def __init__(self, attention, causal=False):
            super().__init__()
            self.attention, self.causal = attention, bool(causal)

        def forward(self, x):
            mask = causal_mask(torch, x.shape[1], x.device) if self.causal else None
            return self.attention(x, x, x, need_weights=False, attn_mask=mask)[0]

        def extra_repr(self):
            return f"causal={self.causal}"

    class TorchCausalEncoderLayer(nn.Module):
        """`layer` (nn.TransformerEncoderLayer, batch_first=True) called with the causal mask:
        scratchnn's TransformerBlock(causal=True)."""

        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x, src_mask=causal_mask(torch, x.shape[1], x.device))

    class TorchPositionalEmbedding(nn.Module):
        """scratchnn's PositionalEmbedding: y[n, t] = x[n, t] + weight[t], ``weight`` a learned
        (max_len, dim) table drawn from N(0, 1); a ValueError for more than max_len steps."""

        def __init__(self, max_len, dim, dtype=None):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(max_len, dim, dtype=dtype))
            nn.init.normal_(self.weight)

        def forward(self, x):
            if x.shape[1] > self.weight.shape[0]:
                raise ValueError(f"TorchPositionalEmbedding has positions for up to {self.weight.shape[0]} steps, "
                                 f"got {x.shape[1]}")
            return x + self.weight[:x.shape[1]]

        def extra_repr(self):
            return f"max_len={self.weight.shape[0]}, dim={self.weight.shape[1]}"

    classes = {cls.__name__: cls for cls in (TorchStandardize, TorchRecurrent, TorchLastStep, TorchSelfAttention,
                                             TorchCausalEncoderLayer, TorchPositionalEmbedding)}
    for name, cls in classes.items():
        cls.__module__, cls.__qualname__ = __name__, name
    return classes


def __getattr__(name):
    if name in NAMES:
        return module_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
