"""Data for the command line: what a DATA argument names, loaded and split the same way by
`train` and `evaluate`, and the feature rows that `predict` reads.

DATA is one of

- ``fashion-mnist`` or ``mnist``: the official training and test sets, pixels in [0, 1];
- a toy set (``xor``, ``circles``, ``moons``, ``spirals``, ``gaussians``), made with ``--seed``,
  ``--samples`` and ``--noise``, then split 80/20 (stratified, seeded) into training and test;
- a path to a ``.csv`` file, one target column (``--target``, default the last one) and
  numeric features, split 80/20 like the toy sets (stratified for classification only).

A CSV target is class labels or, for regression, numbers (`TASKS`); ``task="auto"`` decides
by `infer_task`. The image and toy sets are classification only.

Because the split is seeded, ``evaluate`` with the same ``--seed`` (and ``--samples``,
``--noise``, ``--limit``) sees exactly the test rows that ``train`` held out.
"""

import csv
import dataclasses
import math
import os

import numpy as np

from ..datasets.tabular import MISSING_MARKERS, _is_number, missing_value_message
from ..datasets import FASHION_MNIST_CLASSES, download_file, load_csv, make_dataset, train_test_split
from ..datasets.mnist import FASHION_MNIST_SOURCE, IDX_FILES, MNIST_SOURCE, _read_split, search_folders
from ..datasets.toy import DATASETS as TOY_SETS
from ..nn.core import Dense, Standardize

IMAGE_SETS = {"fashion-mnist": (FASHION_MNIST_SOURCE, list(FASHION_MNIST_CLASSES)),
              "mnist": (MNIST_SOURCE, [str(digit) for digit in range(10)])}
IMAGE_PARTS = {"train": IDX_FILES[:2], "test": IDX_FILES[2:]}     # (images, labels) of each part
TEST_FRACTION = 0.2         # toy sets and CSV files: the share of rows held out for testing
DEFAULT_SAMPLES = 500       # toy sets: points generated before the split
DATA_HELP = (f"{', '.join(IMAGE_SETS)}, {', '.join(TOY_SETS)}, a path to a .csv file, or (train only) "
             "text FILE: a character model of a text (docs/text.md)")
TASKS = ("auto", "classification", "regression")
# task "auto" on a CSV target: regression when it holds a number that is not whole, or more
# than this many distinct whole numbers (26 letter codes stay classes; ages, counts, prices
# do not); a first column with 2 to this many distinct whole numbers looks like labels
MAX_AUTO_CLASSES = 30
LABEL_NAMES = frozenset({"label", "labels", "class", "classes", "target", "y", "category", "digit", "species"})


@dataclasses.dataclass
class Data:
    """A data set ready for training: training and test parts. `kind` is "images", "toy" or
    "csv". For ``task="classification"``, y holds labels 0..C-1 named by `classes`; for
    ``task="regression"``, y is float64 of shape (N, 1) and `classes` is None. `note` says
    why the task was inferred (or is None)."""

    name: str
    kind: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list
    task: str = "classification"
    target_name: str = None
    note: str = None

    @property
    def input_shape(self):
        """The shape of one sample, e.g. (784,) or (2,)."""
        return self.X_train.shape[1:]

    @property
    def num_classes(self):
        """Classes of a classification set; None for regression."""
        return None if self.classes is None else len(self.classes)

    @property
    def num_outputs(self):
        """The network's output width: one logit per class, or one number per target."""
        return 1 if self.task == "regression" else len(self.classes)

    @property
    def is_plane(self):
        """Two features of a classification set: the data and the decision boundary can be
        drawn in the plane."""
        return self.input_shape == (2,) and self.task == "classification"

    def describe(self):
        features = "x".join(map(str, self.input_shape))
        return (f"{self.name}: {len(self.X_train):,} training and {len(self.X_test):,} test rows, "
                f"{features} features, " + (f"regression of {self.target_name!r}" if self.task == "regression"
                                            else f"{self.num_classes} classes"))


def data_kind(source):
    """"images", "toy" or "csv" for a DATA argument; a readable error for anything else."""
    if source in IMAGE_SETS:
        return "images"
    if source in TOY_SETS:
        return "toy"
    if source == "text":           # train text FILE: cli/text.py reads it, no other command does
        raise ValueError("DATA text applies to 'scratchnn train text FILE' only")
    if source.lower().endswith(".csv") or os.path.isfile(source):
        if not os.path.isfile(source):
            raise ValueError(f"no such CSV file: {source!r}")
        return "csv"
    raise ValueError(f"unknown data set {source!r}: expected {DATA_HELP}")


def check_data_options(source, target=None, samples=None, noise=None, task="auto"):
    """Refuse options that do not apply to this DATA, before anything is loaded."""
    kind = data_kind(source)
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "regression" and kind != "csv":
        raise ValueError(f"--task regression applies to CSV files only: {source!r} is a classification "
                         "set (its targets are class labels)")
    if target is not None and kind != "csv":
        raise ValueError(f"--target applies to CSV files only, not to {source!r}")
    if (samples is not None or noise is not None) and kind != "toy":
        raise ValueError(f"--samples and --noise apply to the toy sets ({', '.join(TOY_SETS)}) only, "
                         f"not to {source!r}")
    return kind


def load_data(source, target=None, seed=0, samples=None, noise=None, limit=None, classes=None,
              all_rows=False, test_only=False, task="auto"):
    """Load DATA (see the module docstring) as a `Data`.

    ``task`` is "classification", "regression" (CSV files only) or "auto" (CSV files: see
    `infer_task`; the others: classification).

    ``limit`` keeps the first `limit` rows of each part. ``classes`` (a trained model's class
    names) codes a CSV file's labels the way that model's training did. ``all_rows=True``
    makes every row of a CSV file a test row (for a file kept apart for testing).
    ``test_only=True`` (for `evaluate`) reads only the test files of an image set, leaving
    no training rows; toy sets and CSV files are split as always.
    """
    kind = check_data_options(source, target, samples, noise, task)
    if all_rows and kind != "csv":
        raise ValueError(f"--all-rows applies to CSV files only, not to {source!r}")
    if kind == "images":
        names = IMAGE_SETS[source][1]
        parts = _load_images(source, ("test",) if test_only else ("train", "test"))
        X_test, y_test = parts["test"]
        X_train, y_train = parts.get("train", (X_test[:0], y_test[:0]))
    elif kind == "toy":
        X, y = make_dataset(source, n_samples=DEFAULT_SAMPLES if samples is None else samples,
                            noise=0.1 if noise is None else noise, random_state=seed)
        X_train, X_test, y_train, y_test = train_test_split(X, y, TEST_FRACTION, random_state=seed, stratify=True)
        names = [str(label) for label in range(int(y.max()) + 1)]
    else:
        X, y, names, task, target_name, note = _read_target_csv(source, target, classes, task)
        about = {"task": task, "target_name": target_name, "note": note}
        if all_rows:
            return Data(source, kind, X[:0], y[:0], X[:limit], y[:limit], names, **about)
        if len(X) < 2:
            raise ValueError(f"{source}: found {len(X)} data row; a training and a test part need at least 2")
        X_train, X_test, y_train, y_test = train_test_split(X, y, TEST_FRACTION, random_state=seed,
                                                            stratify=task == "classification")
        if limit is not None:
            X_train, y_train, X_test, y_test = X_train[:limit], y_train[:limit], X_test[:limit], y_test[:limit]
        return Data(source, kind, X_train, y_train, X_test, y_test, names, **about)
    if limit is not None:
        X_train, y_train, X_test, y_test = X_train[:limit], y_train[:limit], X_test[:limit], y_test[:limit]
    return Data(source, kind, X_train, y_train, X_test, y_test, names)


def infer_task(y, text_labels):
    """("classification" or "regression", a one-line note or None) for a CSV target column
    `y` (numbers) under ``--task auto``: regression when a value is not a whole number or
    when there are more than `MAX_AUTO_CLASSES` distinct whole numbers; else classification.
    Text labels (`text_labels`) are always classes."""
    if text_labels:
        return "classification", None
    values = np.unique(y)
    if y.dtype.kind == "f" and np.any(values != np.round(values)):
        why = f"it holds numbers that are not whole, such as {values[values != np.round(values)][0]:g}"
    elif len(values) > MAX_AUTO_CLASSES:
        why = f"it holds {len(values)} distinct numbers, more than {MAX_AUTO_CLASSES} classes"
    else:
        return "classification", None
    return "regression", f"{why}; pass --task classification for a classifier"


def label_column_hint(path, target):
    """A one-line hint when `target` is None (the last column) but the first column of the CSV
    file at `path` looks like labels and the last does not; else None. A column looks like
    labels when it holds 2 to `MAX_AUTO_CLASSES` distinct whole numbers and, in a file with a
    header, is named like labels (`LABEL_NAMES`: a first column "rooms" of small whole numbers
    is a feature). Never raises: an unreadable file is reported by the loading."""
    if target is not None:
        return None
    try:
        header, rows = _csv_rows(path)
        first = np.array([float(cells[0]) for _, cells in rows])
        last = np.array([float(cells[-1]) for _, cells in rows])
    except (ValueError, IndexError, OSError):
        return None

    def labels(column):
        return bool(np.all(column == np.round(column))) and 2 <= len(np.unique(column)) <= MAX_AUTO_CLASSES
    named = header is None or header[0].lower() in LABEL_NAMES
    if len(rows[0][1]) < 3 or not named or not labels(first) or labels(last):
        return None
    name = header[0] if header is not None else "0"
    return (f"the first column ({name!r}) looks like labels, but the target is the last one by "
            f"default; pass --target {name} to predict it")


def _load_images(name, parts):
    """{part: (X, y)} for the `parts` ("train", "test") of an IDX image set, from the first folder
    `load_mnist` searches that holds their files; only the files of these parts are downloaded
    into the cache when none does."""
    source = IMAGE_SETS[name][0]
    needed = [file for part in parts for file in IMAGE_PARTS[part]]
    folders = search_folders(source)
    for folder in folders:
        found = _idx_files_in(folder, needed)
        if len(found) == len(needed):
            break
    else:
        found = _idx_files_in(folders[-1], needed)
        apt = " (or apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
        hint = (f"DATA {name} needs {', '.join(needed)} (plain or .gz) in one of {', '.join(folders)}; "
                f"put them there, or set $SCRATCHNN_DATA to their folder{apt}")
        for file in needed:
            if file not in found:
                found[file] = download_file(source.base_url + file + ".gz", os.path.join(folders[-1], file + ".gz"),
                                            md5=source.md5[file + ".gz"], hint=hint)
    return {part: _read_split(*(found[file] for file in IMAGE_PARTS[part]), "flat") for part in parts}


def _idx_files_in(folder, names):
    """{name: path} for the IDX files of `names` in `folder`, plain or gzipped."""
    found = {}
    for name in names:
        for candidate in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
            if os.path.isfile(candidate):
                found[name] = candidate
                break
    return found


def _read_target_csv(path, target, classes, task):
    """(X, y, class names, task, target name, note): for classification, labels coded 0..C-1
    and the class names (without `classes`, the sorted labels, numbers in numeric order; with
    them, every label must be one of them); for regression, y float64 (N, 1) and no names."""
    X, y, info = load_csv(path, target=-1 if target is None else _column(target))
    name, note = info["target_name"], None
    if task == "auto":
        task, note = infer_task(y, info["classes"] is not None)
    if task == "regression":
        if info["classes"] is not None:
            raise ValueError(f"{path}: --task regression needs numbers in the target column {name!r}, but it "
                             f"holds text such as {info['classes'][0]!r} (pass --target to pick another column)")
        return X, y.astype(np.float64).reshape(-1, 1), None, task, name, note
    return (X, *_class_labels(path, y, info, classes), task, name, note)


def _class_labels(path, y, info, classes):
    """(labels coded 0..C-1, class names) of a classification target."""
    if info["classes"] is not None:
        labels = np.asarray(info["classes"], dtype=object)[y]
    elif y.dtype.kind == "f":
        raise ValueError(f"{path}: the target column {info['target_name']!r} holds non-integer numbers "
                         f"such as {y[y != np.round(y)][0]:g}; scratchnn train does classification under "
                         "--task classification, and these are not class labels: pass --task regression "
                         "(or leave --task out) to predict them, or --target to pick another column")
    else:
        labels = y
    if classes is None:
        names, codes = np.unique(labels, return_inverse=True)
        if len(names) < 2:
            raise ValueError(f"{path}: the target column {info['target_name']!r} holds one class only "
                             f"({str(names[0])!r}); a classifier needs at least two (--target picks the "
                             "column of labels, by default the last)")
        return codes.reshape(-1).astype(np.int64), [str(name) for name in names]
    index = {str(name): code for code, name in enumerate(classes)}
    unknown = sorted({str(label) for label in labels} - set(index))
    if unknown:
        raise ValueError(f"{path}: column {info['target_name']!r} holds labels {unknown[:5]} that the model "
                         f"does not know; its classes are {list(classes)}")
    return np.array([index[str(label)] for label in labels], dtype=np.int64), list(classes)


def _column(target):
    """--target as an index when it is an integer, else as a column name."""
    try:
        return int(target)
    except ValueError:
        return target


def read_inputs(path, target=None):
    """Feature rows for `predict`: a .npy array, or a CSV file of numbers (header optional).
    ``target`` (a column name or index) is dropped from a CSV file."""
    if not os.path.isfile(path):
        raise ValueError(f"no such input file: {path!r}")
    if path.lower().endswith(".npy"):
        if target is not None:
            raise ValueError("--target applies to CSV inputs only, not to .npy files")
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"{path}: not a .npy file of numbers ({error})") from None
        if X.ndim < 2 or X.dtype.kind not in "biuf":
            raise ValueError(f"{path}: expected an array of numbers of shape (n_samples, ...), "
                             f"got {X.dtype} of shape {X.shape}")
        if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(X))[0])
            raise ValueError(f"{path}: contains NaN or infinity (first at index {where})")
        return X
    return _read_csv_numbers(path, target)


def _read_csv_numbers(path, target):
    header, rows = _csv_rows(path)
    if not rows:
        raise ValueError(f"{path}: the file has a header but no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    drop = None if target is None else _target_position(path, target, header, width)
    X = np.empty((len(rows), width - (drop is not None)))
    for row, (line, cells) in enumerate(rows):
        if len(cells) != width:
            raise ValueError(f"{path}, line {line}: expected {width} columns, found {len(cells)}")
        features = [(column, cell) for column, cell in enumerate(cells) if column != drop]
        for position, (column, cell) in enumerate(features):
            if _is_number(cell) and math.isfinite(float(cell)):
                X[row, position] = float(cell)
                continue
            where = f"{path}, line {line}, column {column + 1}"
            if cell.strip().lower() in MISSING_MARKERS:
                raise ValueError(missing_value_message(where, cell))
            hint = "; pass --target to drop a column of labels" if target is None else ""
            raise ValueError(f"{where}: {cell!r} is not a finite number{hint}")
    return X


def _csv_rows(path):
    """(header or None, [(line number, cells)]) of the non-blank rows. The first row is a
    header when one of its cells is a word (neither a number nor a missing-value marker)."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        try:
            rows = [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]
        except (csv.Error, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a readable CSV file ({error})") from None
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    if any(not _is_number(cell) and cell.strip().lower() not in MISSING_MARKERS for cell in rows[0][1]):
        return [cell.strip() for cell in rows[0][1]], rows[1:]
    return None, rows


def _target_position(path, target, header, width):
    column = _column(target)
    if isinstance(column, int):
        if not -width <= column < width:
            raise ValueError(f"--target {column} is out of range for {path}, which has {width} columns")
        return column % width
    if header is None or column not in header:
        where = f"its columns are {header}" if header is not None else "it has no header row"
        raise ValueError(f"--target {column!r} is not a column of {path}: {where}")
    return header.index(column)


def expected_features(net):
    """How many features per row the network's first layer takes, or None if it cannot tell."""
    first = net.layers[0]
    if isinstance(first, Standardize) and len(first.shape) == 1:
        return first.shape[0]
    if isinstance(first, Dense):
        return first.in_features
    return None
