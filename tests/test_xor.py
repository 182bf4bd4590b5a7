"""The blog's network, reproduced exactly, and our default that always solves XOR."""

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.xor import X, Y, blog_script, train_xor, train_xor_seeds


def blog_net(seed):
    return sn.Sequential(sn.Dense(2, 2, init="uniform"), sn.Sigmoid(),
                         sn.Dense(2, 1, init="uniform"), sn.Sigmoid(),
                         seed=np.random.RandomState(seed), dtype=np.float64)


def test_initial_weights_are_the_blogs_draws():
    for seed in range(5):
        np.random.seed(seed)
        expected = [np.random.uniform(size=(2, 2)), np.random.uniform(size=(2, 1))]
        net = blog_net(seed)
        assert np.array_equal(net.layers[0].weight.value, expected[0])
        assert np.array_equal(net.layers[2].weight.value, expected[1])
        assert not net.layers[0].bias.value.any() and not net.layers[2].bias.value.any()


@pytest.mark.slow
def test_the_issue_example_reproduces_the_blog_over_many_seeds():
    """The public API call of the issue, over 30 seeds: weights after 10,000 epochs and the
    blog's printed predictions (the forward pass before the last update) agree to 1e-9;
    `train_xor`'s predictions come from the batched `train_xor_seeds`, which gives each seed
    the numbers `train_xor` gives it (tests/test_first_hour_xor.py)."""
    worst = 0.0
    runs = train_xor_seeds(range(30), blog=True)
    for seed in range(30):
        printed, blog_weights = blog_script(seed)
        net = blog_net(seed)
        history = net.fit(X, Y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1),
                          epochs=10_000, batch_size=None, shuffle=False, verbose=0)
        assert len(history.history["loss"]) == 10_000
        for ours, theirs in zip(net.parameters(), blog_weights):
            worst = max(worst, np.abs(ours.value.reshape(theirs.shape) - theirs).max())
        worst = max(worst, np.abs(runs.predictions[seed] - printed).max())
    assert worst < 1e-9, worst


def test_blog_loss_curve_matches_the_blogs_formula():
    net = blog_net(3)
    history = net.fit(X, Y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1),
                      epochs=50, batch_size=None, shuffle=False, verbose=0)
    # the blog's loss is np.mean(0.5 (y - p)^2) = our "sum" value / 4
    losses = []
    for epochs in range(1, 51):
        printed, _ = blog_script(3, epochs=epochs)
        losses.append(np.mean(0.5 * (Y - printed) ** 2))
    np.testing.assert_allclose(np.array(history.history["loss"]) / 4, losses, rtol=1e-12)


def test_default_configuration_solves_xor_from_every_seed_0_to_999():
    assert train_xor_seeds(range(1000)).failed == []


@pytest.mark.slow
def test_blog_settings_solve_xor_from_887_of_seeds_0_to_999():
    """The README's figure, `scratchnn xor --blog --seeds 1000`."""
    assert int(train_xor_seeds(range(1000), blog=True).solved.sum()) == 887


@pytest.mark.slow
@pytest.mark.parametrize("blog", [False, True])
def test_batched_seeds_0_to_99_fail_where_the_per_seed_loop_fails(blog):
    per_seed = [seed for seed in range(100) if not train_xor(seed=seed, blog=blog).solved]
    assert train_xor_seeds(range(100), blog=blog).failed == per_seed


def test_blog_settings_fail_for_some_seeds():
    """The issue's point: the blog's setup is not reliable (seed 7 is one it fails)."""
    assert not train_xor(seed=7, blog=True).solved
    assert train_xor(seed=0, blog=True).solved


def test_train_xor_validates_its_arguments():
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        train_xor(epochs=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        train_xor(learning_rate=-1.0)
    with pytest.raises(TypeError, match="hidden must be a positive integer"):
        train_xor(hidden=2.5)
