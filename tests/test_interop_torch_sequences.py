"""PyTorch both ways for the sequence layers (`scratchnn.interop.torch_sequences`): Embedding,
RNN/LSTM/GRU, LastStep, MultiHeadAttention, PositionalEmbedding, TransformerBlock. Trained
torch models predict and train here as in torch (1e-10 in float64), ours in torch; round
trips are exact; the stand-in modules pickle; refusals are one line."""

import io

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.interop import torch_modules

torch = pytest.importorskip("torch")
nn = torch.nn
VOCABULARY, STEPS, ROWS = 12, 7, 6


def lstm_model():
    """Embedding -> LSTM (2 layers, bidirectional) -> LastStep -> Linear: token ids (N, T) to 3 logits."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Embedding(VOCABULARY, 6),
        torch_modules.TorchRecurrent(nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)),
        torch_modules.TorchLastStep(), nn.Linear(10, 3)).double()


def transformer_model():
    """Embedding -> PositionalEmbedding -> causal pre-norm encoder layer -> Linear on (N, T, F)."""
    torch.manual_seed(1)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    return nn.Sequential(nn.Embedding(VOCABULARY, 8), torch_modules.TorchPositionalEmbedding(10, 8),
                         torch_modules.TorchCausalEncoderLayer(layer), nn.Linear(8, VOCABULARY)).double()


def gru_model():
    """GRU (2 layers) read for its final state -> Linear: (N, T, 4) to (N, 2)."""
    torch.manual_seed(2)
    return nn.Sequential(torch_modules.TorchRecurrent(nn.GRU(4, 5, num_layers=2, batch_first=True),
                                                      return_sequences=False), nn.Linear(5, 2)).double()


def rnn_model():
    """RNN (relu, bidirectional) -> Linear on every step: (N, T, 4) to (N, T, 2)."""
    torch.manual_seed(3)
    return nn.Sequential(torch_modules.TorchRecurrent(nn.RNN(4, 6, nonlinearity="relu", bidirectional=True,
                                                             batch_first=True)), nn.Linear(12, 2)).double()


def attention_model():
    """Causal then full self-attention, then a post-norm relu encoder layer (not causal), then Linear."""
    torch.manual_seed(4)
    return nn.Sequential(
        torch_modules.TorchSelfAttention(nn.MultiheadAttention(4, 2, batch_first=True), causal=True),
        torch_modules.TorchSelfAttention(nn.MultiheadAttention(4, 1, batch_first=True)),
        nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation="relu", batch_first=True), nn.Linear(4, 2)).double()


LAYERS = {
    lstm_model: ["Embedding", "LSTM", "LastStep", "Dense"],
    transformer_model: ["Embedding", "PositionalEmbedding", "TransformerBlock", "Dense"],
    gru_model: ["GRU", "Dense"],
    rnn_model: ["RNN", "Dense"],
    attention_model: ["MultiHeadAttention", "MultiHeadAttention", "TransformerBlock", "Dense"],
}
MODELS = list(LAYERS)


def data(make):
    """Inputs (token ids or float sequences) and targets for `make`'s outputs."""
    rng = np.random.default_rng(MODELS.index(make))
    tokens = make in (lstm_model, transformer_model)
    x = rng.integers(0, VOCABULARY, (ROWS, STEPS)) if tokens else rng.normal(size=(ROWS, STEPS, 4))
    if make is lstm_model:
        return x, rng.integers(0, 3, ROWS)                           # class labels
    width = {transformer_model: VOCABULARY, gru_model: 2}.get(make, 2)
    return x, rng.normal(size=(ROWS, width) if make is gru_model else (ROWS, STEPS, width))


def losses(make):
    """Our loss and torch's, the same function (our MSE is ½ mean squared error)."""
    if make is lstm_model:
        return sn.CrossEntropy(), nn.functional.cross_entropy
    return sn.MSE(), lambda p, y: 0.5 * nn.functional.mse_loss(p, y)


def trained(make):
    """`make`'s model after a few Adam steps in torch, in eval mode, with its data."""
    model, (x, y) = make(), data(make)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(3):
        optimizer.zero_grad()
        losses(make)[1](model(torch.as_tensor(x)), torch.as_tensor(y)).backward()
        optimizer.step()
    return model.eval(), x, y


def run(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


def described(net):
    return [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "init"})
            for layer in net.layers]


@pytest.mark.parametrize("make", MODELS)
def test_a_trained_torch_sequence_model_predicts_here_as_in_torch(make):
    model, x, _ = trained(make)
    net = sn.from_torch(model)
    assert [type(layer).__name__ for layer in net.layers] == LAYERS[make] and net.dtype == np.float64
    np.testing.assert_allclose(net.predict(x), run(model, x), rtol=0, atol=1e-10)


def test_the_layers_get_torch_s_arguments():
    lstm = sn.from_torch(lstm_model()).layers[1]
    assert (lstm.num_layers, lstm.bidirectional, lstm.return_sequences) == (2, True, True)
    assert sn.from_torch(gru_model()).layers[0].return_sequences is False
    assert sn.from_torch(rnn_model()).layers[0].nonlinearity == "relu"
    block = sn.from_torch(transformer_model()).layers[2]
    assert (block.causal, block.norm_first, block.activation_name) == (True, True, "gelu")
    first, second, encoder = sn.from_torch(attention_model()).layers[:3]
    assert (first.causal, first.heads, second.causal, second.heads) == (True, 2, False, 1)
    assert (encoder.causal, encoder.norm_first, encoder.activation_name) == (False, False, "relu")


@pytest.mark.parametrize("make", MODELS)
def test_a_trained_network_of_ours_predicts_in_torch_as_here(make):
    net = sn.from_torch(make())                       # our layers, then trained here
    x, y = data(make)
    net.fit(x, y, loss=losses(make)[0], optimizer=sn.Adam(0.05), epochs=3, batch_size=3, verbose=0, threads=1)
    model = sn.to_torch(net)
    assert not model.training and all(p.dtype == torch.float64 for p in model.parameters())
    np.testing.assert_allclose(run(model, x), net.predict(x), rtol=0, atol=1e-10)


def test_a_network_built_here_goes_to_torch():
    net = sn.Sequential(sn.Embedding(VOCABULARY, 4), sn.PositionalEmbedding(STEPS, 4),
                        sn.MultiHeadAttention(4, 2, causal=True), sn.LSTM(4, 3, return_sequences=False),
                        sn.Dense(3, 2), seed=0, dtype=np.float64)
    model = sn.to_torch(net)
    assert [type(module).__name__ for module in model] == [
        "Embedding", "TorchPositionalEmbedding", "TorchSelfAttention", "TorchRecurrent", "Linear"]
    x = data(lstm_model)[0]
    np.testing.assert_allclose(run(model, x), net.predict(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", MODELS)
def test_round_trips_are_exact(make):
    model, _, _ = trained(make)
    net = sn.from_torch(model)
    again = sn.from_torch(sn.to_torch(net))
    assert described(again) == described(net) and list(again.state_dict()) == list(net.state_dict())
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)
    back = sn.to_torch(net)                           # the same modules, names and tensors as the model
    assert [type(m) for m in back.modules()] == [type(m) for m in model.modules()]
    assert list(back.state_dict()) == list(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor), name


@pytest.mark.parametrize("make", MODELS)
def test_one_sgd_step_from_copied_weights_matches_torch(make):
    model, x, y = trained(make)
    net = sn.from_torch(model)
    ours_loss, torch_loss = losses(make)
    before = {name: value.copy() for name, value in net.state_dict().items()}
    net.fit(x, y, loss=ours_loss, optimizer=sn.SGD(0.1), epochs=1, batch_size=len(x), shuffle=False, verbose=0,
            threads=1)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.zero_grad()
    torch_loss(model(torch.as_tensor(x)), torch.as_tensor(y)).backward()
    optimizer.step()
    stepped = sn.from_torch(model).state_dict()
    moved = 0
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(value, stepped[name], rtol=0, atol=1e-10, err_msg=name)
        moved += np.abs(value - before[name]).max() > 1e-8
    assert moved >= len(before) * 3 // 4


def test_bare_torch_modules_in_a_list_are_one_network():
    torch.manual_seed(5)
    embedding, lstm, linear = nn.Embedding(VOCABULARY, 6), nn.LSTM(6, 4, batch_first=True), nn.Linear(4, 3)
    modules = [module.double() for module in (embedding, lstm, linear)]
    net = sn.from_torch(modules)
    assert [type(layer).__name__ for layer in net.layers] == ["Embedding", "LSTM", "Dense"]
    assert net.layers[1].return_sequences                           # nn.LSTM's output[0]
    x = data(lstm_model)[0]
    with torch.no_grad():
        expected = linear(lstm(embedding(torch.as_tensor(x)))[0]).numpy()
    np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=1e-10)


def test_bias_free_recurrent_modules_get_zero_biases():
    rnn = nn.GRU(3, 4, bias=False, batch_first=True).double()
    layer = sn.from_torch(rnn).layers[0]
    biases = [p.value for name, p in layer.named_parameters().items() if name.startswith("bias")]
    assert len(biases) == 2 and all(np.all(bias == 0) for bias in biases)
    x = np.random.default_rng(8).normal(size=(2, 5, 3))
    np.testing.assert_allclose(sn.from_torch(rnn).predict(x), run(torch_modules.TorchRecurrent(rnn), x), atol=1e-12)


def test_dropout_between_recurrent_layers_inactive_in_eval_mode_is_dropped():
    torch.manual_seed(7)
    model = torch_modules.TorchRecurrent(nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True)).double().eval()
    x = np.random.default_rng(10).normal(size=(2, 5, 3))
    np.testing.assert_allclose(sn.from_torch(model).predict(x), run(model, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_a_bare_attention_module_or_encoder_layer_is_causal_when_told(causal):
    torch.manual_seed(6)
    attention = nn.MultiheadAttention(4, 2, batch_first=True).double()
    encoder = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True).double().eval()
    x = np.random.default_rng(9).normal(size=(3, 5, 4))
    inputs, mask = torch.as_tensor(x), torch_modules.causal_mask(torch, 5) if causal else None
    with torch.no_grad():
        expected = attention(inputs, inputs, inputs, need_weights=False, attn_mask=mask)[0].numpy()
        expected_encoder = encoder(inputs, src_mask=mask).numpy()
    net = sn.from_torch(attention, causal=causal)
    assert net.layers[0].causal is causal
    np.testing.assert_allclose(net.predict(x), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sn.from_torch(encoder, causal=causal).predict(x), expected_encoder, rtol=0,
                               atol=1e-12)
    if causal:            # position 0 sees itself only: changing the later steps leaves it alone
        changed = x.copy()
        changed[:, 1:] += 1
        np.testing.assert_allclose(net.predict(changed)[:, 0], net.predict(x)[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype, torch_dtype", [(np.float32, torch.float32), (np.float64, torch.float64)])
def test_the_dtype_is_kept_both_ways(dtype, torch_dtype):
    model = nn.Sequential(nn.Embedding(5, 4), torch_modules.TorchRecurrent(nn.LSTM(4, 3, batch_first=True))).to(
        torch_dtype)
    net = sn.from_torch(model)
    assert net.dtype == dtype and all(p.value.dtype == dtype for p in net.parameters())
    back = sn.to_torch(sn.Sequential(sn.Embedding(5, 4), sn.PositionalEmbedding(3, 4), sn.MultiHeadAttention(4, 2),
                                     sn.GRU(4, 2), sn.LastStep(), seed=0, dtype=dtype))
    assert {t.dtype for t in back.state_dict().values()} == {torch_dtype}
    np.testing.assert_allclose(run(back, np.array([[1, 2, 3]])), sn.from_torch(back).predict(np.array([[1, 2, 3]])),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("make", MODELS)
def test_the_stand_in_modules_survive_torch_save(make):
    model, x, _ = trained(make)
    buffer = io.BytesIO()
    torch.save(sn.to_torch(sn.from_torch(model)), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    np.testing.assert_array_equal(run(loaded, x), run(model, x))
    assert [type(m) for m in loaded.modules()] == [type(m) for m in model.modules()]


def test_every_stand_in_module_is_found_by_name():
    classes = torch_modules.module_classes()
    assert sorted(classes) == sorted(torch_modules.NAMES)
    assert all(getattr(torch_modules, name) is cls and cls.__module__ == torch_modules.__name__
               for name, cls in classes.items())


class Sub(nn.LSTM):
    pass


@pytest.mark.parametrize("module, message", [
    (nn.LSTM(3, 4), r"module 0 \(LSTM\) cannot be converted: batch_first=False is not supported"),
    (nn.LSTM(3, 4, batch_first=True, proj_size=2), "proj_size=2 is not supported"),
    (torch_modules.TorchRecurrent(nn.GRU(3, 4)), r"module 0 \(TorchRecurrent\).*batch_first=False"),
    (torch_modules.TorchRecurrent(Sub(3, 4, batch_first=True)), "it holds a Sub, expected a torch.nn.RNN or LSTM"),
    (Sub(3, 4, batch_first=True), r"module 0 \(Sub\) has no scratchnn equivalent"),
    (nn.Embedding(5, 3, padding_idx=0), "padding_idx=0 is not supported"),
    (nn.Embedding(5, 3, max_norm=1.0), "max_norm=1.0 is not supported"),
    (nn.MultiheadAttention(4, 2), "batch_first=False is not supported"),
    (nn.MultiheadAttention(4, 2, batch_first=True, kdim=3), "_qkv_same_embed_dim=False is not supported"),
    (nn.MultiheadAttention(4, 2, batch_first=True, add_bias_kv=True), "add_bias_kv=True is not supported"),
    (nn.MultiheadAttention(4, 2, batch_first=True, bias=False), "bias=False is not supported"),
    (torch_modules.TorchSelfAttention(nn.Linear(4, 4)), "it holds a Linear, expected a torch.nn.MultiheadAttention"),
    (torch_modules.TorchCausalEncoderLayer(nn.TransformerEncoderLayer(4, 2, 8, batch_first=True, layer_norm_eps=1e-6)),
     "eps=1e-06 is not supported"),
    ([nn.Embedding(10, 8), torch_modules.TorchRecurrent(nn.LSTM(6, 4, batch_first=True))],
     r"module 1 does not fit what comes before it: LSTM\(6, 4\) expects sequences of shape \(N, T, 6\)"),
    ([nn.GRU(3, 4, batch_first=True), torch_modules.TorchLastStep(), torch_modules.TorchLastStep()],
     r"module 2 does not fit.*LastStep expects sequences"),
])
def test_what_cannot_be_converted_is_refused_in_one_line(module, message):
    with pytest.raises(ValueError, match=message) as error:
        sn.from_torch(module)
    assert "\n" not in str(error.value)


def test_causal_must_find_a_module_to_mask_and_be_a_boolean():
    with pytest.raises(ValueError, match="causal=True, but no bare nn.MultiheadAttention"):
        sn.from_torch(torch_modules.TorchSelfAttention(nn.MultiheadAttention(4, 2, batch_first=True)), causal=True)
    with pytest.raises(TypeError, match="causal must be True or False, got"):
        sn.from_torch(nn.MultiheadAttention(4, 2, batch_first=True), causal="yes")


def test_a_sequence_longer_than_the_positions_is_refused_both_sides():
    model = transformer_model()
    with pytest.raises(ValueError, match=r"module 1 does not fit.*up to 10 steps, got 12"):
        sn.from_torch(model, input_shape=(12,))
    assert sn.from_torch(model, input_shape=(10,)).input_shape == (10,)
    with pytest.raises(ValueError, match="positions for up to 10 steps, got 12"):
        run(model, np.zeros((1, 12), dtype=np.int64))
    with pytest.raises(ValueError, match="up to 10 steps"):
        sn.from_torch(model).predict(np.zeros((1, 12), dtype=np.int64))
