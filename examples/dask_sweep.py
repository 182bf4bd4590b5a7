"""A hyperparameter sweep of scratchnn's MLPClassifier, spread over a Dask cluster.

    python examples/dask_sweep.py                          # a local cluster: 2 worker processes
    python examples/dask_sweep.py tcp://10.0.0.5:8786      # a running scheduler, e.g. started by
                                                           #   dask scheduler            (on one machine)
                                                           #   dask worker tcp://10.0.0.5:8786   (on each worker)

Every worker needs the same Python packages (scratchnn, scikit-learn, dask[distributed]).
scikit-learn's GridSearchCV hands its fits to joblib; joblib's "dask" backend sends them to
the cluster's workers. Nothing else changes.
"""

import sys
import time

import joblib
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchnn.sklearn import MLPClassifier


def main():
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, early_stopping=True, random_state=0))
    grid = {
        "mlpclassifier__hidden_layer_sizes": [(32,), (128,), (64, 64)],
        "mlpclassifier__solver": ["adam", "adamw"],
        "mlpclassifier__alpha": [1e-4, 1e-2],
    }
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=-1)

    cluster = None
    if len(sys.argv) > 1:
        client = Client(sys.argv[1], timeout=30)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
    try:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address}")
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        print(f"{len(search.cv_results_['params'])} settings x 3 folds in {time.perf_counter() - start:.1f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    ranking = sorted(zip(search.cv_results_["rank_test_score"], search.cv_results_["mean_test_score"],
                         search.cv_results_["params"]), key=lambda row: row[0])
    for rank, score, params in ranking[:5]:
        short = {key.split("__")[1]: value for key, value in params.items()}
        print(f"{rank:>2}. {score:.4f}  {short}")
    print("best:", search.best_params_)


if __name__ == "__main__":
    main()
