"""``scratchnn explain xor [--blog] [--seed S] [--step K]``: one training step, every number.

Builds the XOR network exactly as ``scratchnn xor`` does (`scratchnn.xor`), trains it for
K - 1 full-batch steps as `train_xor` does, then writes out step K with `explain_step`: the
forward pass, the loss, each delta and gradient, and the update.
"""

from .._checks import int_at_least
from ..explain import explain_step
from ..xor import BLOG, DEFAULT, X, Y, _loss_and_optimizer, build_xor_net

WHAT = ("xor",)        # what can be explained: the XOR network of `scratchnn xor`


def add_explain(commands):
    """Add the ``explain`` subcommand to the subparsers `commands` of the main parser."""
    explain = commands.add_parser(
        "explain", help="write out one training step of the XOR network, every number of it",
        description="Write out one training step of the XOR network of `scratchnn xor`: each layer's "
        "equation with its numbers, the loss, each delta (dL/d of a layer's output), each gradient and "
        "each update, in the blog's order and notation. Without --blog: the default 2-"
        f"{DEFAULT['hidden']}-1 tanh/sigmoid network, Adam on cross-entropy. With --blog: the blog's "
        "2-2-1 sigmoid network, U[0, 1) weights after np.random.seed(SEED), squared error, SGD "
        f"{BLOG['learning_rate']}, each line naming the blog's variable.")
    explain.add_argument("what", choices=WHAT, metavar="NETWORK", help="the network to explain: xor")
    explain.add_argument("--blog", action="store_true", help="the blog's exact network and settings")
    explain.add_argument("--seed", type=int, default=0, help="random seed of the weights (default 0)")
    explain.add_argument("--step", type=int, default=1, metavar="K",
                         help="train K-1 full-batch steps first, then explain step K (default 1)")
    explain.set_defaults(run=run_explain)


def run_explain(args):
    seed = int_at_least("--seed", args.seed, minimum=0)
    step = int_at_least("--step", args.step, minimum=1)
    settings = BLOG if args.blog else DEFAULT
    net = build_xor_net(seed, blog=args.blog)
    loss, optimizer = _loss_and_optimizer(args.blog, settings["learning_rate"])
    if step > 1:                          # the steps before K, as train_xor takes them
        net.fit(X, Y, loss=loss, optimizer=optimizer, epochs=step - 1, batch_size=None, shuffle=False,
                verbose=0)
    name = "the blog's XOR network" if args.blog else "scratchnn's default XOR network"
    print(f"Step {step} of {name}, seed {seed}")
    print()
    print(explain_step(net, X, Y, loss, optimizer))
    return 0
