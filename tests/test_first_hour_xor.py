"""Issue #18, item 4: `scratchnn xor --seeds N` trains the N networks as one batched
computation (`scratchnn.xor.train_xor_seeds`), with the per-seed results, and shows progress
on stderr when the run is long."""

import io

import numpy as np
import pytest

from scratchnn.cli import main
from scratchnn.xor import train_xor, train_xor_seeds

# The seeds in 0..99 that the blog's network fails from, as the per-seed loop
# `[s for s in range(100) if not train_xor(seed=s, blog=True).solved]` finds them
# (tests/test_xor.py runs that loop in a slow test).
BLOG_FAILED_0_TO_99 = [7, 9, 17, 19, 28, 32, 41, 48, 57, 65, 70, 84, 91]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def close_to_per_seed(runs, seeds, **options):
    """Each network of `runs` against `train_xor` for its seed: weights and predictions to
    1e-12 (np.matmul on the stack may sum in another order than the 2-D product)."""
    for seed in seeds:
        index = list(runs.seeds).index(seed)
        alone = train_xor(seed=seed, **options)
        for parameter, stack in zip(alone.net.parameters(), runs.parameters):
            np.testing.assert_allclose(stack[index], parameter.value, rtol=0, atol=1e-12)
        np.testing.assert_allclose(runs.predictions[index], alone.predictions, rtol=0, atol=1e-12)
        assert bool(runs.solved[index]) == alone.solved


def test_batched_blog_networks_are_the_per_seed_networks():
    seeds = [0, 7, 999]
    runs = train_xor_seeds(seeds, blog=True)
    assert [p.shape for p in runs.parameters] == [(3, 2, 2), (3, 2), (3, 2, 1), (3, 1)]
    close_to_per_seed(runs, seeds, blog=True)
    assert runs.failed == [7]


def test_batched_default_networks_are_the_per_seed_networks():
    runs = train_xor_seeds(range(100))
    close_to_per_seed(runs, [0, 1, 13, 99])
    assert runs.failed == []


def test_batched_options_follow_train_xor():
    options = {"hidden": 3, "epochs": 40, "learning_rate": 0.05}
    close_to_per_seed(train_xor_seeds([5, 2], **options), [5, 2], **options)
    close_to_per_seed(train_xor_seeds([3], blog=True, **options), [3], blog=True, **options)


def test_progress_lines_when_verbose_and_silence_otherwise():
    stream = io.StringIO()
    train_xor_seeds(range(3), epochs=20, verbose=1, file=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "XOR, 3 networks: epoch 2/20" and lines[-1] == "XOR, 3 networks: epoch 20/20"
    assert len(lines) == 10
    stream = io.StringIO()
    train_xor_seeds(range(3), epochs=20, file=stream)
    assert stream.getvalue() == ""


def test_cli_seeds_shows_progress_on_a_long_run_and_verbose_0_silences_it(capsys):
    argv = ["xor", "--blog", "--seeds", "1000", "--epochs", "1000"]   # 10^6 network-epochs
    code, out, err = run(capsys, *argv)
    assert code == 0 and "Solved from" in out
    assert "XOR, 1000 networks: epoch 1000/1000" in err
    code, out, err = run(capsys, *argv, "--verbose", "0")
    assert code == 0 and "Solved from" in out and err == ""
    code, out, err = run(capsys, "xor", "--seeds", "20")                # short: no progress
    assert code == 0 and "Solved from 20 of 20 seeds (0..19)." in out and err == ""


def test_cli_blog_seeds_100_lists_the_per_seed_loops_failures(capsys):
    code, out, _ = run(capsys, "xor", "--blog", "--seeds", "100", "--verbose", "0")
    assert code == 0 and "Solved from 87 of 100 seeds (0..99)." in out
    assert "Failed seeds: " + ", ".join(map(str, BLOG_FAILED_0_TO_99)) in out


@pytest.mark.parametrize("seeds, error, fragment", [
    (5, TypeError, "seeds must be a sequence of ints >= 0 such as range(100), got int 5"),
    ([], ValueError, "seeds must hold at least one seed, got an empty sequence"),
    ([0, -1], ValueError, "seeds[1] must be an int >= 0, got -1"),
    ([0, 1.5], TypeError, "seeds[1] must be an int, got float 1.5"),
])
def test_train_xor_seeds_refuses_bad_seeds(seeds, error, fragment):
    with pytest.raises(error) as caught:
        train_xor_seeds(seeds)
    assert fragment in str(caught.value)


def test_train_xor_seeds_validates_the_other_arguments_before_training():
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        train_xor_seeds([0], epochs=0)
    with pytest.raises(ValueError, match="verbose must be 0 or 1, got 2"):
        train_xor_seeds([0], verbose=2)
    with pytest.raises(TypeError, match="hidden must be a positive integer"):
        train_xor_seeds([0], hidden=2.5)
