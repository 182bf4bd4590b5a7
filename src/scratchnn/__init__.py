"""scratchnn: neural networks from scratch in NumPy.

>>> import numpy as np, scratchnn as sn
>>> net = sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),
...                     sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
...                     seed=np.random.RandomState(0), dtype=np.float64)
"""

from . import datasets, plot
from .datasets.text import generate_text
from .explain import StepTrace, explain_step
from .gradcheck import gradcheck
from .interop import export_onnx, from_torch, import_onnx, to_torch
from .losses import MAE, MSE, BinaryCrossEntropy, CrossEntropy, Loss
from .model import Sequential, load
from .nn import (ELU, GELU, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool2D, Identity,
                 Layer, LeakyReLU, MaxPool2D, Parameter, RandomFlip, RandomTranslation, ReLU, Reshape, Sigmoid,
                 Softmax, Standardize, Tanh)
from .nn import LayerNorm, MultiHeadAttention, PositionalEmbedding, TransformerBlock
from .nn import GRU, LSTM, RNN, Embedding, LastStep
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .serialization import save
from .surface import LossSurface, TrajectoryRecorder, loss_surface
from .training import (Callback, CosineAnnealingLR, DivergedError, EarlyStopping, ExponentialLR, GradientStats,
                       History, LearningRateSchedule, ModelCheckpoint, ProgressLogger, ReduceLROnPlateau, StepLR)

__version__ = "0.1.0"

__all__ = sorted([
    "Adagrad", "Adam", "AdamW", "AvgPool2D", "BatchNorm", "BinaryCrossEntropy", "Callback", "Conv2D",
    "CosineAnnealingLR", "CrossEntropy", "Dense", "DivergedError", "Dropout", "ELU", "EarlyStopping",
    "ExponentialLR", "Flatten", "GELU", "GlobalAvgPool2D", "GradientStats", "History", "Identity", "Layer",
    "LearningRateSchedule", "LeakyReLU", "Loss", "MAE", "MSE", "MaxPool2D", "ModelCheckpoint", "Optimizer",
    "Parameter", "ProgressLogger", "RMSprop", "RandomFlip", "RandomTranslation", "ReLU", "ReduceLROnPlateau",
    "Reshape", "SGD", "Sequential", "Sigmoid", "Softmax", "Standardize", "StepLR", "Tanh", "export_onnx",
    "from_torch", "gradcheck", "import_onnx", "load", "save", "to_torch",
    "LossSurface", "TrajectoryRecorder", "loss_surface",
    "StepTrace", "explain_step",
    "LayerNorm", "MultiHeadAttention", "PositionalEmbedding", "TransformerBlock",
    "Embedding", "GRU", "LSTM", "LastStep", "RNN",
    "generate_text",
])
