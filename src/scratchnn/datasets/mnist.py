"""MNIST and Fashion-MNIST: find the four IDX files, download them if needed, load them.

Where we look, in order (the first folder holding all four files wins):

1. `path=` if you give it, and then only there;
2. `$SCRATCHNN_DATA` and `$SCRATCHNN_DATA/<name>` (name: `fashion-mnist` or `mnist`);
3. the Debian package folder `/usr/share/datasets/<name>` (`apt-get install dataset-fashion-mnist`);
4. the cache: `cache_dir=`, else `$XDG_CACHE_HOME/scratchnn/<name>`, else `~/.cache/scratchnn/<name>`.

If none has them and `download=True`, the official `.gz` files are downloaded into the
cache, each checked against its published MD5 sum. Files found on disk are not checksummed
(Debian, for one, recompresses them): they are checked by `read_idx` as they are read.
"""

import dataclasses
import os

import numpy as np

from .._checks import file_path
from .download import DEFAULT_TIMEOUT, download_file
from .idx import read_idx

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")   # as the command line names them


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where one IDX data set lives: its folder name, download URL, MD5 sums and install hint."""

    name: str
    base_url: str
    md5: dict  # "<file>.gz" -> published MD5 hex digest
    system_dir: str
    install_hint: str


FASHION_MNIST_SOURCE = DatasetSource(
    name="fashion-mnist",
    # S3 website endpoints serve plain HTTP only; the MD5 check below guards the content.
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    system_dir="/usr/share/datasets/fashion-mnist",
    install_hint="Install the data with `apt-get install dataset-fashion-mnist`, "
    "or pass path= a folder holding the four IDX files.",
)
MNIST_SOURCE = DatasetSource(
    name="mnist",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    system_dir="/usr/share/datasets/mnist",
    install_hint="Put the four IDX files in /usr/share/datasets/mnist or $SCRATCHNN_DATA, "
    "or pass path= a folder holding them.",
)


def load_fashion_mnist(path=None, shape="flat", cache_dir=None, download=True):
    """Load Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 10 classes.

    Returns `(X_train, y_train), (X_test, y_test)`: X float32 in [0, 1] of shape (N, 784)
    for shape="flat" or (N, 1, 28, 28) for shape="image"; y int64 labels 0..9, named by
    `FASHION_MNIST_CLASSES`. See the module docstring for where the files are looked for.

        (X_train, y_train), (X_test, y_test) = load_fashion_mnist()
        X_train.shape, FASHION_MNIST_CLASSES[y_train[0]]   # (60000, 784), 'Ankle boot'
    """
    return _load(FASHION_MNIST_SOURCE, path, shape, cache_dir, download)


def load_mnist(path=None, shape="flat", cache_dir=None, download=True):
    """Load MNIST: 60,000 training and 10,000 test images of handwritten digits 0..9.

    Same arguments and results as `load_fashion_mnist`; the label is the digit.

        (X_train, y_train), (X_test, y_test) = load_mnist(shape="image")
        X_train.shape   # (60000, 1, 28, 28)
    """
    return _load(MNIST_SOURCE, path, shape, cache_dir, download)


def _load(source, path, shape, cache_dir, download, timeout=DEFAULT_TIMEOUT):
    if shape not in ("flat", "image"):
        raise ValueError(f"shape must be 'flat' or 'image', got {shape!r}")
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}")
    path = None if path is None else file_path("path", path)
    cache_dir = None if cache_dir is None else file_path("cache_dir", cache_dir)
    files = _find_files(source, path, cache_dir, download, timeout)
    train = _read_split(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"], shape)
    test = _read_split(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"], shape)
    return train, test


def _find_files(source, path, cache_dir, download, timeout):
    """Return {file name: path on disk} for the four IDX files, downloading if allowed."""
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: no such folder (given as path= for {source.name})")
        found = _files_in(path)
        missing = [name for name in IDX_FILES if name not in found]
        if missing:
            raise FileNotFoundError(
                f"{path}: missing {', '.join(missing)} (plain or .gz) for {source.name}"
            )
        return found
    folders = search_folders(source, cache_dir)
    for folder in folders:
        found = _files_in(folder)
        if len(found) == len(IDX_FILES):
            return found
    if not download:
        raise FileNotFoundError(
            f"the {source.name} files are in none of {', '.join(folders)}, "
            f"and download=False. {source.install_hint}"
        )
    cache = folders[-1]
    found = _files_in(cache)
    for name in IDX_FILES:
        if name not in found:
            found[name] = download_file(
                source.base_url + name + ".gz",
                os.path.join(cache, name + ".gz"),
                md5=source.md5[name + ".gz"],
                timeout=timeout,
                hint=source.install_hint,
            )
    return found


def search_folders(source, cache_dir=None):
    """The folders searched for `source`'s files, in order; the last one is the cache."""
    folders = []
    data_root = os.environ.get("SCRATCHNN_DATA")
    if data_root:
        folders += [data_root, os.path.join(data_root, source.name)]
    folders.append(source.system_dir)
    folders.append(cache_dir if cache_dir is not None else default_cache_dir(source.name))
    return folders


def default_cache_dir(name):
    """`$XDG_CACHE_HOME/scratchnn/<name>`, or `~/.cache/scratchnn/<name>` when it is unset."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "scratchnn", name)


def _files_in(folder):
    found = {}
    for name in IDX_FILES:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(folder, candidate)):
                found[name] = os.path.join(folder, candidate)
                break
    return found


def _read_split(images_path, labels_path, shape):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"found {images.dtype} of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
        raise ValueError(
            f"{labels_path}: expected {len(images)} uint8 labels (one per image in "
            f"{images_path}), found {labels.dtype} of shape {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be 0..9, found {labels.max()}")
    X = images.astype(np.float32)
    X /= 255.0                                       # pixels 0..255 -> [0, 1]
    X = X.reshape(len(X), 784) if shape == "flat" else X.reshape(len(X), 1, 28, 28)
    return X, labels.astype(np.int64)
