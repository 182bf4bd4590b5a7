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
from .conv import AvgPool2D, Conv2D, GlobalAvgPool2D, MaxPool2D
from .layers import Dense, Dropout, Flatten, Layer, Parameter, Reshape, Standardize
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss
from .model import Sequential
from .normalization import BatchNorm
from .train import DivergedError
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__version__ = "0.1.0"

__all__ = [
    "Adagrad", "Adam", "AdamW", "AvgPool2D", "BatchNorm", "BinaryCrossEntropy", "Conv2D",
    "GlobalAvgPool2D", "MaxPool2D", "Callback", "CosineAnnealingLR",
    "CrossEntropy", "Dense", "DivergedError", "Dropout", "ELU", "EarlyStopping", "ExponentialLR",
    "Flatten", "GELU", "History", "Identity", "Layer", "LearningRateSchedule", "LeakyReLU", "Loss",
    "MAE", "MSE", "ModelCheckpoint", "Optimizer", "Parameter", "ProgressLogger", "RMSprop", "Reshape",
    "ReLU", "ReduceLROnPlateau", "SGD", "Sequential", "Sigmoid", "Softmax", "Standardize",
    "StepLR", "Tanh", "gradcheck", "load",
]
