"""What `scratchnn.sklearn`'s MLPClassifier and MLPRegressor share: scikit-learn's parameters,
their validation, the epoch loop with scikit-learn's stopping rule, the fitted attributes
and pickling.

The loop is ``_fit_stochastic`` of scikit-learn's ``BaseMultilayerPerceptron``, step by step:
each epoch is one `scratchnn.training.run_epoch` over the data (the one batch loop, with the
strategy `steps.ScikitLearnSteps`), appends ``loss_`` to ``loss_curve_``, and counts the
epochs in a row that failed to improve the loss (or, with ``early_stopping``, the validation
score) by ``tol``; more than ``n_iter_no_change`` of them stop training, or with
``solver="sgd", learning_rate="adaptive"`` divide the learning rate by 5.
"""

import contextlib
import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

try:
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as error:          # validate_data is scikit-learn >= 1.6
    raise ImportError("scratchnn.sklearn needs scikit-learn >= 1.6: pip install -U scikit-learn") from error

from . import network as nets
from .._checks import describe, number_in_range, one_of, positive_int, positive_number
from ..datasets import train_test_split
from ..nn.core import Dense
from ..training.loop import DivergedError, Training, run_epoch
from .state import network_from_state, network_to_state
from .steps import ScikitLearnSteps


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, validation, the epoch loop
    with scikit-learn's stopping rule, and the fitted attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 dropout=0.0, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.dtype = dtype

    # --- fitted attributes that live in the network -------------------------------------------

    @property
    def coefs_(self):
        """Weight matrices, layer by layer: coefs_[i] is (units in layer i, units in layer i + 1)."""
        check_is_fitted(self, "network_")
        return [layer.weight.value for layer in self.network_.layers if isinstance(layer, Dense)]

    @property
    def intercepts_(self):
        """Bias vectors, layer by layer: intercepts_[i] is (units in layer i + 1,)."""
        check_is_fitted(self, "network_")
        return [layer.bias.value for layer in self.network_.layers if isinstance(layer, Dense)]

    # --- training ----------------------------------------------------------------------------

    def fit(self, X, y):
        """Train on (X, y) for up to ``max_iter`` epochs; return self.

        X is (n_samples, n_features), dense or sparse; y is (n_samples,) or, for the regressor,
        (n_samples, n_outputs); for the classifier, labels of any type, or a 0/1 indicator
        matrix (multilabel). With ``warm_start=True`` a fitted estimator goes on from its weights.
        """
        return self._fit(X, y, incremental=False)

    def _fit(self, X, y, incremental):
        settings = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y, targets = self._validate_input(X, y, incremental, reset=first_pass)
        n_outputs = targets.shape[1] if targets.ndim == 2 else len(self.classes_)
        if first_pass:
            self._initialize(X.shape[1], n_outputs, settings)
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs, but {type(self).__name__} was fitted "
                             f"with {self.n_outputs_}; refit with warm_start=False")
        elif isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            # scikit-learn makes RandomState(random_state) afresh on every fit and partial_fit call
            self.network_.rng.seed(self.random_state)
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = nets.make_optimizer(
                self.solver, self.learning_rate_init, self.momentum, self.nesterovs_momentum,
                self.beta_1, self.beta_2, self.epsilon, self.alpha)
        self._run_epochs(X, y, targets, incremental)
        return self

    def _check_params(self):
        """Validate every parameter before any work; return the derived settings."""
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        if isinstance(sizes, str) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, got {describe(sizes)}")
        sizes = [positive_int("each hidden layer size", size) for size in sizes]
        one_of("activation", self.activation, tuple(nets.ACTIVATIONS))
        if self.solver == "lbfgs":
            raise ValueError("solver='lbfgs' is not supported: scratchnn trains by mini-batch "
                             f"gradient descent; use one of {', '.join(map(repr, nets.SOLVERS))} "
                             "(or sklearn.neural_network for L-BFGS)")
        one_of("solver", self.solver, nets.SOLVERS)
        positive_number("alpha", self.alpha, allow_zero=True)
        if self.batch_size != "auto":
            positive_int("batch_size", self.batch_size)
        one_of("learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
        positive_number("learning_rate_init", self.learning_rate_init)
        positive_number("power_t", self.power_t, allow_zero=True)
        positive_int("max_iter", self.max_iter)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {describe(getattr(self, name))}")
        positive_number("tol", self.tol, allow_zero=True)
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)) or self.verbose < 0:
            raise ValueError(f"verbose must be True, False or an int >= 0, got {describe(self.verbose)}")
        number_in_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        number_in_range("validation_fraction", self.validation_fraction, 0.0, 1.0,
                        low_open=self.early_stopping, high_open=True)
        number_in_range("beta_1", self.beta_1, 0.0, 1.0, high_open=True)
        number_in_range("beta_2", self.beta_2, 0.0, 1.0, high_open=True)
        positive_number("epsilon", self.epsilon)
        if self.n_iter_no_change != np.inf:
            positive_int("n_iter_no_change", self.n_iter_no_change)
        number_in_range("dropout", self.dropout, 0.0, 1.0, high_open=True)
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {describe(self.dtype)}")
        return {"hidden_layer_sizes": sizes, "dtype": dtype}

    def _initialize(self, n_features, n_outputs, settings):
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(settings["hidden_layer_sizes"]) + 2
        self.out_activation_ = self._output_activation()
        self.network_ = nets.build_network(
            n_features, settings["hidden_layer_sizes"], n_outputs, self.activation, self.dropout,
            self.out_activation_, self.random_state, settings["dtype"])
        self.network_.classes = self._class_names()
        self.n_iter_, self.t_ = 0, 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        else:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf
        self._best_parameters = self.network_.flat_parameter.value.copy()

    def _run_epochs(self, X, y, targets, incremental):
        """scikit-learn's `_fit_stochastic`: epochs until the loss (or the validation score,
        with early_stopping) has failed to improve by ``tol`` in more than ``n_iter_no_change``
        epochs in a row, or ``max_iter`` epochs (one for partial_fit)."""
        network, optimizer = self.network_, self._optimizer
        loss, value_scale = nets.make_loss(self.out_activation_, self.n_outputs_)
        validation = None
        if self.early_stopping:
            X, targets, validation = self._split(X, y, targets)
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                              "to be clipped", UserWarning)
            batch_size = min(self.batch_size, n_samples)
        alpha = 0.0 if self.solver == "adamw" else self.alpha     # adamw decays weights itself
        steps = ScikitLearnSteps(network, loss, alpha, value_scale)
        training = Training(network, loss, optimizer, self.max_iter, math.ceil(n_samples / batch_size), ["loss"])
        self.n_iter_ = 0
        order = np.arange(n_samples)
        with contextlib.closing(steps):
            for _ in range(self.max_iter):
                if self.shuffle:
                    order = nets.next_order(network.rng, order)
                self.loss_ = self._run_epoch(training, X, targets, order if self.shuffle else None,
                                             batch_size, steps)
                if self._end_of_epoch(validation, n_samples, incremental):
                    break
        if self.early_stopping:
            np.copyto(network.flat_parameter.value, self._best_parameters)   # the best epoch's weights

    @staticmethod
    def _run_epoch(training, X, targets, order, batch_size, steps):
        """One epoch; its mean loss over the rows. ValueError (scikit-learn's error type) when
        the loss stops being finite."""
        try:
            return run_epoch(training, X, targets, order, batch_size, steps)["loss"]
        except DivergedError as error:
            raise ValueError(f"the loss became {error.value} at batch {error.batch}: training diverged. "
                             "The input data may contain large values and need to be "
                             "preprocessed (StandardScaler), or learning_rate_init is too large.") from None

    def _end_of_epoch(self, validation, n_samples, incremental):
        """scikit-learn's bookkeeping after an epoch: the loss curve, verbose lines, the
        learning rate schedules and the stopping rule. Returns whether training stops."""
        optimizer = self._optimizer
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._update_no_improvement_count(validation)
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            optimizer.learning_rate = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if self.early_stopping else "Training loss"
            message = (f"{what} did not improve more than tol={self.tol:f} for "
                       f"{self.n_iter_no_change} consecutive epochs.")
            if self.solver == "sgd" and self.learning_rate == "adaptive" and optimizer.learning_rate > 1e-6:
                optimizer.learning_rate /= 5.0
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"{message} Setting learning rate to {optimizer.learning_rate:f}")
            else:
                if self.verbose:
                    print(f"{message} Stopping.")
                return True
        if incremental:
            return True
        if self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning)
        return False

    def _update_no_improvement_count(self, validation):
        if validation is not None:
            score = self._score_outputs(nets.predict_outputs(self.network_, validation[0]), validation[1])
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_parameters = self.network_.flat_parameter.value.copy()
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, last)

    def _split(self, X, y, targets):
        """Hold out ``validation_fraction`` of the rows, shuffled with the network's generator
        and stratified when y holds one label per row and every class has two rows or more."""
        n_samples = X.shape[0]
        n_validation = int(np.ceil(self.validation_fraction * n_samples))
        if n_validation < 2 or n_samples - n_validation < 1:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the "
                             f"size of your dataset (got {n_validation} of {n_samples} rows).")
        rng = self.network_.rng
        if self._stratify(y):
            order = np.arange(n_samples)
            train, held_out, _, _ = train_test_split(order, y, test_size=n_validation,
                                                     random_state=rng, stratify=True)
        else:
            order = rng.permutation(n_samples)
            held_out, train = order[:n_validation], order[n_validation:]
        return X[train], targets[train], (X[held_out], y[held_out])

    # --- using a trained network --------------------------------------------------------------

    def _outputs(self, X):
        """The network's outputs for X, after checking X as scikit-learn does."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=self.network_.dtype, reset=False)
        return nets.predict_outputs(self.network_, X)

    def _check_X_y(self, X, y, reset, **kwargs):
        dtype = np.dtype(self.dtype) if reset else self.network_.dtype
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=dtype,
                             reset=reset, **kwargs)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)                 # scikit-learn's DataConversionWarning
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # --- pickling (see sklearn/state.py: checked as a model file is) ------------------------

    def __getstate__(self):
        state = super().__getstate__()
        if "network_" in state:
            state = dict(state)
            state["network_"] = network_to_state(state["network_"], state.pop("_optimizer", None))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("network_"), dict):
            state = dict(state)
            state["network_"], optimizer = network_from_state(state["network_"])
            if optimizer is not None:
                state["_optimizer"] = optimizer
        super().__setstate__(state)
