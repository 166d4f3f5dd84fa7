"""Vectors at unit length: the one normalisation that embedding, storage, search and the map share.

Cosine similarity is the dot product of unit vectors, so every stage scales vectors the same way, with the
same threshold for "no direction": a text with no known token embeds to all zeros, and a zero vector must
stay zero (it matches nothing) rather than become NaN or an arbitrary direction.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# A vector no longer than this has no direction worth keeping and is left as it is. Below ~1e-19 the
# squares of float32 parts underflow, so a norm that small could not be trusted anyway; real embeddings
# are many orders of magnitude longer.
ZERO_NORM = 1e-12


def unit_rows(vectors: ArrayLike) -> np.ndarray:
    """Each vector (along the last axis: a matrix's rows, or one vector) scaled to length 1, in its own float
    dtype (float32 stays float32); a vector of length <= ZERO_NORM, such as an all-zero one, is left as it is."""
    array = np.asarray(vectors)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.where(norms > ZERO_NORM, norms, np.ones_like(norms))
