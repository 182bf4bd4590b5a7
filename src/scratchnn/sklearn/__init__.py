"""scikit-learn estimators trained by scratchnn: `MLPClassifier`, `MLPRegressor`."""

from .estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
