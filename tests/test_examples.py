"""The runnable examples run, and say what they should."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def run_example(name, *args):
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_xor_blog_walkthrough_prints_the_blogs_final_predictions():
    out = run_example("xor_blog.py", "0")
    assert "Final predictions:" in out
    for value in ("0.05591948", "0.94863339", "0.94862508", "0.05529915"):   # the blog's, seed 0
        assert value in out
    assert "every prediction within 0.1 of its target: True" in out


def one_match(pattern, text):
    """The groups of the one line of `text` that matches `pattern`."""
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one line matching {pattern!r} in:\n{text}"
    return found[0]


@pytest.mark.slow
def test_sklearn_migration_example_gives_scikit_learns_accuracy():
    pytest.importorskip("sklearn")
    out = run_example("sklearn_migration.py")
    number = r"([0-9.]+)"
    scores = {}
    for name in ("scikit-learn", "scratchnn"):
        accuracy, epochs, loss = one_match(rf"^ *{name}: test accuracy {number}, fit [0-9.]+ s, (\d+) epochs, "
                                           rf"final loss {number}$", out)
        scores[name] = float(accuracy)
        assert 0.95 <= float(accuracy) <= 1.0, out          # digits: both classify ~98% of the test set
        assert 1 <= int(epochs) <= 200 and 0 < float(loss) < 0.05, out
    assert abs(scores["scratchnn"] - scores["scikit-learn"]) <= 0.02, out   # the same model, the same settings
    assert "coefs_ shapes: [(64, 100), (100, 10)] classes_: [0 1 2 3 4 5 6 7 8 9]" in out
    assert "Total parameters: 7,510 (float32)" in out        # network_.summary(): 64*100+100 + 100*10+10
    predicted, true = one_match(r"^loaded network predicts: \[([\d ]+)\] true: \[([\d ]+)\]$", out)
    predicted, true = predicted.split(), true.split()
    assert len(predicted) == len(true) == 5
    assert sum(p == t for p, t in zip(predicted, true)) >= 4, out
    accuracy, epochs = one_match(rf"^gelu \+ adamw \(weight decay 0\.01\) \+ dropout 0\.2: test accuracy {number} "
                                 r"after (\d+) epochs$", out)
    assert 0.95 <= float(accuracy) <= 1.0 and 1 <= int(epochs) <= 200, out


@pytest.mark.slow
def test_dask_sweep_example_ranks_the_whole_grid():
    pytest.importorskip("sklearn")
    pytest.importorskip("distributed")
    out = run_example("dask_sweep.py")                  # a local cluster of 2 worker processes
    assert one_match(r"^cluster: (\d+) workers at tcp://", out) == "2"
    assert one_match(r"^(\d+) settings x 3 folds in [0-9.]+ s$", out) == "12"   # 3 sizes x 2 solvers x 2 alphas
    ranking = re.findall(r"^ *(\d+)\. ([0-9.]+)  \{'alpha': ([0-9.e-]+), 'hidden_layer_sizes': (\([\d, ]+\)), "
                         r"'solver': '(adamw?)'\}$", out, flags=re.MULTILINE)
    assert len(ranking) == 5, out
    ranks, scores = [int(row[0]) for row in ranking], [float(row[1]) for row in ranking]
    assert ranks == sorted(ranks) and ranks[0] == 1, out
    assert scores == sorted(scores, reverse=True) and all(0.85 <= s <= 1.0 for s in scores), out
    assert {row[3] for row in ranking} <= {"(32,)", "(128,)", "(64, 64)"}
    best = one_match(r"^best: \{'mlpclassifier__alpha': ([0-9.e-]+), 'mlpclassifier__hidden_layer_sizes': "
                     r"(\([\d, ]+\)), 'mlpclassifier__solver': '(adamw?)'\}$", out)
    assert best in [row[2:] for row in ranking if row[0] == "1"], out        # the best is ranked first
