"""Layers: the layer protocol (`scratchnn.nn.base`) and every layer the library defines."""

from .activations import ELU, GELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiHeadAttention
from .augment import RandomFlip, RandomTranslation
from .base import Layer, Parameter, Reduction
from .conv import Conv2D
from .core import Dense, Dropout, Flatten, Reshape, Standardize
from .embedding import Embedding
from .gru import GRU
from .lstm import LSTM
from .normalization import BatchNorm, LayerNorm
from .pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .recurrent import RNN, LastStep
from .transformer import PositionalEmbedding, TransformerBlock

__all__ = [
    "AvgPool2D", "BatchNorm", "Conv2D", "Dense", "Dropout", "ELU", "Flatten", "GELU", "GlobalAvgPool2D",
    "Identity", "Layer", "LayerNorm", "LeakyReLU", "MaxPool2D", "MultiHeadAttention", "Parameter",
    "PositionalEmbedding", "RandomFlip", "RandomTranslation", "ReLU",
    "Reduction", "Reshape", "Sigmoid", "Softmax", "Standardize", "Tanh", "TransformerBlock",
    "Embedding", "GRU", "LSTM", "LastStep", "RNN",
]
