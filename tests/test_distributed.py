"""Data-parallel training over MPI (`scratchnn.training.distributed`), run for real: each test
launches ``mpirun -n 2`` or ``-n 3`` (``--oversubscribe``: this machine has 2 cores) on the
scripts of tests/mpi_scripts and compares what every rank holds with one process's training.

scripts/test.sh installs Open MPI and mpi4py; without them these tests are skipped. The
subprocess timeout is a guard against a hang, not a measure of speed."""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli.main import main as cli_main
from scratchnn.training.distributed import check_distributed
from scratchnn.training.strategy import Strategy

SCRIPTS = pathlib.Path(__file__).resolve().parent / "mpi_scripts"
HANG_GUARD = 600          # seconds: a run that takes this long has hung
MPIRUN = shutil.which("mpirun")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(MPIRUN is None or not HAVE_MPI4PY,
                               reason="needs Open MPI's mpirun and mpi4py (scripts/test.sh installs both: "
                                      "apt-get install openmpi-bin libopenmpi-dev; pip install scratchnn[mpi])")


def _load_script():
    spec = importlib.util.spec_from_file_location("fit_mlp", SCRIPTS / "fit_mlp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fit_mlp = _load_script()


def mpirun(ranks, arguments, hang_guard=HANG_GUARD):
    """Run `arguments` under ``mpirun -n ranks`` as root is allowed to; the completed process."""
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    command = [MPIRUN, "-n", str(ranks), "--oversubscribe", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=hang_guard)


def fit_on_ranks(ranks, folder, **options):
    """fit_mlp.py under mpirun: every rank's arrays, as dicts, in rank order."""
    folder.mkdir(exist_ok=True)
    run = mpirun(ranks, [sys.executable, str(SCRIPTS / "fit_mlp.py"), str(folder), json.dumps(options)])
    assert run.returncode == 0, run.stdout + run.stderr
    return [dict(np.load(folder / f"rank{rank}.npz")) for rank in range(ranks)], run


def fit_here(folder, **options):
    """fit_mlp.py's training in this process (no MPI): its arrays."""
    folder.mkdir(exist_ok=True)
    fit_mlp.main(str(folder), dict(options))
    return dict(np.load(folder / "rank0.npz"))


def assert_every_rank_the_same(results):
    for other in results[1:]:
        assert other.keys() == results[0].keys()
        for name in results[0]:
            np.testing.assert_array_equal(other[name], results[0][name], err_msg=name)   # bit for bit


def assert_close(got, expected, tolerance=1e-10):
    assert got.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=tolerance, err_msg=name)


# --- checked before any work, no MPI needed ----------------------------------------------------

def test_bad_distributed_arguments_are_refused_before_any_work():
    with pytest.raises(ValueError, match="distributed must be 'mpi' or None, got 'gloo'"):
        check_distributed("gloo", False, 1)
    with pytest.raises(ValueError, match="shard=True .* needs distributed='mpi'"):
        check_distributed(None, True, 1)
    with pytest.raises(TypeError, match="shard must be True or False, got 'yes'"):
        check_distributed("mpi", "yes", 1)
    with pytest.raises(ValueError, match="threads=2 cannot be combined with distributed='mpi'"):
        check_distributed("mpi", False, 2)
    assert check_distributed(None, False, 2) is None
    net = fit_mlp.network()
    X, y = fit_mlp.data(20)
    with pytest.raises(ValueError, match="threads=2 cannot be combined"):
        net.fit(X, y, loss="cross_entropy", optimizer="sgd", threads=2, distributed="mpi", verbose=0)


def test_without_mpi4py_the_error_names_the_extra_and_mpirun(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)            # import mpi4py now fails
    with pytest.raises(ImportError, match=r"pip install scratchnn\[mpi\].*mpirun -n 4"):
        check_distributed("mpi", False, "auto")


def test_the_default_strategy_hooks_are_one_process_batching():
    strategy = Strategy(fit_mlp.network())
    assert strategy.batch_starts(10, 4) == range(0, 10, 4)
    X, y = np.zeros((3, 2)), np.zeros(3)
    assert strategy.own_rows(X, y) == (X, y)
    assert strategy.combine({"loss": 6.0, "accuracy": 3.0}, 4) == {"loss": 1.5, "accuracy": 0.75}


# --- under mpirun ------------------------------------------------------------------------------

TRAINING = {"epochs": 3, "batch_size": 16, "verbose": 0, "validation_split": 0.2}   # 42 rows: 16, 16, 10


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3])
def test_replicated_data_equals_one_process_and_every_rank_holds_the_same_bits(tmp_path, ranks):
    """MLP with BatchNorm, float64, shuffled, a last batch that does not divide evenly, each
    rank built from another seed (rank 0's weights are broadcast): the weights, running
    statistics and history of one process, to 1e-10 (measured: about 1e-15)."""
    expected = fit_here(tmp_path / "one", **TRAINING)
    results, _ = fit_on_ranks(ranks, tmp_path / "mpi", distributed="mpi", seed_per_rank=7, **TRAINING)
    assert_every_rank_the_same(results)
    assert_close(results[0], expected)


@needs_mpi
@pytest.mark.slow
def test_one_rank_without_mpirun_is_one_process_training(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPTS / "fit_mlp.py"), str(tmp_path),
                          json.dumps({"distributed": "mpi", **TRAINING})],
                         capture_output=True, text=True, timeout=HANG_GUARD)
    assert run.returncode == 0, run.stderr
    got, expected = dict(np.load(tmp_path / "rank0.npz")), fit_here(tmp_path / "one", **TRAINING)
    assert_close(got, expected, tolerance=0)


def union_batches_fit(shards, batch_size, epochs):
    """The sharded run's definition, written out: each step, the union of every shard's next
    batch (in rank order; a shard that has run out adds nothing), one SGD step on it."""
    X, y = fit_mlp.data(sum(shards))
    bounds = np.cumsum([0, *shards])
    parts = [(X[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    sizes = [min(batch_size, rows) for rows in shards]
    steps = max(-(-rows // size) for rows, size in zip(shards, sizes))
    net, loss, optimizer = fit_mlp.network(), sn.CrossEntropy(), fit_mlp.optimizer("sgd")
    for _ in range(epochs):
        for step in range(steps):
            X_step = np.concatenate([Xp[step * size:(step + 1) * size] for (Xp, _), size in zip(parts, sizes)])
            y_step = np.concatenate([yp[step * size:(step + 1) * size] for (_, yp), size in zip(parts, sizes)])
            outputs = net.forward(X_step, training=True)
            loss.forward(outputs, y_step)
            net.zero_grad()
            net.backward(loss.backward())
            optimizer.step([net.flat_parameter])
    return net.state_dict()


@needs_mpi
@pytest.mark.slow
def test_unequal_shards_finish_and_equal_the_union_of_the_ranks_batches(tmp_path):
    """Shards of 26, 17 and 6 rows in batches of 8: 4 steps, of 8+8+6, 8+8, 8+1 and 2 rows."""
    shards = [26, 17, 6]
    results, _ = fit_on_ranks(3, tmp_path / "mpi", distributed="mpi", shard=True, shards=shards, rows=49,
                              shuffle=False, epochs=3, batch_size=8, verbose=0)
    assert_every_rank_the_same(results)
    expected = union_batches_fit(shards, batch_size=8, epochs=3)
    assert_close({name: results[0][name] for name in expected}, expected)
    assert len(results[0]["history.loss"]) == 3 and np.all(np.isfinite(results[0]["history.loss"]))


@needs_mpi
@pytest.mark.slow
def test_a_rank_that_raises_ends_every_rank_with_its_error(tmp_path):
    """Rank 0 waits in the step's Allreduce for rank 1, which has raised: MPI_Abort ends it
    (measured: the whole mpirun, start-up included, in about 3 s; a hang would last forever,
    so a guard of 120 s tells 'within seconds' from a hang even on a loaded machine)."""
    run = mpirun(2, [sys.executable, str(SCRIPTS / "fit_mlp.py"), str(tmp_path),
                     json.dumps({"distributed": "mpi", "fail_on_rank": 1, "epochs": 5, "verbose": 0})],
                 hang_guard=120)
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "rank 1 of 2 failed" in output and "RuntimeError: this rank was told to fail" in output, output
    assert not list(tmp_path.glob("rank*.npz"))               # no rank went on to finish


@needs_mpi
@pytest.mark.slow
def test_rank_zero_alone_prints_and_writes_and_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    checkpoint = str(tmp_path / "checkpoint{rank}.npz")
    first, run = fit_on_ranks(2, tmp_path / "first", distributed="mpi", checkpoint=checkpoint,
                              marker_dir=str(tmp_path), **{**TRAINING, "epochs": 2, "verbose": 2})
    assert (tmp_path / "checkpoint0.npz").exists() and not (tmp_path / "checkpoint1.npz").exists()
    assert (tmp_path / "written-by-rank0").exists() and not (tmp_path / "written-by-rank1").exists()
    assert run.stderr.count("epoch 1/2") == 1, run.stderr               # one progress display
    resumed, _ = fit_on_ranks(2, tmp_path / "resumed", distributed="mpi", checkpoint=checkpoint, resume=True,
                              marker_dir=str(tmp_path), **TRAINING)      # the same callbacks, as resuming needs
    assert_every_rank_the_same(resumed)
    assert_close(resumed[0], fit_here(tmp_path / "one", **TRAINING))


@needs_mpi
@pytest.mark.slow
def test_resuming_shuffled_unequal_shards_equals_an_uninterrupted_run(tmp_path):
    """Shards shuffle with the model's generator, which stays in step on every rank (and a
    checkpoint holds rank 0's): resumed, every rank draws the same orders as uninterrupted."""
    options = {"distributed": "mpi", "shard": True, "shards": [31, 20], "rows": 51, "batch_size": 8,
               "validation_split": 0.2, "verbose": 0}
    whole, _ = fit_on_ranks(2, tmp_path / "whole", epochs=4, **options)
    checkpoint = str(tmp_path / "checkpoint{rank}.npz")
    fit_on_ranks(2, tmp_path / "first", epochs=2, checkpoint=checkpoint, **options)
    resumed, _ = fit_on_ranks(2, tmp_path / "resumed", epochs=4, checkpoint=checkpoint, resume=True, **options)
    assert_every_rank_the_same(resumed)
    assert_close(resumed[0], whole[0], tolerance=0)


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3])
def test_train_distributed_on_the_command_line_equals_one_process(tmp_path, capsys, ranks):
    """Every rank is given its own --out and --plots (the rank's number in the paths, through
    Open MPI's OMPI_COMM_WORLD_RANK), so that what each rank writes can be told apart."""
    arguments = ["train", "spirals", "--samples", "300", "--layers", "dense:16,bn,relu", "--dtype", "float64",
                 "--optimizer", "sgd", "--learning-rate", "0.1", "--epochs", "3", "--batch-size", "32",
                 "--verbose", "2"]
    assert cli_main([*arguments, "--out", str(tmp_path / "one.npz")]) == 0
    capsys.readouterr()
    per_rank = f'--out "{tmp_path}/mpi$OMPI_COMM_WORLD_RANK.npz" --plots "{tmp_path}/plots$OMPI_COMM_WORLD_RANK"'
    run = mpirun(ranks, ["sh", "-c", f"exec {sys.executable} -m scratchnn {' '.join(arguments)} --distributed {per_rank}"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("Test accuracy") == 1 and run.stderr.count("epoch 3/3") == 1   # rank 0 alone
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mpi0.npz", "one.npz", "plots0"]  # rank 0 alone
    assert len(list((tmp_path / "plots0").glob("*.png"))) >= 3
    one, mpi = sn.load(str(tmp_path / "one.npz")), sn.load(str(tmp_path / "mpi0.npz"))
    assert_close(mpi.state_dict(), one.state_dict())
