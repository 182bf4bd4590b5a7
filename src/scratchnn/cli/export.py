"""``scratchnn export MODEL OUT.onnx [--opset N]``: a model file as an ONNX model.

    scratchnn export model.npz model.onnx              # opset 18
    scratchnn export model.npz model.onnx --opset 20   # GELU as one Gelu operator

The ONNX model computes what ``scratchnn predict`` computes before its softmax (the network's
outputs), for any number of rows; it runs in onnxruntime and anything else that reads ONNX.
"""

from ..interop import export_onnx
from ..interop.onnx_export import DEFAULT_OPSET, MIN_OPSET
from ..model import load


def add_export(commands):
    """The ``export`` subcommand's parser, added to `commands` (argparse subparsers)."""
    export = commands.add_parser(
        "export", help="write a model file as an ONNX model (needs pip install scratchnn[onnx])",
        description="Write MODEL (a model or checkpoint file) as an ONNX model at OUT: the same outputs "
        "as the network, for any batch size, input named 'input' and output 'output'. Dropout and "
        "augmentation layers are left out (they do nothing at inference). See docs/interop.md.")
    export.add_argument("model", metavar="MODEL", help="a model file written by train --out")
    export.add_argument("out", metavar="OUT", help="the ONNX file to write, e.g. model.onnx")
    export.add_argument("--opset", type=int, metavar="N", default=None,
                        help=f"ONNX operator set, {MIN_OPSET} or newer (default {DEFAULT_OPSET}; from 20 GELU is "
                        "one Gelu operator)")
    export.set_defaults(run=run_export)


def run_export(args):
    net = load(args.model)
    try:
        export_onnx(net, args.out, opset=args.opset)
    except ImportError as error:               # onnx missing: one line, as every command error
        raise ValueError(str(error)) from None
    layers = ", ".join(type(layer).__name__ for layer in net.layers)
    print(f"Wrote {args.out} (opset {args.opset or DEFAULT_OPSET}) from {args.model}: {layers}")
    return 0
