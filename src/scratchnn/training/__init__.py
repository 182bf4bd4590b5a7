"""Training: the one loop (`loop`), its callbacks, checkpoints and data-parallel threads."""

from .callbacks import (Callback, CosineAnnealingLR, EarlyStopping, ExponentialLR, LearningRateSchedule,
                        ModelCheckpoint, ProgressLogger, ReduceLROnPlateau, StepLR)
from .history import History
from .loop import CallbackList, DivergedError, Steps, Training, evaluate, fit, run_epoch

__all__ = [
    "Callback", "CallbackList", "CosineAnnealingLR", "DivergedError", "EarlyStopping", "ExponentialLR", "History",
    "LearningRateSchedule", "ModelCheckpoint", "ProgressLogger", "ReduceLROnPlateau", "StepLR", "Steps",
    "Training", "evaluate", "fit", "run_epoch",
]
