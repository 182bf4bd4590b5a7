"""The ``scratchnn`` command line.

    scratchnn xor                  # our XOR network, which solves XOR from every seed
    scratchnn xor --blog           # the blog's exact network and settings
    scratchnn xor --blog --seeds 1000    # how often does the blog's setup solve XOR?

Errors are one line on stderr and exit code 2, never a traceback.
"""

import argparse
import sys

import numpy as np

from . import __version__
from .xor import BLOG, DEFAULT, train_xor


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
                     help="run seeds 0..N-1 and print how many solved XOR")
    xor.add_argument("--epochs", type=_positive_int, help="number of full-batch epochs")
    xor.add_argument("--hidden", type=_positive_int, help="number of hidden units")
    xor.add_argument("--learning-rate", type=_positive_float, help="learning rate")
    xor.set_defaults(run=run_xor)
    return parser


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
    failed = [seed for seed in range(args.seeds) if not train_xor(seed=seed, **options).solved]
    print(f"XOR with {description}")
    print(f"Solved from {args.seeds - len(failed)} of {args.seeds} seeds (0..{args.seeds - 1}).")
    if failed:
        shown = ", ".join(map(str, failed[:20])) + (", ..." if len(failed) > 20 else "")
        print(f"Failed seeds: {shown}")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def main(argv=None):
    """Entry point of the ``scratchnn`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as error:
        print(f"scratchnn: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scratchnn: interrupted", file=sys.stderr)
        return 130
