"""Writes the first-release files in this folder; run once, at commit 2deacb6 (the first
release's code), never again: the files must stay as that release wrote them.

- first_release_model.npz: a float32 CNN with Standardize, Conv2D, BatchNorm, MaxPool2D,
  Dropout, Flatten, Dense, GELU and Softmax layers and class names, after one epoch of training
  (so BatchNorm's running statistics are not the initial ones).
- first_release_checkpoint.npz: a float64 MLP's ModelCheckpoint after 2 of 4 epochs of Adam
  with a StepLR schedule and EarlyStopping, for ``fit(..., resume_from=...)``.
- first_release_expected.npz: the inputs and what the first release predicted from each file,
  and the weights that resuming the checkpoint to 4 epochs gave.
"""

import os

import numpy as np

import scratchnn as sn

HERE = os.path.dirname(os.path.abspath(__file__))


def cnn_data(rng):
    X = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].sum(axis=(1, 2)) > 0).astype(int) + 2 * (X[:, 0, :, :4].sum(axis=(1, 2)) > 0)
    return X, y


def mlp_data(rng):
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y


def mlp(seed):
    return sn.Sequential(sn.Dense(5, 16), sn.Tanh(), sn.Dense(16, 2), seed=seed, dtype=np.float64)


def mlp_callbacks(path):
    return [sn.StepLR(step_size=1, gamma=0.5), sn.EarlyStopping("val_loss", patience=3),
            sn.ModelCheckpoint(path)]


def main():
    rng = np.random.default_rng(2026)
    X_cnn, y_cnn = cnn_data(rng)
    net = sn.Sequential(sn.Standardize.from_data(X_cnn), sn.Conv2D(1, 4, 3, padding="same"),
                        sn.BatchNorm(4), sn.ReLU(), sn.MaxPool2D(2), sn.Dropout(0.25), sn.Flatten(),
                        sn.Dense(64, 16), sn.GELU(), sn.Dense(16, 4), sn.Softmax(), seed=7)
    net.classes = ["neither", "top", "left", "both"]
    net.fit(X_cnn, y_cnn, loss="cross_entropy", optimizer=sn.Adam(1e-2), epochs=1, batch_size=16, verbose=0)
    net.save(os.path.join(HERE, "first_release_model.npz"))

    X_mlp, y_mlp = mlp_data(rng)
    checkpoint = os.path.join(HERE, "first_release_checkpoint.npz")
    mlp(11).fit(X_mlp, y_mlp, loss="cross_entropy", optimizer=sn.Adam(1e-2), epochs=2, batch_size=16,
                validation_split=0.25, metrics=["accuracy"], callbacks=mlp_callbacks(checkpoint), verbose=0)
    resumed = mlp(11)
    scratch = os.path.join(HERE, "scratch_checkpoint.npz")
    resumed.fit(X_mlp, y_mlp, loss="cross_entropy", optimizer=sn.Adam(1e-2), epochs=4, batch_size=16,
                validation_split=0.25, metrics=["accuracy"], callbacks=mlp_callbacks(scratch),
                resume_from=checkpoint, verbose=0)
    os.remove(scratch)
    np.savez(os.path.join(HERE, "first_release_expected.npz"),
             X_cnn=X_cnn, predict_cnn=net.predict(X_cnn), X_mlp=X_mlp,
             predict_checkpoint=sn.load(checkpoint).predict(X_mlp),
             resumed_flat=resumed.flat_parameter.value.copy())


if __name__ == "__main__":
    main()
