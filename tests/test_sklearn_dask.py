"""A GridSearchCV over scratchnn.sklearn estimators, spread over a real Dask cluster (a
scheduler and two worker processes on 127.0.0.1), gives what the local run gives."""

import contextlib
import signal

import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed")

import joblib
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchnn.sklearn import MLPClassifier

TIME_LIMIT_S = 120


@contextlib.contextmanager
def time_limit(seconds):
    """Raise TimeoutError in the main thread if the block runs longer than `seconds`."""
    def expire(signum, frame):
        raise TimeoutError(f"the Dask sweep took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def workers_that_imported_scratchnn(client):
    import sys

    return client.run(lambda: "scratchnn.sklearn" in sys.modules)


@pytest.mark.slow
def test_grid_search_on_a_dask_cluster_matches_the_local_run():
    X, y = make_blobs(n_samples=90, centers=3, n_features=4, cluster_std=2.0, random_state=0)
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(learning_rate_init=0.01, tol=1e-2,
                                                             n_iter_no_change=3, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)], "mlpclassifier__alpha": [1e-4, 1.0]}
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2)
    local = clone(search).fit(X, y)

    with time_limit(TIME_LIMIT_S):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster, timeout=60) as client:
            with joblib.parallel_backend("dask"):
                on_cluster = clone(search).fit(X, y)
            ran_there = workers_that_imported_scratchnn(client)

    assert len(ran_there) == 2 and any(ran_there.values())     # the fits ran in the worker processes
    assert on_cluster.best_params_ == local.best_params_
    np.testing.assert_allclose(on_cluster.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(on_cluster.predict(X), local.predict(X))
