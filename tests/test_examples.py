"""The runnable examples run, and say what they should."""

import os
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


@pytest.mark.slow
def test_sklearn_migration_example_runs():
    pytest.importorskip("sklearn")
    assert run_example("sklearn_migration.py").strip()
