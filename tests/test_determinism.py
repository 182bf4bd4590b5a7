"""The same seed gives bit-identical weights in fresh processes."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import hashlib, sys, numpy as np, scratchnn as sn
rng = np.random.default_rng(0)
X = rng.normal(size=(512, 20)).astype(np.float32)
y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
net = sn.Sequential(sn.Dense(20, 64), sn.ReLU(), sn.Dropout(0.2), sn.Dense(64, 3), seed=int(sys.argv[1]))
untrained = net.flat_parameter.value.copy()
history = net.fit(X, y, loss=sn.CrossEntropy(), optimizer=sn.Adam(1e-2), epochs=5, batch_size=32,
                  validation_split=0.2, verbose=0)
weights = net.flat_parameter.value
print(hashlib.sha256(weights.tobytes()).hexdigest())
print(weights.tobytes().hex())
print(untrained.tobytes().hex())
print(repr(history.history["loss"][-1]))
"""

N_PARAMETERS = 20 * 64 + 64 + 64 * 3 + 3          # every weight and bias of the network above


def train_in_fresh_process(threads, seed=42):
    """Train in a new interpreter with `threads` BLAS threads; return (digest, weights, untrained
    weights, last loss) as it printed them."""
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "PYTHONPATH": src, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    digest, weights, untrained, loss = done.stdout.split()
    weights = np.frombuffer(bytes.fromhex(weights), dtype=np.float32)
    untrained = np.frombuffer(bytes.fromhex(untrained), dtype=np.float32)
    # the digest is of every weight and bias, byte for byte
    assert weights.size == N_PARAMETERS
    assert hashlib.sha256(weights.tobytes()).hexdigest() == digest
    return digest, weights, untrained, float(loss)


@pytest.mark.slow
def test_same_seed_same_bits_in_fresh_processes():
    first, second = train_in_fresh_process(2), train_in_fresh_process(2)
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert first[3] == second[3]                                  # the loss history too
    assert np.all(np.isfinite(first[1])) and not np.array_equal(first[1], first[2])   # it trained
    one_thread = train_in_fresh_process(1)
    assert one_thread[0] == train_in_fresh_process(1)[0]
    np.testing.assert_array_equal(one_thread[2], first[2])        # initialization draws nothing from BLAS
    other_seed = train_in_fresh_process(1, seed=43)
    assert other_seed[0] != one_thread[0]                        # the digest tells seeds apart
    assert not np.array_equal(other_seed[2], one_thread[2])
