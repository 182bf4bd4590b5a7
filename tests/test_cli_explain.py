"""`scratchnn explain xor`: one training step of the XOR network written out, one-line errors."""

import pytest

import scratchnn as sn
from scratchnn.cli import main
from scratchnn.xor import X, Y, build_xor_net


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def explained(seed, step, blog):
    """What the command must print after its heading: step `step` of train_xor's network."""
    net = build_xor_net(seed, blog=blog)
    loss, optimizer = ((sn.MSE(reduction="sum"), sn.SGD(learning_rate=0.1)) if blog
                       else (sn.BinaryCrossEntropy(), sn.Adam(learning_rate=0.1)))
    if step > 1:
        net.fit(X, Y, loss=loss, optimizer=optimizer, epochs=step - 1, batch_size=None, shuffle=False, verbose=0)
    return str(sn.explain_step(net, X, Y, loss, optimizer))


def test_blog_first_step_prints_every_number_of_the_blogs_first_epoch(capsys):
    code, out, err = run(capsys, "explain", "xor", "--blog")
    assert code == 0 and err == ""
    assert out.startswith("Step 1 of the blog's XOR network, seed 0\n")
    assert out.endswith(explained(0, 1, blog=True) + "\n")
    # seed 0's first epoch of the blog's loop (tests/test_explain.py checks every number)
    for fragment in ("0.5488135", "0.63059599", "L = Σ ½ (a4 − y)² = 0.55177565", "blog: d_hidden",
                     "b0 after = [-0.00124813 -0.00184078]"):
        assert fragment in out


@pytest.mark.parametrize("argv, seed, step, blog", [
    (("--blog", "--seed", "7", "--step", "3"), 7, 3, True),
    (("--step", "2"), 0, 2, False),
    ((), 0, 1, False),
])
def test_seed_and_step_choose_the_step_explained(capsys, argv, seed, step, blog):
    code, out, _ = run(capsys, "explain", "xor", *argv)
    assert code == 0
    name = "the blog's XOR network" if blog else "scratchnn's default XOR network"
    assert out == f"Step {step} of {name}, seed {seed}\n\n" + explained(seed, step, blog) + "\n"
    if not blog:
        assert "layer 1: Tanh()" in out and "Update: Adam(" in out and "blog:" not in out


def test_steps_differ(capsys):
    _, first, _ = run(capsys, "explain", "xor", "--blog")
    _, second, _ = run(capsys, "explain", "xor", "--blog", "--step", "2")
    assert first.split("\n", 1)[1] != second.split("\n", 1)[1]


@pytest.mark.parametrize("argv, fragment", [
    (("explain", "xor", "--step", "0"), "--step must be an int >= 1, got 0"),
    (("explain", "xor", "--seed", "-1"), "--seed must be an int >= 0, got -1"),
    (("explain", "xor", "--blog", "--seed", "4294967296"),
     "seed must be an int from 0 to 2**32 - 1 (the range of the blog's np.random.seed), got 4294967296"),
    (("explain", "xor", "--step", "two"), "invalid int value: 'two'"),
    (("explain", "mnist"), "invalid choice: 'mnist'"),
    (("explain",), "the following arguments are required: NETWORK"),
])
def test_bad_arguments_are_one_line_and_exit_code_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert fragment in err and err.count("\n") == 1
