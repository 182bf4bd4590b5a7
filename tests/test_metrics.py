"""Metrics: accuracy, absolute and squared error sums, the confusion matrix."""

import numpy as np
import pytest

from scratchnn.metrics import (absolute_error_sum, accuracy_sum, check_metrics, confusion_matrix,
                               predicted_classes, squared_error_sum)


def test_accuracy_counts_correct_rows_for_every_target_form():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert accuracy_sum(np.array([0, 2, 1]), scores) == 2.0                # integer labels
    assert accuracy_sum(np.eye(3)[[0, 2, 1]], scores) == 2.0               # one-hot rows
    probabilities = np.array([[0.8], [0.3], [0.6]])
    assert accuracy_sum(np.array([[1.0], [0.0], [0.0]]), probabilities) == 2.0
    logits = np.array([[1.5], [-0.2], [0.1]])                              # threshold 0 for logits
    assert accuracy_sum(np.array([[1.0], [0.0], [1.0]]), logits, threshold=0.0) == 3.0
    assert list(predicted_classes(logits, threshold=0.0)) == [1, 0, 1]


def test_error_sums_average_within_a_sample_and_add_over_samples():
    outputs = np.array([[1.0, 3.0], [0.0, 0.0]])
    targets = np.array([[0.0, 1.0], [0.0, 2.0]])
    assert absolute_error_sum(targets, outputs) == pytest.approx((1 + 2) / 2 + 2 / 2)
    assert squared_error_sum(targets, outputs) == pytest.approx((1 + 4) / 2 + 4 / 2)
    labels = np.array([1, 0])                                              # labels become one-hot
    assert squared_error_sum(labels, outputs) == pytest.approx((1 + 4) / 2 + (1 + 0) / 2)


def test_confusion_matrix_against_a_loop():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    expected = np.zeros((4, 4), dtype=int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    assert np.array_equal(confusion_matrix(y_true, y_pred), expected)
    assert confusion_matrix([0, 1], [1, 1], num_classes=3).shape == (3, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda: confusion_matrix([0, 1], [0]), ValueError, r"equal length, got shapes \(2,\) and \(1,\)"),
    (lambda: confusion_matrix([0, -1], [0, 1]), ValueError, "y_true must hold non-negative integer"),
    (lambda: confusion_matrix([0, 1.5], [0, 1]), ValueError, "y_true must hold non-negative integer"),
    (lambda: confusion_matrix([0, 3], [0, 1], num_classes=3), ValueError, "num_classes=3, but the labels go up to 3"),
    (lambda: confusion_matrix([0, 1], [0, 1], num_classes=0), ValueError, "num_classes must be >= 1"),
    (lambda: check_metrics("accuracy"), TypeError, "metrics must be a list"),
    (lambda: check_metrics(["f1"]), ValueError, "unknown metric 'f1'"),
    (lambda: check_metrics(["mae", "mae"]), ValueError, "lists a name twice"),
])
def test_bad_metric_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_regression_scores_against_their_definitions():
    from scratchnn.metrics import regression_scores

    y = np.array([[1.0], [2.0], [4.0], [5.0]])
    predicted = np.array([[1.5], [2.0], [3.0], [5.5]])
    scores = regression_scores(y, predicted)
    assert scores["mse"] == pytest.approx((0.25 + 0 + 1 + 0.25) / 4)
    assert scores["mae"] == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert scores["r2"] == pytest.approx(1 - 1.5 / 10.0)      # Σ(y − ȳ)² = 4 + 1 + 1 + 4 (ȳ = 3)
    assert regression_scores(y, y)["r2"] == 1.0
    assert regression_scores(np.full((3, 1), 2.0), np.full((3, 1), 2.0))["r2"] == 1.0   # constant, exact


def test_accuracy_of_a_sequence_model_is_the_fraction_of_right_steps():
    outputs = np.zeros((2, 3, 4))                         # (N, T, C)
    outputs[0, :, 1] = 1.0                                # sample 0 predicts 1, 1, 1
    outputs[1, :, 2] = 1.0                                # sample 1 predicts 2, 2, 2
    labels = np.array([[1, 1, 0], [2, 3, 3]])             # (N, T): right 2 of 3, and 1 of 3
    assert predicted_classes(outputs).tolist() == [[1, 1, 1], [2, 2, 2]]
    assert accuracy_sum(labels, outputs) == pytest.approx(2 / 3 + 1 / 3)
    one_hot = np.eye(4)[labels]                           # (N, T, C) targets: the same classes
    assert accuracy_sum(one_hot, outputs) == pytest.approx(1.0)


def test_rows_keep_their_accuracy_rules():
    outputs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy_sum(np.array([1, 0, 0]), outputs) == 2.0
    assert accuracy_sum(np.array([[0, 1], [1, 0], [1, 0]]), outputs) == 2.0
    assert accuracy_sum(np.array([[1.0], [0.0]]), np.array([[0.7], [0.6]])) == 1.0


def test_accuracy_of_no_rows_is_zero():
    """A rank with no rows left in a sharded step contributes nothing (and no error)."""
    assert accuracy_sum(np.zeros(0, dtype=int), np.zeros((0, 3))) == 0.0
    assert accuracy_sum(np.zeros((0, 4), dtype=int), np.zeros((0, 4, 3))) == 0.0
