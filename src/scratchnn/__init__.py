"""scratchnn: neural networks from scratch in NumPy.

>>> import numpy as np, scratchnn as sn
>>> net = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),
...                     sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
...                     seed=np.random.RandomState(0), dtype=np.float64)
"""

from .activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .callbacks import (Callback, CosineAnnealingLR, EarlyStopping, ExponentialLR, History,
                        LearningRateSchedule, ModelCheckpoint, ProgressLogger, ReduceLROnPlateau, StepLR)
from .gradcheck import gradcheck
from .io import load
from .layers import Dense, Dropout, Flatten, Layer, Parameter, Standardize
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss
from .model import Sequential
from .train import DivergedError
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Adagrad", "Adam", "AdamW", "BinaryCrossEntropy", "Callback", "CosineAnnealingLR",
    "CrossEntropy", "Dense", "DivergedError", "Dropout", "ELU", "EarlyStopping", "ExponentialLR",
    "Flatten", "GELU", "History", "Identity", "Layer", "LearningRateSchedule", "LeakyReLU", "Loss",
    "MAE", "MSE", "ModelCheckpoint", "Optimizer", "Parameter", "ProgressLogger", "RMSprop",
    "ReLU", "ReduceLROnPlateau", "SGD", "Sequential", "Sigmoid", "Softmax", "Standardize",
    "StepLR", "Tanh", "gradcheck", "load",
]
