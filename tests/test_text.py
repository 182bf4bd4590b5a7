"""Character models: load_text (vocabulary, windows, split, errors), CrossEntropy on sequences
(against PyTorch and finite differences), tiny LSTM and transformer models learning a repeated
string, the vocabulary in the model file, generate_text, and `train text` / `generate`."""

import os
import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli import main
from scratchnn.cli.text import build_text_network
from scratchnn.datasets.text import decode, encode, windows

from helpers import no_fp_trouble

REPEATED = "the cat sat on the mat " * 40     # 23 characters: windows of 12 start at every phase


@pytest.fixture
def corpus(tmp_path):
    """A folder shaped like /usr/share/games/fortunes: texts, .dat indexes, .u8 links."""
    folder = tmp_path / "fortunes"
    folder.mkdir()
    (folder / "b").write_text("Second file.\n%\nIt ends here.\n%\n")
    (folder / "a").write_text("First fortune.\n%\nNo newline at the end")
    (folder / "a.dat").write_bytes(b"\x00\x02binary index")
    (folder / ".hidden").write_text("never read")
    os.symlink(folder / "a", folder / "a.u8")
    return folder


def test_load_text_reads_a_folder_in_name_order_and_skips_fortune_indexes(corpus):
    data = sn.datasets.load_text(corpus, seq_length=4, validation_fraction=0.0)
    assert data.text == "First fortune.\n%\nNo newline at the end\nSecond file.\n%\nIt ends here.\n%\n"
    assert [os.path.basename(f) for f in data.files] == ["a", "b"]
    assert data.vocabulary == sorted(set(data.text)) and data.vocabulary[0] == "\n"
    assert "%" in data.vocabulary                     # the separators are kept as characters
    assert len(data.X_val) == 0


def test_windows_are_inputs_and_the_next_characters():
    ids = encode("abcdefghij", list("abcdefghij"))
    X, y = windows(ids, 3)
    np.testing.assert_array_equal(X, [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(y, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    assert decode(X[1], list("abcdefghij")) == "def"


def test_split_is_seeded_shuffled_and_covers_every_window(tmp_path):
    path = tmp_path / "text.txt"
    letters = np.random.default_rng(0).integers(0, 26, size=1001)
    path.write_text("".join(chr(ord("a") + i) for i in letters))         # no window repeats
    data = sn.datasets.load_text(path, seq_length=10, validation_fraction=0.2, seed=3)
    again = sn.datasets.load_text(path, seq_length=10, validation_fraction=0.2, seed=3)
    other = sn.datasets.load_text(path, seq_length=10, validation_fraction=0.2, seed=4)
    assert (len(data.X_train), len(data.X_val)) == (80, 20)
    np.testing.assert_array_equal(data.X_val, again.X_val)
    assert not np.array_equal(data.X_val, other.X_val)
    starts = sorted(data.text.index(data.decode(row)) for row in np.concatenate([data.X_train, data.X_val]))
    assert starts == list(range(0, 1000, 10))             # every window once, none of them the tail only
    np.testing.assert_array_equal(data.y_train[:, :-1], data.X_train[:, 1:])
    assert sn.datasets.load_text(path, seq_length=10, max_chars=101).X_train.shape == (9, 10)


def test_max_chars_reads_only_the_files_it_reaches(corpus):
    data = sn.datasets.load_text(corpus, seq_length=4, validation_fraction=0.0, max_chars=20)
    assert data.text == "First fortune.\n%\nNo " and [os.path.basename(f) for f in data.files] == ["a"]


def test_vocabulary_is_stable_and_unknown_characters_are_refused():
    assert sn.datasets.text.build_vocabulary("banana") == ["a", "b", "n"]
    with pytest.raises(ValueError, match=r"1 character\(s\) outside the vocabulary of 3: 'x'"):
        encode("bax", ["a", "b", "n"])
    with pytest.raises(TypeError, match="text must be a str"):
        encode(b"ab", ["a", "b"])


@pytest.mark.parametrize("setup, error, message", [
    (lambda p: p / "missing", ValueError, "no text file or folder at"),
    (lambda p: (p / "empty").mkdir() or p / "empty", ValueError, "holds no text files"),
    (lambda p: (p / "latin1.txt").write_bytes(b"caf\xe9 " * 50) and p / "latin1.txt", ValueError, "is not UTF-8 text"),
    (lambda p: (p / "short.txt").write_text("tiny") and p / "short.txt", ValueError, "too few for"),
])
def test_load_text_errors(tmp_path, setup, error, message):
    with pytest.raises(error, match=message):
        sn.datasets.load_text(setup(tmp_path), seq_length=8)


@pytest.mark.parametrize("kwargs, message", [({"seq_length": 0}, "seq_length"),
                                             ({"validation_fraction": 1.0}, "validation_fraction"),
                                             ({"max_chars": -1}, "max_chars")])
def test_load_text_argument_errors(corpus, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        sn.datasets.load_text(corpus, **kwargs)


# --- CrossEntropy on (N, T, C) logits with (N, T) labels ------------------------------------

@pytest.mark.parametrize("reduction, smoothing", [("mean", 0.0), ("sum", 0.0), ("mean", 0.1)])
def test_cross_entropy_on_sequences_equals_pytorch(reduction, smoothing):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(3, 5, 7)) * 3, rng.integers(0, 7, size=(3, 5))
    loss = sn.CrossEntropy(reduction=reduction, label_smoothing=smoothing)
    value = loss(logits, labels)
    grad = loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(z.permute(0, 2, 1), torch.tensor(labels), reduction=reduction,
                                                 label_smoothing=smoothing)
    expected.backward()
    assert grad.shape == logits.shape
    assert abs(value - expected.item()) < 1e-12
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=0, atol=1e-14)


def test_cross_entropy_on_sequences_is_the_rows_loss_and_probability_targets_work():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(2, 4, 3)), rng.integers(0, 3, size=(2, 4))
    flat = sn.CrossEntropy()(logits.reshape(-1, 3), labels.reshape(-1))
    assert sn.CrossEntropy()(logits, labels) == pytest.approx(flat, abs=1e-15)
    assert sn.CrossEntropy()(logits, np.eye(3)[labels]) == pytest.approx(flat, abs=1e-15)


def test_gradcheck_through_a_sequence_model_with_sequence_labels():
    rng = np.random.default_rng(2)
    net = sn.Sequential(sn.LSTM(3, 4), sn.Dense(4, 5), seed=0, dtype=np.float64)
    X, y = rng.normal(size=(2, 6, 3)), rng.integers(0, 5, size=(2, 6))
    assert sn.gradcheck(net, sn.CrossEntropy(), X, y) < 1e-6


@pytest.mark.parametrize("labels, message", [(np.zeros((2, 3), dtype=int), r"labels of shape \(2, 3\) for logits "
                                              r"of shape \(2, 4, 5\) \(expected \(2, 4\)\)"),
                                             (np.full((2, 4), 5), r"labels must be in \[0, 4\]"),
                                             (np.full((2, 4), 0.5), "must be whole numbers")])
def test_cross_entropy_sequence_label_errors(labels, message):
    with pytest.raises(ValueError, match=message):
        sn.CrossEntropy()(np.zeros((2, 4, 5)), labels)


# --- tiny models learn, save, generate ------------------------------------------------------

def tiny_data(seq_length=12):
    vocabulary = sn.datasets.text.build_vocabulary(REPEATED)
    X, y = windows(encode(REPEATED, vocabulary), seq_length)
    return vocabulary, X, y


@pytest.mark.parametrize("model, hidden, learning_rate, epochs", [("lstm", [32], 0.02, 30),
                                                                  ("transformer", [32], 0.01, 30)])
def test_tiny_models_learn_a_repeated_string(model, hidden, learning_rate, epochs):
    vocabulary, X, y = tiny_data()
    net = build_text_network(model, len(vocabulary), hidden, seq_length=12, embedding_dim=16, heads=2, seed=0)
    net.classes = vocabulary
    with no_fp_trouble():
        history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(learning_rate, clip_norm=1.0),
                          epochs=epochs, batch_size=16, verbose=0, threads=1)
    assert history.history["loss"][-1] < 0.25 < history.history["loss"][0]
    continuation = sn.generate_text(net, "the cat sat on the ", 24, temperature=0, context=12)
    assert continuation == "mat the cat sat on the m"


def test_model_file_keeps_the_vocabulary_and_generation_is_seeded(tmp_path):
    vocabulary, X, y = tiny_data()
    net = build_text_network("lstm", len(vocabulary), [16], seq_length=12, embedding_dim=8, seed=0)
    net.classes = vocabulary
    net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.02), epochs=3, batch_size=16, verbose=0, threads=1)
    net.save(tmp_path / "text.npz")
    loaded = sn.load(tmp_path / "text.npz")
    assert loaded.classes == vocabulary
    assert sn.datasets.text.model_vocabulary(loaded) == vocabulary
    first = sn.generate_text(loaded, "the ", 40, temperature=1.0, seed=5)
    assert first == sn.generate_text(net, "the ", 40, temperature=1.0, seed=5)
    assert first != sn.generate_text(loaded, "the ", 40, temperature=1.0, seed=6)
    assert set(first) <= set(vocabulary) and len(first) == 40
    greedy = sn.generate_text(loaded, "the ", 20, temperature=0, seed=1)
    assert greedy == sn.generate_text(loaded, "the ", 20, temperature=0, seed=2)
    ids = list(encode("the ", vocabulary))          # greedy: each character the argmax of the window before it
    for character in greedy[:5]:
        ids.append(int(np.argmax(loaded.predict(np.array([ids]))[0, -1])))
        assert vocabulary[ids[-1]] == character
    assert sn.generate_text(loaded, "the ", 0) == ""
    assert len(sn.generate_text(loaded, "the ", 5, temperature=1e-300, seed=0)) == 5   # no overflow warning


def test_generate_text_errors():
    vocabulary, X, y = tiny_data()
    net = build_text_network("transformer", len(vocabulary), [8], seq_length=12, heads=2, seed=0)
    net.classes = vocabulary
    for kwargs, error, message in [({"prompt": "THE"}, ValueError, r"prompt: the text holds 3 character"),
                                   ({"prompt": ""}, ValueError, "prompt must be a non-empty str"),
                                   ({"length": -1}, ValueError, "length must be an int >= 0"),
                                   ({"temperature": -0.5}, ValueError, "temperature must be in"),
                                   ({"temperature": float("nan")}, ValueError, "temperature must be in"),
                                   ({"context": 13}, ValueError, "context must be at most 12")]:
        arguments = {"prompt": "the ", "length": 3, **kwargs}
        with pytest.raises(error, match=message):
            sn.generate_text(net, **arguments)
    classifier = sn.Sequential(sn.Dense(3, 2), seed=0)
    with pytest.raises(ValueError, match="not a character model .* not an Embedding"):
        sn.generate_text(classifier, "a", 3)
    net.classes = None
    with pytest.raises(ValueError, match="classes are not a vocabulary of single characters"):
        sn.generate_text(net, "a", 3)


# --- the command line -------------------------------------------------------------------------

def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.parametrize("model, extra", [("lstm", ["--hidden", "32"]),
                                          ("transformer", ["--hidden", "32", "--heads", "2"])])
def test_train_text_then_generate(tmp_path, capsys, model, extra):
    path = tmp_path / "text.txt"
    path.write_text(REPEATED * 3)
    out = tmp_path / "model.npz"
    code, printed, err = run(capsys, "train", "text", path, "--model", model, *extra, "--seq-length", 16,
                             "--epochs", 8, "--learning-rate", 0.01, "--out", out, "--plots", tmp_path / "plots",
                             "--verbose", 0)
    assert code == 0, err
    assert "a vocabulary of 11; " in printed and "Epoch 8: training loss" in printed
    assert "nats per character" in printed and "Sample (temperature 0.8, seed 0):" in printed
    assert os.path.isfile(tmp_path / "plots" / "loss.png")
    assert sn.load(out).classes == sn.datasets.text.build_vocabulary(REPEATED + "\n")
    code, first, err = run(capsys, "generate", out, "--prompt", "the cat", "--length", 50, "--seed", 3)
    assert code == 0 and err == "" and first.startswith("the cat") and len(first) == len("the cat") + 50 + 1
    assert run(capsys, "generate", out, "--prompt", "the cat", "--length", 50, "--seed", 3)[1] == first
    code, greedy, _ = run(capsys, "generate", out, "--prompt", "the cat ", "--length", 4, "--temperature", 0)
    assert greedy == "the cat sat \n"


@pytest.mark.parametrize("argv, message", [
    (["generate", "{model}", "--prompt", "Zebra"], "--prompt: the text holds 3 character(s) outside the vocabulary"),
    (["generate", "{model}", "--length", "-2"], "--length must be an int >= 0, got -2"),
    (["generate", "{model}", "--temperature", "-1"], "--temperature must be in [0.0, inf)"),
    (["generate", "{model}", "--seed", "-1"], "--seed must be an int >= 0"),
    (["generate", "{classifier}"], "is not a character model (as scratchnn train text writes)"),
    (["generate", "{missing}"], "no model file at"),
    (["train", "text"], "train text needs FILE"),
    (["train", "text", "{text}", "--model", "cnn"], "--model cnn does not apply to train text"),
    (["train", "text", "{text}", "--target", "x"], "--target does not apply to train text"),
    (["train", "text", "{text}", "--distributed"], "--distributed does not apply to train text"),
    (["train", "text", "{text}", "--hidden", "32,16", "--model", "transformer"], "share one width"),
    (["train", "text", "{text}", "--seq-length", "0"], "--seq-length must be >= 1, got 0"),
    (["train", "text", "{text}", "--clip-norm", "-1"], "--clip-norm must be in"),
    (["train", "moons", "{text}"], "a second argument FILE applies to 'train text FILE' only"),
    (["evaluate", "{model}", "text"], "DATA text applies to 'scratchnn train text FILE' only"),
])
def test_command_line_errors_are_one_line(tmp_path, capsys, argv, message):
    vocabulary, X, y = tiny_data()
    net = build_text_network("lstm", len(vocabulary), [4], seq_length=12, embedding_dim=4, seed=0)
    net.classes = vocabulary
    net.save(tmp_path / "model.npz")
    sn.Sequential(sn.Dense(2, 3), seed=0).save(tmp_path / "classifier.npz")
    (tmp_path / "text.txt").write_text(REPEATED)
    paths = {name: tmp_path / f"{name}.npz" for name in ("model", "classifier", "missing")}
    argv = [a.format(**paths, text=tmp_path / "text.txt") for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/usr/share/games/fortunes"), reason="needs Debian's fortunes package")
def test_fortunes_example_quick(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "text_fortunes.py")
    done = subprocess.run([sys.executable, script, "--quick", "--figures", str(tmp_path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "40,000 characters from 1 file" in done.stdout and "transformer: " in done.stdout
    assert os.path.getsize(tmp_path / "text_fortunes_loss.png") > 10_000


def test_a_sequence_model_fits_with_validation_split_and_accuracy_and_predicts_classes():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(40, 6))
    y = X.copy()                                          # copy each token: per-step labels (N, T)
    net = sn.Sequential(sn.Embedding(5, 8), sn.Dense(8, 5), seed=0, dtype=np.float64)
    history = net.fit(X, y, loss="cross_entropy", optimizer=sn.Adam(0.05), epochs=30, batch_size=8,
                      validation_split=0.25, metrics=["accuracy"], verbose=0)
    assert 0.0 <= min(history.history["val_accuracy"]) and max(history.history["accuracy"]) <= 1.0
    assert history.history["val_accuracy"][-1] == 1.0     # a fraction of steps, learnt exactly
    assert net.predict_classes(X).shape == (40, 6)
    assert (net.predict_classes(X) == X).all()
