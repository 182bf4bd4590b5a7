"""docs/extending.md's worked custom layer: every code block of the page runs, in order, in
one namespace, and does what the page says (the assertions are on the page)."""

import re
from pathlib import Path

import numpy as np

PAGE = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def test_every_code_block_of_the_extending_guide_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 3
    namespace = {"__name__": "extending_guide"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy after 30 epochs: ([0-9.]+)", out).group(1))
    assert accuracy > 0.9                                   # circles with noise 0.1: learned
    assert re.search(r"1: PReLU\(num_features=16, slope=0\.25\)\s+\(None, 16\)\s+16\b", out)
    net = namespace["net"]
    slopes = net.layers[1].weight.value
    assert slopes.shape == (16,) and not np.allclose(slopes, 0.25)   # the slopes were trained
