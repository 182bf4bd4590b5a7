"""Tests for load_csv in scratchnn.datasets.tabular."""

import re

import numpy as np
import pytest

from scratchnn.datasets import load_csv

IRIS_LIKE = """sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor
6.3,3.3,virginica
4.9,3.0,setosa
"""


def csv_file(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_string_target_by_name_gives_codes_and_classes(tmp_path):
    X, y, info = load_csv(csv_file(tmp_path, IRIS_LIKE), target="species")
    assert X.dtype == np.float32 and X.shape == (4, 2)
    np.testing.assert_allclose(X[0], [5.1, 3.5], rtol=1e-6)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 0]
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["feature_names"] == ["sepal_length", "sepal_width"]
    assert info["target_name"] == "species" and info["has_header"] is True


def test_default_target_is_the_last_column_and_header_is_detected(tmp_path):
    X, y, info = load_csv(csv_file(tmp_path, IRIS_LIKE))
    assert info["target_name"] == "species" and y.tolist() == [0, 1, 2, 0]


def test_numeric_targets_int64_when_whole_else_float64(tmp_path):
    path = csv_file(tmp_path, "a,b,label,price\n1,2,0,1.5\n3,4,1,2.25\n5,6,1,3\n")
    _, y, info = load_csv(path, target="label")
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 1] and info["classes"] is None
    X, y, info = load_csv(path, target="price")
    assert y.dtype == np.float64 and y.tolist() == [1.5, 2.25, 3.0]
    assert info["feature_names"] == ["a", "b", "label"] and X.shape == (3, 3)


def test_integer_and_negative_target_index_without_header(tmp_path):
    path = csv_file(tmp_path, "1,2,3\n4,5,6\n\n7,8,9\n")
    X, y, info = load_csv(path, target=0)
    assert info["has_header"] is False and info["feature_names"] == ["column_1", "column_2"]
    assert y.tolist() == [1, 4, 7] and X.tolist() == [[2, 3], [5, 6], [8, 9]]
    _, y, _ = load_csv(path, target=-2, header=False)
    assert y.tolist() == [2, 5, 8]


def test_first_data_row_with_a_string_target_is_not_taken_for_a_header(tmp_path):
    X, y, info = load_csv(csv_file(tmp_path, "5.1,3.5,setosa\n7.0,3.2,versicolor\n"))
    assert info["has_header"] is False and X.shape == (2, 2) and info["classes"] == ["setosa", "versicolor"]


def test_other_delimiter_spaces_and_quotes(tmp_path):
    path = csv_file(tmp_path, 'x;y;"kind"\n 1.5 ; 2 ;"a b"\n3;4; c\n')
    X, y, info = load_csv(path, delimiter=";", header=True)
    assert X.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert info["classes"] == ["a b", "c"] and y.tolist() == [0, 1]


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,b\n1,2\n".encode("utf-8"))
    _, _, info = load_csv(str(path))
    assert info["feature_names"] == ["a"] and info["target_name"] == "b"


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, r"data.csv: the file is empty"),
        ("\n\n", {}, r"data.csv: the file is empty"),
        ("a,b\n", {}, r"data.csv: the file has a header but no data rows"),
        ("a,b,c\n1,,3\n", {}, r"data.csv, line 2, column 'b': missing value \(empty cell\)"),
        ("a,b,c\n1,2,3\n4,5,\n", {}, r"data.csv, line 3, column 'c': missing value \(empty cell\)"),
        ("a,b,c\n1,2,3\n4,x,6\n", {}, r"data.csv, line 3, column 'b': 'x' is not a number"),
        ("a,b,c\n1,2,3\n4,nan,6\n", {}, r"data.csv, line 3, column 'b': 'nan' is not a finite number"),
        ("a,b,c\n1,2,3\n4,5\n", {}, r"data.csv, line 3: expected 3 columns \(as on line 1\), found 2"),
        ("1,2,3\n4,5,6,7\n", {}, r"data.csv, line 2: expected 3 columns \(as on line 1\), found 4"),
        ("a,b,c\n1,2,3\n", {"target": "d"}, r"target='d' is not a column of .*data.csv; available: \['a', 'b', 'c'\]"),
        ("1,2,3\n", {"target": "c"}, r"target='c' is a column name but .*data.csv has no header row"),
        ("a,b,c\n1,2,3\n", {"target": 3}, r"target=3 is out of range for .*data.csv, which has 3 columns \(valid: -3 to 2\)"),
        ("a,b,c\n1,2,3\n", {"target": -4}, r"target=-4 is out of range"),
        ("y\n1\n2\n", {}, r"data.csv: found only the target column, expected at least one feature column"),
    ],
)
def test_file_errors_name_the_file_and_line(tmp_path, text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_csv(csv_file(tmp_path, text), **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"path": 3}, TypeError, r"path must be a file path \(str or os.PathLike\), got int 3"),
        ({"target": 1.0}, TypeError, r"target must be a column name \(str\) or index \(int\), got 1.0"),
        ({"target": True}, TypeError, r"target must be .* got True"),
        ({"header": "yes"}, ValueError, r"header must be True, False or 'auto', got 'yes'"),
        ({"header": 1}, ValueError, r"header must be True, False or 'auto', got 1"),
        ({"delimiter": ";;"}, ValueError, r"delimiter must be a single character, got ';;'"),
    ],
)
def test_argument_errors(tmp_path, kwargs, error, message):
    kwargs = {"path": csv_file(tmp_path, IRIS_LIKE), **kwargs}
    with pytest.raises(error, match=message):
        load_csv(**kwargs)


def test_non_utf8_file_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,caf\u00e9\n1,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv: not UTF-8 text"):
        load_csv(str(path))


@pytest.mark.parametrize("marker", ["NA", "n/a", "NULL", "?"])
def test_missing_value_markers_are_reported_as_missing_values(tmp_path, marker):
    path = tmp_path / "data.csv"
    path.write_text(f"a,b,c\n1,2,3\n4,{marker},6\n")
    with pytest.raises(ValueError, match=rf"data.csv, line 3, column 'b': '{re.escape(marker)}' is not a finite "
                                         r"number but a missing value; scratchnn does not fill in missing values"):
        load_csv(path)
