"""``scratchnn playground [--port 8765] [--host 127.0.0.1] [--no-browser]``: the playground.

A local web page that trains networks with this library while you watch (docs/playground.md);
`scratchnn.playground` holds the server, the training sessions and the page.
"""

import argparse

from ..playground import serve

LOOPBACK = "127.0.0.1"


def add_playground(commands):
    """Add the ``playground`` subcommand to the subparsers `commands` of the main parser."""
    playground = commands.add_parser(
        "playground", help="open a page in the browser that trains networks with scratchnn as you watch",
        description="Serve the scratchnn playground, a page in the browser like TensorFlow Playground "
        "whose every epoch is scratchnn's fit: data sets and CSV upload, layers, activations, optimizers, "
        "the decision boundary, each neuron, the loss, a backprop view, and exports of the model "
        "(model.npz), the data (CSV) and the run as Python. ?preset=blog&seed=0 is the blog's network. "
        "Ctrl-C stops the server.")
    playground.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765; 0: any free port)")
    playground.add_argument("--host", default=LOOPBACK,
                            help=f"address to listen on (default {LOOPBACK}, this machine only; another "
                            "address lets other machines in, with a warning)")
    playground.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    playground.set_defaults(run=run_playground)


def _port(text):
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 65535, got {text!r}")
    return int(text)


def run_playground(args):
    serve(host=args.host, port=args.port, open_browser=not args.no_browser)
    return 0
