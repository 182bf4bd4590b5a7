"""PyTorch both ways (`scratchnn.interop.pytorch`): trained torch networks predict and train here
as in torch, to 1e-10 in float64, and our networks in torch; round trips; refusals."""

import io
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.interop import pytorch, torch_modules
from scratchnn.nn.transformer import TransformerBlock

torch = pytest.importorskip("torch")
nn = torch.nn


def torch_mlp():
    """Every activation, BatchNorm1d and Dropout, 4 inputs -> 3 outputs (float64)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(),
        nn.Linear(8, 8), nn.BatchNorm1d(8, momentum=0.2, eps=1e-3), nn.LeakyReLU(0.2), nn.Linear(8, 8),
        nn.ELU(0.7), nn.Dropout(0.25), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8), nn.GELU(approximate="tanh"),
        nn.Identity(), nn.Linear(8, 3), nn.Softmax(dim=1)).double()


def torch_cnn():
    """Conv2d with "same", stride, even kernel and pair padding, BatchNorm2d, every pooling."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same"), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.Tanh(), nn.AvgPool2d(2, stride=1),
        nn.Conv2d(6, 5, (2, 3), padding=(1, 0), bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(5, 3)).double()


def train_torch(model, x, y, loss_fn, steps=5):
    """A few Adam steps in train mode (BatchNorm's running statistics move), then eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return model.eval()


def mlp_data(n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), rng.random((n, 3))


def cnn_data(n=16):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 2, 16, 16)), rng.integers(0, 3, n)


def run(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


def trained_mlp():
    x, y = mlp_data()
    return train_torch(torch_mlp(), torch.tensor(x), torch.tensor(y), nn.functional.mse_loss), x, y


def trained_cnn():
    x, y = cnn_data()
    return train_torch(torch_cnn(), torch.tensor(x), torch.tensor(y), nn.functional.cross_entropy), x, y


@pytest.mark.parametrize("trained", [trained_mlp, trained_cnn])
def test_a_trained_torch_network_predicts_here_as_in_torch(trained):
    model, x, _ = trained()
    norms = [m for m in model if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert norms and all(m.running_mean.abs().min() > 0 for m in norms)      # trained statistics
    net = sn.from_torch(model)
    assert isinstance(net, sn.Sequential) and net.dtype == np.float64
    np.testing.assert_allclose(net.predict(x), run(model, x), rtol=0, atol=1e-10)


def test_the_cnn_maps_layer_by_layer():
    net = sn.from_torch(trained_cnn()[0])
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "BatchNorm", "ReLU", "MaxPool2D", "Conv2D", "BatchNorm", "Tanh", "AvgPool2D", "Conv2D",
        "GlobalAvgPool2D", "Dense"]
    assert net.layers[0].get_config()["padding"] == "same" and net.layers[4].stride == (2, 2)
    assert np.all(net.layers[8].bias.value == 0)                   # bias=False: a zero bias


def our_mlp():
    return sn.Sequential(
        sn.Standardize.from_data(mlp_data()[0] * 3 + 1), sn.Dense(4, 8), sn.Sigmoid(), sn.Dense(8, 8), sn.Tanh(),
        sn.Dense(8, 8), sn.ReLU(), sn.Dense(8, 8), sn.BatchNorm(8, momentum=0.3), sn.LeakyReLU(0.1),
        sn.Dense(8, 8), sn.ELU(0.5), sn.Dropout(0.2), sn.Dense(8, 8), sn.GELU(), sn.Dense(8, 8),
        sn.GELU("tanh"), sn.Identity(), sn.Dense(8, 3), sn.Softmax(), seed=0, dtype=np.float64)


def our_cnn():
    return sn.Sequential(
        sn.Reshape((2, 16, 16)), sn.RandomFlip(), sn.RandomTranslation(1), sn.Conv2D(2, 4, 3, padding="same"),
        sn.BatchNorm(4), sn.ReLU(), sn.MaxPool2D(2), sn.Conv2D(4, 6, 3, stride=2, padding=1), sn.BatchNorm(6),
        sn.AvgPool2D(2, stride=1), sn.Conv2D(6, 5, (2, 3), padding=(1, 0)), sn.GlobalAvgPool2D(), sn.Dense(5, 6),
        sn.BatchNorm(6), sn.Dense(6, 3), seed=0, dtype=np.float64)


def trained_ours(make):
    net = make()
    if make is our_mlp:
        x, y = mlp_data()
        loss = sn.MSE()
    else:
        x, y = cnn_data()
        x = x.reshape(len(x), -1)
        loss = sn.CrossEntropy()
    net.fit(x, y, loss=loss, optimizer=sn.Adam(0.05), epochs=2, batch_size=8, verbose=0, threads=1)
    return net, x


@pytest.mark.parametrize("make", [our_mlp, our_cnn])
def test_a_trained_network_of_ours_predicts_in_torch_as_here(make):
    net, x = trained_ours(make)
    model = pytorch.to_torch(net)
    assert isinstance(model, nn.Sequential) and not model.training
    assert all(p.dtype == torch.float64 for p in model.parameters())
    np.testing.assert_allclose(run(model, x), net.predict(x), rtol=0, atol=1e-10)


def described(net):
    """Each layer's class and arguments, but its initializer (which torch does not keep)."""
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "init"})
            for layer in net.layers]


@pytest.mark.parametrize("make", [our_mlp, our_cnn])
def test_round_trips_give_the_same_network(make):
    net, _ = trained_ours(make)
    again = sn.from_torch(sn.to_torch(net))
    augment = ("RandomFlip", "RandomTranslation")           # the identity at inference, and so in torch
    assert described(again) == [("Identity", {}) if name in augment else (name, config)
                                for name, config in described(net)]
    assert again.dtype == net.dtype and list(again.state_dict()) == list(net.state_dict())
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)


def test_a_torch_network_comes_back_from_a_round_trip_unchanged():
    model = nn.Sequential(nn.Linear(6, 12), nn.Flatten(), nn.Unflatten(1, (3, 2, 2)), nn.Conv2d(3, 2, 1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(2))
    again = sn.to_torch(sn.from_torch(model))
    assert [type(m) for m in again] == [type(m) for m in model]
    for (name, tensor), (name_again, tensor_again) in zip(model.state_dict().items(), again.state_dict().items()):
        assert name == name_again and torch.equal(tensor, tensor_again), name


@pytest.mark.parametrize("trained, ours_loss, torch_loss", [
    (trained_mlp, sn.MSE(), lambda p, y: 0.5 * nn.functional.mse_loss(p, y)),   # ours is ½ mean (p − y)²
    (trained_cnn, sn.CrossEntropy(), nn.functional.cross_entropy),
])
def test_one_sgd_step_from_copied_weights_matches_torch(trained, ours_loss, torch_loss):
    model, x, y = trained()
    if trained is trained_mlp:
        del model[11]                                             # no Dropout: its masks are random
    net = sn.from_torch(model)
    before = {name: value.copy() for name, value in net.state_dict().items()}
    net.fit(x, y, loss=ours_loss, optimizer=sn.SGD(0.1), epochs=1, batch_size=len(x), shuffle=False,
            verbose=0, threads=1)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    torch_loss(model(torch.tensor(x)), torch.tensor(y)).backward()
    optimizer.step()
    stepped = sn.from_torch(model).state_dict()
    moved = 0
    for name, value in net.state_dict().items():
        if trained is trained_cnn and name == "8.bias":
            continue                    # torch's Conv2d(bias=False) has none; ours, zero at first, trains
        np.testing.assert_allclose(value, stepped[name], rtol=0, atol=1e-10, err_msg=name)
        moved += np.abs(value - before[name]).max() > 1e-6
    assert moved > len(before) * 3 // 4            # the step moved (a bias before BatchNorm gets no gradient)


@pytest.mark.parametrize("dtype, torch_dtype", [(np.float32, torch.float32), (np.float64, torch.float64)])
def test_the_dtype_is_kept_both_ways(dtype, torch_dtype):
    model = nn.Sequential(nn.Linear(3, 2, dtype=torch_dtype), nn.ReLU())
    net = sn.from_torch(model)
    assert net.dtype == dtype and net.layers[0].weight.value.dtype == dtype
    back = sn.to_torch(sn.Sequential(sn.Dense(3, 2), sn.BatchNorm(2), seed=0, dtype=dtype))
    assert {t.dtype for t in back.state_dict().values() if t.is_floating_point()} == {torch_dtype}
    assert sn.from_torch(nn.ReLU()).dtype == np.dtype(np.float32)     # torch's default dtype


def test_a_single_module_and_a_list_are_networks_too():
    linear = nn.Linear(3, 2)
    assert [type(layer) for layer in sn.from_torch(linear).layers] == [sn.Dense]
    net = sn.from_torch([linear, nn.Sequential(nn.Tanh(), nn.Sequential(nn.Linear(2, 1)))])
    assert [type(layer) for layer in net.layers] == [sn.Dense, sn.Tanh, sn.Dense]
    np.testing.assert_array_equal(net.layers[0].weight.value, linear.weight.detach().numpy().T)


def test_adaptive_pooling_larger_than_one_needs_the_input_shape():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8, 2)).double()
    with pytest.raises(ValueError, match=r"module 1 \(AdaptiveAvgPool2d\).*pass input_shape=\(channels, height"):
        sn.from_torch(model)
    net = sn.from_torch(model, input_shape=(1, 10, 10))
    assert net.layers[1].kernel_size == (4, 4) and net.input_shape == (1, 10, 10)
    x = np.random.default_rng(2).normal(size=(3, 1, 10, 10))
    np.testing.assert_allclose(net.predict(x), run(model, x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="must divide the image size 9x9"):
        sn.from_torch(model, input_shape=(1, 11, 11))
    with pytest.raises(ValueError, match=r"module 0 does not fit input_shape \(3, 10, 10\)"):
        sn.from_torch(model, input_shape=(3, 10, 10))
    with pytest.raises(ValueError, match="input_shape must be one sample's shape"):
        sn.from_torch(model, input_shape=28)


def test_adaptive_pooling_to_one_keeps_torch_s_shape_without_a_flatten():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1)).double()
    net = sn.from_torch(model)
    assert net.layers[-1].shape == (2, 1, 1)
    x = np.random.default_rng(3).normal(size=(2, 1, 5, 5))
    np.testing.assert_allclose(net.predict(x), run(model, x), rtol=0, atol=1e-12)


def test_standardize_travels_as_a_small_module_that_pickles():
    net = sn.Sequential(sn.Standardize.from_data(np.arange(12.0).reshape(4, 3) ** 2), sn.Dense(3, 1),
                        seed=0, dtype=np.float64)
    model = sn.to_torch(net)
    assert type(model[0]).__name__ == "TorchStandardize"
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    x = np.random.default_rng(4).normal(size=(5, 3))
    np.testing.assert_allclose(run(loaded, x), net.predict(x), rtol=0, atol=1e-12)
    assert type(loaded[0]) is torch_modules.TorchStandardize


@pytest.mark.parametrize("module, message", [
    (nn.Conv1d(1, 1, 3), r"module 0 \(Conv1d\) has no scratchnn equivalent"),
    (nn.Conv2d(1, 1, 3, dilation=2), r"module 0 \(Conv2d\) cannot be converted: dilation=\(2, 2\) is not supported"),
    (nn.MaxPool2d(2, padding=1), "padding=1 is not supported"),
    (nn.AvgPool2d(2, ceil_mode=True), "ceil_mode=True is not supported"),
    (nn.BatchNorm1d(2, momentum=None), "momentum=None"),
    (nn.BatchNorm2d(2, affine=False), "affine=False is not supported"),
    (nn.Flatten(start_dim=2), "start_dim=2 is not supported"),
    ([nn.Linear(2, 3), nn.Softmax(dim=0)], r"module 1 \(Softmax\).*dim=0 is not supported"),
    ([nn.Linear(2, 3), nn.Linear(4, 1)], "module 1 does not fit what comes before it"),
    (nn.LeakyReLU(-0.5), r"module 0 \(LeakyReLU\) cannot be converted: negative_slope"),
    ([nn.Linear(2, 3), nn.Linear(3, 1).double()], "must all be float32 or all float64"),
    (nn.Sequential(), "no layers"),
])
def test_what_cannot_be_converted_is_refused_in_one_line(module, message):
    with pytest.raises(ValueError, match=message) as error:
        sn.from_torch(module)
    assert "\n" not in str(error.value)


def test_a_subclass_that_may_compute_something_else_is_refused():
    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(ValueError, match=r"module 0 \(Scaled\) has no scratchnn equivalent"):
        sn.from_torch(Scaled(2, 2))


@pytest.mark.parametrize("value", ["Linear", np.zeros(3), [nn.Linear(2, 2), "relu"]])
def test_something_that_is_not_a_module_is_a_type_error(value):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        sn.from_torch(value)


def test_to_torch_refuses_what_it_cannot_map():
    with pytest.raises(TypeError, match="net must be a scratchnn Sequential, got"):
        sn.to_torch(nn.Linear(2, 2))

    class Double(sn.Layer):
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, grad_output):
            return 2 * grad_output

        def output_shape(self, input_shape):
            return tuple(input_shape)

    with pytest.raises(ValueError, match=r"layer 1 \(Double\) has no PyTorch equivalent"):
        sn.to_torch(sn.Sequential(sn.Dense(2, 2), Double(), seed=0))
    lonely = sn.Sequential(sn.BatchNorm(3), sn.ReLU(), seed=0)
    with pytest.raises(ValueError, match="rows or images: pass input_shape"):
        sn.to_torch(lonely)
    assert isinstance(sn.to_torch(lonely, input_shape=(3, 4, 4))[0], nn.BatchNorm2d)
    assert isinstance(sn.to_torch(lonely, input_shape=(3,))[0], nn.BatchNorm1d)


def test_augmentation_becomes_the_identity():
    net = sn.Sequential(sn.RandomFlip(), sn.RandomTranslation(1), sn.Conv2D(1, 1, 1), seed=0)
    assert [type(m) for m in sn.to_torch(net)] == [nn.Identity, nn.Identity, nn.Conv2d]


def test_without_torch_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)              # import torch now fails
    with pytest.raises(ImportError, match=r"pip install scratchnn\[torch\]"):
        sn.to_torch(sn.Sequential(sn.Dense(2, 2), seed=0))


def torch_transformer(norm_first, activation, dropout=0.0):
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Linear(5, 8), nn.TransformerEncoderLayer(8, 2, 16, dropout=dropout, activation=activation, batch_first=True,
                                                    norm_first=norm_first),
        nn.LayerNorm(8, eps=1e-6), nn.Linear(8, 3)).double()


@pytest.mark.parametrize("norm_first, activation", [(True, "gelu"), (False, "relu")])
def test_transformer_layers_predict_and_train_as_in_torch(norm_first, activation):
    x = np.random.default_rng(5).normal(size=(4, 6, 5))
    target = np.random.default_rng(6).normal(size=(4, 6, 3))
    model = train_torch(torch_transformer(norm_first, activation), torch.tensor(x), torch.tensor(target),
                        nn.functional.mse_loss, steps=3)
    with pytest.raises(ValueError, match="a first Linear reads rows: pass input_shape for sequences"):
        sn.from_torch(model)
    net = sn.from_torch(model, input_shape=(6, 5))
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "TransformerBlock", "LayerNorm", "Dense"]
    np.testing.assert_allclose(net.predict(x), run(model, x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(run(sn.to_torch(net), x), net.predict(x), rtol=0, atol=1e-10)
    again = sn.from_torch(sn.to_torch(net), input_shape=(6, 5))
    assert described(again) == described(net)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)
    net.fit(x, target, loss=sn.MSE(), optimizer=sn.SGD(0.1), epochs=1, batch_size=len(x), shuffle=False,
            verbose=0, threads=1)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    (0.5 * nn.functional.mse_loss(model(torch.tensor(x)), torch.tensor(target))).backward()
    optimizer.step()
    stepped = sn.from_torch(model, input_shape=(6, 5)).state_dict()
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(value, stepped[name], rtol=0, atol=1e-10, err_msg=name)


def test_an_encoder_layer_s_dropout_is_dropped_and_a_causal_block_carries_its_mask():
    model = torch_transformer(True, "gelu", dropout=0.1).eval()
    x = np.random.default_rng(7).normal(size=(2, 4, 5))
    np.testing.assert_allclose(sn.from_torch(model, input_shape=(4, 5)).predict(x), run(model, x), atol=1e-10)
    causal = sn.Sequential(TransformerBlock(8, 2, 16, causal=True), seed=0, dtype=np.float64)
    assert type(sn.to_torch(causal)[0]) is torch_modules.TorchCausalEncoderLayer   # tests/test_interop_torch_sequences.py
    with pytest.raises(ValueError, match="bias=False is not supported"):
        sn.from_torch(nn.LayerNorm(4, bias=False))


def test_every_layer_class_of_the_library_has_a_torch_and_an_onnx_form():
    # a layer added to scratchnn.nn without a converter fails here, not in a user's hands
    from scratchnn.interop.onnx_export import DROPPED, WRITERS
    from scratchnn.interop.torch_out import TO_TORCH
    from scratchnn.nn.base import _REGISTRY

    ours = {name: cls for name, cls in _REGISTRY.items() if cls.__module__.startswith("scratchnn.")}
    assert len(ours) >= 29
    assert sorted(name for name, cls in ours.items() if cls not in TO_TORCH) == []
    assert sorted(name for name, cls in ours.items() if cls not in WRITERS and cls not in DROPPED) == []
