"""Lesson 3 (examples/learn_3_vanishing_gradients.py) shows Nielsen's effect: in a deep sigmoid
network the first layer's gradient is orders of magnitude smaller than the last layer's; with
ReLU and He initialization it is not."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not (os.path.isdir(FASHION) or os.environ.get("SCRATCHNN_DATA")),
                    reason="Fashion-MNIST is not on disk (scripts/test.sh installs it)")
def test_lesson_3_first_layer_learns_far_slower_with_sigmoids_and_not_with_relu(tmp_path):
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "learn_3_vanishing_gradients.py"),
                           "--rows", "1000", "--epochs", "2", "--figures", str(tmp_path)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    ratios = dict(re.findall(r"^(sigmoid|ReLU)[^:]*: first / last layer gradient norm: ([\d.e-]+)$", done.stdout,
                             flags=re.MULTILINE))
    # measured with these arguments over seeds 0-3: sigmoid 0.016-0.017, ReLU 1.6-1.8
    assert float(ratios["sigmoid"]) < 0.03, done.stdout            # over 30x slower: vanishing
    assert 0.5 < float(ratios["ReLU"]) < 5, done.stdout            # the same order: not vanishing
    for name in ("learn_3_sigmoid.png", "learn_3_relu.png", "learn_3_speed.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not (os.path.isdir(FASHION) or os.environ.get("SCRATCHNN_DATA")),
                    reason="Fashion-MNIST is not on disk (scripts/test.sh installs it)")
def test_the_tour_figures_script_draws_the_network_and_its_gradient_stats(tmp_path):
    pytest.importorskip("matplotlib")
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "src"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "learn_3_tour_figures.py"),
                           "--figures", str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    for name in ("network.png", "gradient_stats.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
