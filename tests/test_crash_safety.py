"""Crash safety of ``scratchnn train --checkpoint``: SIGKILL the process at random moments,
resume with ``--resume``, and end with exactly the weights of a run that was never killed.

The command runs with ``--verbose 2``: each finished epoch prints one flushed line on stderr,
the process's own record of how far it got, so the epochs a kill loses are counted exactly
(the progress printer is not part of the checkpoint, so verbosity changes no number).
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli import main
from scratchnn.serialization import read_npz

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
EPOCHS = 40
KILLS = 4
# 12,000 moons points: 8,640 training rows after the test and validation splits, 540 batches of
# 16 per epoch, about 0.05-0.1 s an epoch: several polls per epoch, 40 epochs in a few seconds.
TRAIN = ["train", "moons", "--samples", "12000", "--hidden", "16", "--epochs", str(EPOCHS),
         "--batch-size", "16", "--seed", "0", "--verbose", "2"]
POLL_SECONDS = 0.005
TIMEOUT = 120


def command(folder, resume=False):
    """The training command, writing its checkpoint and model into `folder`."""
    paths = ["--checkpoint", os.path.join(folder, "ckpt.npz"), "--out", os.path.join(folder, "out.npz")]
    return [sys.executable, "-m", "scratchnn", *TRAIN, *paths] + (["--resume"] if resume else [])


class Run:
    """One `scratchnn train` subprocess, its stdout and stderr going to files in `folder`."""

    def __init__(self, folder, name, resume=False):
        self.stdout_path = os.path.join(folder, f"{name}.out")
        self.stderr_path = os.path.join(folder, f"{name}.err")
        env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen(command(folder, resume), stdout=out, stderr=err, env=env)

    def running(self):
        return self.process.poll() is None

    def kill(self):
        """SIGKILL, as a power cut or the OOM killer would; True if it was still running."""
        was_running = self.running()
        if was_running:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)
        return was_running

    def wait(self):
        try:
            return self.process.wait(timeout=TIMEOUT)
        finally:
            if self.running():
                self.kill()

    def stdout(self):
        with open(self.stdout_path) as file:
            return file.read()

    def stderr(self):
        with open(self.stderr_path) as file:
            return file.read()

    def epochs_printed(self):
        """The last epoch the process reported finished (0 if none)."""
        done = re.findall(rf"^epoch (\d+)/{EPOCHS} ", self.stderr(), flags=re.MULTILINE)
        return int(done[-1]) if done else 0


def checkpoint_epochs(path):
    """How many epochs the checkpoint at `path` holds, from its ``__training__`` entry; None
    if there is no checkpoint yet."""
    if not os.path.exists(path):
        return None
    raw = read_npz(path)["__training__"]
    return json.loads(raw.astype(np.uint8).tobytes().decode("utf-8"))["epoch"] + 1


def holds_at_least(path, epochs):
    return (checkpoint_epochs(path) or 0) >= epochs


def has_started_training(run):
    return "Network:" in run.stdout()                  # printed just before fit


def wait_until(run, what, condition, *args):
    """Poll `condition(*args)` every few milliseconds while `run` is running."""
    deadline = time.monotonic() + TIMEOUT
    while not condition(*args):
        assert run.running(), f"the process ended before {what}:\n{run.stderr()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_SECONDS)


def weights(path):
    return sn.load(path).state_dict()


def assert_bit_identical(state, reference):
    assert state.keys() == reference.keys()
    for name in reference:
        assert state[name].dtype == reference[name].dtype
        assert state[name].tobytes() == reference[name].tobytes(), f"{name} differs from the uninterrupted run"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same command, never killed, into other paths: its final weights and seconds per epoch."""
    folder = str(tmp_path_factory.mktemp("uninterrupted"))
    run = Run(folder, "run")
    assert run.wait() == 0, run.stderr()
    seconds_per_epoch = float(re.search(r"\(([\d.e-]+) s per epoch\)", run.stdout()).group(1))
    return {"weights": weights(os.path.join(folder, "out.npz")), "seconds_per_epoch": seconds_per_epoch}


@pytest.mark.slow
def test_training_survives_sigkills_and_resumes_to_the_same_weights(tmp_path, reference, capsys, request):
    folder, rng = str(tmp_path), random.Random(0)
    checkpoint = os.path.join(folder, "ckpt.npz")
    epoch_seconds = reference["seconds_per_epoch"]
    started = time.monotonic()
    survived, lost_per_kill, kill_epochs = 0, [], []
    for kill in range(KILLS):
        run = Run(folder, f"kill{kill}", resume=kill > 0)
        try:
            start = checkpoint_epochs(checkpoint) or 0
            target = start + rng.randint(1, 3)                  # let it write k more checkpoints
            wait_until(run, f"epoch {target}", holds_at_least, checkpoint, target)
            time.sleep(rng.uniform(0.0, 1.0) * epoch_seconds)  # then kill at a random point of an epoch
            polled = checkpoint_epochs(checkpoint)
            assert run.kill(), "the kill came after the end of training"
        finally:
            run.kill()                          # a no-op unless an assertion failed above
        assert run.process.returncode == -signal.SIGKILL

        # (a) the checkpoint on disk loads, as a model and as a checkpoint that knows its epoch
        held = checkpoint_epochs(checkpoint)
        net = sn.load(checkpoint)
        assert all(np.all(np.isfinite(value)) for value in net.state_dict().values())
        assert main(["summary", checkpoint]) == 0
        assert f"checkpoint: training state after epoch {held} " in capsys.readouterr().out
        # (b) at most one epoch lost: every finished epoch but perhaps the last is in the checkpoint
        finished = run.epochs_printed()
        assert polled <= held <= finished < EPOCHS
        assert finished - held <= 1, f"kill {kill + 1}: finished {finished} epochs, checkpoint holds {held}"
        survived += 1
        lost_per_kill.append(finished - held)
        kill_epochs.append(held)

    # (c) resumed to the end, the weights are those of the run that was never killed
    final = Run(folder, "final", resume=True)
    assert final.wait() == 0, final.stderr()
    assert f"(resumed after epoch {kill_epochs[-1]})" in final.stdout()
    assert checkpoint_epochs(checkpoint) == EPOCHS
    assert_bit_identical(weights(os.path.join(folder, "out.npz")), reference["weights"])
    assert_bit_identical(weights(checkpoint), reference["weights"])

    assert survived == KILLS == 4
    assert all(lost in (0, 1) for lost in lost_per_kill)
    assert kill_epochs == sorted(kill_epochs) and 0 < kill_epochs[0] and kill_epochs[-1] < EPOCHS
    leftovers = [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    for name, value in [("kills_survived", survived), ("epochs_lost_per_kill", lost_per_kill),
                        ("checkpoint_epochs_after_kills", kill_epochs), ("seconds_per_epoch", epoch_seconds),
                        ("temporary_files_left_by_kills", len(leftovers)),
                        ("seconds", round(time.monotonic() - started, 1))]:
        request.node.user_properties.append((name, value))      # in the JUnit XML report


@pytest.mark.slow
def test_a_kill_in_the_first_epoch_leaves_no_checkpoint_and_resume_refuses(tmp_path, reference, request):
    folder = str(tmp_path)
    checkpoint, out = os.path.join(folder, "ckpt.npz"), os.path.join(folder, "out.npz")
    for attempt, delay in enumerate((0.5, 0.2, 0.0), start=1):    # a kill too late for epoch 1: retry earlier
        run = Run(folder, f"first{attempt}")
        try:
            wait_until(run, "the start of training", has_started_training, run)
            time.sleep(delay * reference["seconds_per_epoch"])
            assert run.kill(), "the kill came after the end of training"
        finally:
            run.kill()                          # a no-op unless an assertion failed above
        if not os.path.exists(checkpoint):
            break
        os.remove(checkpoint)
    assert not os.path.exists(checkpoint) and not os.path.exists(out)
    assert run.epochs_printed() == 0

    # --resume without a checkpoint: the CLI refuses, one line, exit code 2, writes nothing
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(command(folder, resume=True), capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, check=False)
    assert done.returncode == 2
    assert done.stderr == (f"scratchnn: error: --resume: no checkpoint at {checkpoint!r} "
                           "(write one with --checkpoint first)\n")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not os.path.exists(checkpoint) and not os.path.exists(out)

    # the same command without --resume starts over, and ends where an uninterrupted run ends
    again = Run(folder, "again")
    assert again.wait() == 0, again.stderr()
    assert_bit_identical(weights(out), reference["weights"])
    request.node.user_properties.append(("first_epoch_kill_attempts", attempt))
