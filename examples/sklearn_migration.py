"""From scikit-learn's MLPClassifier to scratchnn's: change one import, keep everything else.

    python examples/sklearn_migration.py

Trains both on scikit-learn's digits inside the same Pipeline with the same settings,
prints their test accuracy and fit time, then shows what scratchnn adds: the trained network
as a `scratchnn.Sequential` (saved pickle-free and loaded back), dropout and AdamW.
"""

import os
import tempfile
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import scratchnn as sn
from scratchnn.sklearn import MLPClassifier        # was: from sklearn.neural_network import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
settings = dict(hidden_layer_sizes=(100,), solver="adam", alpha=1e-4, learning_rate_init=1e-3,
                max_iter=200, random_state=0)

# The same pipeline, the same parameters: only the class changes.
for name, classifier in [("scikit-learn", SklearnMLPClassifier(**settings)), ("scratchnn", MLPClassifier(**settings))]:
    pipeline = make_pipeline(StandardScaler(), classifier)
    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    print(f"{name:>12}: test accuracy {pipeline.score(X_test, y_test):.4f}, fit {seconds:.2f} s, "
          f"{classifier.n_iter_} epochs, final loss {classifier.loss_:.4f}")

# The fitted attributes are scikit-learn's: coefs_, intercepts_, loss_curve_, n_iter_, classes_...
print("coefs_ shapes:", [w.shape for w in classifier.coefs_], "classes_:", classifier.classes_)

# ...and network_ is the trained scratchnn network: summary, save (no pickle), load, predict.
classifier.network_.summary()
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "digits.npz")
    classifier.network_.save(path)
    loaded = sn.load(path)
    scaled = pipeline[0].transform(X_test[:5])         # the saved network expects scaled inputs
    print("loaded network predicts:", loaded.predict_classes(scaled), "true:", y_test[:5])

# What scratchnn adds: more activations and solvers, dropout, float64 on request.
extras = MLPClassifier(hidden_layer_sizes=(128,), activation="gelu", solver="adamw", alpha=0.01,
                       dropout=0.2, random_state=0)
extras_pipeline = make_pipeline(StandardScaler(), extras).fit(X_train, y_train)
print(f"gelu + adamw (weight decay 0.01) + dropout 0.2: test accuracy "
      f"{extras_pipeline.score(X_test, y_test):.4f} after {extras.n_iter_} epochs")
