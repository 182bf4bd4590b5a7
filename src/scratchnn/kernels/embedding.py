"""Compiled kernel of the Embedding's backward pass (see `scratchnn.nn.embedding.Embedding`)."""

from ._numba import compiled


@compiled(nogil=True)
def scatter_add_rows(table, indices, rows):
    """table[indices[r]] += rows[r] for r = 0, 1, ... in order: np.add.at(table, indices, rows)
    for a 2-D table, the same additions in the same order (the same bits), each row's loop
    over the columns vectorized, where np.add.at adds one number at a time."""
    for r in range(indices.shape[0]):
        target, source = table[indices[r]], rows[r]
        for j in range(source.shape[0]):
            target[j] += source[j]
