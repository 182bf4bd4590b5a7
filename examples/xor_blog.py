"""The blog post "Making a Neural Network from Scratch", step by step, with scratchnn.

Each step below quotes the blog's code and does the same thing with the library. Run it:

    python examples/xor_blog.py [seed]

With seed s it prints exactly what the blog's script prints after ``np.random.seed(s)``.
"""

import sys

import numpy as np

import scratchnn as sn

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0

# Step 1. The data.
#   X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
#   y = np.array([[0], [1], [1], [0]])
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([[0], [1], [1], [0]], dtype=float)

# Step 2. The activation function.
#   def sigmoid(x): return 1 / (1 + np.exp(-x))
# scratchnn.Sigmoid computes the same numbers without overflowing for very negative x.
print("sigmoid(0), sigmoid(±4):", sn.Sigmoid().forward(np.array([0.0, -4.0, 4.0])))

# Step 3. Weights and biases: input_size 2, hidden_size 2, output_size 1.
#   weights_input_hidden = np.random.uniform(size=(input_size, hidden_size))
#   biases_hidden = np.zeros((1, hidden_size))
#   weights_hidden_output = np.random.uniform(size=(hidden_size, output_size))
#   bias_output = np.zeros((1, output_size))
# init="uniform" draws U[0, 1) in the same order from the same generator; biases start at 0.
net = sn.Sequential(
    sn.Dense(2, 2, init="uniform"),     # hidden_layer_input = X · W_ih + b_h
    sn.Sigmoid(),                       # hidden_layer_output
    sn.Dense(2, 1, init="uniform"),     # output_layer_input = h · W_ho + b_o
    sn.Sigmoid(),                       # predicted_output
    seed=np.random.RandomState(seed),   # np.random.seed(seed), without touching global state
    dtype=np.float64,
)
net.summary()

# Step 4. The training loop, one epoch written out: forward pass, loss, backpropagation, update.
learning_rate = 0.1
loss = sn.MSE(reduction="sum")           # value ½ Σ (y − p)²; gradient −(y − p), the blog's −error
optimizer = sn.SGD(learning_rate=learning_rate)

predicted_output = net.forward(X, training=True)                  # forward pass
print("loss before training (the blog's mean form):", loss(predicted_output, y) / len(X))
net.zero_grad()
net.backward(loss.backward())   # d_output, error_hidden, d_hidden: each layer's backward in turn
optimizer.step(net.parameters())                                  # weights += lr · X^T · d

# Step 5. The other 9,999 epochs, with fit doing exactly what step 4 did. The blog prints the
# forward pass of its last epoch, computed before that epoch's update: we stop one epoch short,
# look, then take the last step.
net.fit(X, y, loss=loss, optimizer=optimizer, epochs=9_998, batch_size=None, shuffle=False, verbose=0)
print("Final predictions:", net.predict(X))
net.fit(X, y, loss=loss, optimizer=optimizer, epochs=1, batch_size=None, shuffle=False, verbose=0)

# Step 6. "Crosscheck with the target labels."
solved = np.all(np.abs(net.predict(X) - y) < 0.1)
print("every prediction within 0.1 of its target:", bool(solved))
