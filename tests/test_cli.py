"""The scratchnn command line: output, exit codes, one-line errors."""

import os
import subprocess
import sys

import pytest

from scratchnn.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_xor_default_solves_and_prints_final_predictions(capsys):
    code, out, err = run(capsys, "xor")
    assert code == 0 and err == ""
    assert "Final predictions:" in out and "Solved (every prediction within 0.1 of its target): yes" in out


def test_xor_blog_prints_the_blogs_numbers_for_seed_0(capsys):
    code, out, _ = run(capsys, "xor", "--blog", "--seed", "0")
    assert code == 0
    # the blog's script after np.random.seed(0) prints these (see tests/test_xor.py)
    for value in ("0.05591948", "0.94863339", "0.94862508", "0.05529915"):
        assert value in out


def test_xor_options_change_the_run(capsys):
    code, out, _ = run(capsys, "xor", "--hidden", "3", "--epochs", "5", "--learning-rate", "0.01", "--seed", "2")
    assert code == 0
    assert "hidden=3, epochs=5, learning_rate=0.01, seed 2" in out and "Solved" in out and ": no" in out


def test_xor_seeds_counts_solved_runs(capsys):
    code, out, _ = run(capsys, "xor", "--seeds", "5")
    assert code == 0 and "Solved from 5 of 5 seeds (0..4)." in out
    code, out, _ = run(capsys, "xor", "--blog", "--seeds", "2", "--epochs", "100")
    assert code == 0 and "Solved from 0 of 2 seeds" in out and "Failed seeds: 0, 1" in out


@pytest.mark.parametrize("argv, fragment", [
    (["xor", "--seed", "-1"], "argument --seed: expected a non-negative integer, got '-1'"),
    (["xor", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["xor", "--hidden", "two"], "argument --hidden: expected a positive integer, got 'two'"),
    (["xor", "--learning-rate", "nan"], "argument --learning-rate: expected a positive finite number"),
    (["xor", "--learning-rate", "-0.1"], "expected a positive finite number, got '-0.1'"),
    (["xor", "--bogus"], "unrecognized arguments: --bogus"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_command_lines_are_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_python_dash_m_runs_the_cli():
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "src")}
    done = subprocess.run([sys.executable, "-m", "scratchnn", "xor", "--epochs", "50"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "Final predictions:" in done.stdout
    done = subprocess.run([sys.executable, "-m", "scratchnn", "xor", "--epochs", "x"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
