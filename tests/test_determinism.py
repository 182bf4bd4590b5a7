"""The same seed gives bit-identical weights in fresh processes."""

import hashlib
import os
import subprocess
import sys

import pytest

SCRIPT = """
import hashlib, numpy as np, scratchnn as sn
rng = np.random.default_rng(0)
X = rng.normal(size=(512, 20)).astype(np.float32)
y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
net = sn.Sequential(sn.Dense(20, 64), sn.ReLU(), sn.Dropout(0.2), sn.Dense(64, 3), seed=42)
net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(1e-2), epochs=5, batch_size=32,
        validation_split=0.2, verbose=0)
print(hashlib.sha256(net.flat_parameter.value.tobytes()).hexdigest())
"""


def train_in_fresh_process(threads):
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_same_seed_same_bits_in_fresh_processes():
    first, second = train_in_fresh_process(2), train_in_fresh_process(2)
    assert first == second and len(first) == 64
    assert train_in_fresh_process(1) == train_in_fresh_process(1)
    assert hashlib  # the digest covers every weight and bias, byte for byte
