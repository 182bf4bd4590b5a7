"""Training: the one loop (`loop`), its strategies, callbacks, checkpoints and data-parallel threads."""

from .callbacks import (Callback, CosineAnnealingLR, EarlyStopping, ExponentialLR, LearningRateSchedule,
                        ModelCheckpoint, ProgressLogger, ReduceLROnPlateau, StepLR)
from .gradient_stats import GradientStats
from .history import History
from .loop import CallbackList, DivergedError, Training, evaluate, fit, run_epoch
from .strategy import Steps, Strategy

__all__ = [
    "Callback", "CallbackList", "CosineAnnealingLR", "DivergedError", "EarlyStopping", "ExponentialLR",
    "GradientStats", "History", "LearningRateSchedule", "ModelCheckpoint", "ProgressLogger", "ReduceLROnPlateau",
    "StepLR", "Steps", "Strategy", "Training", "evaluate", "fit", "run_epoch",
]
