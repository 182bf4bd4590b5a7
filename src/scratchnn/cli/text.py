"""``scratchnn train text FILE`` and ``scratchnn generate MODEL``: character language models.

    scratchnn train text /usr/share/games/fortunes --model lstm --out lstm.npz --plots runs/lstm/
    scratchnn train text /usr/share/games/fortunes --model transformer --out gpt.npz
    scratchnn generate lstm.npz --prompt "The " --length 300 --temperature 0.8 --seed 1

`train text` reads FILE (a text file or a folder of them, `scratchnn.datasets.load_text`),
trains a network that predicts each next character (softmax cross-entropy over the
vocabulary at every step of (N, T) windows, Adam with gradient clipping), reports the
validation loss per epoch in nats per character, prints a sample, and saves the model with
its vocabulary (as the model's ``classes``) so that `generate` needs only the model file.

The networks (``--hidden`` gives the widths, one per layer):

    lstm          Embedding(V, E) -> LSTM(E, h1) -> LSTM(h1, h2) ... -> Dense(h_last, V)
    transformer   Embedding(V, D) -> PositionalEmbedding(T, D) -> TransformerBlock(D, heads, 4·D,
                  causal=True) × layers -> LayerNorm(D) -> Dense(D, V)
"""

import os
import time

import numpy as np

from .._checks import int_at_least, number_in_range, positive_int
from ..datasets.text import generate_text, load_text, model_vocabulary
from ..losses import CrossEntropy
from ..model import Sequential, load
from ..nn.core import Dense
from ..nn.embedding import Embedding
from ..nn.lstm import LSTM
from ..nn.normalization import LayerNorm
from ..nn.transformer import PositionalEmbedding, TransformerBlock
from ..optim import OPTIMIZERS
from ..plot import plot_gradient_stats
from ..plot._figure import _finish, _new_figure
from ..training.callbacks import Callback
from ..training.gradient_stats import is_gradient_stat
from .plots import check_plotting
from .train import _automatic_threads, _callbacks, _check_options, _report_training, run_train

TEXT = "text"                        # the DATA name: scratchnn train text FILE
TEXT_MODELS = ("lstm", "transformer")
# Defaults by model: widths, learning rate, epochs; measured on fortunes in docs/text.md
TEXT_DEFAULTS = {"lstm": {"hidden": [256], "learning_rate": 2e-3, "epochs": 2},
                 "transformer": {"hidden": [128, 128], "learning_rate": 2e-3, "epochs": 2}}
SEQ_LENGTH, EMBEDDING_DIM, HEADS, CLIP_NORM, BATCH_SIZE = 64, 64, 4, 1.0, 64
CURVE_EVERY, CURVE_WINDOWS = 50, 256       # the loss curve: validation loss on 256 windows every 50 steps
SAMPLE_LENGTH, SAMPLE_TEMPERATURE = 300, 0.8


def add_text_options(train):
    """Add FILE and the flags of ``train text`` to the parser of ``train``."""
    train.set_defaults(run=run_train_or_text)
    train.add_argument("file", nargs="?", metavar="FILE",
                       help="train text only: a UTF-8 text file or a folder of them (e.g. "
                       "/usr/share/games/fortunes); --limit N keeps its first N characters")
    text = train.add_argument_group("train text (character models: --model lstm or transformer)")
    text.add_argument("--seq-length", type=int, default=SEQ_LENGTH, metavar="T",
                      help=f"characters per training window; the transformer's context (default {SEQ_LENGTH})")
    text.add_argument("--embedding-dim", type=int, default=EMBEDDING_DIM, metavar="E",
                      help=f"lstm: width of the character embedding (default {EMBEDDING_DIM}); the "
                      "transformer embeds in its width")
    text.add_argument("--heads", type=int, default=HEADS, metavar="H",
                      help=f"transformer: attention heads per block (default {HEADS})")
    text.add_argument("--clip-norm", type=float, default=CLIP_NORM, metavar="C",
                      help=f"clip the gradient's norm to C before each step (default {CLIP_NORM:g}; 0: off)")


def add_generate(commands):
    """Add the ``generate`` subcommand to the subparsers `commands` of the main parser."""
    generate = commands.add_parser(
        "generate", help="continue a prompt with a character model written by train text",
        description="Load a character model (scratchnn train text --out) and continue PROMPT one "
        "character at a time: each step runs the network on the last characters (the transformer's "
        "context; 128 for the LSTM) and draws the next from softmax(logits / temperature). Prints "
        "the prompt and its continuation.")
    generate.add_argument("model", metavar="MODEL", help="a model file written by train text --out")
    generate.add_argument("--prompt", default="\n", help="the text to continue (default a newline); "
                          "every character must be in the model's vocabulary")
    generate.add_argument("--length", type=int, default=500, metavar="N", help="characters to generate (default 500)")
    generate.add_argument("--temperature", type=float, default=SAMPLE_TEMPERATURE, metavar="T",
                          help=f"sampling temperature: 1 the model's probabilities, lower more "
                          f"conservative, 0 always the most likely character (default {SAMPLE_TEMPERATURE:g})")
    generate.add_argument("--seed", type=int, metavar="S", help="seed of the sampling (default: a fresh one)")
    generate.set_defaults(run=run_generate)


def run_generate(args):
    length = int_at_least("--length", args.length, minimum=0)
    temperature = number_in_range("--temperature", args.temperature, 0.0, float("inf"), high_open=True)
    seed = None if args.seed is None else int_at_least("--seed", args.seed, minimum=0)
    net = load(args.model)
    model_vocabulary(net, source=repr(args.model))
    try:
        text = generate_text(net, args.prompt, length, temperature=temperature, seed=seed)
    except ValueError as error:
        raise ValueError(f"--{error}" if str(error).startswith("prompt") else error) from None
    print(args.prompt + text)
    return 0


def build_text_network(model, vocabulary_size, hidden, seq_length, embedding_dim=EMBEDDING_DIM, heads=HEADS,
                       seed=0, dtype="float32"):
    """The character model `model` ("lstm" or "transformer") of the module's docstring."""
    if model == "lstm":
        widths = [embedding_dim, *hidden]
        recurrent = [LSTM(a, b) for a, b in zip(widths[:-1], widths[1:])]
        layers = [Embedding(vocabulary_size, embedding_dim), *recurrent, Dense(hidden[-1], vocabulary_size)]
    else:
        if len(set(hidden)) != 1:
            raise ValueError(f"--hidden {','.join(map(str, hidden))}: a transformer's blocks share one "
                             "width (their residual connections add), e.g. 128,128 for two blocks of 128")
        width = hidden[0]
        if width % heads:
            raise ValueError(f"--hidden {width} is not divisible by --heads {heads}")
        blocks = [TransformerBlock(width, heads, 4 * width, causal=True) for _ in hidden]
        layers = [Embedding(vocabulary_size, width), PositionalEmbedding(seq_length, width), *blocks,
                  LayerNorm(width), Dense(width, vocabulary_size)]
    return Sequential(*layers, seed=seed, dtype=dtype)


class LossCurve(Callback):
    """The training loss after every step, and the validation loss on the first `windows`
    validation windows every `every` steps (and at the end): a curve finer than one point
    per epoch. ``steps``/``losses`` and ``val_steps``/``val_losses`` hold them."""

    checkpointed = False

    def __init__(self, X_val, y_val, every=CURVE_EVERY, windows=CURVE_WINDOWS):
        self.X_val, self.y_val = X_val[:windows], y_val[:windows]
        self.every = positive_int("every", every)
        self.steps, self.losses, self.val_steps, self.val_losses = [], [], [], []
        self.epochs_run = 0

    def _validate(self, training):
        if len(self.X_val) and (not self.val_steps or self.val_steps[-1] != len(self.steps)):
            self.val_steps.append(len(self.steps))
            self.val_losses.append(training.model.evaluate(self.X_val, self.y_val, loss=CrossEntropy(),
                                                           batch_size=BATCH_SIZE))

    def on_train_begin(self, training):
        self._validate(training)

    def on_batch_end(self, training, batch, logs):
        self.steps.append(len(self.steps) + 1)
        self.losses.append(logs["loss"])
        if len(self.steps) % self.every == 0:
            self._validate(training)

    def on_epoch_end(self, training, epoch, logs):
        self.epochs_run += 1

    def on_train_end(self, training):
        self._validate(training)


def plot_loss_curves(curves, path, chars_per_step, title=None):
    """One panel: each run's training loss (a running mean over 20 steps) and validation loss
    against the characters trained on; `curves` maps a run's name to its `LossCurve`."""
    fig = _new_figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for index, (name, curve) in enumerate(curves.items()):
        color = f"C{index}"
        smooth = np.convolve(curve.losses, np.ones(20) / 20, mode="valid") if len(curve.losses) >= 20 else curve.losses
        steps = np.arange(len(curve.losses) - len(smooth) + 1, len(curve.losses) + 1)
        ax.plot(steps * chars_per_step / 1e6, smooth, color=color, alpha=0.45, label=f"{name}: training")
        ax.plot(np.asarray(curve.val_steps) * chars_per_step / 1e6, curve.val_losses, color=color, marker="o",
                markersize=3, label=f"{name}: validation")
    ax.set_xlabel("characters trained on (millions)")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title(title or "character model")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _finish(fig, path)


def run_train_or_text(args):
    """``train``: `run_train_text` for ``train text FILE``, else the classifier's `run_train`."""
    if args.data == TEXT or args.file is not None:
        return run_train_text(args)
    return run_train(args)


def run_train_text(args):
    if args.data != TEXT:
        raise ValueError(f"{args.file!r}: a second argument FILE applies to 'train text FILE' only")
    model, options = _check_text_options(args)
    if args.validation_split is None:                  # --validation-split's default for text
        args.validation_split = 0.1
    _check_options(args)
    defaults = TEXT_DEFAULTS[model]
    hidden = args.hidden or defaults["hidden"]
    epochs = args.epochs or defaults["epochs"]
    batch_size = args.batch_size or BATCH_SIZE
    learning_rate = args.learning_rate or defaults["learning_rate"]
    if args.plots is not None:
        check_plotting(args.plots)
    data = load_text(args.file, options["seq_length"], args.validation_split, args.seed, max_chars=args.limit)
    net = build_text_network(model, len(data.vocabulary), hidden, options["seq_length"], options["embedding_dim"],
                             options["heads"], seed=args.seed, dtype=args.dtype)
    net.classes = data.vocabulary                      # saved with the model: generate needs nothing else
    optimizer = OPTIMIZERS[args.optimizer](learning_rate, clip_norm=options["clip_norm"])
    args.schedule = args.schedule or "none"
    callbacks, early_stopping = _callbacks(args, epochs)
    curve = LossCurve(data.X_val, data.y_val)
    print(data.describe())
    threads = _automatic_threads(net, batch_size) if args.threads == "auto" else args.threads
    print(f"Network: {_describe(net)}; {optimizer!r}, batch size {batch_size}"
          + (f", {threads} threads" if threads > 1 else ""))
    validation = (data.X_val, data.y_val) if len(data.X_val) else None
    started = time.perf_counter()
    history = net.fit(data.X_train, data.y_train, loss=CrossEntropy(label_smoothing=args.label_smoothing or 0.0),
                      optimizer=optimizer, epochs=epochs, batch_size=batch_size, verbose=args.verbose,
                      validation_data=validation, callbacks=callbacks + [curve],
                      resume_from=args.checkpoint if args.resume else None,
                      threads=threads)
    seconds = time.perf_counter() - started
    _report_training(curve.epochs_run, len(history.epoch), epochs, seconds, early_stopping)
    for epoch, loss in enumerate(history.history["loss"]):
        validation_loss = history.history.get("val_loss", [None] * len(history.epoch))[epoch]
        shown = "" if validation_loss is None else (f", validation {validation_loss:.4f} nats per character "
                                                    f"({validation_loss / np.log(2):.3f} bits)")
        print(f"Epoch {epoch + 1}: training loss {loss:.4f}{shown}")
    sample = generate_text(net, "\n" if "\n" in data.vocabulary else data.text[0], SAMPLE_LENGTH,
                           temperature=SAMPLE_TEMPERATURE, seed=args.seed)
    print(f"Sample (temperature {SAMPLE_TEMPERATURE:g}, seed {args.seed}):\n{sample}")
    if args.out is not None:
        net.save(args.out)
        print(f"Saved the model and its vocabulary to {args.out} (scratchnn generate {args.out} --prompt ...)")
    else:
        print("The model was not saved (pass --out PATH to keep it).")
    if args.plots is not None:
        print(f"Plots: {', '.join(_write_plots(args.plots, history, curve, batch_size * data.seq_length, model))}")
    return 0


def _check_text_options(args):
    """The model and the text flags, checked before any data is read."""
    if args.file is None:
        raise ValueError("train text needs FILE: a text file or a folder of them, e.g. "
                         "scratchnn train text /usr/share/games/fortunes")
    for flag, given in (("--layers", args.layers), ("--target", args.target), ("--samples", args.samples),
                        ("--noise", args.noise), ("--dropout", args.dropout),
                        ("--task", args.task if args.task != "auto" else None),
                        ("--distributed", True if getattr(args, "distributed", False) else None)):
        if given is not None:
            raise ValueError(f"{flag} does not apply to train text")
    model = "lstm" if args.model == "mlp" else args.model      # mlp is the default of other data
    if model not in TEXT_MODELS:
        raise ValueError(f"--model {model} does not apply to train text: give lstm or transformer")
    if args.hidden is not None and not args.hidden:
        raise ValueError("--hidden '': a character model needs at least one layer, e.g. --hidden 256")
    options = {"seq_length": positive_int("--seq-length", args.seq_length),
               "embedding_dim": positive_int("--embedding-dim", args.embedding_dim),
               "heads": positive_int("--heads", args.heads),
               "clip_norm": number_in_range("--clip-norm", args.clip_norm, 0.0, float("inf"), high_open=True) or None}
    if args.seq_length < 2:
        raise ValueError(f"--seq-length must be at least 2, got {args.seq_length}")
    return model, options


def _describe(net):
    return " -> ".join(repr(layer) for layer in net.layers)


def _write_plots(directory, history, curve, chars_per_step, model):
    paths = [os.path.join(directory, "loss.png")]
    plot_loss_curves({model: curve}, paths[0], chars_per_step, title=f"train text --model {model}")
    if any(is_gradient_stat(name) for name in history.history):
        paths.append(os.path.join(directory, "gradient_stats.png"))
        plot_gradient_stats(history, path=paths[-1], title=f"{model}: how fast each layer learns")
    return paths

