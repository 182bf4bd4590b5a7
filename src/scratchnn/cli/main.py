"""The ``scratchnn`` command line.

    scratchnn xor                  # our XOR network, which solves XOR from every seed
    scratchnn xor --blog           # the blog's exact network and settings
    scratchnn xor --blog --seeds 1000    # how often does the blog's setup solve XOR?

    scratchnn train fashion-mnist --hidden 256,128 --epochs 20 --out model.npz --plots runs/fmnist/
    scratchnn train data.csv --target species --hidden 16 --out iris.npz
    scratchnn train spirals --hidden 16,16 --activation tanh --plots runs/spirals/
    scratchnn evaluate model.npz fashion-mnist
    scratchnn predict model.npz inputs.csv > predictions.csv
    scratchnn summary model.npz
    scratchnn export model.npz model.onnx   # for onnxruntime and other ONNX readers

This module holds the parser (every command and flag) and `main`; the commands live in
`train` (train), `use` (evaluate, predict, summary), with `data` (what DATA names),
`models` (the networks) and `plots` (--plots). Errors are one line on stderr
and exit code 2, never a traceback; Ctrl-C prints one line and exits with 130.
"""

import argparse
import os
import sys
import warnings

import numpy as np

from .. import __version__
from .data import DATA_HELP, DEFAULT_SAMPLES, MAX_AUTO_CLASSES, TASKS, TEST_FRACTION
from .explain import add_explain
from .export import add_export
from .playground import add_playground
from .._checks import MAX_NOISE
from .models import CNN_LAYERS, HIDDEN_ACTIVATIONS, LAYERS_HELP
from .plots import MissingPlotLibrary
from .train import DEFAULTS, RECIPES, SCHEDULE_HELP, SCHEDULES, run_train
from .surface import add_surface
from .text import TEXT_MODELS, add_generate, add_text_options
from .use import run_evaluate, run_predict, run_summary
from ..optim import OPTIMIZERS
from ..training import DivergedError
from ..xor import BLOG, DEFAULT, train_xor, train_xor_seeds


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


class UsageError(Exception):
    """A mistake on the command line; printed as one line, exit code 2."""


def build_parser():
    parser = _Parser(prog="scratchnn", description="Neural networks from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"scratchnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    xor = commands.add_parser(
        "xor", help="train the blog's XOR network and print its final predictions",
        description="Train a network on XOR and print its final predictions. Without --blog: "
        f"2-{DEFAULT['hidden']}-1 tanh/sigmoid, Glorot init, Adam on cross-entropy, "
        f"{DEFAULT['epochs']} epochs. With --blog: the blog's 2-2-1 sigmoid network, U[0, 1) "
        f"weights after np.random.seed(SEED), squared error, SGD, {BLOG['epochs']} epochs.")
    xor.add_argument("--blog", action="store_true", help="use the blog's exact settings")
    xor.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    xor.add_argument("--seeds", type=_positive_int, metavar="N",
                     help="train seeds 0..N-1 (all at once) and print how many solved XOR")
    xor.add_argument("--epochs", type=_positive_int, help="number of full-batch epochs")
    xor.add_argument("--hidden", type=_positive_int, help="number of hidden units")
    xor.add_argument("--learning-rate", type=_positive_float, help="learning rate")
    xor.add_argument("--verbose", type=int, choices=(0, 1), default=1,
                     help="0 silent, 1 progress on stderr while a long --seeds run trains (default)")
    xor.set_defaults(run=run_xor)
    _add_train(commands)
    _add_evaluate(commands)

    predict = commands.add_parser(
        "predict", help="write a model's predictions for rows of features as CSV on stdout",
        description="Read feature rows from a CSV file (header optional) or a .npy array and write "
        "CSV to stdout: a header 'prediction,p_<class>,...', then for each row the predicted class "
        "and the probability of every class (softmax of the outputs, 6 significant digits); for a "
        "regressor (no class names, one output per row) one column 'prediction' of numbers. Give "
        "the features on the scale the model was trained on: for a model trained on mnist or "
        "fashion-mnist, pixels in [0, 1] (divide 0-255 values by 255); CSV models standardize "
        "raw columns themselves. Inputs far outside the training range draw a warning.")
    predict.add_argument("model", metavar="MODEL", help="a model file written by train --out")
    predict.add_argument("inputs", metavar="INPUTS", help="a .csv file of numbers or a .npy array")
    predict.add_argument("--target", metavar="NAME_OR_INDEX",
                         help="a column of the CSV file to drop (e.g. the labels), by name or index")
    predict.set_defaults(run=run_predict)

    summary = commands.add_parser("summary", help="print a model file's layers, dtype and classes",
                                  description="Print the layers of a model file, their output widths "
                                  "and parameter counts, its dtype and its class names.")
    summary.add_argument("model", metavar="MODEL", help="a model (or checkpoint) file")
    summary.set_defaults(run=run_summary)
    add_explain(commands)
    add_surface(commands)
    add_export(commands)
    add_playground(commands)
    add_generate(commands)
    return parser


def _add_train(commands):
    train = commands.add_parser(
        "train", help="train a classifier (or a regressor on a CSV file) and save it",
        description="Train a classifier (a multi-layer perceptron ending in one logit per class, "
        "softmax cross-entropy loss) on DATA, print the test accuracy and the training time, "
        "and save the model with --out; for a CSV file's numeric target, a regressor (--task). "
        "CSV and toy data get a Standardize layer built from "
        f"the training rows. Toy sets and CSV files are split {1 - TEST_FRACTION:.0%}/"
        f"{TEST_FRACTION:.0%} into training and test rows (stratified for classification, with --seed).",
        epilog="--plots DIR writes history.png and confusion_matrix.png; for 2-D data also "
        "decision_boundary.png and decision_boundary.gif; for images also samples.png, "
        "misclassified.png and first_layer_weights.png. After --resume the animation jumps from "
        "the untrained network to the epoch the checkpoint held.")
    train.add_argument("data", metavar="DATA", help=DATA_HELP)
    train.add_argument("--task", choices=TASKS, default="auto",
                       help="classification (one logit per class, cross-entropy) or regression (CSV "
                       "files: one linear output in the target's units, squared error; reports R² "
                       "and MAE); default auto: regression when the CSV target holds a number that "
                       f"is not whole or more than {MAX_AUTO_CLASSES} distinct whole numbers (a note "
                       "says so), else classification")
    train.add_argument("--model", choices=("mlp", "cnn", *TEXT_MODELS), default="mlp",
                       help="mlp (default): Dense layers from --hidden; cnn: for 28x28 images, "
                       f"the stack '{CNN_LAYERS}' then Dense(classes); lstm (the default for "
                       "train text) or transformer: character models for train text FILE")
    train.add_argument("--layers", metavar="SPEC", help=LAYERS_HELP + " (overrides --model and --hidden)")
    train.add_argument("--hidden", type=_hidden_sizes, metavar="SIZES",
                       help="hidden layer widths, comma-separated, e.g. 256,128; '' for none (default "
                       "512,256 for images, 64 otherwise)")
    train.add_argument("--activation", choices=HIDDEN_ACTIVATIONS, default="relu",
                       help="hidden activation (default relu)")
    train.add_argument("--dropout", type=_fraction, metavar="RATE",
                       help="dropout rate after each hidden activation (default 0.2 for the images MLP, 0 otherwise)")
    train.add_argument("--label-smoothing", type=_fraction, metavar="EPS",
                       help="cross-entropy label smoothing (default 0.1 for images, 0 otherwise)")
    train.add_argument("--epochs", type=_positive_int, metavar="N", help=f"number of epochs (default "
                       f"{RECIPES['images', 'mlp']['epochs']} for the images MLP, "
                       f"{RECIPES['images', 'cnn']['epochs']} for the images CNN, "
                       f"{DEFAULTS['toy']['epochs']} otherwise)")
    train.add_argument("--batch-size", type=_positive_int, metavar="N", help=f"mini-batch size (default "
                       f"{DEFAULTS['images']['batch_size']} for images, {DEFAULTS['toy']['batch_size']} otherwise)")
    train.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam", help="default adam")
    train.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                       help=f"learning rate (default: {DEFAULTS['toy']['learning_rate']} for toy and CSV "
                       f"data; for images {RECIPES['images', 'cnn']['adam_learning_rate']:g} for adam with "
                       "the CNN, else the optimizer's own: 1e-3 for adam)")
    train.add_argument("--validation-split", type=_fraction, metavar="FRACTION",
                       help="share of the training rows held out for validation (default 0.1, and none "
                       "for the images CNN recipe, which trains on every row; 0: none)")
    train.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                       help="stop when the validation loss has not improved for PATIENCE epochs, and "
                       "keep the best epoch's weights (default off)")
    train.add_argument("--schedule", choices=SCHEDULES, help=SCHEDULE_HELP)
    train.add_argument("--checkpoint", metavar="PATH", help="save a resumable checkpoint after every epoch")
    train.add_argument("--resume", action="store_true",
                       help="go on from the --checkpoint file (repeat the rest of the command as it was)")
    train.add_argument("--out", metavar="PATH", help="save the trained model here (default: not saved)")
    train.add_argument("--plots", metavar="DIR", help="write pictures of the run into DIR (needs matplotlib)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="default float32")
    train.add_argument("--threads", type=_threads, default="auto", metavar="N",
                       help="split each batch over N threads, one copy of the network each (pays off "
                            "for convolutional networks, not for MLPs; needs threadpoolctl); default "
                            "auto: one per core and per 64 rows of a batch for networks with a "
                            "convolution, else 1")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel training over MPI ranks, started as: mpirun -n 4 scratchnn "
                            "train ... --distributed (needs scratchnn[mpi]; see docs/distributed.md)")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 a progress bar on a terminal (default), 2 one line per epoch")
    _add_data_options(train)
    train.set_defaults(run=run_train)
    add_text_options(train)                  # train text FILE: character models (cli/text.py)


def _add_evaluate(commands):
    evaluate = commands.add_parser(
        "evaluate", help="print a saved model's loss and accuracy (a regressor's R², MAE, MSE) on a data set's test rows",
        description="Load MODEL and print its loss and accuracy (a regressor, a model without "
        "class names and with one output per row: R², MAE and MSE) on the test rows of DATA: the test "
        "set of fashion-mnist/mnist, or the rows that train held out of a toy set or CSV file "
        "(give the same --seed, --samples, --noise and --limit as to train).")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by train --out")
    evaluate.add_argument("data", metavar="DATA", help=DATA_HELP)
    evaluate.add_argument("--all-rows", action="store_true",
                          help="CSV files: use every row, for a file kept apart for testing")
    evaluate.add_argument("--plots", metavar="DIR", help="write confusion_matrix.png into DIR")
    _add_data_options(evaluate)
    evaluate.set_defaults(run=run_evaluate)


def _add_data_options(parser):
    parser.add_argument("--target", metavar="NAME_OR_INDEX",
                        help="CSV files: the target column (class labels, or numbers for a regressor), "
                        "by name or index (default: the last)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seed of the weights, shuffling, toy data and splits (default 0)")
    parser.add_argument("--samples", type=_positive_int, metavar="N",
                        help=f"toy sets: number of points (default {DEFAULT_SAMPLES})")
    parser.add_argument("--noise", type=_noise, metavar="STD",
                        help="toy sets: standard deviation of the noise added to the points (default 0.1)")
    parser.add_argument("--limit", type=_positive_int, metavar="N",
                        help="use only the first N training rows and the first N test rows")


_XOR_LONG_RUN = 1_000_000   # network-epochs from which `xor --seeds` shows progress (about a second)


def run_xor(args):
    options = {"blog": args.blog, "hidden": args.hidden, "epochs": args.epochs,
               "learning_rate": args.learning_rate}
    settings = {**(BLOG if args.blog else DEFAULT),
                **{k: v for k, v in options.items() if v is not None and k != "blog"}}
    name = "the blog's settings" if args.blog else "scratchnn's default settings"
    description = (f"{name}: hidden={settings['hidden']}, epochs={settings['epochs']}, "
                   f"learning_rate={settings['learning_rate']}")
    if args.seeds is None:
        result = train_xor(seed=args.seed, **options)
        print(f"XOR with {description}, seed {args.seed}")
        with np.printoptions(precision=8, suppress=True):
            print("Final predictions:", result.predictions)
        print(f"Final loss: {result.losses[-1]:.6g}")
        print(f"Solved (every prediction within 0.1 of its target): {'yes' if result.solved else 'no'}")
        return 0
    # the seeds train as one batched computation (scratchnn.xor.train_xor_seeds), each network
    # exactly as train_xor trains it; progress shows when the run is long (seeds x epochs)
    long_run = args.seeds * settings["epochs"] >= _XOR_LONG_RUN
    runs = train_xor_seeds(range(args.seeds), **options, verbose=int(args.verbose and long_run))
    failed = runs.failed
    print(f"XOR with {description}")
    print(f"Solved from {args.seeds - len(failed)} of {args.seeds} seeds (0..{args.seeds - 1}).")
    if failed:
        shown = ", ".join(map(str, failed[:20])) + (", ..." if len(failed) > 20 else "")
        print(f"Failed seeds: {shown}")
    return 0


def _number(convert, words, minimum, inclusive):
    """An argparse type: text -> int or float that is finite and > minimum (>= if inclusive)."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if not (value >= minimum if inclusive else value > minimum) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
        return value
    return parse


_positive_int = _number(int, "a positive integer", 1, inclusive=True)
_non_negative_int = _number(int, "a non-negative integer", 0, inclusive=True)
_positive_float = _number(float, "a positive finite number", 0.0, inclusive=False)
_non_negative_float = _number(float, "a non-negative finite number", 0.0, inclusive=True)


def _threads(text):
    """--threads: "auto" or a positive integer."""
    return "auto" if text == "auto" else _number(int, "'auto' or a positive integer", 1, inclusive=True)(text)


def _noise(text):
    value = _non_negative_float(text)
    if value > MAX_NOISE:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_NOISE:g}, got {text!r}")
    return value


def _fraction(text):
    """A number in [0, 1): a share of rows."""
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _hidden_sizes(text):
    """'256,128' -> [256, 128]; '' -> [] (no hidden layer)."""
    if not text.strip():
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = None
    if sizes is None or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 256,128 "
                                         f"(or '' for no hidden layer), got {text!r}")
    return sizes


def main(argv=None):
    """Entry point of the ``scratchnn`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings(record=True) as caught:    # the library's warnings, one line each
            warnings.simplefilter("always", UserWarning)
            try:
                return args.run(args)
            finally:
                for warning in caught:
                    print(f"scratchnn: warning: {_one_line(warning.message)}", file=sys.stderr)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except BrokenPipeError:              # `scratchnn predict ... | head`: the reader has gone
        _discard_stdout()
        return 141                       # 128 + SIGPIPE, as a shell reports it
    except (ValueError, TypeError, OSError, DivergedError, MissingPlotLibrary) as error:
        print(f"scratchnn: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        hint = f" ({_one_line(interrupt)})" if str(interrupt) else ""
        print(f"scratchnn: interrupted{hint}", file=sys.stderr)
        return 130


def _discard_stdout():
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):        # stdout is not a real file (e.g. in tests)
        pass


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__
