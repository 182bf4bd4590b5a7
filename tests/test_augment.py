"""Data augmentation layers (scratchnn.nn.augment): RandomFlip, RandomTranslation."""

import copy
import io

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.nn.augment import translate
from scratchnn.training.parallel import ThreadedBatches

FLIP_MODES = ["horizontal", "vertical", "horizontal_and_vertical"]


def built(layer, seed=0, dtype=np.float64):
    layer.build(np.random.default_rng(seed), dtype)
    return layer


def images(n=16, channels=2, height=7, width=6, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, channels, height, width)).astype(dtype)


def naive_flip(x, flipped, mode):
    """Image by image, pixel by pixel: y[n, c, i, j] = x[n, c, i', j'] with i' = H−1−i where
    flipped vertically, j' = W−1−j where flipped horizontally."""
    axes = {"horizontal": ["w"], "vertical": ["h"], "horizontal_and_vertical": ["h", "w"]}[mode]
    n, channels, height, width = x.shape
    y = np.empty_like(x)
    for k in range(n):
        flip_h = "h" in axes and flipped[k, axes.index("h")]
        flip_w = "w" in axes and flipped[k, axes.index("w")]
        for c in range(channels):
            for i in range(height):
                for j in range(width):
                    y[k, c, i, j] = x[k, c, height - 1 - i if flip_h else i, width - 1 - j if flip_w else j]
    return y


def naive_translate(x, shifts, fill_value):
    """y[n, c, i, j] = x[n, c, i − dy_n, j − dx_n] where that pixel exists, else fill_value."""
    n, channels, height, width = x.shape
    y = np.full_like(x, fill_value)
    for k in range(n):
        dy, dx = shifts[k]
        for c in range(channels):
            for i in range(height):
                for j in range(width):
                    if 0 <= i - dy < height and 0 <= j - dx < width:
                        y[k, c, i, j] = x[k, c, i - dy, j - dx]
    return y


# ---- forward against a naive loop -----------------------------------------------------------

@pytest.mark.parametrize("mode", FLIP_MODES)
def test_flip_matches_a_pixel_loop_with_the_same_draws(mode):
    layer = built(sn.RandomFlip(mode))
    x = images()
    y = layer.forward(x, training=True)
    assert layer.flipped.shape == (len(x), 2 if mode == "horizontal_and_vertical" else 1)
    assert layer.flipped.any() and not layer.flipped.all()                # some flipped, some not
    np.testing.assert_array_equal(y, naive_flip(x, layer.flipped, mode))


@pytest.mark.parametrize("max_shift, fill_value", [(2, 0.0), ((1, 3), 0.0), (2, -0.5)])
def test_translation_matches_a_pixel_loop_with_the_same_draws(max_shift, fill_value):
    layer = built(sn.RandomTranslation(max_shift, fill_value=fill_value))
    x = images(n=40)
    y = layer.forward(x, training=True)
    max_h, max_w = (max_shift, max_shift) if isinstance(max_shift, int) else max_shift
    assert layer.shifts.shape == (40, 2)
    assert np.abs(layer.shifts[:, 0]).max() <= max_h and np.abs(layer.shifts[:, 1]).max() <= max_w
    np.testing.assert_array_equal(y, naive_translate(x, layer.shifts, fill_value))


def test_the_kept_frame_gives_the_same_results_batch_after_batch():
    """The frame buffer kept between batches (its border written once) changes nothing: every
    batch size, forward (fill 0.5) and backward (fill 0) alike; earlier outputs stay as they were."""
    layer = built(sn.RandomTranslation(2, fill_value=0.5))
    kept = []
    for n in (5, 3, 5, 2, 7, 1, 5):
        x, g = images(n=n, seed=n), images(n=n, seed=n + 10)
        y = layer.forward(x, training=True)
        np.testing.assert_array_equal(y, naive_translate(x, layer.shifts, 0.5))
        np.testing.assert_array_equal(layer.backward(g), naive_translate(g, -layer.shifts, 0.0))
        kept.append((y, y.copy()))
    assert all(np.array_equal(y, snapshot) for y, snapshot in kept)
    assert "_work" not in copy.deepcopy(layer).__dict__                     # copies leave the buffers behind


def test_the_draws_are_fair():
    """Each image flipped with probability 1/2; each shift value equally likely."""
    flip = built(sn.RandomFlip("horizontal_and_vertical"))
    flip.forward(np.zeros((20_000, 1, 2, 2)), training=True)
    assert np.abs(flip.flipped.mean(axis=0) - 0.5).max() < 0.02           # ~6 standard deviations
    shift = built(sn.RandomTranslation((1, 2)))
    shift.forward(np.zeros((20_000, 1, 3, 3)), training=True)
    for axis, values in ((0, [-1, 0, 1]), (1, [-2, -1, 0, 1, 2])):
        counts = np.array([np.sum(shift.shifts[:, axis] == v) for v in values])
        assert counts.sum() == 20_000 and np.abs(counts / 20_000 - 1 / len(values)).max() < 0.02


def test_translate_by_zero_is_a_copy_and_by_the_whole_frame_is_the_fill():
    x = images(n=2)
    np.testing.assert_array_equal(translate(x, np.zeros((2, 2), int), (2, 2), 0.0), x)
    moved = translate(x, np.array([[2, 0], [0, -2]]), (2, 2), 9.0)
    np.testing.assert_array_equal(moved[0, :, :2], 9.0)                      # two rows shifted in at the top
    np.testing.assert_array_equal(moved[0, :, 2:], x[0, :, :-2])
    np.testing.assert_array_equal(moved[1, :, :, -2:], 9.0)                  # two columns at the right
    np.testing.assert_array_equal(moved[1, :, :, :-2], x[1, :, :, 2:])


# ---- inference, dtypes, backward ------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: sn.RandomFlip("horizontal_and_vertical"), lambda: sn.RandomTranslation(3)])
def test_inference_is_the_identity(make):
    layer = make()
    x = images()
    assert layer.forward(x) is x                                   # unbuilt is fine when not training
    built(layer)
    assert layer.forward(x, training=False) is x
    grad = images(seed=2)
    assert layer.backward(grad) is grad


@pytest.mark.parametrize("make", [lambda: sn.RandomFlip("horizontal_and_vertical"), lambda: sn.RandomTranslation(2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(make, dtype):
    layer = built(make(), dtype=dtype)
    x = images(dtype=dtype)
    y = layer.forward(x, training=True)
    assert y.dtype == dtype and y.shape == x.shape
    assert layer.backward(images(seed=2, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("make", [lambda: sn.RandomFlip("horizontal"), lambda: sn.RandomFlip("vertical"),
                                  lambda: sn.RandomFlip("horizontal_and_vertical"),
                                  lambda: sn.RandomTranslation(2), lambda: sn.RandomTranslation((3, 1)),
                                  lambda: sn.RandomTranslation(2, fill_value=0.7)])
def test_backward_is_the_adjoint_of_forward(make):
    """<f(x), g> = <x, f*(g)> with the draws of the forward pass (f's linear part: the fill
    value is a constant that backward ignores)."""
    layer = built(make())
    x, g = images(seed=3), images(seed=4)
    y = layer.forward(x, training=True)
    grad_x = layer.backward(g)
    if getattr(layer, "fill_value", 0.0):                            # y = A x + f(0): take f(0) away
        y = y - translate(np.zeros_like(x), layer.shifts, layer.max_shift, layer.fill_value)
    assert abs(np.vdot(y, g) - np.vdot(x, grad_x)) < 1e-12 * np.abs(x).sum() * np.abs(g).max()
    assert not np.array_equal(grad_x, g)                            # something was moved


def test_backward_skips_the_input_gradient_when_nobody_reads_it():
    for layer in (built(sn.RandomFlip()), built(sn.RandomTranslation(1))):
        layer.forward(images(), training=True)
        layer.needs_input_grad = False
        assert layer.backward(images(seed=2)) is None


def test_gradcheck_in_inference_mode_passes():
    net = sn.Sequential(sn.RandomFlip("horizontal_and_vertical"), sn.RandomTranslation(1),
                        sn.Conv2D(2, 3, 3, padding=1), sn.Tanh(), sn.Flatten(), sn.Dense(3 * 7 * 6, 4),
                        seed=0, dtype=np.float64)
    x = images(n=3)
    assert sn.gradcheck(net, "cross_entropy", x, np.array([0, 3, 1]), training=False) < 1e-6


# ---- the generator: the model's seed, threads -----------------------------------------------

def augmenting_net(seed):
    return sn.Sequential(sn.RandomFlip("horizontal_and_vertical"), sn.RandomTranslation(2),
                         sn.Conv2D(2, 3, 3, padding=1), sn.BatchNorm(3), sn.ReLU(), sn.MaxPool2D(2), sn.Flatten(),
                         sn.Dense(3 * 3 * 3, 3), seed=seed, dtype=np.float64)


def test_the_model_seed_fixes_the_augmented_batches():
    x = images()
    batches = {}
    for run in ("a", "b", "other"):
        net = augmenting_net(seed=1 if run == "other" else 0)
        batches[run] = [net.forward(x, training=True, upto=2) for _ in range(3)]
    for first, second in zip(batches["a"], batches["b"]):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(batches["a"][0], batches["a"][1])       # each batch draws afresh
    assert not np.array_equal(batches["a"][0], batches["other"][0])


def test_no_global_generator_is_used():
    state = np.random.get_state()
    net = augmenting_net(seed=0)
    net.forward(images(), training=True)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_the_blogs_random_state_works_as_a_seed():
    net = sn.Sequential(sn.RandomTranslation(1), sn.RandomFlip(), sn.Flatten(), sn.Dense(2 * 7 * 6, 2),
                        seed=np.random.RandomState(0), dtype=np.float64)
    y = net.forward(images(), training=True, upto=1)
    np.testing.assert_array_equal(y, naive_translate(images(), net.layers[0].shifts, 0.0))


def test_fit_with_two_threads_gives_each_replica_its_own_generator():
    pytest.importorskip("threadpoolctl")
    X, y = images(n=48, height=6, width=6), np.random.default_rng(5).integers(0, 3, 48)
    weights = []
    for _ in range(2):
        net = augmenting_net(seed=0)
        history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01), epochs=2, batch_size=16,
                          verbose=0, threads=2)
        assert np.isfinite(history.history["loss"]).all()
        weights.append(net.flat_parameter.value.copy())
    np.testing.assert_array_equal(weights[0], weights[1])             # reproducible for a thread count
    net = augmenting_net(seed=0)
    batches = ThreadedBatches(net, sn.CrossEntropy(), 2)
    try:
        batches.new_epoch()
        replica = batches.replicas[1]
        assert replica.layers[0].rng is replica.rng and replica.layers[1].rng is replica.rng
        assert replica.rng is not net.rng and net.layers[0].rng is net.rng
    finally:
        batches.close()


# ---- saving, summary, configuration ---------------------------------------------------------

def test_save_and_load_keep_the_layers_and_the_predictions(tmp_path):
    net = augmenting_net(seed=0)
    X, y = images(n=32, height=6, width=6), np.random.default_rng(5).integers(0, 3, 32)
    net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.01), epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "augmented.npz"
    net.save(path)
    loaded = sn.load(path)
    assert [repr(layer) for layer in loaded.layers[:2]] == [
        "RandomFlip(mode='horizontal_and_vertical')", "RandomTranslation(max_shift=2, fill_value=0.0)"]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    uneven = sn.Sequential(sn.RandomTranslation((1, 3), fill_value=0.5), sn.Flatten(), sn.Dense(2 * 7 * 6, 2), seed=0)
    uneven.save(path)
    assert sn.load(path).layers[0].get_config() == {"max_shift": [1, 3], "fill_value": 0.5}


def test_summary_shows_them():
    out = io.StringIO()
    augmenting_net(seed=0).summary(file=out, input_shape=(2, 6, 6))
    rows = out.getvalue().splitlines()
    assert rows[2].startswith("0: RandomFlip(mode='horizontal_and_vertical')") and "(None, 2, 6, 6)" in rows[2]
    assert rows[3].startswith("1: RandomTranslation(max_shift=2, fill_value=0.0)") and "(None, 2, 6, 6)" in rows[3]
    assert rows[2].split()[-1] == rows[3].split()[-1] == "0"


def test_layers_copy_with_their_configuration():
    layer = built(sn.RandomTranslation((2, 1), fill_value=1))
    twin = copy.deepcopy(layer)
    assert twin.get_config() == {"max_shift": [2, 1], "fill_value": 1.0}
    assert type(layer)(**layer.get_config()).max_shift == (2, 1)


# ---- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda: sn.RandomFlip("left_right"), ValueError,
     r"mode must be one of 'horizontal', 'vertical', 'horizontal_and_vertical'; got 'left_right'"),
    (lambda: sn.RandomFlip(1), ValueError, r"mode must be one of .*; got 1"),
    (lambda: sn.RandomTranslation(-1), ValueError, r"max_shift must be >= 0, got -1"),
    (lambda: sn.RandomTranslation(0.1), TypeError,
     r"max_shift must be an int or a pair of ints \(height, width\), got 0\.1"),
    (lambda: sn.RandomTranslation((1, 2, 3)), TypeError, r"max_shift must be an int or a pair of ints"),
    (lambda: sn.RandomTranslation(True), TypeError, r"max_shift must be an int or a pair of ints"),
    (lambda: sn.RandomTranslation(2, fill_value=float("nan")), ValueError,
     r"fill_value must be a finite number, got nan"),
    (lambda: sn.RandomTranslation(2, fill_value="0"), TypeError, r"fill_value must be a number, got '0'"),
])
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("make, shape, message", [
    (lambda: sn.RandomFlip(), (4, 28, 28),
     r"RandomFlip\(mode='horizontal'\) expects input of shape \(N, C, H, W\), got shape \(4, 28, 28\)"),
    (lambda: sn.RandomTranslation(2), (4, 784),
     r"RandomTranslation\(max_shift=2, fill_value=0\.0\) expects input of shape \(N, C, H, W\), got shape \(4, 784\)"),
    (lambda: sn.RandomTranslation((1, 3)), (4, 1, 5, 3),
     r"RandomTranslation\(max_shift=\[1, 3\], fill_value=0\.0\) needs at least one image of at least 2x4 pixels "
     r"\(more than max_shift\), got shape \(4, 1, 5, 3\)"),
    (lambda: sn.RandomFlip(), (0, 1, 5, 5), r"RandomFlip.* needs at least one image"),
])
def test_wrong_input_shapes_name_the_layer_and_the_shapes(make, shape, message):
    layer = built(make())
    for training in (False, True):
        with pytest.raises(ValueError, match=message):
            layer.forward(np.zeros(shape), training=training)
    with pytest.raises(ValueError, match=message):
        layer.output_shape(shape)


def test_input_that_is_not_an_array_is_refused():
    with pytest.raises(ValueError, match=r"RandomFlip\(mode='horizontal'\) expects input of shape \(N, C, H, W\), "
                                         r"got \[1, 2\]"):
        sn.RandomFlip().forward([1, 2])


def test_output_shape_is_the_input_shape():
    assert sn.RandomFlip().output_shape((None, 3, 5, 4)) == (None, 3, 5, 4)
    assert sn.RandomTranslation(2).output_shape((8, 1, 28, 28)) == (8, 1, 28, 28)


@pytest.mark.parametrize("make", [lambda: sn.RandomFlip(), lambda: sn.RandomTranslation(1)])
def test_training_before_build_is_a_clear_error(make):
    with pytest.raises(RuntimeError, match=r"Random\w+ is not built"):
        make().forward(images(), training=True)
