"""Text for character-level language models: a vocabulary, encoding, windows, sampling.

A character model reads T characters and predicts, at every step t, the character at t + 1:

    text     "Hello, world"
    inputs    H e l l o ,   w o r l          X[n] = ids of text[s : s + T]
    targets   e l l o ,   w o r l d          y[n] = ids of text[s + 1 : s + T + 1]

`load_text` reads a file or a folder of files (such as Debian's ``fortunes`` package,
/usr/share/games/fortunes), builds the vocabulary (the distinct characters, sorted by code
point, so the same text always gives the same ids), cuts the encoded text into such (N, T)
windows and holds a seeded, shuffled share of them out for validation. `generate_text`
samples from a trained model one character at a time.

A model file keeps the vocabulary as the model's ``classes``: output column k (and Embedding
row k) is the character ``classes[k]``, so generating needs only the model file.

>>> data = load_text("/usr/share/games/fortunes", seq_length=64)
>>> data.X_train.shape, len(data.vocabulary)          # (windows, 64), about 110 characters
>>> data.decode(data.X_train[0])                       # back to text
"""

import dataclasses
import math
import os

import numpy as np

from .._checks import describe, file_path, int_at_least, number_in_range, positive_int, rng_from_seed
from ..nn.embedding import Embedding
from ..nn.transformer import PositionalEmbedding

SKIPPED_SUFFIXES = (".dat", ".u8")   # fortune's index files and its links to the same texts
DEFAULT_CONTEXT = 128                # characters a model without a position table reads at a time


@dataclasses.dataclass
class TextData:
    """A text ready for a character model: its `vocabulary` (sorted distinct characters),
    the windows of ids X_train, y_train, X_val, y_val, each (N, seq_length) integers with
    y[n, t] = X[n, t + 1], the `text` itself and the `files` it was read from."""

    text: str
    vocabulary: list
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    seq_length: int
    files: list

    def encode(self, text):
        """`text` as an array of ids (ValueError for a character outside the vocabulary)."""
        return encode(text, self.vocabulary)

    def decode(self, ids):
        """The text of an array of ids."""
        return decode(ids, self.vocabulary)

    def describe(self):
        return (f"{len(self.text):,} characters from {len(self.files)} file{'s' * (len(self.files) != 1)}, "
                f"a vocabulary of {len(self.vocabulary)}; {len(self.X_train):,} training and "
                f"{len(self.X_val):,} validation windows of {self.seq_length}")


def load_text(path, seq_length=64, validation_fraction=0.1, seed=0, max_chars=None):
    """Read `path` (a UTF-8 text file, or every text file of a folder in name order) and cut
    it into windows for next-character prediction; return a `TextData`.

    - Files of a folder are joined in sorted name order, hidden files and fortune's
      ``.dat`` / ``.u8`` index files skipped; a file not ending in a newline gets one.
    - Fortune files separate their fortunes by lines holding "%": they are kept as they are,
      characters like any other, so a model learns to end a fortune with "%" and generated
      text comes out as a fortune file does.
    - Windows: the encoded text cut every `seq_length` characters into inputs
      ``ids[s : s + T]`` and targets ``ids[s + 1 : s + T + 1]`` (consecutive windows share
      one character; every character but the first is a target once); a shorter tail is
      dropped. ``max_chars`` keeps only the first characters of the text.
    - Validation: ceil(`validation_fraction` · N) windows drawn at random with `seed` (never
      the tail: a folder of files sorted by topic would put one topic there); 0 holds none out.

    Errors (before any work on the text): a missing path, a folder without text files, a
    file that is not UTF-8 text, a text too short for two windows (one with no validation).
    """
    seq_length = positive_int("seq_length", seq_length)
    validation_fraction = number_in_range("validation_fraction", validation_fraction, 0.0, 1.0, high_open=True)
    max_chars = positive_int("max_chars", max_chars, allow_none=True)
    rng = rng_from_seed(seed)
    files, texts, total = text_files(path), [], 0
    for file in files:                        # with max_chars, only the files it reaches
        texts.append(_read_utf8(file))
        total += len(texts[-1])
        if max_chars is not None and total >= max_chars:
            break
    files, text = files[:len(texts)], "".join(texts)[:max_chars]
    vocabulary = build_vocabulary(text)
    ids = encode(text, vocabulary)
    X, y = windows(ids, seq_length)
    n_validation = math.ceil(validation_fraction * len(X))
    if len(X) - n_validation < 1 or (validation_fraction and n_validation < 1):
        raise ValueError(f"{path!r} holds {len(text):,} characters: {len(X)} window(s) of {seq_length} + 1, "
                         f"too few for {'a training and a validation part' if n_validation else 'training'}; "
                         "give more text or a smaller seq_length")
    order = rng.permutation(len(X))
    validation, training = np.sort(order[:n_validation]), np.sort(order[n_validation:])
    return TextData(text, vocabulary, X[training], y[training], X[validation], y[validation], seq_length, files)


def text_files(path):
    """[path] for a file; the text files of a folder in sorted name order (hidden files and
    ``SKIPPED_SUFFIXES`` left out)."""
    path = file_path("path", path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"no text file or folder at {path!r}")
    files = [os.path.join(path, name) for name in sorted(os.listdir(path))
             if not name.startswith(".") and not name.endswith(SKIPPED_SUFFIXES)
             and os.path.isfile(os.path.join(path, name))]
    if not files:
        raise ValueError(f"the folder {path!r} holds no text files")
    return files


def _read_utf8(file):
    with open(file, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file!r} is not UTF-8 text (byte {error.start}: {error.reason})") from None
    if "\x00" in text:
        raise ValueError(f"{file!r} holds NUL bytes: a binary file, not text")
    return text if not text or text.endswith("\n") else text + "\n"


def build_vocabulary(text):
    """The distinct characters of `text`, sorted by code point: character k has id k."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    return sorted(set(text))


def encode(text, vocabulary):
    """The ids of `text`'s characters, (len(text),) np.intp; a character outside `vocabulary`
    is a ValueError naming it (and a few others), never silently replaced."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {describe(text)}")
    index = {character: code for code, character in enumerate(vocabulary)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        shown = ", ".join(repr(character) for character in unknown[:8]) + (", ..." if len(unknown) > 8 else "")
        raise ValueError(f"the text holds {len(unknown)} character(s) outside the vocabulary of "
                         f"{len(vocabulary)}: {shown}")
    return np.fromiter((index[character] for character in text), dtype=np.intp, count=len(text))


def decode(ids, vocabulary):
    """The text of the ids (any integer array or list), one character each."""
    return "".join(vocabulary[int(code)] for code in np.asarray(ids).reshape(-1))


def windows(ids, seq_length):
    """(X, y), each (N, seq_length): X[n] = ids[n·T : n·T + T], y[n] = ids[n·T + 1 : n·T + T + 1],
    N = (len(ids) − 1) // T (views of `ids`, no copy)."""
    count = max(0, (len(ids) - 1) // seq_length)
    X = ids[:count * seq_length].reshape(count, seq_length)
    y = ids[1:count * seq_length + 1].reshape(count, seq_length)
    return X, y


def model_vocabulary(net, source="the model"):
    """The character vocabulary of a character model (its ``classes``), after checking that
    `net` is one: an Embedding first with a row per character, one output per character, and
    classes that are single characters. ValueError naming `source` otherwise."""
    vocabulary, first = getattr(net, "classes", None), net.layers[0]
    why = None
    if not isinstance(first, Embedding):
        why = f"its first layer is {first!r}, not an Embedding of characters"
    elif not vocabulary or not all(isinstance(c, str) and len(c) == 1 for c in vocabulary):
        why = "its classes are not a vocabulary of single characters"
    elif first.num_embeddings != len(vocabulary):
        why = f"its Embedding has {first.num_embeddings} rows for a vocabulary of {len(vocabulary)}"
    if why is None:
        outputs = net.predict(np.zeros((1, 1), dtype=np.intp))
        if outputs.shape != (1, 1, len(vocabulary)):
            why = f"it outputs shape {outputs.shape[1:]} for one character, not (1, {len(vocabulary)})"
    if why is not None:
        raise ValueError(f"{source} is not a character model (as scratchnn train text writes): {why}")
    return list(vocabulary)


def context_length(net):
    """How many characters `net` reads at a time: its PositionalEmbedding's max_len, else
    `DEFAULT_CONTEXT`."""
    tables = [layer.max_len for layer in net.layers if isinstance(layer, PositionalEmbedding)]
    return min(tables) if tables else DEFAULT_CONTEXT


def generate_text(net, prompt, length, temperature=1.0, seed=None, context=None):
    """Continue `prompt` by `length` characters sampled from the character model `net`
    (`model_vocabulary` checks it); return the new characters.

    Each step runs the network on the last `context` characters (default `context_length`:
    a transformer's position table, else 128) and draws the next character from
    softmax(logits / temperature) at the last step, with a Generator from `seed`;
    ``temperature=0`` takes the most likely character (greedy, no randomness). Recomputing
    the window every step costs `length` forward passes of up to `context` steps, O(length ·
    context), simple rather than fast (a recurrent network could carry its state instead).

    Errors, before any work: a prompt that is empty or holds characters outside the
    vocabulary, a negative length or temperature, a context outside [1, the position table].
    """
    vocabulary = model_vocabulary(net)
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty str, got {describe(prompt)}")
    try:
        ids = list(encode(prompt, vocabulary))
    except ValueError as error:
        raise ValueError(f"prompt: {error}") from None
    length = int_at_least("length", length, minimum=0)
    temperature = number_in_range("temperature", temperature, 0.0, math.inf, high_open=True)
    limit = context_length(net)
    context = limit if context is None else positive_int("context", context)
    if context > limit:
        raise ValueError(f"context must be at most {limit} (the model's position table), got {context}")
    rng = rng_from_seed(seed)
    generated = []
    for _ in range(length):
        window = np.asarray(ids[-context:], dtype=np.intp)[None]
        logits = net.predict(window)[0, -1].astype(np.float64)
        ids.append(_sample(logits, temperature, rng))
        generated.append(vocabulary[ids[-1]])
    return "".join(generated)


def _sample(logits, temperature, rng):
    if temperature == 0:
        return int(np.argmax(logits))                       # greedy
    with np.errstate(over="ignore"):                      # a tiny τ: −inf, whose e^ is exactly 0
        scaled = (logits - logits.max()) / temperature      # softmax(z / τ), max-subtracted: no overflow
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum()
    return int(rng.choice(len(probabilities), p=probabilities))
