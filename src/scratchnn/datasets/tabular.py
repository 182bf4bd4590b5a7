"""Load a table of numbers from a CSV file: features X, one target column y.

Every feature column must hold numbers. The target may hold numbers (regression, or
class labels already coded as integers) or strings (class names, coded 0, 1, 2, ...).
"""

import csv
import math
import numbers

import numpy as np

from .._checks import file_path

# cells that mark a missing value (compared in lower case), as pandas reads them
MISSING_MARKERS = frozenset({"", "na", "n/a", "#n/a", "#na", "<na>", "nan", "-nan", "null", "none", "?"})


def missing_value_message(where, cell):
    """The error for a feature cell that marks a missing value (`MISSING_MARKERS`), which
    scratchnn never fills in; `where` says which file, line and column."""
    what = "an empty cell is" if not cell.strip() else f"{cell!r} is not a finite number but"
    return (f"{where}: {what} a missing value; scratchnn does not fill in missing values, so drop "
            "those rows or fill them in first (every feature cell must be a number)")


def load_csv(path, target=-1, header="auto", delimiter=","):
    """Read a CSV file into `(X, y, info)`.

    X: float32 of shape (n_rows, n_columns - 1), every column but the target.
    y: the target column. Numbers give float64, or int64 when every value is a whole
       number. Strings give int64 codes into `info["classes"]`, the sorted class names:
       keep that list with a trained model to turn predictions back into names.
    info: {"feature_names", "target_name", "classes" (None for numbers), "has_header"}.

    target is a column name (needs a header) or an index (negative counts from the end).
    header is True, False or "auto" (a first row of words above numbers is a header).

        X, y, info = load_csv("iris.csv", target="species")
        info["classes"]   # ['setosa', 'versicolor', 'virginica']
    """
    path = file_path("path", path)
    if isinstance(target, bool) or not isinstance(target, (str, numbers.Integral)):
        raise TypeError(f"target must be a column name (str) or index (int), got {target!r}")
    if not (header is True or header is False or header == "auto"):
        raise ValueError(f"header must be True, False or 'auto', got {header!r}")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")

    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    has_header = _looks_like_header(rows) if header == "auto" else header
    first_line, first_cells = rows[0]
    n_columns = len(first_cells)
    for line, cells in rows:
        if len(cells) != n_columns:
            raise ValueError(
                f"{path}, line {line}: expected {n_columns} columns "
                f"(as on line {first_line}), found {len(cells)}"
            )
    if has_header:
        names, rows = [cell.strip() for cell in first_cells], rows[1:]
    else:
        names = [f"column_{j}" for j in range(n_columns)]
    if not rows:
        raise ValueError(f"{path}: the file has a header but no data rows")
    column = _target_index(target, names, has_header, path)
    if n_columns < 2:
        raise ValueError(f"{path}: found only the target column, expected at least one feature column")

    lines = [line for line, _ in rows]
    features = [cells[:column] + cells[column + 1:] for _, cells in rows]
    feature_names = names[:column] + names[column + 1:]
    X = _to_numbers(features, lines, feature_names, path).astype(np.float32)
    y, classes = _encode_target([cells[column] for _, cells in rows], lines, names[column], path)
    info = {
        "feature_names": feature_names,
        "target_name": names[column],
        "classes": classes,
        "has_header": has_header,
    }
    return X, y, info


def _read_rows(path, delimiter):
    """Return [(line number, cells)] for every non-blank row."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file, delimiter=delimiter)
        try:
            for cells in reader:
                if cells and not (len(cells) == 1 and not cells[0].strip()):
                    rows.append((reader.line_num, cells))
        except csv.Error as err:
            raise ValueError(f"{path}, line {reader.line_num}: {err}") from err
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err})") from err
    return rows


def _is_number(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _looks_like_header(rows):
    """A header: a first row of words, or a word above a number in the second row."""
    first = rows[0][1]
    is_word = [bool(cell.strip()) and not _is_number(cell) for cell in first]
    if all(is_word):
        return True
    if len(rows) < 2:
        return False
    second = rows[1][1]
    return any(word and j < len(second) and _is_number(second[j]) for j, word in enumerate(is_word))


def _target_index(target, names, has_header, path):
    n_columns = len(names)
    if isinstance(target, str):
        if not has_header:
            raise ValueError(
                f"target={target!r} is a column name but {path} has no header row; "
                "pass header=True or an integer index"
            )
        if target not in names:
            raise ValueError(f"target={target!r} is not a column of {path}; available: {names}")
        return names.index(target)
    if not -n_columns <= target < n_columns:
        raise ValueError(
            f"target={target} is out of range for {path}, which has {n_columns} columns "
            f"(valid: {-n_columns} to {n_columns - 1})"
        )
    return int(target) % n_columns


def _to_numbers(table, lines, names, path):
    """Parse a list of rows of strings as float64; report the first bad cell."""
    try:
        values = np.array(table, dtype=np.float64)   # fast path: numpy parses the strings
        if np.all(np.isfinite(values)):
            return values
    except ValueError:
        pass
    parsed = [
        [_parse_number(cell, f"{path}, line {line}, column {name!r}") for name, cell in zip(names, cells)]
        for line, cells in zip(lines, table)
    ]
    return np.array(parsed, dtype=np.float64)


def _parse_number(cell, where):
    if not cell.strip():
        raise ValueError(f"{where}: missing value (empty cell)")
    if cell.strip().lower() in MISSING_MARKERS:                # NA, n/a, nan, null, ...
        raise ValueError(missing_value_message(where, cell))
    try:
        value = float(cell)
    except ValueError:
        raise ValueError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {cell!r} is not a finite number")
    return value


def _encode_target(cells, lines, name, path):
    """Numbers -> float64 (int64 if all whole); strings -> int64 codes and sorted classes."""
    for line, cell in zip(lines, cells):
        if not cell.strip():
            raise ValueError(f"{path}, line {line}, column {name!r}: missing value (empty cell)")
    if all(_is_number(cell) for cell in cells):
        y = _to_numbers([[cell] for cell in cells], lines, [name], path)[:, 0]
        if np.all(y == np.round(y)) and np.all(np.abs(y) < 2**53):
            return y.astype(np.int64), None
        return y, None
    labels = [cell.strip() for cell in cells]
    classes = sorted(set(labels))
    code = {label: k for k, label in enumerate(classes)}
    return np.array([code[label] for label in labels], dtype=np.int64), classes
