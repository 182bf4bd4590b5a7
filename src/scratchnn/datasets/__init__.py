"""Data for scratchnn: MNIST-style IDX files, toy 2-D sets, CSV tables, text and preprocessing."""

from .download import DownloadError, download_file
from .idx import read_idx
from .mnist import FASHION_MNIST_CLASSES, MNIST_CLASSES, load_fashion_mnist, load_mnist
from .preprocess import Standardizer, one_hot, standardize, train_test_split
from .tabular import load_csv
from .text import TextData, generate_text, load_text
from .toy import circles, gaussians, make_dataset, moons, spirals, xor

__all__ = [
    "DownloadError",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "Standardizer",
    "TextData",
    "circles",
    "download_file",
    "gaussians",
    "generate_text",
    "load_csv",
    "load_fashion_mnist",
    "load_mnist",
    "load_text",
    "make_dataset",
    "moons",
    "one_hot",
    "read_idx",
    "spirals",
    "standardize",
    "train_test_split",
    "xor",
]
