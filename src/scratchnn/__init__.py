"""scratchnn: neural networks from scratch in NumPy.

>>> import numpy as np, scratchnn as sn
>>> net = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),
...                     sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
...                     seed=np.random.RandomState(0), dtype=np.float64)
"""

from .activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .callbacks import History
from .gradcheck import gradcheck
from .io import load
from .layers import Dense, Dropout, Flatten, Layer, Parameter
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss
from .model import DivergedError, Sequential
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Adagrad", "Adam", "AdamW", "BinaryCrossEntropy", "CrossEntropy", "Dense", "DivergedError",
    "Dropout", "ELU", "Flatten", "GELU", "History", "Identity", "Layer", "LeakyReLU", "Loss",
    "MAE", "MSE", "Optimizer", "Parameter", "RMSprop", "ReLU", "SGD", "Sequential", "Sigmoid",
    "Softmax", "Tanh", "gradcheck", "load",
]
