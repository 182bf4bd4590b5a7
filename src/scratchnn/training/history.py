"""`History`: what `fit` returns, one value per epoch for every logged quantity."""


class History:
    """Per-epoch record of a `fit` call, as in Keras.

    ``history.history`` maps each logged name ("loss", "val_loss", "accuracy", "learning_rate",
    ...) to a list with one float per epoch; ``history.epoch`` lists the epoch numbers (from 0).

    >>> history = net.fit(X, y, loss=sn.MSE(), optimizer=sn.SGD(0.1), epochs=3, verbose=0)
    >>> len(history.history["loss"])
    3
    """

    def __init__(self, history=None, epoch=None):
        self.history = {name: list(values) for name, values in (history or {}).items()}
        self.epoch = list(epoch or [])

    def append(self, epoch, logs):
        """Record the logs (name -> float) of one finished epoch."""
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, logged=[{', '.join(self.history)}])"
