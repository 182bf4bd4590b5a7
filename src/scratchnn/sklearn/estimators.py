"""scikit-learn estimators trained by scratchnn: `MLPClassifier` and `MLPRegressor`.

They take the parameters of ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``, with
the same meaning, and work wherever a scikit-learn estimator does: `Pipeline`, `GridSearchCV`
(also on a Dask cluster through joblib), `cross_val_score`, pickling. The trained network is
``network_``, a `scratchnn.Sequential` to save (``network_.save("model.npz")``) or plot.

>>> from scratchnn.sklearn import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X, y)
>>> clf.predict_proba(X[:2]), clf.score(X, y)

Only this module and `base` import scikit-learn (and `steps`, scipy, its dependency):
``import scratchnn`` does not need it. The parameters, their checks and the epochs with
scikit-learn's stopping rule are in `base`; the network and the optimizer in `network`; each
batch's loss and gradient in `steps` (a strategy of `scratchnn.training.run_epoch`, the one
batch loop); pickling in `state`. See docs/sklearn.md for what differs from scikit-learn's
classes.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from .base import _BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier with scikit-learn's API, trained by scratchnn.

    Softmax outputs and cross-entropy for several classes; one sigmoid output for two
    (``predict_proba`` still gives both columns); one sigmoid per label for a multilabel 0/1
    indicator y. Labels may be of any type scikit-learn accepts; ``classes_`` holds them sorted.

    Parameters are scikit-learn's (see ``sklearn.neural_network.MLPClassifier``), plus
    ``activation`` "gelu", "elu", "leaky_relu"; ``solver`` "adamw" (``alpha`` is then its
    decoupled weight decay), "rmsprop", "adagrad"; ``dropout`` (a rate after each hidden
    activation) and ``dtype`` ("float32" or "float64"). ``solver="lbfgs"`` is not supported.

    >>> clf = MLPClassifier((32,), solver="adamw", dropout=0.1, max_iter=100, random_state=0)
    >>> clf.fit(X_train, y_train).score(X_test, y_test)
    """

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), going on from the current weights and optimizer state.
        ``classes`` (every label that will ever appear) is required on the first call."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer = LabelBinarizer().fit(y)
            else:
                self._label_binarizer = LabelBinarizer().fit(classes)
            self._check_two_classes(self._label_binarizer.classes_)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={np.unique(classes)!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._check_X_y(X, y, reset)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self._check_two_classes(self._label_binarizer.classes_)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental and set(classes) != set(self.classes_):
                raise ValueError("warm_start can only be used where `y` has the same classes as in "
                                 f"the previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            if len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        indicator = self._label_binarizer.transform(y)
        if self._label_binarizer.y_type_ == "multiclass":
            targets = indicator.argmax(axis=1)               # class indices, for CrossEntropy
        else:
            targets = indicator.astype(X.dtype)              # 0/1 columns for the sigmoid outputs
        return X, y, targets

    @staticmethod
    def _check_two_classes(classes):
        if len(classes) < 2:
            raise ValueError(f"MLPClassifier needs at least 2 classes to train, got 1 class: {classes!r}")

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _class_names(self):
        """classes_ as the model file stores them: ints and strings as they are, else text."""
        names = self.classes_.tolist()
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return None
        return [name if isinstance(name, (str, int)) else str(name) for name in names]

    def _stratify(self, y):
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return False
        return np.min(np.unique(y, return_counts=True)[1]) >= 2

    def _indices(self, outputs):
        if self.out_activation_ == "softmax":
            return outputs.argmax(axis=1)
        return (outputs > 0.5).astype(int)                   # (n, 1) binary, or (n, k) multilabel

    def _score_outputs(self, outputs, y):
        return float(accuracy_score(y, self._labels(outputs)))

    def _labels(self, outputs):
        indices = self._indices(outputs)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return indices
        return self.classes_[indices.reshape(-1)]

    def predict(self, X):
        """The predicted label of each row (for multilabel y, a 0/1 row per sample)."""
        return self._labels(self._outputs(X))

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``
        (float64; the network computes in ``dtype``)."""
        outputs = self._outputs(X).astype(np.float64)
        if self.n_outputs_ == 1:
            return np.hstack([1 - outputs, outputs])      # P(classes_[0]), P(classes_[1])
        return outputs

    def predict_log_proba(self, X):
        """log of `predict_proba` (−inf where a probability is 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor with scikit-learn's API, trained by scratchnn.

    Linear outputs and the squared error (scikit-learn's ½ mean (p − y)²); y may have several
    columns. Parameters as `MLPClassifier`.

    >>> reg = MLPRegressor((64, 64), max_iter=300, random_state=0).fit(X_train, y_train)
    >>> reg.score(X_test, y_test)                       # R²
    """

    def partial_fit(self, X, y):
        """One epoch over (X, y), going on from the current weights and optimizer state."""
        return self._fit(X, y, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._check_X_y(X, y, reset, y_numeric=True)
        targets = y.reshape(len(y), -1).astype(X.dtype)
        return X, y, targets

    def _output_activation(self):
        return "identity"

    def _class_names(self):
        return None

    def _stratify(self, y):
        return False

    def _score_outputs(self, outputs, y):
        return float(r2_score(y, outputs.reshape(y.shape)))

    def predict(self, X):
        """Predicted values: (n_samples,) for one output, (n_samples, n_outputs) for several."""
        outputs = self._outputs(X).astype(np.float64)   # float64 whatever dtype, as scikit-learn's
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
