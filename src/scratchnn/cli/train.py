"""``scratchnn train DATA``: build a classifier (or, for a CSV file's numeric target, a
regressor), train it, report the test accuracy (or R² and MAE), save it.

    scratchnn train fashion-mnist --hidden 256,128 --epochs 20 --out model.npz --plots runs/fmnist/
    scratchnn train data.csv --target species --hidden 16 --out iris.npz
    scratchnn train spirals --hidden 16,16 --activation tanh --plots runs/spirals/

Everything on the command line is checked, and the data loaded, before the first epoch.
"""

import os
import sys
import time

from ..training.callbacks import (CosineAnnealingLR, EarlyStopping, ExponentialLR, ModelCheckpoint, ReduceLROnPlateau,
                        StepLR)
from ..training.gradient_stats import GradientStats
from .data import check_data_options, label_column_hint, load_data
from .models import build_network, describe_network
from .plots import INFERENCE_BATCH, WeightSnapshots, check_plotting, write_training_plots
from ..losses import MSE, CrossEntropy
from ..metrics import regression_scores
from ..optim import OPTIMIZERS
from ..training.parallel import automatic_threads, check_threads, threads_worth_using
from ..training import DivergedError
from ..training.distributed import check_distributed

# Defaults that depend on the data: images are many and large, toy sets and tables small
# (a few hundred rows need more epochs, and a larger step, to get anywhere).
DEFAULTS = {"images": {"epochs": 10, "batch_size": 128, "learning_rate": None},   # the optimizer's
            "toy": {"epochs": 300, "batch_size": 32, "learning_rate": 0.01},
            "csv": {"epochs": 300, "batch_size": 32, "learning_rate": 0.01}}
# The recipes the flags default to where nothing is given, by data and model (measured in
# docs/benchmarks.md): for images, the MLP 784-512-256-10 with dropout 0.2 over 30
# cosine-annealed epochs (10% of the rows held out), the CNN over 20 on every training row
# (--validation-split holds some out; --early-stopping alone holds out 10%, which it watches)
# with Adam at 3e-3 (other optimizers keep their own default rate); both with label smoothing 0.1.
RECIPES = {("images", "mlp"): {"epochs": 30, "hidden": [512, 256], "dropout": 0.2, "schedule": "cosine",
                               "label_smoothing": 0.1},
           ("images", "cnn"): {"epochs": 20, "schedule": "cosine", "label_smoothing": 0.1,
                               "validation_split": 0.0, "adam_learning_rate": 3e-3}}
PLAIN = {"hidden": [64], "dropout": 0.0, "schedule": "none", "label_smoothing": 0.0, "validation_split": 0.1}
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau")
SCHEDULE_HELP = ("learning-rate schedule: step (divide by 10 after each third of the epochs), "
                 "exponential (decay to 1/100 by the last epoch), cosine (cosine annealing to 0 over "
                 "the epochs), plateau (divide by 10 when the validation loss, or the training loss "
                 "without validation, has not improved for 3 epochs); default cosine for images, "
                 "none otherwise")


def run_train(args):
    if getattr(args, "distributed", False):          # under mpirun: every rank trains, rank 0 reports
        return _train_on_every_rank(args)
    return _train(args)


def _train_on_every_rank(args):
    """--distributed: this rank's share of the run; rank 0 alone prints and writes --out and
    --plots (every rank reads --resume's checkpoint); an error on one rank ends them all."""
    if args.threads not in ("auto", 1):
        raise ValueError(f"--threads {args.threads} cannot be combined with --distributed: run one rank "
                         "per core instead (mpirun -n CORES)")
    try:
        group = check_distributed("mpi", False, 1)
    except ImportError as error:
        raise ValueError(f"--distributed: {error}") from None
    args.threads = 1
    if group.rank != 0:
        args.out = args.plots = None
    with group.errors_end_every_rank(agreed=(DivergedError,), show_traceback=False), group.quiet_unless_first():
        return _train(args, distributed="mpi")


def _train(args, distributed=None):
    task = getattr(args, "task", "auto")
    kind = check_data_options(args.data, args.target, args.samples, args.noise, task)
    _apply_recipe(args, kind)
    _check_options(args)
    epochs = args.epochs or DEFAULTS[kind]["epochs"]
    batch_size = args.batch_size or DEFAULTS[kind]["batch_size"]
    learning_rate = args.learning_rate or DEFAULTS[kind]["learning_rate"]

    hint = label_column_hint(args.data, args.target) if kind == "csv" else None
    try:
        data = load_data(args.data, args.target, args.seed, args.samples, args.noise, args.limit, task=task)
    except ValueError as error:
        if hint is None:
            raise
        raise ValueError(f"{error} (note: {hint})") from None
    if hint is not None:
        print(f"Note: {hint}", file=sys.stderr)
    if data.note is not None:
        print(f"Note: training a regressor (--task regression), since the target column {data.target_name!r} "
              f"looks continuous: {data.note}", file=sys.stderr)
    regression = data.task == "regression"
    if regression and args.label_smoothing:
        raise ValueError(f"--label-smoothing {args.label_smoothing:g} applies to classification, "
                         "but this run trains a regressor (pass --task classification for a classifier)")
    if args.plots is not None:
        check_plotting(args.plots, animation=data.is_plane)
    if args.threads != "auto":
        try:
            check_threads(args.threads)              # threadpoolctl missing: refused before any work
        except ImportError as error:
            raise ValueError(f"--threads {args.threads}: {error}") from None
    net = build_network(args, data)
    threads = _automatic_threads(net, batch_size) if args.threads == "auto" else args.threads
    optimizer = OPTIMIZERS[args.optimizer]() if learning_rate is None else OPTIMIZERS[args.optimizer](learning_rate)
    callbacks, early_stopping = _callbacks(args, epochs)
    snapshots = WeightSnapshots(epochs, keep=args.plots is not None and data.is_plane,
                                keep_last=args.out is not None or args.plots is not None)
    print(data.describe())
    print(f"Network: {describe_network(net)}; {optimizer!r}, batch size {batch_size}"
          + (f", {threads} threads" if threads > 1 else ""))

    started = time.perf_counter()
    try:
        loss = MSE() if regression else CrossEntropy(label_smoothing=args.label_smoothing)
        history = net.fit(data.X_train, data.y_train, loss=loss, optimizer=optimizer,
                          epochs=epochs, batch_size=batch_size, verbose=args.verbose,
                          validation_split=args.validation_split, metrics=["mae" if regression else "accuracy"],
                          callbacks=callbacks + [snapshots],
                          resume_from=args.checkpoint if args.resume else None, threads=threads,
                          distributed=distributed)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_keep_interrupted(args, net, data, snapshots)) from None
    seconds = time.perf_counter() - started

    _report_training(snapshots.epochs_run, len(history.epoch), epochs, seconds, early_stopping)
    if regression:
        predicted = net.predict(data.X_test, batch_size=INFERENCE_BATCH)
        print(describe_regression(regression_scores(data.y_test, predicted), len(data.y_test)))
    else:
        results = net.evaluate(data.X_test, data.y_test, loss=CrossEntropy(), metrics=["accuracy"],
                               batch_size=INFERENCE_BATCH)
        correct = round(results["accuracy"] * len(data.X_test))
        print(f"Test accuracy: {results['accuracy']:.4f} ({correct:,} of {len(data.X_test):,} correct), "
              f"test loss {results['loss']:.4f}")
    if args.out is not None:
        net.save(args.out)
        print(f"Saved the model to {args.out}")
    else:
        print("The model was not saved (pass --out PATH to keep it).")
    if args.plots is not None:
        paths = write_training_plots(args.plots, net, data, history, snapshots)
        print(f"Plots: {', '.join(paths)}" + (" (a regressor has no confusion matrix, decision boundary "
                                              "or misclassified samples)" if regression else ""))
    return 0


def describe_regression(scores, rows):
    """"Test R²: 0.9312, MAE 1.234, MSE 2.345 (60 test rows)" from `metrics.regression_scores`."""
    return (f"Test R²: {scores['r2']:.4f}, MAE {scores['mae']:.4g}, MSE {scores['mse']:.4g} "
            f"({rows:,} test rows)")


def _automatic_threads(net, batch_size):
    """--threads auto; a note on stderr when it would split batches but threadpoolctl is missing."""
    threads, wanted = automatic_threads(net, batch_size), threads_worth_using(net, batch_size)
    if threads < wanted:
        print(f"Note: --threads auto runs on 1 thread, not {wanted}, because threadpoolctl "
              "is not installed (pip install threadpoolctl)", file=sys.stderr)
    return threads


def interrupted_path(out, epoch):
    """Where an interrupted run saves the weights of its last finished epoch, beside --out:
    model.npz -> model.interrupted-epoch3.npz."""
    root, extension = os.path.splitext(out)
    return f"{root}.interrupted-epoch{epoch}{extension}"


def _keep_interrupted(args, net, data, snapshots):
    """After Ctrl-C: save the weights of the last epoch that finished (never those of a
    half-finished epoch) beside --out, and the plots of the finished epochs into --plots;
    return what was kept, in words (empty when nothing was)."""
    kept = []
    if snapshots.last is None and (args.out is not None or args.plots is not None):
        kept.append("no epoch had finished, so nothing was saved")
    if snapshots.last is not None:
        epoch, state = snapshots.last
        net.load_state_dict(state)
        if args.out is not None:
            path = interrupted_path(args.out, epoch)
            net.save(path)
            kept.append(f"the weights of epoch {epoch}, the last finished, are in {path}")
        if args.plots is not None:
            write_training_plots(args.plots, net, data, snapshots.history, snapshots)
            kept.append(f"the plots of epochs 1-{epoch} are in {args.plots}")
    if args.checkpoint is not None and os.path.isfile(args.checkpoint):
        kept.append(f"{args.checkpoint} holds the last finished epoch; run the same command "
                    "with --resume to go on from there")
    return "; ".join(kept)


def _apply_recipe(args, kind):
    """Fill the flags left unset (None) from the recipe for this data and model (`RECIPES`),
    else from the plain defaults (`PLAIN`, and the epochs of `DEFAULTS`)."""
    model = "cnn" if getattr(args, "layers", None) is not None else args.model
    recipe = RECIPES.get((kind, model), {})
    if args.early_stopping is not None and args.validation_split is None:
        args.validation_split = PLAIN["validation_split"]    # early stopping watches a validation set
    for name, plain in (*PLAIN.items(), ("epochs", None)):
        if getattr(args, name, None) is None:
            setattr(args, name, recipe.get(name, plain))
    if args.learning_rate is None and getattr(args, "optimizer", None) == "adam":
        args.learning_rate = recipe.get("adam_learning_rate")


def _check_options(args):
    """Combinations of flags that cannot work, refused before any data is loaded."""
    if args.resume and args.checkpoint is None:
        raise ValueError("--resume continues from the file given by --checkpoint PATH; pass it too")
    if args.resume and not os.path.isfile(args.checkpoint):
        raise ValueError(f"--resume: no checkpoint at {args.checkpoint!r} (write one with --checkpoint first)")
    if args.early_stopping is not None and not args.validation_split:
        raise ValueError("--early-stopping watches the validation loss: it needs --validation-split > 0")
    if args.checkpoint and args.out and os.path.abspath(args.checkpoint) == os.path.abspath(args.out):
        raise ValueError("--checkpoint and --out must be different files (the final model has no training state)")
    for flag, path in (("--out", args.out), ("--checkpoint", args.checkpoint)):
        folder = None if path is None else os.path.dirname(os.path.abspath(path))
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"{flag} {path!r}: the folder {folder!r} does not exist")
        if path is not None and os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a folder; give a file name such as model.npz")


def _callbacks(args, epochs):
    """The callbacks the flags ask for (the same flags give the same list: --resume needs that)."""
    callbacks, early_stopping = [], None
    if args.early_stopping is not None:
        early_stopping = EarlyStopping("val_loss", patience=args.early_stopping, restore_best_weights=True)
        callbacks.append(early_stopping)
    if args.schedule == "step":
        callbacks.append(StepLR(step_size=max(1, epochs // 3), gamma=0.1))
    elif args.schedule == "exponential":
        callbacks.append(ExponentialLR(gamma=0.01 ** (1 / max(1, epochs - 1))))   # lr·γ^(epochs-1) = lr/100
    elif args.schedule == "cosine":
        callbacks.append(CosineAnnealingLR(T_max=epochs))
    elif args.schedule == "plateau":
        monitor = "val_loss" if args.validation_split else "loss"
        callbacks.append(ReduceLROnPlateau(monitor, factor=0.1, patience=3))
    if args.plots is not None:          # gradient_stats.png; not checkpointed, so --plots may change on --resume
        callbacks.append(GradientStats())
    if args.checkpoint is not None:
        callbacks.append(ModelCheckpoint(args.checkpoint))
    return callbacks, early_stopping


def _report_training(epochs_run, epochs_done, epochs, seconds, early_stopping):
    if epochs_run == 0:
        print(f"Nothing to train: the checkpoint already holds {epochs_done} of {_epochs(epochs)}.")
    else:
        resumed = f" (resumed after epoch {epochs_done - epochs_run})" if epochs_done > epochs_run else ""
        print(f"Trained {_epochs(epochs_run)}{resumed} in {seconds:.1f} s ({seconds / epochs_run:.3g} s per epoch)")
    if early_stopping is None or early_stopping.best_epoch is None:
        return
    if early_stopping.stopped_epoch is not None:
        print(f"Early stopping: val_loss did not improve for {_epochs(early_stopping.patience)}; "
              f"stopped after epoch {early_stopping.stopped_epoch + 1} of {epochs}")
    best = early_stopping.best_epoch + 1
    if best == epochs_done:
        return
    if early_stopping.best_state is not None:
        print(f"Kept the weights of epoch {best}, the best (val_loss {early_stopping.best:.4f})")
    else:       # EarlyStopping's checkpoint state holds no weights: the best epoch's are lost
        print(f"Note: the best epoch ({best}, val_loss {early_stopping.best:.4f}) came before --resume and "
              "the checkpoint does not hold its weights: the model keeps the last epoch's", file=sys.stderr)


def _epochs(count):
    """"1 epoch", "3 epochs"."""
    return f"{count} epoch{'' if count == 1 else 's'}"
