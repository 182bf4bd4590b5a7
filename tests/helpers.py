"""Shared test helpers."""

import contextlib
import threading
import warnings

import numpy as np

import scratchnn as sn


class no_fp_trouble:
    """Any warning is an error, and NumPy raises on overflow, division by zero and invalid
    operations.

    Underflow is left at NumPy's default (ignored): an exact result smaller than the smallest
    subnormal, such as sigmoid(-1e4) ≈ e^-10000, correctly rounds to 0.
    """

    def __enter__(self):
        self.caught = warnings.catch_warnings()
        self.caught.__enter__()
        warnings.simplefilter("error")
        self.errstate = np.errstate(over="raise", divide="raise", invalid="raise", under="ignore")
        self.errstate.__enter__()

    def __exit__(self, *exc):
        self.errstate.__exit__(*exc)
        return self.caught.__exit__(*exc)


@contextlib.contextmanager
def serving(server):
    """Run an HTTP server (the playground's) on a daemon thread for the block, then shut it down."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def sgd_steps_beside_torch(net, twin, run_twin, X, y, learning_rate, steps=4):
    """Take `steps` SGD steps on `sn.MSE` in `net` and in its PyTorch twin (½ · mean squared
    error, the same loss) from the same weights and data; `run_twin(x)` is the twin's forward.
    Returns (ours, torch's) outputs on X afterwards."""
    import torch

    optimizer, torch_optimizer = sn.SGD(learning_rate), torch.optim.SGD(twin.parameters(), lr=learning_rate)
    loss = sn.MSE()
    for _ in range(steps):
        net.zero_grad()
        loss(net.forward(X, training=True), y)
        net.backward(loss.backward())
        optimizer.step(net.parameters())
        torch_optimizer.zero_grad()
        prediction = run_twin(torch.from_numpy(X))
        (0.5 * ((prediction - torch.from_numpy(y)) ** 2).mean()).backward()      # sn.MSE has the blog's ½
        torch_optimizer.step()
    return net.forward(X), run_twin(torch.from_numpy(X)).detach().numpy()
