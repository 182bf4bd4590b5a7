"""Shared test helpers."""

import warnings

import numpy as np


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
